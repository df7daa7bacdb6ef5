"""N-1 x time on Dask (``gridstudy run --scheduler`` / ``--dask-local``): the rows of a local run,
each task once, a killed worker's task run again.

The expected rows come from the same study run in this process (``contingencies.workers = 1``),
through the same stage: a Dask run may differ only in where each task ran, so the comparison is
exact (same inputs, same code, same machine: the same floating-point operations).
"""

from __future__ import annotations

import pandas as pd
import pytest

from gridstudy.studies.stages.contingency import contingency_stage
from gridstudy.studies.study import Study

# two minutes at 1 s on the memphis site (8 credible outages), N-1 over every 1-min window:
# 8 outages x 2 windows x 2 scenarios = 32 tasks; the stages the N-1 rows do not need are off
STUDY = """
[study]
name = "N-1 on Dask"
site = "memphis-161kv"
duration = "2min"
step_s = 1.0
seed = 2
[campus]
gpus = 10000
job_start_s = 30.0
[battery]
units = 60
strategy = "ramp_limit"
[contingencies]
window = "1min"
windows = "every"
workers = 1
[sag]
enabled = false
[fluctuation]
enabled = false
"""


def _local_rows(path):
    st = Study.from_file(path)
    site = st.build_site()
    profs = st.profiles()
    results, _ = st.time_series(site, profs, "fast")
    return contingency_stage(st, site, results, profs, "fast").rows


def test_run_on_a_scheduler_with_a_killed_worker_gives_the_local_rows_once(tmp_path, cli, monkeypatch):
    distributed = pytest.importorskip("distributed")
    study = tmp_path / "n1.toml"
    study.write_text(STUDY)
    local = _local_rows(study)
    assert len(local) == 32  # 8 outages x 2 windows x 2 scenarios (the expectation of the STUDY comment)

    # the first N-1 task to take the armed file kills its own worker process (SIGKILL, as the OOM
    # killer would); the workers are started with the hook in their environment
    armed = tmp_path / "kill-one-worker"
    monkeypatch.setenv("GRIDSTUDY_FAULT_AFTER", "n1-task:KILL")
    monkeypatch.setenv("GRIDSTUDY_FAULT_ONCE", str(armed))
    # generous timeouts: worker processes start slowly on a loaded 2-core machine
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  death_timeout=120) as cluster, distributed.Client(cluster, timeout=120) as client:
        monkeypatch.delenv("GRIDSTUDY_FAULT_AFTER")  # this process never kills itself
        before = set(client.scheduler_info()["workers"])
        armed.write_text("")
        out = tmp_path / "out"
        code, _, err = cli("run", study, "--out", out, "--scheduler", cluster.scheduler_address, "--no-report",
                           "--quiet")
        after = set(client.scheduler_info()["workers"])
    assert code == 0, err
    assert not armed.exists()  # a task took it: its worker was killed mid-run...
    assert before - after  # ...and left the cluster (the nanny started a new one)

    got = pd.read_parquet(out / "contingencies.parquet")
    want = pd.DataFrame([{k: (", ".join(v) if isinstance(v, list) else v) for k, v in r.items() if k != "criteria"}
                         for r in local])
    # each (outage, window, scenario) task once: no row lost with the worker, none counted twice
    keys = ["outage", "window_start", "scenario"]
    assert len(got) == 32 and not got.duplicated(keys).any()
    assert got["window_start"].nunique() == 2
    pd.testing.assert_frame_equal(got, want, check_exact=True)
