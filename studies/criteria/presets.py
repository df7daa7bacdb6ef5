"""Bundles of limits, each with its source: ``generic-utility``, ``ercot``, ``ieso``,
``southern``, and custom ones derived from them.

==================  ==========================================================================
preset              contents
==================  ==========================================================================
generic-utility     NERC TPL-001 practice bands at HV (0.95-1.05 N-0, 0.90-1.10 N-1), ANSI
                    C84.1 medium-voltage service Range A / Range B at MV (0.975-1.05 N-0,
                    0.95-1.058 N-1), low-voltage service Range A / B at LV; IEEE 1453 / IEC 61000-3-7 RVC and flicker
                    levels; 100 % normal / emergency rating; LGIA 0.95 pf band; 20 MW/min
                    (the common IESO / Southern / CAISO rate) and ERCOT's 10 MW in 5 s; NOGRR282
                    ride-through as the reference envelope; the Virginia-2024 disturbance
                    counter; Eastern Interconnection frequency response (59.5 / 60.5 Hz)
ercot               as generic, ramps ``ercot-proposed``, ride-through ERCOT NOGRR282, ERCOT
                    frequency response (UFLS 59.3 Hz, 60.6 Hz)
ieso                as generic, ramps ``ieso``
southern            as generic, ramps ``southern``
==================  ==========================================================================

Values marked *(check)* in ``docs/sources/criteria.md`` carry ``check=True`` in their :class:`Limit` records.

Every limit carries its status (``published`` with a dated document, ``proposed``, ``assumed``) and,
for a regional rule, its region; a preset judged for a study in another region (``region``) shows
such rules as ``reference (other region)``, not as binding verdicts. Every grid-side limit names
its meter (:attr:`CriteriaPreset.meters`, ``docs/sources/criteria.md §11``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from gridstudy.grid.errors import Problem
from gridstudy.models.protection import VIRGINIA_2024, DisturbanceCounter
from gridstudy.studies.criteria._base import CriteriaError, Limit
from gridstudy.studies.criteria.flicker import FLICKER_HV, FLICKER_MV, FlickerLevels
from gridstudy.studies.criteria.flickermeter import FlickerAllocation
from gridstudy.studies.criteria.frequency import EASTERN_SFR, ERCOT_SFR, SystemFrequencyResponse
from gridstudy.studies.criteria.meter import Meter
from gridstudy.studies.criteria.power_factor import PF_LGIA, PowerFactorBand
from gridstudy.studies.criteria.ramp import RAMP_PRESETS, RampLimit
from gridstudy.studies.criteria.ride_through import NOGRR282, RideThroughEnvelope
from gridstudy.studies.criteria.rvc import RVC_HV, RVC_MV, RVCLimits
from gridstudy.studies.criteria.thermal import THERMAL_DEFAULT, ThermalLimits
from gridstudy.studies.criteria.voltage import (
    ANSI_MV_SERVICE_RANGE_A,
    ANSI_MV_SERVICE_RANGE_B,
    ANSI_RANGE_A,
    ANSI_RANGE_B,
    PLANNING_N0,
    PLANNING_N1,
    VoltageBand,
)

__all__ = ["CriteriaPreset", "PRESETS", "get_preset", "custom_preset", "OscillationLimit", "OSCILLATION_DEFAULT",
           "DEFAULT_METERS", "METER_KINDS", "EQUIPMENT_MV", "EQUIPMENT_LV"]

_GENERIC_RAMPS = (
    RampLimit("20 MW/min", 60.0, 20.0, "delta",
              source="IESO, Southern Company, CAISO (20 MW/min)", status="assumed",
              region="IESO, Southern Company, CAISO"),
    *RAMP_PRESETS["ercot-proposed"],
)

_METER_SOURCE = "docs/sources/criteria.md §11 (assumed: the cited rules do not state their meter)"

#: The meters of the grid-side criteria (``docs/sources/criteria.md §11``), by kind:
#: ``ramp_rate`` (MW per interval: the change between consecutive 1-minute averages),
#: ``peak_to_peak`` (MW within a window: on a 1-s RMS meter read every step), ``power_factor``
#: (the tariff's 15-minute demand interval: the interval's average P over its average S).
DEFAULT_METERS: Mapping[str, Meter] = MappingProxyType({
    "ramp_rate": Meter("active power", "POI meter", "block", 60.0, _METER_SOURCE),
    "peak_to_peak": Meter("active power", "POI meter", "rolling", 1.0, _METER_SOURCE),
    "power_factor": Meter("active and reactive power", "POI meter", "block", 900.0, _METER_SOURCE),
})
METER_KINDS = tuple(DEFAULT_METERS)

#: Equipment ranges of the customer's own buses (not service points): ±10 % of nominal, the
#: continuous operating range of the equipment on them (motors, NEMA MG 1; drives and UPS
#: rectifiers), docs/sources/criteria.md §1 *(assumed)*.
EQUIPMENT_MV = VoltageBand(0.90, 1.10, "equipment range (customer bus)",
                           "equipment continuous operating range +/-10 % (NEMA MG 1 practice; assumed)", check=True)
EQUIPMENT_LV = EQUIPMENT_MV


@dataclass(frozen=True)
class OscillationLimit:
    """Cap on the spectral amplitude of grid-side active power at the POI within a band.

    Parameters
    ----------
    band_hz : tuple of float
        The critical band, about 0.1-20 Hz in published utility specifications for AI campuses
        (Choukse et al., arXiv:2508.14318; ``docs/sources/criteria.md §9``). [Hz]
    cap_percent : float
        Largest single-sided spectral amplitude in the band, in % of the campus rating (e.g. 20 %
        in the cited specifications) *(check the value per utility)*. [%]
    source : str
        Where the values come from.
    check : bool
        True: to be reviewed per study.
    """

    band_hz: tuple[float, float] = (0.1, 20.0)
    cap_percent: float = 20.0
    source: str = "Choukse et al., arXiv:2508.14318 (utility specifications for AI campuses), docs/sources/criteria.md §9"
    check: bool = True
    #: Window lengths of the screen: the worst amplitude over sliding windows of each. [s]
    windows_s: tuple[float, ...] = (10.0, 30.0, 120.0, 600.0)

    #: Sensitive bands marked on the spectrum: inter-area, low-frequency local, torsional. [Hz]
    SENSITIVE_BANDS: ClassVar[tuple[tuple[str, float, float], ...]] = (
        ("inter-area (< 1 Hz)", 0.1, 1.0), ("1-2.5 Hz", 1.0, 2.5), ("torsional (7 Hz and up)", 7.0, 20.0))

    def limit(self) -> Limit:
        """The cap as a :class:`Limit` (in % of the campus rating)."""
        return Limit(f"spectral amplitude {self.band_hz[0]:g}-{self.band_hz[1]:g} Hz", self.cap_percent,
                     "% of campus rating", self.source, self.check)


OSCILLATION_DEFAULT = OscillationLimit()


@dataclass(frozen=True)
class CriteriaPreset:
    """Every limit a study judges, by voltage class and contingency case.

    Parameters
    ----------
    name : str
    voltage_bands : Mapping
        ``(voltage_class, case) -> VoltageBand`` with classes ``"LV"``, ``"MV"``, ``"HV"``
        (:func:`~gridstudy.studies.criteria.voltage.voltage_class`) and cases ``"n-0"``,
        ``"n-1"``. Default: ANSI C84.1 Table 1 service Range A (N-0) / Range B (N-1) of the class
        (LV on the 120-V base, MV service -2.5/+5 % and -5/+5.8 %), NERC TPL-001 planning
        practice at HV, where ANSI gives only a maximum (table in
        :mod:`gridstudy.studies.criteria.voltage`).
    rvc : Mapping
        ``voltage_class -> RVCLimits``.
    flicker : Mapping
        ``voltage_class -> FlickerLevels``.
    thermal : ThermalLimits
    power_factor : PowerFactorBand
    ramps : tuple of RampLimit
    ride_through : RideThroughEnvelope
    disturbance_counter : DisturbanceCounter
        The campus's protection assumed by the study: N voltage excursions within T seconds
        transfer it to backup (``docs/sources/events.md §6``).
    frequency : SystemFrequencyResponse
        One-machine frequency-response model of the interconnection and its frequency limits,
        for the largest-credible-load-loss screen (``docs/sources/criteria.md §10``).
    page_size : {'Letter', 'A4'}
        PDF page size of the report: US Letter for the North American utilities every built-in
        preset stands for (ERCOT, IESO, Southern Company, a generic US utility).
    flicker_lamp : {'120V', '230V'}
        Lamp weighting of the IEC 61000-4-15 flickermeter: the 120-V lamp of North American
        utilities (IEEE 1453) for every built-in preset (``docs/sources/criteria.md §4``).
    flicker_allocation : FlickerAllocation
        IEC 61000-3-7 emission allocation of the campus (its own Pst limit and the total with the
        background); assumptions to confirm with the utility.
    oscillation : OscillationLimit
        The screen of grid-side power oscillations at the POI (band, cap on the spectral
        amplitude as a share of the campus rating; ``docs/sources/criteria.md §9``).
    meters : Mapping
        ``kind -> Meter`` for ``ramp_rate`` (``delta`` limits), ``peak_to_peak`` (``range``
        limits) and ``power_factor`` (:data:`DEFAULT_METERS`).
    status : Mapping
        ``criterion group -> status`` replacing the status of every limit of that group (what the
        utility confirmed, e.g. ``{"poi_power_factor": "published"}``).
    region : str or None
        The region of the study's connection (``"TVA"``, ``"ERCOT"``): a limit of another region
        is shown as ``reference (other region)`` and does not decide the pass; ``None``: every
        limit binding.
    equipment_bands : Mapping
        ``(voltage_class, case) -> VoltageBand`` for the customer's buses other than the POI
        (the service point): equipment ranges at MV and LV; HV buses keep the planning bands.
    """

    name: str
    voltage_bands: Mapping[tuple[str, str], VoltageBand] = field(default_factory=lambda: {
        ("HV", "n-0"): PLANNING_N0, ("HV", "n-1"): PLANNING_N1,
        ("MV", "n-0"): ANSI_MV_SERVICE_RANGE_A, ("MV", "n-1"): ANSI_MV_SERVICE_RANGE_B,
        ("LV", "n-0"): ANSI_RANGE_A, ("LV", "n-1"): ANSI_RANGE_B})
    rvc: Mapping[str, RVCLimits] = field(default_factory=lambda: {"MV": RVC_MV, "HV": RVC_HV})
    flicker: Mapping[str, FlickerLevels] = field(
        default_factory=lambda: {"MV": FLICKER_MV, "HV": FLICKER_HV})
    thermal: ThermalLimits = THERMAL_DEFAULT
    power_factor: PowerFactorBand = PF_LGIA
    ramps: tuple[RampLimit, ...] = _GENERIC_RAMPS
    ride_through: RideThroughEnvelope = NOGRR282
    disturbance_counter: DisturbanceCounter = VIRGINIA_2024
    frequency: SystemFrequencyResponse = EASTERN_SFR
    page_size: str = "Letter"
    flicker_lamp: str = "120V"
    flicker_allocation: FlickerAllocation = field(default_factory=FlickerAllocation)
    oscillation: OscillationLimit = field(default_factory=lambda: OSCILLATION_DEFAULT)
    meters: Mapping[str, Meter] = field(default_factory=lambda: dict(DEFAULT_METERS))
    region: str | None = None
    status: Mapping[str, str] = field(default_factory=dict)
    equipment_bands: Mapping[tuple[str, str], VoltageBand] = field(default_factory=lambda: {
        ("MV", "n-0"): EQUIPMENT_MV, ("MV", "n-1"): EQUIPMENT_MV,
        ("LV", "n-0"): EQUIPMENT_LV, ("LV", "n-1"): EQUIPMENT_LV})

    def meter_for(self, limit: RampLimit) -> Meter:
        """The meter a grid-side limit is read on: ``ramp_rate`` for a change over an interval,
        ``peak_to_peak`` for a range within a window."""
        return self.meters["ramp_rate" if limit.method == "delta" else "peak_to_peak"]

    def equipment_band(self, voltage_class: str, case: str = "n-0") -> VoltageBand:
        """The band of a customer bus that is not the service point: its equipment range (MV,
        LV), or the class band (:meth:`band`) where the preset gives none (HV)."""
        return self.equipment_bands.get((voltage_class, case.lower())) or self.band(voltage_class, case)

    def binding(self, region: str | None) -> bool:
        """Whether a limit of ``region`` binds this preset's study (not regional, no study region,
        or the study's region among the limit's comma-separated regions)."""
        if region is None or self.region is None:
            return True
        return self.region.strip().lower() in [r.strip().lower() for r in region.split(",")]

    def band(self, voltage_class: str, case: str = "n-0") -> VoltageBand:
        """The steady-state band of a voltage class (``"LV"``, ``"MV"``, ``"HV"``) and case.

        Each class has its own band: a 34.5 kV bus is judged against ANSI C84.1 medium-voltage
        service Range A / B, not the low-voltage ranges of the 120-V base.
        """
        key = (voltage_class, case.lower())
        if key not in self.voltage_bands:
            raise CriteriaError([Problem("voltage_bands", "has no band for", key)])
        return self.voltage_bands[key]

    def rvc_limits(self, voltage_class: str) -> RVCLimits:
        """RVC levels of a voltage class (``"LV"`` as ``"MV"``)."""
        return self.rvc["MV" if voltage_class == "LV" else voltage_class]

    def flicker_levels(self, voltage_class: str) -> FlickerLevels:
        """Flicker planning levels of a voltage class (``"LV"`` as ``"MV"``)."""
        return self.flicker["MV" if voltage_class == "LV" else voltage_class]


PRESETS: dict[str, CriteriaPreset] = {
    "generic-utility": CriteriaPreset("generic-utility"),
    "ercot": CriteriaPreset("ercot", ramps=RAMP_PRESETS["ercot-proposed"], frequency=ERCOT_SFR, region="ERCOT"),
    "ieso": CriteriaPreset("ieso", ramps=RAMP_PRESETS["ieso"], region="IESO"),
    "southern": CriteriaPreset("southern", ramps=RAMP_PRESETS["southern"], region="Southern Company"),
}


def get_preset(name: str) -> CriteriaPreset:
    """The preset of that name.

    Raises
    ------
    CriteriaError
        Unknown name (the known ones are listed).
    """
    if name not in PRESETS:
        raise CriteriaError([Problem("criteria.preset", "unknown; known: " + ", ".join(PRESETS),
                                     name)])
    return PRESETS[name]


def custom_preset(name: str, base: str | CriteriaPreset = "generic-utility",
                  **overrides: Any) -> CriteriaPreset:
    """A preset derived from another with some parts replaced.

    Parameters
    ----------
    name : str
        Name of the new preset.
    base : str or CriteriaPreset
        Preset to start from.
    **overrides
        Fields of :class:`CriteriaPreset` to replace (``ramps=...``, ``power_factor=...``);
        ``voltage_bands``, ``rvc`` and ``flicker`` mappings are merged into the base's.

    Raises
    ------
    CriteriaError
        Unknown base or field names (all listed).
    """
    base_p = get_preset(base) if isinstance(base, str) else base
    known = {f.name for f in dataclasses.fields(CriteriaPreset)} - {"name"}
    bad = [k for k in overrides if k not in known]
    if bad:
        raise CriteriaError([Problem(f"criteria.{k}", "unknown field; known: "
                                     + ", ".join(sorted(known)), overrides[k]) for k in bad])
    for k in ("voltage_bands", "rvc", "flicker", "meters", "equipment_bands"):
        if k in overrides:
            overrides[k] = {**getattr(base_p, k), **overrides[k]}
    return dataclasses.replace(base_p, name=name, **overrides)
