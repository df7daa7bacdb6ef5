"""``gridstudy profile``: files written, summary, determinism, bad input -> exit 2 and nothing written."""

import json
from pathlib import Path

import pandas as pd
import pytest

from gridstudy.studies.cli.main import main
from gridstudy.studies.errors import StudyError
from gridstudy.studies.spec.sections import load_study, resolve_study

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("profile-*.toml"))

STUDY = """
[study]
name = "short ramp-limit study"
site = "memphis-161kv"
duration = "10min"
step_s = 1.0
seed = 11

[campus]
gpus = 30000
checkpoint_interval_s = 120.0

[battery]
units = 40
strategy = "ramp_limit"
"""


def test_profile_writes_parquet_and_json(tmp_path, capsys):
    study = tmp_path / "s.toml"
    study.write_text(STUDY)
    assert main(["profile", str(study), "--out", str(tmp_path / "out")]) == 0
    df = pd.read_parquet(tmp_path / "out" / "profiles.parquet")
    for col in ("campus_p_mw", "battery_p_mw", "soc_percent", "grid_p_mw", "saturated"):
        assert col in df
    assert len(df) == 600 and df.index[0] == pd.Timestamp("2025-07-01")
    js = json.loads((tmp_path / "out" / "profiles.json").read_text())
    s = js["summary"]
    assert s["campus_energy_mwh"] == pytest.approx(df["campus_p_mw"].sum() / 3600.0, rel=1e-12)
    assert s["grid_ramp_max_mw_per_min"] <= 20.0 + 1e-9 and s["grid_ramp_max_mw_per_5s"] <= 10.0 + 1e-9
    assert s["saturated_steps"] == int(df["saturated"].sum()) == 0
    assert js["battery"]["units"] == 40 and js["battery"]["strategy"] == "ramp_limit"
    # same seed, same bytes
    assert main(["profile", str(study), "--out", str(tmp_path / "again")]) == 0
    assert pd.read_parquet(tmp_path / "again" / "profiles.parquet").equals(df)
    assert (tmp_path / "again" / "profiles.json").read_text() == (tmp_path / "out" / "profiles.json").read_text()


def test_bad_study_exits_2_lists_every_field_and_writes_nothing(tmp_path, capsys):
    study = tmp_path / "bad.toml"
    study.write_text(STUDY.replace("units = 40", "units = -3\nsoc_min_percent = 90.0\nsoc_max_percent = 10.0\nbogus = 1"))
    out = tmp_path / "out"
    assert main(["profile", str(study), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "battery.units: must be an integer > 0, got -3" in err
    assert "battery.soc_min_percent: must be below soc_max_percent" in err
    assert "battery.bogus" in err
    assert not out.exists()


def test_trace_study_and_missing_trace(tmp_path):
    t = pd.date_range("2025-07-01", periods=600, freq="1s")
    pd.DataFrame({"timestamp": t, "p_mw": 50.0 + (t.second % 2) * 10.0}).to_csv(tmp_path / "m.csv", index=False)
    study = tmp_path / "t.toml"
    study.write_text(STUDY.replace("[campus]\ngpus = 30000\ncheckpoint_interval_s = 120.0",
                                   '[campus.trace]\npath = "m.csv"\npeak_mw = 120.0'))
    r = resolve_study(load_study(study), base_dir=tmp_path)
    # scaled by 120 / 60 on the raw trace's peak: 100 / 120 MW alternating
    assert r.trace["campus_p_mw"].max() == pytest.approx(120.0) and r.trace["campus_p_mw"].min() == pytest.approx(100.0)
    study.write_text(study.read_text().replace("m.csv", "nowhere.csv"))
    with pytest.raises(StudyError) as exc:
        resolve_study(load_study(study), base_dir=tmp_path)
    assert exc.value.fields == ["campus.trace.path"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_run(path, tmp_path):
    assert main(["profile", str(path), "--out", str(tmp_path)]) == 0
    js = json.loads((tmp_path / "profiles.json").read_text())
    assert js["summary"]["steps"] > 0


def test_one_example_per_strategy():
    strategies = {load_study(p).battery.strategy for p in EXAMPLES}
    assert strategies == {"none", "ramp_limit", "smoothing", "import_cap", "load_loss_absorption"}
