"""Rapid voltage change: rectangular series with a known count of changes."""

import numpy as np
import pandas as pd
import pytest

from gridstudy.studies.criteria import RVC_HV, RVC_MV, rvc_events, rvc_finding


def _rectangles(n_pulses, depth_pu, *, period_s=600, width_s=60, hours=2, freq="1s"):
    """A flat 1.0 pu series with `n_pulses` rectangular dips of `depth_pu`, one per period."""
    n = int(hours * 3600)
    v = np.full(n, 1.0)
    for k in range(n_pulses):
        s = 100 + k * period_s
        v[s:s + width_s] = 1.0 - depth_pu
    return pd.Series(v, index=pd.date_range("2026-07-01", periods=n, freq=freq))


def test_rectangular_pulses_counted_and_sized():
    # 3 rectangles of 3.5 %: each is two changes (down, up): 6 RVC events, all of 3.5 %
    v = _rectangles(3, 0.035)
    ev = rvc_events(v)
    assert len(ev) == 6
    np.testing.assert_allclose(ev["dv_ss_pct"], 3.5, atol=1e-9)  # exact steps, rounding only
    assert ev.loc[0, "time"] == v.index[100]  # first sample of the new level
    f = rvc_finding(v, RVC_MV)
    assert f.events == 6
    # 6 changes above 3 % inside one hour (periods of 600 s): more than 2 an hour -> fail (MV)
    assert f.details["max_per_hour_over_hour10_level"] == 6
    assert not f.passed
    assert f.worst_value == pytest.approx(3.5)


def test_two_changes_an_hour_pass_mv_fail_hv():
    # one 3.5 % rectangle in 2 h: 2 changes; MV allows 2/h above 3 %, HV allows none above 3 %
    v = _rectangles(1, 0.035)
    assert rvc_finding(v, RVC_MV).passed
    hv = rvc_finding(v, RVC_HV)
    assert not hv.passed and hv.details["over_day_level"] == 2


def test_small_changes_not_counted_and_fluctuation_is_not_steady():
    assert rvc_finding(_rectangles(3, 0.005)).events == 0  # 0.5 % < 1 % counting threshold
    # a 2-s oscillation of 2 % never stays within +/-0.5 % for 1 s: no steady state, no RVC
    n = 600
    v = pd.Series(1.0 + 0.01 * np.sign(np.sin(np.pi * (np.arange(n) + 0.5) / 1.0)),
                  index=pd.date_range("2026-07-01", periods=n, freq="1s"))
    assert len(rvc_events(v)) == 0


def test_dip_is_not_an_rvc():
    v = _rectangles(1, 0.15)  # 0.85 pu: a dip (below 0.90), not a rapid voltage change
    ev = rvc_events(v)
    assert set(ev["kind"]) == {"dip"}
    f = rvc_finding(v)
    assert f.events == 0 and f.details["dips_swells"] == 2


def test_day_limit_counts_rolling():
    # 5 rectangles of 4.5 % 3 h apart in one day: 10 changes above 4 % > 4 a day -> fail (MV)
    v = _rectangles(5, 0.045, period_s=3 * 3600, hours=24)
    f = rvc_finding(v, RVC_MV)
    assert f.details["max_per_day_over_hour2_level"] == 10
    assert not f.passed
