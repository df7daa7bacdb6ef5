"""Frequency screen of a load loss: a one-machine system-frequency-response (SFR) model.

The interconnection is one equivalent machine with reheat-steam governors (Anderson and
Mirheydar, *A low-order system frequency response model*, IEEE Trans. Power Systems 5(3), 1990,
doi:10.1109/59.65898), per unit on the online generation ``base_mw``
(``docs/sources/criteria.md §10``)::

    2H · dΔω/dt = ΔP_m − D·Δω + ΔP                 (ΔP: generation surplus; a load loss is > 0)
    ΔP_m = −(Km / R) · (F_H·Δω + (1 − F_H)·y)      (governor with droop R, turbine HP fraction F_H)
    T_R · dy/dt = Δω − y                            (reheat time constant T_R)

A load loss (surplus) raises frequency to a *zenith*, a load pickup lowers it to a *nadir*; the
model is linear, so the two are mirror images. It has no governor deadband, no fast frequency
response of batteries or interruptible loads and no under-frequency load shedding: a screen,
not a dynamic study. The model is integrated with :func:`scipy.integrate.solve_ivp`, the
extreme located by an event on dΔω/dt = 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

from gridstudy.grid.errors import Problem
from gridstudy.studies.criteria._base import CriteriaError, Limit

__all__ = ["SystemFrequencyResponse", "FrequencyExtreme", "ERCOT_SFR", "EASTERN_SFR", "sfr_trajectory",
           "sfr_extreme", "frequency_screen"]


@dataclass(frozen=True)
class SystemFrequencyResponse:
    """One-machine SFR parameters of an interconnection and its frequency limits.

    Parameters
    ----------
    name : str
    base_mw : float
        Online generation, the per-unit base. [MW]
    inertia_mws : float
        Kinetic energy stored in the synchronised machines (H = ``inertia_mws / base_mw``). [MW·s]
    r_pu : float
        Governor droop. [pu]
    t_r_s : float
        Reheat (governor-turbine) time constant. [s]
    f_h : float
        High-pressure turbine fraction. [-]
    km : float
        Mechanical power gain: the share of online generation whose governors respond. [-]
    d_pu : float
        Load damping (per-unit load change per per-unit frequency change). [-]
    f0_hz : float
        Nominal frequency. [Hz]
    f_min_hz, f_max_hz : float
        Lowest and highest frequency the screen accepts. [Hz]
    source : str
    check : bool
        The values are to be confirmed with the planner.
    """

    name: str
    base_mw: float
    inertia_mws: float
    r_pu: float = 0.05
    t_r_s: float = 8.0
    f_h: float = 0.3
    km: float = 0.5
    d_pu: float = 1.0
    f0_hz: float = 60.0
    f_min_hz: float = 59.3
    f_max_hz: float = 60.6
    source: str = ""
    check: bool = True

    def __post_init__(self) -> None:
        problems = []
        for k in ("base_mw", "inertia_mws", "r_pu", "t_r_s", "km", "f0_hz"):
            if not getattr(self, k) > 0:
                problems.append(Problem(k, "must be > 0", getattr(self, k)))
        if not 0 <= self.f_h <= 1:
            problems.append(Problem("f_h", "must lie in 0 .. 1", self.f_h))
        if not self.d_pu >= 0:
            problems.append(Problem("d_pu", "must be >= 0", self.d_pu))
        if not self.f_min_hz < self.f0_hz < self.f_max_hz:
            problems.append(Problem("f_min_hz", "needs f_min_hz < f0_hz < f_max_hz",
                                    (self.f_min_hz, self.f0_hz, self.f_max_hz)))
        if problems:
            raise CriteriaError(problems)

    @property
    def h_s(self) -> float:
        """Inertia constant on ``base_mw``. [s]"""
        return self.inertia_mws / self.base_mw

    @property
    def beta_mw_per_hz(self) -> float:
        """Settling frequency response (D + Km/R) on the base, per Hz. [MW/Hz]"""
        return (self.d_pu + self.km / self.r_pu) * self.base_mw / self.f0_hz

    def limits(self) -> tuple[Limit, ...]:
        """The under- and over-frequency limits the criterion judges against. [Hz]"""
        return (Limit("under-frequency (first UFLS stage)", self.f_min_hz, "Hz", self.source, self.check),
                Limit("over-frequency (generator no-trip, continuous)", self.f_max_hz, "Hz", self.source,
                      self.check))


#: ERCOT (Texas Interconnection) at low inertia (``docs/sources/criteria.md §10``).
ERCOT_SFR = SystemFrequencyResponse(
    "ERCOT", base_mw=40_000.0, inertia_mws=100_000.0, r_pu=0.05, t_r_s=8.0, f_h=0.3, km=0.6, d_pu=1.0,
    f_min_hz=59.3, f_max_hz=60.6,
    source="ERCOT: critical inertia ~100 GW·s, 5 % droop, UFLS first stage 59.3 Hz; PRC-024 over-frequency; "
           "SFR model Anderson & Mirheydar 1990")

#: Eastern Interconnection (TVA, Southern, IESO sites) (``docs/sources/criteria.md §10``).
EASTERN_SFR = SystemFrequencyResponse(
    "Eastern Interconnection", base_mw=300_000.0, inertia_mws=1_200_000.0, r_pu=0.05, t_r_s=8.0, f_h=0.3,
    km=0.25, d_pu=1.0, f_min_hz=59.5, f_max_hz=60.5,
    source="Eastern Interconnection (assumed light-load system), 5 % droop, highest UFLS step 59.5 Hz "
           "(BAL-003 IFRO); PRC-024 over-frequency; SFR model Anderson & Mirheydar 1990")


def _rhs(p: SystemFrequencyResponse, dp_pu: float) -> Callable[[float, np.ndarray], np.ndarray]:
    h, d, g, fh, tr = p.h_s, p.d_pu, p.km / p.r_pu, p.f_h, p.t_r_s

    def f(_t: float, x: np.ndarray) -> np.ndarray:
        w, y = x
        pm = -g * (fh * w + (1.0 - fh) * y)
        return np.array([(pm - d * w + dp_pu) / (2.0 * h), (w - y) / tr])

    return f


def sfr_trajectory(params: SystemFrequencyResponse, surplus_mw: float, t_end_s: float = 60.0,
                   step_s: float = 0.05) -> pd.Series:
    """Frequency after a step of generation surplus (a load loss) at t = 0.

    Parameters
    ----------
    params : SystemFrequencyResponse
    surplus_mw : float
        Generation surplus: load lost (> 0) or load picked up (< 0). [MW]
    t_end_s, step_s : float
        Horizon and output step. [s]

    Returns
    -------
    pandas.Series
        Frequency [Hz] indexed by time since the step [s].
    """
    t = np.arange(0.0, t_end_s + step_s / 2, step_s)
    sol = solve_ivp(_rhs(params, surplus_mw / params.base_mw), (0.0, t[-1]), [0.0, 0.0], t_eval=t,
                    rtol=1e-10, atol=1e-13, method="LSODA")
    return pd.Series(params.f0_hz * (1.0 + sol.y[0]), index=pd.Index(t, name="t_s"), name="f_hz")


@dataclass(frozen=True)
class FrequencyExtreme:
    """The first extreme of the frequency after a step.

    Parameters
    ----------
    f_hz : float
        Zenith (surplus) or nadir (deficit). [Hz]
    t_s : float
        Time of the extreme after the step. [s]
    f_settle_hz : float
        Frequency once the governors have settled, f0 · (1 + ΔP / (D + Km/R)). [Hz]
    """

    f_hz: float
    t_s: float
    f_settle_hz: float


def sfr_extreme(params: SystemFrequencyResponse, surplus_mw: float, t_end_s: float = 120.0) -> FrequencyExtreme:
    """Zenith (surplus > 0) or nadir (surplus < 0) of the SFR model after a step.

    Parameters
    ----------
    params : SystemFrequencyResponse
    surplus_mw : float
        Generation surplus: load lost (> 0) or picked up (< 0). [MW]
    t_end_s : float
        Longest time searched for the extreme. [s]
    """
    dp = surplus_mw / params.base_mw
    settle = params.f0_hz * (1.0 + dp / (params.d_pu + params.km / params.r_pu))
    if dp == 0:
        return FrequencyExtreme(params.f0_hz, 0.0, params.f0_hz)
    rhs = _rhs(params, dp)

    def turning(t: float, x: np.ndarray) -> float:  # dΔω/dt = 0 at the extreme
        return float(rhs(t, x)[0])

    turning.terminal = True  # type: ignore[attr-defined]
    turning.direction = -1.0 if dp > 0 else 1.0  # type: ignore[attr-defined]
    sol = solve_ivp(rhs, (0.0, t_end_s), [0.0, 0.0], events=turning, rtol=1e-10, atol=1e-13,
                    method="LSODA", dense_output=True)
    if sol.t_events[0].size:
        t_x = float(sol.t_events[0][0])
        w = float(sol.y_events[0][0][0])
    else:  # overdamped: no overshoot within the horizon, the extreme is the settled value
        t_x, w = math.inf, dp / (params.d_pu + params.km / params.r_pu)
    return FrequencyExtreme(params.f0_hz * (1.0 + w), t_x, settle)


def frequency_screen(params: SystemFrequencyResponse, loss_mw: float,
                     pickup_mw: float | None = None) -> dict[str, Any]:
    """Judge a load loss (and optionally a load pickup) against the interconnection's limits.

    Parameters
    ----------
    params : SystemFrequencyResponse
    loss_mw : float
        Load lost at once (raises frequency). [MW]
    pickup_mw : float or None
        Load picked up at once (lowers frequency), or ``None`` when no case does. [MW]

    Returns
    -------
    dict
        ``frequency_zenith_hz``, ``frequency_zenith_time_s``, ``frequency_nadir_hz`` (``None``
        without a pickup), ``frequency_settle_hz``, the limits ``f_min_hz``/``f_max_hz``, the model
        parameters and ``pass``.
    """
    up = sfr_extreme(params, abs(loss_mw))
    down = sfr_extreme(params, -abs(pickup_mw)) if pickup_mw else None
    ok = up.f_hz <= params.f_max_hz and (down is None or down.f_hz >= params.f_min_hz)
    return {
        "frequency_zenith_hz": up.f_hz, "frequency_zenith_time_s": up.t_s, "frequency_settle_hz": up.f_settle_hz,
        "frequency_nadir_hz": down.f_hz if down is not None else None,
        "frequency_nadir_time_s": down.t_s if down is not None else None,
        "f_min_hz": params.f_min_hz, "f_max_hz": params.f_max_hz, "frequency_pass": bool(ok),
        "sfr_model": {"interconnection": params.name, "base_mw": params.base_mw,
                      "inertia_mws": params.inertia_mws, "h_s": params.h_s, "r_pu": params.r_pu,
                      "t_r_s": params.t_r_s, "f_h": params.f_h, "km": params.km, "d_pu": params.d_pu,
                      "source": params.source},
    }
