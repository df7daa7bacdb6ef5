"""Site description: the validated schema of a site TOML file.

A site names its buses and connects them with lines and transformers; the utility source sits on
one bus, the point of interconnection (POI) on another; the data-center campus (one or more halls)
and the battery plant attach to named buses. Every problem of a file is reported at once, each
with its field path and value (:class:`gridstudy.grid.errors.SiteError`).

Sign conventions are pandapower's: loads consume positive ``p_mw``/``q_mvar``; a shunt with
positive ``q_mvar`` absorbs reactive power (reactor) and a negative one injects it (capacitor).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from gridstudy.grid.bounds import (
    F_HZ_RANGE,
    MAX_BATTERY_UNITS,
    MAX_CAMPUS_MW,
    MAX_ELEMENT_MVA,
    MAX_KV,
    MAX_LINE_KM,
    MAX_NF_PER_KM,
    MAX_OHM_PER_KM,
    MAX_PARALLEL,
)
from gridstudy.grid.errors import INPUT_MODEL_CONFIG, Problem, SiteError, problems_from_pydantic, read_toml
from gridstudy.grid.megapack import MEGAPACK_MODELS, megapack
from gridstudy.grid.network_spec import NetworkSpec

__all__ = [
    "SourceSpec", "BusSpec", "LineSpec", "TransformerSpec", "LoadSpec", "ShuntSpec", "HallSpec",
    "CampusSpec", "BatteryTransformerSpec", "BatterySpec", "NetworkSpec", "GridEquivalentSpec", "SiteDynamicsSpec",
    "SiteSpec", "load_site_spec", "site_spec_from_raw", "parse_site_spec",
]


class _Model(BaseModel):
    model_config = INPUT_MODEL_CONFIG  # unknown keys, inf and NaN refused


class SourceSpec(_Model):
    """The utility source: a Thevenin equivalent behind the source bus.

    The power flow sees the source impedance of the *minimum* fault level (the weak, conservative
    case for voltage); short-circuit calculations use both ``s_sc_max_mva`` and ``s_sc_min_mva``.
    """

    bus: str
    vm_pu: float = Field(1.0, gt=0.8, lt=1.2, description="voltage set point behind the source impedance [pu]")
    s_sc_max_mva: float = Field(gt=0, description="maximum fault level at the source bus [MVA]")
    s_sc_min_mva: float = Field(gt=0, description="minimum fault level at the source bus [MVA]")
    rx_max: float = Field(0.1, ge=0, description="R/X of the source impedance, max case [-]")
    rx_min: float = Field(0.1, ge=0, description="R/X of the source impedance, min case [-]")

    @model_validator(mode="after")
    def _min_below_max(self) -> Self:
        if self.s_sc_min_mva > self.s_sc_max_mva:
            raise ValueError(
                f"s_sc_min_mva ({self.s_sc_min_mva}) must not exceed s_sc_max_mva ({self.s_sc_max_mva})"
            )
        return self

    @property
    def x_over_r(self) -> float:
        """X/R of the min-case source impedance. [-]"""
        return math.inf if self.rx_min == 0 else 1.0 / self.rx_min


class BusSpec(_Model):
    """A bus of the site: its name, nominal voltage [kV] and optional zone."""

    name: str = Field(min_length=1)
    vn_kv: float = Field(gt=0, le=MAX_KV, description="nominal voltage [kV]")
    zone: str | None = None


class LineSpec(_Model):
    """A line (or cable) section: a pandapower standard type or per-km parameters.

    ``circuits`` > 1 creates that many separate, identical pandapower lines so that each circuit
    can be taken out on its own in N-1.
    """

    name: str = Field(min_length=1)
    from_bus: str
    to_bus: str
    length_km: float = Field(gt=0, le=MAX_LINE_KM, description="[km]")
    circuits: int = Field(1, ge=1, le=MAX_PARALLEL, description="identical parallel circuits, each its own element [-]")
    std_type: str | None = None
    r_ohm_per_km: float | None = Field(None, ge=0, le=MAX_OHM_PER_KM)
    x_ohm_per_km: float | None = Field(None, gt=0, le=MAX_OHM_PER_KM)
    c_nf_per_km: float | None = Field(None, ge=0, le=MAX_NF_PER_KM)
    max_i_ka: float | None = Field(None, gt=0, description="normal (continuous) rating [kA]")
    emergency_factor: float = Field(1.0, ge=1.0, description="emergency / normal rating [-]")

    @model_validator(mode="after")
    def _type_or_parameters(self) -> Self:
        params = (self.r_ohm_per_km, self.x_ohm_per_km, self.c_nf_per_km, self.max_i_ka)
        if self.std_type is None and any(p is None for p in params):
            raise ValueError(
                "give std_type or all of r_ohm_per_km, x_ohm_per_km, c_nf_per_km, max_i_ka"
            )
        if self.std_type is not None and any(p is not None for p in params):
            raise ValueError("give std_type or per-km parameters, not both")
        return self


class TransformerSpec(_Model):
    """A two-winding substation transformer, optionally with an on-load tap changer (OLTC).

    ``parallel`` > 1 creates that many identical units, each its own element (N-1 takes one out).
    Tap convention is pandapower's: ``tap_pos`` above ``tap_neutral`` raises the ratio on
    ``tap_side``. With the tap on the HV side, a lower position raises the LV voltage.
    """

    name: str = Field(min_length=1)
    hv_bus: str
    lv_bus: str
    sn_mva: float = Field(gt=0, le=MAX_ELEMENT_MVA, description="[MVA]")
    vn_hv_kv: float = Field(gt=0, le=MAX_KV, description="[kV]")
    vn_lv_kv: float = Field(gt=0, le=MAX_KV, description="[kV]")
    vk_percent: float = Field(gt=0, lt=50, description="short-circuit voltage [%]")
    vkr_percent: float = Field(ge=0, lt=50, description="resistive part of vk [%]")
    pfe_kw: float = Field(0.0, ge=0, description="iron losses, at most the rating [kW]")
    i0_percent: float = Field(0.0, ge=0, le=100, description="no-load current, at most the rated current [%]")
    parallel: int = Field(1, ge=1, le=MAX_PARALLEL, description="identical units, each its own element [-]")
    emergency_factor: float = Field(1.0, ge=1.0, description="emergency / normal rating [-]")
    oltc: bool = Field(False, description="has an on-load tap changer that regulates")
    tap_side: Literal["hv", "lv"] = "hv"
    tap_min: int = -16
    tap_max: int = 16
    tap_neutral: int = 0
    tap_pos: int = 0
    tap_step_percent: float = Field(0.625, gt=0, le=10, description="[%] (IEEE C57.12.10 practice; at most 10 %)")
    vm_set_pu: float = Field(1.0, gt=0.8, lt=1.2, description="OLTC voltage set point at lv_bus [pu]")
    deadband_pu: float = Field(0.01, gt=0, description="OLTC half bandwidth [pu]")
    delay_s: float = Field(30.0, ge=0, description="OLTC time delay before a tap move [s]")

    @model_validator(mode="after")
    def _taps(self) -> Self:
        if self.vn_lv_kv >= self.vn_hv_kv:
            raise ValueError(f"vn_lv_kv ({self.vn_lv_kv}) must be below vn_hv_kv ({self.vn_hv_kv})")
        if self.pfe_kw > self.sn_mva * 1e3:  # losses above the rating: a unit slip (W for kW)
            raise ValueError(f"pfe_kw ({self.pfe_kw}) must not exceed the rating sn_mva ({self.sn_mva} MVA = "
                             f"{self.sn_mva * 1e3:g} kW)")
        if self.vkr_percent >= self.vk_percent:
            raise ValueError(f"vkr_percent ({self.vkr_percent}) must be below vk_percent ({self.vk_percent})")
        if not (self.tap_min <= self.tap_neutral <= self.tap_max):
            raise ValueError(f"tap_neutral ({self.tap_neutral}) must lie in [tap_min, tap_max] = [{self.tap_min}, {self.tap_max}]")
        reach = max(self.tap_max - self.tap_neutral, self.tap_neutral - self.tap_min) * self.tap_step_percent
        if reach >= 50:  # practice: 16 x 0.625 % = 10 %; at 100 % the ratio reaches zero
            raise ValueError(f"tap_step_percent ({self.tap_step_percent}) times the taps from tap_neutral to tap_min "
                             f"or tap_max [{self.tap_min}, {self.tap_max}] changes the ratio by {reach:g} %, "
                             "more than the 50 % a tap changer may")
        if not (self.tap_min <= self.tap_pos <= self.tap_max):
            raise ValueError(f"tap_pos ({self.tap_pos}) must lie in [tap_min, tap_max] = [{self.tap_min}, {self.tap_max}]")
        return self


class LoadSpec(_Model):
    """Another customer's load on a feeder (constant power)."""

    name: str = Field(min_length=1)
    bus: str
    p_mw: float = Field(ge=0, le=MAX_ELEMENT_MVA, description="[MW]")
    pf: float = Field(0.95, gt=0, le=1, description="lagging power factor [-]")

    @property
    def q_mvar(self) -> float:
        """Reactive power at ``pf`` (lagging, consumed). [Mvar]"""
        return self.p_mw * math.tan(math.acos(self.pf))


class ShuntSpec(_Model):
    """A fixed shunt: negative ``q_mvar`` is a capacitor, positive a reactor (pandapower sign)."""

    name: str = Field(min_length=1)
    bus: str
    q_mvar: float = Field(ge=-MAX_ELEMENT_MVA, le=MAX_ELEMENT_MVA, description="reactive power at 1 pu, consumption positive [Mvar]")


class HallSpec(_Model):
    """One data hall of the campus: its peak grid draw and power factor."""

    name: str = Field(min_length=1)
    bus: str
    p_mw: float = Field(gt=0, le=MAX_CAMPUS_MW, description="peak grid draw of the hall [MW]")
    pf: float = Field(0.98, gt=0, le=1, description="lagging power factor [-]")

    @property
    def q_mvar(self) -> float:
        """Reactive power of the hall's peak at ``pf`` (lagging, consumed). [Mvar]"""
        return self.p_mw * math.tan(math.acos(self.pf))


class CampusSpec(_Model):
    """The AI training campus: its data halls (their peak draws add up to the campus peak)."""

    name: str = "AI training campus"
    halls: list[HallSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.p_mw > MAX_CAMPUS_MW:
            raise ValueError(f"the halls draw {self.p_mw:.6g} MW together, more than the {MAX_CAMPUS_MW:,.0f} MW "
                             "a campus may draw (gridstudy.grid.bounds)")
        return self

    @property
    def p_mw(self) -> float:
        """Peak grid draw of all halls. [MW]"""
        return sum(h.p_mw for h in self.halls)


class BatteryTransformerSpec(_Model):
    """The battery plant's own step-up transformer (plant bus -> ``battery.bus``)."""

    vn_lv_kv: float = Field(gt=0, le=MAX_KV, description="plant collector voltage [kV]")
    sn_mva: float | None = Field(None, gt=0, le=MAX_ELEMENT_MVA, description="default: the plant's inverter MVA [MVA]")
    vk_percent: float = Field(8.0, gt=0, lt=50)
    vkr_percent: float = Field(0.5, ge=0, lt=50)


class BatterySpec(_Model):
    """A battery plant of ``units`` Megapacks of one model (see :mod:`gridstudy.grid.megapack`)."""

    name: str = "Megapack plant"
    model: str
    units: int = Field(gt=0, le=MAX_BATTERY_UNITS, description="number of Megapack units [-]")
    bus: str
    soc_percent: float = Field(50.0, ge=0, le=100, description="initial state of charge [%]")
    transformer: BatteryTransformerSpec | None = None

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        if v not in MEGAPACK_MODELS:
            raise ValueError(f"unknown Megapack model; known: {', '.join(MEGAPACK_MODELS)}")
        return v

    @property
    def p_mw(self) -> float:
        """Rated active power of the plant. [MW]"""
        return self.units * megapack(self.model).p_mw

    @property
    def e_mwh(self) -> float:
        """Usable energy of the plant. [MWh]"""
        return self.units * megapack(self.model).e_mwh

    @property
    def s_mva(self) -> float:
        """Apparent power rating of the plant's inverters. [MVA]"""
        return self.units * megapack(self.model).inverter_mva


class GridEquivalentSpec(_Model):
    """``[dynamics.grid]``: the dynamic model of the utility grid equivalent (the slack machine).

    The source impedance of the site (``[source]``) stays a branch of the network; this machine sits
    behind it and stands for the interconnection: its rating ``mva_base`` is the online generation
    and ``h_s`` its inertia constant on that base, so that a load change moves its speed as it moves
    the interconnection's frequency. Defaults: ``docs/sources/network.md §6`` (the Eastern
    Interconnection of the study's frequency screen, ``docs/sources/criteria.md §10``; the
    machine's reactances and time constants are typical round-rotor values, Kundur (1994)
    Example 12.6, assumed; exciter and governor assumed). Per unit on ``mva_base``.
    """

    model: Literal["GENCLS", "GENROU"] = Field("GENROU", description="classical machine, or round rotor with "
                                                                    "exciter (SEXS) and governor (TGOV1)")
    mva_base: float = Field(300_000.0, gt=0, le=10_000_000.0, description="machine base: online generation [MVA]")
    h_s: float = Field(4.0, gt=0, le=1000.0, description="inertia constant on mva_base [s]")
    d_pu: float = Field(0.0, ge=0, le=100.0, description="damping (GENCLS, GENROU) [pu]")
    ra_pu: float = Field(0.0, ge=0, lt=0.1, description="armature resistance [pu]")
    xd1_pu: float = Field(0.3, gt=0, lt=5.0, description="transient reactance X'd [pu]")
    # GENROU
    xd_pu: float = Field(1.8, gt=0, lt=5.0, description="synchronous reactance Xd [pu]")
    xq_pu: float = Field(1.7, gt=0, lt=5.0, description="synchronous reactance Xq [pu]")
    xq1_pu: float = Field(0.55, gt=0, lt=5.0, description="transient reactance X'q [pu]")
    xd2_pu: float = Field(0.25, gt=0, lt=5.0, description="subtransient reactance X''d = X''q [pu]")
    xl_pu: float = Field(0.2, gt=0, lt=5.0, description="leakage reactance [pu]")
    td10_s: float = Field(8.0, gt=0, le=100.0, description="T'd0 [s]")
    tq10_s: float = Field(0.4, gt=0, le=100.0, description="T'q0 [s]")
    td20_s: float = Field(0.03, gt=0, le=10.0, description="T''d0 [s]")
    tq20_s: float = Field(0.05, gt=0, le=10.0, description="T''q0 [s]")
    s10: float = Field(0.0, ge=0, le=1.0, description="saturation at 1.0 pu [-]")
    s12: float = Field(0.0, ge=0, le=2.0, description="saturation at 1.2 pu [-]")
    # TGOV1 governor
    gov_r_pu: float = Field(0.0833, gt=0, le=1.0, description="droop, on mva_base [pu]")
    gov_t1_s: float = Field(0.5, gt=0, le=100.0, description="governor time constant [s]")
    gov_t2_s: float = Field(2.4, ge=0, le=100.0, description="turbine lead time constant [s]")
    gov_t3_s: float = Field(8.0, gt=0, le=100.0, description="turbine lag (reheat) time constant [s]")
    gov_vmax_pu: float = Field(1.0, gt=0, le=2.0, description="valve maximum [pu]")
    gov_vmin_pu: float = Field(0.0, ge=0, le=2.0, description="valve minimum [pu]")
    gov_dt_pu: float = Field(0.0, ge=0, le=100.0, description="turbine damping [pu]")
    # SEXS exciter
    exc_ta_tb: float = Field(0.1, gt=0, le=1.0, description="TA/TB [-]")
    exc_tb_s: float = Field(10.0, gt=0, le=100.0, description="TB [s]")
    exc_k: float = Field(100.0, gt=0, le=10_000.0, description="gain [pu]")
    exc_te_s: float = Field(0.05, gt=0, le=10.0, description="TE [s]")
    exc_emin_pu: float = Field(0.0, ge=-10.0, le=10.0, description="field voltage minimum [pu]")
    exc_emax_pu: float = Field(5.0, ge=-10.0, le=10.0, description="field voltage maximum [pu]")

    @model_validator(mode="after")
    def _valid_ranges(self) -> Self:
        problems = []
        if self.model == "GENROU":  # the round-rotor model's own ordering (PSS/E GENROU)
            if not self.xd_pu > self.xd1_pu > self.xd2_pu > self.xl_pu:
                problems.append(f"GENROU needs xd_pu > xd1_pu > xd2_pu > xl_pu, got {self.xd_pu:g} > "
                                f"{self.xd1_pu:g} > {self.xd2_pu:g} > {self.xl_pu:g}")
            if not self.xq_pu > self.xq1_pu > self.xd2_pu:
                problems.append(f"GENROU needs xq_pu > xq1_pu > xd2_pu, got {self.xq_pu:g} > {self.xq1_pu:g} > "
                                f"{self.xd2_pu:g}")
            if not (self.td10_s > self.td20_s and self.tq10_s > self.tq20_s):
                problems.append("GENROU needs td10_s > td20_s and tq10_s > tq20_s")
            if self.s12 < self.s10:
                problems.append(f"s12 ({self.s12:g}) must not be below s10 ({self.s10:g})")
            if self.gov_vmax_pu <= self.gov_vmin_pu:
                problems.append(f"gov_vmax_pu ({self.gov_vmax_pu:g}) must exceed gov_vmin_pu ({self.gov_vmin_pu:g})")
            if self.exc_emax_pu <= self.exc_emin_pu:
                problems.append(f"exc_emax_pu ({self.exc_emax_pu:g}) must exceed exc_emin_pu ({self.exc_emin_pu:g})")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class SiteDynamicsSpec(_Model):
    """``[dynamics]`` of a site file: the dynamic models of its elements (the RMS check and the PSS/E
    DYR export). Absent: the defaults of each."""

    grid: GridEquivalentSpec = Field(default_factory=GridEquivalentSpec)


class SiteSpec(_Model):
    """A whole site: source, network, POI, campus and (optionally) battery plant."""

    name: str = Field(min_length=1)
    description: str = ""
    strength: Literal["weak", "strong", "moderate"] | None = Field(
        None, description="documented grid strength; checked against the computed SCR in tests"
    )
    f_hz: float = Field(60.0, ge=F_HZ_RANGE[0], le=F_HZ_RANGE[1], description="nominal frequency [Hz]")
    source: SourceSpec | None = Field(
        None, description="Thevenin source; required without a network, replaces its ext_grids with one"
    )
    network: NetworkSpec | None = None
    poi: str | int = Field(description="point-of-interconnection bus: a name, or a network bus index")
    buses: list[BusSpec] = Field(default_factory=list)
    lines: list[LineSpec] = Field(default_factory=list)
    transformers: list[TransformerSpec] = Field(default_factory=list)
    loads: list[LoadSpec] = Field(default_factory=list)
    shunts: list[ShuntSpec] = Field(default_factory=list)
    campus: CampusSpec
    battery: BatterySpec | None = None
    dynamics: SiteDynamicsSpec = Field(default_factory=SiteDynamicsSpec)

    @property
    def poi_vn_kv(self) -> float | None:
        """Nominal voltage of the POI where the site file lists its bus; ``None`` for a bus of an
        imported network (known only once the network is read). [kV]"""
        if isinstance(self.poi, str):
            for b in self.buses:
                if b.name == self.poi:
                    return float(b.vn_kv)
        return None

    @model_validator(mode="after")
    def _source_or_network(self) -> SiteSpec:
        if self.network is None:
            if self.source is None:
                raise ValueError("give a [source] (Thevenin equivalent) or a [network]")
            if not self.buses:
                raise ValueError("buses: at least one bus is needed without a [network]")
            if not isinstance(self.poi, str):
                raise ValueError("poi: a bus name is needed without a [network]")
        return self


def _reference_problems(raw: dict[str, Any]) -> list[Problem]:
    """Cross-field checks on the raw mapping, tolerant of bad types (run beside pydantic)."""
    problems: list[Problem] = []
    buses = raw.get("buses")
    names: set[str] = set()
    if isinstance(buses, list):
        for i, b in enumerate(buses):
            if isinstance(b, dict) and isinstance(b.get("name"), str):
                if b["name"] in names:
                    problems.append(Problem(f"buses[{i}].name", "duplicate bus name", b["name"]))
                names.add(b["name"])

    # with a network, a name may be one of the network's buses: checked when the site is built
    with_network = isinstance(raw.get("network"), dict)

    def check(path: str, value: Any) -> None:
        if not with_network and isinstance(value, str) and value not in names:
            problems.append(Problem(path, "no bus of that name in buses", value))

    src = raw.get("source")
    if isinstance(src, dict):
        check("source.bus", src.get("bus"))
    check("poi", raw.get("poi"))
    for table, fields in (
        ("lines", ("from_bus", "to_bus")),
        ("transformers", ("hv_bus", "lv_bus")),
        ("loads", ("bus",)),
        ("shunts", ("bus",)),
    ):
        rows = raw.get(table)
        if isinstance(rows, list):
            for i, row in enumerate(rows):
                if isinstance(row, dict):
                    for f in fields:
                        check(f"{table}[{i}].{f}", row.get(f))
    campus = raw.get("campus")
    if isinstance(campus, dict) and isinstance(campus.get("halls"), list):
        for i, h in enumerate(campus["halls"]):
            if isinstance(h, dict):
                check(f"campus.halls[{i}].bus", h.get("bus"))
    bat = raw.get("battery")
    if isinstance(bat, dict):
        check("battery.bus", bat.get("bus"))
    return problems


def parse_site_spec(raw: dict[str, Any], source: str | None = None) -> SiteSpec:
    """Validate a mapping (parsed TOML) into a :class:`SiteSpec`, listing every problem at once."""
    problems = _reference_problems(raw)
    spec = None
    try:
        spec = SiteSpec.model_validate(raw)
    except ValidationError as exc:
        problems = problems_from_pydantic(exc) + problems
    if problems:
        raise SiteError(problems, source=source)
    assert spec is not None
    return spec


def load_site_spec(path: str | Path) -> SiteSpec:
    """Read and validate a site TOML file."""
    path = Path(path)
    return site_spec_from_raw(read_toml(path, SiteError, "site"), path)


def site_spec_from_raw(raw: dict[str, Any], path: str | Path) -> SiteSpec:
    """Validate the parsed TOML of the site file at ``path``: files it names are relative to it."""
    path = Path(path)
    spec = parse_site_spec(raw, source=str(path))
    ns = spec.network
    if ns is not None:  # files named by the site file are relative to it
        update: dict[str, str] = {}
        if ns.path is not None and not Path(ns.path).is_absolute():
            update["path"] = str(path.parent / ns.path)
        if ns.profiles not in (None, "simbench") and not Path(str(ns.profiles)).is_absolute():
            update["profiles"] = str(path.parent / str(ns.profiles))
        if update:
            spec = spec.model_copy(update={"network": ns.model_copy(update=update)})
    return spec
