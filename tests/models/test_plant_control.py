"""The plant's control modes (models/plant_control.py): grid-following unchanged, the local loop's
chain against a hand calculation, the latency-aware filter against its transfer function, bad input."""

import math

import numpy as np
import pandas as pd
import pytest

from gridstudy.models.battery import MegapackPlant
from gridstudy.models.campus import CampusLoadParams, campus_load
from gridstudy.models.dispatch import ImportCap, RampLimit, dispatch
from gridstudy.models.errors import ModelError
from gridstudy.models.grid_forming import GridFormingControl
from gridstudy.models.plant_control import PlantControl
from gridstudy.models.plant_response import PlantResponse
from gridstudy.models.timeindex import make_index


def _step_campus(step_s: float, seconds: float, at: int, before: float = 50.0, after: float = 60.0) -> pd.Series:
    idx = make_index("2025-01-01", seconds, step_s)
    return pd.Series(np.where(np.arange(len(idx)) >= at, after, before), index=idx, name="campus_p_mw")


def test_grid_following_mode_given_explicitly_is_the_chain_bit_for_bit():
    # the model's own campus at 20 ms: the explicit mode must not change one bit of the dispatch
    idx = make_index("2025-07-15 00:20", 120, 0.02)
    campus = campus_load(idx, CampusLoadParams(gpus=100_000, seed=3))
    plant = MegapackPlant(units=600, model="megapack2xl-4h")
    a = dispatch(campus, strategy=RampLimit(plant, response=PlantResponse()))
    b = dispatch(campus, strategy=RampLimit(plant, response=PlantResponse(), control=PlantControl()))
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_local_loop_step_response_matches_the_hand_calculation():
    # local loop of 20 ms at a 10 ms step: measurement delay 10 ms (one step), no filter, no control
    # cycle, no communication, inverter lag 10 ms. A 10 MW campus step at sample 100 reaches the
    # measurement at sample 101; the cap's command -10 MW goes to the inverter at once, which follows
    # as p[101 + n] = -10 (1 - b^(n+1)), b = exp(-10/10).
    ctrl = PlantControl(mode="grid_following_local", local_latency_s=0.02)
    s = ImportCap(MegapackPlant(units=50), cap_mw=50.0, response=PlantResponse(), control=ctrl)
    assert s.chain is not None and s.chain.total_latency_s == pytest.approx(0.02, abs=1e-15)
    p = dispatch(_step_campus(0.01, 2.0, 100), strategy=s)["battery_p_mw"].to_numpy()
    b = math.exp(-1.0)
    n = np.arange(len(p)) - 101
    expected = np.where(n >= 0, -10.0 * (1.0 - b ** (n + 1)), 0.0)
    # tolerance: rounding of the recurrences on 10 MW (1e-12 MW is far below any physical effect)
    np.testing.assert_allclose(p, expected, rtol=0, atol=1e-12)
    # against the central chain (0.145 s), the local loop has settled to 99 % by 60 ms after the step
    central = dispatch(_step_campus(0.01, 2.0, 100),
                       strategy=ImportCap(MegapackPlant(units=50), cap_mw=50.0, response=PlantResponse()))
    assert p[106] < -9.9 and central["battery_p_mw"].iloc[106] > -5.0


def test_the_latency_aware_filter_lengthens_the_measurement_filter_by_k_times_the_latency():
    base = PlantResponse()  # 0.145 s in all (docs/sources/megapack.md §7)
    chain = PlantControl(follow_filter=True, follow_tau_factor=10.0).chain(base)
    # hand: 0.02 s of its own + 10 x 0.145 s
    assert chain.measurement_tau_s == pytest.approx(0.02 + 10 * 0.145, rel=1e-12)
    # the grid-forming set-point always runs through it; grid-following only when asked
    assert PlantControl().chain(base) == base
    assert PlantControl(mode="grid_forming").chain(base).measurement_tau_s == pytest.approx(1.47, rel=1e-12)


def test_the_filtered_loop_leaves_a_slow_sinusoid_on_the_grid_as_its_transfer_function_says():
    # a 0.05 Hz sinusoid of 10 MW through an import cap at 0 MW (the plant cancels what it sees):
    # the grid keeps |1 - e^{-jwT_d} H_f(jw) H_i(jw)| of it, T_d the pure delays, H the first-order
    # stages. At 20 ms: delay 20 ms + comms 50 ms + half a 50-ms hold (25 ms, the hold's mean delay).
    step = 0.02
    idx = make_index("2025-01-01", 400, step)
    t = np.arange(len(idx)) * step
    f = 0.05
    campus = pd.Series(100.0 + 10.0 * np.sin(2 * np.pi * f * t), index=idx, name="campus_p_mw")
    plant = MegapackPlant(units=600, model="megapack2xl-4h")
    s = ImportCap(plant, cap_mw=0.0, response=PlantResponse(), control=PlantControl(follow_filter=True))
    grid = dispatch(campus, strategy=s)["grid_p_mw"].to_numpy()
    w = 2 * np.pi * f
    tau_m = 0.02 + 10 * 0.145
    h = np.exp(-1j * w * (0.02 + 0.05 + 0.025)) / (1 + 1j * w * tau_m) / (1 + 1j * w * 0.03)
    expected_amp = 10.0 * abs(1 - h)
    tail = grid[len(grid) // 2:]  # settled: 200 s after the start, > 100 filter time constants
    amp = 0.5 * (tail.max() - tail.min())
    # tolerance 2 %: the discrete stages (exact first-order factors, a hold instead of its mean delay)
    # against the continuous transfer function at dt = 20 ms, w dt = 0.006
    assert amp == pytest.approx(expected_amp, rel=0.02)
    assert 0.5 < amp < 10.0  # the loop acts on this slow component (without it the grid would see 10 MW)


@pytest.mark.parametrize("kw, field", [
    ({"mode": "grid_fighting"}, "battery.control.mode"),
    ({"local_latency_s": 0.5, "mode": "grid_following_local"}, "battery.control.local_latency_s"),
    ({"local_latency_s": 0.0, "mode": "grid_following_local"}, "battery.control.local_latency_s"),
    ({"follow_tau_factor": -1.0}, "battery.control.follow_tau_factor"),
    ({"follow_tau_factor": math.nan}, "battery.control.follow_tau_factor"),
])
def test_bad_control_is_refused_with_field_and_value(kw, field):
    with pytest.raises(ModelError) as e:
        PlantControl(**kw)
    assert field in str(e.value)


@pytest.mark.parametrize("kw, field", [
    ({"x_pu": 0.0}, "x_pu"), ({"x_pu": math.nan}, "x_pu"), ({"x_pu": -0.1}, "x_pu"),
    ({"r_pu": 0.1, "x_pu": 0.2}, "r_pu"), ({"mp": 0.0}, "mp"), ({"mq": 0.0}, "mq"),
    ({"h_s": -1.0}, "h_s"), ({"h_s": 0.0}, "h_s"), ({"d_pu": -1.0}, "d_pu"), ({"d_pu": math.inf}, "d_pu"),
    ({"current_limit_pu": 1.2}, "current_limit_pu"), ({"loop": "pll"}, "loop"), ({"priority": "s"}, "priority"),
    ({"tau_p_s": -0.01}, "tau_p_s"),
])
def test_bad_grid_forming_parameters_are_refused_with_field_and_value(kw, field):
    with pytest.raises(ModelError) as e:
        GridFormingControl(**kw)
    assert f"battery.control.{field}" in str(e.value)
    assert repr(next(iter(kw.values())))[:4] in str(e.value) or str(next(iter(kw.values()))) in str(e.value)
