"""GPU-side power smoothing in the campus model (models/gpu_smoothing.py, models/campus.py): a square
GPU power wave through the ramp limits, hysteresis and floor, against a hand calculation."""

import numpy as np
import pandas as pd
import pytest

from gridstudy.models.campus import CampusLoadParams, campus_load
from gridstudy.models.errors import ModelError
from gridstudy.models.gpu_smoothing import GpuSmoothing
from gridstudy.models.timeindex import make_index


def _square(smoothing: GpuSmoothing | None, seconds: float = 4.0, step_s: float = 0.1) -> pd.DataFrame:
    """1,000 GPUs of 1 kW: a square wave of GPU power, 1.0 of TDP for 1 s then 0.2 for 1 s (period
    2 s, duty 0.5, swing 0.8, no jitter, no checkpoints); PUE 1 (no facility load); 0.5 W of node
    overhead per W of GPU power."""
    p = CampusLoadParams(gpus=1000, gpu_model="gb200", gpu_tdp_w=1000.0, compute_fraction=1.0, swing_depth=0.8, idle_fraction=0.1,
                         node_overhead=0.5, pue=1.0, period_s=2.0, duty=0.5, jitter=0.0,
                         checkpoint_interval_s=None, smoothing=smoothing)
    return campus_load(make_index("2025-01-01", seconds, step_s), p)


def _hand(y_gpu: np.ndarray, x_gpu: np.ndarray) -> np.ndarray:
    # 1,000 GPUs x 1 kW = 1 MW per unit of TDP; the node overhead follows the workload's power x,
    # not the smoothed power y (CPUs and network do not burn)
    return 1.0 * (y_gpu + 0.5 * x_gpu)


def test_square_wave_through_ramp_limits_and_hysteresis():
    # ramp up 2 kW/s = 2 pu/s, ramp down 0.5 kW/s = 0.5 pu/s, hysteresis 200 ms, floor 50 % (not reached)
    df = _square(GpuSmoothing(ramp_up_w_per_s=2000.0, ramp_down_w_per_s=500.0, floor_percent=50.0,
                              ramp_down_hysteresis_ms=200.0))
    # By hand, per GPU (pu of TDP), averaged over each 0.1 s step:
    #  [0, 1)    y = 1.0
    #  [1, 1.2)  the workload falls to 0.2: y holds 1.0 for the hysteresis
    #  [1.2, 2)  y falls at 0.5 pu/s: 1.0 -> 0.6 (the floor 0.5 is not reached); step k's average
    #            is 1.0 - 0.5 (0.1 k + 0.05), k = 0..7
    #  [2, 2.2)  the workload rises to 1.0: y rises at 2 pu/s from 0.6: averages 0.7, 0.9
    #  [2.2, 3)  y = 1.0;  [3, 4) as [1, 2)
    fall = [1.0, 1.0] + [1.0 - 0.5 * (0.1 * k + 0.05) for k in range(8)]
    y = np.array([1.0] * 10 + fall + [0.7, 0.9] + [1.0] * 8 + fall)
    x = np.array(([1.0] * 10 + [0.2] * 10) * 2)
    # tolerance 1e-12 MW: rounding of the exact piecewise-linear integrals
    np.testing.assert_allclose(df["campus_p_mw"].to_numpy(), _hand(y, x), rtol=0, atol=1e-12)
    # extra energy: per GPU, over each low phase 0.2 s x (1.0 - 0.2) + 0.8 s x (0.8 - 0.2) = 0.64 pu.s,
    # twice, less the slowed rise 0.2 s x (1.0 - 0.8) = 0.04 pu.s: 1.24 pu.s x 1 MW = 1.24 MJ
    assert df.attrs["smoothing_extra_mwh"] == pytest.approx(1.24 / 3600.0, rel=1e-12)
    np.testing.assert_allclose(df["smoothing_extra_p_mw"].to_numpy(), y - x, rtol=0, atol=1e-12)


def test_square_wave_held_up_by_the_floor():
    # ramp down 2 pu/s and no hysteresis: from 1.0 the power meets the floor 0.5 after 0.25 s, inside
    # the third 0.1 s step of the low phase, and holds there; the rise from 0.5 takes 0.25 s
    df = _square(GpuSmoothing(ramp_up_w_per_s=2000.0, ramp_down_w_per_s=2000.0, floor_percent=50.0,
                              ramp_down_hysteresis_ms=0.0))
    # step [1.2, 1.3): 0.6 -> 0.5 over 0.05 s (mean 0.55) then 0.5 for 0.05 s: mean 0.525
    low = [0.9, 0.7, 0.525] + [0.5] * 7
    # rise: [2, 2.1) mean 0.6, [2.1, 2.2) mean 0.8, [2.2, 2.3): 0.9 -> 1.0 in 0.05 s then 1.0: mean 0.975
    y = np.array([1.0] * 10 + low + [0.6, 0.8, 0.975] + [1.0] * 7 + low)
    x = np.array(([1.0] * 10 + [0.2] * 10) * 2)
    np.testing.assert_allclose(df["campus_p_mw"].to_numpy(), _hand(y, x), rtol=0, atol=1e-12)
    # per low phase: fall 0.25 s x (0.75 - 0.2) + floor 0.75 s x (0.5 - 0.2) = 0.3625 pu.s; the rise
    # costs 0.25 s x (1.0 - 0.75) = 0.0625 pu.s: 2 x 0.3625 - 0.0625 = 0.6625 pu.s = 0.6625 MJ
    assert df.attrs["smoothing_extra_mwh"] == pytest.approx(0.6625 / 3600.0, rel=1e-12)
    assert (df["campus_p_mw"] >= _hand(np.full(40, 0.5), x) - 1e-12).all()


def test_smoothing_is_off_by_default_and_changes_nothing():
    off = _square(None)
    assert "smoothing_extra_p_mw" not in off and off.attrs["smoothing_extra_mwh"] == 0.0
    p = CampusLoadParams(gpus=10_000, gpu_model="gb200", gpu_tdp_w=700.0, seed=4)  # smoothing needs Blackwell
    assert p.smoothing is None
    # unlimited ramps, no floor, no hysteresis: the smoothed series is the workload's own
    idle = GpuSmoothing(ramp_up_w_per_s=None, ramp_down_w_per_s=None, floor_percent=0.0, ramp_down_hysteresis_ms=0.0)
    idx = make_index("2025-01-01", 900, 0.5)
    a, b = campus_load(idx, p), campus_load(idx, p.replace(smoothing=idle))
    # 1e-9 MW on ~25 MW: the smoothed path sums the same integrals in another order
    np.testing.assert_allclose(b["campus_p_mw"], a["campus_p_mw"], rtol=0, atol=1e-9)
    assert abs(b.attrs["smoothing_extra_mwh"]) < 1e-9


def test_smoothing_flattens_the_training_swing_and_a_split_series_continues_it():
    # no interruption in the 10 minutes: the steady swing alone (the derived rate, 4.7 a day for
    # 10,000 GPUs, puts one at 250 s in this seed's draw)
    p = CampusLoadParams(gpus=10_000, gpu_model="gb200", gpu_tdp_w=700.0, seed=4, smoothing=GpuSmoothing(),
                         interruptions_per_day=0.0)
    idx = make_index("2025-01-01", 600, 0.05)
    whole = campus_load(idx, p)
    raw = campus_load(idx, p.replace(smoothing=None))
    # the defaults (2 s hysteresis) hold the GPUs at the compute level through every 0.45 s
    # communication phase: the GPUs' swing vanishes, the node overhead's (0.5 W per W of workload
    # power, not smoothed) stays: IT swings 0.5 / 1.5 = 1/3 of the unsmoothed IT swing
    # (1e-6: the GPUs are flat from the first step on, so the ratio is exact but for rounding)
    ratio = whole["it_p_mw"].iloc[200:].std() / raw["it_p_mw"].iloc[200:].std()
    assert ratio == pytest.approx(1.0 / 3.0, rel=1e-6)
    assert whole.attrs["smoothing_extra_mwh"] > 0
    a = campus_load(idx[:5000], p, horizon_s=600.0)
    b = campus_load(idx[5000:], p, origin=idx[0], horizon_s=600.0, cooling0_mw=a.attrs["cooling_end_mw"],
                    smoothing0=a.attrs["smoothing_end"])
    # 1e-9 MW: the second part restarts the integrals from the carried state
    np.testing.assert_allclose(pd.concat([a, b])["campus_p_mw"], whole["campus_p_mw"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("field, value, message", [
    ("floor_percent", 120.0, "[0, 100]"), ("floor_percent", float("nan"), "must be a finite number"),
    ("ramp_up_w_per_s", -5.0, "> 0"), ("ramp_down_w_per_s", -1.0, "> 0"),
    ("ramp_down_hysteresis_ms", -10.0, ">= 0"),
])
def test_bad_smoothing_names_field_and_value(field, value, message):
    with pytest.raises(ModelError) as exc:
        GpuSmoothing(**{field: value})
    assert exc.value.fields == [f"campus.smoothing.{field}"]
    assert message in str(exc.value) and str(value) in str(exc.value)


@pytest.mark.parametrize("model, scope, ok", [
    ("h100", "gpu", False), ("h200", "rack", False),  # Hopper: no power-smoothing feature
    ("gb200", "gpu", True), ("gb200", "rack", False),  # NVML profile, no power-shelf storage
    ("gb300", "gpu", True), ("gb300", "rack", True),
])
def test_smoothing_is_refused_on_hardware_without_the_feature(model, scope, ok):
    """A mitigation the hardware does not have is refused, stating why (docs/sources/load.md §7)."""
    make = lambda: CampusLoadParams(gpus=1000, gpu_model=model, smoothing=GpuSmoothing(scope=scope))  # noqa: E731
    if ok:
        assert make().smoothing.scope == scope
        return
    with pytest.raises(ModelError) as exc:
        make()
    (prob,) = [q for q in exc.value.problems if q.path == "campus.smoothing.scope"]
    assert model in prob.message and "docs/sources/load.md §7" in prob.message and "gb300" in prob.message
