"""Criteria: pure functions that turn time series of study results into findings.

Each criterion takes pandas objects on a fixed-step ``DatetimeIndex`` (uneven steps are rejected
with :class:`CriteriaError`, a ``ValueError``) and returns a :class:`Finding`: its verdict, its
evidence (worst value, when, how long, how often) and the limits used, each with its source.
Presets bundle the limits (:func:`get_preset`).
"""

from gridstudy.studies.criteria._base import CriteriaError, Finding, Limit, step_seconds
from gridstudy.studies.criteria.flicker import (
    FLICKER_HV,
    FLICKER_MV,
    FlickerLevels,
    flicker_finding,
    plt,
    pst,
    voltage_changes,
)
from gridstudy.studies.criteria.flickermeter import (
    LAMPS,
    FlickermeterResult,
    LampWeighting,
    flickermeter,
    flickermeter_finding,
    plt_from_pst,
    pst_from_p_inst,
)
from gridstudy.studies.criteria.power_factor import (
    PF_CAISO,
    PF_LGIA,
    PowerFactorBand,
    power_factor,
    power_factor_finding,
)
from gridstudy.studies.criteria.presets import PRESETS, CriteriaPreset, custom_preset, get_preset
from gridstudy.studies.criteria.ramp import (
    RAMP_PRESETS,
    RampLimit,
    delta_mw,
    max_p2p_mw,
    max_ramp_mw_per_min,
    nprr1191_limits,
    ramp_finding,
    ramp_findings,
    ramp_limits,
    rolling_range_mw,
)
from gridstudy.studies.criteria.ride_through import (
    NOGRR282,
    RideThroughEnvelope,
    ride_through_finding,
    ride_through_trips,
)
from gridstudy.studies.criteria.rvc import RVC_HV, RVC_MV, RVCLimits, max_rolling_count, rvc_events, rvc_finding
from gridstudy.studies.criteria.thermal import THERMAL_DEFAULT, ThermalLimits, thermal_finding
from gridstudy.studies.criteria.voltage import (
    ANSI_MV_SERVICE_RANGE_A,
    ANSI_MV_SERVICE_RANGE_B,
    ANSI_RANGE_A,
    ANSI_RANGE_B,
    PLANNING_N0,
    PLANNING_N1,
    VoltageBand,
    band_excursions,
    voltage_band_finding,
    voltage_class,
)

__all__ = [
    "CriteriaError", "Finding", "Limit", "step_seconds",
    "VoltageBand", "ANSI_RANGE_A", "ANSI_RANGE_B", "ANSI_MV_SERVICE_RANGE_A",
    "ANSI_MV_SERVICE_RANGE_B", "PLANNING_N0",
    "PLANNING_N1", "voltage_class", "band_excursions", "voltage_band_finding",
    "RVCLimits", "RVC_MV", "RVC_HV", "rvc_events", "rvc_finding", "max_rolling_count",
    "FlickerLevels", "FLICKER_MV", "FLICKER_HV", "voltage_changes", "pst", "plt",
    "flicker_finding",
    "LampWeighting", "LAMPS", "FlickermeterResult", "flickermeter", "flickermeter_finding",
    "pst_from_p_inst", "plt_from_pst",
    "ThermalLimits", "THERMAL_DEFAULT", "thermal_finding",
    "PowerFactorBand", "PF_LGIA", "PF_CAISO", "power_factor", "power_factor_finding",
    "RampLimit", "RAMP_PRESETS", "ramp_limits", "nprr1191_limits", "delta_mw",
    "rolling_range_mw", "max_ramp_mw_per_min", "max_p2p_mw", "ramp_finding", "ramp_findings",
    "RideThroughEnvelope", "NOGRR282", "ride_through_trips", "ride_through_finding",
    "CriteriaPreset", "PRESETS", "get_preset", "custom_preset",
]
