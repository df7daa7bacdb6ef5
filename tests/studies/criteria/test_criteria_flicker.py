"""Analytical flicker estimate against the check value of IEC 61000-3-3 / 61000-3-7."""

import numpy as np
import pandas as pd
import pytest

from gridstudy.studies.criteria import FLICKER_HV, FLICKER_MV, flicker_finding, plt, pst, voltage_changes

# step size giving Pst = 1 at 10 changes per 600 s: 10 * 2.3 * d**3.2 = 600 (hand calculation)
D1 = (600 / 23) ** (1 / 3.2)  # 2.7709 %


def _square(d_pct, *, change_every_s=60, hours=2, freq="1s", offset_s=30):
    """1.0 pu stepping by d_pct every `change_every_s`, first change at `offset_s`."""
    step = pd.Timedelta(freq).total_seconds()
    n = int(hours * 3600 / step)
    t = np.arange(n) * step
    level = ((t - offset_s) // change_every_s + 1) % 2  # 0 before offset, flips each period
    v = 1.0 + d_pct / 100.0 * level
    return pd.Series(v, index=pd.date_range("2026-07-01", periods=n, freq=freq))


def test_check_value_one_277_percent_step_a_minute_gives_pst_1():
    p = pst(_square(2.77))
    # 10 changes in every 10-min window: Pst = (10 * 2.3 * 2.77**3.2 / 600)**(1/3.2) = 0.99965;
    # 2.77 % is the check value rounded to 3 digits, so 1e-3 is the tolerance it carries
    assert len(p) == 12
    np.testing.assert_allclose(p.to_numpy(), 1.0, atol=1e-3)
    # the exact d for Pst = 1 recovers 1 up to float rounding
    np.testing.assert_allclose(pst(_square(D1)).to_numpy(), 1.0, atol=1e-5)


def test_plt_of_constant_and_half_empty_pst():
    p = pst(_square(D1))
    lt = plt(p)
    assert len(lt) == 1 and lt.iloc[0] == pytest.approx(1.0, abs=1e-5)  # Plt of Pst=1 is 1
    half = p.copy()
    half.iloc[6:] = 0.0
    assert plt(half).iloc[0] == pytest.approx(0.5 ** (1 / 3))  # (6/12)^(1/3), exact formula


def test_ramp_is_one_change_and_pst_scales_with_d():
    # a 3 % ramp over 5 samples is one change of 3 % (monotone run)
    v = pd.Series([1.0, 1.0, 1.006, 1.012, 1.018, 1.024, 1.03, 1.03],
                  index=pd.date_range("2026-07-01", periods=8, freq="1s"))
    ch = voltage_changes(v)
    assert len(ch) == 1 and ch.iloc[0] == pytest.approx(3.0)
    # Pst is proportional to d (t_f ~ d^3.2, Pst ~ (sum t_f)^(1/3.2))
    r = pst(_square(2.0)).iloc[0] / pst(_square(1.0)).iloc[0]
    assert r == pytest.approx(2.0)


def test_finding_judges_planning_levels_and_says_estimate():
    mv = flicker_finding(_square(2.5), FLICKER_MV)
    # Pst scales with d: 2.5 / D1 = 0.902 > 0.9, fails MV by a small margin
    assert mv.details["pst_max"] == pytest.approx(2.5 / D1, rel=1e-4)
    assert not mv.passed and mv.events == 12
    assert "quasi-static" in mv.note and "estimate" in mv.note.lower()
    ok = flicker_finding(_square(2.0), FLICKER_MV)  # Pst 0.72, Plt 0.72 > 0.7: Plt fails
    assert not ok.passed and ok.details["plt_max"] == pytest.approx(2.0 / D1, rel=1e-4)
    assert flicker_finding(_square(1.5), FLICKER_HV).passed  # 0.54 < 0.8 and < 0.6
