"""The battery plant that answers late (models/plant_response.py, the chain in models/dispatch_kernel.py):
step responses against hand calculations, the zero plant against the instantaneous one, bad input."""

import math
import time

import numpy as np
import pandas as pd
import pytest

from gridstudy.models.battery import MegapackPlant, energy_balance
from gridstudy.models.campus import CampusLoadParams, campus_load
from gridstudy.models.dispatch import (
    ImportCap,
    LoadLossAbsorption,
    NoDispatch,
    RampLimit,
    ReactiveControl,
    Smoothing,
    SocRecovery,
    dispatch,
)
from gridstudy.models.errors import ModelError
from gridstudy.models.plant_response import PlantResponse
from gridstudy.models.timeindex import make_index


def _step_campus(step_s: float, seconds: float, at: int, before: float = 50.0, after: float = 60.0) -> pd.Series:
    """A campus that steps from ``before`` to ``after`` MW at sample ``at``."""
    idx = make_index("2025-01-01", seconds, step_s)
    return pd.Series(np.where(np.arange(len(idx)) >= at, after, before), index=idx, name="campus_p_mw")


def _cap_battery(resp: PlantResponse | None) -> ImportCap:
    # a 96 MW plant holding grid import at 50 MW: the ideal answer to a 50 -> 60 MW step is -10 MW
    return ImportCap(MegapackPlant(units=50), cap_mw=50.0, response=resp)


def test_step_response_of_the_whole_chain_matches_the_hand_calculation():
    # 10 MW campus step at t = 1 s (sample 100) at a 10 ms step; measurement delay 40 ms (4 steps),
    # filter 20 ms, controller every step, comms 50 ms (5 steps), inverter lag 50 ms.
    resp = PlantResponse(measurement_delay_s=0.04, measurement_tau_s=0.02, control_period_s=0.01,
                         comms_latency_s=0.05, inverter_tau_s=0.05)
    r = dispatch(_step_campus(0.01, 2.0, 100), strategy=_cap_battery(resp))
    p = r["battery_p_mw"].to_numpy()
    # Hand calculation. Each stage sees its input of the same step held over the step, a lag
    # advances by its exact factor. Measured load: the step reaches the filter at sample 104,
    # c_m[104 + n] = 60 - 10 a^(n+1), a = exp(-10/20). The cap's command is 50 - c_m = -10 (1 - a^(n+1)),
    # sent 5 samples later; the inverter (b = exp(-10/50)) from sample 109: p[m] = b p[m-1] + (1-b) u[m],
    # whose sum is p[109 + m] = -10 [1 - b^(m+1) - (1 - b) a (b^(m+1) - a^(m+1)) / (b - a)].
    a, b = math.exp(-0.5), math.exp(-0.2)
    m = np.arange(len(p)) - 109
    expected = np.where(m >= 0, -10.0 * (1.0 - b ** (m + 1) - (1.0 - b) * a * (b ** (m + 1) - a ** (m + 1)) / (b - a)),
                        0.0)
    # tolerance: a few ulps of 10 MW from the recurrences (1e-12 MW is far below any physical effect)
    np.testing.assert_allclose(p, expected, rtol=0, atol=1e-12)
    assert (p[:109] == 0.0).all()  # nothing moves before 40 + 50 ms of pure delay have passed
    # the grid sees the step until the plant answers: 60 MW at the step, 50 MW once it has settled
    assert r["grid_p_mw"].iloc[100] == 60.0
    # 1e-6 MW: what is left of the inverter lag 0.9 s after it started, about 10 x 1.6 x exp(-18.2) MW
    assert r["grid_p_mw"].iloc[-1] == pytest.approx(50.0, abs=1e-6)


def test_sample_and_hold_at_the_controller_period():
    # measurement delay 40 ms, no filter, controller every 30 ms, nothing else. The controller
    # samples at samples 0, 3, 6, ...; the measured step arrives at sample 104 and the first cycle
    # at or after it is sample 105: the command (and the output) jumps to -10 MW there, not before.
    resp = PlantResponse(measurement_delay_s=0.04, measurement_tau_s=0.0, control_period_s=0.03,
                         comms_latency_s=0.0, inverter_tau_s=0.0)
    p = dispatch(_step_campus(0.01, 1.5, 100), strategy=_cap_battery(resp))["battery_p_mw"].to_numpy()
    assert (p[:105] == 0.0).all()
    assert (p[105:] == -10.0).all()


def test_delays_shorter_than_the_step_are_kept_as_a_fraction_of_the_step():
    # At a 1 s step, a 40 ms measurement delay: the step average of the delayed load over the step
    # the load moves is 0.96 x 60 + 0.04 x 50 = 59.6 MW, so the cap's battery gives -9.6 MW, then -10.
    resp = PlantResponse(measurement_delay_s=0.04, measurement_tau_s=0.0, control_period_s=0.0,
                         comms_latency_s=0.0, inverter_tau_s=0.0)
    p = dispatch(_step_campus(1.0, 20.0, 10), strategy=_cap_battery(resp))["battery_p_mw"].to_numpy()
    assert p[9] == 0.0
    # 1e-12 MW: rounding of the 0.96 / 0.04 interpolation weights applied to 50 and 60 MW
    assert p[10] == pytest.approx(-9.6, abs=1e-12)
    np.testing.assert_allclose(p[11:], -10.0, rtol=0, atol=1e-12)
    # a 0.5 s inverter lag at a 1 s step: exact factor 1 - exp(-2) in the step the command moves
    resp = PlantResponse(0.0, 0.0, 0.0, 0.0, inverter_tau_s=0.5)
    p = dispatch(_step_campus(1.0, 20.0, 10), strategy=_cap_battery(resp))["battery_p_mw"].to_numpy()
    assert p[10] == pytest.approx(-10.0 * (1.0 - math.exp(-2.0)), abs=1e-12)
    assert p[11] == pytest.approx(-10.0 * (1.0 - math.exp(-4.0)), abs=1e-12)


def test_ramp_limit_of_the_plant():
    # zero delays, 20 MW/s at a 10 ms step: the output moves 0.2 MW per step, reaching -10 MW after 50 steps
    resp = PlantResponse(0.0, 0.0, 0.0, 0.0, 0.0, ramp_mw_per_s=20.0)
    p = dispatch(_step_campus(0.01, 1.5, 10), strategy=_cap_battery(resp))["battery_p_mw"].to_numpy()
    expected = np.concatenate([np.zeros(10), -0.2 * np.arange(1, 51), np.full(len(p) - 60, -10.0)])
    np.testing.assert_allclose(p, expected, rtol=0, atol=1e-12)  # 1e-12: 50 additions of 0.2 MW


def _profile(seconds: float, step_s: float) -> pd.DataFrame:
    p = CampusLoadParams(gpus=20_000, seed=3, checkpoint_interval_s=120.0, trip_at_s=seconds / 2,
                         trip_duration_s=10.0)
    return campus_load(make_index("2025-01-01", seconds, step_s), p)


def _strategies(plant: MegapackPlant, resp: PlantResponse | None):
    rec = SocRecovery(target_percent=50.0, time_s=600.0)
    return [NoDispatch(plant, response=resp), RampLimit(plant, recovery=rec, response=resp),
            Smoothing(plant, tau_s=30.0, recovery=rec, response=resp),
            ImportCap(plant, cap_mw=45.0, recovery=rec, response=resp),
            LoadLossAbsorption(plant, recovery=rec, response=resp),
            Smoothing(plant, tau_s=30.0, response=resp, reactive=ReactiveControl("fixed_pf", pf=0.95)),
            RampLimit(plant, response=resp, reactive=ReactiveControl("volt_var"))]


@pytest.mark.parametrize("step_s", [1.0, 0.05])
@pytest.mark.parametrize("units", [3, 100])
def test_a_plant_with_every_delay_zero_reproduces_the_instantaneous_dispatch_bit_for_bit(step_s, units):
    # 3 units hit the SOC and power limits against this ~55 MW campus, 100 never do
    campus = _profile(600.0 if step_s == 1.0 else 120.0, step_s)
    vm = pd.Series(1.0 + 0.05 * np.sin(np.arange(len(campus)) / 50.0), index=campus.index)
    plant = MegapackPlant(units=units, aux_mw=0.05, priority="q" if units == 3 else "p")
    zero = PlantResponse.instantaneous()
    assert zero.is_instantaneous and zero.total_latency_s == 0.0
    for ideal, late in zip(_strategies(plant, None), _strategies(plant, zero), strict=True):
        a = dispatch(campus, strategy=ideal, vm_pu=vm)
        b = dispatch(campus, strategy=late, vm_pu=vm)
        for col in ("battery_p_mw", "battery_q_mvar", "e_mwh", "saturated"):
            assert a[col].to_numpy().tobytes() == b[col].to_numpy().tobytes(), (ideal.name, col)


def test_a_late_plant_delivers_within_its_limits_and_keeps_the_energy_balance():
    campus = _profile(600.0, 0.05)
    plant = MegapackPlant(units=3, aux_mw=0.05)
    resp = PlantResponse(ramp_mw_per_s=50.0)  # the Megapack defaults, plus a ramp limit
    for strat in _strategies(plant, resp):
        r = dispatch(campus, strategy=strat, vm_pu=pd.Series(1.03, index=campus.index))
        conv = r["battery_p_mw"].to_numpy() - plant.aux_mw
        s = np.hypot(conv, r["battery_q_mvar"].to_numpy())
        # limits hold to the rounding of the clamps (1e-9 MW)
        assert s.max() <= plant.s_max_mva + 1e-9, strat.name
        assert np.abs(conv).max() <= plant.p_max_mw + 1e-9, strat.name
        assert np.abs(np.diff(conv)).max() <= 50.0 * 0.05 + 1e-9, strat.name
        assert r["soc_percent"].between(plant.soc_min_percent - 1e-9, plant.soc_max_percent + 1e-9).all()
        # energy in - losses - out = change in stored energy, to float rounding over 12,000 steps
        assert abs(energy_balance(r, plant)["residual_mwh"]) < 1e-9, strat.name
        assert r.attrs["plant_response"]["comms_latency_s"] == resp.comms_latency_s


def test_step_api_and_chunks_match_one_call_with_a_late_plant():
    campus = _profile(300.0, 0.1)
    resp = PlantResponse(measurement_delay_s=0.13, control_period_s=0.25, comms_latency_s=0.07)
    strat = RampLimit(MegapackPlant(units=20), recovery=SocRecovery(), response=resp)
    whole = dispatch(campus, strategy=strat)
    strat.reset()
    rows = [strat.step(c, 0.1, campus_q_mvar=q) for c, q in zip(campus["campus_p_mw"], campus["campus_q_mvar"],
                                                                strict=True)]
    assert np.array([x.battery_p_mw for x in rows]).tobytes() == whole["battery_p_mw"].to_numpy().tobytes()
    a = dispatch(campus.iloc[:1234], strategy=strat)
    b = dispatch(campus.iloc[1234:], strategy=strat, reset=False)
    assert pd.concat([a, b])["battery_p_mw"].to_numpy().tobytes() == whole["battery_p_mw"].to_numpy().tobytes()


def test_latency_lets_a_load_step_through():
    # Smoothing with a 60 s low-pass: an ideal plant holds the grid almost flat through a 10 MW
    # step; with the default latency the grid sees most of the step for the first ~100 ms.
    c = _step_campus(0.01, 3.0, 100)
    ideal = dispatch(c, strategy=Smoothing(MegapackPlant(units=50), tau_s=60.0))
    late = dispatch(c, strategy=Smoothing(MegapackPlant(units=50), tau_s=60.0, response=PlantResponse()))
    assert ideal["grid_p_mw"].iloc[100] == pytest.approx(50.0 + 10.0 * (1 - math.exp(-0.01 / 60.0)), rel=1e-12)
    assert late["grid_p_mw"].iloc[100] == 60.0  # 20 ms of measurement delay: nothing has moved yet
    # after 2 s the late plant's grid import follows the ideal one's rising low-pass some 150 ms
    # behind (the chain's delays and time constants, summed): between the ideal 200 ms ago and now
    g_late, g_ideal = late["grid_p_mw"].iloc[-1], ideal["grid_p_mw"].to_numpy()
    assert g_ideal[-21] < g_late < g_ideal[-1]


@pytest.mark.parametrize("field, value", [
    ("measurement_delay_s", -0.01), ("measurement_tau_s", float("nan")), ("control_period_s", float("inf")),
    ("comms_latency_s", -1.0), ("inverter_tau_s", float("nan")), ("ramp_mw_per_s", 0.0),
])
def test_bad_latencies_are_refused_with_field_and_value(field, value):
    with pytest.raises(ModelError) as exc:
        PlantResponse(**{field: value})
    assert exc.value.fields == [f"battery.response.{field}"]
    assert repr(value) in str(exc.value) or str(value) in str(exc.value)


def test_every_bad_latency_is_listed_at_once():
    with pytest.raises(ModelError) as exc:
        PlantResponse(measurement_delay_s=-1.0, comms_latency_s=float("nan"), ramp_mw_per_s=-3.0)
    assert exc.value.fields == ["battery.response.measurement_delay_s", "battery.response.comms_latency_s",
                                "battery.response.ramp_mw_per_s"]


def test_a_day_at_one_second_with_a_late_plant_dispatches_in_well_under_a_second():
    c = campus_load(make_index("2025-01-01", 86_400, 1.0), CampusLoadParams(gpus=40_000, seed=1))
    strat = RampLimit(MegapackPlant(units=100), recovery=SocRecovery(), response=PlantResponse())
    dispatch(c.iloc[:10], strategy=strat)  # compile / load the cached kernel
    t = time.perf_counter()
    dispatch(c, strategy=strat)
    # measured ~0.01 s; 1 s leaves room for a slow, busy test machine
    assert time.perf_counter() - t < 1.0
