"""Scenario sweeps: local pool vs Dask LocalCluster, resume, failed scenarios, bad input."""

import json
import tomllib

import pandas as pd
import pytest

import gridstudy.studies.scale.sweep as sweep_mod
from gridstudy.studies.scale.sweep import dumps_toml, run_sweep

# 4 scenarios of 5 minutes on the feeder site. Each value is valid (the sweep validates every value
# before it runs), but a plant starting at 10 % SOC below a 20 % SOC floor is not: that scenario
# fails with a parameter error while the others finish.
STUDY = """
[study]
name = "small sweep"
site = "feeder-34.5kv"
duration = "5min"
step_s = 1.0
seed = 3

[campus]
job_start_s = 60.0

[battery]
units = 3
strategy = "smoothing"

[sweep]
workers = 2

[sweep.parameters]
"site.battery.soc_percent" = [50.0, 10.0]
"battery.soc_min_percent" = [5.0, 20.0]
"""

VOLATILE = ["runtime_s"]


def _study(tmp_path, text=STUDY):
    p = tmp_path / "sweep.toml"
    p.write_text(text)
    return p


def test_site_toml_round_trip():
    from gridstudy.grid.reference import reference_sites

    for name, path in reference_sites().items():
        raw = tomllib.loads(path.read_text())
        assert tomllib.loads(dumps_toml(raw)) == raw, name


def test_local_pool_and_dask_localcluster_give_the_same_table(tmp_path):
    distributed = pytest.importorskip("distributed")
    study = _study(tmp_path)
    # the Dask workers are threads of this process (reliable on a 2-core machine; the engine's
    # compiled kernels are then shared), then the local pool forks processes that inherit them
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        dask = run_sweep(study, tmp_path / "dask", client=client, quiet=True)
    t_dask = pd.read_parquet(tmp_path / "dask" / "sweep.parquet")
    assert dask["evaluated"] == 4
    local = run_sweep(study, tmp_path / "local", workers=2, quiet=True)
    t_local = pd.read_parquet(tmp_path / "local" / "sweep.parquet")
    assert local["scenarios"] == 4 and local["evaluated"] == 4
    assert list(t_local.columns[:4]) == ["site.battery.soc_percent", "battery.soc_min_percent", "pass", "error"]
    bad = (t_local["site.battery.soc_percent"] == 10.0) & (t_local["battery.soc_min_percent"] == 20.0)
    assert bad.sum() == 1
    assert (t_local.loc[bad, "error"].str.contains("soc_init_percent")).all() and not t_local.loc[bad, "pass"].any()
    assert (t_local.loc[~bad, "error"] == "").all() and t_local.loc[~bad, "pst_max"].notna().all()
    assert (tmp_path / "local" / "sweep.png").stat().st_size > 0

    pd.testing.assert_frame_equal(t_local.drop(columns=VOLATILE), t_dask.drop(columns=VOLATILE))


def test_interrupted_sweep_resumes_without_redoing_finished_scenarios(tmp_path, monkeypatch):
    study = _study(tmp_path)
    out = tmp_path / "out"
    real = sweep_mod.run_scenario
    calls = []

    def interrupted(task):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is stopped after two scenarios
        calls.append(task["hash"])
        return real(task)

    monkeypatch.setattr(sweep_mod, "run_scenario", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(study, out, workers=1, quiet=True)
    assert len(list((out / "scenarios").glob("*.json"))) == 2
    assert not (out / "sweep.parquet").exists()

    done = set(calls)
    calls.clear()
    counted = []
    monkeypatch.setattr(sweep_mod, "run_scenario", lambda t: counted.append(t["hash"]) or real(t))
    res = run_sweep(study, out, workers=1, quiet=True)
    assert res["reused"] == 2 and res["evaluated"] == 2
    assert len(counted) == 2 and not set(counted) & done
    assert len(pd.read_parquet(out / "sweep.parquet")) == 4

    # stored results are checked by their content hash: a tampered file is run again
    f = next((out / "scenarios").glob("*.json"))
    d = json.loads(f.read_text())
    d["hash"] = "0" * 64
    f.write_text(json.dumps(d))
    counted.clear()
    res = run_sweep(study, out, workers=1, quiet=True)
    assert res["evaluated"] == 1 and res["reused"] == 3 and counted == [f.stem]

    # a changed study is a different scenario set: nothing reused
    study.write_text(STUDY.replace("seed = 3", "seed = 4"))
    counted.clear()
    res = run_sweep(study, out, workers=1, quiet=True)
    assert res["reused"] == 0 and len(counted) == 4


def test_bad_sweep_input_lists_every_problem_and_writes_nothing(tmp_path, cli):
    bad = STUDY.replace('"battery.soc_min_percent" = [5.0, 20.0]',
                        '"campus.swing_dept" = [0.3]\n"source.nothing" = [1.0]\n"battery.units" = []')
    bad = bad.replace("workers = 2", "workers = 0").replace("units = 3", "units = -3")
    study = _study(tmp_path, bad)
    out = tmp_path / "out"
    code, _, err = cli("sweep", study, "--out", out)
    assert code == 2
    for field in ("battery.units", "sweep.workers", "sweep.parameters"):
        assert field in err
    assert "campus.swing_dept" in err and "source.nothing" in err
    assert not out.exists()


def test_missing_sweep_section_is_bad_input(tmp_path, cli):
    study = _study(tmp_path, STUDY.split("[sweep]")[0])
    code, _, err = cli("sweep", study, "--out", tmp_path / "out")
    assert code == 2 and "sweep" in err
