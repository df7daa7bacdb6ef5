"""Power factor at the point of interconnection (POI).

Sign convention: pandapower's consumer view at the POI, as the utility meters the site: ``p_mw``
positive for import (the campus draws), ``q_mvar`` positive when the site absorbs reactive power.
*Lagging* is the reactive power a load absorbs (``q_mvar > 0``), *leading* the reactive power it
supplies (``q_mvar < 0``); during net export the same words follow the sign of ``q_mvar``.

Bands (``docs/sources/criteria.md §6``): 0.95 lagging to 0.95 leading (pro-forma LGIA for asynchronous
plants; Ameren); 0.97 lagging to 0.99 leading (CAISO).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.studies.criteria._base import CriteriaError, Finding, Limit, as_values, positive, runs
from gridstudy.studies.criteria.meter import Meter

__all__ = ["PowerFactorBand", "PF_LGIA", "PF_CAISO", "power_factor", "power_factor_finding"]


@dataclass(frozen=True)
class PowerFactorBand:
    """Allowed power factor at the POI.

    Parameters
    ----------
    min_lagging : float
        Lowest power factor while absorbing reactive power (``q_mvar > 0``). [-]
    min_leading : float
        Lowest power factor while supplying reactive power (``q_mvar < 0``). [-]
    source : str
    check : bool
    status : str or None
        ``published``, ``proposed`` or ``assumed`` (``None``: from ``check``).
    region : str or None
        The region whose rule the band is (``None``: not regional).
    """

    min_lagging: float = 0.95
    min_leading: float = 0.95
    source: str = ("pro-forma LGIA (0.95 leading to 0.95 lagging at the POI; a generator interconnection "
                   "requirement, assumed for the load); Ameren")
    check: bool = True
    status: str | None = None
    region: str | None = None

    def limits(self) -> tuple[Limit, Limit]:
        """The two bounds as :class:`Limit` records."""
        return (Limit("min power factor, lagging", self.min_lagging, "-", self.source, self.check, self.status,
                      region=self.region),
                Limit("min power factor, leading", self.min_leading, "-", self.source, self.check, self.status,
                      region=self.region))


PF_LGIA = PowerFactorBand()
PF_CAISO = PowerFactorBand(0.97, 0.99, "CAISO (0.97 lagging to 0.99 leading)", region="CAISO")


def power_factor(p_mw: pd.Series, q_mvar: pd.Series) -> pd.Series:
    """Signed power factor: positive lagging (``q_mvar >= 0``), negative leading.

    Parameters
    ----------
    p_mw : pandas.Series
        Active power at the POI, import positive. [MW]
    q_mvar : pandas.Series
        Reactive power at the POI, absorbed positive. [Mvar]

    Returns
    -------
    pandas.Series
        ``|P| / S`` with the sign of ``q_mvar`` (``+`` for ``q_mvar == 0``); NaN where S = 0. [-]
    """
    p, idx, _ = as_values(p_mw, "p_mw", frame_ok=False)
    q, _, _ = as_values(q_mvar, "q_mvar", frame_ok=False)
    if not q_mvar.index.equals(idx):
        raise CriteriaError([Problem("q_mvar.index", "must equal p_mw.index", len(q_mvar))])
    p, q = p[:, 0], q[:, 0]
    s = np.hypot(p, q)
    with np.errstate(invalid="ignore", divide="ignore"):
        pf = np.where(s > 0, np.abs(p) / s, np.nan)
    return pd.Series(np.where(q < 0, -pf, pf), index=idx, name="pf")


def power_factor_finding(p_mw: pd.Series, q_mvar: pd.Series, band: PowerFactorBand = PF_LGIA, *,
                         min_p_mw: float = 0.0, meter: Meter | None = None) -> Finding:
    """Judge the POI power factor against a lagging/leading band.

    Parameters
    ----------
    p_mw : pandas.Series
        Active power at the POI, import positive. [MW]
    q_mvar : pandas.Series
        Reactive power at the POI, absorbed positive. [Mvar]
    band : PowerFactorBand
    min_p_mw : float
        Steps with ``|p_mw| <= min_p_mw`` are not judged (power factor is meaningless near zero
        active power, e.g. after a transfer to backup). [MW]
    meter : Meter, optional
        How P and Q are read (:mod:`gridstudy.studies.criteria.meter`): a tariff's demand
        interval (``block`` of 15 min) gives the interval's power factor from its average P and Q
        (its kWh over its kVAh); ``None``: each sample. A series shorter than one interval gives a
        ``not applicable`` finding.

    Returns
    -------
    Finding
        ``worst_value`` the lowest judged power factor (``details["side"]`` says lagging or
        leading) and ``when``; ``seconds_outside`` and ``events`` of steps outside the band.
    """
    problems: list[Problem] = []
    positive(problems, "min_p_mw", min_p_mw, allow_zero=True)
    if problems:
        raise CriteriaError(problems)
    power_factor(p_mw, q_mvar)  # the inputs checked as given
    meter = meter if meter is not None else Meter("active and reactive power", averaging="sample")
    lims = tuple(dataclasses.replace(x, meter=meter.describe()) for x in band.limits())
    p_read, q_read = meter.apply(p_mw), meter.apply(q_mvar)
    if p_read is None or q_read is None:
        return Finding(criterion="POI power factor", passed=True, worst_value=float("nan"), worst_unit="-",
                       when=None, seconds_outside=0.0, events=0, limits=lims,
                       note=f"Not applicable: the series is shorter than one reading of the meter ({meter.describe()}).",
                       details={"side": None, "judged_steps": 0, "meter": meter.describe()},
                       standing="not applicable")
    p_mw, q_mvar = p_read, q_read
    pf = power_factor(p_mw, q_mvar)
    _, idx, step_s = as_values(p_mw, "p_mw", frame_ok=False)
    signed = pf.to_numpy()
    mag = np.abs(signed)
    judged = (np.abs(p_mw.to_numpy(dtype=float)) > min_p_mw) & np.isfinite(mag)
    required = np.where(signed < 0, band.min_leading, band.min_lagging)
    # 1e-12: a power factor equal to the bound, up to rounding, is inside
    outside = judged & (mag < required - 1e-12)
    margin = np.where(judged, mag - required, np.inf)
    if judged.any():
        k = int(margin.argmin())
        worst, when, side = float(mag[k]), idx[k], ("leading" if signed[k] < 0 else "lagging")
    else:
        worst, when, side = float("nan"), None, None
    starts, _ = runs(outside)
    return Finding(
        criterion="POI power factor",
        passed=not outside.any(),
        worst_value=worst,
        worst_unit="-",
        when=when,
        seconds_outside=float(outside.sum()) * step_s,
        events=len(starts),
        limits=lims,
        note=(f"Power factor {band.min_lagging:g} lagging to {band.min_leading:g} leading; "
              "consumer view: P import positive, Q absorbed positive (lagging); "
              f"meter: {meter.describe()}."),
        details={"side": side, "judged_steps": int(judged.sum()), "meter": meter.describe()},
    )
