"""The fast QSTS engine: a warm-started chord Newton-Raphson over blocks of steps, compiled with
numba, on the admittance matrix pandapower itself builds for the net.

How it works
------------
- The net is pandapower's own internal model of it (:mod:`gridstudy.studies.qsts.fast_model`): ``Ybus``,
  bus types and the constant part of ``Sbus`` as ``runpp`` builds them, ``Ybus`` per tap position.
- Per step, the changing loads and storages (:func:`gridstudy.studies.qsts.apply.element_series`, the same
  values the reference engine writes into the net) update ``Sbus``; the ``ext_grid`` voltage set
  point updates the slack voltage. Loads are constant power (``const_z``/``const_i`` = 0).
- The compiled kernel (:mod:`gridstudy.studies.qsts.fast_kernel`) solves step after step with a fixed
  (chord) Jacobian. Each step first takes a first-order predictor from its start point: the
  changing injections enter the mismatch linearly, so ``J⁻¹`` times their change is the chord
  step for them, without a mismatch or a solve; the chord iterations then correct it. Small nets
  (Jacobian order ≤ :data:`gridstudy.studies.qsts.fast_model.DENSE_MAX`) keep a cache of
  :data:`JAC_CACHE` operating points — a Jacobian inverse with the voltages where it was taken —
  keyed by the changing injections: a step starts from the nearest cached point or from the
  previous step, whichever is nearer (training load swings between two levels, so the previous
  step is often the far one), and a step that needed :data:`INSERT_ITER` iterations adds its
  solution to the cache. Larger nets keep :data:`SPARSE_SLOTS` sparse LU factorisations
  (:class:`gridstudy.studies.qsts.fast_model.FactorSet`; minimum degree ordering and fill
  pattern worked out once per ``Ybus``, each factorisation numeric only), each at an
  operating point with the sensitivities of the unknowns to the key's components: a step
  iterates with the nearest one, and a step that needs more than :data:`SPARSE_REFRESH_ITER`
  chord iterations adds one at its solution (the least used is replaced when the set is full, at
  most once per :data:`SPARSE_COOLDOWN` steps). It starts from the nearest of the last
  :data:`JAC_CACHE` solutions (keyed like the dense cache) or the previous step, whichever is
  nearer. Blocks of large nets are shortened to :data:`BLOCK_BYTES` of output per array.
  When a tap moves, ``Ybus`` is switched (event-driven: the kernel stops at the step after which
  a tap moves, the move takes effect from the next step). A step that fails is retried with a
  full Newton-Raphson, first from the last good voltages, then from the initial ones. A step that
  still fails is reported ``converged=False`` with NaN voltages (voltage collapse), never dropped.
- Blocks of steps are turned into outputs (bus voltages, branch loadings, slack import) by a
  second compiled pass and streamed into the recorder; with ``pipeline`` the next block is solved
  in a second thread meanwhile.
- Volt-var: per step, solve ↔ battery Q is iterated to a fixed point (``|ΔQ| <``
  :data:`gridstudy.studies.qsts.controllers.Q_TOL_MVAR`), with the plant's response time (the
  implicit first-order lag of :mod:`gridstudy.studies.qsts.controllers`).
- Campus voltage dependence (``Controls.campus_voltage``): the campus loads' injection is a
  function of their bus voltage inside the Newton iterations (mismatch and Jacobian), see
  :mod:`gridstudy.studies.qsts.fast_kernel`.
- Grid-forming plant (``Controls.grid_forming``, :mod:`gridstudy.studies.qsts.grid_forming`): its
  EMF is one more slack whose magnitude and angle the kernel sets from the loop's state each step,
  advancing the loop after each converged step. The steps where the plant is a constant-power
  injection (the run's first converged step, at its set-point, and the current-limited steps, on
  the limit circle) are solved here with a full Newton-Raphson on the model with the EMF's bus as
  a PQ bus (:meth:`FastModel.with_pq_bus`), like the reference engine's ``runpp`` of those steps.

Supported nets: see :mod:`gridstudy.studies.qsts.fast_model`; anything else raises
:class:`gridstudy.studies.errors.StudyError` naming it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm import tqdm

from gridstudy.models.campus_voltage import multiplier, multiplier_slope
from gridstudy.models.grid_forming import N_STATE
from gridstudy.studies.errors import NotConvergedError
from gridstudy.studies.qsts import fast_kernel as K
from gridstudy.studies.qsts.apply import element_series
from gridstudy.studies.qsts.controllers import Q_TOL_MVAR, tap_direction_lowering, tap_settings, volt_var_update
from gridstudy.studies.qsts.fast_model import FactorSet, FastModel, build_model, unsupported_features
from gridstudy.studies.qsts.fast_output import BlockOutput
from gridstudy.studies.qsts.grid_forming import LIMIT_EPS, advance, current_limited, set_points, start_state
from gridstudy.studies.qsts.inputs import QSTSInputs
from gridstudy.studies.qsts.results import CURRENT_LIMITED, BlockRecorder, BlockSink, QSTSResult, ResultRecorder

__all__ = ["run_fast", "FastModel", "build_model", "unsupported_features"]

#: Operating points (voltages and Jacobian inverse) cached per run in dense mode. [-]
JAC_CACHE = 32
#: Chord iterations allowed per step (per volt-var pass) before the step is handed to the full
#: Newton-Raphson retry. [-]
CHORD_MAX_ITER = 40
#: A step that needs this many chord iterations or more adds its solution and Jacobian to the
#: cache. [-]
INSERT_ITER = 5
#: Sparse mode: a step whose first volt-var pass needs more chord iterations than this (after the
#: predictor) adds a factorisation of the Jacobian at its solution for the steps after it. [-]
SPARSE_REFRESH_ITER = 1
#: Sparse mode: factorisations kept, each at its operating point. [-]
SPARSE_SLOTS = 8
#: Sparse mode: steps after a replacement in a full set of factorisations before the next one
#: (bounds the factorisations of a run whose operating points keep moving). [-]
SPARSE_COOLDOWN = 1024
#: Largest size of a block's per-step output arrays (complex voltages, magnitudes, loadings):
#: blocks of large nets are shorter than ``block_steps`` so that each array stays in the
#: allocator's reused heap instead of fresh, zero-filled pages. [bytes]
BLOCK_BYTES = 16 * 2**20
#: A dense chord iteration that shrinks the mismatch by less than this factor triggers a fresh
#: Jacobian at the current point. [-]
REFRESH_RATIO = 0.1

#: What solving one block gives :meth:`BlockOutput.emit`: ``(V, converged, iterations,
#: mismatch [MVA], volt-var Q, el_p, el_q, tap positions, segment starts, segment tap keys)``.
SolvedBlock = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                    list[int], list[tuple[int, ...]], np.ndarray | None]


#: The voltage-dependent loads of a step for :meth:`FastModel.newton`: ``|V| -> (extra S, dS/d|V|)``.
LoadsFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _tap_params(inputs: QSTSInputs, model: FastModel) -> tuple[np.ndarray, np.ndarray]:
    """The regulating trafos packed for :func:`gridstudy.studies.qsts.fast_kernel.tap_update`: ``tap_i``
    rows (enabled, LV bus (internal), the tap_pos change that lowers the LV voltage, tap_min,
    tap_max) and ``tap_f`` rows (vm_set [pu], deadband [pu], delay [s]); the same settings as
    :class:`gridstudy.studies.qsts.controllers.TapController` (:func:`~gridstudy.studies.qsts.controllers.tap_settings`)."""
    net, taps, tc = model.net, model.taps, inputs.controls.taps
    tap_i = np.zeros((5, len(taps)), dtype=np.int64)
    tap_f = np.zeros((3, len(taps)))
    for k, t in enumerate(taps):
        row = net.trafo.loc[t]
        tap_i[:, k] = (bool(tc.enabled), model.lookup[int(row.lv_bus)],
                       tap_direction_lowering(row.tap_side, float(row.tap_step_percent)),
                       int(row.tap_min), int(row.tap_max))
        tap_f[:, k] = tap_settings(net, int(t), tc.vm_set_pu, tc.deadband_pu, tc.delay_s)
    return tap_i, tap_f


def run_fast(inputs: QSTSInputs, quiet: bool = False, block_steps: int = 4096, *,
             tolerance_mva: float = 1e-8, recorder: BlockRecorder | None = None,
             pipeline: bool | None = None) -> QSTSResult:
    """Run the QSTS time series with the fast engine.

    Parameters
    ----------
    inputs : QSTSInputs
        Site, profiles, controls and what to record.
    quiet : bool
        No progress bar.
    block_steps : int
        Steps solved and recorded per block, at most; bounds the memory (blocks of large nets are
        shorter, see :data:`BLOCK_BYTES`). [-]
    tolerance_mva : float
        Largest nodal power mismatch of a converged step. [MVA]
    recorder : ResultRecorder, optional
        Where the blocks go; by default a :class:`gridstudy.studies.qsts.results.ResultRecorder`.
    pipeline : bool, optional
        Solve block ``b + 1`` in a second thread while block ``b`` is turned into outputs and
        streamed (same results). Default: when the machine has more than one CPU.

    Returns
    -------
    QSTSResult
        What ``recorder.finish()`` returns; ``summary["engine"] == "fast"``.
    """
    model = build_model(inputs, tolerance_mva=tolerance_mva)
    if recorder is None:
        recorder = ResultRecorder(inputs.site, cast(pd.DatetimeIndex, inputs.profiles.index), inputs.record,
                                  engine="fast",  # QSTSInputs checked the index
                                  extra_series=(CURRENT_LIMITED,) if inputs.controls.grid_forming is not None else ())
    t0 = time.perf_counter()
    if pipeline is None:
        pipeline = (os.cpu_count() or 1) > 1
    stats = solve_series(model, inputs, recorder.add_block, quiet=quiet, block_steps=block_steps,
                         tolerance_mva=tolerance_mva, pipeline=pipeline)
    stats["wall_s"] = time.perf_counter() - t0
    try:
        return recorder.finish(meta={"engine": "fast", **stats})
    except TypeError:
        return recorder.finish()


def solve_series(model: FastModel, inputs: QSTSInputs, sink: BlockSink, quiet: bool = True, block_steps: int = 4096,
                 tolerance_mva: float = 1e-8, pipeline: bool = False) -> dict[str, Any]:
    """Solve every step of ``inputs`` on ``model`` and call ``sink(start, vm_pu, loading_percent,
    series, converged, iterations, max_mismatch_mva)`` per block (see
    :meth:`gridstudy.studies.qsts.results.ResultRecorder.add_block`). Returns run statistics.

    ``pipeline``: solve the next block in a second thread while this one turns the current block
    into outputs and calls ``sink`` (the results are the same; the kernel releases the GIL)."""

    site, net = inputs.site, model.net
    es = element_series(inputs, 0, 0)  # the index lists; values are mapped block by block
    n = len(inputs.profiles)
    per_step = 16 * model.nb + 8 * max(model.nb, len(model.branch_is))  # bytes of the largest rows
    block_steps = max(1, min(int(block_steps), BLOCK_BYTES // per_step))
    dt = inputs.step_s
    base = model.baseMVA
    tol = tolerance_mva / base

    # ---- changing elements: loads and storages (delta consumer power from the converted net)
    el_tab, el_idx = [], []
    el_tab += ["load"] * len(es.load_index)
    el_idx += list(es.load_index)
    el_tab += ["storage"] * len(es.storage_index)
    el_idx += list(es.storage_index)
    # per-element profiles of generation: sgen and gen produce positive (pandapower's sign for
    # those tables), so their weight below is negative to enter Sbus as consumer power
    el_tab += ["sgen"] * len(es.sgen_index) + ["gen"] * len(es.gen_index)
    el_idx += list(es.sgen_index) + list(es.gen_index)
    vv = inputs.controls.volt_var
    vv_storages = [int(s) for s in site.storages if bool(net.storage.at[s, "in_service"])] if vv is not None else []
    for s in vv_storages:
        if not any(t == "storage" and i == s for t, i in zip(el_tab, el_idx, strict=True)):
            el_tab.append("storage")
            el_idx.append(s)
    ne = len(el_idx)
    el_bus = np.zeros(ne, np.int64)
    el_w = np.zeros(ne)
    el_p0 = np.zeros(ne)
    el_q0 = np.zeros(ne)
    el_scale = np.zeros(ne)
    for e, (tab, i) in enumerate(zip(el_tab, el_idx, strict=True)):
        row = net[tab].loc[i]
        b = model.lookup[int(row.bus)]
        live = bool(row.in_service) and b < model.nb
        el_bus[e] = b if b < model.nb else 0
        el_scale[e] = float(row.scaling) if live else 0.0
        el_w[e] = (-1.0 if tab in ("sgen", "gen") else 1.0) * el_scale[e] / base
        el_p0[e] = float(row.p_mw)
        el_q0[e] = 0.0 if tab == "gen" else float(row.q_mvar)  # a gen's Q follows from its voltage set point
    col_load = {i: e for e, (t, i) in enumerate(zip(el_tab, el_idx, strict=True)) if t == "load"}
    col_st = {i: e for e, (t, i) in enumerate(zip(el_tab, el_idx, strict=True)) if t == "storage"}
    col_sgen = {i: e for e, (t, i) in enumerate(zip(el_tab, el_idx, strict=True)) if t == "sgen"}
    col_gen = {i: e for e, (t, i) in enumerate(zip(el_tab, el_idx, strict=True)) if t == "gen"}
    vv_el = np.array([col_st[s] for s in vv_storages], dtype=np.int64)
    vv_bus = el_bus[vv_el] if len(vv_el) else np.zeros(0, np.int64)
    vv_sn = net.storage.loc[vv_storages, "sn_mva"].to_numpy(dtype=float) if vv_storages else np.zeros(0)
    vv_cv = np.asarray(vv.v_pu if vv is not None else (0.0, 1.0), dtype=float)
    vv_cq = np.asarray(vv.q_pu if vv is not None else (0.0, 0.0), dtype=float)
    vv_p0 = el_p0[vv_el] if len(vv_el) else np.zeros(0)
    vv_q0 = el_q0[vv_el] if len(vv_el) else np.zeros(0)
    vv_q = np.zeros(len(vv_el))  # current Q minus base Q [Mvar]
    # the plant's response time: fraction of the gap to the curve closed per step [-]
    vv_alpha = float(vv.lag_factor(dt)) if vv is not None and hasattr(vv, "lag_factor") else 1.0

    # ---- voltage-dependent campus loads (models.campus_voltage)
    cv = inputs.controls.campus_voltage
    vd_el = np.array([col_load[int(c)] for c in site.campus_loads if el_w[col_load[int(c)]] != 0.0]
                     if cv is not None else [], dtype=np.int64)
    vd_p0, vd_q0 = el_p0[vd_el].copy(), el_q0[vd_el].copy()
    vd_par = np.asarray(cv.params if cv is not None else (0.0, 1.0, 0.0, 0.0), dtype=float)
    vd = (vd_el, vd_p0, vd_q0, vd_par)

    def vd_dsd(Vmag: np.ndarray, j: int, p_rows: np.ndarray, q_rows: np.ndarray) -> np.ndarray:
        """The loads' ``d(S)/d|V|`` per internal bus at step ``j`` of a block [pu] (sparse factors)."""

        out = np.zeros(model.nb, dtype=np.complex128)
        for a, e in enumerate(vd_el):
            b = el_bus[e]
            s_sched = el_w[e] * complex(vd_p0[a] + p_rows[j, e], vd_q0[a] + q_rows[j, e])
            out[b] += s_sched * multiplier_slope(float(Vmag[b]), *vd_par)
        return out

    # ---- slack voltages per step
    eg_bus = model.lookup[net.ext_grid.loc[es.ext_grid_index, "bus"].to_numpy(dtype=np.int64)] if len(es.ext_grid_index) else np.zeros(0, np.int64)
    ref_bus = np.asarray(eg_bus, dtype=np.int64)

    # ---- grid-forming plant: its EMF is the last slack (kernel arguments gfm_*)
    gfm = model.gfm
    gfm_r, gfm_t, gfm_g = -1, 0, 0
    gfm_par = np.zeros(1)
    gfm_c = np.zeros(4)
    gfm_x = np.zeros(N_STATE)
    gfm_started = False  # the loop's state is set (from the run's first converged step)
    model_pq = model
    if gfm is not None:
        gfm_g, gfm_t = int(model.lookup[gfm.internal_bus]), int(model.lookup[gfm.bus])
        ref_bus = np.r_[ref_bus, gfm_g].astype(np.int64)
        gfm_r = len(ref_bus) - 1
        gfm_par = gfm.parameters
        gfm_c = np.array([model.baseMVA / gfm.sn_mva, gfm.control.current_limit_pu, LIMIT_EPS, model.baseMVA])
        model_pq = model.with_pq_bus(gfm_g)

    # ---- taps
    tap_i, tap_f = _tap_params(inputs, model)
    tap_pos = model.tap_pos0.copy()
    timers = np.zeros((2, len(tap_pos)))  # up, down [s]

    def tap_args() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:  # the kernel's tap arguments (tap_pos and timers change in place)
        return (tap_i, tap_f, tap_pos, timers, dt)

    Ybus, Yf, Yt, branch = model.ybus(tap_pos)
    V = model.V_init.copy()
    Vm, Va = np.abs(V), np.angle(V)
    dense = model.dense
    m = len(model.pvpq) + len(model.pq)
    md = m if dense else 0
    Jc = np.zeros((JAC_CACHE, md, md))
    kd = 2 * ne + len(ref_bus) + (1 if gfm is not None else 0)
    Ckey = np.zeros((JAC_CACHE, kd))
    CVm = np.zeros((JAC_CACHE, model.nb))
    CVa = np.zeros((JAC_CACHE, model.nb))
    CV = np.zeros((JAC_CACHE if not dense else 0, model.nb), dtype=np.complex128)  # sparse: recent solutions
    Jstate = np.zeros(4, dtype=np.int64)  # used slots, next slot to replace, inversions, key_prev set
    key_prev = np.zeros(kd)
    # slack voltages enter the cache key as power: weighted by |Y_ref,ref| [pu power / pu voltage]
    ydiag = np.abs(Ybus.diagonal())
    ref_w = ydiag[ref_bus].astype(float) if len(ref_bus) else np.zeros(0)
    cache = (Jc, Ckey, CVm, CVa, CV, Jstate, key_prev, np.vstack([model.pos_a, model.pos_m]))
    fs = FactorSet(1, kd, 1) if dense else FactorSet(m, kd, SPARSE_SLOTS)

    def step_key(j: int, p_rows: np.ndarray, q_rows: np.ndarray) -> np.ndarray:
        """The kernel's key of step ``j`` of a block (volt-var elements: their Q state)."""
        q = q_rows[j].copy()
        q[vv_el] = vv_q
        key: np.ndarray = np.r_[el_w * p_rows[j], el_w * q, ref_w * ref_vm_now[j]]
        return key if gfm is None else np.r_[key, ref_w[gfm_r] * gfm_va_now[j]]

    def add_factor(Vc: np.ndarray, keyc: np.ndarray, dsd: np.ndarray | None = None) -> None:
        """Factorise the Jacobian at ``Vc`` into the set, with the sensitivities of the unknowns to
        the key's components (:meth:`FastModel.injection_columns`)."""
        fs.factorise(model, Ybus, Vc, dsd, model.injection_columns(Ybus, Vc, el_bus, el_w, ref_bus, ref_w, gfm_r),
                     keyc, SPARSE_COOLDOWN)

    ref_vm_now = np.zeros((1, len(ref_bus)))
    gfm_va_now = np.zeros(1)
    if not dense:  # campus loads at their scheduled power: no load derivative yet
        add_factor(V, np.r_[np.zeros(2 * ne), ref_w * np.abs(V[ref_bus]),
                            ref_w[gfm_r:] * np.angle(V[ref_bus[gfm_r:]]) if gfm is not None else []])
    n_tap_moves, n_retry, n_failed = 0, 0, 0
    out = BlockOutput(model, inputs, el_bus, el_w, el_p0, el_q0, el_scale, col_load, col_st, vv_storages,
                      vd=(vd_el, vd_par))

    bar = None
    if not quiet and n > 20000:
        bar = tqdm(total=n, unit="step", desc="QSTS fast")

    def gfm_pq(j: int, s: complex, el_p: np.ndarray, el_q: np.ndarray,
               V0: np.ndarray) -> tuple[np.ndarray, bool, int, float]:
        """Step ``j`` with the grid-forming plant injecting ``s`` [pu of its MVA, generator sign]
        at its terminal: full Newton-Raphson on the model with the EMF's bus as a PQ bus, from
        ``V0``, then from the initial voltages. Returns ``(V, converged, iterations, max|F|)``."""
        assert gfm is not None  # called with a grid-forming plant only
        Sbus = model.Sbus0.copy()
        np.subtract.at(Sbus, el_bus, el_w * (el_p[j] + 1j * el_q[j]))
        Sbus[gfm_g] = 0.0
        Sbus[gfm_t] += s * gfm.sn_mva / base
        total = 0
        for start in (V0, model.V_init):
            Vs = start.copy()
            Vmag = np.abs(Vs)
            ext = ref_bus[:gfm_r]  # the grid's slacks at their set-point
            Vmag[ext] = ref_vm_block[j, :gfm_r]
            Vmag[model.pv] = model.pv_vm
            Vs = Vmag * np.exp(1j * np.angle(Vs))
            Vsol, ok, it, worst = model_pq.newton(Ybus, Sbus, Vs, tol, loads=gfm_loads(j, el_p, el_q))
            total += it
            if ok:
                return Vsol, True, total, worst
        return Vsol, False, total, worst

    def gfm_loads(j: int, el_p: np.ndarray, el_q: np.ndarray) -> LoadsFn | None:
        """The voltage-dependent campus loads of step ``j`` for :meth:`FastModel.newton` (or ``None``)."""
        return _step_loads(model.nb, el_bus, el_w, el_p, el_q, j, vd)

    def gfm_step(j: int, kind: str, el_p: np.ndarray, el_q: np.ndarray, gfm_set: np.ndarray,
                 out: tuple[np.ndarray, ...]) -> bool:
        """Step ``j`` with the plant as a constant-power injection, in Python: ``kind = 'start'``,
        the run's first step (at its set-point; limited when that exceeds the current limit), or
        ``'limit'``, a step whose source-mode solution (in ``Vm, Va``) exceeded the current limit.
        Records the step, advances the loop (or sets its state); returns whether it converged."""
        nonlocal gfm_started
        assert gfm is not None  # called with a grid-forming plant only
        out_V, out_conv, out_iter, out_mis, gfm_out = out
        V0 = Vm * np.exp(1j * Va)
        ctl = gfm.control
        p_set, q_set = float(gfm_set[j, 0]), float(gfm_set[j, 1])
        if kind == "start":
            s = complex(p_set, q_set)
            V, ok, it, worst = gfm_pq(j, s, el_p, el_q, V0)
            limited = False
            if ok:
                s_lim, limited = current_limited(s, abs(V[gfm_t]), ctl)
                if limited:
                    s = s_lim
                    V, ok, it2, worst = gfm_pq(j, s, el_p, el_q, V)
                    it += it2
        else:
            i_g = Ybus[gfm_g] @ V0  # the current into the EMF's only branch
            s_t = complex(V0[gfm_t] * np.conj(i_g[0])) * base / gfm.sn_mva
            s, limited = current_limited(s_t, abs(V0[gfm_t]), ctl)
            V, ok, it, worst = gfm_pq(j, s, el_p, el_q, V0)
        out_conv[j] = ok
        out_iter[j] = it
        if not ok:
            out_V[j] = np.nan
            out_mis[j] = np.nan
            gfm_out[j] = np.nan
            return False
        out_V[j] = V
        out_mis[j] = worst
        gfm_out[j] = (-s.real * gfm.sn_mva, -s.imag * gfm.sn_mva, 1.0 if limited else 0.0)
        Vm[:] = np.abs(V)
        Va[:] = np.angle(V)
        if not gfm_started:
            gfm_x[:] = start_state(complex(V[gfm_t]), s, q_set, ctl)
            gfm_started = True
        else:
            advance(gfm_x, gfm_par, complex(V[gfm_t]), s, p_set, q_set, dt, limited, ctl)
        return True

    def gfm_source_done(j: int, gfm_set: np.ndarray, out: tuple[np.ndarray, ...]) -> bool:
        """After a Python retry of a source-mode step ``j``: the current limit, the delivered
        power and the loop's advance, as the kernel does after a converged step."""
        assert gfm is not None  # called with a grid-forming plant only
        out_V, gfm_out, el_p, el_q = out[0], out[4], out[5], out[6]
        V = out_V[j]
        i_g = complex((Ybus[gfm_g] @ V)[0])
        s_t = complex(V[gfm_t] * np.conj(i_g)) * base / gfm.sn_mva
        if current_limited(s_t, abs(V[gfm_t]), gfm.control)[1]:
            return gfm_step(j, "limit", el_p, el_q, gfm_set, out[:5])
        gfm_out[j] = (-s_t.real * gfm.sn_mva, -s_t.imag * gfm.sn_mva, 0.0)
        advance(gfm_x, gfm_par, complex(V[gfm_t]), s_t, float(gfm_set[j, 0]), float(gfm_set[j, 1]), dt, False,
                gfm.control)
        return True

    ref_vm_block = np.zeros((0, len(ref_bus)))

    def solve(b0: int) -> SolvedBlock:
        """Solve the block starting at step ``b0``; return the arguments of ``out.emit``."""
        nonlocal Ybus, Yf, Yt, branch, ref_vm_now, gfm_va_now, ref_vm_block, n_tap_moves, n_retry, n_failed
        b1 = min(n, b0 + block_steps)
        k = b1 - b0
        eb = element_series(inputs, b0, b1)
        el_p = np.zeros((k, ne))
        el_q = np.zeros((k, ne))
        for j, li in enumerate(es.load_index):
            e = col_load[int(li)]
            el_p[:, e] = eb.load_p_mw[:, j] - el_p0[e]
            el_q[:, e] = eb.load_q_mvar[:, j] - el_q0[e]
        for j, si in enumerate(es.storage_index):
            e = col_st[int(si)]
            el_p[:, e] = eb.storage_p_mw[:, j] - el_p0[e]
            el_q[:, e] = eb.storage_q_mvar[:, j] - el_q0[e]
        for j, gi in enumerate(es.sgen_index):
            e = col_sgen[int(gi)]
            el_p[:, e] = eb.sgen_p_mw[:, j] - el_p0[e]
            el_q[:, e] = eb.sgen_q_mvar[:, j] - el_q0[e]
        for j, gi in enumerate(es.gen_index):
            el_p[:, col_gen[int(gi)]] = eb.gen_p_mw[:, j] - el_p0[col_gen[int(gi)]]
        ref_vm = np.ascontiguousarray(eb.ext_grid_vm_pu)
        gfm_set = np.zeros((k, 2))
        gfm_va = np.zeros(k)
        gfm_out = np.full((k, 3), np.nan)
        if gfm is not None:  # the EMF's magnitude column is set by the kernel from the loop's state
            ref_vm = np.ascontiguousarray(np.c_[ref_vm, np.ones(k)])
            gfm_set = np.ascontiguousarray(np.c_[set_points(eb.storage_p_mw.sum(axis=1), eb.storage_q_mvar.sum(axis=1),
                                                            gfm.sn_mva)])
        ref_vm_now = ref_vm
        ref_vm_block = ref_vm
        gfm_va_now = gfm_va
        out_V = np.full((k, model.nb), np.nan + 0j, dtype=np.complex128)
        out_conv = np.zeros(k, dtype=np.bool_)
        out_iter = np.zeros(k, dtype=np.int64)
        out_mis = np.full(k, np.nan)
        out_vvq = np.zeros((k, len(vv_el)))
        taps_block = np.zeros((k, len(tap_pos)), dtype=np.int64)
        seg_starts, seg_keys = [0], [tuple(tap_pos.tolist())]
        i = 0
        while i < k:
            Yp = Ybus.indptr.astype(np.int64)
            Yj = Ybus.indices.astype(np.int64)
            Yx = Ybus.data.astype(np.complex128)
            pos_before = tap_pos.copy()
            gfm_rows = (out_V, out_conv, out_iter, out_mis, gfm_out, el_p, el_q)
            if gfm is not None and not gfm_started:  # the run's first step(s): at the set-point
                status, j = GFM_START, i
            else:
                status, j = K.solve_block(
                    i, k, Yp, Yj, Yx, model.Sbus0, el_bus, el_w, el_p, el_q,
                    ref_bus, ref_vm, ref_w, model.pv, model.pv_vm, model.pvpq, model.pq,
                    dense, *cache, *fs.args(), Vm, Va,
                    vv_el, vv_bus, vv_sn, vv_p0, vv_q0, vv_cv, vv_cq, vv_q, Q_TOL_MVAR, 100,
                    vv_alpha, 1 if b0 == 0 else 0, *vd,
                    # mypy matches the fifth *tuple of this call to the wrong parameters (its five items fit)
                    *tap_args(), tol, CHORD_MAX_ITER, SPARSE_REFRESH_ITER, REFRESH_RATIO, INSERT_ITER,  # type: ignore[arg-type]
                    out_V, out_conv, out_iter, out_mis, out_vvq,
                    gfm_r, gfm_t, gfm_par, gfm_c, gfm_x, gfm_set, gfm_va, gfm_out,
                )
            if status == K.DONE:
                taps_block[i:k] = pos_before
                break
            taps_block[i:j + 1] = pos_before
            if status in (GFM_START, K.LIMIT):
                # the plant as a constant-power injection at step j (module docstring)
                ok = gfm_step(j, "start" if status == GFM_START else "limit", el_p, el_q, gfm_set, gfm_rows[:5])
                if not ok:
                    n_failed += 1
                Jstate[3] = 0  # the voltages are not those of the last key
                moved = K.tap_update(np.abs(out_V[j]) if ok else np.full(model.nb, np.nan), *tap_args())
                status = K.TAP if moved else K.REFRESH
            if status == K.FAILED:
                n_retry += 1
                if gfm is not None:  # the EMF's angle of this step (the kernel set its magnitude)
                    Va[gfm_g] = gfm_va[j]
                ok = _retry_step(model, Ybus, j, el_bus, el_w, el_p, el_q, ref_bus, ref_vm, Vm, Va,
                                 vv_el, vv_bus, vv_sn, vv_p0, vv_q0, vv_cv, vv_cq, vv_q, tol,
                                 out_V, out_conv, out_iter, out_mis, out_vvq,
                                 vv_alpha=vv_alpha if (b0 > 0 or j > 0) else 1.0, vd=vd,
                                 ref_va=(gfm_g, float(gfm_va[j])) if gfm is not None else None)
                if ok and gfm is not None:
                    ok = gfm_source_done(j, gfm_set, gfm_rows)
                if not ok:
                    n_failed += 1
                Jstate[3] = 0  # the retried voltages are not those of the last key
                if ok and not dense:  # they are this step's: its key
                    key_prev[:] = step_key(j, el_p, el_q)
                    Jstate[3] = 1
                moved = K.tap_update(np.abs(out_V[j]) if ok else np.full(model.nb, np.nan), *tap_args())
                status = K.TAP if moved else K.REFRESH
            if status == K.TAP:
                n_tap_moves += 1
                # positions in force up to step j were the old ones; solve_block updated tap_pos
                Ybus, Yf, Yt, branch = model.ybus(tap_pos)
                seg_starts.append(j + 1)
                seg_keys.append(tuple(tap_pos.tolist()))
            if status == K.TAP:
                Jstate[:2] = 0  # new Ybus: the cached Jacobians are stale
            if not dense:
                if status == K.TAP:
                    fs.clear()
                add_factor(Vm * np.exp(1j * Va), step_key(j, el_p, el_q),
                           vd_dsd(Vm, j, el_p, el_q) if len(vd_el) else None)
            i = j + 1
        return (out_V, out_conv, out_iter, out_mis * base, out_vvq, el_p, el_q, taps_block, seg_starts,
                seg_keys, gfm_out if gfm is not None else None)

    def emit(b0: int, solved: SolvedBlock) -> None:
        if b0 == 0 and n > len(solved[1]) and not np.asarray(solved[1]).any():
            # not one step of the first block converged: the rest would cost a full Newton retry
            # each and collapse alike; stop with the verdict instead of grinding through the horizon

            raise NotConvergedError(
                f"voltage collapse: none of the first {len(solved[1])} steps converged; the remaining "
                f"{n - len(solved[1])} steps were not run")
        out.emit(sink, b0, *solved)
        if bar is not None:
            bar.update(len(solved[1]))

    starts = list(range(0, n, block_steps))
    if pipeline and len(starts) > 1:
        # two threads: the compiled kernel (which releases the GIL) solves block b + 1 while this
        # thread turns block b into outputs and streams it; the blocks stay in order

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qsts-solve") as pool:
            pending = pool.submit(solve, starts[0])
            for j, b0 in enumerate(starts):
                solved = pending.result()
                if j + 1 < len(starts):
                    pending = pool.submit(solve, starts[j + 1])
                emit(b0, solved)
    else:
        for b0 in starts:
            emit(b0, solve(b0))
    if bar is not None:
        bar.close()
    return {"steps": n, "factorisations": fs.count + int(Jstate[2]), "tap_moves": n_tap_moves, "retried_steps": n_retry,
            "failed_steps": n_failed}


#: Status of a step the engine solves in Python before calling the kernel: the grid-forming
#: plant's first step, at its set-point (not one of the kernel's statuses).
GFM_START = -1


def _step_loads(nb: int, el_bus: np.ndarray, el_w: np.ndarray, el_p: np.ndarray, el_q: np.ndarray, j: int,
                vd: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None) -> LoadsFn | None:
    """The voltage-dependent campus loads ``vd = (columns, base P, base Q, parameters)`` of step
    ``j`` for :meth:`FastModel.newton`: ``|V| -> (extra consumer power beyond the scheduled,
    d/d|V|)`` per internal bus [pu]; ``None`` without any."""
    if vd is None or not len(vd[0]):
        return None
    vd_el, vd_p0, vd_q0, vd_par = vd
    vd_b = el_bus[vd_el]
    vd_s = el_w[vd_el] * ((vd_p0 + el_p[j, vd_el]) + 1j * (vd_q0 + el_q[j, vd_el]))

    def loads(Vmag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        extra = np.zeros(nb, dtype=np.complex128)
        slope = np.zeros(nb, dtype=np.complex128)
        for a, b in enumerate(vd_b):
            extra[b] += vd_s[a] * (multiplier(float(Vmag[b]), *vd_par) - 1.0)
            slope[b] += vd_s[a] * multiplier_slope(float(Vmag[b]), *vd_par)
        return extra, slope
    return loads


def _retry_step(model: FastModel, Ybus: sp.csr_matrix, j: int, el_bus: np.ndarray, el_w: np.ndarray,
                el_p: np.ndarray, el_q: np.ndarray, ref_bus: np.ndarray, ref_vm: np.ndarray, Vm: np.ndarray,
                Va: np.ndarray, vv_el: np.ndarray, vv_bus: np.ndarray, vv_sn: np.ndarray, vv_p0: np.ndarray,
                vv_q0: np.ndarray, vv_cv: np.ndarray, vv_cq: np.ndarray, vv_q: np.ndarray, tol: float,
                out_V: np.ndarray, out_conv: np.ndarray, out_iter: np.ndarray, out_mis: np.ndarray,
                out_vvq: np.ndarray, vv_alpha: float = 1.0,
                vd: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
                ref_va: tuple[int, float] | None = None) -> bool:
    """Full Newton-Raphson for step ``j`` (with the volt-var fixed point, its lag ``vv_alpha``
    and the voltage-dependent loads ``vd = (columns, base P, base Q, parameters)``), from the
    last good voltages, then from the initial ones. Writes the step's outputs; updates ``Vm, Va``
    on success and leaves them (the last good start) on failure. ``ref_va = (bus, angle [rad])``:
    a slack whose angle is set per step (a grid-forming plant's EMF)."""
    loads = _step_loads(model.nb, el_bus, el_w, el_p, el_q, j, vd)
    Sbus = model.Sbus0.copy()
    np.subtract.at(Sbus, el_bus, el_w * (el_p[j] + 1j * el_q[j]))
    qv = vv_q.copy()
    for a, e in enumerate(vv_el):
        Sbus[el_bus[e]] -= el_w[e] * 1j * (qv[a] - el_q[j, e])
    total = 0
    for start in (Vm * np.exp(1j * Va), model.V_init):
        V0 = start.copy()
        Vm0 = np.abs(V0)
        Vm0[ref_bus] = ref_vm[j]
        Vm0[model.pv] = model.pv_vm
        Va0 = np.angle(V0)
        if ref_va is not None:
            Va0[ref_va[0]] = ref_va[1]
        V0 = Vm0 * np.exp(1j * Va0)
        S = Sbus.copy()
        q = qv.copy()
        prev = None
        for _ in range(100):
            V, ok, it, worst = model.newton(Ybus, S, V0, tol, loads=loads)
            total += it
            if not ok:
                break
            f = np.empty(len(vv_el))
            for a, e in enumerate(vv_el):
                sn = vv_sn[a]
                p = vv_p0[a] + el_p[j, e]
                qlim = math.sqrt(max(sn * sn - p * p, 0.0))
                qa = min(max(float(np.interp(abs(V[vv_bus[a]]), vv_cv, vv_cq)) * sn, -qlim), qlim)
                if vv_alpha != 1.0:  # the plant's response time, from the previous step's Q
                    q_from = vv_q0[a] + qv[a]
                    qa = min(max(q_from + (qa - q_from) * vv_alpha, -qlim), qlim)
                f[a] = qa - vv_q0[a]
            change = float(np.max(np.abs(f - q))) if len(vv_el) else 0.0
            if change >= Q_TOL_MVAR:
                # the same secant-damped update as the kernel and the reference controller
                q_new = volt_var_update(q, f, prev)
                prev = (q.copy(), f)
                for a, e in enumerate(vv_el):
                    S[el_bus[e]] -= el_w[e] * 1j * (q_new[a] - q[a])
                q = q_new
            if change < Q_TOL_MVAR:
                out_V[j] = V
                out_conv[j] = True
                out_iter[j] = total
                out_mis[j] = worst
                out_vvq[j] = q
                vv_q[:] = q
                Vm[:] = np.abs(V)
                Va[:] = np.angle(V)
                return True
            V0 = V
    out_V[j] = np.nan
    out_conv[j] = False
    out_iter[j] = total
    out_mis[j] = np.nan
    out_vvq[j] = qv
    return False
