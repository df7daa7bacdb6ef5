"""The campus's own protection: a disturbance counter that transfers the campus to backup.

Large data centers do not only ride through or trip on the depth and length of one sag: their
UPS controls count voltage disturbances, and after ``count`` excursions within ``window_s`` they
transfer the whole facility to backup (its grid draw drops to zero) and stay there until they
return, ``return_after_s`` later. In Virginia, July 2024, about 1,500 MW moved to backup this way
after six faults within 82 s on a 230 kV line (``docs/sources/events.md §1``); the defaults and
their basis are in ``docs/sources/events.md §6``.

Counting rule (quasi-static view: each sample holds its value for one step):

- an *excursion* starts at a sample below ``threshold_pu`` whose previous sample was at or above
  it (or at the first sample, when it starts below); consecutive samples below are one excursion;
- the counter trips at the start of the excursion that makes ``count`` excursion starts within
  the last ``window_s`` (that start included, starts at or after ``start - window_s`` counted):
  the campus transfers to backup at that instant;
- it returns ``return_after_s`` after the transfer; excursions while on backup are not counted,
  and counting starts afresh at the return.

NaN voltages (non-converged power flow: voltage collapse) are taken as ``nan_vm_pu`` (0 pu by
default), i.e. below any threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridstudy.models.errors import ModelError, Problem, finite_parameters
from gridstudy.models.timeindex import step_seconds

__all__ = ["DisturbanceCounter", "VIRGINIA_2024", "MAX_SPAN_S", "backup_transfers", "on_backup", "TRANSFER_COLUMNS"]

#: Longest counting window and time on backup: a year (the times are pandas Timedeltas, which end
#: at about 292 years; no counter counts or waits longer than a year). [s]
MAX_SPAN_S = 365 * 86_400.0

#: Columns of :func:`backup_transfers`.
TRANSFER_COLUMNS = ["transfer_time", "return_time", "returns_in_horizon", "excursions", "lost_mw",
                    "vm_pu_min"]


@finite_parameters
@dataclass(frozen=True)
class DisturbanceCounter:
    """A counter of voltage excursions that transfers the campus to backup.

    Parameters
    ----------
    threshold_pu : float
        An excursion is a run of samples below this voltage. [pu]
    count : int
        Excursions within ``window_s`` that trip the counter. [-]
    window_s : float
        Counting window. [s]
    return_after_s : float
        Time on backup before the campus returns to the grid. [s]
    source : str
        Where the values come from.
    """

    threshold_pu: float = 0.90
    count: int = 3
    window_s: float = 60.0
    return_after_s: float = 3600.0
    source: str = ("campus UPS disturbance counter (assumption after NERC Incident Review, Jan 2025: "
                   "Virginia 10 July 2024, six faults in 82 s, about 1,500 MW to backup)")

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ModelError(problems)

    def problems(self, prefix: str = "") -> list[Problem]:
        """Every problem of the parameters, each at ``prefix.name`` (the bare name without a prefix)."""
        problems = []

        def path(name: str) -> str:
            return f"{prefix}.{name}" if prefix else name

        if not 0 < self.threshold_pu <= 1.5:
            problems.append(Problem(path("threshold_pu"), "needs 0 < threshold_pu <= 1.5", self.threshold_pu))
        if not (isinstance(self.count, (int, np.integer)) and self.count >= 1):
            problems.append(Problem(path("count"), "must be an integer >= 1", self.count))
        if not 0 <= self.window_s <= MAX_SPAN_S:
            problems.append(Problem(path("window_s"), f"must lie in [0, {MAX_SPAN_S:g}] s (a year)", self.window_s))
        if not 0 < self.return_after_s <= MAX_SPAN_S:
            problems.append(Problem(path("return_after_s"), f"must lie in (0, {MAX_SPAN_S:g}] s (a year)",
                                    self.return_after_s))
        return problems


#: Defaults: 3 excursions below 0.90 pu within 60 s, back after 1 h (``docs/sources/events.md §6``).
VIRGINIA_2024 = DisturbanceCounter()


def backup_transfers(vm_pu: pd.Series, counter: DisturbanceCounter = VIRGINIA_2024,
                     campus_p_mw: pd.Series | float | None = None, *, nan_vm_pu: float = 0.0) -> pd.DataFrame:
    """The intervals on backup that the disturbance counter causes (see the module's rule).

    Parameters
    ----------
    vm_pu : pandas.Series
        Voltage at the campus's point of connection on a fixed-step DatetimeIndex. [pu]
    counter : DisturbanceCounter
    campus_p_mw : pandas.Series, float or None
        Campus grid draw (consumer view: positive draws) on the same index, or a constant; the MW
        lost at a transfer is the draw of the last sample before it (the pre-disturbance load).
        ``None``: lost MW not known (NaN). [MW]
    nan_vm_pu : float
        Voltage assumed at NaN samples. [pu]

    Returns
    -------
    pandas.DataFrame
        One row per transfer: ``transfer_time``, ``return_time`` (transfer + ``return_after_s``),
        ``returns_in_horizon`` (the return falls within the series), ``excursions`` (counted at
        the trip), ``lost_mw`` [MW] and ``vm_pu_min`` (lowest voltage of the counted excursions)
        [pu].
    """
    if not isinstance(vm_pu, pd.Series) or not isinstance(vm_pu.index, pd.DatetimeIndex):
        raise ModelError([Problem("vm_pu", "must be a pandas Series on a DatetimeIndex", type(vm_pu).__name__)])
    step_s = step_seconds(vm_pu.index, "vm_pu.index") if len(vm_pu) > 1 else 0.0
    v = vm_pu.to_numpy(dtype=float).copy()
    v[np.isnan(v)] = nan_vm_pu
    if isinstance(campus_p_mw, pd.Series):
        p = campus_p_mw.reindex(vm_pu.index).to_numpy(dtype=float)
    else:
        p = np.full(len(v), math.nan if campus_p_mw is None else float(campus_p_mw))
    t_ns = vm_pu.index.asi8
    below = v < counter.threshold_pu
    prev = np.concatenate(([False], below[:-1]))
    starts = np.flatnonzero(below & ~prev)
    window_ns = int(round(counter.window_s * 1e9))
    back_ns = int(round(counter.return_after_s * 1e9))
    end_ns = int(t_ns[-1] + round(step_s * 1e9)) if len(t_ns) else 0
    rows = []
    counted: list[int] = []  # positions of the excursion starts still counted
    blocked_until = np.iinfo(np.int64).min
    for k in starts:
        t = int(t_ns[k])
        if t < blocked_until:
            continue  # on backup: not counted
        counted = [j for j in counted if t_ns[j] >= t - window_ns] + [int(k)]
        if len(counted) >= counter.count:
            first = counted[0]
            stop = int(k)
            # the excursion that trips ends at the next sample back at or above the threshold
            after = np.flatnonzero(~below[stop:])
            last = stop + (int(after[0]) if len(after) else len(below) - stop)
            seg = v[first:max(last, first + 1)]
            ret = t + back_ns
            rows.append({"transfer_time": vm_pu.index[int(k)], "return_time": pd.Timestamp(ret, tz=vm_pu.index.tz),
                         "returns_in_horizon": bool(ret <= end_ns), "excursions": len(counted),
                         "lost_mw": float(p[k - 1] if k > 0 else p[k]), "vm_pu_min": float(seg.min())})
            counted = []
            blocked_until = ret
    return pd.DataFrame(rows, columns=TRANSFER_COLUMNS)


def on_backup(index: pd.DatetimeIndex, transfers: pd.DataFrame) -> pd.Series:
    """``True`` at the samples of ``index`` during which the campus is on backup.

    Parameters
    ----------
    index : pandas.DatetimeIndex
    transfers : pandas.DataFrame
        From :func:`backup_transfers` (``transfer_time``, ``return_time``).

    Returns
    -------
    pandas.Series of bool
        On backup from ``transfer_time`` (included) to ``return_time`` (excluded).
    """
    t_ns = index.asi8
    mask = np.zeros(len(index), dtype=bool)
    for start, stop in zip(transfers["transfer_time"], transfers["return_time"], strict=True):
        mask |= (t_ns >= pd.Timestamp(start).value) & (t_ns < pd.Timestamp(stop).value)
    return pd.Series(mask, index=index, name="on_backup")
