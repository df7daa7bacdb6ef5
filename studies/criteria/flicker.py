"""Flicker severity estimated from quasi-static voltage changes (analytical method).

This is an *estimate* of flicker from the voltage changes that a quasi-static (phasor power-flow
per step) series shows, by the analytical method of IEC 61000-3-3 / IEC 61000-3-7; it is not a
flickermeter (IEC 61000-4-15) measurement and sees nothing faster than the series' step.

Method (``docs/sources/criteria.md §4``):

- a *voltage change* is a maximal run of consecutive sample-to-sample differences of one sign
  (differences within ``deadband_pct`` count as none and end a run); its size ``d`` is the net
  change over the run in % of nominal voltage, its time the first sample that shows it. A ramp
  over several steps is thus one change of its full size, taken with shape factor ``F``
  (1 for a step: conservative for slow ramps, whose true F is below 1);
- flicker impression time of a change: ``t_f = 2.3 * (F * d) ** 3.2`` [s], d in %;
- ``Pst = (sum t_f / T_p) ** (1 / 3.2)`` over clock-aligned windows of ``T_p = 600 s``;
- ``Plt = (sum Pst**3 / 12) ** (1 / 3)`` over clock-aligned 2-hour windows.

Check value: one 2.77 % step a minute gives Pst = 1.

Planning levels *(check)*: MV Pst 0.9 / Plt 0.7; HV-EHV Pst 0.8 / Plt 0.6 (IEC 61000-3-7,
IEEE 1453-2022). Windows at the ends of the series that are only partly covered are still divided
by the full 600 s (and 12), so they read low; their count is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.studies.criteria._base import CriteriaError, Finding, Limit, as_values, positive

__all__ = ["FlickerLevels", "FLICKER_MV", "FLICKER_HV", "voltage_changes", "pst", "plt",
           "flicker_finding"]

_SOURCE = "IEC 61000-3-7 / IEEE 1453-2022 flicker planning levels"
_METHOD = "IEC 61000-3-3 / IEC 61000-3-7 analytical method"
_PST_WINDOW = pd.Timedelta("10min")
_PLT_WINDOW = pd.Timedelta("2h")


@dataclass(frozen=True)
class FlickerLevels:
    """Flicker planning levels of one voltage class.

    Parameters
    ----------
    pst : float
        Short-term severity level. [-]
    plt : float
        Long-term severity level. [-]
    voltage_class : str
    source : str
    check : bool
    """

    pst: float
    plt: float
    voltage_class: str = "MV"
    source: str = _SOURCE
    check: bool = True

    def limits(self) -> tuple[Limit, Limit]:
        """The two levels as :class:`Limit` records."""
        c = self.voltage_class
        return (Limit(f"Pst planning level {c}", self.pst, "-", self.source, self.check),
                Limit(f"Plt planning level {c}", self.plt, "-", self.source, self.check))


FLICKER_MV = FlickerLevels(0.9, 0.7, "MV")
FLICKER_HV = FlickerLevels(0.8, 0.6, "HV")


def voltage_changes(vm_pu: pd.Series, *, deadband_pct: float = 1e-3) -> pd.Series:
    """The voltage changes of a series (maximal same-sign runs of differences).

    Parameters
    ----------
    vm_pu : pandas.Series
        Voltage magnitude on a fixed-step index. [pu]
    deadband_pct : float
        Sample-to-sample differences up to this size are no change (solver noise). [%]

    Returns
    -------
    pandas.Series
        Signed size of each change in % of nominal, indexed by the time of its first sample.
    """
    values, index, _ = as_values(vm_pu, "vm_pu", frame_ok=False)
    dv = np.diff(values[:, 0]) * 100.0
    sign = np.sign(dv).astype(np.int8)
    sign[np.abs(dv) <= deadband_pct] = 0
    prev = np.concatenate(([0], sign[:-1]))
    start = (sign != 0) & (sign != prev)
    seg = np.cumsum(start) - 1
    moving = sign != 0
    d = np.bincount(seg[moving], weights=dv[moving], minlength=int(start.sum()))
    return pd.Series(d, index=index[1:][start], name="d_pct")


def _pst_from_changes(changes: pd.Series, index: pd.DatetimeIndex,
                      shape_factor: float) -> pd.Series:
    w = _PST_WINDOW.value
    first = index[0].value // w
    n_win = index[-1].value // w - first + 1
    t_f = 2.3 * np.abs(shape_factor * changes.to_numpy()) ** 3.2
    k = cast(pd.DatetimeIndex, changes.index).asi8 // w - first
    total = np.bincount(k, weights=t_f, minlength=n_win)
    win = pd.DatetimeIndex((first + np.arange(n_win)) * w, tz=index.tz)
    return pd.Series((total / 600.0) ** (1 / 3.2), index=win, name="pst")


def pst(vm_pu: pd.Series, *, shape_factor: float = 1.0, deadband_pct: float = 1e-3) -> pd.Series:
    """Short-term flicker severity per clock-aligned 10-minute window (analytical estimate).

    Parameters
    ----------
    vm_pu : pandas.Series
        Voltage magnitude on a fixed-step index. [pu]
    shape_factor : float
        Shape factor F applied to every change (1 for a step). [-]
    deadband_pct : float
        See :func:`voltage_changes`. [%]

    Returns
    -------
    pandas.Series
        Pst [-] indexed by window start; windows without a change give 0.
    """
    problems: list[Problem] = []
    positive(problems, "shape_factor", shape_factor)
    if problems:
        raise CriteriaError(problems)
    changes = voltage_changes(vm_pu, deadband_pct=deadband_pct)
    return _pst_from_changes(changes, cast(pd.DatetimeIndex, vm_pu.index), shape_factor)  # checked by voltage_changes


def plt(pst_series: pd.Series) -> pd.Series:
    """Long-term flicker severity per clock-aligned 2-hour window from Pst values.

    Parameters
    ----------
    pst_series : pandas.Series
        Pst per 10-minute window, indexed by window start (as from :func:`pst`). [-]

    Returns
    -------
    pandas.Series
        ``Plt = (sum Pst**3 / 12) ** (1/3)`` [-] indexed by the 2-hour window start.
    """
    if not isinstance(pst_series, pd.Series) or not isinstance(pst_series.index, pd.DatetimeIndex):
        raise CriteriaError([Problem("pst", "must be a Series on a DatetimeIndex",
                                     type(pst_series).__name__)])
    cubes = pst_series.to_numpy(dtype=float) ** 3
    w = _PLT_WINDOW.value
    k = pst_series.index.asi8 // w
    first = k.min() if len(k) else 0
    total = np.bincount(k - first, weights=cubes) if len(k) else np.zeros(0)
    win = pd.DatetimeIndex((first + np.arange(len(total))) * w, tz=pst_series.index.tz)
    return pd.Series((total / 12.0) ** (1 / 3), index=win, name="plt")


def flicker_finding(vm_pu: pd.Series, levels: FlickerLevels = FLICKER_MV, *,
                    shape_factor: float = 1.0, deadband_pct: float = 1e-3,
                    percentile: float | None = None) -> Finding:
    """Estimate Pst and Plt from a quasi-static voltage series and judge them.

    Parameters
    ----------
    vm_pu : pandas.Series
        Voltage magnitude on a fixed-step index. [pu]
    levels : FlickerLevels
        Planning levels of the bus's class (:data:`FLICKER_MV`, :data:`FLICKER_HV`).
    shape_factor, deadband_pct
        See :func:`pst`. [-], [%]
    percentile : float, optional
        Judge this percentile of the Pst and Plt values (e.g. 95) instead of the maximum. [%]

    Returns
    -------
    Finding
        ``worst_value`` the largest Pst and ``when`` its window start; ``seconds_outside`` the
        time of Pst windows above the level; ``events`` their number; ``details`` ``pst_max``,
        ``plt_max``, ``plt_when``, the judged statistics and ``partial_windows``.
    """
    if percentile is not None and not (0 < percentile <= 100):
        raise CriteriaError([Problem("percentile", "must be in (0, 100]", percentile)])
    p = pst(vm_pu, shape_factor=shape_factor, deadband_pct=deadband_pct)
    lt = plt(p)
    pv, lv = p.to_numpy(), lt.to_numpy()
    stat_pst = float(pv.max() if percentile is None else np.percentile(pv, percentile))
    stat_plt = float(lv.max() if percentile is None else np.percentile(lv, percentile))
    over = pv > levels.pst
    _, idx, step_s = as_values(vm_pu, "vm_pu", frame_ok=False)
    covered_to = idx[-1] + pd.Timedelta(seconds=step_s)
    partial = int(idx[0] != p.index[0]) + int(covered_to < p.index[-1] + _PST_WINDOW)
    k = int(pv.argmax())
    kl = int(lv.argmax())
    stat_name = "max" if percentile is None else f"{percentile:g}th percentile"
    return Finding(
        criterion=f"flicker ({levels.voltage_class})",
        passed=stat_pst <= levels.pst and stat_plt <= levels.plt,
        worst_value=float(pv[k]),
        worst_unit="-",
        when=p.index[k],
        seconds_outside=float(over.sum()) * 600.0,
        events=int(over.sum()),
        limits=levels.limits(),
        note=("Estimate of flicker from quasi-static voltage changes by the "
              f"{_METHOD} (t_f = 2.3 (F d)^3.2, F = {shape_factor:g}), not a flickermeter "
              f"measurement; judged on the {stat_name} of Pst (10 min) and Plt (2 h)."),
        details={
            "pst_max": float(pv.max()),
            "plt_max": float(lv.max()),
            "plt_when": lt.index[kl],
            "pst_judged": stat_pst,
            "plt_judged": stat_plt,
            "pst_windows": len(pv),
            "partial_windows": partial,
            "method": _METHOD,
        },
    )
