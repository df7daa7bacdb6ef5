"""Steady-state voltage bands against hand-built series with known excursions."""

import json

import numpy as np
import pandas as pd
import pytest

from gridstudy.studies.criteria import (
    ANSI_RANGE_B,
    PLANNING_N0,
    CriteriaError,
    VoltageBand,
    band_excursions,
    voltage_band_finding,
    voltage_class,
)


def _series(values, freq="1s"):
    return pd.Series(values, index=pd.date_range("2026-07-01", periods=len(values), freq=freq))


def test_band_excursion_known_seconds_and_worst():
    # 1 h at 1 s: 120 s at 0.94 pu from t=600 s, then 30 s at 1.06 with a 1.07 peak at t=2015 s
    v = np.full(3600, 1.0)
    v[600:720] = 0.94
    v[2000:2030] = 1.06
    v[2015] = 1.07
    f = voltage_band_finding(_series(v), PLANNING_N0)
    assert not f.passed
    # each sample holds for one 1-s step: 120 + 30 samples outside, exact
    assert f.seconds_outside == 150.0
    assert f.events == 2
    assert f.worst_value == pytest.approx(1.07)  # 0.02 above 1.05 beats 0.01 below 0.95
    assert f.when == pd.Timestamp("2026-07-01") + pd.Timedelta(seconds=2015)
    assert f.details["excursion_durations_s"] == [120.0, 30.0]
    assert f.limits[0].source.startswith("NERC TPL-001")
    json.dumps(f.to_dict())  # JSON-ready


def test_excursion_table_and_dataframe_worst_bus():
    v = pd.DataFrame({"poi": np.full(100, 1.0), "mv1": np.full(100, 1.0)},
                     index=pd.date_range("2026-07-01", periods=100, freq="100ms"))
    v.iloc[10:15, 1] = 0.90   # MV bus low for 5 steps of 0.1 s
    v.iloc[12, 0] = 0.93      # POI dips for one step inside the same run
    ex = band_excursions(v, PLANNING_N0)
    assert len(ex) == 1
    assert ex.loc[0, "duration_s"] == pytest.approx(0.5)  # 5 steps x 0.1 s, float rounding only
    assert ex.loc[0, "element"] == "mv1" and ex.loc[0, "worst_vm_pu"] == 0.90
    assert ex.loc[0, "side"] == "low"
    f = voltage_band_finding(v, PLANNING_N0)
    assert f.details["element"] == "mv1" and f.seconds_outside == pytest.approx(0.5)


def test_inside_band_passes_and_reports_closest_value():
    f = voltage_band_finding(_series([1.0, 1.049, 0.97, 1.05]), PLANNING_N0)
    assert f.passed and f.events == 0 and f.seconds_outside == 0
    assert f.worst_value == 1.05  # on the limit, allowed
    g = voltage_band_finding(_series([0.93, 1.0]), ANSI_RANGE_B)
    assert g.passed  # 0.93 is inside Range B (110/120 = 0.9167)


def test_voltage_class_boundaries():
    assert voltage_class(0.48) == "LV"
    assert voltage_class(34.5) == "MV"
    assert voltage_class(35.0) == "MV"
    assert voltage_class(161.0) == "HV"


def test_uneven_steps_and_nan_rejected():
    idx = pd.DatetimeIndex(["2026-01-01 00:00:00", "2026-01-01 00:00:01", "2026-01-01 00:00:03"])
    with pytest.raises(CriteriaError, match="uniform"):
        voltage_band_finding(pd.Series([1.0, 1.0, 1.0], idx), PLANNING_N0)
    with pytest.raises(ValueError, match="NaN"):
        voltage_band_finding(_series([1.0, np.nan]), PLANNING_N0)
    with pytest.raises(CriteriaError):
        VoltageBand(1.05, 0.95)
