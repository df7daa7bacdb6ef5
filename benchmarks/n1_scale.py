"""N-1 x time on Dask: outages x steps per second against the workers and against the case size.

Usage::

    python benchmarks/n1_scale.py                         # 3 cases x (1, 2) workers, 4 hours each
    python benchmarks/n1_scale.py --hours 24 --cases pegase-1354
    python benchmarks/n1_scale.py --workers 1 2 4

Each case is the study of ``examples/pegase-1354-n1.toml`` (a 1-min step, every credible outage
x every 1-h window x both scenarios, each window from the N-0 state at its start) moved to the
case's site and cut to ``--hours``:

- ``memphis-161kv``: the reference site (5 buses);
- ``simbench-hv``: ``examples/simbench-hv-site.toml``, SimBench 1-HV-urban with its year
  profiles (82 buses and the site's own; needs the ``networks`` extra);
- ``pegase-1354``: ``examples/pegase-1354-site.toml``, PEGASE 1354 (1354 buses).

The N-0 runs the windows start from are made first (not timed); then the contingency stage runs
on a Dask ``LocalCluster`` of N worker processes (one thread each) started beforehand, each worker
warmed by one short outage run (imports and the engine's compiled kernels loaded: not timed).
Timed: the stage itself, from its tasks to its rows (shipping the sites and profiles, the runs,
the criteria). ``outage_steps_per_s`` = credible outages x scenarios x steps / wall time.
Prints one JSON line per case and worker count, then a table. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore")

#: case label -> the study's site (a reference name or a site file of examples/)
CASES = {
    "memphis-161kv": "memphis-161kv",
    "simbench-hv": str(ROOT / "examples" / "simbench-hv-site.toml"),
    "pegase-1354": str(ROOT / "examples" / "pegase-1354-site.toml"),
}


def study_text(site: str, hours: int) -> str:
    """The PEGASE example's study on ``site`` and ``hours`` long (the job starting a quarter in)."""
    text = (ROOT / "examples" / "pegase-1354-n1.toml").read_text()
    text = text.replace('site = "pegase-1354-site.toml"', f"site = {json.dumps(site)}")
    text = text.replace("job_start_s = 21600.0", f"job_start_s = {hours * 900.0}")  # a quarter into the horizon
    return text.replace('duration = "1D"', f'duration = "{hours}h"')


def measure(label: str, site: str, hours: int, workers: list[int], tmp: Path) -> list[dict]:
    import logging

    from distributed import Client, LocalCluster

    from gridstudy.grid.topology import site_outages
    from gridstudy.studies.stages.contingency import contingency_stage, run_outage
    from gridstudy.studies.study import Study

    path = tmp / f"{label}.toml"
    path.write_text(study_text(site, hours))
    st = Study.from_file(path)
    built = st.build_site()
    profs = st.profiles()
    results, _ = st.time_series(built, profs, "fast")
    credible, _ = site_outages(built)
    names = [n for n in st.contingencies.scenarios if n in profs]
    steps = len(st.index)
    warm = (built, credible[0], names[0], profs[names[0]].iloc[:2], st.controls(names[0]), st.preset, "fast")
    out = []
    for n in workers:
        logging.getLogger("distributed").setLevel(logging.ERROR)
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
                Client(cl) as client:
            client.run(run_outage, *warm)  # every worker: imports and compiled kernels loaded
            t0 = time.perf_counter()
            rows = contingency_stage(st, built, results, profs, "fast", client=client).rows
            wall = time.perf_counter() - t0
        work = len(credible) * len(names) * steps
        out.append({"case": label, "buses": int(len(built.net.bus)), "outages": len(credible),
                    "scenarios": len(names), "steps": steps, "windows": hours, "tasks": len(rows),
                    "workers": n, "wall_s": round(wall, 1), "outage_steps_per_s": round(work / wall, 1),
                    "errors": sum(bool(r.get("error")) for r in rows)})
        print(json.dumps(out[-1]), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=int, default=4, help="hours of the day, one window each (default 4)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # one thread per worker: the workers take the cores

    from gridstudy.studies.spec.limits import RunPolicy, use_policy

    rows = []
    with tempfile.TemporaryDirectory() as tmp, use_policy(RunPolicy(force=True, allow_outside_paths=True)):
        for label in args.cases:
            rows += measure(label, CASES[label], args.hours, args.workers, Path(tmp))
    print(f"\n{'case':<15}{'buses':>7}{'outages':>9}{'tasks':>7}{'workers':>9}{'wall s':>9}{'outage-steps/s':>16}"
          f"{'speed-up':>10}")
    base = {r["case"]: r["wall_s"] for r in rows if r["workers"] == min(args.workers)}
    for r in rows:
        print(f"{r['case']:<15}{r['buses']:>7}{r['outages']:>9}{r['tasks']:>7}{r['workers']:>9}{r['wall_s']:>9.1f}"
              f"{r['outage_steps_per_s']:>16.1f}{base[r['case']] / r['wall_s']:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
