"""One declaration and one validation per parameter: the study file's sections are the models' own
parameters, and a value the model refuses is reported at its file path with the model's words."""

from dataclasses import fields

import pytest

from gridstudy.models.campus import CampusLoadParams
from gridstudy.models.errors import ModelError
from gridstudy.studies.errors import StudyError
from gridstudy.studies.spec import BatterySection, CampusSection, RampLimitSection, parse_study


def test_sections_are_the_models_parameters():
    assert set(CampusSection.model_fields) - {"trace"} == {f.name for f in fields(CampusLoadParams)} - {"seed"}
    # RampLimit's keyword parameters, written out here from its signature's documentation
    assert set(RampLimitSection.model_fields) == {"ramp_mw_per_min", "window_mw", "window_s", "target_tau_s"}
    assert {"units", "model", "soc_min_percent", "soc_max_percent", "aux_mw", "priority"} <= set(BatterySection.model_fields)


def test_values_are_judged_by_the_models_at_their_file_paths():
    raw = {"study": {"name": "x", "site": "feeder-34.5kv", "duration": "1min"},
           "campus": {"swing_depth": 1.5, "bogus": 1},
           "battery": {"units": -3, "strategy": "smoothing", "smoothing": {"tau_s": -1.0},
                       "reactive": {"mode": "volt_var", "v_pu": [1.0, 0.9], "q_pu": [0.0, 0.0]}}}
    with pytest.raises(StudyError) as exc:
        parse_study(raw)
    by = {p.path: p for p in exc.value.problems}
    # the schema's problem (unknown key) and the models' problems, in one error
    assert "campus.bogus" in by
    with pytest.raises(ModelError) as model:
        CampusLoadParams(gpus=1, swing_depth=1.5)
    assert by["campus.swing_depth"].message == model.value.problems[0].message
    assert by["battery.units"].value == -3
    assert by["battery.smoothing.tau_s"].value == -1.0
    assert "battery.reactive.v_pu" in by
