"""``gridstudy export``: the files of a study's case, and bad input refused with nothing written."""

from __future__ import annotations

import pandas as pd
import pytest

from gridstudy.grid.reference import reference_site_path
from gridstudy.studies.cli.main import main

STUDY = """
[study]
name = "export check"
site = "{site}"
start = "2025-07-15T00:00:00"
duration = "10min"
step_s = 1.0
seed = 7

[campus]
gpu_model = "h100"
job_start_s = 60.0
start_ramp_s = 60.0

[battery]
strategy = "ramp_limit"

[fluctuation]
window_s = 60.0
warmup_s = 0.0
"""


def _study(tmp_path, site="memphis-161kv", site_extra: str | None = None):
    if site_extra is not None:
        text = reference_site_path("memphis-161kv").read_text() + "\n" + site_extra
        (tmp_path / "site.toml").write_text(text)
        site = "site.toml"
    p = tmp_path / "study.toml"
    p.write_text(STUDY.format(site=site))
    return p


def test_export_writes_the_case(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", str(_study(tmp_path)), "--format", "psse", "--out", str(out),
                 "--at", "2025-07-15T00:05:00"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"case.raw", "case.dyr", "campus.csv", "buses.csv", "README.md", "complete.json"} <= names
    raw = (out / "case.raw").read_text().splitlines()
    assert raw[0].split(",")[2].strip() == "33" and raw[-1] == "Q"
    dyr = (out / "case.dyr").read_text()
    for model in ("GENROU", "SEXS", "TGOV1", "REGCA1", "REECA1", "REPCA1"):
        assert f"'{model}'" in dyr
    campus = pd.read_csv(out / "campus.csv")
    # the window from the operating point on at the sub-second step (20 ms default, 60-s window)
    assert len(campus) == 3000 and campus["time_s"].iloc[1] == pytest.approx(0.02)
    assert campus["timestamp"].iloc[0].startswith("2025-07-15T00:05:00")
    # the campus loads of the RAW file draw the study's campus power of that step (constant power,
    # written with 10 significant digits: 1e-6 MW)
    from gridstudy.studies.study import Study
    prof = Study.from_file(tmp_path / "study.toml").profiles(only="with_battery")["with_battery"]
    want = float(prof.loc[pd.Timestamp("2025-07-15T00:05:00"), "campus_p_mw"])
    buses = pd.read_csv(out / "buses.csv")
    campus_bus = int(buses.loc[buses["role"].fillna("").str.contains("campus load"), "bus"].iloc[0])
    loads = raw[raw.index(next(r for r in raw if r.startswith("0 / END OF BUS DATA"))) + 1:]
    loads = loads[:loads.index(next(r for r in loads if r.startswith("0 / END OF LOAD DATA")))]
    got = sum(float(r.split(",")[5]) for r in loads if int(r.split(",")[0]) == campus_bus)
    assert got == pytest.approx(want, abs=1e-6)
    assert "POI" in set(buses["role"].dropna().str.split("; ").sum())


@pytest.mark.parametrize(("extra", "field"), [
    ("[dynamics.grid]\nh_s = 0.0\n", "dynamics.grid.h_s"),
    ("[dynamics.grid]\nh_s = -2.0\n", "dynamics.grid.h_s"),
    ("[dynamics.grid]\nxd1_pu = 2.5\n", "dynamics.grid"),       # X'd above Xd: outside GENROU's range
    ("[dynamics.grid]\nmodel = \"GENSAL\"\n", "dynamics.grid.model"),
    ("[dynamics.grid]\nexc_k = nan\n", "dynamics.grid.exc_k"),
])
def test_bad_grid_dynamics_is_refused(tmp_path, capsys, extra, field):
    out = tmp_path / "out"
    code = main(["export", str(_study(tmp_path, site_extra=extra)), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert field in err
    assert not out.exists()


@pytest.mark.parametrize("at", ["2025-07-14T23:59:59", "2025-07-15T00:10:00", "not a time"])
def test_time_outside_the_horizon_is_refused(tmp_path, capsys, at):
    out = tmp_path / "out"
    code = main(["export", str(_study(tmp_path)), "--out", str(out), "--at", at])
    err = capsys.readouterr().err
    assert code == 2
    assert "--at" in err and at in err
    assert not out.exists()


def test_unknown_scenario_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", str(_study(tmp_path)), "--out", str(out), "--scenario", "nope"]) == 2
    assert "--scenario" in capsys.readouterr().err
    assert not out.exists()


def test_run_writes_the_export_beside_the_results(tmp_path, capsys):
    p = _study(tmp_path)
    p.write_text(p.read_text() + '\n[export]\nenabled = true\nat = "2025-07-15T00:05:00"\n\n[contingencies]\nenabled = false\n'
                 '\n[sag]\nenabled = false\n')
    out = tmp_path / "out"
    assert main(["run", str(p), "--out", str(out), "--no-report", "--quiet"]) == 0
    assert {"case.raw", "case.dyr", "campus.csv", "README.md"} <= {q.name for q in (out / "export").iterdir()}
    assert "'REGCA1'" in (out / "export" / "case.dyr").read_text()


@pytest.mark.parametrize(("section", "field", "value"), [
    ('at = "2025-07-16T00:00:00"', "export.at", "2025-07-16T00:00:00"),
    ('scenario = "nope"', "export.scenario", "nope"),
])
def test_run_export_bad_input_is_refused(tmp_path, capsys, section, field, value):
    p = _study(tmp_path)
    p.write_text(p.read_text() + f"\n[export]\nenabled = true\n{section}\n")
    out = tmp_path / "out"
    assert main(["run", str(p), "--out", str(out), "--no-report", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert field in err and value in err
    assert not out.exists()
