"""Steady-state voltage bands: time outside, excursions, worst value and when.

Bands (defaults from ``docs/sources/criteria.md §1``), by voltage class of the bus (:func:`voltage_class`):

=====  =========================================  ===============  ===============  ==============
class  nominal voltage                            N-0              N-1              source
=====  =========================================  ===============  ===============  ==============
LV     up to 1 kV (low-voltage service)           Range A          Range B          ANSI C84.1
                                                  0.95-1.05 pu     0.917-1.058 pu   Table 1, 120 V
                                                                                    base: 114-126 V
                                                                                    / 110-127 V
MV     above 1 kV up to 35 kV (medium-voltage     Range A service  Range B service  ANSI C84.1
       service: 2.4 kV .. 34.5 kV)                0.975-1.05 pu    0.95-1.058 pu    Table 1, e.g.
                                                                                    34.5 kV: 33.64-
                                                                                    36.23 kV / 32.78-
                                                                                    36.51 kV *(check)*
HV     above 35 kV (transmission: 46 kV and up)   0.95-1.05 pu     0.90-1.10 pu     NERC TPL-001
                                                                                    planning
                                                                                    practice *(check)*
=====  =========================================  ===============  ===============  ==============

Range A is the range a supply is designed to hold; Range B allows the infrequent, limited
excursions outside A (ANSI C84.1 clause on Range B), hence Range A at N-0 and Range B after a
contingency. ANSI C84.1 gives service Range A and B only for nominal voltages up to 34.5 kV; for 46
and 69 kV (its upper medium-voltage rows) and for high voltage it gives only a maximum system
voltage, since service at those levels is regulated on the user's side; there the planning bands
of NERC TPL-001 practice (left to each planner; common practice 0.95-1.05 pu at N-0 and 0.90-1.10
pu after a single contingency) apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.studies.criteria._base import CriteriaError, Finding, Limit, as_values, runs

__all__ = ["VoltageBand", "ANSI_RANGE_A", "ANSI_RANGE_B", "ANSI_MV_SERVICE_RANGE_A",
           "ANSI_MV_SERVICE_RANGE_B", "PLANNING_N0", "PLANNING_N1", "voltage_class", "band_excursions",
           "voltage_band_finding"]


@dataclass(frozen=True)
class VoltageBand:
    """An allowed steady-state voltage band.

    Parameters
    ----------
    vmin_pu, vmax_pu : float
        Lowest and highest allowed voltage, both allowed. [pu]
    name : str
        Short name, e.g. ``"N-0"``.
    source : str
        Where the numbers come from.
    check : bool
        The numbers are a default to be reviewed (*(check)* in ``docs/sources/criteria.md``).
    """

    vmin_pu: float
    vmax_pu: float
    name: str = "band"
    source: str = "custom"
    check: bool = False
    date: str = ""

    def __post_init__(self) -> None:
        if not (0 < self.vmin_pu < self.vmax_pu):
            raise CriteriaError([Problem("band", "needs 0 < vmin_pu < vmax_pu",
                                         (self.vmin_pu, self.vmax_pu))])

    def limit(self) -> Limit:
        """The band as a :class:`Limit`."""
        return Limit(self.name, (self.vmin_pu, self.vmax_pu), "pu", self.source, self.check, date=self.date)


#: Low-voltage service (up to 1 kV), ANSI C84.1 Table 1 on the 120-V base.
ANSI_RANGE_A = VoltageBand(0.95, 1.05, "ANSI C84.1 Range A",
                           "ANSI C84.1-2020 Table 1, low-voltage service Range A (114-126 V on 120 V)", date="2020")
ANSI_RANGE_B = VoltageBand(110 / 120, 127 / 120, "ANSI C84.1 Range B",
                           "ANSI C84.1-2020 Table 1, low-voltage service Range B (110-127 V on 120 V)", date="2020")
#: Medium-voltage service (above 1 kV up to 34.5 kV), ANSI C84.1 Table 1 service voltage columns:
#: Range A -2.5 %/+5 % (34.5 kV: 33 640-36 230 V), Range B -5 %/+5.8 % (34.5 kV: 32 780-36 510 V).
ANSI_MV_SERVICE_RANGE_A = VoltageBand(0.975, 1.05, "ANSI C84.1 MV service Range A",
                                      "ANSI C84.1 Table 1, medium-voltage service Range A (-2.5 %/+5 %; "
                                      "34.5 kV: 33.64-36.23 kV)", check=True)
ANSI_MV_SERVICE_RANGE_B = VoltageBand(0.95, 1.058, "ANSI C84.1 MV service Range B",
                                      "ANSI C84.1 Table 1, medium-voltage service Range B (-5 %/+5.8 %; "
                                      "34.5 kV: 32.78-36.51 kV)", check=True)
PLANNING_N0 = VoltageBand(0.95, 1.05, "N-0", "NERC TPL-001 common planning practice, N-0", check=True)
PLANNING_N1 = VoltageBand(0.90, 1.10, "N-1", "NERC TPL-001 common planning practice, N-1", check=True)


def voltage_class(vn_kv: float) -> str:
    """Voltage class of a nominal voltage after IEC 61000-3-7.

    The same boundaries choose the steady-state band (module table): up to 1 kV is ANSI C84.1's
    low-voltage service, above 1 kV up to 35 kV covers every Table 1 row with service Range A and
    B (2.4 .. 34.5 kV), and above 35 kV ANSI gives only a maximum, so the planning bands apply.

    Parameters
    ----------
    vn_kv : float
        Nominal phase-to-phase voltage. [kV]

    Returns
    -------
    str
        ``"LV"`` (up to 1 kV), ``"MV"`` (up to 35 kV) or ``"HV"`` (above 35 kV, EHV included).
    """
    if not vn_kv > 0:
        raise CriteriaError([Problem("vn_kv", "must be > 0", vn_kv)])
    if vn_kv <= 1.0:
        return "LV"
    return "MV" if vn_kv <= 35.0 else "HV"


def _extremes(vm_pu: pd.Series | pd.DataFrame,
              path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pd.DatetimeIndex, float]:
    """Each step's lowest and highest value with its column: ``(vmin, imin, vmax, imax, index, step_s)``."""
    values, index, step_s = as_values(vm_pu, path)
    imin = values.argmin(axis=1)
    imax = values.argmax(axis=1)
    rows = np.arange(values.shape[0])
    return values[rows, imin], imin, values[rows, imax], imax, index, step_s


def band_excursions(vm_pu: pd.Series | pd.DataFrame, band: VoltageBand) -> pd.DataFrame:
    """Every excursion outside a voltage band.

    An excursion is a run of consecutive steps in which some element (any column) is outside
    the band; each step counts for one step length.

    Parameters
    ----------
    vm_pu : pandas.Series or pandas.DataFrame
        Voltage magnitude, one column per bus for a DataFrame. [pu]
    band : VoltageBand
        The allowed band.

    Returns
    -------
    pandas.DataFrame
        One row per excursion: ``start`` (first step outside), ``end`` (first step back inside,
        or the last stamp plus one step), ``duration_s`` [s], ``side`` (``"low"``, ``"high"`` or
        ``"both"``), ``worst_vm_pu`` [pu] (farthest outside), ``element`` (column of the worst,
        ``None`` for a Series).
    """
    vmin, imin, vmax, imax, index, step_s = _extremes(vm_pu, "vm_pu")
    low = vmin < band.vmin_pu
    high = vmax > band.vmax_pu
    starts, ends = runs(low | high)
    cols = list(vm_pu.columns) if isinstance(vm_pu, pd.DataFrame) else None
    margin_low = band.vmin_pu - vmin
    margin_high = vmax - band.vmax_pu
    rows = []
    step = pd.Timedelta(seconds=step_s)
    for s, e in zip(starts, ends, strict=True):
        ml, mh = margin_low[s:e], margin_high[s:e]
        kl, kh = int(ml.argmax()), int(mh.argmax())
        if ml[kl] >= mh[kh]:
            worst, k, col = vmin[s + kl], s + kl, imin[s + kl]
        else:
            worst, k, col = vmax[s + kh], s + kh, imax[s + kh]
        any_low, any_high = bool(low[s:e].any()), bool(high[s:e].any())
        rows.append({
            "start": index[s],
            "end": index[e] if e < len(index) else index[-1] + step,
            "duration_s": (e - s) * step_s,
            "side": "both" if any_low and any_high else ("low" if any_low else "high"),
            "worst_vm_pu": float(worst),
            "element": cols[col] if cols is not None else None,
            "worst_time": index[k],
        })
    return pd.DataFrame(rows, columns=["start", "end", "duration_s", "side", "worst_vm_pu",
                                       "element", "worst_time"])


def voltage_band_finding(vm_pu: pd.Series | pd.DataFrame, band: VoltageBand, *,
                         criterion: str | None = None) -> Finding:
    """Judge a voltage series (or a table of bus voltages) against a steady-state band.

    Parameters
    ----------
    vm_pu : pandas.Series or pandas.DataFrame
        Voltage magnitude on a fixed-step index, one column per bus for a DataFrame. [pu]
    band : VoltageBand
        The allowed band (limits themselves allowed).
    criterion : str, optional
        Name of the finding; default ``"steady-state voltage <band.name>"``.

    Returns
    -------
    Finding
        ``worst_value`` is the voltage farthest outside the band (or, when all is inside, the one
        closest to a limit) and ``when`` its time; ``seconds_outside`` counts the steps with any
        bus outside; ``events`` the excursions. ``details`` holds ``vm_pu_min``, ``vm_pu_max``,
        ``longest_excursion_s``, ``excursion_durations_s`` and the worst ``element``.
    """
    vmin, imin, vmax, imax, index, step_s = _extremes(vm_pu, "vm_pu")
    margin = np.maximum(band.vmin_pu - vmin, vmax - band.vmax_pu)
    k = int(margin.argmax())
    low_side = band.vmin_pu - vmin[k] >= vmax[k] - band.vmax_pu
    worst = vmin[k] if low_side else vmax[k]
    col = imin[k] if low_side else imax[k]
    outside = margin > 0
    starts, ends = runs(outside)
    durations = (ends - starts) * step_s
    cols = list(vm_pu.columns) if isinstance(vm_pu, pd.DataFrame) else None
    return Finding(
        criterion=criterion or f"steady-state voltage {band.name}",
        passed=not outside.any(),
        worst_value=float(worst),
        worst_unit="pu",
        when=index[k],
        seconds_outside=float(outside.sum()) * step_s,
        events=len(starts),
        limits=(band.limit(),),
        note=(f"Voltage against {band.vmin_pu:.4g}-{band.vmax_pu:.4g} pu; each step outside "
              f"counts {step_s:g} s."),
        details={
            "vm_pu_min": float(vmin.min()),
            "vm_pu_max": float(vmax.max()),
            "longest_excursion_s": float(durations.max()) if len(durations) else 0.0,
            "excursion_durations_s": durations.tolist(),
            "element": cols[col] if cols is not None else None,
        },
    )
