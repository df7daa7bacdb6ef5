"""Bad input in ``[battery.control]`` (issue 20): exit 2 naming the field and the value, no
traceback, nothing written — through the command line, in the file and in a scenario."""

from __future__ import annotations

import pytest
from test_bad_input import assert_refused, run_cli, study_file


@pytest.mark.parametrize("table, field, value", [
    ('mode = "grid_fighting"', "battery.control.mode", "grid_fighting"),
    ("x_pu = 0.0", "battery.control.x_pu", "0.0"),
    ("x_pu = nan", "battery.control.x_pu", "nan"),
    ("h_s = -2.0", "battery.control.h_s", "-2.0"),
    ("d_pu = -5.0", "battery.control.d_pu", "-5.0"),
    ("current_limit_pu = 1.5", "battery.control.current_limit_pu", "1.5"),
    ("mp = 0.0", "battery.control.mp", "0.0"),
    ("mq = 0.0", "battery.control.mq", "0.0"),
    ('mode = "grid_following_local"\nlocal_latency_s = 0.3', "battery.control.local_latency_s", "0.3"),
])
def test_bad_control_is_refused(tmp_path, capsys, table, field, value):
    p = study_file(tmp_path, f"[battery.control]\n{table}\n")
    out = tmp_path / "out"
    code, text = run_cli(capsys, "run", p, "--out", out)
    assert_refused(code, text, out, field, value)


def test_a_local_latency_beyond_the_files_own_central_chain_is_refused(tmp_path, capsys):
    # the central chain of the file: control period 10 ms + comms 10 ms; a 30-ms local loop is slower
    extra = ("[battery.response]\ncontrol_period_s = 0.01\ncomms_latency_s = 0.01\n"
             '[battery.control]\nmode = "grid_following_local"\nlocal_latency_s = 0.03\n')
    p = study_file(tmp_path, extra)
    out = tmp_path / "out"
    code, text = run_cli(capsys, "run", p, "--out", out)
    assert_refused(code, text, out, "battery.control.local_latency_s", "0.03", "0.02 s")


def test_bad_control_in_a_scenario_is_refused(tmp_path, capsys):
    extra = '[[scenarios]]\nname = "gfm"\nbattery = { control = { mode = "grid_forming", x_pu = 0.9 } }\n'
    p = study_file(tmp_path, extra)
    out = tmp_path / "out"
    code, text = run_cli(capsys, "run", p, "--out", out)
    assert_refused(code, text, out, "battery.control.x_pu", "0.9")


@pytest.mark.parametrize("key, value", [("local_latencies_s", "[0.5]"), ("virtual_reactances_pu", "[0.0]"),
                                        ("virtual_reactances_pu", "[nan]")])
def test_bad_sensitivity_values_are_refused(tmp_path, capsys, key, value):
    p = study_file(tmp_path, f"[fluctuation]\n{key} = {value}\n")
    out = tmp_path / "out"
    code, text = run_cli(capsys, "run", p, "--out", out)
    assert_refused(code, text, out, f"fluctuation.{key}")
