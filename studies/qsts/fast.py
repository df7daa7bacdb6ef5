"""The fast QSTS engine: a warm-started chord Newton-Raphson over blocks of steps, compiled with
numba, on the admittance matrix pandapower itself builds for the net.

How it works
------------
- pandapower converts the net once (``_pd2ppc``): the internal bus order, ``Ybus``/``Yf``/``Yt``
  (:func:`pandapower.pypower.makeYbus.makeYbus`), the bus types and ``Sbus`` of everything that
  does not change. Lines, transformers (with their tap ratio), impedances, shunts and switches are
  therefore modelled exactly as in ``runpp``.
- Per step, the changing loads and storages (:func:`studies.qsts.apply.element_series`, the same
  values the reference engine writes into the net) update ``Sbus``; the ``ext_grid`` voltage set
  point updates the slack voltage. Loads are constant power (``const_z``/``const_i`` = 0).
- The compiled kernel (:mod:`studies.qsts.fast_kernel`) solves step after step with a fixed
  (chord) Jacobian. Small nets (Jacobian order ≤ :data:`DENSE_MAX`) keep a cache of
  :data:`JAC_CACHE` operating points — a Jacobian inverse with the voltages where it was taken —
  keyed by the changing injections: a step starts from the nearest cached point or from the
  previous step, whichever is nearer (training load swings between two levels, so the previous
  step is often the far one), and a step that needed :data:`INSERT_ITER` iterations adds its
  solution to the cache. Larger nets use sparse LU factors, refactorised when convergence slows.
  When a tap moves, ``Ybus`` is switched (event-driven: the kernel stops at the step after which
  a tap moves, the move takes effect from the next step). A step that fails is retried with a
  full Newton-Raphson, first from the last good voltages, then from the initial ones. A step that
  still fails is reported ``converged=False`` with NaN voltages (voltage collapse), never dropped.
- Blocks of steps are turned into outputs (bus voltages, branch loadings, slack import) by a
  second compiled pass and streamed into the recorder; with ``pipeline`` the next block is solved
  in a second thread meanwhile.
- ``Ybus`` for a new tap position is rebuilt by pandapower (``net.trafo.tap_pos`` changed,
  ``_pd2ppc`` again) and cached per tap combination.
- Volt-var: per step, solve ↔ battery Q is iterated to a fixed point (``|ΔQ| <`` :data:`studies.qsts.controllers.Q_TOL_MVAR`).

Supported nets: ``ext_grid`` slack bus(es), PV generators (``gen``, no Q limits, as ``runpp``'s
default), loads (constant power), static generators, storages, shunts, wards and extended wards,
lines, 2- and 3-winding transformers, impedances, switches. Anything else raises
:class:`studies.errors.StudyError` naming it.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandapower as pp
import scipy.sparse as sp
from scipy.sparse.linalg import splu, spsolve

from grid.errors import Problem
from studies.errors import StudyError
from studies.qsts import fast_kernel as K
from studies.qsts.apply import element_series
from studies.qsts.controllers import Q_TOL_MVAR, tap_direction_lowering, tap_settings, volt_var_update
from studies.qsts.inputs import QSTSInputs

__all__ = ["run_fast", "FastModel", "build_model", "unsupported_features"]

#: Largest Jacobian order solved with a dense inverse; above it, sparse LU factors. [-]
DENSE_MAX = 48
#: Operating points (voltages and Jacobian inverse) cached per run in dense mode. [-]
JAC_CACHE = 32
#: Chord iterations allowed per step (per volt-var pass) before the step is handed to the full
#: Newton-Raphson retry. [-]
CHORD_MAX_ITER = 40
#: A step that needs this many chord iterations or more adds its solution and Jacobian to the
#: cache. [-]
INSERT_ITER = 5
#: A dense chord iteration that shrinks the mismatch by less than this factor triggers a fresh
#: Jacobian at the current point. [-]
REFRESH_RATIO = 0.1


def unsupported_features(inputs: QSTSInputs) -> list[Problem]:
    """Every feature of ``inputs`` the fast engine cannot model, as problems naming them."""
    net = inputs.site.net
    out = []

    def in_service(tab):
        t = net[tab] if tab in net else None
        return t[t.in_service.astype(bool)] if t is not None and len(t) and "in_service" in t else (t if t is not None else [])

    if inputs.controls.battery_controller is not None:
        out.append(Problem("controls.battery_controller", "not supported by the fast engine (use engine='reference', "
                           "or pre-compute battery_p_mw/battery_q_mvar profiles)",
                           type(inputs.controls.battery_controller).__name__))
    loads = in_service("load")
    if len(loads):
        for col in ("const_z_p_percent", "const_i_p_percent", "const_z_q_percent", "const_i_q_percent",
                    "const_z_percent", "const_i_percent"):
            if col in loads and (loads[col].fillna(0.0).to_numpy(dtype=float) != 0).any():
                bad = loads.index[loads[col].fillna(0.0).to_numpy(dtype=float) != 0].tolist()
                out.append(Problem(f"net.load.{col}", "voltage-dependent loads are not supported by the fast engine (loads "
                                   "must be constant power)", bad[:10]))
    for tab in ("svc", "ssc", "tcsc", "vsc", "dcline", "motor", "asymmetric_load", "asymmetric_sgen", "bus_dc",
                "line_dc", "source_dc", "load_dc"):
        t = in_service(tab)
        if len(t):
            out.append(Problem(f"net.{tab}", "element type not supported by the fast engine", t.index.tolist()[:10]))
    if "controller" in net and len(net.controller):
        active = net.controller[net.controller.in_service.astype(bool)] if "in_service" in net.controller else net.controller
        if len(active):
            out.append(Problem("net.controller", "pandapower controllers in the net are not run by the fast engine",
                               [type(c).__name__ for c in active.object][:10]))
    gens = in_service("gen")
    if len(gens) and "slack" in gens and gens.slack.fillna(False).astype(bool).any():
        out.append(Problem("net.gen.slack", "slack generators are not supported by the fast engine (use an ext_grid)",
                           gens.index[gens.slack.fillna(False).astype(bool)].tolist()))
    eg = in_service("ext_grid")
    if len(eg) and "slack_weight" in eg and (eg.slack_weight.fillna(1.0) != 1.0).any():
        out.append(Problem("net.ext_grid.slack_weight", "distributed slack is not supported by the fast engine",
                           eg.slack_weight.tolist()))
    return out


@dataclass
class _Factor:
    dense: bool
    Jinv: np.ndarray
    Lp: np.ndarray
    Li: np.ndarray
    Lx: np.ndarray
    Up: np.ndarray
    Ui: np.ndarray
    Ux: np.ndarray
    Ud: np.ndarray
    perm_r: np.ndarray
    perm_c: np.ndarray

    def args(self, cache):
        """Kernel arguments; ``cache`` holds the dense Jacobian-inverse cache of the run."""
        return (self.dense, *cache, self.Lp, self.Li, self.Lx, self.Up, self.Ui, self.Ux, self.Ud,
                self.perm_r, self.perm_c)


class FastModel:
    """The net as the fast engine sees it: pandapower's internal arrays plus lookups.

    Built by :func:`build_model`. Works on a private deep copy of the site's net.
    """

    def __init__(self, inputs: QSTSInputs, tolerance_mva: float = 1e-8):
        from pandapower.pypower.bustypes import bustypes
        from pandapower.pypower.idx_bus import BASE_KV, VA, VM
        from pandapower.pypower.makeSbus import makeSbus

        site = inputs.site
        self.site = site
        net = copy.deepcopy(site.net)
        self.net = net
        # sets net._options exactly as runpp does; the solution (if any) is the first warm start.
        # numba=False: one power flow does not repay pandapower's own numba compilation (seconds
        # in every fresh process); the engine's kernel is compiled and cached separately
        try:
            pp.runpp(net, tolerance_mva=min(tolerance_mva, 1e-8), calculate_voltage_angles=True,
                     numba=False, lightsim2grid=False)
            self.base_converged = True
        except Exception:  # non-converging base case: start from pandapower's flat/dc start instead
            self.base_converged = False
        self.taps = np.asarray(site.regulating_trafos, dtype=np.int64)
        self.tap_pos0 = net.trafo.loc[self.taps, "tap_pos"].to_numpy(dtype=float).astype(np.int64) if len(self.taps) else np.zeros(0, np.int64)
        ppc, ppci = self._convert(self.tap_pos0)
        self.baseMVA = float(ppci["baseMVA"])
        self.bus = ppci["bus"]
        self.gen = ppci["gen"]
        self.branch_is = np.asarray(ppci["internal"]["branch_is"], dtype=bool)
        self.nb = self.bus.shape[0]
        ref, pv, pq = bustypes(self.bus, self.gen)
        self.ref, self.pv, self.pq = (np.asarray(x, dtype=np.int64) for x in (ref, pv, pq))
        self.pvpq = np.r_[self.pv, self.pq].astype(np.int64)
        self.lookup = np.asarray(net._pd2ppc_lookups["bus"], dtype=np.int64)
        self.branch_lookup = dict(net._pd2ppc_lookups["branch"])
        self.base_kv = self.bus[:, BASE_KV].real.astype(float)
        self.Sbus0 = makeSbus(self.baseMVA, self.bus, self.gen).astype(np.complex128)
        # ext_grid injection at the slack buses (PG of their gen rows) to recover the import
        from pandapower.pypower.idx_gen import GEN_BUS, PG, QG, VG
        self.gen_bus = self.gen[:, GEN_BUS].real.astype(np.int64)
        V0 = self.bus[:, VM].real * np.exp(1j * np.deg2rad(self.bus[:, VA].real))
        on = self.gen_bus
        V0[on] = self.gen[:, VG].real / np.abs(V0[on]) * V0[on]
        self.V_init = V0.copy()
        if self.base_converged:  # runpp's solution as the first warm start
            V = np.full(self.nb, np.nan, dtype=np.complex128)
            res = net.res_bus.reindex(net.bus.index)
            ok = (self.lookup[net.bus.index.to_numpy()] < self.nb) & res.vm_pu.notna().to_numpy()
            idx = self.lookup[net.bus.index.to_numpy()[ok]]
            V[idx] = res.vm_pu.to_numpy()[ok] * np.exp(1j * np.deg2rad(res.va_degree.to_numpy()[ok]))
            # auxiliary buses of pandapower (open switches, 3-winding star points, ...) have no
            # result: take a branch neighbour's voltage (trafo phase shifts make a flat start far)
            from pandapower.pypower.idx_brch import F_BUS, T_BUS
            br = ppci["branch"]
            fb, tb = br[:, F_BUS].real.astype(np.int64), br[:, T_BUS].real.astype(np.int64)
            for _ in range(4):
                miss = ~np.isfinite(V)
                if not miss.any():
                    break
                for x, y in ((fb, tb), (tb, fb)):
                    sel = miss[x] & np.isfinite(V[y])
                    V[x[sel]] = V[y[sel]]
            self.V_init = np.where(np.isfinite(V), V, V0)
        self.pv_vm = np.abs(V0[self.pv])
        self.eg_gen_rows = self._ext_grid_gen_rows()
        self.Sg_eg = np.zeros(self.nb, dtype=np.complex128)
        np.add.at(self.Sg_eg, self.gen_bus[self.eg_gen_rows],
                  (self.gen[self.eg_gen_rows, PG].real + 1j * self.gen[self.eg_gen_rows, QG].real) / self.baseMVA)
        self._ybus_cache: dict[tuple, tuple] = {}
        self._ybus_cache[tuple(self.tap_pos0.tolist())] = self._ybus_from_branch(ppci["branch"])

    # -------------------------------------------------------------- pandapower conversion
    def _convert(self, tap_pos):
        from pandapower.pd2ppc import _pd2ppc

        net = self.net
        if len(self.taps):
            net.trafo.loc[self.taps, "tap_pos"] = np.asarray(tap_pos, dtype=float)
        net._pd2ppc_lookups = {"bus": np.array([], dtype=np.int64), "bus_dc": np.array([], dtype=np.int64),
                               "ext_grid": np.array([], dtype=np.int64), "gen": np.array([], dtype=np.int64),
                               "branch": np.array([], dtype=np.int64), "branch_dc": np.array([], dtype=np.int64)}
        return _pd2ppc(net)

    def _ext_grid_gen_rows(self):
        lk = self.net._pd2ppc_lookups.get("ext_grid")
        eg = self.net.ext_grid
        eg = eg[eg.in_service.astype(bool)]
        if lk is None or not len(eg):
            return np.zeros(0, dtype=np.int64)
        rows = np.asarray(lk)[eg.index.to_numpy()]
        gen_is = np.asarray(self.net._ppc["internal"]["gen_is"]) if "internal" in self.net._ppc and "gen_is" in self.net._ppc["internal"] else None
        rows = rows[rows >= 0]
        return rows[rows < self.gen.shape[0]].astype(np.int64) if gen_is is None else rows.astype(np.int64)

    def _ybus_from_branch(self, branch):
        from pandapower.pypower.makeYbus import makeYbus

        Ybus, Yf, Yt = makeYbus(self.baseMVA, self.bus, branch)
        Ybus = sp.csr_matrix(Ybus)
        Ybus.sort_indices()
        return Ybus, sp.csr_matrix(Yf), sp.csr_matrix(Yt), branch.copy()

    def ybus(self, tap_pos) -> tuple:
        """``(Ybus, Yf, Yt, branch)`` for these tap positions (pandapower's model, cached)."""
        key = tuple(int(t) for t in tap_pos)
        if key not in self._ybus_cache:
            _, ppci = self._convert(np.asarray(key))
            if ppci["bus"].shape[0] != self.nb:
                raise RuntimeError("pandapower changed the bus set on a tap change")
            self._ybus_cache[key] = self._ybus_from_branch(ppci["branch"])
        return self._ybus_cache[key]

    # -------------------------------------------------------------- Jacobian
    def factor(self, Ybus, V) -> _Factor:
        """Factorise the power-flow Jacobian at ``V`` (dense inverse or sparse LU)."""
        from pandapower.pypower.dSbus_dV import dSbus_dV

        m = len(self.pvpq) + len(self.pq)
        if m > DENSE_MAX:
            J = self.jacobian(Ybus, V)
        e_i, e_f = np.zeros(0, np.int64), np.zeros(0)
        if m <= DENSE_MAX:  # the kernel inverts the Jacobian itself, on demand
            return _Factor(True, np.zeros((0, 0)), e_i, e_i, e_f, e_i, e_i, e_f, e_f, e_i, e_i)
        lu = splu(sp.csc_matrix(J), permc_spec="COLAMD")
        L = sp.csc_matrix(lu.L)
        U = sp.csc_matrix(lu.U)
        Lo = sp.csc_matrix(sp.tril(L, k=-1))
        Uo = sp.csc_matrix(sp.triu(U, k=1))
        return _Factor(False, np.zeros((0, 0)), Lo.indptr.astype(np.int64), Lo.indices.astype(np.int64), Lo.data.astype(float),
                       Uo.indptr.astype(np.int64), Uo.indices.astype(np.int64), Uo.data.astype(float),
                       U.diagonal().astype(float), np.asarray(lu.perm_r, dtype=np.int64),
                       np.asarray(lu.perm_c, dtype=np.int64))

    def jacobian(self, Ybus, V):
        from pandapower.pypower.dSbus_dV import dSbus_dV

        dVm, dVa = dSbus_dV(Ybus, V)
        pvpq, pq = self.pvpq, self.pq
        dVm, dVa = sp.csr_matrix(dVm), sp.csr_matrix(dVa)
        J11 = dVa[pvpq][:, pvpq].real
        J12 = dVm[pvpq][:, pq].real
        J21 = dVa[pq][:, pvpq].imag
        J22 = dVm[pq][:, pq].imag
        return sp.csc_matrix(sp.vstack([sp.hstack([J11, J12]), sp.hstack([J21, J22])]))

    def newton(self, Ybus, Sbus, V0, tol, max_iter=30):
        """Full Newton-Raphson from ``V0``; return ``(V, converged, iterations, max|F| [pu])``."""
        V = V0.copy()
        Vm, Va = np.abs(V), np.angle(V)
        pvpq, pq = self.pvpq, self.pq
        npvpq = len(pvpq)
        for it in range(max_iter + 1):
            mis = V * np.conj(Ybus @ V) - Sbus
            F = np.r_[mis[pvpq].real, mis[pq].imag]
            worst = float(np.max(np.abs(F))) if len(F) else 0.0
            if not np.isfinite(worst):
                return V, False, it, worst
            if worst <= tol:
                return V, True, it, worst
            if it == max_iter:
                break
            J = self.jacobian(Ybus, V)
            try:
                dx = spsolve(J, F)
            except Exception:
                return V, False, it, worst
            if not np.all(np.isfinite(dx)):
                return V, False, it, worst
            Va[pvpq] -= dx[:npvpq]
            Vm[pq] -= dx[npvpq:]
            V = Vm * np.exp(1j * Va)
        return V, False, max_iter, worst


def build_model(inputs: QSTSInputs, tolerance_mva: float = 1e-8) -> FastModel:
    """Check ``inputs`` for unsupported features, then build the :class:`FastModel`."""
    problems = unsupported_features(inputs)
    if problems:
        raise StudyError(problems, source="fast engine")
    return FastModel(inputs, tolerance_mva=tolerance_mva)


def _tap_params(inputs: QSTSInputs, model: FastModel):
    """The regulating trafos packed for :func:`studies.qsts.fast_kernel.tap_update`: ``tap_i``
    rows (enabled, LV bus (internal), the tap_pos change that lowers the LV voltage, tap_min,
    tap_max) and ``tap_f`` rows (vm_set [pu], deadband [pu], delay [s]); the same settings as
    :class:`studies.qsts.controllers.TapController` (:func:`~studies.qsts.controllers.tap_settings`)."""
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
             tolerance_mva: float = 1e-8, recorder=None, pipeline: bool | None = None):
    """Run the QSTS time series with the fast engine.

    Parameters
    ----------
    inputs : QSTSInputs
        Site, profiles, controls and what to record.
    quiet : bool
        No progress bar.
    block_steps : int
        Steps solved and recorded per block; bounds the memory. [-]
    tolerance_mva : float
        Largest nodal power mismatch of a converged step. [MVA]
    recorder : ResultRecorder, optional
        Where the blocks go; by default a :class:`studies.qsts.results.ResultRecorder`.
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
        from studies.qsts.results import ResultRecorder

        recorder = ResultRecorder(inputs.site, inputs.profiles.index, inputs.record, engine="fast")
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


def solve_series(model: FastModel, inputs: QSTSInputs, sink, quiet: bool = True, block_steps: int = 4096,
                 tolerance_mva: float = 1e-8, pipeline: bool = False) -> dict:
    """Solve every step of ``inputs`` on ``model`` and call ``sink(start, vm_pu, loading_percent,
    series, converged, iterations, max_mismatch_mva)`` per block (see
    :meth:`studies.qsts.results.ResultRecorder.add_block`). Returns run statistics.

    ``pipeline``: solve the next block in a second thread while this one turns the current block
    into outputs and calls ``sink`` (the results are the same; the kernel releases the GIL)."""
    from studies.qsts.fast_output import BlockOutput

    site, net = inputs.site, model.net
    es = element_series(inputs, 0, 0)  # the index lists; values are mapped block by block
    n = len(inputs.profiles)
    dt = inputs.step_s
    base = model.baseMVA
    tol = tolerance_mva / base

    # ---- changing elements: loads and storages (delta consumer power from the converted net)
    el_tab, el_idx = [], []
    el_tab += ["load"] * len(es.load_index)
    el_idx += list(es.load_index)
    el_tab += ["storage"] * len(es.storage_index)
    el_idx += list(es.storage_index)
    vv = inputs.controls.volt_var
    vv_storages = [int(s) for s in site.storages if bool(net.storage.at[s, "in_service"])] if vv is not None else []
    for s in vv_storages:
        if not any(t == "storage" and i == s for t, i in zip(el_tab, el_idx)):
            el_tab.append("storage")
            el_idx.append(s)
    ne = len(el_idx)
    el_bus = np.zeros(ne, np.int64)
    el_w = np.zeros(ne)
    el_p0 = np.zeros(ne)
    el_q0 = np.zeros(ne)
    el_scale = np.zeros(ne)
    for e, (tab, i) in enumerate(zip(el_tab, el_idx)):
        row = net[tab].loc[i]
        b = model.lookup[int(row.bus)]
        live = bool(row.in_service) and b < model.nb
        el_bus[e] = b if b < model.nb else 0
        el_scale[e] = float(row.scaling) if live else 0.0
        el_w[e] = el_scale[e] / base
        el_p0[e], el_q0[e] = float(row.p_mw), float(row.q_mvar)
    col_load = {i: e for e, (t, i) in enumerate(zip(el_tab, el_idx)) if t == "load"}
    col_st = {i: e for e, (t, i) in enumerate(zip(el_tab, el_idx)) if t == "storage"}
    vv_el = np.array([col_st[s] for s in vv_storages], dtype=np.int64)
    vv_bus = el_bus[vv_el] if len(vv_el) else np.zeros(0, np.int64)
    vv_sn = net.storage.loc[vv_storages, "sn_mva"].to_numpy(dtype=float) if vv_storages else np.zeros(0)
    vv_cv = np.asarray(vv.v_pu if vv is not None else (0.0, 1.0), dtype=float)
    vv_cq = np.asarray(vv.q_pu if vv is not None else (0.0, 0.0), dtype=float)
    vv_p0 = el_p0[vv_el] if len(vv_el) else np.zeros(0)
    vv_q0 = el_q0[vv_el] if len(vv_el) else np.zeros(0)
    vv_q = np.zeros(len(vv_el))  # current Q minus base Q [Mvar]

    # ---- slack voltages per step
    eg_bus = model.lookup[net.ext_grid.loc[es.ext_grid_index, "bus"].to_numpy(dtype=np.int64)] if len(es.ext_grid_index) else np.zeros(0, np.int64)
    ref_bus = np.asarray(eg_bus, dtype=np.int64)

    # ---- taps
    tap_i, tap_f = _tap_params(inputs, model)
    tap_pos = model.tap_pos0.copy()
    timers = np.zeros((2, len(tap_pos)))  # up, down [s]
    tap_args = lambda: (tap_i, tap_f, tap_pos, timers, dt)

    Ybus, Yf, Yt, branch = model.ybus(tap_pos)
    V = model.V_init.copy()
    Vm, Va = np.abs(V), np.angle(V)
    fac = model.factor(Ybus, V)
    m = len(model.pvpq) + len(model.pq)
    md = m if fac.dense else 0
    Jc = np.zeros((JAC_CACHE, md, md))
    kd = 2 * ne + len(ref_bus)
    Ckey = np.zeros((JAC_CACHE, kd))
    CVm = np.zeros((JAC_CACHE, model.nb))
    CVa = np.zeros((JAC_CACHE, model.nb))
    Jstate = np.zeros(4, dtype=np.int64)  # used slots, next slot to replace, inversions, key_prev set
    key_prev = np.zeros(kd)
    # slack voltages enter the cache key as power: weighted by |Y_ref,ref| [pu power / pu voltage]
    ydiag = np.abs(Ybus.diagonal())
    ref_w = ydiag[ref_bus].astype(float) if len(ref_bus) else np.zeros(0)
    pos_a = np.full(model.nb, -1, dtype=np.int64)
    pos_a[model.pvpq] = np.arange(len(model.pvpq))
    pos_m = np.full(model.nb, -1, dtype=np.int64)
    pos_m[model.pq] = len(model.pvpq) + np.arange(len(model.pq))
    cache = (Jc, Ckey, CVm, CVa, Jstate, key_prev, np.vstack([pos_a, pos_m]))
    n_factor, n_tap_moves, n_retry, n_failed = 1, 0, 0, 0
    out = BlockOutput(model, inputs, el_bus, el_w, el_p0, el_q0, el_scale, col_load, col_st, vv_storages)

    bar = None
    if not quiet and n > 20000:
        try:
            from tqdm import tqdm
            bar = tqdm(total=n, unit="step", desc="QSTS fast")
        except ImportError:
            bar = None

    def solve(b0):
        """Solve the block starting at step ``b0``; return the arguments of ``out.emit``."""
        nonlocal Ybus, Yf, Yt, branch, fac, n_factor, n_tap_moves, n_retry, n_failed
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
        ref_vm = np.ascontiguousarray(eb.ext_grid_vm_pu)
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
            status, j = K.solve_block(
                i, k, Yp, Yj, Yx, model.Sbus0, el_bus, el_w, el_p, el_q,
                ref_bus, ref_vm, ref_w, model.pv, model.pv_vm, model.pvpq, model.pq,
                *fac.args(cache), Vm, Va,
                vv_el, vv_bus, vv_sn, vv_p0, vv_q0, vv_cv, vv_cq, vv_q, Q_TOL_MVAR, 100,
                *tap_args(), tol, CHORD_MAX_ITER, 8, REFRESH_RATIO, INSERT_ITER,
                out_V, out_conv, out_iter, out_mis, out_vvq,
            )
            if status == K.DONE:
                taps_block[i:k] = pos_before
                break
            taps_block[i:j + 1] = pos_before
            if status == K.FAILED:
                n_retry += 1
                ok = _retry_step(model, Ybus, j, el_bus, el_w, el_p, el_q, ref_bus, ref_vm, Vm, Va,
                                 vv_el, vv_bus, vv_sn, vv_p0, vv_q0, vv_cv, vv_cq, vv_q, tol,
                                 out_V, out_conv, out_iter, out_mis, out_vvq)
                if not ok:
                    n_failed += 1
                Jstate[3] = 0  # the retried voltages are not those of the last key
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
            if not fac.dense:
                fac = model.factor(Ybus, Vm * np.exp(1j * Va))
                n_factor += 1
            i = j + 1
        return (out_V, out_conv, out_iter, out_mis * base, out_vvq, el_p, el_q, taps_block, seg_starts,
                seg_keys)

    def emit(b0, solved):
        out.emit(sink, b0, *solved)
        if bar is not None:
            bar.update(len(solved[1]))

    starts = list(range(0, n, block_steps))
    if pipeline and len(starts) > 1:
        # two threads: the compiled kernel (which releases the GIL) solves block b + 1 while this
        # thread turns block b into outputs and streams it; the blocks stay in order
        from concurrent.futures import ThreadPoolExecutor

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
    return {"steps": n, "factorisations": n_factor + int(Jstate[2]), "tap_moves": n_tap_moves, "retried_steps": n_retry,
            "failed_steps": n_failed}


def _retry_step(model, Ybus, j, el_bus, el_w, el_p, el_q, ref_bus, ref_vm, Vm, Va,
                vv_el, vv_bus, vv_sn, vv_p0, vv_q0, vv_cv, vv_cq, vv_q, tol,
                out_V, out_conv, out_iter, out_mis, out_vvq) -> bool:
    """Full Newton-Raphson for step ``j`` (with the volt-var fixed point), from the last good
    voltages, then from the initial ones. Writes the step's outputs; updates ``Vm, Va`` on
    success and leaves them (the last good start) on failure."""
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
        V0 = Vm0 * np.exp(1j * np.angle(V0))
        S = Sbus.copy()
        q = qv.copy()
        prev = None
        for _ in range(100):
            V, ok, it, worst = model.newton(Ybus, S, V0, tol)
            total += it
            if not ok:
                break
            f = np.empty(len(vv_el))
            for a, e in enumerate(vv_el):
                sn = vv_sn[a]
                p = vv_p0[a] + el_p[j, e]
                qlim = math.sqrt(max(sn * sn - p * p, 0.0))
                f[a] = min(max(float(np.interp(abs(V[vv_bus[a]]), vv_cv, vv_cq)) * sn, -qlim), qlim) - vv_q0[a]
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
