"""Study-file sections of the interconnection study: criteria, scenarios, contingencies, sag events.

They sit beside the ``[study]``, ``[campus]`` and ``[battery]`` sections of :mod:`gridstudy.studies.spec.sections`;
:func:`parse_interconnection` validates the whole file and lists every problem of every section
at once.

Sections::

    [criteria]       preset (generic-utility | ercot | ieso | southern), ramp (a ramp preset that
                     replaces the preset's grid-side limits), region (the connection's region:
                     rules of other regions are references, not verdicts), [criteria.meters]
                     (ramp_rate, peak_to_peak, power_factor: averaging and window_s)
    [[scenarios]]    further named alternatives: name + a [battery] table merged over the file's
    [contingencies]  enabled, window (worst-window length, e.g. "1h"; "all" = the whole horizon),
                     workers (parallel processes), scenarios (which scenarios run N-1)
    [sag]            enabled, step_s, duration_s, and [[sag.events]] (kind = job_start |
                     campus_trip | source_sag; vm_pu, duration_s, shots, interval_s, at_s)
    [dynamics]       enabled, windows, events, load_loss, window_s, load_loss_s, step_s, machine,
                     plant: the RMS check of the worst moments (ANDES)
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field, ValidationError, field_validator

from gridstudy.grid.errors import InputError, Problem, problems_from_pydantic, read_toml
from gridstudy.models.protection import MAX_SPAN_S
from gridstudy.studies.criteria import PRESETS, RAMP_PRESETS
from gridstudy.studies.criteria._base import STATUSES
from gridstudy.studies.criteria.flickermeter import LOOKAHEAD_STEPS
from gridstudy.studies.criteria.meter import meter_problems
from gridstudy.studies.errors import StudyError
from gridstudy.studies.spec.sections import Section, StudySpec, parse_study

__all__ = ["CriteriaSection", "ScenarioSection", "ContingencySection", "SagEvent", "SagSection",
           "ReportSection", "FluctuationSection", "DynamicsSection", "InterconnectionSpec", "parse_interconnection",
           "load_interconnection", "DEFAULT_SAG_EVENTS", "JOB_START_SETTLE_S", "event_duration_s"]

_OWN = ("criteria", "scenarios", "contingencies", "sag", "report", "fluctuation", "export", "dynamics")


class DisturbanceCounterSection(Section):
    """The campus's disturbance counter (``gridstudy.models.protection``); unset fields keep the
    defaults of ``docs/sources/events.md §6``."""

    threshold_pu: float | None = Field(None, gt=0, le=1.5, description="excursion threshold [pu]")
    count: int | None = Field(None, ge=1, description="excursions that trip the counter [-]")
    window_s: float | None = Field(None, ge=0, le=MAX_SPAN_S, description="counting window [s]")
    return_after_s: float | None = Field(None, gt=0, le=MAX_SPAN_S, description="time on backup before the return [s]")


class MeterSection(Section):
    """A grid-side criterion's meter (:class:`gridstudy.studies.criteria.meter.Meter`): ``sample``
    (each study-step sample), ``rolling`` (an RMS of ``window_s``, read every step) or ``block``
    (consecutive averages of ``window_s``). The window must be a whole number of study steps and
    no longer than the horizon."""

    averaging: str = Field(description="sample | rolling | block")
    window_s: float | None = Field(None, description="averaging window [s]")


class MetersSection(Section):
    """``[criteria.meters]``: the meters of the grid-side criteria (unset: the preset's)."""

    ramp_rate: MeterSection | None = None
    peak_to_peak: MeterSection | None = None
    power_factor: MeterSection | None = None


class CriteriaSection(Section):
    """``[criteria]``: the criteria preset, an optional ramp-limit preset and the disturbance counter."""

    preset: str = "generic-utility"
    ramp: str | None = Field(None, description="ramp-limit preset replacing the preset's (ercot-proposed, ieso, ...)")
    region: str | None = Field(None, min_length=1, description="region of the connection (e.g. 'TVA', 'ERCOT'); "
                                                               "default: the preset's")
    meters: MetersSection | None = None
    status: dict[str, str] = Field(default_factory=dict, description="criterion group -> status of its limits "
                                                                     "(published | proposed | assumed), as the "
                                                                     "utility confirmed them")
    disturbance_counter: DisturbanceCounterSection | None = None

    @field_validator("status")
    @classmethod
    def _statuses(cls, v: dict[str, str]) -> dict[str, str]:
        bad = {k: s for k, s in v.items() if s not in STATUSES}
        if bad:
            k, s = next(iter(bad.items()))
            raise ValueError(f"status of {k!r} is {s!r}; must be one of {', '.join(STATUSES)}")
        return v

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, v: str) -> str:

        if v not in PRESETS:
            raise ValueError(f"unknown criteria preset; known: {', '.join(PRESETS)}")
        return v

    @field_validator("ramp")
    @classmethod
    def _known_ramp(cls, v: str | None) -> str | None:
        if v is not None and v not in RAMP_PRESETS:
            raise ValueError(f"unknown ramp preset; known: {', '.join(RAMP_PRESETS)}")
        return v


class ScenarioSection(Section):
    """A further named alternative: the file's ``[battery]`` and ``[campus]`` with these keys replaced
    (e.g. ``campus = { smoothing = { floor_percent = 50.0 } }`` for GPU-side smoothing, with
    ``battery = { strategy = "none" }`` for smoothing alone)."""

    # the name is a folder of the output (scenarios/<name>/): a short file name
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    battery: dict[str, Any] = Field(default_factory=dict)
    campus: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _not_default(cls, v: str) -> str:
        if v in ("without_battery", "with_battery"):
            raise ValueError("names without_battery and with_battery are the default scenarios")
        return v


class ContingencySection(Section):
    """``[contingencies]``: the N-1 runs: the worst window, the worker processes and the scenarios."""

    enabled: bool = True
    window: str = Field("1h", description="worst-window length ('all' = the whole horizon)")
    windows: Literal["worst", "every"] = Field(
        "worst", description="'worst': the window centred on the lowest N-0 POI voltage; 'every': every "
                             "consecutive window of that length across the horizon")
    workers: int = Field(2, ge=1, le=64, description="parallel processes [-]")
    scenarios: list[str] = Field(default_factory=lambda: ["without_battery", "with_battery"])

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        if v != "all":
            try:
                if pd.Timedelta(v).total_seconds() <= 0:
                    raise ValueError
            except (ValueError, TypeError):
                raise ValueError("not a positive duration such as '1h', or 'all'") from None
        return v


class SagEvent(Section):
    """One scripted event of the sag-mitigation set.

    ``job_start``: the campus starts its job from idle to full along the campus model's start
    ramp (:func:`gridstudy.models.campus.job_start_fraction`, ``campus.start_ramp_s``: the same
    definition as the day's series); ``campus_trip``: the campus transfers to backup (grid
    draw to zero) at ``at_s``; ``source_sag``: the utility source voltage drops to ``vm_pu`` of its
    set point for ``duration_s``, ``shots`` times, ``interval_s`` apart (recloser shots of
    50-70 ms: Dominion; 0.25-0.40 pu sags of 42-66 ms: Virginia 2024).
    """

    name: str = Field(min_length=1)
    kind: Literal["job_start", "campus_trip", "source_sag"]
    at_s: float = Field(1.0, ge=0, description="[s]")
    vm_pu: float = Field(0.7, gt=0, le=1, description="retained source voltage, fraction of set point [pu]")
    duration_s: float = Field(0.06, gt=0, description="[s]")
    shots: int = Field(1, ge=1, le=10)
    interval_s: float = Field(1.0, gt=0, description="[s]")


DEFAULT_SAG_EVENTS = (
    {"name": "job start (idle to full over the campus's start ramp)", "kind": "job_start"},
    {"name": "campus trip to backup", "kind": "campus_trip"},
    {"name": "3 recloser shots, 60 ms at 0.65 pu", "kind": "source_sag", "vm_pu": 0.65, "duration_s": 0.06,
     "shots": 3, "interval_s": 1.0},
    {"name": "sag to 0.75 pu for 600 ms", "kind": "source_sag", "vm_pu": 0.75, "duration_s": 0.6},
    {"name": "sag to 0.85 pu for 2.5 s", "kind": "source_sag", "vm_pu": 0.85, "duration_s": 2.5},
)


class SagSection(Section):
    """``[sag]``: the sag events, each run without and with the battery at ``step_s``."""

    enabled: bool = True
    step_s: float = Field(0.02, ge=0.01, le=1.0, description="[s]")
    duration_s: float = Field(8.0, gt=0, le=600, description="horizon of each event run [s]")
    events: list[SagEvent] = Field(default_factory=lambda: [SagEvent(**e) for e in DEFAULT_SAG_EVENTS])


#: Time a job-start event runs on after its ramp ends, for the plant's response to settle. [s]
JOB_START_SETTLE_S = 5.0


def event_duration_s(event: SagEvent, sec: SagSection, start_ramp_s: float) -> float:
    """Length of one event's run: ``sec.duration_s``, and for a job start at least its whole ramp
    (the campus model's ``start_ramp_s``) plus :data:`JOB_START_SETTLE_S`, in whole steps. [s]"""
    run = float(sec.duration_s)
    if event.kind == "job_start":
        run = max(run, event.at_s + float(start_ramp_s) + JOB_START_SETTLE_S)
    return math.ceil(run / sec.step_s - 1e-9) * sec.step_s


class ReportSection(Section):
    """``[report]``: how the report is printed."""

    page_size: Literal["Letter", "A4"] | None = Field(
        None, description="PDF page size; default: the criteria preset's (US Letter for every built-in preset)")


class FluctuationSection(Section):
    """``[fluctuation]``: the sub-second assessment of voltage and power fluctuations.

    The horizon runs at the study step; fluctuation criteria (flicker by the IEC 61000-4-15
    flickermeter, rapid voltage change, short-window grid-side variation, the oscillation screen)
    are judged on windows run at ``step_s``, chosen by screening the campus model's own changes
    (:func:`gridstudy.models.campus.change_severity`): the ``worst_windows`` worst, every scripted
    campus event (job start/stop, trip) and the windows named in ``windows``. Each starts
    ``warmup_s`` early from the state of the study-step run (taps, SOC), so that filters and the
    flickermeter settle before the judged part.
    """

    enabled: bool = True
    step_s: float = Field(0.02, ge=0.005, le=0.1, description="sub-second step, 5-100 ms [s]")
    window_s: float = Field(600.0, ge=60.0, le=3600.0, description="judged window [s]")
    warmup_s: float = Field(30.0, ge=0.0, le=600.0, description="run before each window, not judged [s]")
    worst_windows: int = Field(2, ge=0, le=48, description="screened windows per study [-]")
    events: bool = Field(True, description="a window at the worst occurrence of each kind of discrete campus event")
    windows: list[str] = Field(default_factory=list, description="starts of further windows (ISO timestamps)")
    latencies_s: list[float] = Field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2, 0.3],
                                     description="total battery latencies of the sensitivity table [s]")
    control_modes: bool = Field(True, description="run the control-mode sensitivity of the with_battery scenario")
    local_latencies_s: list[float] = Field(default_factory=lambda: [0.02, 0.05],
                                           description="local-control latencies of the control-mode sensitivity [s]")
    virtual_reactances_pu: list[float] = Field(
        default_factory=lambda: [0.1, 0.25],
        description="grid-forming virtual reactances of the control-mode sensitivity [pu on the plant MVA]")
    periods_s: list[float] = Field(
        default_factory=lambda: [1.0, 1.5, 3.0],
        description="training iteration periods of the swing-period sensitivity (empty: none) [s]")

    @field_validator("windows")
    @classmethod
    def _stamps(cls, v: list[str]) -> list[str]:
        for w in v:
            try:
                pd.Timestamp(w)
            except (ValueError, TypeError):
                raise ValueError(f"not a timestamp: {w!r}") from None
        return v

    @field_validator("latencies_s")
    @classmethod
    def _latencies(cls, v: list[float]) -> list[float]:
        if any(not (x >= 0.0) or x > 10.0 for x in v):  # NaN fails the first test
            raise ValueError("every latency must lie in [0, 10] s")
        return v

    @field_validator("local_latencies_s")
    @classmethod
    def _local(cls, v: list[float]) -> list[float]:
        if any(not (0.0 < x <= 0.1) for x in v):  # NaN fails; the central chain's period + comms bound
            raise ValueError("every local latency must lie in (0, 0.1] s")
        return v

    @field_validator("periods_s")
    @classmethod
    def _periods(cls, v: list[float]) -> list[float]:
        bad = [x for x in v if not (0.0 < x <= 60.0)]  # NaN fails; a training iteration is 1-2 s
        if bad:
            raise ValueError(f"every period must lie in (0, 60] s; got {bad[0]!r}")
        return v

    @field_validator("virtual_reactances_pu")
    @classmethod
    def _reactances(cls, v: list[float]) -> list[float]:
        if any(not (0.04 <= x <= 0.4) for x in v):  # NaN fails; the generic grid-forming models' range
            raise ValueError("every virtual reactance must lie in [0.04, 0.4] pu")
        return v


class ExportSection(Section):
    """``[export]``: ``run`` also writes the study's case for another tool into ``export/`` of its
    output folder (:mod:`gridstudy.studies.export.case`; ``gridstudy export`` writes it alone)."""

    enabled: bool = False
    format: Literal["psse"] = Field("psse", description="PSS/E RAW v33 + DYR")
    at: str | None = Field(None, description="operating point (a time of the horizon); default: the worst window's start")
    scenario: str | None = Field(None, description="scenario of the operating point; default: with_battery")

    @field_validator("at")
    @classmethod
    def _stamp(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                pd.Timestamp(v)
            except (ValueError, TypeError):
                raise ValueError("not a timestamp such as '2025-07-15T03:00:00'") from None
        return v


#: Window names a ``[dynamics] windows`` entry may give besides a named window's start. [-]
WORST_WINDOW = "worst"


class DynamicsSection(Section):
    """``[dynamics]``: the RMS time-domain check of the study's worst moments with ANDES
    (:mod:`gridstudy.studies.stages.dynamics`; the ``dynamics`` extra).

    Cases: ``windows`` (``"worst"``: the worst sub-second window of each scenario; a timestamp: the
    window of ``[fluctuation] windows`` that starts there), the sag events named in ``events``
    (default: every event of ``[sag]``) and, with ``load_loss``, the largest credible load loss.
    Each window case runs ``window_s`` of its window around the window's largest campus edge (a
    quarter before it, the rest after), so that its cost stays bounded whatever the window's length.
    """

    enabled: bool = False
    windows: list[str] = Field(default_factory=lambda: [WORST_WINDOW], max_length=48,
                               description="'worst' or the start of a window of [fluctuation] windows")
    events: list[str] | None = Field(None, max_length=64, description="sag events by name; default: every event")
    load_loss: bool = Field(True, description="run the largest credible load loss")
    window_s: float = Field(60.0, ge=1.0, le=600.0, description="duration of each window case [s]")
    load_loss_s: float = Field(20.0, ge=2.0, le=120.0, description="duration of the load-loss case [s]")
    step_s: float | None = Field(None, ge=0.001, le=0.1, description="integration step; default: the fluctuation step [s]")
    machine: Literal["site", "GENCLS", "GENROU"] = Field(
        "site", description="grid-equivalent machine model; 'site': the site's [dynamics.grid] model")
    plant: Literal["model", "schedule"] = Field(
        "model", description="the plant as its generic dynamic models driven by its dispatch, or as a fixed schedule")

    @field_validator("windows")
    @classmethod
    def _window_names(cls, v: list[str]) -> list[str]:
        for w in v:
            if w == WORST_WINDOW:
                continue
            try:
                pd.Timestamp(w)
            except (ValueError, TypeError):
                raise ValueError(f"not '{WORST_WINDOW}' nor a timestamp: {w!r}") from None
        return v


class InterconnectionSpec(Section):
    """The sections of this module (the rest of the file is a :class:`gridstudy.studies.spec.sections.StudySpec`)."""

    criteria: CriteriaSection = Field(default_factory=CriteriaSection)
    scenarios: list[ScenarioSection] = Field(default_factory=list)
    contingencies: ContingencySection = Field(default_factory=ContingencySection)
    sag: SagSection = Field(default_factory=SagSection)
    report: ReportSection = Field(default_factory=ReportSection)
    fluctuation: FluctuationSection = Field(default_factory=FluctuationSection)
    export: ExportSection = Field(default_factory=ExportSection)
    dynamics: DynamicsSection = Field(default_factory=DynamicsSection)


def scenario_raw(base: dict[str, Any], scenario: dict[str, Any]) -> dict[str, Any]:
    """The study file of an alternative scenario: ``base`` with the scenario's ``battery`` and
    ``campus`` keys replaced (tables one level deep merged, e.g. ``campus.smoothing``)."""
    merged = copy.deepcopy({k: v for k, v in base.items() if k in ("study", "campus", "battery")})
    for sect in ("battery", "campus"):
        over = scenario.get(sect) or {}
        cur = dict(merged.get(sect) or {})
        for key, val in over.items():
            cur[key] = {**cur[key], **val} if isinstance(val, dict) and isinstance(cur.get(key), dict) else val
        merged[sect] = cur
    return merged


def window_problems(study: StudySpec, ic: InterconnectionSpec, raw: dict[str, Any]) -> list[Problem]:
    """Events and windows that fall outside the run they belong to, refused rather than silently
    dropped or clipped: a sag event (every shot) must end inside the sag run (``sag.duration_s``;
    a job start's run is lengthened to hold its whole ramp, :func:`event_duration_s`); a
    contingency window the file sets must fit in the horizon."""
    out = []
    if ic.sag.enabled:
        run_s = ic.sag.duration_s
        for k, ev in enumerate(ic.sag.events):
            if ev.kind == "source_sag":
                end = ev.at_s + (ev.shots - 1) * ev.interval_s + ev.duration_s
            else:
                end = ev.at_s
            if end >= run_s:
                out.append(Problem(f"sag.events[{k}].at_s", f"the event ends at {end:g} s, outside the sag run of "
                                                            f"sag.duration_s = {run_s:g} s", ev.at_s))
    ex = ic.export
    if ex.enabled and ex.at is not None:
        t_start = pd.Timestamp(study.study.start)
        t_end = t_start + pd.Timedelta(seconds=study.study.horizon_s)
        if not (t_start <= pd.Timestamp(ex.at) < t_end):
            out.append(Problem("export.at", f"outside the horizon {t_start} .. {t_end}", ex.at))
    if ex.enabled and ex.scenario is not None:
        out += unknown_scenario_problems([ex.scenario], {"without_battery", "with_battery",
                                                         *(sc.name for sc in ic.scenarios)}, "export.scenario")
    out += dynamics_problems(ic)
    given = (raw.get("contingencies") or {}).get("window") if isinstance(raw.get("contingencies"), dict) else None
    if ic.contingencies.enabled and given is not None and ic.contingencies.window != "all":
        w = pd.Timedelta(ic.contingencies.window).total_seconds()
        if w > study.study.horizon_s:
            out.append(Problem("contingencies.window", f"longer than the horizon ({study.study.horizon_s:g} s); "
                                                       "use 'all' for the whole horizon", ic.contingencies.window))
    return out


def meter_section_problems(study: StudySpec, ic: InterconnectionSpec) -> list[Problem]:
    """The meters the file sets (``[criteria.meters]``) that cannot read the study's series: an
    unknown averaging, a window shorter than the study step, not a whole number of steps, or
    longer than the horizon."""
    m = ic.criteria.meters
    if m is None:
        return []
    out: list[Problem] = []
    for kind in ("ramp_rate", "peak_to_peak", "power_factor"):
        sec = getattr(m, kind)
        if sec is not None:
            out += meter_problems(f"criteria.meters.{kind}", sec.averaging, sec.window_s,
                                  step_s=study.study.step_s, horizon_s=study.study.horizon_s)
    return out


def dynamics_problems(ic: InterconnectionSpec) -> list[Problem]:
    """``[dynamics]`` cases that name what the study does not have: a window that is not a start of
    ``[fluctuation] windows``, a sag event that is not one of ``[sag] events`` (or sag disabled)."""
    dy = ic.dynamics
    if not dy.enabled:
        return []
    out = []
    starts = {pd.Timestamp(w) for w in ic.fluctuation.windows}
    for k, w in enumerate(dy.windows):
        if w != WORST_WINDOW and pd.Timestamp(w) not in starts:
            known = ", ".join([WORST_WINDOW, *ic.fluctuation.windows])
            out.append(Problem(f"dynamics.windows[{k}]", f"unknown window; known: {known} (the starts of "
                                                         "[fluctuation] windows)", w))
    if dy.windows and not ic.fluctuation.enabled:
        out.append(Problem("dynamics.windows", "window cases need [fluctuation] enabled (or give windows = [])",
                           list(dy.windows)))
    names = [ev.name for ev in ic.sag.events] if ic.sag.enabled else []
    for k, e in enumerate(dy.events or []):
        if e not in names:
            out.append(Problem(f"dynamics.events[{k}]", "unknown sag event; known: "
                                                        + (", ".join(names) if names else "none ([sag] disabled)"), e))
    return out


def unknown_scenario_problems(names: list[str], known: set[str], path: str = "contingencies.scenarios") -> list[Problem]:
    """A problem for each scenario name of ``names`` that is not one of ``known`` (``path[k]``)."""
    return [Problem(f"{path}[{k}]", f"unknown scenario; known: {', '.join(sorted(known))}", n)
            for k, n in enumerate(names) if n not in known]


def fluctuation_window_problems(fl: FluctuationSection, start: pd.Timestamp, step_s: float,
                                steps: int) -> list[Problem]:
    """The sub-second windows named by ``fluctuation.windows`` that do not fit in the horizon of
    ``steps`` steps of ``step_s`` [s] from ``start``: each must start inside it and end at least
    the flickermeter's look-ahead before its end (:func:`fluctuation_window_end`); and a
    ``window_s``/``warmup_s`` that is not a whole number of sub-second steps."""
    out: list[Problem] = []
    for key, length in (("window_s", fl.window_s), ("warmup_s", fl.warmup_s)):
        n = length / fl.step_s
        if abs(n - round(n)) > 1e-6:
            out.append(Problem(f"fluctuation.{key}", f"must be a whole number of sub-second steps ({fl.step_s:g} s)",
                               length))
    horizon_end = start + pd.Timedelta(seconds=steps * step_s)
    end = fluctuation_window_end(fl, start, step_s, steps)
    for k, s in enumerate(fl.windows):
        t = pd.Timestamp(s)
        if t < start or t + pd.Timedelta(seconds=fl.window_s) > end:
            out.append(Problem(f"fluctuation.windows[{k}]", f"the window of {fl.window_s:g} s must lie inside the "
                                                            f"horizon {start} .. {horizon_end}, ending at least the "
                                                            f"flickermeter's look-ahead before its end ({end})", s))
    return out


def fluctuation_window_end(fl: FluctuationSection, start: pd.Timestamp, step_s: float, steps: int) -> pd.Timestamp:
    """The latest end of a sub-second window: the horizon's end less the flickermeter's look-ahead
    (:data:`gridstudy.studies.criteria.flickermeter.LOOKAHEAD_STEPS` sub-second steps, rounded up to
    whole study steps)."""
    horizon_end = start + pd.Timedelta(seconds=steps * step_s)
    return horizon_end - pd.Timedelta(seconds=math.ceil((LOOKAHEAD_STEPS + 1) * fl.step_s / step_s) * step_s)


def parse_interconnection(raw: dict[str, Any],
                          source: str | None = None) -> tuple[StudySpec, InterconnectionSpec, dict[str, StudySpec]]:
    """Validate a whole study file: every problem of every section at once.

    Returns the ``[study]``/``[campus]``/``[battery]`` spec, the interconnection sections and, per
    alternative scenario (``[[scenarios]]``), the spec of its own study file (:func:`scenario_raw`)."""
    problems: list[Problem] = []
    base = {k: v for k, v in raw.items() if k not in _OWN}
    own = {k: v for k, v in raw.items() if k in _OWN}
    study = ic = None
    scen_specs: dict[str, StudySpec] = {}
    try:
        study = parse_study(base, source=source)
    except InputError as exc:
        problems += exc.problems
    base_problems = {(p.path, p.message, repr(p.value)) for p in problems}
    try:
        ic = InterconnectionSpec.model_validate(own)
    except ValidationError as exc:
        problems += problems_from_pydantic(exc)
    scen = raw.get("scenarios")
    raw_scen: list[Any] = scen if isinstance(scen, list) else []
    names = [s.get("name") for s in raw_scen if isinstance(s, dict)]
    for k, s in enumerate(raw_scen):
        if not isinstance(s, dict) or not isinstance(s.get("battery", {}), dict) or not isinstance(s.get("campus", {}), dict):
            continue
        if names.index(s.get("name")) != k:
            problems.append(Problem(f"scenarios[{k}].name", "duplicate scenario name", s.get("name")))
        merged = scenario_raw(base, s)
        try:
            scen_specs[str(s.get("name"))] = parse_study(merged)
        except InputError as exc:
            problems += [Problem(f"scenarios[{k}].{p.path}", p.message, p.value, p.has_value)
                         for p in exc.problems if p.path.startswith(("battery", "campus"))
                         and (p.path, p.message, repr(p.value)) not in base_problems]
    if ic is not None and study is not None:
        problems += window_problems(study, ic, raw)
        problems += meter_section_problems(study, ic)
    if ic is not None:
        known = {"without_battery", "with_battery", *[n for n in names if isinstance(n, str)]}
        problems += unknown_scenario_problems(list(ic.contingencies.scenarios), known)
    if problems:
        raise StudyError(problems, source=source)
    assert study is not None and ic is not None  # each failure above added a problem
    return study, ic, scen_specs


def load_interconnection(path: str | Path) -> tuple[dict[str, Any], StudySpec, InterconnectionSpec]:
    """Read a study file; return ``(raw mapping, study spec, interconnection spec)``."""
    path = Path(path)
    raw = read_toml(path, StudyError, "study")
    study, ic, _ = parse_interconnection(raw, source=str(path))
    return raw, study, ic
