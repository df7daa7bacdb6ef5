"""The cost of the sub-second fluctuation windows beside the study-step horizon.

Runs the demo study's day at 1 s (both scenarios, fast engine), then ``--windows`` windows of
``--window-s`` at ``--step-s`` per scenario (the screened worst by the campus model's own
changes), each made by the campus model at the fine step, dispatched behind the plant response
and run from the 1-s state — what a study's sub-second assessment does — and prints one JSON line:
seconds and power flows per second of each part, per scenario. Target: a day's windows (24 x 10
min at 20 ms = 720,000 steps per scenario) in 10 s or less per scenario.

    .venv/bin/python benchmarks/fluctuation_windows.py --windows 24
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--study", default=str(ROOT / "examples" / "demo.toml"))
    ap.add_argument("--windows", type=int, default=24)
    ap.add_argument("--window-s", type=float, default=600.0)
    ap.add_argument("--step-s", type=float, default=0.02)
    ap.add_argument("--repeats", type=int, default=1, help="repeats of the window runs (median quoted)")
    args = ap.parse_args(argv)

    from gridstudy.studies.stages.fluctuation import choose_windows, run_window
    from gridstudy.studies.study import Study

    study = Study.from_file(args.study)
    settings = study.fluctuation.model_copy(update={"worst_windows": args.windows, "window_s": args.window_s,
                                                    "step_s": args.step_s, "events": False, "windows": []})
    site = study.build_site()
    t0 = time.perf_counter()
    profs = study.profiles()
    t_prof = time.perf_counter() - t0
    t0 = time.perf_counter()
    n0 = study.qsts(site=site)
    t_horizon = time.perf_counter() - t0
    windows = choose_windows(study, settings)
    out = {"study": study.name, "site": site.name, "horizon_steps": len(study.index), "study_step_s": study.step_s,
           "profiles_s": round(t_prof, 2), "horizon_qsts_s": round(t_horizon, 2),
           "horizon_pf_per_s": round(len(study.index) * len(profs) / t_horizon), "windows": len(windows),
           "window_s": args.window_s, "step_s": args.step_s, "scenarios": {}}
    for name, strat in study.strategies().items():
        times, steps = [], 0
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            steps = 0
            for w in windows:
                r = run_window(study, site, name, strat, n0[name], profs[name], w, settings)
                steps += len(r.poi_vm_pu)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        out["scenarios"][name] = {"window_steps": steps, "windows_s": round(med, 2), "windows_pf_per_s": round(steps / med)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
