"""N-1 over time: each credible single outage runs the QSTS over the study's worst window.

Worst-window rule: the window of ``contingencies.window`` (default one hour; ``all`` = the whole
horizon) centred on the step with the lowest POI voltage of the intact (N-0) run *without* the
battery — the most stressed state of the intact system, where the campus draws most — clipped
to the horizon. Outages that island the POI are loss of supply: listed, not run.

Every window starts from the N-0 state of its scenario at the window's first step
(:func:`window_start_site`): the regulating transformers' taps at the positions the N-0 run had
in force at that step (its recorded ``tap_pos_<name>`` series), the storages' state of charge of
the N-0 dispatch just before that step (the profile slice continues the N-0 dispatch, so the
battery's set points are those of the N-0 run). The OLTC delay timers start at zero: the
post-contingency voltage is a new excursion for the tap changer, which waits its full
``delay_s`` before its first move in the window (conservative: a reset timer never runs ahead of
the N-0 one, so with nothing removed the window reproduces the N-0 run up to the first N-0 tap
move inside the window, and later moves can only come later). Volt-var holds no state between
steps (a fixed point solved within each step), so nothing of it is carried.

``contingencies.windows = "every"`` runs every consecutive window of that length across the
horizon instead of the worst one alone (N-1 x time: every outage x every window, e.g. every hour
of a day), each from its own N-0 start state; its rows name their window (``window_start``).

The (outage x window x scenario) tasks run in parallel local processes, or on a Dask cluster
(``gridstudy run --dask-local N`` / ``--scheduler ADDRESS``, :mod:`gridstudy.studies.cluster`) with
the same rows; each is judged against the N-1 criteria (post-contingency voltage band per
voltage class, emergency thermal rating, convergence, ride-through), in the style of PSS/E ACCC /
PowerWorld contingency tables: one row per outage and scenario, non-converged cases flagged.
"""

from __future__ import annotations

import copy
import math
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from gridstudy.grid.basecase import has_fault_data, internal_buses, sensitivity_strength_mva_at, short_circuit_mva_at
from gridstudy.grid.site import Site
from gridstudy.grid.topology import Outage, site_outages
from gridstudy.models.element_profiles import element_profiles
from gridstudy.studies.criteria.presets import CriteriaPreset
from gridstudy.studies.judge.findings import scenario_findings
from gridstudy.studies.judge.streamed import StreamJudge
from gridstudy.studies.output.folder import fault_point
from gridstudy.studies.qsts.fast import run_fast
from gridstudy.studies.qsts.inputs import ProfileStream, QSTSInputs, RecordSpec
from gridstudy.studies.qsts.results import ResultRecorder, tap_series_name
from gridstudy.studies.qsts.run import run_qsts
from gridstudy.studies.setup import ENGINE_COLUMNS, StudySetup
from gridstudy.studies.spec.limits import FULL_SERIES_MAX_STEPS, STREAM_PART_STEPS
from gridstudy.studies.workers import in_worker, worker_pool

if TYPE_CHECKING:  # the optional extra [distributed]: imported where the stage runs on Dask
    from distributed import Client

    from gridstudy.studies.criteria import Finding
    from gridstudy.studies.qsts.inputs import Controls
    from gridstudy.studies.qsts.results import QSTSResult

    #: one outage of one scenario over one window: the arguments of :func:`run_outage` and the
    #: window's first step (``None``: the stage runs a single window)
    _OutageJob = tuple[Site, Outage, str, pd.DataFrame | ProfileStream, Controls, CriteriaPreset, str, str | None]


__all__ = ["worst_window", "every_window", "window_start_site", "outage_site", "weakest_outage", "strength_method", "run_outage",
           "run_contingencies", "run_jobs"]


def worst_window(poi_vm_pu: pd.Series, window: str) -> slice:
    """Integer slice of the worst window (see the module docstring)."""
    n = len(poi_vm_pu)
    if window == "all":
        return slice(0, n)
    step = poi_vm_pu.index[1] - poi_vm_pu.index[0] if n > 1 else pd.Timedelta(1, "s")
    w = max(2, int(round(pd.Timedelta(window) / step)))
    if w >= n:
        return slice(0, n)
    k = int(poi_vm_pu.to_numpy().argmin()) if poi_vm_pu.notna().any() else 0
    start = min(max(0, k - w // 2), n - w)
    return slice(start, start + w)


def every_window(index: pd.DatetimeIndex, window: str) -> list[slice]:
    """Integer slices of consecutive windows of length ``window`` covering ``index`` (the last one
    shorter when the horizon is not a whole number of windows, but never a single step: a last
    step alone joins the window before it); ``all``: one window, the whole horizon."""
    n = len(index)
    if window == "all" or n <= 2:
        return [slice(0, n)]
    step = index[1] - index[0]
    w = max(2, int(round(pd.Timedelta(window) / step)))
    starts = list(range(0, n, w))
    if len(starts) > 1 and n - starts[-1] < 2:
        starts.pop()
    return [slice(a, b) for a, b in zip(starts, starts[1:] + [n], strict=True)]


def window_start_site(site: Site, n0: QSTSResult, start: int, profiles: pd.DataFrame | None = None) -> Site:
    """A copy of ``site`` in the N-0 state at step ``start`` of the N-0 run ``n0``.

    Parameters
    ----------
    site : Site
        The site the N-0 run ran on (not modified).
    n0 : QSTSResult
        The N-0 run of the scenario; its ``tap_pos_<name>`` series
        (:func:`gridstudy.studies.qsts.results.tap_series_name`) give the tap positions in force at
        each step. A transformer without a recorded (or with a NaN) position keeps the site's. [-]
    start : int
        First step of the window in the N-0 run. [-]
    profiles : pandas.DataFrame, optional
        The scenario's dispatch over the whole horizon; its ``soc_percent`` (state of charge after
        each step) at ``start - 1`` becomes the storages' ``soc_percent``. [%]

    Returns
    -------
    Site
        A copy with its own net (the OLTC timers are not part of it: every run starts them at zero).
    """

    s = copy.copy(site)
    s.net = copy.deepcopy(site.net)
    ser = n0.series
    for t in site.regulating_trafos:
        name = tap_series_name(site.net, t)
        if name in ser and 0 <= start < len(ser) and pd.notna(ser[name].iloc[start]):
            s.net.trafo.at[t, "tap_pos"] = float(ser[name].iloc[start])
    if (profiles is not None and start > 0 and "soc_percent" in profiles and site.storages
            and pd.notna(profiles["soc_percent"].iloc[start - 1])):
        s.net.storage.loc[site.storages, "soc_percent"] = float(profiles["soc_percent"].iloc[start - 1])
    return s


def outage_site(site: Site, outage: Outage) -> Site:
    """A copy of ``site`` (its own net) with ``outage`` out of service; an outaged regulating
    transformer leaves ``regulating_trafos``."""
    s = copy.copy(site)
    s.net = copy.deepcopy(site.net)
    s.net[outage.element].at[outage.index, "in_service"] = False
    if outage.element == "trafo":
        s.regulating_trafos = [t for t in site.regulating_trafos if t != outage.index]
    return s


def strength_method(site: Site) -> str:
    """How :func:`weakest_outage` measures the POI's strength on ``site``: ``"iec60909"`` (the
    three-phase short-circuit power) where the site has fault data, else ``"sensitivity"`` (the
    power flow's ``dQ/dV`` at the POI, :func:`gridstudy.grid.basecase.sensitivity_strength_mva_at`)."""
    return "iec60909" if has_fault_data(site) else "sensitivity"


def weakest_outage(site: Site) -> tuple[Outage, float, float] | None:
    """The credible single outage that leaves the weakest POI: the lowest three-phase
    short-circuit power at the POI (:func:`gridstudy.grid.basecase.short_circuit_mva_at`, the
    battery left out), the strength that sets how far a change of load moves the POI voltage
    (``ΔV ≈ ΔS / S_sc``). A site without fault data (an imported planning case) is ranked on the
    power flow's ``dQ/dV`` at the POI instead (:func:`strength_method`), the same measure for the
    intact network and every outage. Returns ``(outage, strength with it out, strength intact)``
    [MVA]; ``None`` without a credible outage (an outage whose calculation fails is skipped)."""
    credible, _ = site_outages(site)
    strength = short_circuit_mva_at if strength_method(site) == "iec60909" else sensitivity_strength_mva_at
    intact = strength(site, site.poi_bus)
    best: tuple[Outage, float, float] | None = None
    for o in credible:
        try:
            sk = strength(outage_site(site, o), site.poi_bus)
        except Exception:  # an outage pandapower cannot fault or solve is not the weakest state
            continue
        if math.isfinite(sk) and (best is None or sk < best[1]):
            best = (o, sk, intact)
    return best


def run_outage(site: Site, outage: Outage, scenario: str, profiles: pd.DataFrame | ProfileStream, controls: Controls,
               preset: CriteriaPreset, engine: str) -> dict[str, Any]:
    """Run one outage for one scenario; return its table row (never raises on divergence).

    A window up to :data:`FULL_SERIES_MAX_STEPS` keeps its per-step series and is judged on every
    N-1 criterion; a longer one (or a :class:`~gridstudy.studies.qsts.inputs.ProfileStream`) streams
    on the fast engine and is judged on its aggregates: convergence, every bus's N-1 band, the
    emergency ratings (ride-through and load loss need the whole POI series: not judged there)."""

    s = outage_site(site, outage)
    cols = [c for c in ("campus_p_mw", "campus_q_mvar", "battery_p_mw", "battery_q_mvar") if c in profiles]
    row = {"outage": outage.label, "element": outage.element, "index": outage.index, "scenario": scenario}
    streamed = engine == "fast" and (isinstance(profiles, ProfileStream) or len(profiles) > FULL_SERIES_MAX_STEPS)
    try:
        if streamed:
            res, findings = _run_streamed(s, profiles, cols, controls, preset)
        else:
            assert isinstance(profiles, pd.DataFrame)  # a stream runs streamed (fast engine) or is made whole
            # the rest of the network follows its own profiles over the window, as in the N-0 run
            inputs = QSTSInputs(s, profiles[cols], controls, RecordSpec(worst_windows=0),
                                elements=element_profiles(s, pd.DatetimeIndex(profiles.index)))
            res = run_qsts(inputs, engine=engine, quiet=True)
    except Exception as exc:  # a failed case is a row of the table, not a crash of the study
        return {**row, "pass": False, "worst_vm_pu": math.nan, "max_loading_percent": math.nan,
                "nonconverged_steps": len(profiles), "violations": [f"run failed: {exc}"], "error": str(exc)}
    if not streamed:
        assert isinstance(profiles, pd.DataFrame)  # as above
        findings = scenario_findings(s, res, preset, profiles, case="n-1")
    bus = res.bus_summary
    real = bus.index.difference(internal_buses(s))
    br = res.branch_summary
    worst_load = br.loading_max_percent.max() if len(br) else math.nan
    worst_elem = str(br.at[br.loading_max_percent.idxmax(), "name"]) if len(br) and br.loading_max_percent.notna().any() else ""
    vmin = bus.loc[real, "vm_min_pu"]
    return {
        **row,
        "pass": all(f.passed for f in findings if f.counts),
        "worst_vm_pu": float(vmin.min()) if vmin.notna().any() else math.nan,
        "worst_vm_bus": str(bus.loc[vmin.idxmin(), "name"]) if vmin.notna().any() else "",
        "max_vm_pu": float(bus.loc[real, "vm_max_pu"].max()),
        "max_loading_percent": float(worst_load),
        "max_loading_element": worst_elem,
        "nonconverged_steps": res.nonconverged_steps,
        "violations": [f.criterion for f in findings if not f.passed and f.counts],
        "criteria": [f.to_dict() for f in findings],
        "error": "",
    }


def _run_streamed(s: Site, profiles: pd.DataFrame | ProfileStream, cols: list[str], controls: Controls,
                  preset: CriteriaPreset) -> tuple[QSTSResult, list[Finding]]:
    """One outage over a long window on the fast engine, streaming: the profiles part by part
    (a frame is read in parts as it is), the per-step series as 1-minute envelopes, the N-1 criteria
    from the streamed aggregates (:class:`gridstudy.studies.judge.streamed.StreamJudge`)."""

    if isinstance(profiles, ProfileStream):
        stream = profiles.with_columns(cols)
    else:
        frame = profiles[cols]
        stream = ProfileStream(pd.DatetimeIndex(frame.index), cols, lambda: (frame.iloc[a:a + STREAM_PART_STEPS]
                                                                            for a in range(0, len(frame), STREAM_PART_STEPS)))
    record = RecordSpec(envelope_freq="1min", worst_windows=0)
    inputs = QSTSInputs(s, stream, controls, record, elements=element_profiles(s, stream.index))
    judge = StreamJudge(ResultRecorder(s, stream.index, record, engine="fast"), s, preset, case="n-1")
    # one thread per outage: the outages themselves take the cores
    res = run_fast(inputs, quiet=True, recorder=judge, pipeline=False)
    return res, judge.findings(res)


def _run_task(site: Site, outage: Outage, scenario: str, profiles: pd.DataFrame | ProfileStream, controls: Controls,
              preset: CriteriaPreset, engine: str, window_start: str | None) -> dict[str, Any]:
    """One task of the stage wherever it runs (this process, a pool worker, a Dask worker)."""
    fault_point("n1-task")
    row = run_outage(site, outage, scenario, profiles, controls, preset, engine)
    if window_start is not None:
        row = {**{k: row[k] for k in ("outage", "element", "index", "scenario")}, "window_start": window_start,
               **{k: v for k, v in row.items() if k not in ("outage", "element", "index", "scenario")}}
    return row


def _run_args(args: _OutageJob) -> dict[str, Any]:
    return _run_task(*args)


def run_contingencies(site: Site, outages: list[Outage], cases: Mapping[str, tuple[pd.DataFrame | ProfileStream, Controls]],
                      preset: CriteriaPreset, engine: str, workers: int = 2,
                      start_sites: Mapping[str, Site] | None = None, *, client: Client | None = None,
                      retries: int = 1) -> list[dict[str, Any]]:
    """Run every outage for every scenario in ``cases`` (``name -> (profiles, controls)``).

    ``start_sites`` (``name -> site``, from :func:`window_start_site`) gives each scenario the N-0
    state at the window start; a scenario without one runs on ``site``. With a Dask ``client`` the
    outages run on its workers (``retries``: Dask retries of a task that raised), otherwise in
    ``workers`` local processes.
    """
    starts = dict(start_sites or {})
    jobs: list[_OutageJob] = [(starts.get(name, site), o, name, prof, ctrl, preset, engine, None)
                              for o in outages for name, (prof, ctrl) in cases.items()]
    return run_jobs(jobs, workers, client=client, retries=retries)


def run_jobs(jobs: list[_OutageJob], workers: int, *, client: Client | None = None,
             retries: int = 1) -> list[dict[str, Any]]:
    """The rows of ``jobs`` (each the arguments of one outage of one scenario over one window), in
    the order of ``jobs``: on the Dask ``client``'s workers, else in ``workers`` local processes
    (1: in this process). Each job gives exactly one row, wherever and however often it ran."""
    if not jobs:
        return []
    if client is not None:
        return _on_dask(client, jobs, retries)
    if workers <= 1 or len(jobs) == 1:
        return [_run_args(j) for j in jobs]
    # workers end with this process: killed, interrupted or failing, it leaves no orphan behind
    with worker_pool(min(workers, len(jobs))) as pool:
        futures = [pool.submit(in_worker, _run_args, j) for j in jobs]
        fault_point("n1-running")
        return [f.result() for f in futures]


def _held(x: Any) -> Any:
    """A task whose result is its argument: data many tasks share, with its lineage."""
    return x


def _on_dask(client: Client, jobs: list[_OutageJob], retries: int) -> list[dict[str, Any]]:
    """``jobs`` on Dask, each job one task with its own key, its row gathered once into the job's
    place. The sites, profiles, controls and preset that several jobs share go to the cluster once,
    each as a task of its own (not scattered data): a worker lost with a copy of them loses nothing
    the scheduler cannot make again, and a task whose worker is lost runs again on another (the
    scheduler's ``allowed-failures``)."""
    from distributed import Future, KilledWorker

    run = uuid.uuid4().hex[:12]
    shared: dict[int, Future[Any]] = {}

    def share(x: Any) -> Future[Any]:
        if id(x) not in shared:
            shared[id(x)] = client.submit(_held, x, key=f"gridstudy-n1-data-{run}-{len(shared)}", pure=False,
                                          retries=retries)
        return shared[id(x)]

    with warnings.catch_warnings():  # distributed's advice to scatter large arguments: they are shared tasks here
        warnings.filterwarnings("ignore", message="Large object", category=UserWarning)
        futures = [client.submit(_run_task, share(s), o, name, share(prof), share(ctrl), share(preset), engine,
                                 window, key=f"gridstudy-n1-{run}-{k}", retries=retries, pure=False)
                   for k, (s, o, name, prof, ctrl, preset, engine, window) in enumerate(jobs)]
    fault_point("n1-running")
    try:
        rows: list[dict[str, Any]] = client.gather(futures)
    except KilledWorker as exc:  # the scheduler gave up on a task that killed every worker it ran on
        raise OSError(f"the Dask workers running N-1 task {exc.args[0] if exc.args else ''} were lost "
                      f"too often ({exc})") from None
    finally:
        client.cancel(futures + list(shared.values()))
    return rows


@dataclass
class ContingencyOutcome:
    """What the N-1 stage gives a study: the outage rows (``rows``), the outages that island the POI
    (``loss_rows``, listed, not run) and the sentence that says which window ran (``window_note``)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    loss_rows: list[dict[str, Any]] = field(default_factory=list)
    window_note: str = ""


def contingency_stage(setup: StudySetup, site: Site, results: Mapping[str, QSTSResult],
                      profiles: Mapping[str, pd.DataFrame], engine: str,
                      say: Callable[[str], None] | None = None, *, client: Client | None = None) -> ContingencyOutcome:
    """The N-1 stage of a study: every credible single outage over the worst window of the N-0
    run without battery (or over every window of the horizon, ``contingencies.windows = "every"``;
    see the module docstring), for each scenario of ``contingencies.scenarios``, each from its N-0
    state at the window start; nothing when the study does not enable it. With a Dask ``client``
    the (outage x window x scenario) tasks run on its workers, else in ``contingencies.workers``
    local processes: the same rows either way."""
    say = say or (lambda line: None)
    cs = setup.contingencies
    if not cs.enabled:
        return ContingencyOutcome()
    credible, lost = site_outages(site)
    loss_rows = [{"outage": o.label, "element": o.element, "index": o.index,
                  "result": "loss of supply (POI islanded): not run"} for o in lost]
    poi0 = results["without_battery"].series["poi_vm_pu"]
    if cs.windows == "every":
        slices = every_window(pd.DatetimeIndex(poi0.index), cs.window)
        window_note = (f"every {cs.window} window of the horizon ({len(slices)} windows, "
                       f"{poi0.index[0]} to {poi0.index[-1]})")
    else:
        slices = [worst_window(poi0, cs.window)]
        window_note = (f"{cs.window} window centred on the lowest N-0 POI voltage without battery: "
                       f"{poi0.index[slices[0].start]} to {poi0.index[slices[0].stop - 1]}")
    window_note += ("; each outage starts from the N-0 tap positions and state of charge at the window start "
                    "(tap-changer delay timers at zero)")
    names = [n for n in cs.scenarios if n in profiles]
    labels = len(slices) > 1  # rows name their window when there are several
    jobs: list[_OutageJob] = []
    # one controls object per scenario, shared by its windows (and sent to Dask once)
    controls = {n: setup.controls(n) for n in names}
    for sl in slices:
        whole = sl.start == 0 and sl.stop == len(poi0) and len(poi0) > FULL_SERIES_MAX_STEPS and engine == "fast"
        # the whole of a long horizon: each outage makes its own profiles part by part (streaming)
        sel = {n: (setup.profile_stream(n) if whole else profiles[n][list(ENGINE_COLUMNS)].iloc[sl], controls[n])
               for n in names}
        starts = {n: window_start_site(site, results[n], sl.start, profiles[n]) for n in sel}
        when = str(poi0.index[sl.start]) if labels else None
        jobs += [(starts[n], o, n, prof, ctrl, setup.preset, engine, when) for n, (prof, ctrl) in sel.items()
                 for o in credible]
    # one outage's windows and scenarios side by side in the table
    order = {id(o): k for k, o in enumerate(credible)}
    jobs.sort(key=lambda j: order[id(j[1])])
    where = "on Dask" if client is not None else f"in {cs.workers} local processes"
    say(f"N-1: {len(credible)} credible outages x {len(slices)} windows x {len(names)} scenarios {where} over "
        f"{window_note}; {len(lost)} loss-of-supply outages")
    rows = run_jobs(jobs, cs.workers, client=client)
    return ContingencyOutcome(rows=rows, loss_rows=loss_rows, window_note=window_note)
