"""Plt as IEC 61000-4-15 defines it: the cubic mean of 12 consecutive 10-min Pst (2 h), from the
flickermeter run over the study's 2-hour window at the sub-second step.

Expected values: IEC 61000-4-15:2010 Table 5 (a rectangular fluctuation of 0.722 % at 110 changes a
minute gives Pst = 1.00 with the 230-V lamp, tolerance +-5 %) and the standard's Plt formula worked
by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridstudy.models.campus import CampusLoadParams, change_severity
from gridstudy.studies.criteria.flicker import FLICKER_HV
from gridstudy.studies.criteria.flickermeter import plt_from_pst
from gridstudy.studies.spec.interconnection import FluctuationSection
from gridstudy.studies.stages.fluctuation import Window, WindowRun, plt_finding, plt_window

STEP_S = 0.020
LEAD_S = 30.0          # warm-up before the judged 2 h (the study's default warmup_s)
TOL = 0.05             # IEC 61000-4-15 Table 5: Pst = 1.00 +- 5 %
T0 = pd.Timestamp("2025-07-15")


def test_plt_of_twelve_known_pst_by_hand():
    # Pst 0.5 for six intervals and 1.0 for six: Plt = ((6 x 0.125 + 6 x 1) / 12)^(1/3) = 0.5625^(1/3)
    lt = plt_from_pst(np.r_[np.full(6, 0.5), np.ones(6)])
    assert lt["plt"].iloc[0] == pytest.approx(0.825482, abs=1e-6)  # 0.5625 ** (1/3) = 0.825482...
    # twelve equal Pst: Plt equals them
    assert plt_from_pst(np.full(12, 0.7))["plt"].iloc[0] == pytest.approx(0.7, rel=1e-12)


def _rect(on_s: float, length_s: float, cpm: float = 110.0, dvv_pct: float = 0.722) -> pd.Series:
    """Step-mean RMS (20 ms) of a rectangular fluctuation of ``dvv_pct`` at ``cpm`` changes a minute
    from ``LEAD_S`` for ``on_s`` seconds, steady at 1 pu before and after. With ``v = 1 + d/2 s``,
    ``s = +-1``: ``v^2 = 1 + d^2/4 + d s``; the mean of ``s`` over a step is the difference of its
    integral (a triangle wave) over the step, divided by the step."""
    n = int(round(length_s / STEP_S))
    t = np.arange(n) * STEP_S
    d, period = dvv_pct / 100.0, 60.0 / cpm
    t0 = LEAD_S + period / 2

    def integral(tt: np.ndarray) -> np.ndarray:
        r = np.mod(tt - t0, 2 * period)
        return np.where(r < period, r, 2 * period - r)

    mean_s = (integral(t + STEP_S) - integral(t)) / STEP_S
    on = (t >= LEAD_S) & (t + STEP_S <= LEAD_S + on_s)
    v2 = np.where(on, 1.0 + d * d / 4 + d * mean_s, 1.0)
    return pd.Series(np.sqrt(v2), index=pd.date_range(T0, periods=n, freq=pd.Timedelta(seconds=STEP_S)))


def _run(v: pd.Series) -> WindowRun:
    k = int(round(LEAD_S / STEP_S))
    w = Window(v.index[k], v.index[k] + pd.Timedelta(hours=2), "test")
    return WindowRun(w, "s", v, v * 0.0, slice(k, k + int(round(7200 / STEP_S))), 0)


SETTINGS = FluctuationSection(step_s=STEP_S, warmup_s=LEAD_S)
LENGTH_S = LEAD_S + 7200.0 + 3.0  # the 2 h, then the flickermeter's look-ahead (64 steps: 1.28 s)


def test_a_fluctuation_of_pst_one_for_two_hours_gives_plt_one():
    f = plt_finding(_run(_rect(7200.0, LENGTH_S)), FLICKER_HV, "230V", SETTINGS)
    assert len(f.details["pst"]) == 12
    assert all(p == pytest.approx(1.0, abs=TOL) for p in f.details["pst"])  # Table 5, each interval
    assert f.worst_value == pytest.approx(1.0, abs=TOL)  # Plt of twelve Pst = 1 is 1
    assert not f.passed and f.limits[0].value == FLICKER_HV.plt  # 1.0 > the HV Plt level 0.6
    assert f.standing == "binding" and f.id == "flicker_plt"


def test_plt_is_the_cubic_mean_of_the_flickermeters_twelve_pst():
    """One hour of the Table-5 fluctuation, then one hour steady: six Pst of 1 and six of about 0
    (the last change reads in the seventh: one step of 0.36 % in 10 min, Pst ~ 0.07, cube 3e-4), so
    Plt = (6 / 12)^(1/3) = 0.7937 by hand, within the standard's 5 %."""
    f = plt_finding(_run(_rect(3600.0, LENGTH_S)), FLICKER_HV, "230V", SETTINGS)
    pst = f.details["pst"]
    assert all(p == pytest.approx(1.0, abs=TOL) for p in pst[:6]) and max(pst[6:]) < 0.1
    assert f.worst_value == pytest.approx(0.5 ** (1 / 3), rel=TOL)
    # and exactly the cubic mean of the twelve it reports
    assert f.worst_value == pytest.approx((sum(p ** 3 for p in pst) / 12) ** (1 / 3), rel=1e-12)


def test_the_plt_window_is_the_worst_clock_aligned_two_hours_inside_the_horizon():
    class _Setup:  # what plt_window reads of a study: 7 h at 1 s, the job starting at 02:30
        campus = CampusLoadParams(gpus=20_000, seed=3, checkpoint_interval_s=1800.0, job_start_s=9000.0)
        step_s = 1.0
        horizon = pd.date_range(T0, periods=7 * 3600, freq="1s")

    w = plt_window(_Setup(), FluctuationSection())  # type: ignore[arg-type]
    sev = change_severity(_Setup.horizon, _Setup.campus, 7200.0)
    assert w is not None and w.stop - w.start == pd.Timedelta(hours=2)
    assert w.start == sev.idxmax() == T0 + pd.Timedelta(hours=4)  # the 2-h block with the most changes

    class _Six(_Setup):  # 6 h: the worst block (04:00) ends at the horizon's end, so it moves back by the
        horizon = pd.date_range(T0, periods=6 * 3600, freq="1s")  # look-ahead: 65 x 20 ms, rounded up to 2 s

    w6 = plt_window(_Six(), FluctuationSection())  # type: ignore[arg-type]
    assert w6 is not None and w6.start == T0 + pd.Timedelta(hours=4) - pd.Timedelta(seconds=2)

    class _Short(_Setup):  # 1.5 h holds no 12 Pst: no Plt window
        horizon = pd.date_range(T0, periods=5400, freq="1s")

    assert plt_window(_Short(), FluctuationSection()) is None  # type: ignore[arg-type]

    class _Exact(_Setup):  # exactly 2 h: no room for the look-ahead after the 2 h
        horizon = pd.date_range(T0, periods=7200, freq="1s")

    assert plt_window(_Exact(), FluctuationSection()) is None  # type: ignore[arg-type]
