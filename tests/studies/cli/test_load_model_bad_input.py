"""Bad input in the load model and its sensitivity (issue 21, item 5): exit 2 naming the field and
the value, no traceback, nothing written -- through the command line."""

from __future__ import annotations

import pytest
from test_bad_input import assert_refused, run_cli, study_file


@pytest.mark.parametrize("campus, field, value", [
    ("node_swing_fraction = 1.5", "campus.node_swing_fraction", "1.5"),
    ("node_swing_fraction = -0.2", "campus.node_swing_fraction", "-0.2"),
    ("failure_rate_per_gpu_day = -0.0005", "campus.failure_rate_per_gpu_day", "-0.0005"),
    ("failure_rate_per_gpu_day = nan", "campus.failure_rate_per_gpu_day", "nan"),
    ("interruptions_per_day = -3.0", "campus.interruptions_per_day", "-3.0"),
])
def test_bad_load_model_parameter_is_refused(tmp_path, capsys, campus, field, value):
    p = study_file(tmp_path, study_extra=f"\n[campus]\n{campus}\n")
    out = tmp_path / "out"
    code, text = run_cli(capsys, "run", p, "--out", out)
    assert_refused(code, text, out, field, value)


def test_bad_load_model_parameter_in_a_scenario_is_refused(tmp_path, capsys):
    extra = '[[scenarios]]\nname = "half"\ncampus = { node_swing_fraction = 2.0 }\n'
    p = study_file(tmp_path, extra)
    out = tmp_path / "out"
    code, text = run_cli(capsys, "run", p, "--out", out)
    assert_refused(code, text, out, "campus.node_swing_fraction", "2.0")


@pytest.mark.parametrize("periods, value", [("[0.0]", "0.0"), ("[1.5, -1.0]", "-1.0"), ("[nan]", "nan")])
def test_bad_swing_periods_are_refused(tmp_path, capsys, periods, value):
    p = study_file(tmp_path, f"[fluctuation]\nperiods_s = {periods}\n")
    out = tmp_path / "out"
    code, text = run_cli(capsys, "run", p, "--out", out)
    assert_refused(code, text, out, "fluctuation.periods_s", value)
