"""Megapack plant and dispatch strategies: energy balance, SOC limits, grid-side limits, step API."""

import time

import numpy as np
import pandas as pd
import pytest

from gridstudy.models.battery import MegapackPlant, energy_balance
from gridstudy.models.campus import CampusLoadParams, campus_load
from gridstudy.models.dispatch import (
    STRATEGIES,
    ImportCap,
    LoadLossAbsorption,
    NoDispatch,
    RampLimit,
    ReactiveControl,
    Smoothing,
    SocRecovery,
    dispatch,
    make_strategy,
    max_ramp_mw,
)
from gridstudy.models.errors import ModelError
from gridstudy.models.timeindex import make_index


def _campus(seconds=3600, step=1.0, gpus=40_000, seed=1, **kw) -> pd.DataFrame:
    p = CampusLoadParams(gpus=gpus, seed=seed, checkpoint_interval_s=600.0, **kw)
    return campus_load(make_index("2025-01-01", seconds, step), p)


def _all_strategies(plant):
    rec = SocRecovery(target_percent=50.0, time_s=600.0)
    return [NoDispatch(plant), RampLimit(plant, recovery=rec), Smoothing(plant, tau_s=30.0, recovery=rec),
            ImportCap(plant, cap_mw=60.0, recovery=rec), LoadLossAbsorption(plant, recovery=rec),
            Smoothing(plant, tau_s=30.0, reactive=ReactiveControl("fixed_pf", pf=0.95, pf_reference="grid")),
            RampLimit(plant, reactive=ReactiveControl("volt_var"))]


def test_plant_ratings_from_presets():
    # 68 x Megapack 2 XL 2-h (1.927 MW, 3.854 MWh) = 131.036 MW / 262.072 MWh (Giga Texas)
    pl = MegapackPlant(units=68, model="megapack2xl-2h")
    assert pl.p_max_mw == pytest.approx(131.036, rel=1e-12)
    assert pl.e_max_mwh == pytest.approx(262.072, rel=1e-12)
    assert pl.s_max_mva == pytest.approx(131.036 / 0.95, rel=1e-12)
    assert pl.eta_charge * pl.eta_discharge == pytest.approx(0.92, rel=1e-12)
    assert MegapackPlant(units=1, model="megapack3").rte == 0.91


def test_bad_plant_names_every_field():
    with pytest.raises(ModelError) as exc:
        MegapackPlant(units=-3, soc_min_percent=90.0, soc_max_percent=10.0, round_trip_efficiency=1.2)
    assert exc.value.fields == ["battery.units", "battery.round_trip_efficiency", "battery.soc_min_percent"]
    assert "reversed" in str(exc.value)


@pytest.mark.parametrize("units", [2, 200])
def test_energy_conservation_and_soc_limits(units):
    # 2 units (3.9 MW, 7.7 MWh) against a 50 MW campus hit both SOC limits; 200 units never do
    pl = MegapackPlant(units=units, soc_min_percent=10.0, soc_max_percent=90.0, aux_mw=0.1)
    campus = _campus(1800, gpus=40_000)
    for strat in _all_strategies(pl):
        r = dispatch(campus, strategy=strat)
        bal = energy_balance(r, pl)
        throughput = bal["e_in_mwh"] + bal["e_out_mwh"] + 1.0
        # floating-point precision: 1800 additions of numbers of size ~E, each rounded to ~1e-16
        assert abs(bal["residual_mwh"]) < 1e-12 * throughput * 1800, strat.name
        assert r["soc_percent"].min() >= 10.0 - 1e-12 and r["soc_percent"].max() <= 90.0 + 1e-12
        # per step: stored energy moves by eta_c p dt (charging) or p / eta_d dt (discharging)
        e = np.concatenate([[r.attrs["e0_mwh"]], r["e_mwh"].to_numpy()])
        p = r["battery_p_mw"].to_numpy() - pl.aux_mw
        de = np.where(p >= 0, pl.eta_charge * p, p / pl.eta_discharge) / 3600.0
        # the only departure is the clamp of the last rounding bit at a SOC limit
        np.testing.assert_allclose(np.diff(e), de, rtol=0, atol=1e-9)
        # apparent power inside the inverter circle
        s = np.hypot(p, r["battery_q_mvar"].to_numpy())
        assert s.max() <= pl.s_max_mva * (1 + 1e-12)
        assert (np.abs(p) <= pl.p_max_mw * (1 + 1e-12)).all()


def test_step_api_is_byte_identical_to_dispatch():
    pl = MegapackPlant(units=5, aux_mw=0.05)
    campus = _campus(900, step=0.5, gpus=20_000)
    vm = pd.Series(1.0 + 0.05 * np.sin(np.arange(len(campus)) / 50.0), index=campus.index)
    for strat in _all_strategies(pl):
        r = dispatch(campus, strategy=strat, vm_pu=vm)
        strat.reset()
        rows = [strat.step(c, 0.5, campus_q_mvar=q, vm_pu=v)
                for c, q, v in zip(campus["campus_p_mw"], campus["campus_q_mvar"], vm, strict=True)]
        p = np.array([x.battery_p_mw for x in rows])
        q = np.array([x.battery_q_mvar for x in rows])
        sat = np.array([x.saturated for x in rows])
        assert p.tobytes() == r["battery_p_mw"].to_numpy().tobytes(), strat.name
        assert q.tobytes() == r["battery_q_mvar"].to_numpy().tobytes(), strat.name
        assert (sat == r["saturated"].to_numpy()).all()
        assert strat.e_mwh == r["e_mwh"].iloc[-1]


def test_chunked_dispatch_equals_one_call():
    pl = MegapackPlant(units=20)
    campus = _campus(1200)
    strat = RampLimit(pl, recovery=SocRecovery())
    whole = dispatch(campus, strategy=strat)
    a = dispatch(campus.iloc[:500], strategy=strat)
    b = dispatch(campus.iloc[500:], strategy=strat, reset=False)
    assert pd.concat([a, b])["battery_p_mw"].to_numpy().tobytes() == whole["battery_p_mw"].to_numpy().tobytes()


def test_ramp_limit_held_with_a_big_battery():
    # the 50 MW campus swings by tens of MW per second, starts and stops, and trips to zero
    campus = _campus(3600, gpus=40_000, job_start_s=300.0, job_stop_s=3000.0, trip_at_s=1500.0)
    assert max_ramp_mw(campus["campus_p_mw"], 5.0) > 20.0
    pl = MegapackPlant(units=100)  # 193 MW / 385 MWh
    r = dispatch(campus, strategy=RampLimit(pl, ramp_mw_per_min=20.0, window_mw=10.0, window_s=5.0,
                                            recovery=SocRecovery()))
    assert r.attrs["saturated_steps"] == 0 and not r["saturated"].any()
    g = r["grid_p_mw"]
    # at most 20/60 MW per 1-s step (1e-9 for rounding); a 60-s window holds 61 samples
    # (floor(60 / 1) + 1, timeindex.window_samples), so at most 60 steps of it: 20 MW
    assert np.abs(np.diff(g.to_numpy())).max() <= 20.0 / 60.0 + 1e-9
    assert max_ramp_mw(g, 60.0) <= 20.0 + 1e-9
    assert max_ramp_mw(g, 5.0) <= 10.0 + 1e-9


def test_window_limit_binds_when_the_ramp_limit_is_loose():
    campus = _campus(600, gpus=40_000, step=0.1)
    pl = MegapackPlant(units=100)
    r = dispatch(campus, strategy=RampLimit(pl, ramp_mw_per_min=6000.0, window_mw=2.0, window_s=5.0, target_tau_s=0.0))
    assert not r["saturated"].any()
    assert max_ramp_mw(r["grid_p_mw"], 5.0) <= 2.0 + 1e-9


def test_ramp_limit_saturates_with_a_small_battery_and_says_so():
    campus = _campus(1800, gpus=40_000, job_start_s=300.0, job_stop_s=1200.0)
    pl = MegapackPlant(units=2)  # 3.9 MW cannot hold a 50 MW swing
    r = dispatch(campus, strategy=RampLimit(pl))
    n = int(r["saturated"].sum())
    assert n > 0 and r.attrs["saturated_steps"] == n
    # the limit is broken honestly where saturated: the grid swing exceeds the 10 MW/5 s limit
    assert max_ramp_mw(r["grid_p_mw"], 5.0) > 10.0
    # and a saturated step delivers the plant's rating or its energy limit
    sat = r[r["saturated"]]
    at_power = np.isclose(sat["battery_p_mw"].abs(), pl.p_max_mw, rtol=1e-12)
    at_soc = np.isclose(sat["soc_percent"], 5.0) | np.isclose(sat["soc_percent"], 95.0)
    assert (at_power | at_soc).all()


def test_smoothing_is_an_exact_first_order_lag():
    # a 10 MW step at t = 10 s: grid(k) = 20 - 10 exp(-(k - 9) dt / tau) for k >= 10
    idx = make_index("2025-01-01", 120, 1.0)
    c = pd.Series(np.where(np.arange(120) >= 10, 20.0, 10.0), index=idx)
    r = dispatch(c, strategy=Smoothing(MegapackPlant(units=50), tau_s=30.0))
    k = np.arange(10, 120)
    np.testing.assert_allclose(r["grid_p_mw"].to_numpy()[10:], 20.0 - 10.0 * np.exp(-(k - 9) / 30.0), rtol=1e-12)


def test_import_cap_and_load_loss_absorption():
    idx = make_index("2025-01-01", 600, 1.0)
    x = np.full(600, 100.0)
    x[200:] = 0.0  # the campus trips to backup at 200 s
    c = pd.Series(x, index=idx)
    pl = MegapackPlant(units=100)
    r = dispatch(c, strategy=LoadLossAbsorption(pl, release_mw_per_min=30.0))
    g = r["grid_p_mw"].to_numpy()
    # grid import falls 0.5 MW per second from 100 MW: 200 s to reach zero
    np.testing.assert_allclose(g[200:400], 100.0 - 0.5 * np.arange(1, 201), atol=1e-9)
    assert np.abs(g[400:]).max() < 1e-9 and (r["battery_p_mw"] >= -1e-12).all()
    cap = dispatch(_campus(600), strategy=ImportCap(pl, cap_mw=45.0))
    assert cap["grid_p_mw"].max() <= 45.0 + 1e-9


def test_reactive_modes():
    pl = MegapackPlant(units=10)
    c = _campus(60)
    r = dispatch(c, strategy=NoDispatch(pl, reactive=ReactiveControl("fixed_pf", pf=1.0, pf_reference="grid")))
    # unity power factor at the grid: the battery absorbs minus the campus Q
    np.testing.assert_allclose(r["grid_q_mvar"].to_numpy(), 0.0, atol=1e-9)
    vm = pd.Series(0.90, index=c.index)
    r = dispatch(c, strategy=NoDispatch(pl, reactive=ReactiveControl("volt_var")), vm_pu=vm)
    # below 0.92 pu the curve injects 0.44 pu of the inverter MVA
    np.testing.assert_allclose(r["battery_q_mvar"].to_numpy(), -0.44 * pl.s_max_mva, rtol=1e-12)


def test_bad_strategy_parameters_name_their_fields():
    pl = MegapackPlant(units=1)
    with pytest.raises(ModelError) as exc:
        RampLimit(pl, ramp_mw_per_min=-1.0, window_mw=0.0, recovery=SocRecovery(target_percent=120.0))
    assert exc.value.fields == ["battery.recovery.target_percent", "battery.ramp_mw_per_min", "battery.window_mw"]
    with pytest.raises(ModelError, match="unknown strategy"):
        make_strategy("peak_magic", pl)
    assert set(STRATEGIES) == {"none", "ramp_limit", "smoothing", "import_cap", "load_loss_absorption"}


def test_a_day_at_one_second_dispatches_in_well_under_a_second():
    c = _campus(86_400, gpus=40_000)
    strat = RampLimit(MegapackPlant(units=100), recovery=SocRecovery())
    dispatch(c.iloc[:10], strategy=strat)  # compile / load the cached kernel
    t = time.perf_counter()
    dispatch(c, strategy=strat)
    # measured ~0.03 s; 1 s leaves room for a slow, busy test machine
    assert time.perf_counter() - t < 1.0
