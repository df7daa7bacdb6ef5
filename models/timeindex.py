"""Fixed-step time indices: the one time axis every model of this layer works on.

A series lives on a pandas ``DatetimeIndex`` with a fixed step between 10 ms and 1 h. Each label is
the *start* of its step, and each value is the average over ``[label, label + step)``: a coarse step
carries the energy of the fine series it summarises, never a sample of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridstudy.models.errors import ModelError, Problem

__all__ = ["MIN_STEP_S", "MAX_STEP_S", "step_seconds", "make_index", "parse_duration_s"]

#: Shortest supported step. [s]
MIN_STEP_S = 0.01
#: Longest supported step. [s]
MAX_STEP_S = 3600.0


def step_seconds(index: pd.Index, path: str = "index") -> float:
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
    if not isinstance(index, pd.DatetimeIndex):
        raise ModelError([Problem(path, "must be a pandas DatetimeIndex", type(index).__name__)])
    if len(index) == 0:
        raise ModelError([Problem(path, "is empty", 0)])
    if index.freq is not None:
        step_ns = pd.Timedelta(index.freq).value
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
    step_s = step_ns / 1e9
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
    problems = []
    step_ms = step_s * 1000.0
    if not (MIN_STEP_S - 1e-12 <= step_s <= MAX_STEP_S + 1e-9) or abs(step_ms - round(step_ms)) > 1e-6:
        problems.append(Problem("step_s", f"must be a whole number of ms in {MIN_STEP_S:g} .. {MAX_STEP_S:g} s", step_s))
    n = duration_s / step_s if step_s > 0 else float("nan")
    if not (duration_s > 0) or not np.isfinite(n) or abs(n - round(n)) > 1e-6:
        problems.append(Problem("duration_s", "must be > 0 and a whole number of steps", duration_s))
    if problems:
        raise ModelError(problems)
    freq = pd.Timedelta(milliseconds=int(round(step_ms)))
    return pd.date_range(pd.Timestamp(start), periods=int(round(n)), freq=freq)


def parse_duration_s(text: str | float | int) -> float:
    """Parse ``"1h"``, ``"1D"``, ``"90s"``, ``"2min"`` or a number of seconds into seconds. [s]"""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    try:
        return pd.Timedelta(str(text)).total_seconds()
    except (ValueError, TypeError):
        raise ModelError([Problem("duration", "not a duration such as '1h', '1D', '90s'", text)]) from None
