"""Power flows per second against bus count: the fast QSTS engine, lightsim2grid and pandapower.

Usage::

    python benchmarks/scaling.py                 # every grid, its default number of steps
    python benchmarks/scaling.py --steps 2000    # the same number of steps on every grid
    python benchmarks/scaling.py --only case118 case300

Per grid (two reference sites, then networks from 118 to 2,869 buses, each with a campus and a
battery attached at a POI bus where the power flow converges) the same campus-load profile at 1 s
(:func:`qsts_speed.campus_profile`) runs through three solvers in one process, one thread each,
taps frozen: the fast engine (outputs included, :func:`gridstudy.studies.qsts.fast.solve_series`)
and lightsim2grid's ``TimeSeriesCPP`` (NR with KLU, voltages only) on all steps, pandapower
``run_timeseries`` on the first ``--pp-steps``.

Tolerance: 1e-8 MVA of nodal mismatch for both the fast engine and lightsim2grid (1e-10 pu on a
100 MVA base). Where lightsim2grid cannot converge at it (its mismatch floor on the PEGASE cases
lies above 1e-10 pu), both run at 100× that, the tolerance both reach (``tolerance_mva`` in the
line, ``lightsim2grid_strict`` false), and the fast engine's rate at 1e-8 MVA is printed beside it
(``fast_strict_*``, ratio ``speedup_strict_*``).

Timing: after a warm-up of each (numba compilation, lightsim2grid's first run), ``--repeats``
rounds each time the fast engine and lightsim2grid back to back, in alternating order, so that
each round's ratio compares two runs under the same machine load. Rates and ratios are given as
the median with the min and max over the rounds (``*_min``, ``*_max``), from wall-clock time and,
as a check on a shared machine, from the process's CPU time (``cpu_*``; both solvers run one
thread, so on a quiet machine the two agree).

``max_dv_pu`` is the largest |V_fast - V_runpp| over the first ``--pp-steps`` steps (the fast
engine at the tolerance it is timed at; ``runpp`` at ``tolerance_mva=1e-10``).

Prints one JSON line per grid as it goes, then a table. Not a test: performance is judged here,
never in timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

warnings.filterwarnings("ignore")

#: (label, site argument, attach arguments (None: a reference site), default steps)
GRIDS: list[tuple[str, str, dict | None, int]] = [
    ("memphis-161kv", "memphis-161kv", None, 100_000),
    ("austin-345kv", "austin-345kv", None, 100_000),
    ("case118", "case:case118", {"poi": 10, "campus_p_mw": 50.0}, 20_000),
    ("case300", "case:case300", {"poi": 10, "campus_p_mw": 50.0}, 10_000),
    ("simbench-hv-urban", "simbench:1-HV-urban--0-no_sw", {"poi": 37, "campus_p_mw": 50.0}, 20_000),
    ("case1354pegase", "case:case1354pegase", {"poi": 10, "campus_p_mw": 50.0}, 3_000),
    ("case2869pegase", "case:case2869pegase", {"poi": 10, "campus_p_mw": 50.0}, 2_000),
]

#: Battery attached with every network's campus. [units of the Megapack model]
BATTERY = {"battery_model": "megapack2xl-2h", "battery_units": 8}


#: Nodal mismatch tolerance of both solvers; 100× looser where lightsim2grid cannot reach it. [MVA]
TOL_MVA = 1e-8


def _spread(xs: list[float], name: str, digits: int = 0) -> dict:
    """``name`` (median), ``name_min``, ``name_max`` of ``xs``, rounded."""
    def r(x: float) -> float:
        return round(x, digits) if digits else round(x)
    return {name: r(statistics.median(xs)), f"{name}_min": r(min(xs)), f"{name}_max": r(max(xs))}


def _timed(fn) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def measure(site, steps: int, pp_steps: int, repeats: int, block_steps: int) -> dict:
    """The grid's result line (module docstring)."""
    from qsts_speed import campus_profile, lightsim2grid_series, run_pandapower

    from gridstudy.studies.qsts.fast import build_model, solve_series
    from gridstudy.studies.qsts.inputs import Controls, QSTSInputs, TapControl

    inputs = QSTSInputs(site, campus_profile(site, steps), Controls(taps=TapControl(enabled=False)))
    pp_steps = min(pp_steps, steps)

    # lightsim2grid: the warm-up run finds the tolerance it reaches
    ls = lightsim2grid_series(inputs)
    tol, strict, ls_note, ls_solve = TOL_MVA, True, "lightsim2grid not installed", None
    if ls is not None:
        solve, note, sn_mva = ls
        for k, t in enumerate((TOL_MVA, 100.0 * TOL_MVA)):
            if solve(t / sn_mva):
                tol, strict, ls_solve = t, k == 0, solve
                ls_note = f"{note}, tol {t / sn_mva:.0e} pu"
                break
        else:
            ls_note = f"{note}: diverged after {solve.solved()} steps at {100.0 * TOL_MVA / sn_mva:.0e} pu"

    # the fast engine at the common tolerance (and at 1e-8 MVA where that is looser)
    model = build_model(inputs, tolerance_mva=tol)
    first: dict[int, np.ndarray] = {}

    def keep(start, vm, *rest):
        if start < pp_steps:
            first[start] = vm

    def fast(t: float = tol) -> dict:
        return solve_series(model, inputs, lambda *a: None, block_steps=block_steps, tolerance_mva=t)

    stats = solve_series(model, inputs, keep, block_steps=block_steps, tolerance_mva=tol)  # warm-up
    vm_fast = np.vstack([first[s] for s in sorted(first)])[:pp_steps]
    runs: dict[str, list[tuple[float, float]]] = {"fast": [], "ls": [], "strict": []}
    jobs = [("fast", fast)]
    if ls_solve is not None:
        jobs.append(("ls", lambda: ls_solve(tol / sn_mva)))
    if not strict:
        jobs.append(("strict", lambda: fast(TOL_MVA)))
        fast(TOL_MVA)  # its warm-up
    for r in range(repeats):  # rounds; the order alternates so that neither always runs first
        for name, fn in (jobs if r % 2 == 0 else jobs[::-1]):
            runs[name].append(_timed(fn))

    row = {"site": site.name, "buses": int(len(site.net.bus)), "steps": steps, "repeats": repeats,
           "tolerance_mva": tol, "lightsim2grid_strict": strict, "lightsim2grid_solver": ls_note}
    for c, label in ((0, ""), (1, "cpu_")):
        row.update(_spread([steps / t[c] for t in runs["fast"]], f"{label}fast_pf_per_s"))
        if runs["ls"]:
            row.update(_spread([steps / t[c] for t in runs["ls"]], f"{label}lightsim2grid_pf_per_s"))
            row.update(_spread([b[c] / a[c] for a, b in zip(runs["fast"], runs["ls"], strict=True)],
                               f"{label}speedup_vs_lightsim2grid", 2))
        if runs["strict"]:
            row.update(_spread([steps / t[c] for t in runs["strict"]], f"{label}fast_strict_pf_per_s"))
            row.update(_spread([b[c] / a[c] for a, b in zip(runs["strict"], runs["ls"], strict=True)],
                               f"{label}speedup_strict_vs_lightsim2grid", 2))
    pp_rate, vm_pp = run_pandapower(inputs, pp_steps)
    row.update({"pandapower_steps": pp_steps, "pandapower_pf_per_s": round(pp_rate, 1),
                "max_dv_pu": float(np.nanmax(np.abs(vm_fast - vm_pp))),
                "fast_factorisations": stats.get("factorisations"), "fast_failed_steps": stats.get("failed_steps"),
                "fast_retried_steps": stats.get("retried_steps")})
    return row


def _cell(r: dict, name: str, digits: int = 0) -> str:
    """``median [min-max]`` of ``name`` in ``r``, or ``-``."""
    if name not in r:
        return "-"
    f = f"{{:.{digits}f}}"
    return f"{f.format(r[name])} [{f.format(r[name + '_min'])}-{f.format(r[name + '_max'])}]"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=None, help="steps per grid (default: per grid, tens of seconds each)")
    ap.add_argument("--pp-steps", type=int, default=50, help="steps run through pandapower per grid")
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds of both solvers per grid")
    ap.add_argument("--only", nargs="*", default=None, help="labels of the grids to run")
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # one thread for every solver

    from gridstudy.grid.reference import load_site

    rows = []
    for label, ref, attach, steps in GRIDS:
        if args.only and label not in args.only:
            continue
        site = load_site(ref) if attach is None else load_site(ref, **attach, **BATTERY)
        row = measure(site, args.steps or steps, args.pp_steps, args.repeats, block_steps=4096)
        row["grid"] = label
        print(json.dumps(row), flush=True)
        rows.append(row)
    print()
    print("median [min-max] over the rounds; wall-clock rates; cpu: the same ratio from process CPU time")
    print(f"{'grid':<18}{'buses':>6}{'tol MVA':>9}{'fast pf/s':>22}{'lightsim2grid pf/s':>22}"
          f"{'fast/ls2g':>19}{'cpu fast/ls2g':>19}{'pandapower':>11}{'max dV pu':>11}")
    for r in rows:
        tol = f"{r['tolerance_mva']:.0e}" + ("" if r["lightsim2grid_strict"] else "*")
        print(f"{r['grid']:<18}{r['buses']:>6}{tol:>9}{_cell(r, 'fast_pf_per_s'):>22}"
              f"{_cell(r, 'lightsim2grid_pf_per_s'):>22}{_cell(r, 'speedup_vs_lightsim2grid', 2):>19}"
              f"{_cell(r, 'cpu_speedup_vs_lightsim2grid', 2):>19}{r['pandapower_pf_per_s']:>11}{r['max_dv_pu']:>11.1e}")
    for r in rows:
        if not r["lightsim2grid_strict"]:
            print(f"* {r['grid']}: lightsim2grid does not converge at {TOL_MVA:.0e} MVA; both at "
                  f"{r['tolerance_mva']:.0e} MVA. The fast engine at {TOL_MVA:.0e} MVA: "
                  f"{_cell(r, 'fast_strict_pf_per_s')} pf/s, {_cell(r, 'speedup_strict_vs_lightsim2grid', 2)}× "
                  f"lightsim2grid at {r['tolerance_mva']:.0e} MVA")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
