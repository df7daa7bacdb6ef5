"""Measured traces: validation names the field, resampling keeps the energy, scaling."""

import numpy as np
import pandas as pd
import pytest

from gridstudy.models.errors import ModelError
from gridstudy.models.timeindex import make_index
from gridstudy.models.traces import load_trace, resample_trace, scale_trace


def _write(tmp_path, t, p, name="trace.csv", col="p_mw"):
    path = tmp_path / name
    pd.DataFrame({"timestamp": t, col: p}).to_csv(path, index=False)
    return path


def test_load_resample_and_scale(tmp_path):
    t = pd.date_range("2025-01-01", periods=120, freq="1s")
    p = np.arange(120, dtype=float)  # kW
    tr = load_trace(_write(tmp_path, t, p, col="p_kw"), p_column="p_kw")
    assert tr["campus_p_mw"].iloc[-1] == pytest.approx(0.119)
    # 1-s trace to 1-min averages: mean of 0..59 kW = 29.5 kW, of 60..119 = 89.5 kW
    m = resample_trace(tr, make_index("2025-01-01", 120, 60.0))
    np.testing.assert_allclose(m["campus_p_mw"].to_numpy(), [0.0295, 0.0895], rtol=1e-12)
    # up-sampling to 0.5 s keeps each value over its second: same energy
    h = resample_trace(tr, make_index("2025-01-01", 120, 0.5))
    assert h["campus_p_mw"].sum() * 0.5 == pytest.approx(tr["campus_p_mw"].sum() * 1.0, rel=1e-12)
    s = scale_trace(tr, peak_mw=300.0)
    assert s["campus_p_mw"].max() == pytest.approx(300.0, rel=1e-12)
    with pytest.raises(ModelError, match="covers"):
        resample_trace(tr, make_index("2025-01-01", 180, 1.0))


def test_parquet_with_reactive_power(tmp_path):
    t = pd.date_range("2025-01-01", periods=10, freq="100ms")
    path = tmp_path / "t.parquet"
    pd.DataFrame({"time": t, "p": np.ones(10), "q": np.full(10, 0.2)}).to_parquet(path)
    tr = load_trace(path, time_column="time", p_column="p", q_column="q", units="MW")
    assert list(tr.columns) == ["campus_p_mw", "campus_q_mvar"] and tr.index.freq == pd.Timedelta("100ms")


def test_decreasing_timestamps_gaps_nan_and_units_are_named(tmp_path):
    t = list(pd.date_range("2025-01-01", periods=5, freq="1s"))
    bad = _write(tmp_path, [t[0], t[2], t[1], t[3], t[4]], [1.0] * 5, "dec.csv")
    with pytest.raises(ModelError) as exc:
        load_trace(bad)
    assert exc.value.fields == ["campus.trace.timestamp"] and "decreasing at row 2" in str(exc.value)
    gap = _write(tmp_path, [t[0], t[1], t[3], t[4]], [1.0, 2.0, 4.0, 5.0], "gap.csv")
    with pytest.raises(ModelError, match="gap or uneven step"):
        load_trace(gap)
    filled = load_trace(gap, fill="interpolate")
    assert filled["campus_p_mw"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    nan = _write(tmp_path, t, [1.0, np.nan, 3.0, 4.0, 5.0], "nan.csv")
    with pytest.raises(ModelError) as exc:
        load_trace(nan)
    assert exc.value.fields == ["campus.trace.p_mw"]
    unitless = _write(tmp_path, t, [1.0] * 5, "u.csv", col="power")
    with pytest.raises(ModelError) as exc:
        load_trace(unitless, p_column="power")
    assert exc.value.fields == ["campus.trace.units"]
