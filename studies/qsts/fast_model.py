"""The net as the fast QSTS engine sees it: pandapower's own internal model of it.

pandapower converts the net once (``_pd2ppc``): the internal bus order, ``Ybus``/``Yf``/``Yt``
(:func:`pandapower.pypower.makeYbus.makeYbus`), the bus types and ``Sbus`` of everything that does
not change. Lines, transformers (with their tap ratio), impedances, shunts and switches are
therefore modelled exactly as in ``runpp``. ``Ybus`` for a new tap position is rebuilt by
pandapower (``net.trafo.tap_pos`` changed, ``_pd2ppc`` again) and cached per tap combination.
:class:`FastModel` also gives the Jacobian (dense mode: the kernel inverts it itself; sparse mode:
LU factors) and a full Newton-Raphson for the steps the chord iterations cannot solve.

Supported nets: ``ext_grid`` slack bus(es), PV generators (``gen``, no Q limits, as ``runpp``'s
default), loads (constant power in the net; the campus loads' voltage dependence comes from
``Controls.campus_voltage``), static generators, storages, shunts, wards and extended wards,
lines, 2- and 3-winding transformers, impedances, switches. Anything else is named by
:func:`unsupported_features`, and :func:`build_model` raises :class:`gridstudy.studies.errors.StudyError`.

With ``Controls.grid_forming`` the model's net carries the grid-forming plant
(:func:`gridstudy.studies.qsts.grid_forming.add_grid_forming`: its EMF an ``ext_grid`` slack at an
internal bus, :attr:`FastModel.gfm`); :meth:`FastModel.with_pq_bus` is the same model with that bus
as a PQ bus, for the steps the plant is a constant-power injection.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandapower as pp
import scipy.sparse as sp
from pandapower.pd2ppc import _pd2ppc
from pandapower.pypower.bustypes import bustypes
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from pandapower.pypower.idx_bus import BASE_KV, VA, VM
from pandapower.pypower.idx_gen import GEN_BUS, PG, QG, VG
from pandapower.pypower.makeSbus import makeSbus
from pandapower.pypower.makeYbus import makeYbus
from scipy.sparse.linalg import SuperLU, splu, spsolve

from gridstudy.grid.errors import Problem
from gridstudy.grid.poi_meter import PoiMeter
from gridstudy.studies.errors import StudyError
from gridstudy.studies.qsts.fast_jacobian import jacobian_values, lu_refactor, lu_solve_columns
from gridstudy.studies.qsts.grid_forming import add_grid_forming, grid_forming_problems
from gridstudy.studies.qsts.inputs import QSTSInputs

__all__ = ["FastModel", "FactorSet", "build_model", "unsupported_features", "DENSE_MAX"]

#: Largest Jacobian order solved with a dense inverse; above it, sparse LU factors. [-]
DENSE_MAX = 48

#: ``(Ybus, Yf, Yt, branch)``: the admittance matrices pandapower builds for one set of tap
#: positions, and the internal branch table they were built from.
YbusSet = tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, np.ndarray]


def unsupported_features(inputs: QSTSInputs) -> list[Problem]:
    """Every feature of ``inputs`` the fast engine cannot model, as problems naming them."""
    net = inputs.site.net
    out = []

    def in_service(tab: str) -> Any:  # the in-service rows of a net table (a DataFrame), [] without one
        t = net[tab] if tab in net else None
        return t[t.in_service.astype(bool)] if t is not None and len(t) and "in_service" in t else (t if t is not None else [])

    out += grid_forming_problems(inputs)
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


def _off_diagonal(A: sp.spmatrix) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], np.ndarray, np.ndarray]:
    """A square CSC factor split into its off-diagonal part ``(indptr, indices, data)`` and its
    diagonal, without scipy's general triangle extraction."""
    A = sp.csc_matrix(A)
    n = A.shape[0]
    col = np.repeat(np.arange(n), np.diff(A.indptr))
    off = A.indices != col
    diag = np.zeros(n)
    diag[col[~off]] = A.data[~off]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(col[off], minlength=n), out=indptr[1:])
    return indptr, A.indices[off].astype(np.int64), A.data[off], diag


def _column(A: sp.csc_matrix, c: int, n: int) -> np.ndarray:
    """Column ``c`` of the CSC matrix ``A`` as a dense vector of length ``n``."""
    out = np.zeros(n, dtype=A.dtype)
    sl = slice(A.indptr[c], A.indptr[c + 1])
    out[A.indices[sl]] = A.data[sl]
    return out


#: Smallest pivot of a numeric refactorisation on the fixed pattern, relative to the largest entry
#: of its column of the Jacobian; a smaller one sends the factorisation to SuperLU's row pivoting.
#: [-]
PIVOT_REL = 1e-8


class FactorSet:
    """Sparse LU factorisations of the power-flow Jacobian, each taken at an operating point, for
    the kernel's sparse mode (:func:`gridstudy.studies.qsts.fast_kernel.solve_block`).

    Slot ``f`` holds ``Pr J Pc = L U`` (``L`` unit lower triangular without its diagonal, ``U``
    strictly upper with the reciprocal of its diagonal in ``Ud``; column pointers per slot, row
    indices and values in rows of width :attr:`cap`), the operating point's key (the changing
    injections and slack voltages, see the kernel) and the sensitivities ``S[f, x] = J⁻¹ ∂F/∂key_x``
    of the unknowns to each key component: the kernel's first-order predictor of a step from a
    solved point. ``state = [slots used, steps until a full set may replace a slot, -, uses of
    slot 0, uses of slot 1, ...]``; a slot is replaced by the one used least since the last
    replacement.
    """

    def __init__(self, m: int, kd: int, slots: int) -> None:
        self.m, self.kd, self.slots = m, kd, slots
        self.cap = 1
        self.Lp = np.zeros((slots, m + 1), np.int64)
        self.Up = np.zeros((slots, m + 1), np.int64)
        self._alloc(1)
        self.Ud = np.zeros((slots, m))
        self.perm_r = np.zeros((slots, m), np.int64)
        self.perm_c = np.zeros((slots, m), np.int64)
        self.S = np.zeros((slots, kd, m))
        self.key = np.zeros((slots, kd))
        self.state = np.zeros(3 + slots, np.int64)
        self.count = 0  # factorisations added

    def _alloc(self, cap: int) -> None:
        old = [getattr(self, n, None) for n in ("Li", "Lx", "Ui", "Ux")]
        self.Li = np.zeros((self.slots, cap), np.int64)
        self.Lx = np.zeros((self.slots, cap))
        self.Ui = np.zeros((self.slots, cap), np.int64)
        self.Ux = np.zeros((self.slots, cap))
        for a, b in zip(old, (self.Li, self.Lx, self.Ui, self.Ux), strict=True):
            if a is not None:
                b[:, : a.shape[1]] = a
        self.cap = cap

    def clear(self) -> None:
        """Forget every slot (the admittance matrix changed)."""
        self.state[:] = 0

    def _slot(self, cooldown: int) -> int:
        """The slot the next factorisation goes to: a free one, else the least used since the last
        replacement (the kernel then may not ask for another for ``cooldown`` steps)."""
        st = self.state
        if st[0] < self.slots:
            f = int(st[0])
            st[0] += 1
        else:
            f = int(np.argmin(st[3:]))
            st[1] = cooldown
        st[3:] = 0
        return f

    def _fit(self, need: int) -> None:
        if need > self.cap:
            self._alloc(max(need, int(1.25 * self.cap)))

    def factorise(self, model: FastModel, Ybus: sp.csr_matrix, V: np.ndarray, dsd: np.ndarray | None,
                  B: np.ndarray, key: np.ndarray, cooldown: int) -> int:
        """Factorise the Jacobian at ``V`` (load derivative ``dsd``, see :meth:`FastModel.jacobian`)
        into a slot with the sensitivities ``J⁻¹ B`` of the unknowns to the key's components
        (``B``: :meth:`FastModel.injection_columns`) and the key; return the slot. Numeric only,
        on the symbolic factorisation kept per ``Ybus`` (:meth:`FastModel.lu_pattern`,
        :func:`gridstudy.studies.qsts.fast_jacobian.lu_refactor`); a pivot below
        :data:`PIVOT_REL` falls back to SuperLU with row pivoting (:meth:`FastModel.factor`)."""
        Jp, Jj, q, qinv, Lp, Li, Up, Ui = model.lu_pattern(Ybus, V)
        data = model.jacobian_data(Ybus, V, dsd)[0]
        nl = len(Li)
        self._fit(nl)
        f = self._slot(cooldown)
        Lx, Ux, Ud = self.Lx[f], self.Ux[f], self.Ud[f]
        if lu_refactor(Jp, Jj, data, q, qinv, Lp, Li, Lx, Up, Ui, Ux, Ud, np.zeros(self.m), PIVOT_REL):
            self.Lp[f] = Lp
            self.Li[f, :nl] = Li
            self.Up[f] = Up
            self.Ui[f, :nl] = Ui
            self.perm_r[f] = qinv
            self.perm_c[f] = qinv
            lu_solve_columns(self.Lp[f], self.Li[f], Lx, self.Up[f], self.Ui[f], Ux, Ud, qinv, qinv, B, self.S[f])
        else:
            lu = model.factor(Ybus, V, dsd)
            self._store(f, lu)
            self.S[f] = lu.solve(B).T
        self.key[f] = key
        self.count += 1
        return f

    def _store(self, f: int, lu: SuperLU) -> None:
        """Slot ``f``'s factors from SuperLU's ``lu``."""
        (Lp, Li, Lx, _), (Up, Ui, Ux, Ud) = _off_diagonal(lu.L), _off_diagonal(lu.U)
        self._fit(max(len(Li), len(Ui)))
        self.Lp[f] = Lp
        self.Li[f, : len(Li)] = Li
        self.Lx[f, : len(Li)] = Lx
        self.Up[f] = Up
        self.Ui[f, : len(Ui)] = Ui
        self.Ux[f, : len(Ui)] = Ux
        self.Ud[f] = 1.0 / Ud
        self.perm_r[f] = lu.perm_r
        self.perm_c[f] = lu.perm_c

    def args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                            np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The kernel's factor arguments."""
        return (self.Lp, self.Li, self.Lx, self.Up, self.Ui, self.Ux, self.Ud, self.perm_r, self.perm_c,
                self.S, self.key, self.state)


class FastModel:
    """The net as the fast engine sees it: pandapower's internal arrays plus lookups.

    Built by :func:`build_model`. Works on a private deep copy of the site's net.
    """

    def __init__(self, inputs: QSTSInputs, tolerance_mva: float = 1e-8) -> None:

        site = inputs.site
        self.site = site
        net = copy.deepcopy(site.net)
        self.net = net
        gfm = inputs.controls.grid_forming
        #: the grid-forming plant in the model's net (``None``: the battery is a PQ injection)
        self.gfm = add_grid_forming(net, site, gfm) if gfm is not None else None
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
        _ppc, ppci = self._convert(self.tap_pos0)
        self.baseMVA = float(ppci["baseMVA"])
        self.bus = ppci["bus"]
        self.gen = ppci["gen"]
        self.branch_is = np.asarray(ppci["internal"]["branch_is"], dtype=bool)
        self.nb = self.bus.shape[0]
        ref, pv, pq = bustypes(self.bus, self.gen)
        self.ref, self.pv, self.pq = (np.asarray(x, dtype=np.int64) for x in (ref, pv, pq))
        self.pvpq = np.r_[self.pv, self.pq].astype(np.int64)
        #: each internal bus's row/column in the Jacobian ``[Va(pv+pq), Vm(pq)]``: its angle's
        #: (``pos_a``) and its magnitude's (``pos_m``), -1 where it has none
        self.pos_a = np.full(self.nb, -1, dtype=np.int64)
        self.pos_a[self.pvpq] = np.arange(len(self.pvpq))
        self.pos_m = np.full(self.nb, -1, dtype=np.int64)
        self.pos_m[self.pq] = len(self.pvpq) + np.arange(len(self.pq))
        self.lookup = np.asarray(net._pd2ppc_lookups["bus"], dtype=np.int64)
        self.branch_lookup = dict(net._pd2ppc_lookups["branch"])
        self.base_kv = self.bus[:, BASE_KV].real.astype(float)
        self.Sbus0 = makeSbus(self.baseMVA, self.bus, self.gen).astype(np.complex128)
        # ext_grid injection at the slack buses (PG of their gen rows) to recover the import
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
        self._ybus_cache: dict[tuple[int, ...], YbusSet] = {}
        self._jac_patterns: dict[int, tuple[Any, ...]] = {}
        self._lu_patterns: dict[int, tuple[Any, ...]] = {}
        self._ycsc: dict[int, tuple[sp.csr_matrix, sp.csc_matrix]] = {}
        #: the POI meter's cut, found once per model: ``(key, PoiMeter)`` (see :mod:`gridstudy.studies.qsts.fast_output`)
        self.meter: tuple[tuple[int, tuple[int, ...], tuple[int, ...]], PoiMeter] | None = None
        self._ybus_cache[tuple(self.tap_pos0.tolist())] = self._ybus_from_branch(ppci["branch"])

    def with_pq_bus(self, bus: int) -> FastModel:
        """The same model with the slack bus ``bus`` (internal index) as a PQ bus: for the steps the
        grid-forming plant is a constant-power injection (its EMF bus then carries no current)."""
        m = copy.copy(self)
        m.ref = self.ref[self.ref != bus]
        m.pq = np.r_[self.pq, bus].astype(np.int64)
        m.pvpq = np.r_[self.pv, m.pq].astype(np.int64)
        m.pos_a = np.full(self.nb, -1, dtype=np.int64)
        m.pos_a[m.pvpq] = np.arange(len(m.pvpq))
        m.pos_m = np.full(self.nb, -1, dtype=np.int64)
        m.pos_m[m.pq] = len(m.pvpq) + np.arange(len(m.pq))
        m._jac_patterns = {}
        m._lu_patterns = {}
        return m

    # -------------------------------------------------------------- pandapower conversion
    def _convert(self, tap_pos: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:

        net = self.net
        if len(self.taps):
            net.trafo.loc[self.taps, "tap_pos"] = np.asarray(tap_pos, dtype=float)
        net._pd2ppc_lookups = {"bus": np.array([], dtype=np.int64), "bus_dc": np.array([], dtype=np.int64),
                               "ext_grid": np.array([], dtype=np.int64), "gen": np.array([], dtype=np.int64),
                               "branch": np.array([], dtype=np.int64), "branch_dc": np.array([], dtype=np.int64)}
        converted: tuple[dict[str, Any], dict[str, Any]] = _pd2ppc(net)  # (ppc, ppci)
        return converted

    def _ext_grid_gen_rows(self) -> npt.NDArray[np.int64]:
        lk = self.net._pd2ppc_lookups.get("ext_grid")
        eg = self.net.ext_grid
        eg = eg[eg.in_service.astype(bool)]
        if lk is None or not len(eg):
            return np.zeros(0, dtype=np.int64)
        rows: np.ndarray = np.asarray(lk)[eg.index.to_numpy()]
        gen_is = np.asarray(self.net._ppc["internal"]["gen_is"]) if "internal" in self.net._ppc and "gen_is" in self.net._ppc["internal"] else None
        rows = rows[rows >= 0]
        return rows[rows < self.gen.shape[0]].astype(np.int64) if gen_is is None else rows.astype(np.int64)

    def _ybus_from_branch(self, branch: np.ndarray) -> YbusSet:
        Ybus, Yf, Yt = makeYbus(self.baseMVA, self.bus, branch)
        Ybus = sp.csr_matrix(Ybus)
        Ybus.sort_indices()
        return Ybus, sp.csr_matrix(Yf), sp.csr_matrix(Yt), branch.copy()

    def ybus(self, tap_pos: np.ndarray | Sequence[int]) -> YbusSet:
        """``(Ybus, Yf, Yt, branch)`` for these tap positions (pandapower's model, cached)."""
        key = tuple(int(t) for t in tap_pos)
        if key not in self._ybus_cache:
            _, ppci = self._convert(np.asarray(key))
            if ppci["bus"].shape[0] != self.nb:
                raise RuntimeError("pandapower changed the bus set on a tap change")
            self._ybus_cache[key] = self._ybus_from_branch(ppci["branch"])
        return self._ybus_cache[key]

    # -------------------------------------------------------------- Jacobian
    @property
    def dense(self) -> bool:
        """Whether the kernel works with dense Jacobian inverses (order ≤ :data:`DENSE_MAX`)."""
        return len(self.pvpq) + len(self.pq) <= DENSE_MAX

    def factor(self, Ybus: sp.csr_matrix, V: np.ndarray, dsd: np.ndarray | None = None) -> SuperLU:
        """Sparse LU factors (:func:`scipy.sparse.linalg.splu`) of the power-flow Jacobian at ``V``;
        ``dsd``: the voltage-dependent loads' ``d(S_load)/d|V|`` per internal bus [pu] (see
        :meth:`jacobian`)."""
        J = self.jacobian(Ybus, V, dsd)
        # minimum degree on J + Jᵀ (the Jacobian's pattern is symmetric) with a preference for
        # diagonal pivots: about a third less fill than COLAMD with partial pivoting on these nets
        return splu(sp.csc_matrix(J), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.1)

    def injection_columns(self, Ybus: sp.csr_matrix, V: np.ndarray, el_bus: np.ndarray, el_w: np.ndarray,
                          ref_bus: np.ndarray, ref_w: np.ndarray, angle_ref: int = -1) -> np.ndarray:
        """``∂F/∂key`` at ``V``: the mismatch rows ``[P(pv+pq), Q(pq)]`` against the kernel's key
        (:func:`gridstudy.studies.qsts.fast_kernel.solve_block`): per changing element ``e`` its
        consumer power ``el_w[e]·P`` and ``el_w[e]·Q`` [pu] (1 on the P row, and the Q row of a PQ
        bus, of its internal bus ``el_bus[e]``; nothing at a slack bus or for a weight of 0), then
        per slack bus ``ref_bus[r]`` its voltage magnitude times ``ref_w[r]``:
        ``V_b conj(Y_b,ref V_ref/|V_ref|) / ref_w`` on the rows of the other buses. Solved with
        the Jacobian, the columns are the first-order sensitivities of the unknowns to the key.
        ``angle_ref >= 0``: one more column, the angle of the slack ``ref_bus[angle_ref]`` times
        its ``ref_w`` (a grid-forming plant's EMF): ``V_b conj(Y_b,ref · j V_ref) / ref_w``."""
        pvpq, pq = self.pvpq, self.pq
        pos_a, pos_m = self.pos_a, self.pos_m
        ne = len(el_bus)
        B = np.zeros((len(pvpq) + len(pq), 2 * ne + len(ref_bus) + (1 if angle_ref >= 0 else 0)))
        for e in range(ne):
            b = int(el_bus[e])
            if el_w[e] != 0.0 and pos_a[b] >= 0:
                B[pos_a[b], e] = 1.0
            if el_w[e] != 0.0 and pos_m[b] >= 0:
                B[pos_m[b], ne + e] = 1.0
        yc = self._ycsc.get(id(Ybus))
        if yc is None or yc[0] is not Ybus:
            yc = (Ybus, sp.csc_matrix(Ybus))
            self._ycsc[id(Ybus)] = yc
        Yc = yc[1]
        for r, rb in enumerate(ref_bus):
            if ref_w[r] > 0.0:
                col = V * np.conj(_column(Yc, int(rb), self.nb) * (V[rb] / abs(V[rb]))) / ref_w[r]
                B[pos_a[pvpq], 2 * ne + r] = col[pvpq].real
                B[pos_m[pq], 2 * ne + r] = col[pq].imag
        if angle_ref >= 0 and ref_w[angle_ref] > 0.0:
            rb = int(ref_bus[angle_ref])
            col = V * np.conj(_column(Yc, rb, self.nb) * (1j * V[rb])) / ref_w[angle_ref]
            B[pos_a[pvpq], -1] = col[pvpq].real
            B[pos_m[pq], -1] = col[pq].imag
        return B

    def jacobian(self, Ybus: sp.csr_matrix, V: np.ndarray, dsd: np.ndarray | None = None) -> sp.csc_matrix:
        """The power-flow Jacobian at ``V`` (CSC), rows and columns ``[Va(pv+pq), Vm(pq)]``;
        ``dsd`` (optional, per internal bus [pu]) is added on the ``dVm`` diagonal: the derivative
        of the voltage-dependent loads' consumer power, which enters the mismatch with a plus sign.
        The pattern is worked out once per ``Ybus``; the values are filled by
        :func:`gridstudy.studies.qsts.fast_jacobian.jacobian_values`."""

        out, indices, indptr = self.jacobian_data(Ybus, V, dsd)
        m = len(self.pvpq) + len(self.pq)
        return sp.csc_matrix((out, indices, indptr), shape=(m, m))

    def jacobian_data(self, Ybus: sp.csr_matrix, V: np.ndarray,
                      dsd: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The Jacobian of :meth:`jacobian` as its CSC arrays ``(data, indices, indptr)``."""
        pat = self._jac_patterns.get(id(Ybus))
        if pat is None or pat[0] is not Ybus:
            pat = (Ybus, *self._jacobian_pattern(Ybus))
            self._jac_patterns[id(Ybus)] = pat
        _, Yrow, src, kind, dest, indices, indptr = pat
        out = np.empty(len(src))
        d = np.zeros(self.nb, dtype=np.complex128) if dsd is None else np.asarray(dsd, dtype=np.complex128)
        jacobian_values(Ybus.indptr.astype(np.int64), Ybus.indices.astype(np.int64), Ybus.data.astype(np.complex128),
                        np.asarray(V, dtype=np.complex128), Yrow, src, kind, dest, d, out)
        return out, indices, indptr

    def lu_pattern(self, Ybus: sp.csr_matrix, V: np.ndarray) -> tuple[np.ndarray, ...]:
        """The symbolic LU factorisation of the Jacobian for ``Ybus``, worked out once per ``Ybus``:
        ``(Jp, Jj, q, qinv, Lp, Li, Up, Ui)`` for
        :func:`gridstudy.studies.qsts.fast_jacobian.lu_refactor`. The order ``q`` is the column
        order SuperLU's minimum degree on ``J + Jᵀ`` gives (:meth:`factor`, at ``V``), taken for rows
        too (diagonal pivots: the Jacobian's pattern is symmetric); the fill of that order is found
        on the elimination tree of the permuted pattern (symmetrised), so every later
        factorisation for this ``Ybus`` is numeric only."""
        pat = self._lu_patterns.get(id(Ybus))
        if pat is not None and pat[0] is Ybus:
            return pat[1:]
        data, indices, indptr = self.jacobian_data(Ybus, V)
        m = len(indptr) - 1
        J = sp.csc_matrix((data, indices, indptr), shape=(m, m))
        perm_c = splu(J, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.1).perm_c
        q = np.argsort(perm_c).astype(np.int64)
        qinv = np.asarray(perm_c, dtype=np.int64)
        P = sp.csc_matrix((np.ones(J.nnz), J.indices, J.indptr), shape=(m, m))[q][:, q]
        S = sp.csc_matrix(P + P.T)
        S.sort_indices()
        cols: list[set[int]] = [set() for _ in range(m)]
        children: list[list[int]] = [[] for _ in range(m)]
        for j in range(m):  # column patterns of L on the elimination tree
            rows = S.indices[S.indptr[j]:S.indptr[j + 1]]
            c = set(rows[rows > j].tolist())
            for ch in children[j]:
                c |= cols[ch]
            c.discard(j)
            cols[j] = c
            if c:
                children[min(c)].append(j)
        Lp = np.zeros(m + 1, dtype=np.int64)
        Lp[1:] = np.cumsum([len(c) for c in cols])
        Li = np.fromiter((i for c in cols for i in sorted(c)), dtype=np.int64, count=int(Lp[-1]))
        # U's pattern is Lᵀ's: column j of U holds the rows k < j whose L column holds j
        Lcol = np.repeat(np.arange(m, dtype=np.int64), np.diff(Lp))
        order = np.lexsort((Lcol, Li))
        Ui = Lcol[order]
        Up = np.zeros(m + 1, dtype=np.int64)
        Up[1:] = np.cumsum(np.bincount(Li, minlength=m))
        pat = (Ybus, indptr.astype(np.int64), indices.astype(np.int64), q, qinv, Lp, Li, Up, Ui)
        self._lu_patterns[id(Ybus)] = pat
        return pat[1:]

    def _jacobian_pattern(self, Ybus: sp.csr_matrix) -> tuple[np.ndarray, ...]:
        """Where each ``Ybus`` entry's four derivatives go in the CSC Jacobian: ``(Yrow, src, kind,
        dest, indices, indptr)`` for :func:`gridstudy.studies.qsts.fast_jacobian.jacobian_values`."""
        pvpq, pq = self.pvpq, self.pq
        pos_a, pos_m = self.pos_a, self.pos_m
        Yrow = np.repeat(np.arange(self.nb, dtype=np.int64), np.diff(Ybus.indptr))
        cols = Ybus.indices.astype(np.int64)
        rows_l, cols_l, src_l, kind_l = [], [], [], []
        for q, (rpos, cpos) in enumerate(((pos_a, pos_a), (pos_a, pos_m), (pos_m, pos_a), (pos_m, pos_m))):
            r, c = rpos[Yrow], cpos[cols]
            ok = (r >= 0) & (c >= 0)
            rows_l.append(r[ok])
            cols_l.append(c[ok])
            src_l.append(np.flatnonzero(ok).astype(np.int64))
            kind_l.append(np.full(int(ok.sum()), q, dtype=np.int64))
        rows, cols_, src, kind = (np.concatenate(x) for x in (rows_l, cols_l, src_l, kind_l))
        m = len(pvpq) + len(pq)
        # each (row, column) occurs once: the quadrants' rows and columns are disjoint and Ybus has
        # one entry per (bus, bus); the CSC order of the pattern entries gives their destinations
        M = sp.csc_matrix((np.arange(1, len(rows) + 1, dtype=np.float64), (rows, cols_)), shape=(m, m))
        M.sort_indices()
        if M.nnz != len(rows):
            raise RuntimeError("duplicate Jacobian entries in the pattern")
        dest = np.empty(len(rows), dtype=np.int64)
        dest[M.data.astype(np.int64) - 1] = np.arange(len(rows))
        return Yrow, src, kind, dest, M.indices.astype(np.int32), M.indptr.astype(np.int32)

    def newton(self, Ybus: sp.csr_matrix, Sbus: np.ndarray, V0: np.ndarray, tol: float, max_iter: int = 30,
               loads: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
               ) -> tuple[np.ndarray, bool, int, float]:
        """Full Newton-Raphson from ``V0``; return ``(V, converged, iterations, max|F| [pu])``.

        ``loads``: optional ``f(|V|) -> (extra, slope)`` per internal bus [pu]: consumer power
        of voltage-dependent loads beyond what ``Sbus`` holds, and its derivative by ``|V|``."""
        V = V0.copy()
        Vm, Va = np.abs(V), np.angle(V)
        pvpq, pq = self.pvpq, self.pq
        npvpq = len(pvpq)
        slope = None
        for it in range(max_iter + 1):
            mis = V * np.conj(Ybus @ V) - Sbus
            if loads is not None:
                extra, slope = loads(np.abs(V))
                mis = mis + extra
            F = np.r_[mis[pvpq].real, mis[pq].imag]
            worst = float(np.max(np.abs(F))) if len(F) else 0.0
            if not np.isfinite(worst):
                return V, False, it, worst
            if worst <= tol:
                return V, True, it, worst
            if it == max_iter:
                break
            J = self.jacobian(Ybus, V, slope)
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
