"""Power flows per second of the fast QSTS engine against pandapower and lightsim2grid.

Usage::

    python benchmarks/qsts_speed.py --site feeder-34.5kv --steps 1000000

One process runs the same campus-load profile (``models.campus.campus_load`` at 1 s, scaled to
the site's campus peak, seeded) through

- pandapower ``run_timeseries`` (``ConstControl`` + ``DFData`` on the campus loads, recycle on,
  only ``res_bus.vm_pu`` logged: its fast path, checked after the run), on the first
  ``--pp-steps`` steps;
- lightsim2grid's C++ time-series solver (``TimeSeriesCPP``, Newton-Raphson with KLU, warm start
  from the previous step) on the same steps as the fast engine;
- the fast engine (:func:`gridstudy.studies.qsts.fast.solve_series`, taps frozen so all three solve the same
  power flows; one thread, like the other two; block outputs are computed, the recorder is a
  no-op sink);

and prints one final JSON line. Rates are medians over ``--repeats`` runs (compilation excluded:
a warm-up run first). ``max_dv_pu`` is the largest |V_fast - V_pandapower| over the pandapower steps
(pandapower ``runpp`` per step, ``tolerance_mva=1e-10``). Not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

warnings.filterwarnings("ignore", category=FutureWarning)


def campus_profile(site, n: int, seed: int = 7) -> pd.DataFrame:
    """A noisy training-like campus draw at 1 s, peak near the site's campus rating. [MW, Mvar]"""
    idx = pd.date_range("2025-01-01", periods=n, freq="1s")
    try:
        from gridstudy.models.campus import CampusLoadParams, campus_load, gpus_for_peak

        base = CampusLoadParams(seed=seed)
        params = base.replace(gpus=gpus_for_peak(site.campus_p_mw, base))
        df = campus_load(idx, params)
        return pd.DataFrame({"campus_p_mw": df["campus_p_mw"].to_numpy()}, index=idx)
    except ImportError:  # square wave + noise, seeded
        rng = np.random.default_rng(seed)
        k = np.arange(n)
        p = site.campus_p_mw * (0.55 + 0.4 * ((k // 2) % 2) + 0.03 * rng.standard_normal(n))
        return pd.DataFrame({"campus_p_mw": p}, index=idx)


def run_pandapower(inputs, steps: int):
    """pandapower run_timeseries over the first ``steps`` steps; returns ``(pf_per_s, vm[steps, bus])``."""
    import copy

    import pandapower as pp
    from pandapower.control import ConstControl
    from pandapower.timeseries import DFData, OutputWriter, run_timeseries

    from gridstudy.studies.qsts.apply import element_series

    es = element_series(inputs)
    cols = [f"p{i}" for i in es.load_index] + [f"q{i}" for i in es.load_index]
    df = pd.DataFrame(np.hstack([es.load_p_mw[:steps], es.load_q_mvar[:steps]]), columns=cols)

    def prepared():
        # a fresh net and OutputWriter per run: run_timeseries rewrites the writer's log variables
        # for its fast path, so a second run with the same writer silently loses that path
        net = copy.deepcopy(inputs.site.net)
        ds = DFData(df)
        ConstControl(net, "load", "p_mw", element_index=es.load_index, data_source=ds,
                     profile_name=cols[:len(es.load_index)])
        ConstControl(net, "load", "q_mvar", element_index=es.load_index, data_source=ds,
                     profile_name=cols[len(es.load_index):])
        OutputWriter(net, time_steps=range(steps), output_path=None, log_variables=[("res_bus", "vm_pu")])
        return net

    logging.getLogger("pandapower").setLevel(logging.CRITICAL)
    # warm-up on its own net: the recycled path compiles its numba functions on first use
    # (~10-20 s here), which is not power-flow time
    run_timeseries(prepared(), time_steps=range(min(20, steps)), verbose=False, lightsim2grid=False, numba=True)
    net = prepared()
    t0 = time.perf_counter()
    run_timeseries(net, time_steps=range(steps), verbose=False, lightsim2grid=False, numba=True)
    wall = time.perf_counter() - t0
    if net.output_writer.object.at[0].log_variables[0][0] != "ppc_bus":
        raise RuntimeError("pandapower run_timeseries did not take its only-voltages fast path")
    # accuracy oracle: runpp per step at tolerance 1e-10 MVA
    net2 = copy.deepcopy(inputs.site.net)
    vm = np.zeros((steps, len(net2.bus)))
    for i in range(steps):
        net2.load.loc[es.load_index, "p_mw"] = es.load_p_mw[i]
        net2.load.loc[es.load_index, "q_mvar"] = es.load_q_mvar[i]
        pp.runpp(net2, tolerance_mva=1e-10, lightsim2grid=False, init="results" if i else "auto")
        vm[i] = net2.res_bus.vm_pu.reindex(net2.bus.index).to_numpy()
    return steps / wall, vm


def _impedances_to_lines(net) -> str:
    """Replace symmetric series ``impedance`` elements (lightsim2grid has none) by the same
    impedance as a line without charging: ``r_ohm = rft_pu · vn_kv² / sn_mva``. [ohm]"""
    import pandapower as pp

    imp = net.impedance
    if not len(imp):
        return ""
    for _, row in imp.iterrows():
        if not (row.rft_pu == row.rtf_pu and row.xft_pu == row.xtf_pu):
            raise RuntimeError("asymmetric impedance: no lightsim2grid equivalent")
        vn = float(net.bus.at[row.from_bus, "vn_kv"])
        zb = vn * vn / float(row.sn_mva)
        pp.create_line_from_parameters(net, int(row.from_bus), int(row.to_bus), 1.0, row.rft_pu * zb,
                                       row.xft_pu * zb, 0.0, 1e6, name=f"{row['name']} (as line)",
                                       in_service=bool(row.in_service))
    net.impedance = net.impedance.iloc[0:0]
    return " (source impedance as an equivalent line)"


def _object_columns_to_float(net) -> str:
    """Cast the numeric columns that a net stores as ``object`` (SimBench: ``min_p_mw``,
    ``max_p_mw``, ``slack_weight`` of ``sgen`` and others, mixed with ``None``) to float, NaN for
    missing: lightsim2grid's converter calls ``np.isfinite`` on them. Works on the caller's copy."""
    fixed = []
    for tab in ("sgen", "gen", "load", "storage", "ext_grid", "shunt", "ward", "xward"):
        df = net[tab] if tab in net else None
        if df is None or not len(df.columns):
            continue
        for col in df.columns:
            if col.endswith(("_mw", "_mvar", "_pu", "_weight", "_percent", "_kv", "_mva")) and df[col].dtype == object:
                df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
                fixed.append(f"{tab}.{col}")
    return f" (cast to float: {', '.join(fixed)})" if fixed else ""


def lightsim2grid_series(inputs):
    """lightsim2grid's ``TimeSeriesCPP`` (NR with KLU where built, one thread) on the steps of
    ``inputs``, warm-started from pandapower's solution of the base case. Returns ``(solve,
    note, sn_mva)``: ``solve(tol_pu)`` runs every step and returns whether all converged (its
    tolerance is on the nodal mismatch in per unit of the net's ``sn_mva``: the fast engine's
    ``tolerance_mva`` divided by ``sn_mva``); ``None`` when lightsim2grid is not installed."""
    try:
        from lightsim2grid.algorithm import AlgorithmType
        from lightsim2grid.network import init_from_pandapower
        from lightsim2grid.timeSerie import TimeSeriesCPP
    except ImportError:
        return None
    import copy

    import pandapower as pp

    from gridstudy.studies.qsts.apply import element_series

    net = copy.deepcopy(inputs.site.net)
    note = _impedances_to_lines(net) + _object_columns_to_float(net)
    pp.runpp(net, lightsim2grid=False)
    model = init_from_pandapower(net)
    es = element_series(inputs)
    n = len(inputs.profiles)
    # lightsim2grid's loads are net.load in order; the storages are separate elements (idle here)
    load_p = np.tile(net.load.p_mw.to_numpy(dtype=float), (n, 1))
    load_q = np.tile(net.load.q_mvar.to_numpy(dtype=float), (n, 1))
    pos = {int(i): k for k, i in enumerate(net.load.index)}
    for j, li in enumerate(es.load_index):
        load_p[:, pos[int(li)]] = es.load_p_mw[:, j]
        load_q[:, pos[int(li)]] = es.load_q_mvar[:, j]
    gen_p = np.tile(np.array([g.target_p_mw for g in model.get_generators()], dtype=float), (n, 1))
    sgen_p = np.tile(np.array([g.target_p_mw for g in model.get_static_generators()], dtype=float), (n, 1))
    ts = TimeSeriesCPP(model)
    algo = "NR_KLU"
    if AlgorithmType.NR_KLU in ts.available_default_algorithms():
        ts.change_algorithm(AlgorithmType.NR_KLU)
    else:
        algo = "NR_SparseLU"
    # start from pandapower's solution of the base case (lightsim2grid's bus order is net.bus order)
    Vinit = np.ones(model.total_bus(), dtype=np.complex128)
    res = net.res_bus.reindex(net.bus.index)
    Vinit[: len(net.bus)] = (res.vm_pu.fillna(1.0) * np.exp(1j * np.deg2rad(res.va_degree.fillna(0.0)))).to_numpy()

    def solve(tol_pu: float) -> bool:
        return ts.compute_Vs(gen_p, sgen_p, load_p, load_q, Vinit, 30, tol_pu) == 1

    solve.solved = ts.nb_solved  # steps solved by the last call
    return solve, f"{algo}{note}", float(net.sn_mva)


def run_lightsim2grid(inputs, repeats: int, tolerance_mva: float = 1e-8):
    """lightsim2grid TimeSeriesCPP over all steps; returns the median pf/s (None if unavailable).

    lightsim2grid's tolerance is on the nodal mismatch in per unit of the net's ``sn_mva``: the
    same criterion as the fast engine's ``tolerance_mva`` once divided by ``sn_mva``."""
    ls = lightsim2grid_series(inputs)
    if ls is None:
        return None, "lightsim2grid not installed"
    solve, note, sn_mva = ls
    n = len(inputs.profiles)
    # the same tolerance as the fast engine; where lightsim2grid cannot reach it (its mismatch
    # floor on the large PEGASE cases lies above 1e-10 pu) 100× looser, which only flatters it
    for tol_pu in (tolerance_mva / sn_mva, 100.0 * tolerance_mva / sn_mva):
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            ok = solve(tol_pu)
            wall = time.perf_counter() - t0
            if not ok:
                break
            rates.append(n / wall)
        if len(rates) == repeats:
            return statistics.median(rates), f"{note}, tol {tol_pu:.0e} pu"
    return None, f"lightsim2grid diverged after {solve.solved()} steps"


def measure(site, steps: int, pp_steps: int = 1000, repeats: int = 3, block_steps: int = 8192) -> dict:
    """Run the three solvers on ``site`` (campus profile of ``steps`` steps, taps frozen) and
    return the result line as a dict (see the module docstring)."""
    from gridstudy.studies.qsts.fast import build_model, solve_series
    from gridstudy.studies.qsts.inputs import Controls, QSTSInputs, TapControl

    prof = campus_profile(site, steps)
    inputs = QSTSInputs(site, prof, Controls(taps=TapControl(enabled=False)))
    pp_steps = min(pp_steps, steps)

    # fast engine: warm-up (numba compile, Ybus), then timed repeats
    model = build_model(inputs)
    first = {}

    def keep(start, vm, *rest):
        if start < pp_steps:
            first[start] = vm

    solve_series(model, inputs, keep, block_steps=block_steps)
    vm_fast = np.vstack([first[s] for s in sorted(first)])[:pp_steps]
    rates, stats = [], {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        stats = solve_series(model, inputs, lambda *a: None, block_steps=block_steps)
        rates.append(steps / (time.perf_counter() - t0))
    fast = statistics.median(rates)

    pp_rate, vm_pp = run_pandapower(inputs, pp_steps)
    ls_rate, ls_note = run_lightsim2grid(inputs, repeats)
    return {
        "site": site.name,
        "buses": int(len(site.net.bus)),
        "steps": steps,
        "pandapower_steps": pp_steps,
        "fast_pf_per_s": round(fast),
        "pandapower_pf_per_s": round(pp_rate, 1),
        "lightsim2grid_pf_per_s": None if ls_rate is None else round(ls_rate),
        "lightsim2grid_solver": ls_note,
        "speedup_vs_pandapower": round(fast / pp_rate, 1),
        "speedup_vs_lightsim2grid": None if ls_rate is None else round(fast / ls_rate, 2),
        "max_dv_pu": float(np.nanmax(np.abs(vm_fast - vm_pp))),
        "fast_factorisations": stats.get("factorisations"),
        "fast_failed_steps": stats.get("failed_steps"),
        "fast_retried_steps": stats.get("retried_steps"),
        "repeats": repeats,
        "note": f"pandapower run_timeseries on the first {pp_steps} steps (rate per step); "
                "fast (outputs included) and lightsim2grid (voltages only) on all steps; taps frozen; "
                "tolerance 1e-8 MVA for both; medians over repeats; one thread",
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--site", default="feeder-34.5kv", help="reference site name or network (case:NAME, simbench:CODE)")
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--pp-steps", type=int, default=1000, help="steps run through pandapower (fewer: it is slow)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--block-steps", type=int, default=8192)
    ap.add_argument("--poi", default=None, help="POI bus for a network (case:/simbench:)")
    ap.add_argument("--campus-mw", type=float, default=None)
    ap.add_argument("--battery-units", type=int, default=0, help="Megapack units at the POI of a network")
    ap.add_argument("--battery-model", default="megapack2xl-2h")
    args = ap.parse_args(argv)

    from gridstudy.grid.reference import load_site

    kw = {} if args.poi is None else {"poi": args.poi, "campus_p_mw": args.campus_mw,
                                       "battery_units": args.battery_units,
                                       "battery_model": args.battery_model if args.battery_units else None}
    site = load_site(args.site, **kw)
    print(json.dumps(measure(site, args.steps, args.pp_steps, args.repeats, args.block_steps)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
