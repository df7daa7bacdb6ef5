"""Study-file sections of the two mitigations: ``[battery.response]`` (a plant that answers late)
and ``[campus.smoothing]`` (GPU-side smoothing), resolved into the models and validated by them."""

import pytest

from gridstudy.models.gpu_smoothing import GpuSmoothing
from gridstudy.models.plant_response import PlantResponse
from gridstudy.studies.errors import StudyError
from gridstudy.studies.spec.sections import parse_study, resolve_study


def _raw(campus=None, battery=None):
    return {"study": {"name": "t", "site": "memphis-161kv", "duration_s": 60, "step_s": 1.0},
            "campus": campus or {}, "battery": {"strategy": "smoothing", **(battery or {})}}


def test_absent_sections_give_the_megapack_response_and_no_smoothing():
    """Without [battery.response] the plant answers late, with the Megapack defaults
    (docs/sources/megapack.md §7); without [campus.smoothing] the campus is not smoothed."""
    r = resolve_study(parse_study(_raw()))
    assert r.strategy.response == PlantResponse()
    assert not r.strategy.response.is_instantaneous
    assert r.campus_params.smoothing is None


def test_sections_build_the_models_with_their_defaults():
    r = resolve_study(parse_study(_raw(campus={"gpu_model": "gb300", "smoothing": {"floor_percent": 70.0}},
                                       battery={"response": {"comms_latency_s": 0.1}})))
    assert r.strategy.response == PlantResponse(comms_latency_s=0.1)
    assert r.campus_params.smoothing == GpuSmoothing(floor_percent=70.0)


def test_bad_latencies_and_smoothing_are_listed_with_their_paths():
    raw = _raw(campus={"gpu_model": "gb300", "smoothing": {"floor_percent": 120.0, "ramp_down_w_per_s": -5.0}},
               battery={"response": {"comms_latency_s": -0.1, "inverter_tau_s": float("nan")}})
    with pytest.raises(StudyError) as exc:
        parse_study(raw)
    paths = {p.path: p.value for p in exc.value.problems}
    assert paths["campus.smoothing.floor_percent"] == 120.0
    assert paths["campus.smoothing.ramp_down_w_per_s"] == -5.0
    assert paths["battery.response.comms_latency_s"] == -0.1
    assert "battery.response.inverter_tau_s" in paths
