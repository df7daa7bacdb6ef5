"""N-1 over a whole horizon: every credible outage x every step (``[contingencies] window = "all"``).

Usage::

    python benchmarks/n1_day.py                          # memphis-161kv, a day at 1 s, 2 workers
    python benchmarks/n1_day.py --workers 1 --repeat 3

The study is ``examples/demo.toml`` moved to ``--site`` and ``--days`` long, with its N-1 window
set to ``all``: each credible outage of each N-1 scenario runs the whole horizon from the N-0
state at its start (:func:`gridstudy.studies.stages.contingency.window_start_site`), in a process pool of
``--workers``, judged on the N-1 criteria; horizons over a day stream (profiles part by part,
aggregates only). Prints one JSON line per repeat and one with the medians: the N-1 time
(``n1_s``: the pool, the runs, the criteria), outages x scenarios x steps, power flows per second.
The N-0 runs the start states come from are timed apart (``n0_s``). Not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

warnings.filterwarnings("ignore", category=FutureWarning)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--site", default="memphis-161kv")
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)

    from qsts_year import study_file

    from gridstudy.grid.topology import site_outages
    from gridstudy.studies.setup import ENGINE_COLUMNS
    from gridstudy.studies.spec.limits import RunPolicy, use_policy
    from gridstudy.studies.stages.contingency import FULL_SERIES_MAX_STEPS, run_contingencies, window_start_site
    from gridstudy.studies.study import Study

    with tempfile.TemporaryDirectory() as tmp, use_policy(RunPolicy(force=True)):
        study = Study.from_file(study_file(Path(ROOT / "examples" / "demo.toml"), args.site, args.days, Path(tmp)))
    study.contingencies = study.contingencies.model_copy(update={"window": "all"})
    names = list(study.contingencies.scenarios) or ["without_battery"]
    names = [n for n in names if n in study.strategies()] or ["without_battery"]
    site = study.build_site()
    credible, _ = site_outages(site)
    n = len(study.index)
    streamed = n > FULL_SERIES_MAX_STEPS
    t0 = time.perf_counter()
    if streamed:  # window "all" starts at the first step: the N-0 state there is the built site's
        starts = dict.fromkeys(names, site)
        sel = {name: (study.profile_stream(name), study.controls(name)) for name in names}
    else:
        profs = {k: v for k, v in study.profiles().items() if k in names}
        from gridstudy.studies.qsts.run import run_qsts

        n0 = {k: run_qsts(study.qsts_inputs(site, k, profs[k]), quiet=True) for k in names}
        starts = {k: window_start_site(site, n0[k], 0, profs[k]) for k in names}
        sel = {k: (profs[k][list(ENGINE_COLUMNS)], study.controls(k)) for k in names}
    n0_s = time.perf_counter() - t0
    times = []
    rows: list[dict] = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        rows = run_contingencies(site, credible, sel, study.preset, "fast", args.workers, start_sites=starts)
        times.append(time.perf_counter() - t0)
        pf = len(credible) * len(names) * n
        print(json.dumps({"n1_s": round(times[-1], 1), "pf_per_s": round(pf / times[-1])}))
    pf = len(credible) * len(names) * n
    print(json.dumps({
        "site": site.name, "days": args.days, "steps": n, "outages": len(credible), "scenarios": names,
        "workers": args.workers, "streamed": streamed, "n0_s": round(n0_s, 1),
        "n1_s_median": round(statistics.median(times), 1), "power_flows": pf,
        "pf_per_s": round(pf / statistics.median(times)),
        "failed_rows": sum(1 for r in rows if r.get("error")),
        "nonconverged_steps": int(sum(r.get("nonconverged_steps", 0) for r in rows)),
        "passed_rows": sum(1 for r in rows if r.get("pass")),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
