"""What changes over time: the AI training campus load, the Megapack plant and its dispatch.

Pure time-series models: pandas in, pandas out, on one fixed-step ``DatetimeIndex`` (10 ms .. 1 h),
no power flow. Signs are pandapower's consumer view: load and battery charging positive.
"""

if __name__ != "gridstudy.models":  # a checkout's ``models/`` folder imported under its bare name
    raise ImportError(f"this is the package gridstudy.models; import it as gridstudy.models, not {__name__}")


from gridstudy.models.battery import MegapackPlant, energy_balance
from gridstudy.models.campus import (
    GPU_MODELS,
    CampusLoadParams,
    campus_load,
    expected_mean_p_mw,
    gpus_for_peak,
    nominal_peak_p_mw,
)
from gridstudy.models.dispatch import (
    STRATEGIES,
    ImportCap,
    LoadLossAbsorption,
    NoDispatch,
    RampLimit,
    ReactiveControl,
    Smoothing,
    SocRecovery,
    StepResult,
    Strategy,
    VoltVarCurve,
    dispatch,
    make_strategy,
    max_ramp_mw,
    summarize,
)
from gridstudy.models.errors import ModelError
from gridstudy.models.plant_response import PlantResponse
from gridstudy.models.timeindex import make_index, step_seconds
from gridstudy.models.traces import load_trace, resample_trace, scale_trace, validate_trace

__all__ = [
    "MegapackPlant", "energy_balance", "GPU_MODELS", "CampusLoadParams", "campus_load", "expected_mean_p_mw",
    "gpus_for_peak", "nominal_peak_p_mw", "STRATEGIES", "ImportCap", "LoadLossAbsorption", "NoDispatch",
    "RampLimit", "ReactiveControl", "Smoothing", "SocRecovery", "StepResult", "Strategy", "VoltVarCurve",
    "dispatch", "make_strategy", "max_ramp_mw", "summarize", "ModelError", "PlantResponse", "make_index", "step_seconds",
    "load_trace", "resample_trace", "scale_trace", "validate_trace",
]
