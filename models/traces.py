"""Measured campus load traces: read, validate, resample (energy-correct) and scale.

A trace is a table of timestamps and active power (optionally reactive power) in a CSV or Parquet
file. Each value is taken as the average over its step ``[t_i, t_i + step)``, the way metering
and SCADA report interval data. The units must be stated: by the column name (``p_mw``, ``p_kw``,
``p_w``) or by ``units``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

import numpy as np
import pandas as pd

from gridstudy.models.errors import ModelError, Problem
from gridstudy.models.timeindex import step_seconds

__all__ = ["load_trace", "validate_trace", "resample_trace", "scale_trace"]

_UNIT_FACTOR_TO_MW = {"MW": 1.0, "kW": 1e-3, "W": 1e-6}
_SUFFIX_UNITS = {"_mw": "MW", "_kw": "kW", "_w": "W", "_mvar": "MW", "_kvar": "kW", "_var": "W"}


def _units_of(column: str, units: str | None, path: str) -> tuple[float | None, Problem | None]:
    if units is not None:
        if units not in _UNIT_FACTOR_TO_MW:
            return None, Problem(f"{path}.units", f"must be one of {', '.join(_UNIT_FACTOR_TO_MW)}", units)
        return _UNIT_FACTOR_TO_MW[units], None
    for suffix, u in _SUFFIX_UNITS.items():
        if column.lower().endswith(suffix):
            return _UNIT_FACTOR_TO_MW[u], None
    return None, Problem(f"{path}.units", f"not stated: name the column *_mw/*_kw/*_w or give units (column {column!r})",
                         None, has_value=False)


def load_trace(path: str | Path, *, time_column: str = "timestamp", p_column: str = "p_mw",
               q_column: str | None = None, units: Literal["MW", "kW", "W"] | None = None,
               fill: Literal["interpolate", "ffill", "zero"] | None = None,
               field: str = "campus.trace", allow_negative: bool = False) -> pd.DataFrame:
    """Read a measured trace and return it validated on a fixed-step index.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV (``.csv``) or Parquet (``.parquet``/``.pq``) file.
    time_column : str
        Column of timestamps (each the start of its interval).
    p_column : str
        Column of active power, consumption positive. [MW, kW or W, see ``units``]
    q_column : str or None
        Column of reactive power, absorption positive. [Mvar, kvar or var]
    units : {"MW", "kW", "W"} or None
        Units of the power columns; ``None``: taken from the column name suffix.
    fill : {"interpolate", "ffill", "zero"} or None
        How to fill missing intervals and NaN; ``None``: gaps and NaN are errors.
    field : str
        Field path of the trace in error messages.
    allow_negative : bool
        Accept negative active power (a campus that exports); refused by default.

    Returns
    -------
    pandas.DataFrame
        ``campus_p_mw`` [MW] and, with ``q_column``, ``campus_q_mvar`` [Mvar] on a fixed-step
        DatetimeIndex.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            raw = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            raw = pd.read_csv(path)
        else:
            raise ModelError([Problem(f"{field}.path", "must be a .csv or .parquet file", str(path))])
    except FileNotFoundError:
        raise ModelError([Problem(f"{field}.path", "file not found", str(path))]) from None
    except (ValueError, OSError) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError([Problem(f"{field}.path", f"cannot be read ({exc})", str(path))]) from None
    return validate_trace(raw, time_column=time_column, p_column=p_column, q_column=q_column, units=units,
                          fill=fill, field=field, allow_negative=allow_negative)


def validate_trace(raw: pd.DataFrame, *, time_column: str = "timestamp", p_column: str = "p_mw",
                   q_column: str | None = None, units: str | None = None, fill: str | None = None,
                   field: str = "campus.trace", allow_negative: bool = False) -> pd.DataFrame:
    """Validate a trace table (see :func:`load_trace`); every problem is listed at once.

    Text in a power column, a trace with no positive value, and (unless ``allow_negative``) any
    negative active power are refused: a load in generator sign would otherwise pass with its
    sign flipped by the scaling to the campus peak.
    """
    problems: list[Problem] = []
    for name, col in (("time_column", time_column), ("p_column", p_column), ("q_column", q_column)):
        if col is not None and col not in raw.columns:
            problems.append(Problem(f"{field}.{name}", f"no such column; columns: {', '.join(map(str, raw.columns))}", col))
    if fill not in (None, "interpolate", "ffill", "zero"):
        problems.append(Problem(f"{field}.fill", "must be interpolate, ffill or zero", fill))
    fp, prob = _units_of(p_column, units, field)
    if prob:
        problems.append(prob)
    if problems:
        raise ModelError(problems)
    try:
        t = pd.DatetimeIndex(pd.to_datetime(raw[time_column]))
    except (ValueError, TypeError) as exc:
        raise ModelError([Problem(f"{field}.{time_column}", f"timestamps cannot be parsed ({exc})", None)]) from None
    if len(t) < 2:
        raise ModelError([Problem(f"{field}", "needs at least two rows", len(t))])
    if t.hasnans:
        problems.append(Problem(f"{field}.{time_column}", "missing timestamps", int(np.count_nonzero(t.isna()))))
    d = np.diff(t.asi8)
    back = np.flatnonzero(d <= 0)
    if len(back):
        k = int(back[0]) + 1
        what = "duplicate" if d[back[0]] == 0 else "decreasing"
        problems.append(Problem(f"{field}.{time_column}", f"timestamps must increase strictly; {what} at row {k}", str(t[k])))
    assert fp is not None  # a unit that could not be told is one of the problems raised above
    cols = {}
    for key, col in (("campus_p_mw", p_column), ("campus_q_mvar", q_column)):
        if col is None:
            continue
        values = pd.to_numeric(raw[col], errors="coerce").to_numpy(dtype=float)
        text = raw[col].notna().to_numpy() & np.isnan(values)
        if text.any():
            k = int(np.flatnonzero(text)[0])
            problems.append(Problem(f"{field}.{col}", f"holds values that are not numbers ({int(text.sum())} rows, "
                                                       f"first at row {k})", str(raw[col].iloc[k])))
        cols[key] = values * fp
    p = cols["campus_p_mw"]
    if not allow_negative and (p < 0).any():
        problems.append(Problem(f"{field}.{p_column}", "negative load (consumption is positive; a trace in generator "
                                                       "sign must be converted, or set allow_negative for a campus "
                                                       "that exports)", float(np.nanmin(p) / fp)))
    finite = p[np.isfinite(p)]
    if len(finite) and not (finite > 0).any():
        problems.append(Problem(f"{field}.{p_column}", "no positive value: the trace has no load", float(finite.max() / fp)))
    if not np.isfinite(p[~np.isnan(p)]).all():
        problems.append(Problem(f"{field}.{p_column}", "contains inf", int(np.isinf(p).sum())))
    df = pd.DataFrame(cols, index=t)
    if not problems:
        step = int(np.min(d))
        gaps = np.flatnonzero(d != step)
        if len(gaps):
            if fill is None or (d % step).any():
                k = int(gaps[0])
                problems.append(Problem(f"{field}.{time_column}",
                                        f"gap or uneven step after {t[k]} ({pd.Timedelta(int(d[k]))} instead of "
                                        f"{pd.Timedelta(step)}); set fill to fill gaps", len(gaps)))
            else:
                full = pd.date_range(t[0], t[-1], freq=pd.Timedelta(step))
                df = df.reindex(full)
        for col in df.columns:
            nan = int(df[col].isna().sum())
            if nan and fill is None:
                problems.append(Problem(f"{field}.{p_column if col == 'campus_p_mw' else q_column}",
                                        "contains NaN; set fill to fill them", nan))
    if problems:
        raise ModelError(problems)
    if fill == "interpolate":
        df = df.interpolate(method="time", limit_direction="both")
    elif fill == "ffill":
        df = df.ffill().bfill()
    elif fill == "zero":
        df = df.fillna(0.0)
    # freq can be set on a DatetimeIndex (pandas checks it against the labels); the stubs call it read-only.
    cast(pd.DatetimeIndex, df.index).freq = pd.Timedelta(int(np.min(d)))  # type: ignore[misc,assignment]
    step_seconds(df.index, f"{field}.{time_column}")
    return df


def resample_trace(trace: pd.DataFrame, index: pd.DatetimeIndex, field: str = "campus.trace") -> pd.DataFrame:
    """Average ``trace`` onto ``index`` exactly: up- or down-sampling keeps the energy.

    Each trace value holds over its interval; the cumulative energy is piecewise linear, so its
    values at the new step edges give exact averages.

    Parameters
    ----------
    trace : pandas.DataFrame
        Fixed-step trace (``campus_p_mw`` [MW], optional ``campus_q_mvar`` [Mvar]).
    index : pandas.DatetimeIndex
        Target fixed-step index; must lie inside the trace's span.

    Returns
    -------
    pandas.DataFrame
        The trace's columns on ``index``.
    """
    ts = step_seconds(trace.index, f"{field}.index")
    step = step_seconds(index, "index")
    t0 = trace.index[0]
    edges_tr = np.arange(len(trace) + 1) * ts
    a = (index[0] - t0).total_seconds()
    b = a + len(index) * step
    if a < -1e-9 or b > edges_tr[-1] + 1e-9:
        raise ModelError([Problem(field, f"covers {trace.index[0]} .. {trace.index[-1] + pd.Timedelta(seconds=ts)}, "
                                         f"the study needs {index[0]} .. {index[-1] + pd.Timedelta(seconds=step)}", None,
                                  has_value=False)])
    edges = a + np.arange(len(index) + 1) * step
    out = {}
    for col in trace.columns:
        cum = np.concatenate([[0.0], np.cumsum(trace[col].to_numpy(dtype=float) * ts)])
        out[col] = np.diff(np.interp(edges, edges_tr, cum)) / step
    return pd.DataFrame(out, index=index)


def scale_trace(trace: pd.DataFrame, *, peak_mw: float | None = None, factor: float | None = None) -> pd.DataFrame:
    """Scale a trace to a campus size: to a peak of ``peak_mw`` [MW] or by ``factor`` [-]."""
    if (peak_mw is None) == (factor is None):
        raise ModelError([Problem("campus.trace", "give exactly one of peak_mw or scale", None, has_value=False)])
    if peak_mw is not None:
        peak = float(trace["campus_p_mw"].max())
        if not peak > 0:
            raise ModelError([Problem("campus.trace.peak_mw", "trace has no positive peak to scale", peak)])
        factor = peak_mw / peak
    assert factor is not None  # exactly one of the two is given, checked above
    return trace * float(factor)
