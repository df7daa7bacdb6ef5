"""Grid-side power variation of a large load (campus plus battery) as the utility sees it.

Two measures, both on the POI active power ``p_mw`` (consumer view: import positive, so *up* is
more grid draw):

``delta``
    the net change over a fixed interval, ``P(t) - P(t - window_s)``. This is what a *rate* in
    MW/min means ("20 MW/min"): a sustained ramp. It is blind to swings faster than the interval
    (a 2-s oscillation nets to zero over a minute), which the ``range`` limits catch.
``range``
    the peak-to-peak variation within any window of ``window_s``: ``max - min`` over the samples
    in ``[t - window_s, t]`` (``floor(window_s / step_s) + 1`` samples; a partial window at the
    start counts). This is what an *amount within a window* means ("10 MW peak-to-peak in any
    5 s", "at most 5 MW per 15 s", "<10 MW over 4-6 s": the 6-s window covers 4-6 s).

Both count a window by :func:`gridstudy.models.timeindex.window_samples`, the definition the
``ramp_limit`` dispatch strategy holds (see its docstring for why the end points ``t - window_s``
and ``t`` both belong to the window): ``delta`` compares the first and the last of those samples,
``range`` takes all of them, so ``range >= |delta|`` over the same window, and a strategy set to
``X`` MW in ``W`` s passes a limit of ``X`` MW in ``W`` s.

Limits (``docs/sources/criteria.md §5``):

=========================  ==========================================================  =========
preset                     limit                                                       measure
=========================  ==========================================================  =========
``ercot-proposed``         10 MW peak-to-peak in any 5 s (ERCOT, proposed)             range 5 s
``ercot-nprr1191``         down: lesser of 5 % of peak or 20 MW/min; up: lesser of 2 %  delta 60 s
                           of peak or 8 MW/min (NPRR1191, withdrawn; needs ``peak_mw``)
``ieso``                   20 MW/min; at most 5 MW per 15 s (IESO)                     delta 60 s;
                                                                                       range 15 s
``southern``               20 MW/min; < 10 MW over 4-6 s (Southern Company)            delta 60 s;
                                                                                       range 6 s
``caiso``                  20 MW/min over a rolling 10 min (CAISO straw proposal)      delta 600 s
``aeso``                   10 MW/min (AESO)                                            delta 60 s
=========================  ==========================================================  =========

ATC's rule (changes above 50 MW at no more than 0.5 MW/s) is not a preset; a custom
:class:`RampLimit` can express its rate part.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.models.timeindex import window_samples
from gridstudy.studies.criteria._base import STATUSES, CriteriaError, Finding, Limit, as_values, positive, runs
from gridstudy.studies.criteria.meter import Meter

__all__ = ["RampLimit", "RAMP_PRESETS", "ramp_limits", "nprr1191_limits", "delta_mw",
           "rolling_range_mw", "max_ramp_mw_per_min", "max_p2p_mw", "ramp_finding",
           "ramp_findings"]


@dataclass(frozen=True)
class RampLimit:
    """One limit on grid-side power variation.

    Parameters
    ----------
    name : str
        Short name, e.g. ``"ERCOT 5-s peak-to-peak"``.
    window_s : float
        Interval (``delta``) or window length (``range``). [s]
    max_mw : float
        Largest allowed change over ``window_s``. [MW]
    method : {"delta", "range"}
        See the module docstring.
    direction : {"both", "up", "down"}
        For ``delta``: which changes are judged (up = more import). ``range`` takes ``"both"``.
    strict : bool
        The limit itself is a violation (the source says "<").
    source : str
    check : bool
    status : str or None
        ``published`` (with ``date``), ``proposed`` or ``assumed``; ``None``: from ``check``.
    region : str or None
        The region or utilities whose rule it is (comma-separated; ``None``: not regional).
    date : str
        Date of the published document.
    """

    name: str
    window_s: float
    max_mw: float
    method: Literal["delta", "range"] = "delta"
    direction: Literal["both", "up", "down"] = "both"
    strict: bool = False
    source: str = "custom"
    check: bool = False
    status: str | None = None
    region: str | None = None
    date: str = ""

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        positive(problems, f"{self.name}.window_s", self.window_s)
        positive(problems, f"{self.name}.max_mw", self.max_mw)
        if self.method not in ("delta", "range"):
            problems.append(Problem(f"{self.name}.method", "must be 'delta' or 'range'", self.method))
        if self.direction not in ("both", "up", "down"):
            problems.append(Problem(f"{self.name}.direction", "must be 'both', 'up' or 'down'",
                                    self.direction))
        if self.status is not None and self.status not in STATUSES:
            problems.append(Problem(f"{self.name}.status", "must be one of " + ", ".join(STATUSES), self.status))
        if self.method == "range" and self.direction != "both" and self.direction in ("up", "down"):
            problems.append(Problem(f"{self.name}.direction", "a range limit takes 'both'",
                                    self.direction))
        if problems:
            raise CriteriaError(problems)

    def limit(self) -> Limit:
        """As a :class:`Limit` (MW over the window)."""
        what = "peak-to-peak in" if self.method == "range" else "change over"
        dirn = "" if self.direction == "both" else f" ({self.direction})"
        return Limit(f"{self.name}: MW {what} {self.window_s:g} s{dirn}"
                     + (" (strictly below)" if self.strict else ""),
                     self.max_mw, "MW", self.source, self.check, self.status, self.date, self.region)


_ERCOT = "ERCOT proposed large-load rule (10 MW peak-to-peak in any 5 s)"
_IESO = "IESO (20 MW/min, at most 5 MW per 15 s)"
_SOUTHERN = "Southern Company (20 MW/min; <10 MW over 4-6 s)"
_CAISO = "CAISO straw proposal (20 MW/min over a rolling 10 min)"
_AESO = "AESO (10 MW/min)"
_NPRR = "ERCOT NPRR1191 (withdrawn)"

RAMP_PRESETS: dict[str, tuple[RampLimit, ...]] = {
    "ercot-proposed": (RampLimit("ERCOT 5-s peak-to-peak", 5.0, 10.0, "range", source=_ERCOT,
                                 status="proposed", region="ERCOT"),),
    # not traced to a dated document (docs/sources/criteria.md §5): assumed until confirmed
    "ieso": (RampLimit("IESO ramp", 60.0, 20.0, "delta", source=_IESO, status="assumed", region="IESO"),
             RampLimit("IESO 15-s", 15.0, 5.0, "range", source=_IESO, status="assumed", region="IESO")),
    "southern": (RampLimit("Southern ramp", 60.0, 20.0, "delta", source=_SOUTHERN, status="assumed",
                           region="Southern Company"),
                 RampLimit("Southern 4-6 s", 6.0, 10.0, "range", strict=True, source=_SOUTHERN,
                           status="assumed", region="Southern Company")),
    "caiso": (RampLimit("CAISO 10-min ramp", 600.0, 200.0, "delta", source=_CAISO, status="proposed",
                        region="CAISO"),),
    "aeso": (RampLimit("AESO ramp", 60.0, 10.0, "delta", source=_AESO, status="assumed", region="AESO"),),
}


def nprr1191_limits(peak_mw: float) -> tuple[RampLimit, RampLimit]:
    """ERCOT NPRR1191 (withdrawn) ramp limits for a load of a given peak.

    Parameters
    ----------
    peak_mw : float
        Peak demand of the large load. [MW]

    Returns
    -------
    tuple of RampLimit
        Down: lesser of 5 % of peak or 20 MW per minute; up: lesser of 2 % of peak or 8 MW per
        minute.
    """
    problems: list[Problem] = []
    positive(problems, "peak_mw", peak_mw)
    if problems:
        raise CriteriaError(problems)
    return (RampLimit("NPRR1191 down", 60.0, min(0.05 * peak_mw, 20.0), "delta", "down",
                      source=_NPRR, status="proposed", region="ERCOT"),
            RampLimit("NPRR1191 up", 60.0, min(0.02 * peak_mw, 8.0), "delta", "up", source=_NPRR,
                      status="proposed", region="ERCOT"))


def ramp_limits(name: str, *, peak_mw: float | None = None) -> tuple[RampLimit, ...]:
    """The limits of a named preset (``ercot-proposed``, ``ercot-nprr1191``, ``ieso``,
    ``southern``, ``caiso``, ``aeso``).

    Parameters
    ----------
    name : str
    peak_mw : float, optional
        Peak demand, needed by ``ercot-nprr1191``. [MW]
    """
    if name == "ercot-nprr1191":
        if peak_mw is None:
            raise CriteriaError([Problem("peak_mw", "is needed by preset ercot-nprr1191",
                                         has_value=False)])
        return nprr1191_limits(peak_mw)
    if name not in RAMP_PRESETS:
        raise CriteriaError([Problem("ramp preset", "unknown; known: "
                                     + ", ".join([*RAMP_PRESETS, "ercot-nprr1191"]), name)])
    return RAMP_PRESETS[name]


def _lag(window_s: float, step_s: float, path: str) -> int:
    """Steps between the first and the last sample of the window (``window_samples - 1``)."""
    lag = window_s / step_s
    if lag < 1 - 1e-9 or abs(lag - round(lag)) > 1e-6:
        raise CriteriaError([Problem(path, f"must be a whole number (>= 1) of steps of {step_s:g} s",
                                     window_s)])
    return window_samples(window_s, step_s) - 1


def delta_mw(p_mw: pd.Series, window_s: float) -> pd.Series:
    """Net change over an interval, ``P(t) - P(t - window_s)``.

    Parameters
    ----------
    p_mw : pandas.Series
        Grid-side active power, import positive. [MW]
    window_s : float
        Interval, a whole number of steps. [s]

    Returns
    -------
    pandas.Series
        Signed change [MW], NaN for the first ``window_s`` of the series.
    """
    values, idx, step_s = as_values(p_mw, "p_mw", frame_ok=False)
    lag = _lag(window_s, step_s, "window_s")
    v = values[:, 0]
    out = np.full(len(v), np.nan)
    out[lag:] = v[lag:] - v[:-lag]
    return pd.Series(out, index=idx, name="delta_mw")


def rolling_range_mw(p_mw: pd.Series, window_s: float) -> pd.Series:
    """Peak-to-peak variation within the window ``[t - window_s, t]`` ending at each step.

    Parameters
    ----------
    p_mw : pandas.Series
        Grid-side active power. [MW]
    window_s : float
        Window length, at least one step. [s]

    Returns
    -------
    pandas.Series
        ``max - min`` over the ``floor(window_s / step_s) + 1`` samples ending at each step
        (fewer at the start of the series). [MW]
    """
    values, idx, step_s = as_values(p_mw, "p_mw", frame_ok=False)
    if window_s < step_s * (1 - 1e-9):
        raise CriteriaError([Problem("window_s", f"is shorter than the step of {step_s:g} s",
                                     window_s)])
    n = window_samples(window_s, step_s)
    r = pd.Series(values[:, 0]).rolling(n, min_periods=1)
    return pd.Series((r.max() - r.min()).to_numpy(), index=idx, name="range_mw")


def max_ramp_mw_per_min(p_mw: pd.Series) -> float:
    """Largest net change over any minute, ``max |P(t) - P(t - 60 s)|``. [MW/min]"""
    d = delta_mw(p_mw, 60.0).to_numpy()
    d = d[np.isfinite(d)]
    return float(np.abs(d).max()) if len(d) else 0.0


def max_p2p_mw(p_mw: pd.Series, window_s: float = 5.0) -> float:
    """Largest peak-to-peak variation within any window of ``window_s``. [MW]"""
    return float(rolling_range_mw(p_mw, window_s).max())


def ramp_finding(p_mw: pd.Series, limit: RampLimit, meter: Meter | None = None) -> Finding:
    """Judge grid-side power against one variation limit.

    Parameters
    ----------
    p_mw : pandas.Series
        Grid-side active power at the POI (campus plus battery), import positive, on a fixed-step
        index. [MW]
    limit : RampLimit
    meter : Meter, optional
        How the power is read before the limit judges it (:mod:`gridstudy.studies.criteria.meter`):
        e.g. 1-minute block averages for a MW/min rate (the change between consecutive averages),
        a 1-s RMS for a peak-to-peak; ``None``: each sample as recorded. A series shorter than
        one averaging window gives a ``not applicable`` finding.

    Returns
    -------
    Finding
        ``worst_value`` the largest change or peak-to-peak [MW] over the window and ``when`` the
        end of that window; ``seconds_outside`` counts window ends in violation (one step each);
        ``events`` their runs; ``details["worst_mw_per_min"]`` the worst as a rate (``delta``
        limits only).
    """
    if not isinstance(limit, RampLimit):
        raise CriteriaError([Problem("limit", "must be a RampLimit", type(limit).__name__)])
    as_values(p_mw, "p_mw", frame_ok=False)
    meter = meter if meter is not None else Meter("active power", averaging="sample")
    read = meter.apply(p_mw)
    lim_rec = dataclasses.replace(limit.limit(), meter=meter.describe())
    if read is None or (limit.method == "delta" and len(read) < 2):
        return Finding(
            criterion=f"grid-side variation: {limit.name}", passed=True, worst_value=float("nan"),
            worst_unit="MW", when=None, seconds_outside=0.0, events=0, limits=(lim_rec,),
            note=f"Not applicable: the series is too short for one reading of the meter ({meter.describe()}).",
            details={"method": limit.method, "window_s": limit.window_s, "meter": meter.describe()},
            standing="not applicable")
    p_mw = read
    _, idx, step_s = as_values(p_mw, "p_mw", frame_ok=False)
    if limit.method == "range":
        m = rolling_range_mw(p_mw, limit.window_s).to_numpy()
    else:
        d = delta_mw(p_mw, limit.window_s).to_numpy()
        m = {"both": np.abs(d), "up": d, "down": -d}[limit.direction]
    m = np.where(np.isfinite(m), m, -np.inf)
    outside = m >= limit.max_mw if limit.strict else m > limit.max_mw + 1e-9
    if np.isfinite(m).any():
        k = int(m.argmax())
        worst, when = max(float(m[k]), 0.0), idx[k]
    else:
        worst, when = 0.0, None
    starts, _ = runs(outside)
    return Finding(
        criterion=f"grid-side variation: {limit.name}",
        passed=not outside.any(),
        worst_value=worst,
        worst_unit="MW",
        when=when,
        seconds_outside=float(outside.sum()) * step_s,
        events=len(starts),
        limits=(lim_rec,),
        note=("Peak-to-peak (max - min) within any window" if limit.method == "range" else
              "Net change P(t) - P(t - window)") + f" of {limit.window_s:g} s, POI import positive; "
             f"meter: {meter.describe()}.",
        details={"worst_mw_per_min": (worst * 60.0 / limit.window_s
                                     if limit.method == "delta" else None),
                 "method": limit.method,
                 "window_s": limit.window_s,
                 "meter": meter.describe(),
                 # the meter itself, so that a figure of the criterion reads the series as it does
                 "meter_averaging": meter.averaging, "meter_window_s": meter.window_s},
    )


def ramp_findings(p_mw: pd.Series, limits: Sequence[RampLimit] | str, *,
                  peak_mw: float | None = None) -> list[Finding]:
    """Judge grid-side power against several limits or a named preset.

    Parameters
    ----------
    p_mw : pandas.Series
        Grid-side active power at the POI, import positive. [MW]
    limits : sequence of RampLimit or str
        The limits, or a preset name for :func:`ramp_limits`.
    peak_mw : float, optional
        Peak demand, for ``ercot-nprr1191``. [MW]

    Returns
    -------
    list of Finding
        One per limit, in order.
    """
    if isinstance(limits, str):
        limits = ramp_limits(limits, peak_mw=peak_mw)
    return [ramp_finding(p_mw, lim) for lim in limits]
