"""Power flows per second against bus count: the fast QSTS engine, lightsim2grid and pandapower.

Usage::

    python benchmarks/scaling.py                 # every grid, its default number of steps
    python benchmarks/scaling.py --steps 2000    # the same number of steps on every grid
    python benchmarks/scaling.py --only case118 case300

Per grid (two reference sites, then networks from 118 to 2,869 buses, each with a campus and a
battery attached at a POI bus where the power flow converges), :func:`qsts_speed.measure` runs the
same campus-load profile at 1 s through the three solvers in one process, one thread each, taps
frozen, tolerance 1e-8 MVA: the fast engine (outputs included) and lightsim2grid's
``TimeSeriesCPP`` (NR with KLU, voltages only) on all steps, pandapower ``run_timeseries`` on
the first ``--pp-steps``. Rates are medians over ``--repeats`` runs after a warm-up.
``max_dv_pu`` is the largest |V_fast - V_runpp| over the pandapower steps (``runpp`` at
``tolerance_mva=1e-10``).

Prints one JSON line per grid (``site``, ``buses``, ``fast_pf_per_s``, ``lightsim2grid_pf_per_s``,
``pandapower_pf_per_s``, ``speedup_vs_lightsim2grid``, ``max_dv_pu``, ...) as it goes, then a
table. Not a test: performance is judged here, never in timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=None, help="steps per grid (default: per grid, tens of seconds each)")
    ap.add_argument("--pp-steps", type=int, default=50, help="steps run through pandapower per grid")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=None, help="labels of the grids to run")
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # one thread for every solver

    from qsts_speed import measure

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
    print(f"{'grid':<20}{'buses':>7}{'fast pf/s':>12}{'lightsim2grid':>15}{'pandapower':>12}{'vs ls2g':>9}{'max dV [pu]':>13}")
    for r in rows:
        ls = r["lightsim2grid_pf_per_s"]
        print(f"{r['grid']:<20}{r['buses']:>7}{r['fast_pf_per_s']:>12}{'-' if ls is None else ls:>15}"
              f"{r['pandapower_pf_per_s']:>12}{r['speedup_vs_lightsim2grid'] or '-':>9}{r['max_dv_pu']:>13.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
