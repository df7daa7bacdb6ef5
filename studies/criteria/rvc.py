"""Rapid voltage change (RVC): changes between steady states, counted and judged.

Rule for a steady state (after the idea of IEC 61000-4-30's RVC detection, adapted to a sampled
quasi-static series):

- a *window* is ``w = max(2, ceil(min_steady_s / step_s) + 1)`` consecutive samples, i.e. it spans
  at least ``min_steady_s``;
- a window is *steady* when all its samples lie within a band of width ``2 * tol_pct`` (in % of
  nominal), i.e. ``max - min <= 2 * tol_pct``;
- a *steady state* is a run of consecutive steady windows; it covers the samples of all of them.

An RVC *event* is the passage from one steady state to the next. Its time is the first sample
after the last steady window of the old state. Its measures, in % of nominal voltage:

- ``dv_ss_pct``: the difference between the mean of the last steady window before and the mean of
  the first steady window after;
- ``dv_max_pct``: the largest deviation from the old steady mean during the passage (samples
  between the two states and the first window of the new one), at least ``dv_ss_pct``.

An event whose passage, or the steady state before or after it, goes beyond the dip or swell
threshold (0.90 / 1.10 pu) is a dip or swell (its start or its recovery), not an RVC, and is listed with that kind but not judged here. A series that ends before a new
steady state is reached leaves the last passage uncounted.

Limits: IEEE 1453-2022 / IEC 61000-3-7 indicative planning levels *(check the table)*:

========================================  ======  ======
number of changes n                        MV      HV
========================================  ======  ======
n <= 4 a day                               5-6 %   3-5 %
n <= 2 an hour (and more than 4 a day)     4 %     3 %
2 < n <= 10 an hour                        3 %     2.5 %
========================================  ======  ======

Read as counts of changes larger than a level: none above the first-row level (the lower end of
each range by default); at most 4 a day above the second-row level; at most 2 an hour above the
third-row level. Hours and days are *rolling* windows (any 60 min, any 24 h), stricter than clock
hours. More than 10 changes an hour fall outside the table (flicker governs them); that count is
reported, and judged only when ``max_events_per_hour`` is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.studies.criteria._base import CriteriaError, Finding, Limit, as_values, positive, runs

__all__ = ["RVCLimits", "RVC_MV", "RVC_HV", "rvc_events", "rvc_finding", "count_finding", "max_rolling_count"]

_SOURCE = "IEEE 1453-2022 / IEC 61000-3-7 RVC planning levels"


@dataclass(frozen=True)
class RVCLimits:
    """RVC planning levels of one voltage class, in % of nominal voltage.

    Parameters
    ----------
    day_pct : float
        No change may exceed this (row ``n <= 4 a day``; lower end of its range). [%]
    hour2_pct : float
        At most ``per_day`` changes a day may exceed this (row ``n <= 2 an hour``). [%]
    hour10_pct : float
        At most ``per_hour`` changes an hour may exceed this (row ``2 < n <= 10 an hour``). [%]
    per_day : int
        Allowed changes a day above ``hour2_pct``. [1/day]
    per_hour : int
        Allowed changes an hour above ``hour10_pct``. [1/h]
    voltage_class : str
        ``"MV"`` or ``"HV"``.
    source : str
    check : bool
    """

    day_pct: float
    hour2_pct: float
    hour10_pct: float
    per_day: int = 4
    per_hour: int = 2
    voltage_class: str = "MV"
    source: str = _SOURCE
    check: bool = True

    def limits(self) -> tuple[Limit, ...]:
        """The three levels as :class:`Limit` records."""
        c = self.voltage_class
        return (Limit(f"RVC {c}: no change above", self.day_pct, "%", self.source, self.check),
                Limit(f"RVC {c}: at most {self.per_day}/day above", self.hour2_pct, "%",
                      self.source, self.check),
                Limit(f"RVC {c}: at most {self.per_hour}/h above", self.hour10_pct, "%",
                      self.source, self.check))


RVC_MV = RVCLimits(5.0, 4.0, 3.0, voltage_class="MV")
RVC_HV = RVCLimits(3.0, 3.0, 2.5, voltage_class="HV")

_EVENT_COLUMNS = ["time", "end", "dv_ss_pct", "dv_max_pct", "vm_before_pu", "vm_after_pu", "kind"]


def rvc_events(vm_pu: pd.Series, *, tol_pct: float = 0.5, min_steady_s: float = 1.0,
               dip_pu: float = 0.90, swell_pu: float = 1.10) -> pd.DataFrame:
    """Every passage between steady states of a voltage series (see the module's rule).

    Parameters
    ----------
    vm_pu : pandas.Series
        Voltage magnitude on a fixed-step index. [pu]
    tol_pct : float
        Half-width of the steady band: a window is steady when ``max - min <= 2 * tol_pct``. [%]
    min_steady_s : float
        Shortest time a steady state lasts. [s]
    dip_pu, swell_pu : float
        A passage going below ``dip_pu`` or above ``swell_pu`` is a dip or swell. [pu]

    Returns
    -------
    pandas.DataFrame
        One row per passage: ``time`` (start), ``end`` (first sample of the new steady state),
        ``dv_ss_pct`` and ``dv_max_pct`` [%] (unsigned), ``vm_before_pu`` and ``vm_after_pu``
        (steady means) [pu], ``kind`` (``"rvc"``, ``"dip"`` or ``"swell"``).
    """
    problems: list[Problem] = []
    positive(problems, "tol_pct", tol_pct)
    positive(problems, "min_steady_s", min_steady_s, allow_zero=True)
    if problems:
        raise CriteriaError(problems)
    values, index, step_s = as_values(vm_pu, "vm_pu", frame_ok=False)
    v = values[:, 0]
    n = len(v)
    w = max(2, math.ceil(min_steady_s / step_s - 1e-9) + 1)
    if n < w:
        return pd.DataFrame(columns=_EVENT_COLUMNS)
    s = pd.Series(v)
    roll = s.rolling(w)
    vmax, vmin, vmean = roll.max().to_numpy(), roll.min().to_numpy(), roll.mean().to_numpy()
    # a window ending at j is steady; 1e-9 % absorbs rounding of pu values
    steady = np.zeros(n, dtype=bool)
    steady[w - 1:] = (vmax[w - 1:] - vmin[w - 1:]) * 100.0 <= 2.0 * tol_pct + 1e-9
    starts, ends = runs(steady)
    if len(starts) < 2:
        return pd.DataFrame(columns=_EVENT_COLUMNS)
    last_end = ends[:-1] - 1                  # last steady window of the old state (its end)
    next_start = starts[1:]                   # first steady window of the new state (its end)
    m_before = vmean[last_end]
    m_after = vmean[next_start]
    a = last_end + 1                          # first sample of the passage
    b = next_start + 1                        # end (exclusive) of the new state's first window
    # largest deviation from the old mean over samples [a, b); b > a always (b = next_start + 1)
    lengths = b - a
    seg = np.repeat(np.arange(len(a)), lengths)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    idx = np.arange(lengths.sum()) - offsets + a[seg]
    vs = v[idx]
    dv_max = np.zeros(len(a))
    np.maximum.at(dv_max, seg, np.abs(vs - m_before[seg]) * 100.0)
    vlow = np.full(len(a), np.inf)
    np.minimum.at(vlow, seg, vs)
    vhigh = np.full(len(a), -np.inf)
    np.maximum.at(vhigh, seg, vs)
    dv_ss = np.abs(m_after - m_before) * 100.0
    dv_max = np.maximum(dv_max, dv_ss)
    # a passage from or to a steady state outside the dip/swell thresholds belongs to that dip
    vlow = np.minimum(vlow, np.minimum(m_before, m_after))
    vhigh = np.maximum(vhigh, np.maximum(m_before, m_after))
    kind = np.where(vlow < dip_pu, "dip", np.where(vhigh > swell_pu, "swell", "rvc"))
    end_pos = np.maximum(next_start - w + 1, a)
    return pd.DataFrame({
        "time": index[a],
        "end": index[np.minimum(end_pos, n - 1)],
        "dv_ss_pct": dv_ss,
        "dv_max_pct": dv_max,
        "vm_before_pu": m_before,
        "vm_after_pu": m_after,
        "kind": kind,
    }, columns=_EVENT_COLUMNS)


def max_rolling_count(times: pd.DatetimeIndex | pd.Series, window: str | pd.Timedelta) -> int:
    """Largest number of time stamps in any half-open window ``[t, t + window)``.

    Parameters
    ----------
    times : pandas.DatetimeIndex or pandas.Series
        Sorted event times.
    window : str or pandas.Timedelta
        Window length, e.g. ``"1h"``.

    Returns
    -------
    int
    """
    t = pd.DatetimeIndex(times).asi8
    if len(t) == 0:
        return 0
    return int((np.searchsorted(t, t + pd.Timedelta(window).value, side="left")
                - np.arange(len(t))).max())


def rvc_finding(vm_pu: pd.Series, limits: RVCLimits = RVC_MV, *, tol_pct: float = 0.5,
                min_steady_s: float = 1.0, min_change_pct: float = 1.0,
                measure: Literal["max", "ss"] = "max", max_events_per_hour: int | None = None,
                dip_pu: float = 0.90, swell_pu: float = 1.10) -> Finding:
    """Count rapid voltage changes and judge them against the IEEE 1453 / IEC 61000-3-7 table.

    Parameters
    ----------
    vm_pu : pandas.Series
        Voltage magnitude on a fixed-step index. [pu]
    limits : RVCLimits
        Planning levels of the bus's voltage class (:data:`RVC_MV`, :data:`RVC_HV`).
    tol_pct, min_steady_s
        Steady-state rule, see :func:`rvc_events`. [%], [s]
    min_change_pct : float
        Passages smaller than this (by ``measure``) are not counted as RVC events. [%]
    measure : {"max", "ss"}
        Judge ``dv_max_pct`` (default, the larger) or ``dv_ss_pct``.
    max_events_per_hour : int, optional
        When set, more counted events than this in any hour fail (the table stops at 10).
    dip_pu, swell_pu : float
        Dip and swell thresholds, see :func:`rvc_events`. [pu]

    Returns
    -------
    Finding
        ``worst_value`` the largest change [%] and ``when`` its time; ``events`` the counted RVC
        events; ``details`` ``max_per_hour``, ``max_per_day`` (rolling), the rolling counts above
        each level, and ``dips_swells`` (passages excluded as dips or swells).
    """
    if measure not in ("max", "ss"):
        raise CriteriaError([Problem("measure", "must be 'max' or 'ss'", measure)])
    ev = rvc_events(vm_pu, tol_pct=tol_pct, min_steady_s=min_steady_s, dip_pu=dip_pu,
                    swell_pu=swell_pu)
    col = "dv_max_pct" if measure == "max" else "dv_ss_pct"
    rvc = ev[(ev["kind"] == "rvc") & (ev[col] >= min_change_pct)]
    _, _, step_s = as_values(vm_pu, "vm_pu", frame_ok=False, finite=False)
    f = count_finding(pd.DatetimeIndex(rvc["time"]), rvc[col].to_numpy(dtype=float), limits,
                      max_events_per_hour=max_events_per_hour)
    return replace(f, note=(f"Changes between steady states (window {min_steady_s:g} s, band +/-{tol_pct:g} %), "
                            f"counted from {min_change_pct:g} %, judged on dv_{measure} over rolling hours "
                            f"and days."),
                   details={**f.details, "dips_swells": int((ev["kind"] != "rvc").sum()), "step_s": step_s})


def count_finding(times: pd.DatetimeIndex, dv_pct: np.ndarray, limits: RVCLimits = RVC_MV, *,
                  max_events_per_hour: int | None = None) -> Finding:
    """Judge a list of rapid voltage changes (their times and sizes) against the table by
    frequency of changes (see the module docstring): none above ``day_pct`` (the cap), at most
    ``per_day`` in any rolling day above ``hour2_pct``, at most ``per_hour`` in any rolling hour
    above ``hour10_pct``.

    Parameters
    ----------
    times : pandas.DatetimeIndex
        When each change starts, ascending.
    dv_pct : numpy.ndarray
        The size of each change, unsigned. [%]
    limits : RVCLimits
        Planning levels of the bus's voltage class.
    max_events_per_hour : int, optional
        When set, more changes than this in any hour fail.

    Returns
    -------
    Finding
        As :func:`rvc_finding` (``details`` with the rolling counts above each level).
    """
    dv = np.asarray(dv_pct, dtype=float)
    times = pd.DatetimeIndex(times)
    if len(times) != len(dv):
        raise CriteriaError([Problem("dv_pct", f"must have one size per time ({len(times)})", len(dv))])
    n_over_day = int((dv > limits.day_pct).sum())
    per_day_over = max_rolling_count(times[dv > limits.hour2_pct], "1D")
    per_hour_over = max_rolling_count(times[dv > limits.hour10_pct], "1h")
    per_hour = max_rolling_count(times, "1h")
    passed = n_over_day == 0 and per_day_over <= limits.per_day and per_hour_over <= limits.per_hour
    if max_events_per_hour is not None and per_hour > max_events_per_hour:
        passed = False
    if len(dv):
        k = int(dv.argmax())
        worst, when = float(dv[k]), times[k]
    else:
        worst, when = 0.0, None
    lims = limits.limits()
    if max_events_per_hour is not None:
        lims += (Limit("RVC events an hour", float(max_events_per_hour), "1/h", "custom"),)
    return Finding(
        criterion=f"rapid voltage change ({limits.voltage_class})",
        passed=passed,
        worst_value=worst,
        worst_unit="%",
        when=when,
        seconds_outside=0.0,
        events=len(dv),
        limits=lims,
        note="Rapid voltage changes counted over rolling hours and days.",
        details={
            "max_per_hour": per_hour,
            "max_per_day": max_rolling_count(times, "1D"),
            "over_day_level": n_over_day,
            "max_per_day_over_hour2_level": per_day_over,
            "max_per_hour_over_hour10_level": per_hour_over,
            "over_10_per_hour": per_hour > 10,
        },
    )
