"""The meter of a criterion: what quantity is read, where, and how it is averaged before a limit
judges it (``docs/sources/criteria.md §11``).

A limit is a number *and* a meter: "20 MW/min" judged on 1-s samples and on 1-minute averages
are two different rules (latency pulses of a few seconds move the first, not the second). Three
kinds of averaging:

``sample``
    each sample of the series as recorded (the study step's average, or the 20-ms phasor of the
    sub-second windows); no further averaging.
``rolling``
    a trailing mean over ``window_s`` (``window_s / step`` samples) ending at every sample: an RMS
    meter of that integration time (e.g. 1-s RMS), read at every step. The first complete window
    gives the first reading.
``block``
    consecutive, non-overlapping means over ``window_s`` from the start of the series (1-minute
    averages, a tariff's 15-minute demand interval), each labelled by its start; an incomplete
    last block gives no reading.

The window must be a whole number (>= 1) of the series' steps; a series shorter than one window
gives no reading (:meth:`Meter.apply` returns ``None``), and the criterion is then not applicable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.studies.criteria._base import CriteriaError, step_seconds

__all__ = ["Meter", "AVERAGING", "meter_problems"]

AVERAGING = ("sample", "rolling", "block")


def meter_problems(path: str, averaging: str, window_s: float | None, *, step_s: float | None = None,
                   horizon_s: float | None = None) -> list[Problem]:
    """Problems of a meter's settings (each naming ``path.<field>`` and its value): an unknown
    averaging; a window that is missing, not finite or not positive for ``rolling``/``block``;
    with ``step_s``: shorter than the step or not a whole number of steps; with ``horizon_s``:
    longer than the horizon."""
    out: list[Problem] = []
    if averaging not in AVERAGING:
        return [Problem(f"{path}.averaging", "must be one of " + ", ".join(AVERAGING), averaging)]
    if averaging == "sample":
        return out
    if window_s is None or not math.isfinite(window_s) or window_s <= 0:
        return [Problem(f"{path}.window_s", f"a {averaging} meter needs a finite window > 0 s", window_s)]
    if step_s is not None:
        n = window_s / step_s
        if n < 1 - 1e-9:
            out.append(Problem(f"{path}.window_s", f"is shorter than the step of {step_s:g} s", window_s))
        elif abs(n - round(n)) > 1e-6:
            out.append(Problem(f"{path}.window_s", f"must be a whole number of steps of {step_s:g} s", window_s))
    if horizon_s is not None and window_s > horizon_s + 1e-9:
        out.append(Problem(f"{path}.window_s", f"exceeds the horizon of {horizon_s:g} s", window_s))
    return out


@dataclass(frozen=True)
class Meter:
    """How a criterion's quantity is measured.

    Parameters
    ----------
    quantity : str
        What is read, e.g. ``"active power"``.
    point : str
        Where, e.g. ``"POI meter"``.
    averaging : {'sample', 'rolling', 'block'}
        See the module docstring.
    window_s : float or None
        Averaging window (``rolling``, ``block``). [s]
    source : str
        Where the meter's definition comes from.
    """

    quantity: str
    point: str = "POI meter"
    averaging: Literal["sample", "rolling", "block"] = "sample"
    window_s: float | None = None
    source: str = "docs/sources/criteria.md §11"

    def __post_init__(self) -> None:
        problems = meter_problems("meter", self.averaging, self.window_s)
        if problems:
            raise CriteriaError(problems)

    def describe(self) -> str:
        """One line for the report, e.g. ``"active power at the POI meter, 1-min block averages"``."""
        if self.averaging == "sample":
            how = "each sample as recorded"
        else:
            w = _duration(float(self.window_s or 0.0))
            how = f"{w} RMS (rolling mean), read every step" if self.averaging == "rolling" else \
                f"consecutive {w} averages"
        return f"{self.quantity} at the {self.point}, {how}"

    def samples(self, step_s: float) -> int:
        """Samples per averaging window on a series of step ``step_s`` (1 for ``sample``)."""
        if self.averaging == "sample":
            return 1
        problems = meter_problems("meter", self.averaging, self.window_s, step_s=step_s)
        if problems:
            raise CriteriaError(problems)
        return int(round(float(self.window_s or 0.0) / step_s))

    def apply(self, x: pd.Series) -> pd.Series | None:
        """The meter's readings of a fixed-step series (``None``: shorter than one window).

        ``rolling`` keeps the series' index from the first complete window on; ``block`` gives
        one reading per complete block, labelled by the block's start, on a step of ``window_s``.
        """
        step_s = step_seconds(x.index, "series.index")
        if self.averaging == "sample":
            return x
        n = self.samples(step_s)
        if n > len(x):
            return None
        v = x.to_numpy(dtype=float)
        if self.averaging == "rolling":
            c = np.concatenate(([0.0], np.cumsum(v)))
            return pd.Series((c[n:] - c[:-n]) / n, index=x.index[n - 1:], name=x.name)
        m = len(v) // n
        means = v[: m * n].reshape(m, n).mean(axis=1)
        idx = pd.DatetimeIndex(x.index[: m * n: n])
        if m == 1:
            idx = pd.DatetimeIndex(idx, freq=pd.tseries.frequencies.to_offset(pd.Timedelta(seconds=float(self.window_s or 0.0))))
        return pd.Series(means, index=idx, name=x.name)


def _duration(s: float) -> str:
    if s >= 60.0 and abs(s / 60.0 - round(s / 60.0)) < 1e-9:
        return f"{s / 60.0:g}-min"
    return f"{s:g}-s"
