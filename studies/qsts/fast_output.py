"""Turn a block of fast-engine solutions (internal complex voltages) into what the recorder takes:
bus voltages in ``net.bus`` order, branch loadings as pandapower defines them, and the per-step
series (POI voltage, campus/battery/grid P and Q, the POI meter's P and Q, tap positions).

The POI meter (:mod:`gridstudy.grid.poi_meter`) is read from the voltages like ``res_<branch>``
in pandapower: for each branch of its cut, ``S = V_poi · conj(Y_row · V) · baseMVA`` with the
``Yf`` row (POI at the branch's from end) or the ``Yt`` row (POI at its to end) of the admittance
matrices pandapower builds for the tap positions in force; plus the campus loads and storages
connected at the POI bus itself."""

from __future__ import annotations

import math

import numpy as np
import pandapower as pp
import scipy.sparse as sp
from numba import njit
from pandapower.pypower.idx_brch import F_BUS, T_BUS

from gridstudy.grid.poi_meter import poi_meter
from gridstudy.grid.site import Site
from gridstudy.studies.qsts.fast_kernel import vd_multipliers
from gridstudy.studies.qsts.fast_model import FastModel
from gridstudy.studies.qsts.inputs import QSTSInputs
from gridstudy.studies.qsts.results import CURRENT_LIMITED, BlockSink, tap_series_name

__all__ = ["BlockOutput"]

SQRT3 = np.sqrt(3.0)


@njit(cache=True, nogil=True)
def _branch_block(V: np.ndarray, a: int, b: int, Yfp: np.ndarray, Yfj: np.ndarray, Yfx: np.ndarray, Ytp: np.ndarray,
                  Ytj: np.ndarray, Ytx: np.ndarray, rows: np.ndarray, scale_f: np.ndarray, scale_t: np.ndarray,
                  Yp: np.ndarray, Yj: np.ndarray, Yx: np.ndarray, ref: np.ndarray, out: np.ndarray, s_ref: np.ndarray,
                  m_rows: np.ndarray, m_to: np.ndarray, m_bus: int, s_meter: np.ndarray, bus_pos: np.ndarray,
                  bus_ok: np.ndarray, vm: np.ndarray) -> None:
    """Steps ``a .. b-1`` of ``V`` (internal voltages [pu]): ``vm[i, c] = |V[i, bus_pos[c]]|`` (NaN
    where not ``bus_ok[c]``), ``out[i, c] = max(|If|·scale_f[c],
    |It|·scale_t[c])`` of internal branch ``rows[c]`` (0 where ``rows[c] < 0``),
    ``s_ref[i] = Σ V_r·conj((Ybus·V)_r)`` over the slack buses ``ref`` [pu], and ``s_meter[i] =
    Σ V_m·conj(I)`` over the branches ``m_rows`` of the POI meter's cut, ``I`` from their ``Yt``
    row where ``m_to`` else their ``Yf`` row, ``m_bus`` the internal POI bus [pu]."""
    for i in range(a, b):
        for c in range(bus_pos.shape[0]):
            if bus_ok[c]:
                x = V[i, bus_pos[c]]
                vm[i, c] = math.sqrt(x.real * x.real + x.imag * x.imag)
            else:
                vm[i, c] = np.nan
        sm = 0j
        for c in range(m_rows.shape[0]):
            r = m_rows[c]
            acc = 0j
            if m_to[c]:
                for k in range(Ytp[r], Ytp[r + 1]):
                    acc += Ytx[k] * V[i, Ytj[k]]
            else:
                for k in range(Yfp[r], Yfp[r + 1]):
                    acc += Yfx[k] * V[i, Yfj[k]]
            sm += V[i, m_bus] * np.conj(acc)
        s_meter[i] = sm
        for c in range(rows.shape[0]):
            r = rows[c]
            if r < 0:
                out[i, c] = 0.0
                continue
            acc_f = 0j
            for k in range(Yfp[r], Yfp[r + 1]):
                acc_f += Yfx[k] * V[i, Yfj[k]]
            acc_t = 0j
            for k in range(Ytp[r], Ytp[r + 1]):
                acc_t += Ytx[k] * V[i, Ytj[k]]
            # squared magnitudes, one square root: abs() of a complex is a hypot, slow at this count
            sf2 = (acc_f.real * acc_f.real + acc_f.imag * acc_f.imag) * (scale_f[c] * scale_f[c])
            st2 = (acc_t.real * acc_t.real + acc_t.imag * acc_t.imag) * (scale_t[c] * scale_t[c])
            out[i, c] = math.sqrt(max(sf2, st2))
        s = 0j
        for x in range(ref.shape[0]):
            g = ref[x]
            acc = 0j
            for k in range(Yp[g], Yp[g + 1]):
                acc += Yx[k] * V[i, Yj[k]]
            s += V[i, g] * np.conj(acc)
        s_ref[i] = s


class BlockOutput:
    """Per-run constants for :meth:`emit`; built by :func:`gridstudy.studies.qsts.fast.solve_series`."""

    def __init__(self, model: FastModel, inputs: QSTSInputs, el_bus: np.ndarray, el_w: np.ndarray,
                 el_p0: np.ndarray, el_q0: np.ndarray, el_scale: np.ndarray, col_load: dict[int, int],
                 col_st: dict[int, int], vv_storages: list[int],
                 vd: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """``el_*``: the changing elements as :func:`gridstudy.studies.qsts.fast.solve_series` lays them out
        (internal bus, ``scaling / sn_mva`` weight [1/MVA] (0 when out of service), base P [MW] and
        Q [Mvar], scaling); ``col_load``/``col_st``: table index -> element column; ``vd``: the
        voltage-dependent loads ``(columns, parameters)`` (their reported draw is the schedule
        times the multiplier at their bus voltage, as the grid sees it)."""


        site, net = inputs.site, model.net
        self.model, self.site = model, site
        bus_idx = site.net.bus.index.to_numpy()  # the site's buses (a grid-forming plant adds its own)
        lk = model.lookup[bus_idx]
        self.bus_ok = lk < model.nb
        self.bus_pos = np.where(self.bus_ok, lk, 0)
        self.poi = int(model.lookup[site.poi_bus])
        self.poi_ok = self.poi < model.nb
        self.el_scale = el_scale
        self.campus_cols = np.array([col_load[int(c)] for c in site.campus_loads], dtype=np.int64)
        self.vd_cols = np.asarray(vd[0] if vd is not None else [], dtype=np.int64)
        self.vd_bus = np.asarray(el_bus[self.vd_cols], dtype=np.int64)
        self.vd_par = np.asarray(vd[1] if vd is not None else (0.0, 1.0, 0.0, 0.0), dtype=float)
        ne = len(el_scale)
        self.p0, self.q0 = el_p0, el_q0
        self.vv_cols = np.array([col_st[s] for s in vv_storages], dtype=np.int64)
        st = [int(s) for s in site.storages]
        self.st_cols = np.array([col_st[s] for s in st if s in col_st], dtype=np.int64)
        static = [s for s in st if s not in col_st]
        sc = net.storage.loc[static, "scaling"].to_numpy(dtype=float) * net.storage.loc[static, "in_service"].to_numpy(dtype=float) if static else np.zeros(0)
        self.st_static_p = float((net.storage.loc[static, "p_mw"].to_numpy(dtype=float) * sc).sum()) if static else 0.0
        self.st_static_q = float((net.storage.loc[static, "q_mvar"].to_numpy(dtype=float) * sc).sum()) if static else 0.0
        # incidence elements -> internal buses with the weights of the delta injections
        self.C = sp.csr_matrix((el_w, (np.arange(ne), el_bus)), shape=(ne, model.nb))
        self.ref = np.unique(model.ref)
        self.gfm = model.gfm
        if self.gfm is not None:  # the grid import: the plant's EMF is not the grid
            self.ref = self.ref[self.ref != model.lookup[self.gfm.internal_bus]]
        self.tap_names = [tap_series_name(site.net, int(t)) for t in site.regulating_trafos]
        # per reported branch (lines, then trafos): internal row (-1 when pandapower dropped it)
        # and the factors from |If|, |It| [pu] to loading [%], as pandapower defines it: lines
        # max(i_from, i_to) / (max_i_ka · df · parallel), trafos max(i_hv · vn_hv, i_lv · vn_lv) ·
        # √3 / (sn_mva · parallel · df)
        ppci_of_ppc = np.full(len(model.branch_is), -1, dtype=np.int64)
        ppci_of_ppc[model.branch_is] = np.arange(int(model.branch_is.sum()))
        f, t = model.branch_lookup.get("line", (0, 0))
        line_rows = ppci_of_ppc[f:t]
        f, t = model.branch_lookup.get("trafo", (0, 0))
        trafo_rows = ppci_of_ppc[f:t]
        ln, tr = net.line, net.trafo
        line_imax = (ln.max_i_ka * ln.df * ln.parallel).to_numpy(dtype=float)
        tr_den = (tr.sn_mva * tr.parallel * tr.df).to_numpy(dtype=float)
        branch = model.ybus(model.tap_pos0)[3]
        rows = np.r_[line_rows, trafo_rows].astype(np.int64)
        rr = np.where(rows >= 0, rows, 0)
        kv_f = model.base_kv[branch[:, F_BUS].real.astype(np.int64)][rr]
        kv_t = model.base_kv[branch[:, T_BUS].real.astype(np.int64)][rr]
        nl = len(line_rows)
        base = model.baseMVA
        with np.errstate(divide="ignore", invalid="ignore"):
            sf = base / SQRT3 / kv_f
            st_ = base / SQRT3 / kv_t
            sf[:nl] *= 100.0 / line_imax
            st_[:nl] *= 100.0 / line_imax
            sf[nl:] *= tr.vn_hv_kv.to_numpy(dtype=float) * SQRT3 / tr_den * 100.0
            st_[nl:] *= tr.vn_lv_kv.to_numpy(dtype=float) * SQRT3 / tr_den * 100.0
        self.rows, self.scale_f, self.scale_t = rows, sf, st_
        self._meter_init(net, site, branch, ppci_of_ppc, col_load, col_st)

    def _meter_init(self, net: pp.pandapowerNet, site: Site, branch: np.ndarray, ppci_of_ppc: np.ndarray,
                    col_load: dict[int, int], col_st: dict[int, int]) -> None:
        """The POI meter's cut as internal branch rows (``Yf`` or ``Yt`` side) and its elements at
        the POI bus as element columns (plus fixed storages, constant P and Q [MW, Mvar])."""


        model = self.model
        key = (int(site.poi_bus), tuple(int(c) for c in site.campus_loads), tuple(int(s) for s in site.storages))
        if model.meter is None or model.meter[0] != key:  # the cut is a graph search: once per model
            # the site's own net: a grid-forming plant's source sits behind the terminal
            model.meter = (key, poi_meter(site.net, site.poi_bus, site.campus_loads, site.storages))
        meter = model.meter[1]
        self.meter_ok = meter.ok and self.poi_ok
        m_rows, m_to = [], []
        for table, idx, end in meter.branches:
            f, _t = model.branch_lookup[table]
            pos = int(net[table].index.get_loc(idx))
            n = len(net[table])
            winding = {"mv": n, "lv": 2 * n}.get(end, 0) if table == "trafo3w" else 0  # hv, mv, lv rows
            row = int(ppci_of_ppc[f + winding + pos])
            if row < 0:
                continue  # pandapower left the branch out (out of service or isolated): no flow
            # the end at the POI: a line open there by a switch ends at an auxiliary bus instead
            if int(branch[row, F_BUS].real) == self.poi:
                m_rows.append(row)
                m_to.append(False)
            elif int(branch[row, T_BUS].real) == self.poi:
                m_rows.append(row)
                m_to.append(True)
        self.m_rows = np.asarray(m_rows, dtype=np.int64)
        self.m_to = np.asarray(m_to, dtype=np.bool_)
        self._meter_storages = tuple(int(s) for s in meter.storages)
        self.m_cols = np.array([col_load[int(i)] for i in meter.loads]
                               + [col_st[int(s)] for s in meter.storages if int(s) in col_st], dtype=np.int64)
        fixed = [int(s) for s in meter.storages if int(s) not in col_st]
        st = net.storage.loc[fixed]
        w = st.scaling.to_numpy(dtype=float) * st.in_service.to_numpy(dtype=float)
        self.m_fixed = complex(float((st.p_mw.to_numpy(dtype=float) * w).sum()),
                               float((st.q_mvar.to_numpy(dtype=float) * w).sum()))

    def emit(self, sink: BlockSink, start: int, V: np.ndarray, conv: np.ndarray, iters: np.ndarray,
             mis_mva: np.ndarray, vvq: np.ndarray, el_p: np.ndarray, el_q: np.ndarray, taps: np.ndarray,
             seg_starts: list[int], seg_keys: list[tuple[int, ...]], gfm_out: np.ndarray | None = None) -> None:
        """Compute the block's outputs from internal voltages ``V`` [pu] and hand them to ``sink``;
        ``gfm_out``: per step the grid-forming plant's delivered power at its terminal [MW, Mvar,
        consumer sign] and whether it was current-limited (1.0), with ``Controls.grid_forming``."""
        m = self.model
        k = V.shape[0]
        vm = np.empty((k, self.bus_pos.shape[0]))
        base = m.baseMVA
        # consumer power of the changing elements, volt-var Q substituted [MW, Mvar] (delta form)
        dq = el_q.copy()
        if len(self.vv_cols):
            dq[:, self.vv_cols] = vvq
        D = el_p + 1j * dq
        loading = np.zeros((k, self.rows.shape[0]))
        s_ref = np.zeros(k, dtype=np.complex128)
        s_meter = np.zeros(k, dtype=np.complex128)
        bounds = list(seg_starts) + [k]
        Vc = np.ascontiguousarray(V)
        for s in range(len(seg_starts)):
            a, b = bounds[s], bounds[s + 1]
            if b <= a:
                continue
            Ybus, Yf, Yt, _ = m.ybus(seg_keys[s])
            _branch_block(Vc, a, b, Yf.indptr, Yf.indices, Yf.data, Yt.indptr, Yt.indices, Yt.data,
                          self.rows, self.scale_f, self.scale_t, Ybus.indptr, Ybus.indices, Ybus.data,
                          self.ref, loading, s_ref, self.m_rows, self.m_to, self.poi if self.poi_ok else 0, s_meter,
                          self.bus_pos, self.bus_ok, vm)
        # ext_grid import: computed injection minus scheduled injection at the slack buses
        Ssched = m.Sbus0[self.ref].sum() - (D @ self.C[:, self.ref]).sum(axis=1)
        grid = (s_ref - np.asarray(Ssched).reshape(k) + m.Sg_eg[self.ref].sum()) * base
        bad = ~np.asarray(conv, dtype=bool)
        loading[bad] = np.nan
        grid[bad] = np.nan
        P = (self.p0[None, :] + el_p) * self.el_scale[None, :]
        Q = (self.q0[None, :] + dq) * self.el_scale[None, :]
        if len(self.vd_cols):
            mult = np.empty((k, len(self.vd_cols)))
            vd_multipliers(V, self.vd_bus, self.vd_par, mult)
            P[:, self.vd_cols] *= mult
            Q[:, self.vd_cols] *= mult
        cc, sc = self.campus_cols, self.st_cols
        # the POI meter: the cut's branch flows plus the facility's elements at the POI bus
        meter = s_meter * base + P[:, self.m_cols].sum(axis=1) + 1j * Q[:, self.m_cols].sum(axis=1) + self.m_fixed
        if not self.meter_ok:
            meter[:] = np.nan
        meter[bad] = np.nan
        series = {
            "poi_vm_pu": np.abs(V[:, self.poi]) if self.poi_ok else np.full(k, np.nan),
            "campus_p_mw": P[:, cc].sum(axis=1),
            "campus_q_mvar": Q[:, cc].sum(axis=1),
            "battery_p_mw": P[:, sc].sum(axis=1) + self.st_static_p,
            "battery_q_mvar": Q[:, sc].sum(axis=1) + self.st_static_q,
            "grid_p_mw": grid.real.copy(),
            "grid_q_mvar": grid.imag.copy(),
            "poi_p_mw": meter.real.copy(),
            "poi_q_mvar": meter.imag.copy(),
        }
        if self.gfm is not None and gfm_out is not None:
            g = np.where(bad[:, None], np.nan, np.asarray(gfm_out, dtype=float))
            series["battery_p_mw"], series["battery_q_mvar"], series[CURRENT_LIMITED] = g[:, 0], g[:, 1], g[:, 2]
            if self._meter_storages:
                series["poi_p_mw"] = series["poi_p_mw"] + g[:, 0]  # the plant at the POI node itself
                series["poi_q_mvar"] = series["poi_q_mvar"] + g[:, 1]
        for c, name in enumerate(self.tap_names):
            series[name] = taps[:, c].astype(float)
        sink(start, vm, loading, series, np.asarray(conv, dtype=bool), np.asarray(iters, dtype=np.int64),
             np.asarray(mis_mva, dtype=float))
