"""The study file (TOML): schema, validation, and resolution into model objects.

One pydantic model per section, each ``extra="forbid"``. The sections of model parameters
(``[campus]``, ``[battery]`` and its tables) are derived from the models' own parameter classes
(:func:`derived_section`): the model declares each parameter once and judges its value in its
``problems()``; the file checks unknown keys and types. Every problem of a file, the schema's and
the models', is reported at once with its field path (``battery.units: must be an integer > 0,
got -3``) in one :class:`gridstudy.studies.errors.StudyError`.

Sections::

    [study]     name, site (reference name or site TOML path), start, duration | duration_s,
                step_s, seed
    [campus]    AI training load parameters (see models.campus.CampusLoadParams), or
    [campus.trace]  a measured trace (path, columns, units, fill, peak_mw | scale)
    [campus.smoothing]   GPU-side power smoothing (models.gpu_smoothing.GpuSmoothing); absent: off
    [battery]   units, model and rating overrides, SOC window, strategy and its table:
    [battery.ramp_limit] / [battery.smoothing] / [battery.import_cap] / [battery.load_loss_absorption]
    [battery.recovery]   SOC recovery
    [battery.reactive]   fixed_pf or volt_var (curve points)
    [battery.response]   how late the plant answers (models.plant_response.PlantResponse);
                         absent: the Megapack defaults; all delays 0: in the step the load moves

Without ``campus.gpus`` (or a trace peak/scale) the campus is sized so that its nominal peak is the
site's campus peak MW; without ``battery.units``/``battery.model`` the site's plant is used.
Relative paths (site TOML, trace) are taken from the study file's folder.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, cast

import pandas as pd
from pydantic import BaseModel, Field, ValidationError, create_model, field_validator, model_validator

from gridstudy.grid.bounds import MAX_CAMPUS_MW, MAX_GPUS
from gridstudy.grid.errors import INPUT_MODEL_CONFIG, InputError, Problem, problems_from_pydantic, read_toml
from gridstudy.grid.reference import reference_site_path, reference_sites
from gridstudy.grid.spec import load_site_spec
from gridstudy.models.battery import MegapackPlant
from gridstudy.models.campus import CampusLoadParams, campus_for_peak, nominal_peak_p_mw
from gridstudy.models.campus_voltage import CampusVoltageResponse
from gridstudy.models.dispatch import (
    ImportCap,
    LoadLossAbsorption,
    RampLimit,
    ReactiveControl,
    Smoothing,
    SocRecovery,
    VoltVarCurve,
    default_volt_var,
    make_strategy,
)
from gridstudy.models.gpu_smoothing import GpuSmoothing
from gridstudy.models.grid_forming import GridFormingControl
from gridstudy.models.plant_control import PlantControl
from gridstudy.models.plant_response import PlantResponse
from gridstudy.models.timeindex import FixedHorizon, as_index, make_horizon
from gridstudy.models.traces import load_trace, resample_trace, scale_trace
from gridstudy.studies.errors import StudyError
from gridstudy.studies.spec.limits import MAX_STEPS

__all__ = ["Section", "StudySection", "CampusSection", "TraceSection", "BatterySection", "RampLimitSection",
           "SmoothingSection", "ImportCapSection", "LoadLossSection", "RecoverySection", "ReactiveSection",
           "StudySpec", "parse_study", "load_study", "ResolvedStudy", "resolve_study", "site_file"]


class Section(BaseModel):
    """Base of every section of a study file: unknown keys, inf and NaN refused, values frozen once validated."""

    model_config = INPUT_MODEL_CONFIG  # unknown keys, inf and NaN refused



class StudySection(Section):
    """``[study]``: what is studied, where, and over which horizon."""

    name: str = Field(min_length=1)
    site: str = Field(min_length=1, description="reference site name or path to a site TOML")
    start: str = Field("2025-07-01T00:00:00", description="first timestamp (ISO 8601)")
    duration: str | None = Field(None, description="horizon as a pandas Timedelta string, e.g. '1h', '1D'")
    duration_s: float | None = Field(None, gt=0, allow_inf_nan=False, description="horizon [s] (instead of duration)")
    step_s: float = Field(1.0, ge=0.01, le=3600.0, description="time step, 10 ms .. 1 h [s]")
    seed: int = Field(0, ge=0, description="seed of every random model [-]")

    @field_validator("start")
    @classmethod
    def _ts(cls, v: str) -> str:
        # a date first: 'now', 'today' and the like parse too, but give another horizon every run
        if not v.strip()[:1].isdigit():
            raise ValueError("not a timestamp such as '2025-07-01T00:00:00' (a fixed date: 'now' and 'today' "
                             "would make the study unreproducible)")
        try:
            pd.Timestamp(v)
        except (ValueError, TypeError, OverflowError):
            raise ValueError("not a timestamp such as '2025-07-01T00:00:00'") from None
        return v

    @field_validator("duration")
    @classmethod
    def _dur(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                if pd.Timedelta(v).total_seconds() <= 0:
                    raise ValueError
            except (ValueError, TypeError, OverflowError):
                raise ValueError("not a positive duration such as '1h', '1D', '90s'") from None
        return v

    @model_validator(mode="after")
    def _one_duration(self) -> Self:
        if (self.duration is None) == (self.duration_s is None):
            raise ValueError("give exactly one of duration or duration_s")

        key = "duration" if self.duration is not None else "duration_s"  # "<field>: ..." names the field
        n = self.horizon_s / self.step_s
        if n > MAX_STEPS:
            raise ValueError(f"{key}: the horizon ({self.horizon_s:.6g} s) at step_s {self.step_s:g} s has {n:.3g} "
                             f"steps, more than the {MAX_STEPS:.3g} a study may have")
        try:
            pd.Timestamp(self.start) + pd.Timedelta(seconds=self.horizon_s)
        except (ValueError, OverflowError):  # pandas' OutOfBoundsDatetime is a ValueError
            raise ValueError(f"{key}: the horizon from {self.start} for {self.horizon_s:.6g} s ends after "
                             f"{pd.Timestamp.max:%Y-%m-%d}, the last date pandas can represent") from None
        if abs(n - round(n)) > 1e-6:
            raise ValueError(f"the horizon ({self.horizon_s:g} s) must be a whole number of steps ({self.step_s:g} s)")
        if abs(self.step_s * 1000 - round(self.step_s * 1000)) > 1e-6:
            raise ValueError("step_s must be a whole number of milliseconds")
        return self

    @property
    def horizon_s(self) -> float:
        """Study horizon. [s]"""
        # the validator requires exactly one of duration_s and duration
        return float(self.duration_s) if self.duration_s is not None else pd.Timedelta(cast(str, self.duration)).total_seconds()


class TraceSection(Section):
    """``[campus.trace]``: a measured trace instead of the synthetic model."""

    path: str = Field(min_length=1, description="CSV or Parquet file")
    time_column: str = "timestamp"
    p_column: str = "p_mw"
    q_column: str | None = None
    units: Literal["MW", "kW", "W"] | None = Field(None, description="default: from the column name suffix")
    fill: Literal["interpolate", "ffill", "zero"] | None = Field(None, description="default: gaps/NaN are errors")
    peak_mw: float | None = Field(None, gt=0, le=MAX_CAMPUS_MW, description="scale the trace to this peak [MW]")
    scale: float | None = Field(None, gt=0, description="multiply the trace by this [-]")
    pf: float = Field(0.98, gt=0, le=1, description="power factor when the trace has no Q column [-]")
    allow_negative: bool = Field(False, description="accept negative active power (a campus that exports)")

    @model_validator(mode="after")
    def _one_scale(self) -> Self:
        if self.peak_mw is not None and self.scale is not None:
            raise ValueError("give at most one of peak_mw or scale")
        return self


def derived_section(name: str, params: Any, *, exclude: tuple[str, ...] = (), overrides: dict[str, Any] | None = None,
                    base: type[BaseModel] = Section, doc: str = "") -> type[BaseModel]:
    """A study-file section whose fields are a model class's own parameters.

    The model (a dataclass, or a class whose ``__init__`` takes keyword parameters) declares each
    parameter once, with its type and default, and validates its values in its ``problems()``;
    the section takes the names, types and defaults from it, so the file checks types and unknown
    keys and the model checks values: one declaration and one validation per parameter.

    Parameters
    ----------
    name : str
        Class name of the section.
    params : type
        The model class (dataclass fields, or keyword parameters of ``__init__``).
    exclude : tuple of str
        Parameters that are not fields of the file's section.
    overrides : dict
        ``field -> (type, default)`` where the file's meaning differs (e.g. ``None``: "from the site").
    base : pydantic model class
        Base of the section (extra fields, validators, methods).
    doc : str
        Docstring of the section.
    """

    fields: dict[str, Any] = {}
    if dataclasses.is_dataclass(params):
        hints = typing.get_type_hints(params)
        for f in dataclasses.fields(params):
            if f.name in exclude:
                continue
            default = f.default if f.default is not dataclasses.MISSING else ...
            fields[f.name] = (hints[f.name], default)
    else:
        init = params.__init__
        hints = typing.get_type_hints(init)
        for k, p in inspect.signature(init).parameters.items():
            if k in ("self", "plant", *exclude) or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            fields[k] = (hints.get(k, Any), p.default if p.default is not p.empty else ...)
    fields.update(overrides or {})
    model = create_model(name, __base__=base, __doc__=doc or f"Parameters of :class:`{params.__module__}.{params.__qualname__}`.",
                         **fields)
    return model


class _VoltageResponseBase(Section):
    time_series: bool = False

    def model(self) -> Any:
        """The model the section describes (it validates the values)."""

        return CampusVoltageResponse(**self.model_dump(exclude={"time_series"}))


def _voltage_response_section() -> type[BaseModel]:

    return derived_section(
        "VoltageResponseSection", CampusVoltageResponse, base=_VoltageResponseBase,
        doc="``[campus.voltage_response]``: how the campus draw depends on its voltage (the parameters of "
            ":class:`gridstudy.models.campus_voltage.CampusVoltageResponse`, validated by it), and "
            "``time_series``: whether the daily time series uses it too (the sag events always do).")


if TYPE_CHECKING:
    class VoltageResponseSection(_VoltageResponseBase): ...
else:
    VoltageResponseSection = _voltage_response_section()


class _CampusBase(Section):
    trace: TraceSection | None = None
    voltage_response: VoltageResponseSection | None = None

    @field_validator("trace", mode="before")
    @classmethod
    def _trace_shorthand(cls, v: Any) -> Any:
        return {"path": v} if isinstance(v, str) else v

    def model_kwargs(self) -> dict[str, Any]:
        """The fields that are :class:`CampusLoadParams` arguments (``smoothing`` as the model's
        :class:`~gridstudy.models.gpu_smoothing.GpuSmoothing`, which validates its values)."""

        kw = self.model_dump(exclude={"trace", "gpus", "smoothing", "voltage_response"})
        sm = getattr(self, "smoothing", None)
        kw["smoothing"] = GpuSmoothing(**sm.model_dump()) if sm is not None else None
        return kw


class _ControlBase(Section):
    mode: Literal["grid_following", "grid_following_local", "grid_forming"] = "grid_following"
    local_latency_s: float = Field(0.02, description="total latency of the local loop (grid_following_local) [s]")
    follow_filter: bool | None = Field(None, description="act only on what the latency can follow (default: off "
                                                         "grid-following, on for the grid-forming set-point)")
    follow_tau_factor: float = Field(10.0, description="latency-aware filter: time constant / total latency [-]")

    def model(self) -> PlantControl:
        """The :class:`~gridstudy.models.plant_control.PlantControl` of the section (validated by the models)."""
        d = self.model_dump()
        gfm_kw = {k: d.pop(k) for k in list(d) if k not in _ControlBase.model_fields}
        problems: list[Problem] = []
        gfm = GridFormingControl()
        try:
            gfm = GridFormingControl(**gfm_kw)
        except InputError as exc:  # listed with the mode's own problems below
            problems += exc.problems
        try:
            control = PlantControl(grid_forming=gfm, **d)
        except InputError as exc:
            problems += exc.problems
        if problems:
            raise StudyError(problems)
        return control


def _sections() -> dict[str, type[BaseModel]]:
    out: dict[str, type[BaseModel]] = {}
    out["gpu_smoothing"] = derived_section(
        "GpuSmoothingSection", GpuSmoothing,
        doc="``[campus.smoothing]``: GPU-side power smoothing (see :class:`gridstudy.models.gpu_smoothing.GpuSmoothing`); "
            "absent: off.")
    out["response"] = derived_section(
        "PlantResponseSection", PlantResponse,
        doc="``[battery.response]``: how late the plant answers (see "
            ":class:`gridstudy.models.plant_response.PlantResponse`); absent: its Megapack defaults.")
    out["campus"] = derived_section(
        "CampusSection", CampusLoadParams, exclude=("seed",), base=_CampusBase,
        overrides={"gpus": (int | None, None), "smoothing": (out["gpu_smoothing"] | None, None)},
        doc="``[campus]``: the parameters of :class:`gridstudy.models.campus.CampusLoadParams` (all "
            "optional; ``gpus`` default: sized to the site's campus peak; the seed is ``study.seed``), or "
            "``[campus.trace]``.")
    kw: dict[str, Any] = {"exclude": ("recovery", "reactive")}
    out["ramp_limit"] = derived_section("RampLimitSection", RampLimit, **kw,
                                        doc="``[battery.ramp_limit]`` (see :class:`gridstudy.models.dispatch.RampLimit`).")
    out["smoothing"] = derived_section("SmoothingSection", Smoothing, **kw,
                                       doc="``[battery.smoothing]`` (see :class:`gridstudy.models.dispatch.Smoothing`).")
    out["import_cap"] = derived_section("ImportCapSection", ImportCap, **kw, overrides={"cap_mw": (float | None, None)},
                                        doc="``[battery.import_cap]`` (see :class:`gridstudy.models.dispatch.ImportCap`); "
                                            "default cap: 90 % of the campus peak.")
    out["load_loss_absorption"] = derived_section(
        "LoadLossSection", LoadLossAbsorption, **kw,
        doc="``[battery.load_loss_absorption]`` (see :class:`gridstudy.models.dispatch.LoadLossAbsorption`).")
    out["recovery"] = derived_section("RecoverySection", SocRecovery, overrides={"enabled": (bool, True)},
                                      doc="``[battery.recovery]``: SOC recovery (see :class:`gridstudy.models.dispatch.SocRecovery`).")
    out["control"] = derived_section(
        "ControlSection", GridFormingControl, base=_ControlBase,
        doc="``[battery.control]``: the plant's control mode (see :class:`gridstudy.models.plant_control.PlantControl`) "
            "and, in ``grid_forming`` mode, its parameters (see :class:`gridstudy.models.grid_forming.GridFormingControl`); "
            "absent: grid-following on ``[battery.response]``.")
    out["battery_plant"] = derived_section(
        "_PlantFields", MegapackPlant,
        overrides={"units": (int | None, None), "model": (str | None, None), "soc_init_percent": (float | None, None)})
    return out


class ReactiveSection(Section):
    """``[battery.reactive]`` (see :class:`gridstudy.models.dispatch.ReactiveControl`; its ``curve`` is
    given here as the points ``v_pu`` [pu] and ``q_pu`` [pu of inverter MVA]); values are validated by
    the model. The curve's points and response time left out take the defaults of the site's POI
    voltage (:func:`gridstudy.models.dispatch.default_volt_var`: IEEE 2800-2022 style at 69 kV and
    above, IEEE 1547-2018 Category B below)."""

    mode: Literal["none", "fixed_pf", "volt_var"] = "none"
    pf: float = 1.0
    pf_reference: Literal["grid", "battery"] = "grid"
    absorbing: bool = True
    v_pu: list[float] | None = Field(None, description="default: by the POI voltage [pu]")
    q_pu: list[float] | None = Field(None, description="default: by the POI voltage [pu of inverter MVA]")
    response_time_s: float | None = Field(
        None, description="open-loop response time of volt-var; default: by the POI voltage [s]")

    def curve(self, poi_vn_kv: float | None) -> VoltVarCurve:
        """The volt-var curve: the values given, the rest the defaults of a POI at ``poi_vn_kv``
        [kV] (:func:`gridstudy.models.dispatch.default_volt_var`)."""
        d = default_volt_var(poi_vn_kv)
        if self.v_pu is None and self.q_pu is None and self.response_time_s is None:
            return d
        return VoltVarCurve(tuple(self.v_pu) if self.v_pu is not None else d.v_pu,
                            tuple(self.q_pu) if self.q_pu is not None else d.q_pu,
                            self.response_time_s if self.response_time_s is not None else d.response_time_s,
                            f"study file (values not given: {d.basis})")


_S = _sections()
if TYPE_CHECKING:  # the type checker sees sections whose fields it cannot know statically
    class _Derived(Section):
        def __getattr__(self, name: str) -> Any: ...

    class CampusSection(_CampusBase, _Derived):
        """``[campus]`` (built from :class:`gridstudy.models.campus.CampusLoadParams`)."""
    class RampLimitSection(_Derived):
        """``[battery.ramp_limit]`` (built from :class:`gridstudy.models.dispatch.RampLimit`)."""
    class SmoothingSection(_Derived):
        """``[battery.smoothing]`` (built from :class:`gridstudy.models.dispatch.Smoothing`)."""
    class ImportCapSection(_Derived):
        """``[battery.import_cap]`` (built from :class:`gridstudy.models.dispatch.ImportCap`)."""
    class LoadLossSection(_Derived):
        """``[battery.load_loss_absorption]`` (built from :class:`gridstudy.models.dispatch.LoadLossAbsorption`)."""
    class RecoverySection(_Derived):
        """``[battery.recovery]`` (built from :class:`gridstudy.models.dispatch.SocRecovery`)."""
    class _PlantFields(_Derived): ...
    class PlantResponseSection(_Derived): ...
    class GpuSmoothingSection(_Derived): ...
    class ControlSection(_ControlBase, _Derived): ...
else:
    CampusSection = _S["campus"]
    RampLimitSection = _S["ramp_limit"]
    SmoothingSection = _S["smoothing"]
    ImportCapSection = _S["import_cap"]
    LoadLossSection = _S["load_loss_absorption"]
    RecoverySection = _S["recovery"]
    _PlantFields = _S["battery_plant"]
    PlantResponseSection = _S["response"]
    GpuSmoothingSection = _S["gpu_smoothing"]
    ControlSection = _S["control"]

#: ``[battery]`` tables of the strategies, by strategy name.
STRATEGY_TABLES = {"ramp_limit": "ramp_limit", "smoothing": "smoothing", "import_cap": "import_cap",
                   "load_loss_absorption": "load_loss_absorption"}


class _BatteryBase(_PlantFields):
    strategy: Literal["none", "ramp_limit", "smoothing", "import_cap", "load_loss_absorption"] = "none"
    ramp_limit: RampLimitSection = Field(default_factory=RampLimitSection)
    smoothing: SmoothingSection = Field(default_factory=SmoothingSection)
    import_cap: ImportCapSection = Field(default_factory=ImportCapSection)
    load_loss_absorption: LoadLossSection = Field(default_factory=LoadLossSection)
    recovery: RecoverySection = Field(default_factory=RecoverySection)
    reactive: ReactiveSection = Field(default_factory=ReactiveSection)
    response: PlantResponseSection | None = None
    control: ControlSection | None = None


class BatterySection(_BatteryBase):
    """``[battery]``: the plant (the parameters of :class:`gridstudy.models.battery.MegapackPlant`;
    ``units``, ``model`` and ``soc_init_percent`` default to the site's) and its dispatch strategy
    with the strategies' tables."""


class StudySpec(Section):
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
    value = problem.value
    if isinstance(value, dict):  # a whole section's check: name its field ("duration: ...") and value
        key, sep, rest = msg.partition(": ")
        if sep and key in value:
            return Problem(f"{problem.path}.{key}", rest, value[key])
    return Problem(problem.path, msg, value, problem.has_value)


def _lenient(section: type[BaseModel], raw: Any) -> Any:
    """``section`` validated from ``raw`` without the keys pydantic refuses (unknown or mistyped),
    or ``None``: what the models can still check beside the schema's own problems."""
    if not isinstance(raw, dict):
        return None
    data = copy.deepcopy(raw)
    for _ in range(64):  # each round removes at least one key
        try:
            return section.model_validate(data)
        except ValidationError as exc:
            removed = [_drop(data, tuple(e.get("loc", ()))) for e in exc.errors()]
            if not any(removed):
                return None
    return None


def _drop(data: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    """Remove the deepest key of the nested mappings of ``data`` on the way to ``loc`` (a table's
    refused key alone, so that the models still judge its neighbours); whether one was removed."""
    d: Any = data
    parent: dict[str, Any] | None = None
    key: Any = None
    for part in loc:
        if not (isinstance(d, dict) and part in d):
            break
        parent, key, d = d, part, d[part]
    if parent is None:
        return False
    del parent[key]
    return True


def strategy_problem_path(problem: Problem, strategy: str) -> Problem:
    """A strategy's problem at its study-file path: ``battery.tau_s`` -> ``battery.smoothing.tau_s``,
    ``battery.reactive.curve.v_pu`` -> ``battery.reactive.v_pu``."""
    path = problem.path.replace("battery.reactive.curve", "battery.reactive")
    head, _, name = path.rpartition(".")
    table = STRATEGY_TABLES.get(strategy)
    if head == "battery" and table is not None and name in _S[table].model_fields:
        path = f"battery.{table}.{name}"
    return Problem(path, problem.message, problem.value, problem.has_value)


def make_battery(bs: Any, units: int, model: str, soc_init_percent: float, cap_default_mw: float | None = None,
                 poi_vn_kv: float | None = None) -> tuple[Any, Any, list[Problem]]:
    """The plant and strategy of a ``[battery]`` section: ``(plant, strategy, problems)``.

    The models validate their own parameters; their problems come back at the file's paths.
    ``poi_vn_kv``: the site's POI voltage [kV], which chooses the volt-var defaults
    (:meth:`ReactiveSection.curve`).
    """

    problems: list[Problem] = []
    plant = strategy = None
    try:
        plant = MegapackPlant(units=units, model=model, unit_p_mw=bs.unit_p_mw, unit_e_mwh=bs.unit_e_mwh,
                              unit_s_mva=bs.unit_s_mva, round_trip_efficiency=bs.round_trip_efficiency,
                              soc_min_percent=bs.soc_min_percent, soc_max_percent=bs.soc_max_percent,
                              soc_init_percent=soc_init_percent, aux_mw=bs.aux_mw, priority=bs.priority)
    except InputError as exc:
        problems += exc.problems
    rc, rq = bs.recovery, bs.reactive
    if rc.enabled and plant is not None and not plant.soc_min_percent <= rc.target_percent <= plant.soc_max_percent:
        problems.append(Problem("battery.recovery.target_percent", f"must lie in the SOC window "
                                f"[{plant.soc_min_percent:g}, {plant.soc_max_percent:g}] %", rc.target_percent))
    recovery = SocRecovery(rc.target_percent, rc.time_s, rc.max_mw) if rc.enabled else None
    reactive = ReactiveControl(rq.mode, rq.pf, rq.pf_reference, rq.absorbing, rq.curve(poi_vn_kv))
    table = STRATEGY_TABLES.get(bs.strategy)
    strat_kw: dict[str, Any] = getattr(bs, table).model_dump() if table else {}
    if bs.strategy == "import_cap" and strat_kw.get("cap_mw") is None:
        strat_kw["cap_mw"] = 0.9 * cap_default_mw if cap_default_mw is not None else 0.0
    response = None
    try:
        # absent: the Megapack defaults (a plant answers late; docs/sources/megapack.md §7); a plant
        # that answers in the step the load moves is asked for by setting its delays to zero
        response = PlantResponse(**bs.response.model_dump()) if bs.response is not None else PlantResponse()
    except InputError as exc:
        problems += exc.problems
    control = None
    if bs.control is not None:
        try:
            control = bs.control.model()
        except InputError as exc:
            problems += exc.problems
        if control is not None and response is not None:  # the local loop against the file's central chain
            extra = control.problems("battery.control", response)
            if extra:
                problems += extra
                control = None
    try:  # with a plant the file got wrong, its strategy is still checked (on a one-unit plant)
        strategy = make_strategy(bs.strategy, plant if plant is not None else MegapackPlant(units=1),
                                 recovery=None if bs.strategy == "none" else recovery, reactive=reactive,
                                 response=response, control=control, **strat_kw)
    except InputError as exc:
        problems += [strategy_problem_path(q, bs.strategy) for q in exc.problems]
    return plant, strategy if plant is not None else None, problems


def _model_problems(raw: dict[str, Any]) -> list[Problem]:
    """The values of the model parameters, checked by the models themselves, beside the schema's
    checks (so that one run lists both): the campus model, the plant and the strategy."""

    out: list[Problem] = []
    cs = _lenient(CampusSection, raw.get("campus", {}))
    if cs is not None and cs.voltage_response is not None:
        try:
            cs.voltage_response.model()
        except InputError as exc:
            out += exc.problems
    if cs is not None and cs.trace is None:
        try:
            CampusLoadParams(gpus=cs.gpus if cs.gpus is not None else 1, **cs.model_kwargs())
        except InputError as exc:
            out += exc.problems
    bs = _lenient(BatterySection, raw.get("battery", {}))
    if bs is not None:
        lo, hi = bs.soc_min_percent, bs.soc_max_percent
        soc0 = bs.soc_init_percent if bs.soc_init_percent is not None else min(max(50.0, lo), hi)
        if bs.units is None:  # the plant is the site's, known once resolved: aux_mw's rating check waits for it
            bs = bs.model_copy(update={"aux_mw": min(bs.aux_mw, 0.0)})
        _, _, problems = make_battery(bs, bs.units if bs.units is not None else 1, bs.model or "megapack2xl-2h", soc0)
        out += problems
    return out


def parse_study(raw: dict[str, Any], source: str | None = None) -> StudySpec:
    """Validate a mapping (parsed TOML) into a :class:`StudySpec`, listing every problem at once:
    the schema's (unknown keys, types, the horizon) and the models' (every parameter's value)."""
    problems: list[Problem] = []
    spec = None
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as exc:
        problems = [_plain(p) for p in problems_from_pydantic(exc)]
    seen = {p.path for p in problems}
    problems += [p for p in _model_problems(raw) if p.path not in seen]
    if spec is not None and spec.campus.trace is None:  # scripted events that would never happen
        problems += _horizon_problems(spec, spec.campus)
    if problems:
        raise StudyError(problems, source=source)
    assert spec is not None  # validation failed only with problems, raised above
    return spec


def load_study(path: str | Path) -> StudySpec:
    """Read and validate a study TOML file (schema only; see :func:`resolve_study`)."""
    path = Path(path)
    raw = read_toml(path, StudyError, "study")
    return parse_study(raw, source=str(path))


def _horizon_problems(spec: StudySpec, params: Any) -> list[Problem]:
    """Scripted campus events (job start and stop, trip) that fall outside the horizon: refused, not
    silently never happening (``params``: the campus model, or the ``[campus]`` section)."""
    if params is None:
        return []
    horizon_s = spec.study.horizon_s
    out = []
    for name in ("job_start_s", "job_stop_s", "trip_at_s"):
        t = getattr(params, name, None)
        if t is not None and t >= horizon_s:
            out.append(Problem(f"campus.{name}", f"lies outside the horizon of {horizon_s:g} s (the event would "
                                                 "never happen)", t))
    return out


@dataclass
class ResolvedStudy:
    """A study file turned into model objects.

    Attributes
    ----------
    spec : StudySpec
        The validated file.
    site_spec : grid.spec.SiteSpec
        The site description.
    index : FixedHorizon
        The study's time axis (its labels made where a stage needs them:
        :func:`~gridstudy.models.timeindex.as_index`).
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
    index: FixedHorizon
    campus_params: Any
    trace: pd.DataFrame | None
    plant: Any
    strategy: Any


def site_file(site: str, base_dir: str | Path) -> Path | Problem:
    """The site file a study names (``study.site``): a reference site's file, or a ``.toml`` file
    relative to the study's folder (``base_dir``); a :class:`Problem` for anything else. The one
    place a study's site reference is resolved."""

    if site in reference_sites():
        return reference_site_path(site)
    p = Path(site)
    p = p if p.is_absolute() else Path(base_dir) / p
    if p.suffix != ".toml":
        return Problem("study.site", f"not a reference site ({', '.join(reference_sites())}) nor a .toml site file", site)
    return p


def resolve_study(spec: StudySpec, base_dir: str | Path = ".", source: str | None = None,
                  site_spec: Any = None) -> ResolvedStudy:
    """Resolve site, campus model or trace, plant and strategy; every problem listed at once.

    ``site_spec``: the site, already read (:attr:`gridstudy.studies.spec.scale.StudyFile.site_spec`);
    ``None`` reads the file ``study.site`` names.

    Raises
    ------
    StudyError
        With every problem of the site reference, the model parameters and the trace.
    """

    base_dir = Path(base_dir)
    problems: list[Problem] = []
    st = spec.study
    if site_spec is None:
        try:
            where = site_file(st.site, base_dir)
            if isinstance(where, Problem):
                problems.append(where)
            else:
                site_spec = load_site_spec(where)
        except InputError as exc:
            problems += [Problem(f"study.site: {q.path}", q.message, q.value, q.has_value) for q in exc.problems]

    index = make_horizon(st.start, st.horizon_s, st.step_s)  # labels made where a stage needs them
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
                n = campus_peak_mw / nominal_peak_p_mw(one)
                if not n < MAX_GPUS + 0.5:  # the bound of every campus model (gridstudy.grid.bounds)
                    raise StudyError([Problem("campus.gpus", f"not given: the site's campus peak of {campus_peak_mw:.6g} MW "
                                                             f"needs {n:.3g} GPUs of this model, more than the "
                                                             f"{MAX_GPUS:,} a campus model may have", None,
                                              has_value=False)])
                params = campus_for_peak(campus_peak_mw, **kw)
        except InputError as exc:
            problems += exc.problems
    else:
        tr = cs.trace
        tpath = Path(tr.path)
        tpath = tpath if tpath.is_absolute() else base_dir / tpath
        try:
            raw = load_trace(tpath, time_column=tr.time_column, p_column=tr.p_column, q_column=tr.q_column,
                             units=tr.units, fill=tr.fill, allow_negative=tr.allow_negative)
            trace = resample_trace(raw, as_index(index))
            if tr.scale is not None:
                trace = scale_trace(trace, factor=tr.scale)
            elif tr.peak_mw is not None or campus_peak_mw is not None:
                # scale on the raw trace's peak so that the study step does not change the factor
                factor = cast(float, tr.peak_mw or campus_peak_mw) / float(raw["campus_p_mw"].max())  # one is given
                trace = scale_trace(trace, factor=factor)
            if "campus_q_mvar" not in trace:
                trace["campus_q_mvar"] = trace["campus_p_mw"] * math.tan(math.acos(tr.pf))
            peak = float(trace["campus_p_mw"].max())
            if not peak <= MAX_CAMPUS_MW:  # the bound of every campus (gridstudy.grid.bounds)
                problems.append(Problem("campus.trace.scale" if tr.scale is not None else "campus.trace",
                                        f"the trace's peak as scaled, {peak:.6g} MW, is more than the "
                                        f"{MAX_CAMPUS_MW:,.0f} MW a campus may draw",
                                        tr.scale if tr.scale is not None else tr.path))
                trace = None
        except InputError as exc:
            problems += exc.problems

    problems += _horizon_problems(spec, params)
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
        plant, strategy, more = make_battery(bs, units, model, soc0, cap_default_mw=campus_peak_mw,
                                             poi_vn_kv=site_spec.poi_vn_kv if site_spec is not None else None)
        problems += more
    if problems:
        raise StudyError(problems, source=source)
    return ResolvedStudy(spec, site_spec, index, params, trace, plant, strategy)
