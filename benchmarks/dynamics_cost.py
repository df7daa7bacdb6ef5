"""The cost of the RMS check (ANDES) for one 10-minute window beside the quasi-static window's.

Takes a study (default: a 30-minute horizon of the demo's campus at memphis-161kv, written here),
runs its study-step time series of ``with_battery``, the worst screened sub-second window of
``--window-s`` at the study's sub-second step through the quasi-static engine
(:func:`gridstudy.studies.stages.fluctuation.run_window`), then the RMS case of the whole window
(:func:`gridstudy.studies.stages.dynamics.run_case`, the plant as its generic models) — what the
``[dynamics]`` stage does for one window with ``window_s`` set to the window's length. Prints one
JSON line: medians over ``--repeats`` runs of each, steps and steps per second. Not a test.

    .venv/bin/python benchmarks/dynamics_cost.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_STUDY = """
[study]
name = "RMS cost"
site = "memphis-161kv"
start = "2025-07-15T00:00:00"
duration = "30min"
step_s = 1.0
seed = 7

[campus]
gpu_model = "h100"
swing_depth = 0.6
period_s = 1.5

[battery]
strategy = "ramp_limit"

[fluctuation]
step_s = 0.02
window_s = 600.0
warmup_s = 0.0
worst_windows = 1
events = false
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--study", default=None, help="a study file (default: the 30-minute study above)")
    ap.add_argument("--window-s", type=float, default=600.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plant", choices=("model", "schedule"), default="model")
    args = ap.parse_args(argv)

    import tempfile

    from gridstudy.studies.export.case import grid_equivalent
    from gridstudy.studies.stages.dynamics import run_case, window_case
    from gridstudy.studies.stages.fluctuation import choose_windows, run_window
    from gridstudy.studies.study import Study

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.study) if args.study else Path(tmp) / "study.toml"
        if not args.study:
            path.write_text(DEFAULT_STUDY)
        study = Study.from_file(path)
    settings = study.fluctuation.model_copy(update={"window_s": args.window_s, "worst_windows": 1, "events": False,
                                                    "windows": []})
    site = study.build_site()
    name = "with_battery"
    prof = study.profiles(only=name)[name]
    n0 = study.qsts(site=site)[name]
    win = choose_windows(study, settings)[0]
    grid = grid_equivalent(study)
    qsts_t, rms_t, run, res = [], [], None, None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run = run_window(study, site, name, study.strategy, n0, prof, win, settings)
        qsts_t.append(time.perf_counter() - t0)
        case = window_case(study, site, run, n0, prof, args.window_s, "benchmark window")
        t0 = time.perf_counter()
        res = run_case(case, grid, settings.step_s, args.plant)
        rms_t.append(time.perf_counter() - t0)
    assert run is not None and res is not None
    q_med, r_med = statistics.median(qsts_t), statistics.median(rms_t)
    steps = len(run.poi_vm_pu)
    rms_steps = len(res.series)
    print(json.dumps({
        "study": study.name, "site": site.name, "window": win.label, "window_s": args.window_s,
        "step_s": settings.step_s, "machine": grid.model, "plant": args.plant, "repeats": args.repeats,
        "qsts_window_s": round(q_med, 2), "qsts_steps": steps, "qsts_steps_per_s": round(steps / q_med),
        "rms_window_s": round(r_med, 2), "rms_steps": rms_steps, "rms_steps_per_s": round(rms_steps / r_med, 1),
        "rms_over_qsts": round(r_med / q_med, 1), "rms_converged": res.summary["converged"],
        "rms_max_abs_dv_vs_qsts_pu": res.summary["max_abs_dv_vs_qsts_pu"],
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
