"""Bad input closed at its mechanism (issue 23): one rule per mechanism, one representative case each.

- a non-finite number in any numeric parameter (site, study sections, models' parameter classes);
- a JSON input whose top level is not an object;
- one set of size bounds for site files, study files, network attachments and sizing;
- sweep values validated like the study file's own fields before anything runs, and a sweep in
  which every scenario ends in an error does not exit 0.

Each case runs the command line in-process and asserts the exit code, that the message names the
field and the value, that no traceback is printed and that nothing is written.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError
from test_bad_input import assert_refused, run_cli, study_file

from gridstudy.grid.bounds import MAX_BATTERY_UNITS, MAX_CAMPUS_MW
from gridstudy.grid.errors import NOT_FINITE
from gridstudy.grid.reference import reference_sites
from gridstudy.grid.spec import parse_site_spec
from gridstudy.models.battery import MegapackPlant
from gridstudy.models.campus import CampusLoadParams
from gridstudy.models.dispatch import Smoothing, SocRecovery, VoltVarCurve
from gridstudy.models.errors import ModelError
from gridstudy.models.protection import DisturbanceCounter
from gridstudy.studies.spec.scale import SizingSection
from gridstudy.studies.spec.sections import parse_study

# -- a JSON input whose top level is not an object ------------------------------------------------


@pytest.mark.parametrize("content, kind", [("[1, 2]", "an array"), ('"net"', "a string"), ("3", "a number"),
                                           ("{}", "dict, not a net")])
def test_network_json_that_is_not_a_net_object(tmp_path, capsys, content, kind):
    net = tmp_path / "net.json"
    net.write_text(content)
    out = tmp_path / "out"
    code, text = run_cli(capsys, "check", net, "--poi", "0", "--campus-mw", "10", "--json", out / "check.json")
    assert_refused(code, text, out, "network:", kind, "pandapower net", repr(str(net)))


def test_network_json_named_by_a_site_file_is_checked_alike(tmp_path, capsys):
    (tmp_path / "net.json").write_text("[]")
    site = tmp_path / "site.toml"
    site.write_text('name = "s"\npoi = 0\n[network]\npath = "net.json"\n'
                    '[campus]\n[[campus.halls]]\nname = "h"\nbus = "0"\np_mw = 10.0\n')
    out = tmp_path / "out"
    code, text = run_cli(capsys, "check", site, "--json", out / "check.json")
    assert_refused(code, text, out, "an array", "pandapower net", "net.json")


# -- a non-finite number in any numeric parameter --------------------------------------------------

def _site_with(d: Path, old: str, new: str) -> Path:
    text = reference_sites()["feeder-34.5kv"].read_text()
    assert old in text
    p = d / "site.toml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize("section, field, value", [
    ("[campus]\ngpu_tdp_w = inf\n", "campus.gpu_tdp_w", "inf"),  # was: a NaN-MW campus, "voltage collapse", exit 1
    ("[campus]\npue = nan\n", "campus.pue", "nan"),
    ("[campus.smoothing]\nramp_up_w_per_s = inf\n", "campus.smoothing.ramp_up_w_per_s", "inf"),
    ("[battery.ramp_limit]\nwindow_mw = inf\n", "battery.ramp_limit.window_mw", "inf"),
    ("[battery.response]\ninverter_tau_s = nan\n", "battery.response.inverter_tau_s", "nan"),
    ("[fluctuation]\nwindow_s = inf\n", "fluctuation.window_s", "inf"),
    ("[sizing]\ncost_per_mw_usd = inf\n", "sizing.cost_per_mw_usd", "inf"),
])
def test_non_finite_study_parameter_is_bad_input(tmp_path, capsys, section, field, value):
    p = study_file(tmp_path)
    p.write_text(p.read_text().replace("[contingencies]", section + "\n[contingencies]", 1))
    out = tmp_path / "out"
    code, text = run_cli(capsys, "size" if field.startswith("sizing") else "run", p, "--out", out)
    assert_refused(code, text, out, f"{field}: must be a finite number, got {value}")


def test_non_finite_battery_field_of_the_plant_is_bad_input(tmp_path, capsys):
    p = study_file(tmp_path, extra="aux_mw = inf\nunit_p_mw = nan\n")
    out = tmp_path / "out"
    code, text = run_cli(capsys, "run", p, "--out", out)
    assert_refused(code, text, out, "battery.aux_mw: must be a finite number, got inf",
                   "battery.unit_p_mw: must be a finite number, got nan")


@pytest.mark.parametrize("old, new, field, value", [
    ("p_mw = 25.0", "p_mw = inf", "campus.halls[0].p_mw", "inf"),
    ("s_sc_min_mva = 2000.0", "s_sc_min_mva = nan", "source.s_sc_min_mva", "nan"),
    ("length_km = 5.0", "length_km = inf", "lines[0].length_km", "inf"),
])
def test_non_finite_site_parameter_is_bad_input(tmp_path, capsys, old, new, field, value):
    site = _site_with(tmp_path, old, new)
    out = tmp_path / "out"
    code, text = run_cli(capsys, "check", site, "--json", out / "check.json")
    assert_refused(code, text, out, f"{field}: must be a finite number, got {value}")


def test_non_finite_campus_attached_to_a_network_is_bad_input(tmp_path, capsys):
    import pandapower as pp
    import pandapower.networks as pn

    net = tmp_path / "case9.json"
    pp.to_json(pn.case9(), str(net))
    out = tmp_path / "out"
    code, text = run_cli(capsys, "check", net, "--poi", "4", "--campus-mw", "inf", "--json", out / "check.json")
    assert_refused(code, text, out, "campus_p_mw: must be a finite number, got inf")


@pytest.mark.parametrize("value, message", [("nan", "must be a finite number, got nan"), ("-1", "must be > 0, got -1.0")])
def test_memory_limit_option_is_judged_as_a_field(tmp_path, capsys, value, message):
    out = tmp_path / "out"
    code, text = run_cli(capsys, "profile", study_file(tmp_path), "--out", out, f"--max-memory-gb={value}")
    assert_refused(code, text, out, f"--max-memory-gb: {message}")


@pytest.mark.parametrize("cls, kwargs, field", [
    (CampusLoadParams, {"cooling_tau_s": math.inf}, "campus.cooling_tau_s"),
    (MegapackPlant, {"units": 2, "unit_e_mwh": math.inf}, "battery.unit_e_mwh"),
    (DisturbanceCounter, {"window_s": math.nan}, "window_s"),
    (VoltVarCurve, {"response_time_s": -math.inf}, "battery.reactive.curve.response_time_s"),
    (SocRecovery, {"time_s": math.inf}, "battery.recovery.time_s"),
])
def test_parameter_classes_refuse_non_finite_values_through_the_one_rule(cls, kwargs, field):
    # the dataclasses raise when built; the ones a strategy validates list their problems
    try:
        problems = cls(**kwargs).problems()
    except ModelError as exc:
        problems = exc.problems
    assert [(q.path, q.message) for q in problems] == [(field, NOT_FINITE)]


def test_a_strategy_refuses_a_non_finite_parameter():
    with pytest.raises(ModelError) as exc:
        Smoothing(MegapackPlant(units=2), tau_s=math.inf)
    assert str(exc.value).endswith("battery.tau_s: must be a finite number, got inf")


# -- one set of size bounds for every file and argument that names a plant ---------------------------

def test_absurd_battery_count_in_a_site_file_is_refused_as_in_a_study_file(tmp_path, capsys):
    # was: `check` solved the site and wrote its summary, exit 0, while a study file was refused
    site = _site_with(tmp_path, "units = 16", "units = 1000000000")
    out = tmp_path / "out"
    code, text = run_cli(capsys, "check", site, "--json", out / "check.json")
    assert_refused(code, text, out, "battery.units", "100000", "1000000000")
    p = study_file(tmp_path, site="site.toml")  # a study naming that site: the same refusal, at its path
    code, text = run_cli(capsys, "run", p, "--out", out)
    assert_refused(code, text, out, "study.site: battery.units", "1000000000")


@pytest.mark.parametrize("old, new, field, value", [
    # each was accepted and ended in "power flow did not converge" (exit 1), or never finished
    # (1e12 circuits: a loop creating 1e12 lines); now refused by the ranges of grid/bounds.py
    ('f_hz = 60.0', 'f_hz = 1e12', "f_hz", "1000000000000.0"),
    ('vn_kv = 138.0', 'vn_kv = 1e12', "buses[0].vn_kv", "1000000000000.0"),
    ('length_km = 5.0', 'length_km = 1e12', "lines[0].length_km", "1000000000000.0"),
    ('length_km = 5.0', 'length_km = 5.0\ncircuits = 1000000000000', "lines[0].circuits", "1000000000000"),
    ('x_ohm_per_km = 0.37', 'x_ohm_per_km = 1e12', "lines[0].x_ohm_per_km", "1000000000000.0"),
    ('c_nf_per_km = 10.0', 'c_nf_per_km = 1e12', "lines[0].c_nf_per_km", "1000000000000.0"),
    ('sn_mva = 50.0', 'sn_mva = 1e12', "transformers[0].sn_mva", "1000000000000.0"),
    ('vkr_percent = 0.5', 'vkr_percent = 0.5\npfe_kw = 1e12', "pfe_kw (1000000000000.0) must not exceed the rating",
     "50000 kW"),
    ('vkr_percent = 0.5', 'vkr_percent = 0.5\ni0_percent = 1e12', "transformers[0].i0_percent", "1000000000000.0"),
    # 16 taps of 5 % either side of neutral: the ratio moves by 80 %
    ('deadband_pu = 0.01', 'deadband_pu = 0.01\ntap_step_percent = 5.0', "tap_step_percent (5.0) times the taps",
     "by 80 %"),
    ('p_mw = 3.0', 'p_mw = 1e12', "loads[0].p_mw", "1000000000000.0"),
    ('q_mvar = -6.0', 'q_mvar = -1e12', "shunts[0].q_mvar", "-1000000000000.0"),
])
def test_site_element_outside_what_is_built_is_bad_input(tmp_path, capsys, old, new, field, value):
    site = _site_with(tmp_path, old, new)
    out = tmp_path / "out"
    code, text = run_cli(capsys, "check", site, "--json", out / "check.json")
    assert_refused(code, text, out, field, value)


def test_reduce_radius_beyond_the_network_is_bad_input(tmp_path, capsys):
    # was: pandapower's "No boundary buses are given" from get_equivalent, exit 4 with a traceback
    site = tmp_path / "site.toml"
    site.write_text('name = "n"\npoi = 4\n[network]\ncase = "case9"\n[network.reduce]\nradius = 1000\n'
                    '[campus]\n[[campus.halls]]\nname = "h"\nbus = "4"\np_mw = 20.0\n')
    out = tmp_path / "out"
    code, text = run_cli(capsys, "check", site, "--json", out / "check.json")
    assert_refused(code, text, out, "network.reduce.radius: the study area covers the whole network", "1000")


@pytest.mark.parametrize("extra, field, value", [
    # was: a 1e12-MW standby draw, every step a collapse, exit 1
    ("aux_mw = 1e12\n", "battery.aux_mw: must not exceed the plant's power rating (30.832 MW)", "1000000000000.0"),
    # was: pandas' Timedelta overflow while judging the load loss, exit 4 with a traceback
    ("\n[criteria.disturbance_counter]\nreturn_after_s = 1e12\n", "criteria.disturbance_counter.return_after_s",
     "1000000000000.0"),
])
def test_study_value_beyond_its_range_is_bad_input(tmp_path, capsys, extra, field, value):
    p = study_file(tmp_path)
    p.write_text(p.read_text().replace("[contingencies]", extra + "\n[contingencies]", 1))
    out = tmp_path / "out"
    code, text = run_cli(capsys, "run", p, "--out", out)
    assert_refused(code, text, out, field, value)


def test_aux_load_is_judged_against_the_sites_plant_when_the_file_gives_no_units():
    # feeder-34.5kv: 16 units of 1.927 MW = 30.8 MW; 5 MW of standby load is within it, 40 MW not
    from gridstudy.studies.errors import StudyError
    from gridstudy.studies.spec.sections import resolve_study

    def raw(aux: float) -> dict:
        return {"study": {"name": "s", "site": "feeder-34.5kv", "duration": "60s"},
                "battery": {"aux_mw": aux, "strategy": "ramp_limit"}}

    assert resolve_study(parse_study(raw(5.0))).plant.aux_mw == 5.0
    with pytest.raises(StudyError, match="aux_mw: must not exceed the plant's power rating"):
        resolve_study(parse_study(raw(40.0)))


def _accepts(check) -> bool:
    from gridstudy.grid.errors import InputError

    try:
        check()
    except (InputError, ValidationError):
        return False
    return True


def _site_raw(units: int = 16, hall_mw: float = 25.0) -> dict:
    raw = tomllib.loads(reference_sites()["feeder-34.5kv"].read_text())
    raw["battery"]["units"] = units
    raw["campus"]["halls"][0]["p_mw"] = hall_mw
    return raw


def _study_raw(battery: dict | None = None, campus: dict | None = None) -> dict:
    return {"study": {"name": "s", "site": "feeder-34.5kv", "duration": "60s"}, "battery": battery or {},
            "campus": campus or {}}


def _attach(units: int = 0, campus_mw: float = 10.0):
    import pandapower.networks as pn

    from gridstudy.grid.importers import attach

    return attach(pn.case9(), poi=4, campus_p_mw=campus_mw, battery_model="megapack2xl-2h", battery_units=units)


BATTERY_ENTRIES = {
    "site file": lambda n: parse_site_spec(_site_raw(units=n)),
    "study file": lambda n: parse_study(_study_raw(battery={"units": n})),
    "network attachment": lambda n: _attach(units=n),
    "sizing range": lambda n: SizingSection(units_max=n),
    "plant model": lambda n: MegapackPlant(units=n),
}
CAMPUS_ENTRIES = {
    "site file": lambda mw: parse_site_spec(_site_raw(hall_mw=mw)),
    "network attachment": lambda mw: _attach(campus_mw=mw),
    "trace peak": lambda mw: parse_study(_study_raw(campus={"trace": {"path": "t.csv", "peak_mw": mw}})),
    # a campus model whose nominal peak is mw: 1000 GPUs of TDP such that the peak is exactly mw
    "campus model": lambda mw: CampusLoadParams(gpus=1000, gpu_tdp_w=mw * 1e3 / (1.5 * 1.3)),
}


@pytest.mark.parametrize("entry", list(BATTERY_ENTRIES))
def test_every_entry_naming_a_plant_shares_the_unit_bound(entry):
    assert _accepts(lambda: BATTERY_ENTRIES[entry](MAX_BATTERY_UNITS))
    assert not _accepts(lambda: BATTERY_ENTRIES[entry](MAX_BATTERY_UNITS + 1))


@pytest.mark.parametrize("entry", list(CAMPUS_ENTRIES))
def test_every_entry_naming_a_campus_shares_the_campus_bound(entry):
    # 0.1 % either side of the bound: the campus model's peak is a product of floats (TDP, overhead, PUE)
    assert _accepts(lambda: CAMPUS_ENTRIES[entry](MAX_CAMPUS_MW * 0.999))
    assert not _accepts(lambda: CAMPUS_ENTRIES[entry](MAX_CAMPUS_MW * 1.001))


# -- sweep values validated like the file's own fields; an all-error sweep is not a success -----------

def _sweep_file(d: Path, parameters: str) -> Path:
    p = study_file(d, extra="\n[battery.recovery]\nenabled = false\n")
    p.write_text(p.read_text() + "\n[sweep]\nworkers = 1\n[sweep.parameters]\n" + parameters)
    return p


@pytest.mark.parametrize("parameters, field, value", [
    # the models' ranges, as the study file's own [campus] would be judged (was: 2 scenarios with errors, exit 0)
    ('"campus.pue" = [1.2, 5.0]\n', "sweep.parameters.campus.pue: must lie in [1, 3]", "5.0"),
    ('"battery.units" = [4, 1000000000]\n', "sweep.parameters.battery.units: must be <= 100,000", "1000000000"),
    ('"campus.gpu_tdp_w" = [700.0, inf]\n', "sweep.parameters.campus.gpu_tdp_w: must be a finite number", "inf"),
    # the site description's schema
    ('"site.campus.p_mw" = [20.0, -5.0]\n', "sweep.parameters.site.campus.p_mw: campus.halls[0].p_mw", "-5.0"),
    # what only resolving the study against its site shows: a plant starting below its SOC floor
    ('"site.battery.soc_percent" = [50.0, 2.0]\n', "battery.soc_init_percent: must lie within", "2.0"),
    # values each valid, not together
    ('"battery.soc_min_percent" = [10.0, 60.0]\n"battery.soc_max_percent" = [50.0, 90.0]\n',
     "sweep.parameters: battery.soc_min_percent: must be below soc_max_percent", "'battery.soc_min_percent': 60.0"),
])
def test_sweep_value_the_file_would_refuse_is_refused_before_any_scenario_runs(tmp_path, capsys, monkeypatch,
                                                                               parameters, field, value):
    import gridstudy.studies.scale.sweep as sweep_mod

    ran = []
    monkeypatch.setattr(sweep_mod, "run_scenario", lambda task: ran.append(task) or {})
    p = _sweep_file(tmp_path, parameters)
    out = tmp_path / "out"
    code, text = run_cli(capsys, "sweep", p, "--out", out)
    assert_refused(code, text, out, field, value)
    assert ran == []


def test_sweep_in_which_every_scenario_errors_does_not_exit_0(tmp_path, capsys):
    # each value valid against the file, the plant's start (the site's 10 % SOC) below the swept
    # 20 % floor: the one scenario ends in an error when it resolves (values together are not
    # resolved before the run: one resolution per value, not per scenario)
    p = _sweep_file(tmp_path, '"site.battery.soc_percent" = [10.0]\n"battery.soc_min_percent" = [20.0]\n')
    out = tmp_path / "out"
    code, text = run_cli(capsys, "sweep", p, "--out", out)
    assert code == 1, text
    assert "Traceback" not in text and "every scenario ended in an error" in text
    table = pd.read_parquet(out / "sweep.parquet")  # the table is written: each row says why
    assert len(table) == 1 and table["error"].str.contains("soc_init_percent").all()
