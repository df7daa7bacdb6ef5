"""The reference QSTS engine (pandapower run_timeseries) and this package's pandapower controllers.

Expected values come from pandapower's own ``runpp`` run step by step, and from hand calculations
written out in the tests.
"""

import copy
import math
import warnings

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from pandapower.control import ConstControl
from pandapower.timeseries import DFData, OutputWriter, run_timeseries

from gridstudy.grid.reference import load_site
from gridstudy.studies.qsts.apply import element_series
from gridstudy.studies.qsts.controllers import (
    BatteryController,
    TapController,
    VoltVarController,
    tap_direction_lowering,
)
from gridstudy.studies.qsts.inputs import Controls, QSTSInputs, RecordSpec, TapControl, VoltVarCurve
from gridstudy.studies.qsts.reference import RUNPP_OPTIONS, run_reference

warnings.filterwarnings("ignore", category=FutureWarning)


def _index(n, freq="1s"):
    return pd.date_range("2025-07-01", periods=n, freq=freq)


def _whole_horizon_record(n, step_s=1.0):
    # one "worst window" that spans the whole horizon keeps every bus voltage of every step
    return RecordSpec(worst_windows=1, window_s=n * step_s)


def test_reference_matches_plain_runpp_every_step():
    site = load_site("feeder-34.5kv")
    n = 120
    rng = np.random.default_rng(4)
    p = site.campus_p_mw * (0.3 + 0.7 * rng.random(n))
    prof = pd.DataFrame({"campus_p_mw": p, "other_load_scale": 1.0 + 0.1 * np.sin(np.arange(n) / 9),
                         "battery_p_mw": -5.0 * np.cos(np.arange(n) / 7)}, index=_index(n))
    inputs = QSTSInputs(site, prof, Controls(taps=TapControl(delay_s=10.0)), _whole_horizon_record(n))
    res = run_reference(inputs, quiet=True)
    assert res.converged.all()
    assert res.tap_operations.sum() > 0  # the comparison covers tap moves too
    assert res.max_mismatch_mva.max() < 1e-9
    win = res.windows[0]
    assert len(win) == n
    bus_cols = [f"vm_pu_bus_{b}" for b in site.net.bus.index]
    es = element_series(inputs)
    net = copy.deepcopy(site.net)
    tap_col = next(c for c in win.columns if c.startswith("tap_pos_"))
    worst = 0.0
    for k in range(n):
        net.load.loc[es.load_index, "p_mw"] = es.load_p_mw[k]
        net.load.loc[es.load_index, "q_mvar"] = es.load_q_mvar[k]
        net.storage.loc[es.storage_index, "p_mw"] = es.storage_p_mw[k]
        net.storage.loc[es.storage_index, "q_mvar"] = es.storage_q_mvar[k]
        net.ext_grid.loc[es.ext_grid_index, "vm_pu"] = es.ext_grid_vm_pu[k]
        net.trafo.loc[site.regulating_trafos[0], "tap_pos"] = win[tap_col].iloc[k]
        pp.runpp(net, init="flat", **RUNPP_OPTIONS)
        worst = max(worst, float(np.abs(net.res_bus.vm_pu.to_numpy() - win[bus_cols].iloc[k].to_numpy()).max()))
    # both solutions meet a 1e-10 MVA mismatch on a net of tens of MVA: they agree to ~1e-11 pu;
    # 1e-8 pu is the engines' agreement target (issue 4) and still far below any finding
    assert worst <= 1e-8


def test_tap_controller_moves_exactly_after_the_delay():
    site = load_site("feeder-34.5kv")
    # LV band 1.03 +- 0.01. Source 1.06 pu: LV 1.035 (inside); 1.00 pu: LV 0.969 (below, even
    # after four raising moves of 0.625 %); back at 1.06 with the tap 4 steps down: LV > 1.04.
    src = np.r_[np.full(10, 1.06), np.full(20, 1.00), np.full(10, 1.06)]
    n = len(src)
    prof = pd.DataFrame({"campus_p_mw": np.full(n, 25.0), "source_vm_pu": src}, index=_index(n))
    res = run_reference(QSTSInputs(site, prof, Controls(taps=TapControl(delay_s=5.0))), quiet=True)
    tap = res.series[next(c for c in res.series if c.startswith("tap_pos_"))].to_numpy()
    # delay 5 s at 1 s steps: below the band from step 10 -> timer reaches 5 s after step 14 ->
    # move applied at step 15, then every 5 steps (20, 25, 30) while below; tap_side 'hv':
    # tap_pos - 1 raises the LV voltage. Above the band from step 30 -> first lowering move at 35.
    expected = np.r_[np.zeros(15), np.full(5, -1), np.full(5, -2), np.full(5, -3), np.full(5, -4), np.full(5, -3)]
    np.testing.assert_array_equal(tap, expected)
    assert int(res.tap_operations.iloc[0]) == 5


def test_tap_rule_clips_and_caps_timer():
    net = load_site("feeder-34.5kv").net
    tc = TapController(net, 0, step_s=2.0, delay_s=5.0, vm_set_pu=1.0, deadband_pu=0.01)
    assert tc.lower == tap_direction_lowering("hv", 0.625) == 1
    assert tap_direction_lowering("lv", 0.625) == -1 and tap_direction_lowering("hv", -0.625) == -1
    # at tap_max no lowering move is possible: the timer keeps counting but is capped at delay_s
    moves = [tc.update(1.05, tc.tap_max) for _ in range(4)]
    assert moves == [0, 0, 0, 0] and tc.t_up_s == 5.0
    assert tc.update(1.05, 0.0) == 1 and tc.t_up_s == 0.0  # 5 + 2 >= 5: move, timer reset
    assert tc.update(float("nan"), 0.0) == 0 and tc.t_up_s == tc.t_down_s == 0.0  # diverged step resets


def _two_bus_net(sn_mva=12.0):
    net = pp.create_empty_network()
    b0, b1 = pp.create_bus(net, 20.0), pp.create_bus(net, 20.0)
    pp.create_ext_grid(net, b0)
    pp.create_line_from_parameters(net, b0, b1, 15.0, 0.1, 0.3, 10.0, 1.0)
    pp.create_load(net, b1, p_mw=5.0, q_mvar=1.0)
    pp.create_storage(net, b1, p_mw=0.0, max_e_mwh=20.0, sn_mva=sn_mva, soc_percent=50.0, min_e_mwh=0.0,
                      max_p_mw=10.0)
    return net


def test_battery_controller_soc_bookkeeping_in_plain_run_timeseries():
    net = _two_bus_net()
    steps = 8
    load = pd.DataFrame({"load": np.linspace(4.0, 6.0, steps)})
    ConstControl(net, "load", "p_mw", element_index=[0], data_source=DFData(load), profile_name=["load"])
    plan = [10.0, 10.0, 10.0, -10.0, -10.0, -10.0, 50.0, -50.0]
    calls = []

    def rule(campus_p_mw, soc_percent, step_s):
        calls.append((campus_p_mw, soc_percent, step_s))
        return plan[len(calls) - 1]

    bc = BatteryController(net, 0, strategy=rule, step_s=900.0, load_index=[0], round_trip_efficiency=0.81)
    ow = OutputWriter(net, time_steps=range(steps), output_path=None,
                      log_variables=[("res_bus", "vm_pu"), ("res_storage", "p_mw")])
    # every controller declares recycle flags, so pandapower keeps its time-series fast path
    assert all(isinstance(r, dict) for r in net.controller.recycle)
    run_timeseries(net, time_steps=range(steps), verbose=False, lightsim2grid=False)
    # hand calculation: eta = sqrt(0.81) = 0.9 each way, 15-min steps (0.25 h), 20 MWh, SOC0 50 %:
    # e0 = 10; charge 10 MW: +10 * 0.9 * 0.25 = +2.25 MWh; discharge 10 MW: -10 / 0.9 * 0.25 MWh
    e = [10.0]
    for p in [10, 10, 10, -10, -10, -10]:
        e.append(e[-1] + (p * 0.9 if p > 0 else p / 0.9) * 0.25)
    # step 6 asks 50 MW: rating 10 MW, headroom (20 - e) / (0.9 * 0.25); step 7 asks -50: rating 10
    p6 = min(10.0, (20.0 - e[-1]) / (0.9 * 0.25))
    e.append(e[-1] + p6 * 0.9 * 0.25)
    e.append(e[-1] - 10.0 / 0.9 * 0.25)
    r = bc.results
    np.testing.assert_allclose(r["soc_percent"].to_numpy(), np.array(e[1:]) / 20.0 * 100.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r["p_mw"].to_numpy(), [10, 10, 10, -10, -10, -10, p6, -10], atol=1e-12)
    np.testing.assert_allclose(r["saturation_p_mw"].to_numpy()[6:], [50.0 - p6, -40.0], atol=1e-12)
    assert r["saturated"].tolist() == [False] * 6 + [True, True]
    # the strategy saw the campus load written by ConstControl in the same step and the SOC at step start
    np.testing.assert_allclose([c[0] for c in calls], load["load"].to_numpy())
    np.testing.assert_allclose([c[1] for c in calls], np.array(e[:-1]) / 20.0 * 100.0, atol=1e-12)
    # the power flow saw the plant: storage result equals the applied power
    np.testing.assert_allclose(ow.output["res_storage.p_mw"][0].to_numpy(), r["p_mw"].to_numpy(), atol=1e-12)


def test_volt_var_is_a_fixed_point_each_step():
    # loop gain of the fixed point: curve slope 0.44 / 0.04 pu/pu x 3 MVA x dV/dQ of the 15 km line
    # (x = 4.5 ohm -> 0.011 pu/Mvar) = 0.36 < 1: the iteration contracts
    net = _two_bus_net(sn_mva=3.0)
    steps = 5
    load = pd.DataFrame({"load": np.linspace(2.0, 9.0, steps)})
    ConstControl(net, "load", "p_mw", element_index=[0], data_source=DFData(load), profile_name=["load"])
    # response time 0: the instantaneous curve (the default curve follows with a 5-s lag since
    # issue 12 item 7; tests/studies/qsts/test_qsts_volt_var_lag.py checks the lag)
    curve = VoltVarCurve(v_pu=(0.95, 0.99, 1.01, 1.05), q_pu=(-0.44, 0.0, 0.0, 0.44), response_time_s=0.0)
    VoltVarController(net, [0], curve)
    ow = OutputWriter(net, time_steps=range(steps), output_path=None,
                      log_variables=[("res_bus", "vm_pu"), ("storage", "q_mvar")])
    run_timeseries(net, time_steps=range(steps), verbose=False, lightsim2grid=False, tolerance_mva=1e-10)
    v = ow.output["res_bus.vm_pu"][1].to_numpy()
    q = ow.output["storage.q_mvar"][0].to_numpy()
    assert (np.abs(q) > 0.1).any()  # the curve is active on some steps
    # converged: the Q of the solved power flow is the curve at that power flow's voltage
    np.testing.assert_allclose(q, curve(v) * 3.0, atol=1e-8)


def test_reference_with_dispatch_strategy_matches_profile_dispatch():
    from gridstudy.models.battery import MegapackPlant
    from gridstudy.models.dispatch import Smoothing, dispatch

    site = load_site("feeder-34.5kv")
    n = 60
    rng = np.random.default_rng(1)
    p = site.campus_p_mw * (0.5 + 0.5 * rng.random(n))
    idx = _index(n)
    campus = pd.DataFrame({"campus_p_mw": p}, index=idx)
    plant = MegapackPlant.from_site(site.battery)
    expected = dispatch(campus, strategy=Smoothing(plant, tau_s=20.0))
    res = run_reference(QSTSInputs(site, campus, Controls(battery_controller=Smoothing(plant, tau_s=20.0))),
                        quiet=True)
    np.testing.assert_allclose(res.series["battery_p_mw"].to_numpy(), expected["battery_p_mw"].to_numpy(), atol=1e-9)
    np.testing.assert_allclose(res.battery["soc_percent"].to_numpy(), expected["soc_percent"].to_numpy(), atol=1e-9)


def test_step_beyond_the_nose_is_reported_and_run_continues():
    site = load_site("feeder-34.5kv")
    n = 12
    p = np.full(n, 0.8 * site.campus_p_mw)
    p[5] = 50.0 * site.campus_p_mw  # far beyond the nose of the PV curve of a 34.5 kV feeder
    prof = pd.DataFrame({"campus_p_mw": p}, index=_index(n))
    res = run_reference(QSTSInputs(site, prof, record=_whole_horizon_record(n)), quiet=True)
    conv = res.converged.to_numpy()
    assert not conv[5]
    assert conv[np.arange(n) != 5].all()
    assert len(res.converged) == n  # never dropped
    assert math.isnan(res.series["poi_vm_pu"].iloc[5]) and res.series["poi_vm_pu"].drop(res.index[5]).notna().all()
    assert res.summary["nonconverged_steps"] == 1
    # the steps after the collapse solve to the same voltage as before it (same load)
    assert res.series["poi_vm_pu"].iloc[4] == pytest.approx(res.series["poi_vm_pu"].iloc[6], abs=1e-8)
