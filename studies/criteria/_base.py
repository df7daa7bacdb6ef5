"""Shared parts of the criteria: the input check, the limit and finding records, run detection.

Every criterion takes pandas objects on a fixed-step ``DatetimeIndex``; the step length comes
from the index and uneven steps are rejected with :class:`CriteriaError` (a ``ValueError``).
A sample is taken to hold its value for one step (the quasi-static view of a time-series power
flow), so ``n`` samples outside a limit are ``n * step_s`` seconds outside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.studies.errors import StudyError

__all__ = ["CriteriaError", "Limit", "Finding", "step_seconds", "as_values", "runs", "STATUSES", "STANDINGS",
           "TO_CONFIRM"]

#: The status of a limit: a value in a dated, published document; a value proposed (a draft, a
#: straw proposal, a withdrawn revision); or a value assumed by the package (practice, reading).
STATUSES = ("published", "proposed", "assumed")

#: How a finding counts: ``binding`` decides the verdict; ``reference (other region)`` is a rule of
#: another region shown for comparison; ``not applicable`` is a criterion that cannot be judged or
#: cannot fail for the scenario. Only ``binding`` findings count toward the pass.
STANDINGS = ("binding", "reference (other region)", "not applicable")

#: What the report says of every limit that is not ``published``.
TO_CONFIRM = "to confirm with the utility"


class CriteriaError(StudyError):
    """Input handed to a criterion is invalid (index, values or parameters)."""

    kind = "criteria input"


@dataclass(frozen=True)
class Limit:
    """One limit a criterion judges against, with where it comes from.

    Parameters
    ----------
    name : str
        What the limit bounds, e.g. ``"N-0 band"`` or ``"Pst"``.
    value : float or tuple of float
        The limit, or ``(low, high)`` for a band. [unit]
    unit : str
        Unit of ``value``.
    source : str
        The document the value rests on.
    check : bool
        ``True`` where the value could not be confirmed from a primary document and is a
        default to be reviewed for each study (the *(check)* marks of ``docs/README.md §2``).
        Without ``status``: ``check=True`` means ``assumed``, else ``published``.
    status : {'published', 'proposed', 'assumed'} or None
        See :data:`STATUSES`; ``None``: from ``check``. Anything but ``published`` sets ``check``.
    date : str
        The date (year at least) of the document a ``published`` value rests on.
    region : str or None
        The region or utility whose rule this is (``"ERCOT"``); ``None``: not regional (a
        standard, a package default). Judged outside its region it is a reference only.
    meter : str
        How the quantity is measured (:meth:`gridstudy.studies.criteria.meter.Meter.describe`).
    """

    name: str
    value: float | tuple[float, float]
    unit: str
    source: str
    check: bool = False
    status: str | None = None
    date: str = ""
    region: str | None = None
    meter: str = ""

    def __post_init__(self) -> None:
        status = self.status if self.status is not None else ("assumed" if self.check else "published")
        if status not in STATUSES:
            raise CriteriaError([Problem(f"{self.name}.status", "must be one of " + ", ".join(STATUSES), status)])
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "check", status != "published")

    @property
    def to_confirm(self) -> bool:
        """Whether the report marks the limit "to confirm with the utility" (not ``published``)."""
        return self.status != "published"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"name": self.name, "value": _jsonable(value), "unit": self.unit,
                "source": self.source, "check": self.check, "status": self.status, "date": self.date,
                "region": self.region, "meter": self.meter}


@dataclass(frozen=True)
class Finding:
    """The verdict of one criterion on one series, with its evidence.

    Parameters
    ----------
    criterion : str
        Name of the criterion, e.g. ``"steady-state voltage N-0 (HV)"``.
    passed : bool
        Whether the series meets every limit of the criterion.
    worst_value : float
        The value nearest to, or farthest beyond, the limit. [worst_unit]
    worst_unit : str
        Unit of ``worst_value``.
    when : pandas.Timestamp or None
        When ``worst_value`` occurred (for ride-through: the first trip).
    seconds_outside : float
        Time spent outside the limit. [s]
    events : int
        Number of separate violations (excursions, counted changes, trips).
    limits : tuple of Limit
        The limits used, each with its source.
    note : str
        What the finding means and how it was obtained, in a sentence or two.
    details : Mapping
        Further evidence specific to the criterion (JSON-ready values).
    id : str
        Stable identifier of the finding within a scenario, e.g. ``"poi_voltage.n-0"`` or
        ``"grid_variation.ercot-5s"``: set by the criteria registry
        (:mod:`gridstudy.studies.judge.findings`); reports and tools look findings up by it, never by
        the display name.
    group : str
        The registry entry (criterion family) that made the finding, e.g. ``"grid_variation"``.
    standing : str
        One of :data:`STANDINGS`; only ``binding`` findings count toward a scenario's pass.
    """

    criterion: str
    passed: bool
    worst_value: float
    worst_unit: str
    when: pd.Timestamp | None
    seconds_outside: float
    events: int
    limits: tuple[Limit, ...]
    note: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""
    group: str = ""
    standing: str = "binding"

    def __post_init__(self) -> None:
        if self.standing not in STANDINGS:
            raise CriteriaError([Problem("finding.standing", "must be one of " + ", ".join(STANDINGS),
                                         self.standing)])
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))
        object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "events", int(self.events))
        object.__setattr__(self, "seconds_outside", float(self.seconds_outside))
        object.__setattr__(self, "worst_value", float(self.worst_value))

    @property
    def counts(self) -> bool:
        """Whether the finding decides the verdict (``binding``)."""
        return self.standing == "binding"

    @property
    def source(self) -> str:
        """The sources of the limits, joined."""
        return "; ".join(dict.fromkeys(lim.source for lim in self.limits))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``pass`` for :attr:`passed`, ISO timestamps, ``None`` for NaN."""
        return {
            "id": self.id,
            "group": self.group,
            "criterion": self.criterion,
            "pass": self.passed,
            "standing": self.standing,
            "worst_value": _jsonable(self.worst_value),
            "worst_unit": self.worst_unit,
            "when": _jsonable(self.when),
            "seconds_outside": _jsonable(self.seconds_outside),
            "events": self.events,
            "limits": [lim.to_dict() for lim in self.limits],
            "source": self.source,
            "note": self.note,
            "details": {k: _jsonable(v) for k, v in self.details.items()},
        }


def _jsonable(x: Any) -> Any:
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, (pd.Timestamp, np.datetime64)):
        return None if pd.isna(x) else pd.Timestamp(x).isoformat()
    if isinstance(x, (list, tuple, np.ndarray, pd.Index, pd.Series)):
        return [_jsonable(v) for v in list(x)]
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    return x


def step_seconds(index: pd.Index, path: str = "index") -> float:
    """Step length of a fixed-step ``DatetimeIndex``.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Increasing, evenly spaced time stamps (or one stamp with a ``freq``).
    path : str
        Name of the input, used in the error message.

    Returns
    -------
    float
        The step. [s]

    Raises
    ------
    CriteriaError
        Not a ``DatetimeIndex``, empty, not increasing, or with uneven steps.
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise CriteriaError([Problem(path, "must be a DatetimeIndex", type(index).__name__)])
    if len(index) == 0:
        raise CriteriaError([Problem(path, "is empty", 0)])
    if len(index) == 1:
        if index.freq is None:
            raise CriteriaError([Problem(path, "has one time stamp and no freq: step unknown",
                                         str(index[0]))])
        return pd.Timedelta(cast(pd.offsets.Tick, index.freq)).total_seconds()  # a fixed step: a Tick
    d = np.diff(index.asi8)
    if d[0] <= 0 or not (d == d[0]).all():
        raise CriteriaError([Problem(path, "steps must be uniform and positive",
                                     f"{pd.Timedelta(int(d.min()))} .. {pd.Timedelta(int(d.max()))}")])
    return int(d[0]) / 1e9


def as_values(x: pd.Series | pd.DataFrame, path: str, *, frame_ok: bool = True,
              finite: bool = True) -> tuple[np.ndarray, pd.DatetimeIndex, float]:
    """Values as a 2-D float array (steps x elements), with the index and step.

    Parameters
    ----------
    x : pandas.Series or pandas.DataFrame
        One series, or one column per element (bus, branch).
    path : str
        Name of the input, used in error messages.
    frame_ok : bool
        Whether a DataFrame is accepted.
    finite : bool
        Whether NaN and infinite values are rejected.

    Returns
    -------
    values : numpy.ndarray
        Shape ``(steps, elements)``.
    index : pandas.DatetimeIndex
    step_s : float
        [s]
    """
    if isinstance(x, pd.DataFrame):
        if not frame_ok:
            raise CriteriaError([Problem(path, "must be a Series", "DataFrame")])
        if x.shape[1] == 0:
            raise CriteriaError([Problem(path, "has no columns", 0)])
        values = x.to_numpy(dtype=float)
    elif isinstance(x, pd.Series):
        values = x.to_numpy(dtype=float)[:, None]
    else:
        raise CriteriaError([Problem(path, "must be a pandas Series" + (" or DataFrame" if frame_ok else ""),
                                     type(x).__name__)])
    step_s = step_seconds(x.index, f"{path}.index")
    if finite:
        bad = ~np.isfinite(values)
        if bad.any():
            first = np.argwhere(bad)[0, 0]
            raise CriteriaError([Problem(path, f"has {int(bad.sum())} NaN or infinite value(s), first at",
                                         str(x.index[first]))])
    return values, cast(pd.DatetimeIndex, x.index), step_s  # step_seconds refused any other index


def runs(mask: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) positions of the runs of ``True`` in a 1-D boolean array."""
    m = np.concatenate(([0], np.asarray(mask, dtype=np.int8), [0]))
    d = np.diff(m)
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def positive(problems: list[Problem], path: str, value: float, *, allow_zero: bool = False) -> None:
    """Append a problem when ``value`` is not a finite positive number."""
    ok = value is not None and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        problems.append(Problem(path, "must be >= 0" if allow_zero else "must be > 0", value))
