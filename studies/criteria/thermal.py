"""Thermal loading of branches against normal (N-0) and emergency (N-1) ratings.

Defaults (``docs/sources/criteria.md §2``, *(check)*): at most 100 % of the normal rating at N-0 and at most
100 % of the emergency rating after a single contingency. Loadings come as pandapower's
``loading_percent`` (percent of the element's rating, ``max_i_ka`` or ``sn_mva``), taken as the
normal rating; the emergency rating is given as a multiple of it (one factor, or one per branch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.studies.criteria._base import CriteriaError, Finding, Limit, as_values, runs

__all__ = ["ThermalLimits", "THERMAL_DEFAULT", "thermal_finding"]

_SOURCE = "NERC TPL-001 common planning practice (normal rating at N-0, emergency rating at N-1)"


@dataclass(frozen=True)
class ThermalLimits:
    """Thermal limits of branches.

    Parameters
    ----------
    normal_percent : float
        Largest loading at N-0, in % of the normal rating. [%]
    emergency_percent : float
        Largest loading at N-1, in % of the emergency rating. [%]
    emergency_rating_factor : float
        Emergency rating as a multiple of the normal rating (1.0 unless the owner states a
        higher short-time rating). [-]
    source : str
    check : bool
    """

    normal_percent: float = 100.0
    emergency_percent: float = 100.0
    emergency_rating_factor: float = 1.0
    source: str = _SOURCE
    check: bool = True


THERMAL_DEFAULT = ThermalLimits()


def thermal_finding(loading_percent: pd.Series | pd.DataFrame,
                    limits: ThermalLimits = THERMAL_DEFAULT, *,
                    case: Literal["n-0", "n-1"] = "n-0",
                    emergency_rating_factor: float | pd.Series | None = None) -> Finding:
    """Judge branch loadings against the normal (N-0) or emergency (N-1) rating.

    Parameters
    ----------
    loading_percent : pandas.Series or pandas.DataFrame
        Loading in % of the normal rating on a fixed-step index, one column per branch. [%]
    limits : ThermalLimits
    case : {"n-0", "n-1"}
        Intact system (normal rating) or after a contingency (emergency rating).
    emergency_rating_factor : float or pandas.Series, optional
        Overrides ``limits.emergency_rating_factor``; a Series gives one factor per column. [-]

    Returns
    -------
    Finding
        ``worst_value`` the highest loading in % of the applicable rating and ``when``;
        ``seconds_outside`` the time with any branch above; ``events`` the overload runs;
        ``details`` the worst ``element`` and ``overloaded_elements``.
    """
    if case not in ("n-0", "n-1"):
        raise CriteriaError([Problem("case", "must be 'n-0' or 'n-1'", case)])
    values, index, step_s = as_values(loading_percent, "loading_percent")
    cols = (list(loading_percent.columns) if isinstance(loading_percent, pd.DataFrame)
            else [loading_percent.name])
    if case == "n-0":
        rel = values
        limit_pct, name = limits.normal_percent, "normal rating (N-0)"
    else:
        f: float | pd.Series | np.ndarray = (limits.emergency_rating_factor if emergency_rating_factor is None
                                             else emergency_rating_factor)
        if isinstance(f, pd.Series):
            missing = [c for c in cols if c not in f.index]
            if missing:
                raise CriteriaError([Problem("emergency_rating_factor", "has no factor for", missing)])
            f = f.reindex(cols).to_numpy(dtype=float)
        f = np.broadcast_to(np.asarray(f, dtype=float), (values.shape[1],))
        if not (np.isfinite(f) & (f > 0)).all():
            raise CriteriaError([Problem("emergency_rating_factor", "must be > 0", f.tolist())])
        rel = values / f
        limit_pct, name = limits.emergency_percent, "emergency rating (N-1)"
    over_el = rel > limit_pct
    over = over_el.any(axis=1)
    flat = int(rel.argmax())
    k, c = divmod(flat, rel.shape[1])
    starts, _ = runs(over)
    return Finding(
        criterion=f"thermal loading {case.upper()}",
        passed=not over.any(),
        worst_value=float(rel[k, c]),
        worst_unit="% of rating",
        when=index[k],
        seconds_outside=float(over.sum()) * step_s,
        events=len(starts),
        limits=(Limit(f"loading, % of {name}", limit_pct, "%", limits.source, limits.check),),
        note=f"Branch loading against {limit_pct:g} % of the {name}.",
        details={
            "element": cols[c],
            "overloaded_elements": [cols[i] for i in np.flatnonzero(over_el.any(axis=0))],
        },
    )
