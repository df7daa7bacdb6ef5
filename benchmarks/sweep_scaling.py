"""Sweep throughput: scenarios per minute with 1 and 2 workers on this machine.

Runs the same 8 scenarios (the weak feeder-34.5kv site, 15 minutes at 1 s, 2 fault levels x
2 swing depths x 2 strategies) in this process (1 worker), on a local process pool of 2 workers,
and on a Dask LocalCluster of 2 worker processes, each into a fresh folder so that nothing is
reused. One scenario runs first in this process so that the engine's compiled kernels exist
before the pool forks (Dask's spawned workers compile their own: part of their overhead).

Overhead per task = (wall time x workers - sum of the tasks' own runtimes) / tasks [s]: what the
executor adds (process start, imports, shipping the task description and the result).

Usage: ``python benchmarks/sweep_scaling.py [--scenarios-only]``; the last line is JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.simplefilter("ignore", FutureWarning)

STUDY = """
[study]
name = "sweep scaling"
site = "feeder-34.5kv"
duration = "15min"
step_s = 1.0
seed = 3

[campus]
job_start_s = 120.0

[battery]
units = 3
strategy = "smoothing"

[sweep]
workers = 2

[sweep.parameters]
"source.s_sc_min_mva" = [500.0, 2000.0]
"campus.swing_depth" = [0.3, 0.9]
"battery.strategy" = ["smoothing", "ramp_limit"]
"""


def main() -> dict:
    import pandas as pd

    from gridstudy.studies.scale.sweep import run_sweep

    tmp = Path(tempfile.mkdtemp(prefix="sweep-scaling-"))
    study = tmp / "study.toml"
    study.write_text(STUDY)
    warm = study.read_text().replace('"battery.strategy" = ["smoothing", "ramp_limit"]', "")
    (tmp / "warm.toml").write_text(warm.replace("[500.0, 2000.0]", "[500.0]").replace("[0.3, 0.9]", "[0.3]"))
    run_sweep(tmp / "warm.toml", tmp / "warm", workers=1, quiet=True)

    out = {}
    for label, kw, workers in (("in_process_1", {"workers": 1}, 1), ("pool_2", {"workers": 2}, 2),
                               ("dask_local_2", {"dask_local": 2}, 2)):
        t0 = time.perf_counter()
        res = run_sweep(study, tmp / label, quiet=True, **kw)
        wall = time.perf_counter() - t0
        table = pd.read_parquet(tmp / label / "sweep.parquet")
        task_s = float(table["runtime_s"].sum())
        n = len(table)
        out[label] = {"workers": workers, "scenarios": n, "wall_s": round(wall, 2),
                      "scenarios_per_min": round(60 * n / wall, 2), "mean_task_s": round(task_s / n, 2),
                      "overhead_per_task_s": round((wall * workers - task_s) / n, 2),
                      "errors": res["failed"]}
        print(f"{label}: {n} scenarios in {wall:.1f} s = {60 * n / wall:.1f} /min; mean task {task_s / n:.2f} s, "
              f"overhead {(wall * workers - task_s) / n:.2f} s/task", flush=True)
    import os

    out["cpus"] = os.cpu_count()
    out["speedup_pool_2"] = round(out["pool_2"]["scenarios_per_min"] / out["in_process_1"]["scenarios_per_min"], 2)
    return out


if __name__ == "__main__":
    res = main()
    print(json.dumps(res))
    sys.exit(0)
