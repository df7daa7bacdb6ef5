"""Streamed QSTS results: bounded-memory aggregates, chosen series, worst-event windows.

Both engines feed a :class:`ResultRecorder` block by block (a block is ``k`` consecutive steps)
and call :meth:`ResultRecorder.finish` to get a :class:`QSTSResult`. Nothing is kept per step
*and* per bus, so memory does not grow with the network size times the horizon:

- per bus: min/max voltage with the step where it occurred, seconds below/above each band of
  :attr:`RecordSpec.bands`, a histogram on :attr:`RecordSpec.histogram_edges_pu` (with an
  underflow and an overflow bin);
- per branch (lines, then transformers): min/max ``loading_percent`` with their step;
- per step, for the chosen quantities (POI voltage, campus/battery/grid P and Q, the POI meter's
  P and Q, tap positions):
  the full series (8 bytes a step each), or min/max envelopes at :attr:`RecordSpec.envelope_freq`;
- full-resolution windows (every series and every bus voltage) of the
  :attr:`RecordSpec.worst_windows` worst POI-voltage windows. The horizon is tiled into aligned
  windows of :attr:`RecordSpec.window_s`; a window's severity is its largest
  ``|poi_vm_pu - 1|`` [pu]; the most severe windows are kept (ties: the earlier window);
- per step: ``converged`` (bool), ``iterations`` (int16), ``max_mismatch_mva`` (float32); with
  envelopes (:attr:`RecordSpec.envelope_freq`) the same per envelope interval instead (every step
  converged, most iterations, largest mismatch), the count of non-converged steps and the first of
  them exact in the summary.

A step that did not converge carries NaN voltages and loadings: it is excluded from the extremes,
band times and histograms and counted in :attr:`QSTSResult.summary` ``["nonconverged_steps"]``.

Memory, a year at 1 s (31.5 M steps) on 50 buses: with envelopes, a few bytes per envelope
interval for the series and the convergence record (a few MB at 1 minute) besides the per-bus and
per-branch aggregates; with the series in full, 8 bytes a step for each series and 7 for the
convergence record.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import pandapower as pp
import pandas as pd
from numba import njit

from gridstudy.grid.errors import parse_json_object, read_text
from gridstudy.grid.site import Site
from gridstudy.models.timeindex import Horizon, as_index
from gridstudy.studies.errors import ReportError
from gridstudy.studies.io import write_json, write_parquet
from gridstudy.studies.qsts.inputs import RecordSpec

__all__ = ["ResultRecorder", "QSTSResult", "BASE_SERIES", "CURRENT_LIMITED", "tap_series_name"]

#: Series every engine reports per step (plus ``tap_pos_<trafo name>`` per regulating trafo).
#: ``poi_p_mw``/``poi_q_mvar``: the POI meter (:mod:`gridstudy.grid.poi_meter`: the power flowing
#: from the POI bus into the facility, transformer and collector losses included; import and
#: absorbed Q positive); ``grid_p_mw``/``grid_q_mvar``: the slack (``ext_grid``) import.
BASE_SERIES = ("poi_vm_pu", "campus_p_mw", "campus_q_mvar", "battery_p_mw", "battery_q_mvar",
               "grid_p_mw", "grid_q_mvar", "poi_p_mw", "poi_q_mvar")


#: Series of a run with a grid-forming plant (:mod:`gridstudy.studies.qsts.grid_forming`): 1.0 on a
#: step where the plant was at its current limit, else 0.0; counted in ``summary["current_limited_steps"]``.
CURRENT_LIMITED = "battery_current_limited"


#: Where an engine hands each block of solved steps: ``sink(start, vm_pu, loading_percent, series,
#: converged, iterations, max_mismatch_mva)`` (:meth:`ResultRecorder.add_block`).
BlockSink = Callable[[int, np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray], None]


class BlockRecorder(Protocol):
    """What an engine streams its blocks into: a :class:`ResultRecorder`, or a wrapper of one."""

    def add_block(self, start: int, vm_pu: np.ndarray, loading_percent: np.ndarray,
                  series: dict[str, np.ndarray], converged: np.ndarray, iterations: np.ndarray,
                  max_mismatch_mva: np.ndarray) -> None:
        """Add the steps ``start .. start + k - 1`` (:meth:`ResultRecorder.add_block`)."""

    def finish(self, meta: dict[str, Any] | None = None) -> QSTSResult:
        """Close the run and return its result (:meth:`ResultRecorder.finish`)."""


def tap_series_name(net: pp.pandapowerNet, trafo: int) -> str:
    """Series name of a transformer's tap position: ``tap_pos_<name>`` (``tap_pos_<index>`` without name)."""
    name = net.trafo.at[trafo, "name"]
    return f"tap_pos_{name}" if isinstance(name, str) and name else f"tap_pos_{trafo}"


@njit(cache=True, nogil=True)
def _bus_counts(vm: np.ndarray, lo: np.ndarray, hi: np.ndarray, edges: np.ndarray, below: np.ndarray,
                above: np.ndarray, hist: np.ndarray) -> None:  # pragma: no cover - compiled
    """Add the steps of ``vm`` (shape (k, n_bus), NaN where not converged) [pu] to the band counts
    ``below``/``above`` (shape (n_band, n_bus): steps with ``vm < lo[q]`` / ``vm > hi[q]``) and to the
    histogram ``hist`` (shape (n_bus, len(edges) + 1): bin ``j`` counts the steps with ``j`` edges at
    or below the voltage, ``np.searchsorted(edges, vm, side="right")``); NaN steps are skipped. [-]"""
    m = edges.shape[0]
    e0 = edges[0] if m else 0.0
    inv_h = (m - 1) / (edges[m - 1] - e0) if m > 1 and edges[m - 1] > e0 else 0.0
    for i in range(vm.shape[0]):
        for b in range(vm.shape[1]):
            v = vm[i, b]
            if not np.isfinite(v):
                continue
            for q in range(lo.shape[0]):
                if v < lo[q]:
                    below[q, b] += 1
                if v > hi[q]:
                    above[q, b] += 1
            # the count of edges at or below v: guessed from an even spacing of the edges, then
            # walked to the exact count (any sorted edges; one or no step for even ones)
            g = (v - e0) * inv_h
            a = 0 if g < 0.0 else (m if g >= m else int(g) + 1)
            while a > 0 and edges[a - 1] > v:
                a -= 1
            while a < m and edges[a] <= v:
                a += 1
            hist[b, a] += 1


@njit(cache=True, nogil=True)
def _extremes_kernel(x: np.ndarray, start: int, mn: np.ndarray, mx: np.ndarray, mn_at: np.ndarray,
                     mx_at: np.ndarray) -> None:  # pragma: no cover - compiled
    """Per column of ``x`` (shape (k, n), NaN skipped): a value below ``mn`` (above ``mx``) replaces
    it, with its step ``start + i`` in ``mn_at`` (``mx_at``); the first step of a tie wins, as
    ``argmin``/``argmax`` of the block and a strict comparison with the running extreme give."""
    for c in range(x.shape[1]):
        lo, hi = mn[c], mx[c]
        lo_at, hi_at = mn_at[c], mx_at[c]
        for i in range(x.shape[0]):
            v = x[i, c]
            if v != v:
                continue
            if v < lo:
                lo, lo_at = v, start + i
            if v > hi:
                hi, hi_at = v, start + i
        mn[c], mx[c], mn_at[c], mx_at[c] = lo, hi, lo_at, hi_at


@njit(cache=True, nogil=True)
def _envelope_kernel(S: np.ndarray, codes: np.ndarray, env_min: np.ndarray, env_max: np.ndarray,
                     conv: np.ndarray, iters: np.ndarray, mis: np.ndarray, r_conv: np.ndarray, r_iter: np.ndarray,
                     r_mis: np.ndarray) -> None:  # pragma: no cover - compiled
    """Fold the steps of a block into their envelope intervals ``codes[i]``: ``env_min``/``env_max``
    (shape (n_series, n_interval)) take the smallest/largest of the series ``S`` (shape (n_series,
    k)) ignoring NaN (``np.fmin``/``np.fmax``); the record: every step converged (``r_conv``), the
    most iterations (``r_iter``, int16), the largest mismatch (``r_mis``, float32, NaN ignored)."""
    for i in range(S.shape[1]):
        c = codes[i]
        for s in range(S.shape[0]):
            v = S[s, i]
            if v == v:
                a = env_min[s, c]
                if not (a <= v):  # a NaN or a larger value gives way
                    env_min[s, c] = v
                b = env_max[s, c]
                if not (b >= v):
                    env_max[s, c] = v
        if not conv[i]:
            r_conv[c] = False
        it = np.int16(iters[i])
        if it > r_iter[c]:
            r_iter[c] = it
        m = np.float32(mis[i])
        if m == m:
            o = r_mis[c]
            if not (o >= m):
                r_mis[c] = m


class ResultRecorder:
    """Accumulate a QSTS run block by block.

    Parameters
    ----------
    site : Site
        The site (its net gives the bus, line and transformer order).
    index : pandas.DatetimeIndex or FixedHorizon
        The study's fixed-step time index (one entry per step); a
        :class:`~gridstudy.models.timeindex.FixedHorizon` makes only the labels the result shows.
    record : RecordSpec
        What to keep besides the per-bus/branch aggregates.
    engine : str
        Name of the engine, kept in the summary.
    extra_series : tuple of str
        Series recorded besides :data:`BASE_SERIES` and the taps (a grid-forming run's
        :data:`CURRENT_LIMITED`, whose steps are counted in ``summary["current_limited_steps"]``).
    """

    def __init__(self, site: Site, index: Horizon, record: RecordSpec | None = None,
                 engine: str = "", extra_series: tuple[str, ...] = ()) -> None:
        self.site, self.index = site, index
        self.record = record or RecordSpec()
        self.engine = engine
        net = site.net
        self.n = len(index)
        # a fixed-step index's freq is a Tick
        self.step_s = float(pd.Timedelta(cast(pd.offsets.Tick, index.freq)).total_seconds()) if index.freq is not None else (
            float((index[1] - index[0]).total_seconds()) if len(index) > 1 else 1.0)
        self.bus_index = net.bus.index.to_numpy()
        self.branch_keys = [("line", int(i)) for i in net.line.index] + [("trafo", int(i)) for i in net.trafo.index]
        self.series_names = (list(BASE_SERIES) + [tap_series_name(net, t) for t in site.regulating_trafos]
                             + list(extra_series))
        #: steps with ``battery_current_limited`` = 1 (the grid-forming plant at its current limit) [-]
        self.current_limited = 0
        nb, nbr = len(self.bus_index), len(self.branch_keys)
        self.vmin = np.full(nb, np.inf)
        self.vmax = np.full(nb, -np.inf)
        self.vmin_at = np.full(nb, -1, dtype=np.int64)
        self.vmax_at = np.full(nb, -1, dtype=np.int64)
        self.lmin = np.full(nbr, np.inf)
        self.lmax = np.full(nbr, -np.inf)
        self.lmin_at = np.full(nbr, -1, dtype=np.int64)
        self.lmax_at = np.full(nbr, -1, dtype=np.int64)
        self.band_names = list(self.record.bands)
        self.band_lo = np.array([self.record.bands[b][0] for b in self.band_names], dtype=float)
        self.band_hi = np.array([self.record.bands[b][1] for b in self.band_names], dtype=float)
        self.below = np.zeros((len(self.band_names), nb), dtype=np.int64)
        self.above = np.zeros((len(self.band_names), nb), dtype=np.int64)
        self.edges = np.asarray(self.record.histogram_edges_pu, dtype=float)
        self.hist = np.zeros((nb, len(self.edges) + 1), dtype=np.int64)
        # per-step series: full or envelopes
        self.full: dict[str, np.ndarray] = {}
        self.env_index: pd.DatetimeIndex | None = None
        self._env_ns: np.ndarray | None = None
        self._env_freq_ns = 0
        #: with intervals that are a range: the first step's offset into its interval and the step [ns]
        self._env_range: tuple[int, int] | None = None
        if self.record.series:
            if self.record.envelope_freq:
                freq, part = self.record.envelope_freq, 1 << 20
                freq_ns = int(pd.Timedelta(freq).value)
                step_ns = int(pd.Timedelta(cast(pd.offsets.Tick, index.freq)).value) if index.freq is not None else 0
                if index.tz is None and 0 < step_ns <= freq_ns:
                    # a tz-naive index floors by integer arithmetic on its nanoseconds (what floor
                    # does); a step no longer than the interval leaves no interval empty between
                    # the first step's and the last's, so the intervals are a range: each step's
                    # interval follows from its position alone (no search, no floored copy)
                    t0 = int(index[0].value)
                    first = t0 - t0 % freq_ns
                    t1 = int(index[-1].value)
                    ne = (t1 - t1 % freq_ns - first) // freq_ns + 1
                    self.env_index = pd.DatetimeIndex(first + freq_ns * np.arange(ne, dtype=np.int64), name=index.name)
                    self._env_range = (t0 - first, step_ns)
                else:
                    # floored a million steps at a time (a year's index floored at once would double it);
                    # a fixed-step index floors to a rising sequence, so the parts' unique values join in order
                    floors = [index[a:a + part].floor(freq).unique() for a in range(0, len(index), part)] or [index[:].floor(freq)]
                    self.env_index = cast(pd.DatetimeIndex, floors[0].append(floors[1:]).unique() if len(floors) > 1 else floors[0])
                    ne = len(self.env_index)
                    # a tz-naive index floors by integer arithmetic on its nanoseconds (what floor does)
                    self._env_ns = pd.DatetimeIndex(self.env_index).asi8 if index.tz is None else None
                self._env_freq_ns = freq_ns
                # one row per series (the dicts hold views of the rows)
                self._env_lo = np.full((len(self.series_names), ne), np.nan)
                self._env_hi = np.full((len(self.series_names), ne), np.nan)
                self.env_min = {s: self._env_lo[j] for j, s in enumerate(self.series_names)}
                self.env_max = {s: self._env_hi[j] for j, s in enumerate(self.series_names)}
            else:
                self.full = {s: np.full(self.n, np.nan) for s in self.series_names}
        # the convergence record: per step, or per envelope interval with the series' envelopes
        # (blocks then come one after the other: the steps added are counted, not marked)
        self.compact = self.env_index is not None
        m = len(self.env_index) if self.env_index is not None else self.n
        self.converged = np.ones(m, dtype=bool) if self.compact else np.zeros(m, dtype=bool)
        self.iterations = np.zeros(m, dtype=np.int16)
        self.mismatch = np.full(m, np.nan, dtype=np.float32)
        self.filled = np.zeros(0 if self.compact else self.n, dtype=bool)
        self.added = 0  # steps added (compact record) [-]
        self.n_bad = 0  # non-converged steps [-]
        self.first_bad = -1  # first non-converged step (-1: none) [-]
        # tap operations
        self.tap_ops = {s: 0 for s in self.series_names if s.startswith("tap_pos_")}
        self.tap_last = dict.fromkeys(self.tap_ops, np.nan)
        # worst windows: aligned windows of window_steps, severity max |poi - 1|
        self.window_steps = max(1, int(round(self.record.window_s / self.step_s)))
        # (severity, -window_no, window_no, start step, series, bus voltages)
        self.heap: list[tuple[float, int, int, int, dict[str, np.ndarray], np.ndarray]] = []
        self.win_no = -1
        self.win_buf: dict[str, list[np.ndarray]] = {}
        self.win_bus: list[np.ndarray] = []
        self.win_sev = -np.inf
        self.win_start = 0

    # ------------------------------------------------------------------ streaming
    def add_block(self, start: int, vm_pu: np.ndarray, loading_percent: np.ndarray,
                  series: dict[str, np.ndarray], converged: np.ndarray, iterations: np.ndarray,
                  max_mismatch_mva: np.ndarray) -> None:
        """Add steps ``start .. start + k - 1``.

        Parameters
        ----------
        start : int
            Position of the block's first step in the index. Blocks come in order. [-]
        vm_pu : ndarray, shape (k, n_bus)
            Bus voltages, columns in ``net.bus.index`` order; NaN where not converged. [pu]
        loading_percent : ndarray, shape (k, n_line + n_trafo)
            Branch loadings, lines then transformers, each in its table's index order. [%]
        series : dict of str to ndarray, shape (k,)
            At least :data:`BASE_SERIES` and ``tap_pos_<name>`` per regulating transformer.
            [pu, MW, Mvar, step]
        converged : ndarray of bool, shape (k,)
        iterations : ndarray of int, shape (k,)
        max_mismatch_mva : ndarray, shape (k,)
            Largest nodal power mismatch at the solution. [MVA]
        """
        vm = np.asarray(vm_pu, dtype=float)
        k = vm.shape[0]
        if start < 0 or start + k > self.n:
            raise ValueError(f"block {start}..{start + k} outside the horizon of {self.n} steps")
        missing = [s for s in self.series_names if s not in series]
        if missing:
            raise ValueError(f"series missing from the block: {', '.join(missing)}")
        sl = slice(start, start + k)
        conv = np.asarray(converged, dtype=bool)
        bad = np.flatnonzero(~conv)
        if len(bad):
            self.n_bad += len(bad)
            self.first_bad = int(start + bad[0]) if self.first_bad < 0 else min(self.first_bad, int(start + bad[0]))
        codes = None
        if self.env_index is not None:
            codes = self._env_codes(sl)
        if self.compact:
            assert codes is not None  # compact: envelopes are kept
            if start != self.added:
                raise ValueError(f"block {start}..{start + k} does not follow step {self.added} (envelopes: blocks in order)")
            self.added += k
        else:
            self.converged[sl] = conv
            self.iterations[sl] = np.asarray(iterations)
            self.mismatch[sl] = np.asarray(max_mismatch_mva, dtype=float)
            self.filled[sl] = True

        if k:
            _extremes_kernel(vm, start, self.vmin, self.vmax, self.vmin_at, self.vmax_at)
            _extremes_kernel(np.asarray(loading_percent, dtype=float).reshape(k, -1), start,
                             self.lmin, self.lmax, self.lmin_at, self.lmax_at)
        _bus_counts(vm, self.band_lo, self.band_hi, self.edges, self.below, self.above, self.hist)

        ser = {s: np.asarray(series[s], dtype=float).reshape(k) for s in self.series_names}
        if CURRENT_LIMITED in ser:
            self.current_limited += int(np.count_nonzero(ser[CURRENT_LIMITED] == 1.0))
        if self.full:
            for s, a in ser.items():
                self.full[s][sl] = a
        elif codes is not None:  # envelopes, and the compact convergence record with them
            S = np.empty((len(self.series_names), k))
            for j, s in enumerate(self.series_names):
                S[j] = ser[s]
            _envelope_kernel(S, codes, self._env_lo, self._env_hi, conv, np.asarray(iterations, dtype=np.int64),
                             np.asarray(max_mismatch_mva, dtype=float), self.converged, self.iterations, self.mismatch)
        for s in self.tap_ops:
            a = np.r_[self.tap_last[s], ser[s]]
            a = a[np.isfinite(a)]
            self.tap_ops[s] += int(np.count_nonzero(np.diff(a)))
            if a.size:
                self.tap_last[s] = a[-1]
        self._windows(start, vm, ser)

    def _env_codes(self, sl: slice) -> np.ndarray:
        """The envelope interval of each step of ``sl`` (its position in ``env_index``). [-]"""
        assert self.env_index is not None  # called with envelopes only
        if self._env_range is not None:  # (offset + i step) // interval, exact in integers
            off, step_ns = self._env_range
            return (off + step_ns * np.arange(sl.start, sl.stop, dtype=np.int64)) // self._env_freq_ns
        if self._env_ns is None:
            return self.env_index.get_indexer(self.index[sl].floor(self.record.envelope_freq))
        t = self.index[sl].asi8
        return np.searchsorted(self._env_ns, t - t % self._env_freq_ns)

    def _windows(self, start: int, vm: np.ndarray, ser: dict[str, np.ndarray]) -> None:
        """Track the worst aligned windows. Severities of all windows in the block come from one
        reduction; only a window that can enter the heap (or the one still open at the block's
        end) has its data copied."""
        if self.record.worst_windows <= 0:
            return
        k = vm.shape[0]
        wid = np.arange(start, start + k) // self.window_steps
        cuts = np.flatnonzero(np.diff(wid)) + 1
        seg0 = np.r_[0, cuts]
        seg1 = np.r_[cuts, k]
        dev = np.abs(np.asarray(ser["poi_vm_pu"], dtype=float) - 1.0)
        sev = np.maximum.reduceat(np.where(np.isfinite(dev), dev, -np.inf), seg0)
        last = len(seg0) - 1
        # windows complete inside the block that cannot beat the heap's weakest entry are skipped
        # (ties go to the earlier window, already in the heap)
        full = len(self.heap) >= self.record.worst_windows
        floor = self.heap[0][0] if full else -np.inf
        keep = np.zeros(len(seg0), dtype=bool)
        keep[0] = keep[last] = True
        keep |= sev > floor if full else True
        for j in np.flatnonzero(keep):
            a, b, w = int(seg0[j]), int(seg1[j]), int(wid[seg0[j]])
            if w != self.win_no:
                self._close_window()
                self.win_no, self.win_start, self.win_sev = w, start + a, -np.inf
            for name in self.series_names:
                self.win_buf.setdefault(name, []).append(ser[name][a:b].copy())
            self.win_bus.append(vm[a:b].copy())
            self.win_sev = max(self.win_sev, float(sev[j]))
            if j != last:
                self._close_window()

    def _close_window(self) -> None:
        if self.win_no < 0 or not self.win_buf:
            self.win_no = -1
            return
        item = (self.win_sev, -self.win_no, self.win_no, self.win_start,
                {s: np.concatenate(v) for s, v in self.win_buf.items()}, np.concatenate(self.win_bus))
        if len(self.heap) < self.record.worst_windows:
            heapq.heappush(self.heap, item)
        elif item[:2] > self.heap[0][:2]:
            heapq.heapreplace(self.heap, item)
        self.win_buf, self.win_bus = {}, []
        self.win_no = -1

    # ------------------------------------------------------------------ result
    def finish(self, meta: dict[str, Any] | None = None) -> QSTSResult:
        """Close the run and return the :class:`QSTSResult`; every step must have been added."""
        missing = self.n - self.added if self.compact else int((~self.filled).sum())
        if missing:
            raise ValueError(f"{missing} steps were never added")
        self._close_window()
        net, idx, dt = self.site.net, self.index, self.step_s

        def when(at: np.ndarray) -> pd.DatetimeIndex:
            return pd.DatetimeIndex([idx[i] if i >= 0 else pd.NaT for i in at])

        def fin(a: np.ndarray) -> np.ndarray:
            return np.where(np.isfinite(a), a, np.nan)

        bus = pd.DataFrame({
            "name": net.bus.name.to_numpy(dtype=object), "vn_kv": net.bus.vn_kv.to_numpy(dtype=float),
            "vm_min_pu": fin(self.vmin), "vm_min_time": when(self.vmin_at),
            "vm_max_pu": fin(self.vmax), "vm_max_time": when(self.vmax_at),
        }, index=pd.Index(self.bus_index, name="bus"))
        for b, name in enumerate(self.band_names):
            bus[f"{name}_below_s"] = self.below[b] * dt
            bus[f"{name}_above_s"] = self.above[b] * dt
            bus[f"{name}_outside_s"] = (self.below[b] + self.above[b]) * dt
        names = [net[t].at[i, "name"] for t, i in self.branch_keys]
        branch = pd.DataFrame({
            "element": [t for t, _ in self.branch_keys], "element_index": [i for _, i in self.branch_keys],
            "name": names,
            "loading_min_percent": fin(self.lmin), "loading_min_time": when(self.lmin_at),
            "loading_max_percent": fin(self.lmax), "loading_max_time": when(self.lmax_at),
        }, index=pd.Index([f"{t} {i}" for t, i in self.branch_keys], name="branch"))
        labels = ([f"< {self.edges[0]:.3f}"] + [f"{a:.3f}-{b:.3f}" for a, b in zip(self.edges[:-1], self.edges[1:], strict=True)]
                  + [f">= {self.edges[-1]:.3f}"])
        hist = pd.DataFrame(self.hist * dt, index=bus.index, columns=labels)
        if self.full:
            series = pd.DataFrame(self.full, index=as_index(idx))
        elif self.env_index is not None:
            cols = {}
            for s in self.series_names:
                cols[(s, "min")] = self.env_min[s]
                cols[(s, "max")] = self.env_max[s]
            series = pd.DataFrame(cols, index=self.env_index)
        else:
            series = pd.DataFrame(index=idx[:0])
        windows = {}
        for rank, item in enumerate(sorted(self.heap, key=lambda it: (-it[0], it[2]))):
            sev, _, _, w0, ser, vm = item
            n = vm.shape[0]
            wcols = dict(ser)
            wcols.update({f"vm_pu_bus_{b}": vm[:, j] for j, b in enumerate(self.bus_index)})
            df = pd.DataFrame(wcols, index=idx[w0:w0 + n])
            df.attrs["severity_pu"] = sev
            windows[rank] = df
        rec_idx = self.env_index if self.compact else as_index(idx)
        conv = pd.Series(self.converged, index=rec_idx, name="converged")
        finite = np.isfinite(self.mismatch)
        summary = {
            "engine": self.engine, "site": self.site.name, "steps": self.n, "step_s": dt,
            "start": idx[0], "end": idx[-1],
            "nonconverged_steps": self.n_bad,
            "first_nonconverged": idx[self.first_bad] if self.first_bad >= 0 else None,
            "step_record": "envelope" if self.compact else "step",
            "max_iterations": int(self.iterations.max()) if self.n else 0,
            "max_mismatch_mva": float(self.mismatch[finite].max()) if finite.any() else None,
            "tap_operations": dict(self.tap_ops),
            "envelope_freq": self.record.envelope_freq if self.env_index is not None else None,
            "window_severity_pu": [float(w.attrs["severity_pu"]) for w in windows.values()],
            **({"current_limited_steps": self.current_limited} if CURRENT_LIMITED in self.series_names else {}),
            **(meta or {}),
        }
        return QSTSResult(
            index=idx, bus_summary=bus, branch_summary=branch, histogram_s=hist, series=series,
            converged=conv,
            iterations=pd.Series(self.iterations, index=rec_idx, name="iterations"),
            max_mismatch_mva=pd.Series(self.mismatch, index=rec_idx, name="max_mismatch_mva"),
            windows=windows, tap_operations=pd.Series(self.tap_ops, dtype="int64", name="tap_operations"),
            summary=summary,
        )


@dataclass
class QSTSResult:
    """The result of one QSTS run, as pandas objects on the study's ``DatetimeIndex``.

    Attributes
    ----------
    index : pandas.DatetimeIndex or FixedHorizon
        The run's steps (a streamed run's: a FixedHorizon, its labels made on demand).
    bus_summary : pandas.DataFrame
        Per bus (index = ``net.bus.index``): ``vm_min_pu``/``vm_max_pu`` [pu] with their times,
        ``<band>_below_s``/``<band>_above_s``/``<band>_outside_s`` [s].
    branch_summary : pandas.DataFrame
        Per line and transformer: ``loading_min_percent``/``loading_max_percent`` [%] with times.
    histogram_s : pandas.DataFrame
        Per bus, time spent in each voltage bin (underflow and overflow bins first/last). [s]
    series : pandas.DataFrame
        Full per-step series, or min/max envelopes (column MultiIndex ``(name, 'min'|'max')``).
    converged, iterations, max_mismatch_mva : pandas.Series
        Per step; with envelopes (``summary["step_record"] == "envelope"``) per envelope interval:
        every step converged, the most iterations, the largest mismatch of the interval (the count
        of non-converged steps and the first of them in ``summary``). [-, -, MVA]
    windows : dict of int to pandas.DataFrame
        Full-resolution windows of the worst POI-voltage events, most severe first.
    tap_operations : pandas.Series
        Tap moves per regulating transformer over the run. [-]
    summary : dict
        Counts and metadata (JSON-able).
    battery : pandas.DataFrame or None
        Per-step log of the :class:`~gridstudy.studies.qsts.controllers.BatteryController` when the
        reference engine ran a dispatch strategy (saved as ``battery.parquet``).
    """

    index: Horizon
    bus_summary: pd.DataFrame
    branch_summary: pd.DataFrame
    histogram_s: pd.DataFrame
    series: pd.DataFrame
    converged: pd.Series
    iterations: pd.Series
    max_mismatch_mva: pd.Series
    windows: dict[int, pd.DataFrame] = field(default_factory=dict)
    tap_operations: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))
    summary: dict[str, Any] = field(default_factory=dict)
    #: per-step log of the battery controller (reference engine with a dispatch strategy)
    battery: pd.DataFrame | None = None

    @property
    def step_s(self) -> float:
        """The step, as the recorder measured it from the index (``summary["step_s"]``). [s]"""
        return float(self.summary["step_s"])

    @property
    def compact(self) -> bool:
        """The convergence record is kept per envelope interval, not per step."""
        return self.summary.get("step_record") == "envelope"

    @property
    def nonconverged_steps(self) -> int:
        """Number of steps whose power flow did not converge. [-]"""
        if self.compact:
            return int(self.summary["nonconverged_steps"])
        return int((~self.converged).sum())

    @property
    def first_nonconverged(self) -> pd.Timestamp | None:
        """The first step whose power flow did not converge (``None``: every step converged)."""
        if self.compact:
            t = self.summary.get("first_nonconverged")
            return pd.Timestamp(t) if t is not None else None
        bad = ~self.converged.to_numpy()
        return pd.Timestamp(self.converged.index[bad][0]) if bad.any() else None

    def save(self, directory: str | Path) -> Path:
        """Write Parquet tables and ``summary.json`` (each file atomically) into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        write_parquet(d / "bus_summary.parquet", self.bus_summary)
        write_parquet(d / "branch_summary.parquet", self.branch_summary)
        write_parquet(d / "histogram_s.parquet", self.histogram_s)
        write_parquet(d / "series.parquet", _flat_columns(self.series))
        steps = pd.DataFrame({"converged": self.converged, "iterations": self.iterations,
                              "max_mismatch_mva": self.max_mismatch_mva})
        write_parquet(d / "steps.parquet", steps)
        if self.windows:
            frames = []
            for rank, w in self.windows.items():
                f = w.copy()
                f.insert(0, "window", rank)
                f.insert(1, "severity_pu", w.attrs.get("severity_pu", np.nan))
                f.attrs = {}
                frames.append(f)
            write_parquet(d / "windows.parquet", pd.concat(frames).rename_axis("time"))
        if self.battery is not None:
            write_parquet(d / "battery.parquet", self.battery)
        summary = dict(self.summary)
        summary["tap_operations"] = {str(k): int(v) for k, v in self.tap_operations.items()}
        summary["freq"] = self.index.freqstr
        write_json(d / "summary.json", summary)
        return d

    @classmethod
    def load(cls, directory: str | Path) -> QSTSResult:
        """Read back what :meth:`save` wrote."""
        d = Path(directory)

        summary: Any = parse_json_object(read_text(d / "summary.json", ReportError, "summary.json"), str(d / "summary.json"),
                                         ReportError, "summary.json", "the summary a QSTS run wrote")
        steps = pd.read_parquet(d / "steps.parquet")
        if summary.get("step_record") == "envelope":  # the record per envelope interval; the steps from the summary
            idx = pd.date_range(pd.Timestamp(summary["start"]), periods=int(summary["steps"]), freq=summary.get("freq"))
            steps.index = pd.DatetimeIndex(steps.index)
        else:
            idx = pd.DatetimeIndex(steps.index, freq=summary.get("freq"))
            steps.index = idx
        series = _unflat_columns(pd.read_parquet(d / "series.parquet"))
        windows = {}
        if (d / "windows.parquet").exists():
            w = pd.read_parquet(d / "windows.parquet")
            for rank, f in w.groupby("window", sort=True):
                sev = float(f["severity_pu"].iloc[0])
                f = f.drop(columns=["window", "severity_pu"])
                f.index.name = None
                f.attrs["severity_pu"] = sev
                windows[int(cast(int, rank))] = f  # the window numbers save() wrote
        return cls(
            index=idx, bus_summary=pd.read_parquet(d / "bus_summary.parquet"),
            branch_summary=pd.read_parquet(d / "branch_summary.parquet"),
            histogram_s=pd.read_parquet(d / "histogram_s.parquet"), series=series,
            converged=steps["converged"].astype(bool), iterations=steps["iterations"],
            max_mismatch_mva=steps["max_mismatch_mva"], windows=windows,
            tap_operations=pd.Series(summary.get("tap_operations", {}), dtype="int64", name="tap_operations"),
            summary=summary,
            battery=pd.read_parquet(d / "battery.parquet") if (d / "battery.parquet").exists() else None,
        )


def _flat_columns(df: pd.DataFrame) -> pd.DataFrame:
    cols = df.columns
    if isinstance(cols, pd.MultiIndex):
        df = df.copy()
        df.columns = [f"{a}|{b}" for a, b in cols]
    return df


def _unflat_columns(df: pd.DataFrame) -> pd.DataFrame:
    if len(df.columns) and all("|" in str(c) for c in df.columns):
        df = df.copy()
        df.columns = pd.MultiIndex.from_tuples([tuple(str(c).split("|", 1)) for c in df.columns])
    return df
