"""Thermal loading and POI power factor against hand-built series."""

import math

import numpy as np
import pandas as pd
import pytest

from gridstudy.studies.criteria import (
    PF_CAISO,
    PF_LGIA,
    ThermalLimits,
    power_factor,
    power_factor_finding,
    thermal_finding,
)

IDX = pd.date_range("2026-07-01", periods=10, freq="1min")


def test_thermal_n0_and_n1_with_emergency_rating():
    load = pd.DataFrame({"line_a": np.full(10, 90.0), "trafo_b": np.full(10, 80.0)}, index=IDX)
    load.iloc[3:5, 0] = 112.0  # 2 min above normal rating
    n0 = thermal_finding(load, case="n-0")
    assert not n0.passed and n0.seconds_outside == 120.0 and n0.events == 1
    assert n0.worst_value == 112.0 and n0.details["element"] == "line_a"
    # emergency rating 1.2 x normal: 112 % of normal = 93.3 % of emergency -> passes N-1
    n1 = thermal_finding(load, ThermalLimits(emergency_rating_factor=1.2), case="n-1")
    assert n1.passed and n1.worst_value == pytest.approx(112.0 / 1.2)
    # per-branch factors: line_a has no short-time margin
    n1b = thermal_finding(load, case="n-1",
                          emergency_rating_factor=pd.Series({"line_a": 1.0, "trafo_b": 1.5}))
    assert not n1b.passed and n1b.details["overloaded_elements"] == ["line_a"]


def _pq(pf, p_mw=100.0, lagging=True):
    q = p_mw * math.tan(math.acos(pf)) * (1 if lagging else -1)
    return pd.Series(p_mw, index=IDX), pd.Series(q, index=IDX)


def test_power_factor_at_known_angle():
    p, q = _pq(0.94)
    np.testing.assert_allclose(power_factor(p, q), 0.94, rtol=1e-12)  # exact trigonometry
    f = power_factor_finding(p, q, PF_LGIA)
    assert not f.passed and f.worst_value == pytest.approx(0.94) and f.details["side"] == "lagging"
    assert f.seconds_outside == 600.0
    assert power_factor_finding(*_pq(0.96), PF_LGIA).passed


def test_power_factor_leading_side_and_caiso_band():
    p, q = _pq(0.98, lagging=False)  # site supplies Q: leading
    assert (power_factor(p, q) < 0).all()
    assert power_factor_finding(p, q, PF_LGIA).passed
    caiso = power_factor_finding(p, q, PF_CAISO)  # CAISO wants 0.99 leading
    assert not caiso.passed and caiso.details["side"] == "leading"


def test_power_factor_skips_near_zero_import():
    p, q = _pq(0.96)
    p.iloc[2], q.iloc[2] = 0.5, 5.0  # campus on backup: tiny P, pf 0.1
    assert not power_factor_finding(p, q).passed
    f = power_factor_finding(p, q, min_p_mw=1.0)
    assert f.passed and f.details["judged_steps"] == 9
