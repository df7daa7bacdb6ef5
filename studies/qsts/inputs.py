"""The one interface both QSTS engines take: a site, time series, controls, and what to record.

Time series live on one fixed-step ``DatetimeIndex``; integer steps exist only inside engines.
Signs are pandapower's consumer view: load and battery *charging* positive.

Columns of :attr:`QSTSInputs.profiles` (all optional except ``campus_p_mw``):

``campus_p_mw``, ``campus_q_mvar``
    Campus grid draw, split over the site's halls in proportion to their rated ``p_mw``. [MW, Mvar]
    Without ``campus_q_mvar`` the halls keep their power factor from the site.
``battery_p_mw``, ``battery_q_mvar``
    Battery plant set points (charging positive), split over the storages in proportion to their
    ``max_e_mwh``. Ignored when :attr:`Controls.battery_controller` is given; with
    :attr:`Controls.grid_forming` the slow set-points of the grid-forming plant. [MW, Mvar]
``other_load_scale``
    Multiplier on every non-campus load's base ``p_mw``/``q_mvar``. [-]
``source_vm_pu``
    Source voltage set point (``ext_grid.vm_pu``): sags are scripted here. [pu]

Per-element profiles of the rest of the network (loads, static generators, generators) come in
:attr:`QSTSInputs.elements` (:class:`gridstudy.models.element_profiles.ElementProfiles`), mapped
onto each block of steps by :func:`gridstudy.studies.qsts.apply.element_series`.

The further columns that :func:`gridstudy.models.dispatch.dispatch` returns
(:data:`DISPATCH_ONLY_COLUMNS`: state of charge, stored energy, grid-side sums, saturation) are
accepted, so its output can be handed over as it is, and set aside: the engine derives the grid
side from its own power flow.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.grid.site import Site
from gridstudy.models.campus_voltage import CampusVoltageResponse
from gridstudy.models.dispatch import VoltVarCurve  # the one curve of the models layer, re-exported here
from gridstudy.models.element_profiles import ElementProfiles
from gridstudy.models.grid_forming import GridFormingControl
from gridstudy.models.timeindex import FixedHorizon, Horizon, step_seconds
from gridstudy.studies.errors import StudyError
from gridstudy.studies.workers import die_with_parent

__all__ = ["KNOWN_COLUMNS", "DISPATCH_ONLY_COLUMNS", "TapControl", "VoltVarCurve", "Controls", "RecordSpec", "QSTSInputs",
           "ProfileStream", "check_index"]

KNOWN_COLUMNS = ("campus_p_mw", "campus_q_mvar", "battery_p_mw", "battery_q_mvar",
                 "other_load_scale", "source_vm_pu")
#: Columns of a dispatch result that the engines do not use (dropped from ``profiles``).
DISPATCH_ONLY_COLUMNS = ("soc_percent", "e_mwh", "grid_p_mw", "grid_q_mvar", "saturated")


@dataclass(frozen=True)
class TapControl:
    """OLTC of the site's regulating transformers: band ``vm_set_pu ± deadband_pu`` at the LV bus,
    one step per move after the voltage has stayed outside the band for ``delay_s``.

    Per-transformer ``vm_set_pu``, ``deadband_pu`` and ``delay_s`` come from the trafo table
    (written by :func:`gridstudy.grid.build.build_site`); the fields here override them when not ``None``.
    """

    enabled: bool = True
    vm_set_pu: float | None = None
    deadband_pu: float | None = None
    delay_s: float | None = None


@dataclass(frozen=True)
class Controls:
    """The controls in force during a QSTS run."""

    taps: TapControl = field(default_factory=TapControl)
    #: volt-var of the battery plant: the curve with its open-loop response time
    #: (``VoltVarCurve.response_time_s``; 0: the curve is met within each step); ``None``: off.
    volt_var: VoltVarCurve | None = None
    #: voltage dependence of the campus draw (:class:`gridstudy.models.campus_voltage.CampusVoltageResponse`),
    #: applied to the site's campus loads in both engines; ``None`` (the default of a time series):
    #: the campus draws its profile at any voltage (constant power). Sag events always set it.
    campus_voltage: CampusVoltageResponse | None = None
    #: a battery dispatch strategy applied step by step inside the engine (see
    #: ``studies.qsts.controller.BatteryController``); ``None``: battery follows the profile.
    battery_controller: Any = None
    #: the battery as a grid-forming plant solved inside the power flow each step
    #: (:mod:`gridstudy.studies.qsts.grid_forming`): ``battery_p_mw``/``battery_q_mvar`` are then its
    #: slow set-points; ``None``: the battery injects its profile (or its controller's dispatch).
    grid_forming: GridFormingControl | None = None


@dataclass(frozen=True)
class RecordSpec:
    """What to record besides the per-bus/branch streaming aggregates.

    ``series``: full-resolution series of the chosen quantities (POI voltage, campus and battery
    P/Q, grid import, tap positions); ``envelope_freq``: when set (e.g. ``"1min"``), those series
    are kept as min/max envelopes at that frequency instead; ``bands``: voltage bands for the
    time-outside counts; ``worst_windows``: number of full-resolution windows kept around the
    worst POI voltage events, each ``window_s`` long.
    """

    series: bool = True
    envelope_freq: str | None = None
    bands: dict[str, tuple[float, float]] = field(default_factory=lambda: {"n0": (0.95, 1.05), "range_b": (0.917, 1.058)})
    histogram_edges_pu: tuple[float, ...] = tuple(np.round(np.arange(0.80, 1.2001, 0.005), 3))
    worst_windows: int = 3
    window_s: float = 60.0


class ProfileStream:
    """Profiles of a long horizon made part by part, in order, instead of held whole.

    The engines read it like the ``profiles`` frame (``len``, ``index``, ``columns``,
    ``iloc[a:b]`` with ``a`` never going back); only the part being read (and, with ``prefetch``,
    the next ones being made) is in memory, so a year at 1 s costs what a few parts cost.

    Parameters
    ----------
    index : pandas.DatetimeIndex or FixedHorizon
        The whole horizon, fixed step (a :class:`~gridstudy.models.timeindex.FixedHorizon` holds
        no labels: a part's are made when it is read).
    columns : sequence of str
        The columns every part carries (others a part has are dropped).
    parts : callable
        ``parts()`` starts a fresh pass and returns an iterator of consecutive frames on ``index``
        (e.g. the campus model and the dispatch of one chunk after the other).
    prefetch : int
        Parts made ahead while the engine works on the current one (0: made when asked). [-]
    process : bool
        Make the parts ahead in a child process (forked, so ``parts`` need not pickle; it ends
        with this one) rather than a thread: the campus model and the dispatch then hold neither
        this process's interpreter lock nor its memory.
    """

    def __init__(self, index: Horizon, columns: Any, parts: Callable[[], Iterator[pd.DataFrame]], *,
                 prefetch: int = 0, process: bool = False) -> None:
        check_index(index, "profiles.index")
        self.index: Horizon = index
        self.columns = pd.Index(list(columns))
        self.parts = parts
        self.prefetch = int(prefetch)
        self.process = bool(process) and self.prefetch > 0
        self._it: Iterator[tuple[int, pd.DataFrame]] | None = None
        self._buf = self._empty()
        self._buf0 = 0
        self._next0 = 0
        self.wait_s = 0.0  # time the reader waited for parts being made [s]

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, column: object) -> bool:
        return column in self.columns

    def with_columns(self, columns: Any) -> ProfileStream:
        """The same stream keeping only ``columns``."""
        return ProfileStream(self.index, columns, self.parts, prefetch=self.prefetch, process=self.process)

    def _empty(self) -> pd.DataFrame:
        return pd.DataFrame({c: np.zeros(0) for c in self.columns}, index=self.index[:0])

    def _check(self, part: pd.DataFrame, start: int) -> pd.DataFrame:
        missing = [c for c in self.columns if c not in part]
        n = len(part)
        problems = [Problem(f"profiles.{c}", "missing from a part of the stream", start, has_value=True)
                    for c in missing]
        if n == 0 or start + n > len(self.index) or part.index[0] != self.index[start]:
            problems.append(Problem("profiles", "a part does not continue the horizon", start))
        if problems:
            raise StudyError(problems)
        out = part[list(self.columns)]
        bad = ~np.isfinite(out.to_numpy(dtype=float))
        if bad.any():
            col = self.columns[int(np.flatnonzero(bad.any(axis=0))[0])]
            raise StudyError([Problem(f"profiles.{col}", "contains NaN or inf", int(bad.sum()))])
        return out

    def __iter__(self) -> Iterator[tuple[int, pd.DataFrame]]:
        """``(start, part)`` over the horizon, from a fresh pass (checked as the engine checks a frame)."""
        return self._walk(self._source())

    def start(self) -> None:
        """Start the pass :meth:`rows` reads now (the prefetching thread or process begins making
        parts), from the calling thread: call it before the engine runs when ``process`` is set."""
        self._it, self._buf, self._buf0 = self._walk(self._source()), self._empty(), 0

    def close(self) -> None:
        """End the pass being read (its prefetching thread or process stops)."""
        it, self._it, self._buf, self._buf0 = self._it, None, self._empty(), 0
        close = getattr(it, "close", None)
        if close is not None:
            close()

    def _source(self) -> Iterator[pd.DataFrame]:
        if self.prefetch <= 0:
            return self.parts()
        if self.process:
            return _prefetched_process(self.parts, self.prefetch)
        return _prefetched(self.parts, self.prefetch)

    def _walk(self, src: Iterator[pd.DataFrame]) -> Iterator[tuple[int, pd.DataFrame]]:
        start = 0
        try:
            for part in src:
                out = self._check(part, start)
                yield start, out
                start += len(out)
        finally:
            close = getattr(src, "close", None)
            if close is not None:
                close()
        if start != len(self.index):
            raise StudyError([Problem("profiles", f"the parts end at step {start} of {len(self.index)}", start)])

    def rows(self, start: int, stop: int | None = None) -> pd.DataFrame:
        """Steps ``start .. stop - 1``; a ``start`` before the last one read starts a new pass."""
        stop = len(self.index) if stop is None else min(int(stop), len(self.index))
        start = min(int(start), stop)
        if self._it is None or start < self._buf0:
            self._it, self._buf, self._buf0 = iter(self), self._empty(), 0
        it = self._it
        pieces = [self._buf]
        end = self._buf0 + len(self._buf)
        t0 = time.perf_counter()
        while end < stop:
            s0, part = next(it)
            pieces.append(part)
            end = s0 + len(part)
        self.wait_s += time.perf_counter() - t0
        buf = pd.concat(pieces) if len(pieces) > 1 else pieces[0]
        self._buf, self._buf0 = buf.iloc[start - self._buf0:], start
        return self._buf.iloc[: stop - start]

    @property
    def iloc(self) -> _Rows:
        """``iloc[a:b]``: :meth:`rows` (slices only)."""
        return _Rows(self)

    def frame(self) -> pd.DataFrame:
        """The whole horizon as one frame (what the stream exists to avoid; for short horizons)."""
        parts = [p for _, p in self]
        return pd.concat(parts) if parts else self._empty()


class _Rows:
    def __init__(self, stream: ProfileStream) -> None:
        self.stream = stream

    def __getitem__(self, key: slice) -> pd.DataFrame:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("a ProfileStream is read by contiguous slices")
        return self.stream.rows(key.start or 0, key.stop)


def _prefetched(parts: Callable[[], Iterator[pd.DataFrame]], ahead: int) -> Iterator[pd.DataFrame]:
    """The parts of ``parts()`` made in a second thread, up to ``ahead`` ahead of the reader."""

    q: queue.Queue[object] = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()
    done = object()

    def make() -> None:
        try:
            for part in parts():
                while not stop.is_set():
                    try:
                        q.put(part, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the reader, raised there
            q.put(exc)

    th = threading.Thread(target=make, name="profiles-prefetch", daemon=True)
    th.start()
    try:
        yield from _read_parts(q, done)
    finally:
        stop.set()
        while th.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                th.join(0.05)


def _read_parts(q: Any, end: object) -> Iterator[pd.DataFrame]:
    """The parts a maker put on ``q`` until ``end``; an exception it put there is raised here."""
    while True:
        item = q.get()
        if item is end:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def _prefetched_process(parts: Callable[[], Iterator[pd.DataFrame]], ahead: int) -> Iterator[pd.DataFrame]:
    """The parts of ``parts()`` made in a forked child process, up to ``ahead`` ahead of the reader.

    The child is started at once (not at the first part asked for), so a caller can fork from
    its main thread before the engine starts its own threads."""

    ctx = mp.get_context("fork")
    q = ctx.Queue(maxsize=max(1, ahead))

    def make() -> None:
        die_with_parent()
        try:
            for part in parts():
                q.put(part)
            q.put(None)
        except BaseException as exc:  # handed to the reader, raised there
            q.put(RuntimeError(f"making the profile parts failed: {exc!r}") if not isinstance(exc, StudyError)
                  else exc)

    proc = ctx.Process(target=make, name="profiles-prefetch", daemon=True)
    proc.start()

    def read() -> Iterator[pd.DataFrame]:
        try:
            yield from _read_parts(q, None)
        finally:
            if proc.is_alive():
                proc.terminate()
            proc.join()
            q.close()
            q.cancel_join_thread()

    return read()


@dataclass
class QSTSInputs:
    """What one QSTS run takes: the site, its profiles, the controls, what to record, the other elements' profiles."""

    site: Site
    #: the whole horizon as a frame, or a :class:`ProfileStream` that makes it part by part
    profiles: pd.DataFrame | ProfileStream
    controls: Controls = field(default_factory=Controls)
    record: RecordSpec = field(default_factory=RecordSpec)
    #: per-element P/Q of the rest of the network (loads, static generators, generators), from
    #: :func:`gridstudy.models.element_profiles.element_profiles`; ``other_load_scale`` multiplies
    #: the loads among them too. ``None``: those elements keep their base values.
    elements: ElementProfiles | None = None

    def __post_init__(self) -> None:
        check_index(self.profiles.index, "profiles.index")
        drop = [c for c in self.profiles.columns if c in DISPATCH_ONLY_COLUMNS]
        if drop:
            keep = [c for c in self.profiles.columns if c not in drop]
            self.profiles = (self.profiles.with_columns(keep) if isinstance(self.profiles, ProfileStream)
                             else self.profiles.drop(columns=drop))
        problems = []
        for col in self.profiles.columns:
            if col not in KNOWN_COLUMNS:
                problems.append(Problem(f"profiles.{col}", f"unknown column; known: {', '.join(KNOWN_COLUMNS)}", col))
            elif isinstance(self.profiles, ProfileStream):
                continue  # a stream's parts are checked as they are made
            elif not np.isfinite(self.profiles[col].to_numpy(dtype=float)).all():
                problems.append(Problem(f"profiles.{col}", "contains NaN or inf", int((~np.isfinite(self.profiles[col].to_numpy(dtype=float))).sum())))
        if "campus_p_mw" not in self.profiles:
            problems.append(Problem("profiles.campus_p_mw", "required column is missing", None, has_value=False))
        if self.elements is not None:
            problems += self._element_problems()
        if problems:
            raise StudyError(problems)

    def _element_problems(self) -> list[Problem]:
        """Elements that are not in the net, or that the study drives itself; horizon not covered."""
        el, net = self.elements, self.site.net
        assert el is not None  # called only with elements
        out = list(el.coverage_problems(cast(pd.DatetimeIndex, self.profiles.index)))  # check_index passed
        driven = {("load", int(i)) for i in self.site.campus_loads}
        for element, i in cast(pd.MultiIndex, el.p_mw.columns):  # (element table, index)
            if int(i) not in net[element].index:
                out.append(Problem(f"elements.{element}", "no element with that index in the site's net", int(i)))
            elif (element, int(i)) in driven:
                out.append(Problem(f"elements.{element}", "a campus load follows the campus profile", int(i)))
        return out

    @property
    def step_s(self) -> float:
        """Length of one step of the profiles' fixed-step index. [s]"""
        return step_seconds(self.profiles.index)  # check_index passed: a fixed step


def check_index(index: pd.Index | FixedHorizon, path: str) -> None:
    """A fixed-step ``DatetimeIndex`` (step from ``index.freq``, or inferred and uniform), or a
    :class:`~gridstudy.models.timeindex.FixedHorizon` (fixed by construction)."""
    if isinstance(index, FixedHorizon):
        return
    if not isinstance(index, pd.DatetimeIndex):
        raise StudyError([Problem(path, "must be a DatetimeIndex", type(index).__name__)])
    if len(index) < 1:
        raise StudyError([Problem(path, "is empty", 0)])
    if index.freq is None:
        if len(index) > 2:
            d = np.diff(index.asi8)
            if not (d == d[0]).all():
                raise StudyError([Problem(path, "steps are not uniform", f"{pd.Timedelta(int(d.min()))} .. {pd.Timedelta(int(d.max()))}")])
        freq = pd.infer_freq(index) if len(index) > 2 else None
        if freq is None:
            raise StudyError([Problem(path, "has no fixed frequency", None)])
        index.freq = freq  # type: ignore[misc, assignment]  # pandas sets it (from a str too); the stubs make it read-only
