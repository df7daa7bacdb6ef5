"""Fixed-step time indices: the one time axis every model of this layer works on.

A series lives on a pandas ``DatetimeIndex`` with a fixed step between 10 ms and 1 h. Each label is
the *start* of its step, and each value is the average over ``[label, label + step)``: a coarse step
carries the energy of the fine series it summarises, never a sample of it.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import pandas as pd

from gridstudy.models.errors import ModelError, Problem

__all__ = ["MIN_STEP_S", "MAX_STEP_S", "step_seconds", "make_index", "make_horizon", "FixedHorizon", "Horizon",
           "as_index", "parse_duration_s", "window_samples", "drive_index"]

#: Shortest supported step. [s]
MIN_STEP_S = 0.01
#: Longest supported step. [s]
MAX_STEP_S = 3600.0


class FixedHorizon:
    """A fixed-step horizon held as its first label, its step and its length, never as labels.

    A year at 1 s is 31.5 M labels, 252 MB as a ``DatetimeIndex``; a streamed run needs only parts
    of it. This object reads like the index where a streamed run reads one: ``len``, a label by
    position (``h[i]``, a ``Timestamp``), a run of labels (``h[a:b]``, a ``DatetimeIndex`` with the
    step as its ``freq``, equal to the same slice of :meth:`to_index`), ``freq``, ``freqstr``, ``tz``
    and ``name``. :meth:`to_index` makes every label (what a whole-frame stage needs).

    Parameters
    ----------
    start : pandas.Timestamp
        First label.
    step_ns : int
        Step, > 0. [ns]
    n : int
        Number of labels, >= 1. [-]
    name : str or None
        The index's name.
    """

    __slots__ = ("freq", "n", "name", "start", "step_ns", "tz")

    def __init__(self, start: pd.Timestamp, step_ns: int, n: int, name: str | None = None) -> None:
        if int(step_ns) <= 0 or int(n) < 1:
            raise ModelError([Problem("horizon", "needs a step > 0 and at least one label", f"{step_ns} ns, {n}")])
        self.start, self.step_ns, self.n, self.name = pd.Timestamp(start), int(step_ns), int(n), name
        # the offset pandas gives a date_range of this step (a Tick), so slices equal the index's
        probe = pd.date_range(self.start, periods=2, freq=pd.Timedelta(self.step_ns))
        assert probe.freq is not None  # a date_range of a Timedelta step carries it
        self.freq: pd.offsets.BaseOffset = probe.freq
        self.tz = probe.tz  # the index's zone (a localized Timestamp's differs for pytz zones)

    @classmethod
    def of(cls, index: pd.DatetimeIndex) -> FixedHorizon:
        """The horizon of a fixed-step index (step from :func:`step_seconds`' rules)."""
        step_seconds(index)  # refuses anything but a fixed step
        step_ns = (int(pd.Timedelta(index.freq).value) if index.freq is not None  # type: ignore[arg-type]
                   else int(index.asi8[1] - index.asi8[0]))
        return cls(index[0], step_ns, len(index), None if index.name is None else str(index.name))

    @property
    def freqstr(self) -> str:
        """The step as pandas writes a frequency (``'s'``, ``'500ms'``)."""
        return str(self.freq.freqstr)

    def __len__(self) -> int:
        return self.n

    def _label(self, i: int) -> pd.Timestamp:
        return self.start + pd.Timedelta(self.step_ns * i)

    @overload
    def __getitem__(self, key: int) -> pd.Timestamp: ...

    @overload
    def __getitem__(self, key: slice) -> pd.DatetimeIndex: ...

    def __getitem__(self, key: int | slice) -> pd.Timestamp | pd.DatetimeIndex:
        if isinstance(key, slice):
            a, b, step = key.indices(self.n)
            if step != 1:
                raise IndexError("a horizon is sliced with step 1")
            out = pd.date_range(self._label(a), periods=max(0, b - a), freq=self.freq, name=self.name)
            if b <= a:
                out.freq = self.freq  # type: ignore[misc]  # an empty slice of the index keeps its step too
            return out
        i = int(key)
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"label {key} outside a horizon of {self.n}")
        return self._label(i)

    def get_loc(self, key: pd.Timestamp | str) -> int:
        """The position of label ``key`` (``KeyError`` when it is not one of the labels)."""
        t = pd.Timestamp(key)
        if (t.tz is None) != (self.start.tz is None):
            raise KeyError(key)
        i, r = divmod(int((t - self.start).value), self.step_ns)
        if r or not 0 <= i < self.n:
            raise KeyError(key)
        return i

    def to_index(self) -> pd.DatetimeIndex:
        """Every label, as ``make_index`` makes them."""
        return self[0:self.n]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FixedHorizon):
            return (self.start, self.step_ns, self.n, self.name) == (other.start, other.step_ns, other.n, other.name)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.start, self.step_ns, self.n))

    def __repr__(self) -> str:
        return f"FixedHorizon(start={self.start!s}, step={pd.Timedelta(self.step_ns)!s}, n={self.n})"


#: A study's horizon: every label, or a :class:`FixedHorizon`.
Horizon = pd.DatetimeIndex | FixedHorizon


def as_index(index: Horizon) -> pd.DatetimeIndex:
    """Every label of ``index`` (``index`` itself when it is a ``DatetimeIndex``)."""
    return index.to_index() if isinstance(index, FixedHorizon) else index


def step_seconds(index: pd.Index | FixedHorizon, path: str = "index") -> float:
    """Return the fixed step of ``index``; reject anything that is not a fixed-step DatetimeIndex.

    Parameters
    ----------
    index : pandas.Index
        The time axis; it must be a ``DatetimeIndex`` with ``freq`` set or with uniform steps.
    path : str
        Field path used in the error message.

    Returns
    -------
    float
        Step length. [s]

    Raises
    ------
    ModelError
        Not a DatetimeIndex, empty, uneven steps, decreasing labels, or a step outside 10 ms .. 1 h.
    """
    if isinstance(index, FixedHorizon):
        step_ns = index.step_ns
        step_s = float(step_ns) / 1e9
        if not (MIN_STEP_S - 1e-12 <= step_s <= MAX_STEP_S + 1e-9):
            raise ModelError([Problem(path, f"step must lie in {MIN_STEP_S:g} .. {MAX_STEP_S:g} s", step_s)])
        return step_s
    if not isinstance(index, pd.DatetimeIndex):
        raise ModelError([Problem(path, "must be a pandas DatetimeIndex", type(index).__name__)])
    if len(index) == 0:
        raise ModelError([Problem(path, "is empty", 0)])
    if index.freq is not None:
        # A fixed-step freq is a Tick (the stubs type freq as any offset); a calendar offset such as
        # 'MS' has no fixed length and raises here.
        step_ns = pd.Timedelta(index.freq).value  # type: ignore[arg-type]
    elif len(index) >= 2:
        d = np.diff(index.asi8)
        if (d <= 0).any():
            raise ModelError([Problem(path, "timestamps must increase strictly", str(index[1:][d <= 0][0]))])
        if not (d == d[0]).all():
            raise ModelError([Problem(path, "steps are not uniform (fixed step required)",
                                      f"{pd.Timedelta(int(d.min()))} .. {pd.Timedelta(int(d.max()))}")])
        step_ns = int(d[0])
    else:
        raise ModelError([Problem(path, "a single label without freq has no step", str(index[0]))])
    step_s = float(step_ns) / 1e9
    if not (MIN_STEP_S - 1e-12 <= step_s <= MAX_STEP_S + 1e-9):
        raise ModelError([Problem(path, f"step must lie in {MIN_STEP_S:g} .. {MAX_STEP_S:g} s", step_s)])
    return step_s


def make_index(start: str | pd.Timestamp, duration_s: float, step_s: float) -> pd.DatetimeIndex:
    """A fixed-step index of ``duration_s / step_s`` labels from ``start``.

    Parameters
    ----------
    start : str or pandas.Timestamp
        First label (start of the first step).
    duration_s : float
        Horizon; must be a whole number of steps. [s]
    step_s : float
        Step length, 10 ms .. 1 h, a whole number of milliseconds. [s]
    """
    n = _whole_steps(duration_s, step_s)
    return pd.date_range(pd.Timestamp(start), periods=n, freq=pd.Timedelta(milliseconds=int(round(step_s * 1000.0))))


def make_horizon(start: str | pd.Timestamp, duration_s: float, step_s: float) -> FixedHorizon:
    """:func:`make_index`'s horizon without its labels (checked the same way)."""
    n = _whole_steps(duration_s, step_s)
    return FixedHorizon(pd.Timestamp(start), int(round(step_s * 1000.0)) * 1_000_000, n)


def _whole_steps(duration_s: float, step_s: float) -> int:
    """The number of steps of ``duration_s``; the step and the duration checked as :func:`make_index` says."""
    problems = []
    step_ms = step_s * 1000.0
    if not (MIN_STEP_S - 1e-12 <= step_s <= MAX_STEP_S + 1e-9) or abs(step_ms - round(step_ms)) > 1e-6:
        problems.append(Problem("step_s", f"must be a whole number of ms in {MIN_STEP_S:g} .. {MAX_STEP_S:g} s", step_s))
    n = duration_s / step_s if step_s > 0 else float("nan")
    if not (duration_s > 0) or not np.isfinite(n) or abs(n - round(n)) > 1e-6:
        problems.append(Problem("duration_s", "must be > 0 and a whole number of steps", duration_s))
    if problems:
        raise ModelError(problems)
    return int(round(n))


def parse_duration_s(text: str | float | int) -> float:
    """Parse ``"1h"``, ``"1D"``, ``"90s"``, ``"2min"`` or a number of seconds into seconds. [s]"""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    try:
        return float(pd.Timedelta(str(text)).total_seconds())
    except (ValueError, TypeError):
        raise ModelError([Problem("duration", "not a duration such as '1h', '1D', '90s'", text)]) from None


def window_samples(window_s: float, step_s: float) -> int:
    """Number of samples in a ``window_s`` window of a series with step ``step_s``: the one
    definition of a window, used by the dispatch strategies and the grid-side criteria alike.

    A window of ``W`` seconds ending at sample ``t`` holds the samples whose labels lie in the
    closed interval ``[t - W, t]``: ``floor(W / dt) + 1`` samples (``W / dt + 1`` when the step
    divides the window).

    Why this one. The limits state how much the load may change within a span of time (ERCOT's
    proposed 10 MW peak-to-peak in any 5 s; 20 MW per minute at IESO, Southern Company and CAISO;
    NPRR1191's MW per minute), not a count of samples; a change over ``W`` seconds is read between
    two readings ``W`` seconds apart, ``P(t) - P(t - W)``, and both readings belong to the window. With
    ``floor(W / dt) + 1`` samples the peak-to-peak of the window always includes that change, and a
    steady ramp of ``r`` MW/s shows ``r W`` at every step that divides ``W``: the verdict does not
    depend on the step. With ``W / dt`` samples (the window then spans only ``W - dt`` between its
    first and last reading) the same ramp would show ``r (W - dt)``, 1/6 less at 1 s in 5 s, and a
    controller holding that measure could move ``2 X`` between two readings ``W`` apart: what
    issue 12 measured (10 MW held, 20 MW judged). The window is one of readings, as a meter
    reporting every ``dt`` gives them: each reading is the average over its own step, so the
    readings of a window cover ``W + dt`` of time, and what happens inside a step is not seen.

    Parameters
    ----------
    window_s : float
        Window length, > 0. [s]
    step_s : float
        Step of the series, > 0. [s]

    Returns
    -------
    int
        Samples in the window, at least 1. A window shorter than the step holds one sample and so
        has no peak-to-peak: the limit cannot be seen at that step (the criteria refuse to judge
        it; a strategy leaves it to its rate limit).

    Raises
    ------
    ModelError
        ``window_s`` or ``step_s`` not a positive finite number.

    Notes
    -----
    ``W / dt`` is computed in floating point (``0.3 / 0.1 = 2.9999999999999996``); a relative
    1e-9 absorbs that rounding and is far below any step that could be meant (10 ms in 40 s is
    4000 samples, 2.5e-4 apart in relative terms).
    """
    problems: list[Problem] = []
    if not (np.isfinite(window_s) and window_s > 0):
        problems.append(Problem("window_s", "must be a positive number of seconds", window_s))
    if not (np.isfinite(step_s) and step_s > 0):
        problems.append(Problem("step_s", "must be a positive number of seconds", step_s))
    if problems:
        raise ModelError(problems)
    return int(np.floor(window_s / step_s * (1.0 + 1e-9))) + 1


def drive_index(t_s: np.ndarray, dt: float) -> np.ndarray:
    """The sample of a driving series (step ``dt`` [s]) in force at each time of ``t_s`` [s]. [-]"""
    out: np.ndarray = np.floor(np.asarray(t_s, dtype=float) / dt + 1e-6).astype(np.int64)
    return out
