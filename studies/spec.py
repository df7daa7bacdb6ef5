"""The study file (TOML): schema, validation, and resolution into model objects.

One pydantic model per section, each ``extra="forbid"``; later issues add sections (scenarios,
criteria, engine settings) beside these. Every problem of a file is reported at once with its
field path (``battery.units: must be > 0, got -3``) in one :class:`gridstudy.studies.errors.StudyError`.

Sections::

    [study]     name, site (reference name or site TOML path), start, duration | duration_s,
                step_s, seed
    [campus]    AI training load parameters (see models.campus.CampusLoadParams), or
    [campus.trace]  a measured trace (path, columns, units, fill, peak_mw | scale)
    [battery]   units, model and rating overrides, SOC window, strategy and its table:
    [battery.ramp_limit] / [battery.smoothing] / [battery.import_cap] / [battery.load_loss_absorption]
    [battery.recovery]   SOC recovery
    [battery.reactive]   fixed_pf or volt_var (curve points)

Without ``campus.gpus`` (or a trace peak/scale) the campus is sized so that its nominal peak is the
site's campus peak MW; without ``battery.units``/``battery.model`` the site's plant is used.
Relative paths (site TOML, trace) are taken from the study file's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gridstudy.grid.errors import InputError, Problem, problems_from_pydantic, read_toml
from gridstudy.grid.megapack import MEGAPACK_MODELS
from gridstudy.studies.errors import StudyError

__all__ = ["StudySection", "CampusSection", "TraceSection", "BatterySection", "RampLimitSection",
           "SmoothingSection", "ImportCapSection", "LoadLossSection", "RecoverySection", "ReactiveSection",
           "StudySpec", "parse_study", "load_study", "ResolvedStudy", "resolve_study"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudySection(_Section):
    """``[study]``: what is studied, where, and over which horizon."""

    name: str = Field(min_length=1)
    site: str = Field(min_length=1, description="reference site name or path to a site TOML")
    start: str = Field("2025-07-01T00:00:00", description="first timestamp (ISO 8601)")
    duration: str | None = Field(None, description="horizon as a pandas Timedelta string, e.g. '1h', '1D'")
    duration_s: float | None = Field(None, gt=0, description="horizon [s] (instead of duration)")
    step_s: float = Field(1.0, ge=0.01, le=3600.0, description="time step, 10 ms .. 1 h [s]")
    seed: int = Field(0, ge=0, description="seed of every random model [-]")

    @field_validator("start")
    @classmethod
    def _ts(cls, v: str) -> str:
        try:
            pd.Timestamp(v)
        except (ValueError, TypeError):
            raise ValueError("not a timestamp such as '2025-07-01T00:00:00'") from None
        return v

    @field_validator("duration")
    @classmethod
    def _dur(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                if pd.Timedelta(v).total_seconds() <= 0:
                    raise ValueError
            except (ValueError, TypeError):
                raise ValueError("not a positive duration such as '1h', '1D', '90s'") from None
        return v

    @model_validator(mode="after")
    def _one_duration(self):
        if (self.duration is None) == (self.duration_s is None):
            raise ValueError("give exactly one of duration or duration_s")
        n = self.horizon_s / self.step_s
        if abs(n - round(n)) > 1e-6:
            raise ValueError(f"the horizon ({self.horizon_s:g} s) must be a whole number of steps ({self.step_s:g} s)")
        if abs(self.step_s * 1000 - round(self.step_s * 1000)) > 1e-6:
            raise ValueError("step_s must be a whole number of milliseconds")
        return self

    @property
    def horizon_s(self) -> float:
        """Study horizon. [s]"""
        return float(self.duration_s) if self.duration_s is not None else pd.Timedelta(self.duration).total_seconds()


class TraceSection(_Section):
    """``[campus.trace]``: a measured trace instead of the synthetic model."""

    path: str = Field(min_length=1, description="CSV or Parquet file")
    time_column: str = "timestamp"
    p_column: str = "p_mw"
    q_column: str | None = None
    units: Literal["MW", "kW", "W"] | None = Field(None, description="default: from the column name suffix")
    fill: Literal["interpolate", "ffill", "zero"] | None = Field(None, description="default: gaps/NaN are errors")
    peak_mw: float | None = Field(None, gt=0, description="scale the trace to this peak [MW]")
    scale: float | None = Field(None, gt=0, description="multiply the trace by this [-]")
    pf: float = Field(0.98, gt=0, le=1, description="power factor when the trace has no Q column [-]")

    @model_validator(mode="after")
    def _one_scale(self):
        if self.peak_mw is not None and self.scale is not None:
            raise ValueError("give at most one of peak_mw or scale")
        return self


class CampusSection(_Section):
    """``[campus]``: parameters of :class:`gridstudy.models.campus.CampusLoadParams` (all optional)."""

    gpus: int | None = Field(None, gt=0, description="default: sized to the site's campus peak [-]")
    gpu_model: str = "h100"
    gpu_tdp_w: float | None = Field(None, gt=0)
    compute_fraction: float = Field(1.0, gt=0, le=1.5)
    swing_depth: float = Field(0.6, ge=0, le=1)
    idle_fraction: float = Field(0.10, ge=0, le=1)
    node_overhead: float = Field(0.5, ge=0)
    pue: float = Field(1.3, ge=1, le=3)
    pf: float = Field(0.98, gt=0, le=1)
    period_s: float = Field(1.5, gt=0)
    duty: float = Field(0.7, gt=0, lt=1)
    jitter: float = Field(0.05, ge=0, le=0.5)
    checkpoint_interval_s: float | None = Field(1800.0, ge=0)
    checkpoint_duration_s: float = Field(20.0, ge=0)
    transition_pu_per_s: float = Field(1.9, gt=0)
    job_start_s: float | None = Field(None, ge=0)
    job_stop_s: float | None = Field(None, ge=0)
    start_ramp_s: float = Field(60.0, gt=0)
    stop_ramp_s: float = Field(10.0, gt=0)
    interruptions_per_day: float = Field(0.0, ge=0)
    restart_s: float = Field(300.0, ge=0)
    cooling_tau_s: float = Field(300.0, gt=0)
    trip_at_s: float | None = Field(None, ge=0)
    trip_duration_s: float = Field(60.0, ge=0)
    trip_drop_s: float = Field(0.0, ge=0)
    trip_recovery_s: float = Field(180.0, gt=0)
    trace: TraceSection | None = None

    @field_validator("trace", mode="before")
    @classmethod
    def _trace_shorthand(cls, v: Any) -> Any:
        return {"path": v} if isinstance(v, str) else v

    def model_kwargs(self) -> dict:
        """The fields that are :class:`CampusLoadParams` arguments."""
        return self.model_dump(exclude={"trace", "gpus"})


class RampLimitSection(_Section):
    """``[battery.ramp_limit]`` (see :class:`gridstudy.models.dispatch.RampLimit`)."""

    ramp_mw_per_min: float = Field(20.0, gt=0, description="[MW/min]")
    window_mw: float = Field(10.0, gt=0, description="[MW]")
    window_s: float = Field(5.0, ge=0, le=40, description="[s]")
    target_tau_s: float = Field(60.0, ge=0, description="[s]")


class SmoothingSection(_Section):
    """``[battery.smoothing]`` (see :class:`gridstudy.models.dispatch.Smoothing`)."""

    tau_s: float = Field(60.0, gt=0, description="[s]")


class ImportCapSection(_Section):
    """``[battery.import_cap]`` (see :class:`gridstudy.models.dispatch.ImportCap`); default cap: 90 % of the
    campus peak."""

    cap_mw: float | None = Field(None, ge=0, description="[MW]")


class LoadLossSection(_Section):
    """``[battery.load_loss_absorption]`` (see :class:`gridstudy.models.dispatch.LoadLossAbsorption`)."""

    release_mw_per_min: float = Field(20.0, gt=0, description="[MW/min]")
    trigger_fraction: float = Field(0.8, gt=0, lt=1, description="[-]")
    detect_tau_s: float = Field(10.0, gt=0, description="[s]")


class RecoverySection(_Section):
    """``[battery.recovery]``: SOC recovery (see :class:`gridstudy.models.dispatch.SocRecovery`)."""

    enabled: bool = True
    target_percent: float = Field(50.0, ge=0, le=100, description="[%]")
    time_s: float = Field(3600.0, gt=0, description="[s]")
    max_mw: float | None = Field(None, ge=0, description="default 5 % of the plant rating [MW]")


class ReactiveSection(_Section):
    """``[battery.reactive]`` (see :class:`gridstudy.models.dispatch.ReactiveControl`)."""

    mode: Literal["none", "fixed_pf", "volt_var"] = "none"
    pf: float = Field(1.0, gt=0, le=1, description="[-]")
    pf_reference: Literal["grid", "battery"] = "grid"
    absorbing: bool = True
    v_pu: list[float] = Field(default_factory=lambda: [0.92, 0.98, 1.02, 1.08], description="[pu]")
    q_pu: list[float] = Field(default_factory=lambda: [-0.44, 0.0, 0.0, 0.44], description="[pu of inverter MVA]")

    @model_validator(mode="after")
    def _curve(self):
        if len(self.v_pu) != len(self.q_pu) or len(self.v_pu) < 2:
            raise ValueError("v_pu and q_pu need the same length, at least 2")
        if any(b <= a for a, b in pairwise(self.v_pu)):
            raise ValueError("v_pu must increase strictly")
        if any(abs(q) > 1 for q in self.q_pu):
            raise ValueError("q_pu must lie in [-1, 1]")
        return self


class BatterySection(_Section):
    """``[battery]``: the plant (defaults from the site) and its dispatch strategy."""

    units: int | None = Field(None, gt=0, description="Megapack units; default: the site's [-]")
    model: str | None = Field(None, description="Megapack preset; default: the site's")
    unit_p_mw: float | None = Field(None, gt=0, description="[MW]")
    unit_e_mwh: float | None = Field(None, gt=0, description="[MWh]")
    unit_s_mva: float | None = Field(None, gt=0, description="[MVA]")
    round_trip_efficiency: float | None = Field(None, gt=0, le=1, description="[-]")
    soc_min_percent: float = Field(5.0, ge=0, le=100, description="[%]")
    soc_max_percent: float = Field(95.0, ge=0, le=100, description="[%]")
    soc_init_percent: float | None = Field(None, ge=0, le=100, description="default: the site's [%]")
    aux_mw: float = Field(0.0, ge=0, description="[MW]")
    priority: Literal["p", "q"] = "p"
    strategy: Literal["none", "ramp_limit", "smoothing", "import_cap", "load_loss_absorption"] = "none"
    ramp_limit: RampLimitSection = Field(default_factory=RampLimitSection)
    smoothing: SmoothingSection = Field(default_factory=SmoothingSection)
    import_cap: ImportCapSection = Field(default_factory=ImportCapSection)
    load_loss_absorption: LoadLossSection = Field(default_factory=LoadLossSection)
    recovery: RecoverySection = Field(default_factory=RecoverySection)
    reactive: ReactiveSection = Field(default_factory=ReactiveSection)

    @field_validator("model")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and v not in MEGAPACK_MODELS:
            raise ValueError(f"unknown Megapack model; known: {', '.join(MEGAPACK_MODELS)}")
        return v



class StudySpec(_Section):
    """A whole study file."""

    study: StudySection
    campus: CampusSection = Field(default_factory=CampusSection)
    battery: BatterySection = Field(default_factory=BatterySection)


_MESSAGES = (
    ("Input should be greater than or equal to", "must be >="),
    ("Input should be greater than", "must be >"),
    ("Input should be less than or equal to", "must be <="),
    ("Input should be less than", "must be <"),
    ("Extra inputs are not permitted", "unknown field (not allowed here)"),
)


def _plain(problem: Problem) -> Problem:
    msg = problem.message
    for old, new in _MESSAGES:
        msg = msg.replace(old, new)
    return Problem(problem.path, msg, problem.value, problem.has_value)


def _cross_problems(raw: dict[str, Any]) -> list[Problem]:
    """Checks across fields, run on the raw mapping beside pydantic so that they are never hidden
    by another field's error."""
    out = []
    bat = raw.get("battery")
    if isinstance(bat, dict):
        lo, hi = bat.get("soc_min_percent", 5.0), bat.get("soc_max_percent", 95.0)
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo >= hi:
            out.append(Problem("battery.soc_min_percent", f"must be below soc_max_percent ({hi:g}); limits reversed?", lo))
        s0 = bat.get("soc_init_percent")
        if (isinstance(s0, (int, float)) and isinstance(lo, (int, float)) and isinstance(hi, (int, float))
                and lo < hi and not lo <= s0 <= hi):
            out.append(Problem("battery.soc_init_percent", f"must lie within [{lo:g}, {hi:g}]", s0))
    return out


def parse_study(raw: dict[str, Any], source: str | None = None) -> StudySpec:
    """Validate a mapping (parsed TOML) into a :class:`StudySpec`, listing every problem at once."""
    problems = _cross_problems(raw)
    spec = None
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as exc:
        problems = [_plain(p) for p in problems_from_pydantic(exc)] + problems
    if problems:
        raise StudyError(problems, source=source)
    assert spec is not None  # validation failed only with problems, raised above
    return spec


def load_study(path: str | Path) -> StudySpec:
    """Read and validate a study TOML file (schema only; see :func:`resolve_study`)."""
    path = Path(path)
    raw = read_toml(path, StudyError, "study")
    return parse_study(raw, source=str(path))


@dataclass
class ResolvedStudy:
    """A study file turned into model objects.

    Attributes
    ----------
    spec : StudySpec
        The validated file.
    site_spec : grid.spec.SiteSpec
        The site description.
    index : pandas.DatetimeIndex
        The study's time axis.
    campus_params : models.campus.CampusLoadParams or None
        The synthetic load model (``None`` with a trace).
    trace : pandas.DataFrame or None
        The trace resampled to the study step and scaled (``None`` without one).
    plant : models.battery.MegapackPlant or None
        The battery plant (``None`` when neither site nor study gives one).
    strategy : models.dispatch.Strategy or None
        The dispatch strategy bound to ``plant``.
    """

    spec: StudySpec
    site_spec: Any
    index: pd.DatetimeIndex
    campus_params: Any
    trace: pd.DataFrame | None
    plant: Any
    strategy: Any


def resolve_study(spec: StudySpec, base_dir: str | Path = ".", source: str | None = None) -> ResolvedStudy:
    """Resolve site, campus model or trace, plant and strategy; every problem listed at once.

    Raises
    ------
    StudyError
        With every problem of the site reference, the model parameters and the trace.
    """
    from gridstudy.grid.reference import reference_site_path, reference_sites
    from gridstudy.grid.spec import load_site_spec
    from gridstudy.models.battery import MegapackPlant
    from gridstudy.models.campus import CampusLoadParams, gpus_for_peak
    from gridstudy.models.dispatch import ReactiveControl, SocRecovery, VoltVarCurve, make_strategy
    from gridstudy.models.timeindex import make_index
    from gridstudy.models.traces import load_trace, resample_trace, scale_trace

    base_dir = Path(base_dir)
    problems: list[Problem] = []
    st = spec.study
    site_spec = None
    try:
        if st.site in reference_sites():
            site_spec = load_site_spec(reference_site_path(st.site))
        else:
            p = Path(st.site)
            p = p if p.is_absolute() else base_dir / p
            if p.suffix != ".toml":
                problems.append(Problem("study.site", f"not a reference site ({', '.join(reference_sites())}) "
                                                      "nor a .toml site file", st.site))
            else:
                site_spec = load_site_spec(p)
    except InputError as exc:
        problems += [Problem(f"study.site: {q.path}", q.message, q.value, q.has_value) for q in exc.problems]

    index = make_index(st.start, st.horizon_s, st.step_s)
    campus_peak_mw = site_spec.campus.p_mw if site_spec is not None else None

    cs = spec.campus
    params = trace = None
    if cs.trace is None:
        kw = cs.model_kwargs() | {"seed": st.seed}
        try:
            if cs.gpus is not None:
                params = CampusLoadParams(gpus=cs.gpus, **kw)
            elif campus_peak_mw is not None:
                one = CampusLoadParams(gpus=1, **kw)
                params = one.replace(gpus=gpus_for_peak(campus_peak_mw, one))
        except InputError as exc:
            problems += exc.problems
    else:
        tr = cs.trace
        tpath = Path(tr.path)
        tpath = tpath if tpath.is_absolute() else base_dir / tpath
        try:
            raw = load_trace(tpath, time_column=tr.time_column, p_column=tr.p_column, q_column=tr.q_column,
                             units=tr.units, fill=tr.fill)
            trace = resample_trace(raw, index)
            if tr.scale is not None:
                trace = scale_trace(trace, factor=tr.scale)
            elif tr.peak_mw is not None or campus_peak_mw is not None:
                # scale on the raw trace's peak so that the study step does not change the factor
                factor = (tr.peak_mw or campus_peak_mw) / float(raw["campus_p_mw"].max())
                trace = scale_trace(trace, factor=factor)
            if "campus_q_mvar" not in trace:
                import math
                trace["campus_q_mvar"] = trace["campus_p_mw"] * math.tan(math.acos(tr.pf))
        except InputError as exc:
            problems += exc.problems

    bs = spec.battery
    site_bat = site_spec.battery if site_spec is not None else None
    plant = strategy = None
    units = bs.units if bs.units is not None else (site_bat.units if site_bat else None)
    model = bs.model or (site_bat.model if site_bat else "megapack2xl-2h")
    if units is None:
        if bs.strategy != "none" and site_spec is not None:
            problems.append(Problem("battery.units", "required: the site has no battery", None, has_value=False))
    else:
        soc0 = bs.soc_init_percent if bs.soc_init_percent is not None else (site_bat.soc_percent if site_bat else 50.0)
        try:
            plant = MegapackPlant(units=units, model=model, unit_p_mw=bs.unit_p_mw, unit_e_mwh=bs.unit_e_mwh,
                                  unit_s_mva=bs.unit_s_mva, round_trip_efficiency=bs.round_trip_efficiency,
                                  soc_min_percent=bs.soc_min_percent, soc_max_percent=bs.soc_max_percent,
                                  soc_init_percent=soc0, aux_mw=bs.aux_mw, priority=bs.priority)
        except InputError as exc:
            problems += exc.problems
    if plant is not None:
        rc = bs.recovery
        recovery = SocRecovery(rc.target_percent, rc.time_s, rc.max_mw) if rc.enabled else None
        rq = bs.reactive
        reactive = ReactiveControl(rq.mode, rq.pf, rq.pf_reference, rq.absorbing, VoltVarCurve(tuple(rq.v_pu), tuple(rq.q_pu)))
        strat_kw: dict[str, Any] = {}
        if bs.strategy == "ramp_limit":
            strat_kw = bs.ramp_limit.model_dump()
        elif bs.strategy == "smoothing":
            strat_kw = bs.smoothing.model_dump()
        elif bs.strategy == "import_cap":
            cap = bs.import_cap.cap_mw
            if cap is None and campus_peak_mw is not None:
                cap = 0.9 * campus_peak_mw
            strat_kw = {"cap_mw": cap if cap is not None else 0.0}
        elif bs.strategy == "load_loss_absorption":
            strat_kw = bs.load_loss_absorption.model_dump()
        try:
            strategy = make_strategy(bs.strategy, plant, recovery=None if bs.strategy == "none" else recovery,
                                     reactive=reactive, **strat_kw)
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise StudyError(problems, source=source)
    return ResolvedStudy(spec, site_spec, index, params, trace, plant, strategy)
