"""Sag mitigation: scripted events at sub-second step, without and with the battery.

Each event (job start along the campus model's start ramp, campus trip to backup, utility-side sags: the source voltage dropped
to a retained fraction of its set point for set durations) runs twice: without the battery, and
with it (volt-var reactive support plus the study's dispatch strategy; load-loss absorption when
the study's battery is otherwise idle). If the POI voltage leaves the load
ride-through envelope (ERCOT NOGRR282), or the campus's disturbance counter trips (N excursions
within T seconds, :mod:`gridstudy.models.protection`; the Virginia 2024 failure mode), the campus
is taken to transfer to backup at that moment — its grid draw drops to zero until it returns,
normally after the event — and the event is re-run with that transfer, so that the battery's
load-loss absorption sees it.

Both runs draw the campus with its voltage dependence (:class:`gridstudy.models.campus_voltage.CampusVoltageResponse`,
``docs/sources/load.md §9``: the power electronics hold constant power down to a knee, then draw
constant current; the rest of the campus as a ZIP load): a constant-power campus would deepen a
sag by pulling more current as the voltage falls. Where the campus bus falls below the power
supplies' trip voltage the row says so (``psu_dropout``); the load loss itself is taken by the
ride-through envelope and the disturbance counter. Volt-var acts with the curve's open-loop
response time (``VoltVarCurve.response_time_s``; ``docs/sources/megapack.md §3``).

This is a quasi-static analysis: one phasor power flow per step (an ideal voltage source behind
the Thevenin impedance); it is not an electromagnetic-transient or dynamic (RMS) simulation:
inverter control bandwidth, PLL behaviour, motor dynamics and protection timing are outside its
scope.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from gridstudy.grid.site import Site
from gridstudy.models.battery import MegapackPlant
from gridstudy.models.campus import CampusLoadParams, job_start_fraction
from gridstudy.models.campus_voltage import CampusVoltageResponse
from gridstudy.models.dispatch import default_volt_var, dispatch, make_strategy
from gridstudy.models.plant_control import PlantControl
from gridstudy.models.plant_response import PlantResponse
from gridstudy.studies.criteria._base import Finding
from gridstudy.studies.criteria.load_loss import load_transfers
from gridstudy.studies.criteria.presets import CriteriaPreset
from gridstudy.studies.criteria.rvc import RVCLimits, rvc_events
from gridstudy.studies.criteria.voltage import voltage_class
from gridstudy.studies.qsts.inputs import Controls, QSTSInputs, RecordSpec, VoltVarCurve
from gridstudy.studies.qsts.results import QSTSResult
from gridstudy.studies.qsts.run import run_qsts
from gridstudy.studies.setup import StudySetup
from gridstudy.studies.spec.interconnection import SagEvent, SagSection, event_duration_s

__all__ = ["event_profiles", "return_profiles", "run_event", "run_sag_events", "event_rvc", "sag_rvc_findings",
           "RVC_KINDS", "RETURN_KIND", "EventPlant", "scenario_event_plants", "campus_event_runs",
           "campus_event_stage"]


def event_profiles(site: Site, event: SagEvent, sec: SagSection,
                   start: str | pd.Timestamp = "2025-07-01", campus: CampusLoadParams | None = None) -> pd.DataFrame:
    """Campus P/Q and source voltage of one event, on a ``sec.step_s`` index.

    A ``job_start`` follows the campus model's one job-start definition
    (:func:`gridstudy.models.campus.job_start_fraction` of ``campus``, the study's campus model;
    ``None``: the model's defaults, as for a campus given as a measured series), scaled to the
    site's campus peak, and its run holds the whole ramp (:func:`event_duration_s`)."""
    campus = campus if campus is not None else CampusLoadParams()
    n = int(round(event_duration_s(event, sec, campus.start_ramp_s) / sec.step_s))
    idx = pd.date_range(start, periods=n, freq=pd.Timedelta(seconds=sec.step_s))
    t = np.arange(n) * sec.step_s
    peak = site.campus_p_mw
    net = site.net
    base_p = net.load.loc[site.campus_loads, "p_mw"].sum()
    q_ratio = net.load.loc[site.campus_loads, "q_mvar"].sum() / base_p
    vm0 = float(net.ext_grid.loc[net.ext_grid.in_service, "vm_pu"].iloc[0])
    p = np.full(n, peak)
    vm = np.full(n, vm0)
    if event.kind == "job_start":
        p = peak * job_start_fraction(t - event.at_s, campus)
    elif event.kind == "campus_trip":
        p = np.where(t >= event.at_s, 0.0, peak)
    else:
        for k in range(event.shots):
            t0 = event.at_s + k * (event.interval_s + event.duration_s)
            vm = np.where((t >= t0 - 1e-9) & (t < t0 + event.duration_s - 1e-9), vm0 * event.vm_pu, vm)
    return pd.DataFrame({"campus_p_mw": p, "campus_q_mvar": p * q_ratio, "source_vm_pu": vm}, index=idx)


#: The sag events the customer's own load makes (a job start, a campus trip): their POI steps are rapid
#: voltage changes; the utility-side sags are dips, judged by the ride-through instead. [-]
RVC_KINDS = ("job_start", "campus_trip")


#: The steady-state rule's shortest steady state (:func:`gridstudy.studies.criteria.rvc.rvc_events`). [s]
RVC_STEADY_S = 1.0


def event_rvc(event: SagEvent, poi_vm_pu: pd.Series, limits: RVCLimits) -> dict[str, Any]:
    """The rapid voltage change of a customer-side event (:data:`RVC_KINDS`): the passages between
    steady states of its POI voltage by the package's rule (:func:`gridstudy.studies.criteria.rvc.rvc_events`:
    a steady state moves less than +/-0.5 % within 1 s), the largest ``dv_max`` [%] judged against
    the cap, ``RVCLimits.day_pct`` (IEC 61000-3-7's "n <= 4 a day" row: a campus trips or a job
    starts a few times a day at most). A change slower than the rule (a job start along a 60-s ramp)
    holds no passage: it is a slow variation, ``rvc_pct`` 0. The run starts in the steady state before
    the event (the campus constant, taps settled), so that state is taken to hold for
    :data:`RVC_STEADY_S` before the run as well (an event early in its run still has the steady state
    before it). Other events: ``rvc_pct`` ``None``."""
    if event.kind not in RVC_KINDS:
        return {"rvc_pct": None, "rvc_limit_pct": None, "rvc_pass": None}
    v = poi_vm_pu.dropna()
    if len(v) > 1:  # the run starts in the steady state before the event: that state held before the run too
        step = v.index[1] - v.index[0]
        n = int(math.ceil(RVC_STEADY_S / step.total_seconds())) + 1
        before = pd.Series(float(v.iloc[0]), index=v.index[0] - step * np.arange(n, 0, -1))
        v = pd.concat([before, v])
    ev = rvc_events(v, min_steady_s=RVC_STEADY_S)
    ev = ev[ev["kind"] == "rvc"]
    dv = float(ev["dv_max_pct"].max()) if len(ev) else 0.0
    return {"rvc_pct": dv, "rvc_limit_pct": limits.day_pct, "rvc_pass": bool(dv <= limits.day_pct),
            "rvc_limit": f"RVC {limits.voltage_class}: no change above {limits.day_pct:g} % ({limits.source})"}


def sag_rvc_findings(runs: Mapping[str, list[dict[str, Any]]], limits: RVCLimits) -> dict[str, Finding]:
    """Per scenario, the rapid voltage change of the campus's own events as that scenario's plant
    meets them (``runs``: :func:`campus_event_runs`, one 20-ms run per event and scenario) as one
    finding: the largest change against the cap; a scenario without such events has none."""
    out: dict[str, Finding] = {}
    for scen, rows in runs.items():
        judged = [r for r in rows if r.get("rvc_pct") is not None]
        if not judged:
            continue
        worst = max(judged, key=lambda r: float(r["rvc_pct"]))
        ok = all(bool(r["rvc_pass"]) for r in judged)
        mode = str(judged[0].get("plant_mode", "idle"))
        plant = ("no plant acts (its battery idle)" if mode == "idle" else
                 f"the scenario's plant ({mode.replace('_', '-')}, its own dispatch and response)")
        out[scen] = Finding(
            criterion=f"rapid voltage change ({limits.voltage_class}, the campus's trip, return from backup and "
                      "job start events)", passed=ok,
            worst_value=float(worst["rvc_pct"]), worst_unit="%", when=None, seconds_outside=math.nan,
            events=sum(not bool(r["rvc_pass"]) for r in judged),
            limits=(dataclasses.replace(limits.limits()[0], meter="POI voltage magnitude of the event's run at "
                                        "its step: changes between steady states (+/-0.5 % within 1 s), dv_max"),),
            note=("The POI voltage of the events the campus itself makes, each run at the sag step with " + plant
                  + " (" + "; ".join(f"{r['event']}: {fmt_pct(float(r['rvc_pct']))}" for r in judged)
                  + f"), judged against the cap for a change a few times a day ({limits.day_pct:g} %); a change "
                    "slower than the steady-state rule (a job start along its ramp) is a slow variation (0 %)."),
            details={"events": {r["event"]: {k: r[k] for k in ("kind", "rvc_pct", "rvc_limit_pct", "rvc_pass")}
                                for r in judged},
                     "worst_event": worst["event"], "plant_mode": mode},
            id="rapid_voltage_change.sag_events", group="rapid_voltage_change")
    return out


def fmt_pct(x: float) -> str:
    """A change in % for a note (``3.60 %``; ``0 %``: no rapid change)."""
    return f"{x:.2f} %" if x > 0 else "0 % (a slow variation)"


def _run(site: Site, prof: pd.DataFrame, with_battery: bool, plant: MegapackPlant | None,
         strategy_kw: dict[str, Any], curve: VoltVarCurve, engine: str, strategy: str = "load_loss_absorption",
         campus_voltage: CampusVoltageResponse | None = None, response: PlantResponse | None = None,
         control: PlantControl | None = None) -> tuple[pd.DataFrame, QSTSResult]:
    prof = prof.copy()
    if with_battery:
        assert plant is not None  # run_event runs the battery scenario only with a plant
        strat = make_strategy(strategy, plant, response=response, control=control, **strategy_kw)
        d = dispatch(prof[["campus_p_mw", "campus_q_mvar"]], strategy=strat)
        prof["battery_p_mw"] = d["battery_p_mw"].to_numpy()
        if strat.grid_forming is not None:  # its reactive power follows its Q-V droop
            controls = Controls(campus_voltage=campus_voltage, grid_forming=strat.grid_forming)
        else:
            controls = Controls(volt_var=curve, campus_voltage=campus_voltage)
    else:
        prof["battery_p_mw"] = 0.0
        controls = Controls(campus_voltage=campus_voltage)
    prof["battery_q_mvar"] = 0.0
    res = run_qsts(QSTSInputs(site, prof, controls, RecordSpec(worst_windows=0)), engine=engine, quiet=True)
    if controls.grid_forming is not None:  # what the plant delivered, decided inside the power flow
        prof["battery_p_mw"] = res.series["battery_p_mw"].to_numpy()
    return prof, res


@dataclasses.dataclass(frozen=True)
class EventPlant:
    """A plant as the events run it: the dispatch strategy's name and parameters, the volt-var
    curve of its reactive support (a grid-forming plant follows its Q-V droop instead), its response
    chain and its control mode (``None``: grid-following on the POI measurement)."""

    strategy: str
    strategy_kw: dict[str, Any]
    curve: VoltVarCurve
    response: PlantResponse | None
    control: PlantControl | None

    @property
    def mode(self) -> str:
        """The plant's control mode (``grid_following``, ``grid_following_local``, ``grid_forming``)."""
        return self.control.mode if self.control is not None else "grid_following"


def _run_case(site: Site, event: SagEvent, base: pd.DataFrame, sec: SagSection, plant: MegapackPlant | None,
              ep: EventPlant | None, preset: CriteriaPreset, engine: str,
              cv: CampusVoltageResponse) -> tuple[dict[str, Any], pd.DataFrame]:
    """One run of an event's profiles ``base``: without a plant (``ep`` ``None``) or with ``plant``
    run as ``ep``; its row (ride-through, swell, rapid voltage change) and its series."""
    campus_buses = site.net.load.loc[list(site.campus_loads), "bus"].unique()
    with_bat = ep is not None
    e = ep if ep is not None else EventPlant("load_loss_absorption", {}, VoltVarCurve(), None, None)

    def once(prof: pd.DataFrame) -> tuple[pd.DataFrame, QSTSResult]:
        return _run(site, prof, with_bat, plant, e.strategy_kw, e.curve, engine, e.strategy, cv, e.response,
                    e.control)

    prof, res = once(base)
    poi = res.series["poi_vm_pu"].where(res.converged.to_numpy())
    # the campus bus before any transfer to backup: where the power supplies would drop out
    campus_vm_min = float(res.bus_summary.loc[campus_buses, "vm_min_pu"].min())
    # to backup at the first transfer: ride-through envelope or the campus's disturbance counter
    trips = load_transfers(poi, base["campus_p_mw"], preset.disturbance_counter, preset.ride_through)
    trip_time = ret_time = None
    if len(trips):
        trip_time = pd.Timestamp(trips["transfer_time"].iloc[0])
        ret_time = pd.Timestamp(trips["return_time"].iloc[0])
        tripped = base.copy()
        after = (tripped.index >= trip_time) & (tripped.index < ret_time)
        tripped.loc[after, ["campus_p_mw", "campus_q_mvar"]] = 0.0
        prof, res = once(tripped)
        poi = res.series["poi_vm_pu"].where(res.converged.to_numpy())
    grid = prof["campus_p_mw"] + prof["battery_p_mw"]
    t0 = base.index[0]
    below = poi < 0.9
    row = {
        "min_poi_vm_pu": float(poi.min()) if poi.notna().any() else math.nan,
        "pre_event_poi_vm_pu": float(poi.iloc[0]),
        "dip_depth_pu": float(poi.iloc[0] - poi.min()) if poi.notna().any() else math.nan,
        # a campus trip or a load drop raises the POI voltage: the swell above the pre-event value
        "max_poi_vm_pu": float(poi.max()) if poi.notna().any() else math.nan,
        "swell_pu": float(poi.max() - poi.iloc[0]) if poi.notna().any() else math.nan,
        "seconds_below_0p9": float(below.sum() * sec.step_s),
        "trip": trip_time is not None,
        "trip_time_s": (trip_time - t0).total_seconds() if trip_time is not None else None,
        "trip_cause": str(trips["cause"].iloc[0]) if trip_time is not None else None,
        "load_lost_mw": float(trips["lost_mw"].iloc[0]) if trip_time is not None else 0.0,
        "return_time_s": (ret_time - t0).total_seconds() if ret_time is not None else None,
        "grid_step_mw": float((grid - grid.iloc[0]).abs().max()),
        # lowest campus-bus voltage before any transfer, and whether it is below the power
        # supplies' trip voltage (reported; the transfer above is what removes load)
        "campus_vm_min_pu": campus_vm_min,
        "psu_dropout": bool(cv.dropout(campus_vm_min)),
        "nonconverged_steps": res.nonconverged_steps,
        **event_rvc(event, poi, preset.rvc_limits(voltage_class(site.poi_vn_kv))),
    }
    series = pd.DataFrame({"poi_vm_pu": poi, "grid_p_mw": grid, "campus_p_mw": prof["campus_p_mw"],
                           "battery_p_mw": prof["battery_p_mw"],
                           "battery_q_mvar": res.series.get("battery_q_mvar", pd.Series(0.0, index=poi.index)),
                           "source_vm_pu": base["source_vm_pu"]})
    return row, series


def run_event(site: Site, event: SagEvent, sec: SagSection, plant: MegapackPlant | None, preset: CriteriaPreset,
              engine: str = "fast", strategy_kw: dict[str, Any] | None = None, curve: VoltVarCurve | None = None,
              strategy: str = "load_loss_absorption",
              campus_voltage: CampusVoltageResponse | None = None, response: PlantResponse | None = None,
              control: PlantControl | None = None, campus: CampusLoadParams | None = None) -> dict[str, Any]:
    """Run one event without and with the battery; return its row and the series for plots.

    ``campus``: the study's campus model, whose start ramp a ``job_start`` follows
    (:func:`event_profiles`).

    ``curve``: the volt-var curve (default :class:`VoltVarCurve`, with its response time);
    ``campus_voltage``: the campus's voltage dependence (default :class:`CampusVoltageResponse`;
    a sag event always applies one); ``response`` and ``control``: the plant's response chain and
    control mode (``None``: a plant that answers in the step the load moves, grid-following) — a
    study passes its own, so that the events see the same plant as the sub-second windows."""

    cv = campus_voltage or CampusVoltageResponse()
    ep = EventPlant(strategy, dict(strategy_kw or {}), curve or VoltVarCurve(), response, control)
    base = event_profiles(site, event, sec, campus=campus)
    row: dict[str, Any] = {"event": event.name, "kind": event.kind}
    series: dict[str, pd.DataFrame] = {}
    for scen, with_bat in (("without_battery", False), ("with_battery", True)):
        if with_bat and plant is None:
            continue
        row[scen], series[scen] = _run_case(site, event, base, sec, plant, ep if with_bat else None, preset, engine,
                                            cv)
    return {"row": row, "series": series}


def run_sag_events(site: Site, sec: SagSection, plant: MegapackPlant | None, preset: CriteriaPreset,
                   engine: str = "fast", strategy_kw: dict[str, Any] | None = None, curve: VoltVarCurve | None = None,
                   strategy: str = "load_loss_absorption",
                   campus_voltage: CampusVoltageResponse | None = None, response: PlantResponse | None = None,
                   control: PlantControl | None = None,
                   campus: CampusLoadParams | None = None) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """All events of ``sec``; returns the ``sag_events`` rows and one long table of their series
    (``response``, ``control``, ``campus``: see :func:`run_event`)."""
    rows: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    for ev in sec.events:
        out = run_event(site, ev, sec, plant, preset, engine, strategy_kw, curve, strategy, campus_voltage, response,
                        control, campus)
        rows.append(out["row"])
        for scen, df in out["series"].items():
            f = df.copy()
            f.insert(0, "t_s", (f.index - f.index[0]).total_seconds())
            f.insert(0, "scenario", scen)
            f.insert(0, "event", ev.name)
            frames.append(f.reset_index(drop=True))
    return rows, (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())


#: The kind of the return from backup in the per-scenario event runs: a ``campus_trip`` event
#: reversed, the campus back from backup at its peak as one step. [-]
RETURN_KIND = "campus_return"

#: What a per-scenario event run keeps of its row (:func:`campus_event_runs`). [-]
_KEPT = ("pre_event_poi_vm_pu", "min_poi_vm_pu", "max_poi_vm_pu", "grid_step_mw", "trip", "nonconverged_steps",
         "rvc_pct", "rvc_limit_pct", "rvc_pass", "rvc_limit")


def return_profiles(site: Site, event: SagEvent, sec: SagSection,
                    campus: CampusLoadParams | None = None) -> pd.DataFrame:
    """The return from backup of a ``campus_trip`` ``event``: the campus on backup (no grid draw)
    until ``event.at_s``, then back at the site's campus peak as one step, at the site's campus power
    factor (:func:`event_profiles`'s index and source voltage)."""
    if event.kind != "campus_trip":
        raise ValueError(f"a return from backup reverses a campus_trip event, not {event.kind!r} ({event.name!r})")
    prof = event_profiles(site, event, sec, campus=campus)
    peak = float(site.campus_p_mw)
    net = site.net
    q_ratio = float(net.load.loc[site.campus_loads, "q_mvar"].sum()) / float(net.load.loc[site.campus_loads, "p_mw"].sum())
    p = peak - prof["campus_p_mw"].to_numpy()
    return prof.assign(campus_p_mw=p, campus_q_mvar=p * q_ratio)


def scenario_event_plants(setup: StudySetup) -> dict[str, EventPlant | None]:
    """Every scenario's plant as the events run it (``None``: no plant acts, its battery idle): the
    scenario's strategy with its parameters, volt-var curve (its own, else the POI's default), response
    chain (a plant without one answers in the step) and control mode — for the study's own strategy
    the plant of :meth:`~gridstudy.studies.setup.StudySetup.event_strategy` and
    :meth:`~gridstudy.studies.setup.StudySetup.event_plant`."""
    default = default_volt_var(setup.poi_vn_kv)
    out: dict[str, EventPlant | None] = {}
    for name, s in setup.strategies().items():
        if s is None or s.name == "none" or setup.battery is None:
            out[name] = None
            continue
        out[name] = EventPlant(s.name, {**s.params(), "recovery": s.recovery},
                               s.reactive.curve if s.reactive.mode == "volt_var" else default,
                               s.response if s.response is not None else PlantResponse.instantaneous(), s.control)
    return out


def campus_event_runs(site: Site, sec: SagSection, plant: MegapackPlant | None,
                      plants: Mapping[str, EventPlant | None], preset: CriteriaPreset, engine: str = "fast",
                      campus_voltage: CampusVoltageResponse | None = None,
                      campuses: Mapping[str, CampusLoadParams | None] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The campus's own events (:data:`RVC_KINDS` of ``sec``; each ``campus_trip`` followed by its
    return from backup, :func:`return_profiles`) for every scenario of ``plants``, each run at
    ``sec.step_s`` with that scenario's plant (``None``: none acts) and campus (``campuses``; its start
    ramp for a job start): per scenario, one row per event with its ``event``, ``kind``
    (``job_start``, ``campus_trip``, :data:`RETURN_KIND`), ``plant_mode`` (``idle`` without a plant),
    ``campus_mw`` (the step's campus power [MW]), ``first_step_pct`` (the POI voltage's change in
    the event's first step, signed [%]: the step no measured control has answered yet), the POI
    voltages and the rapid voltage change (:func:`event_rvc`: ``rvc_pct`` [%], the largest deviation
    from the steady state before, against the cap)."""
    cv = campus_voltage or CampusVoltageResponse()
    campuses = campuses or {}
    out: dict[str, list[dict[str, Any]]] = {}
    for name, ep in plants.items():
        campus = campuses.get(name)
        rows: list[dict[str, Any]] = []
        for ev in sec.events:
            if ev.kind not in RVC_KINDS:
                continue
            runs: list[tuple[str, str, pd.DataFrame]] = [(ev.name, ev.kind, event_profiles(site, ev, sec, campus=campus))]
            if ev.kind == "campus_trip":
                runs.append((f"return from backup (after '{ev.name}')", RETURN_KIND,
                             return_profiles(site, ev, sec, campus=campus)))
            k = int(round(ev.at_s / sec.step_s))  # the first step of the event
            for label, kind, prof in runs:
                row, ser = _run_case(site, ev, prof, sec, plant, ep, preset, engine, cv)
                v = ser["poi_vm_pu"].to_numpy(dtype=float)
                first = float(100.0 * (v[k] - v[k - 1])) if 0 < k < len(v) else math.nan
                rows.append({"event": label, "kind": kind, "plant_mode": ep.mode if ep is not None else "idle",
                             "campus_mw": float(site.campus_p_mw), "first_step_pct": first,
                             **{c: row[c] for c in _KEPT}})
        out[name] = rows
    return out


def campus_event_stage(setup: StudySetup, site: Site, engine: str,
                       say: Callable[[str], None] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The campus's own events of a study's ``[sag]`` section, every scenario with its own plant
    (:func:`campus_event_runs`, :func:`scenario_event_plants`); nothing when the study does not
    enable the section."""
    if not setup.sag.enabled:
        return {}
    plants = scenario_event_plants(setup)
    say = say or (lambda line: None)
    say(f"campus events (trip, return from backup, job start) at {setup.sag.step_s:g} s step: "
        f"{len(plants)} scenarios, each with its own plant")
    campuses = {n: (c if isinstance(c, CampusLoadParams) else None) for n in plants for c in (setup.campus_for(n),)}
    return campus_event_runs(site, setup.sag, setup.battery, plants, setup.preset, engine, setup.campus_voltage,
                             campuses)


def sag_stage(setup: StudySetup, site: Site, engine: str,
              say: Callable[[str], None] | None = None) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """The sag stage of a study: every event of its ``[sag]`` section with the study's plant and the
    events' strategy (:meth:`~gridstudy.studies.setup.StudySetup.event_strategy`); nothing when the
    study does not enable it."""
    if not setup.sag.enabled:
        return [], pd.DataFrame()
    say = say or (lambda line: None)
    say(f"sag events: {len(setup.sag.events)} at {setup.sag.step_s:g} s step")
    name, kw, curve = setup.event_strategy()
    response, control = setup.event_plant()
    campus = setup.campus if isinstance(setup.campus, CampusLoadParams) else None
    return run_sag_events(site, setup.sag, setup.battery, setup.preset, engine, kw, curve=curve, strategy=name,
                          campus_voltage=setup.campus_voltage, response=response, control=control, campus=campus)
