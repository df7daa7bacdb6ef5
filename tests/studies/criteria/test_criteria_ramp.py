"""Grid-side ramp and peak-to-peak limits against series with a known worst minute."""

import numpy as np
import pandas as pd
import pytest

from gridstudy.studies.criteria import (
    CriteriaError,
    RampLimit,
    delta_mw,
    max_p2p_mw,
    max_ramp_mw_per_min,
    nprr1191_limits,
    ramp_finding,
    ramp_findings,
    rolling_range_mw,
)

T0 = pd.Timestamp("2026-07-01")


def _p(values, freq="1s"):
    return pd.Series(np.asarray(values, dtype=float),
                     index=pd.date_range(T0, periods=len(values), freq=freq))


def test_known_worst_minute():
    # 1 h at 1 s, 200 MW; from t=1000 s a 30 MW linear ramp over 60 s, from t=2000 s a 15 MW one
    p = np.full(3600, 200.0)
    p[1000:1060] = 200 + 0.5 * np.arange(1, 61)
    p[1060:] = 230.0
    p[2000:2060] = 230 + 0.25 * np.arange(1, 61)
    p[2060:] = 245.0
    s = _p(p)
    # worst |P(t) - P(t-60 s)| = 30 MW, reached first at t = 1059 s, exact in floating point
    assert max_ramp_mw_per_min(s) == 30.0
    f = ramp_findings(s, "ieso")
    assert [x.passed for x in f] == [False, False]
    assert f[0].worst_value == 30.0 and f[0].when == T0 + pd.Timedelta(seconds=1059)
    # hand count: delta(t) = 0.5 (t - 999) for t in 1000..1059 (> 20 from t = 1040) and
    # 30 - 0.5 (t - 1059) for t in 1060..1119 (> 20 up to t = 1078): 39 window ends of 1 s
    assert f[0].seconds_outside == 39.0
    assert f[0].events == 1  # only the 30-MW ramp; the 15-MW ramp stays below 20 MW/min
    # 15-s window: the 30 MW ramp moves 7.5 MW in 15 s > 5 MW; the 15 MW ramp 3.75 MW < 5
    assert f[1].worst_value == pytest.approx(7.5) and f[1].events == 1


def test_ercot_p2p_catches_oscillation_that_minute_ramp_misses():
    # 200 MW +/- 6 MW square wave of 2-s period: 12 MW peak-to-peak, zero net change per minute
    t = np.arange(600)
    s = _p(200 + 6 * np.where(t % 2 == 0, 1, -1))
    assert max_ramp_mw_per_min(s) == 0.0
    assert max_p2p_mw(s, 5.0) == 12.0
    (ercot,) = ramp_findings(s, "ercot-proposed")
    assert not ercot.passed and ercot.worst_value == 12.0
    assert ramp_findings(_p(200 + 4 * np.where(t % 2 == 0, 1, -1)), "ercot-proposed")[0].passed


def test_range_window_counts_both_ends():
    # window [t-5 s, t] holds 6 samples at 1 s: the last 0 (t=5) and t=10 share a window
    s = _p([0, 0, 0, 0, 0, 0, 10, 10, 10, 10, 10, 10, 10, 10])
    r = rolling_range_mw(s, 5.0)
    assert r.iloc[10] == 10.0 and r.iloc[11] == 0.0
    # Southern: "<10 MW over 4-6 s" is strict, 10 MW fails
    strict = RampLimit("s", 6.0, 10.0, "range", strict=True)
    assert not ramp_finding(s, strict).passed
    assert ramp_finding(s, RampLimit("l", 6.0, 10.0, "range")).passed


def test_nprr1191_direction():
    up, down = nprr1191_limits(300.0)[1], nprr1191_limits(300.0)[0]
    assert up.max_mw == 6.0 and down.max_mw == 15.0  # 2 % and 5 % of 300 MW (below 8 and 20)
    s = _p(np.r_[np.full(60, 100.0), np.full(120, 110.0), np.full(120, 100.0)])
    assert not ramp_finding(s, up).passed      # +10 MW in a minute > 6
    assert ramp_finding(s, down).passed        # -10 MW in a minute < 15


def test_bad_windows_rejected():
    s = _p(np.zeros(10), freq="2s")
    with pytest.raises(CriteriaError, match="whole number"):
        delta_mw(s, 3.0)
    with pytest.raises(CriteriaError, match="shorter than the step"):
        rolling_range_mw(s, 1.0)
    with pytest.raises(CriteriaError):
        RampLimit("bad", 5.0, 10.0, "range", direction="up")
    with pytest.raises(CriteriaError, match="peak_mw"):
        ramp_findings(s, "ercot-nprr1191")
