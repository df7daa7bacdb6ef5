"""One declaration and one validation per parameter: the study file's sections are the models' own
parameters, and a value the model refuses is reported at its file path with the model's words."""

from dataclasses import fields

import pytest

from gridstudy.models.campus import CampusLoadParams
from gridstudy.models.errors import ModelError
from gridstudy.studies.errors import StudyError
from gridstudy.studies.spec.sections import BatterySection, CampusSection, RampLimitSection, parse_study


def test_sections_are_the_models_parameters():
    assert set(CampusSection.model_fields) - {"trace", "voltage_response"} == {f.name for f in fields(CampusLoadParams)} - {"seed"}
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


@pytest.mark.slow
def test_campus_voltage_response_and_volt_var_lag_reach_both_engines(tmp_path):
    """The study file's [campus.voltage_response] (with time_series = true) and the volt-var
    response time reach the engines' controls, and both engines agree on the result (1e-8 pu, as in
    tests/studies/qsts/test_qsts_agreement.py)."""
    import numpy as np

    from gridstudy.models.campus_voltage import CampusVoltageResponse
    from gridstudy.studies.study import Study

    f = tmp_path / "cv.toml"
    f.write_text('[study]\nname = "cv"\nsite = "feeder-34.5kv"\nduration = "2min"\nseed = 2\n[campus]\ngpus = 9000\n'
                 '[battery]\nstrategy = "smoothing"\n[battery.reactive]\nmode = "volt_var"\nresponse_time_s = 2.0\n'
                 '[campus.voltage_response]\ntime_series = true\nknee_vm_pu = 0.9\n'
                 '[contingencies]\nenabled = false\n[sag]\nenabled = false\n[fluctuation]\nenabled = false\n')
    st = Study.from_file(f)
    ctrl = st.controls("with_battery")
    assert ctrl.campus_voltage == CampusVoltageResponse(knee_vm_pu=0.9)
    assert ctrl.volt_var is not None and ctrl.volt_var.response_time_s == 2.0
    fast = st.qsts("fast")["with_battery"].series["poi_vm_pu"].to_numpy()
    ref = st.qsts("reference")["with_battery"].series["poi_vm_pu"].to_numpy()
    assert np.abs(fast - ref).max() <= 1e-8
