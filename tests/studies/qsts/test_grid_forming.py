"""The grid-forming plant inside both QSTS engines (studies/qsts/grid_forming.py).

Agreement of the two engines step by step, the first-step share of a load edge against the
impedance divider worked out by hand, and the settling of the power loop against its closed form.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from engine_capture import TOL_PU, CaptureRecorder, _capture_reference

from gridstudy.grid.reference import load_site
from gridstudy.models.campus_voltage import CampusVoltageResponse
from gridstudy.models.grid_forming import GridFormingControl
from gridstudy.studies.errors import StudyError
from gridstudy.studies.qsts.fast import run_fast
from gridstudy.studies.qsts.grid_forming import add_grid_forming
from gridstudy.studies.qsts.inputs import Controls, QSTSInputs, TapControl, VoltVarCurve
from gridstudy.studies.qsts.results import CURRENT_LIMITED

SITE = "memphis-161kv"


def _profiles(site, n, dt="20ms", lo=0.3, hi=0.9, period=15, battery=None):
    """Campus square wave between ``lo`` and ``hi`` of its peak (edges every ``period`` steps)."""
    k = np.arange(n)
    p = site.campus_p_mw * np.where((k // period) % 2 == 0, lo, hi)
    idx = pd.date_range("2025-06-01", periods=n, freq=dt)
    cols = {"campus_p_mw": p}
    if battery is not None:
        cols["battery_p_mw"] = battery
    return pd.DataFrame(cols, index=idx)


def _fast(inputs, block_steps=16):
    rec = CaptureRecorder(inputs.site, inputs.profiles.index, inputs.record, engine="fast",
                          extra_series=(CURRENT_LIMITED,))
    res = run_fast(inputs, quiet=True, block_steps=block_steps, recorder=rec)
    return rec.captured(), res


@pytest.mark.parametrize("control, campus_voltage", [
    (GridFormingControl(loop="droop"), False),
    (GridFormingControl(loop="vsm"), True),
    # a limit below the plant's share of the edges: current-limited steps (priority P, then Q)
    (GridFormingControl(loop="droop", current_limit_pu=0.1), False),
    (GridFormingControl(loop="vsm", current_limit_pu=0.1, priority="q", r_pu=0.01), False),
])
def test_engines_agree_with_a_grid_forming_plant(control, campus_voltage, monkeypatch):
    site = load_site(SITE)
    n = 60
    prof = _profiles(site, n, battery=np.linspace(-20.0, 20.0, n))
    cv = CampusVoltageResponse() if campus_voltage else None
    inputs = QSTSInputs(site, prof, Controls(taps=TapControl(delay_s=0.1, deadband_pu=0.002), campus_voltage=cv,
                                             grid_forming=control))
    vm_r, _, ser_r, conv_r = _capture_reference(inputs, monkeypatch)
    (vm_f, _, ser_f, conv_f), res = _fast(inputs)
    assert conv_r.all() and conv_f.all()
    # every bus voltage within the engines' agreement criterion (see test_qsts_agreement.py: the
    # reference solves to 1e-10 MVA, the fast engine to 1e-8 MVA)
    assert np.max(np.abs(vm_r - vm_f)) <= TOL_PU
    # plant and grid power: 1e-6 MW on flows of hundreds of MW (the same mismatch tolerances)
    for name in ("battery_p_mw", "battery_q_mvar", "grid_p_mw", "grid_q_mvar", "poi_p_mw", "poi_q_mvar"):
        np.testing.assert_allclose(ser_f[name], ser_r[name], rtol=0, atol=1e-6, err_msg=name)
    np.testing.assert_array_equal(ser_f[CURRENT_LIMITED], ser_r[CURRENT_LIMITED])
    for name in ser_r:
        if name.startswith("tap_pos_"):
            np.testing.assert_array_equal(ser_f[name], ser_r[name], err_msg=name)
    # the plant really takes part: it moves with the edges (its set-point ramps by 40 MW only)
    assert np.ptp(ser_f["battery_p_mw"]) > 60.0
    limited = int(ser_f[CURRENT_LIMITED].sum())
    assert res.summary["current_limited_steps"] == limited
    if control.current_limit_pu < 1.0:
        assert limited > 0
        # a limited step delivers the limit circle |S| = 0.1 · sn · V_t, V_t the terminal voltage of
        # the step's source-mode solution; the re-solve at the limited power moves the terminal
        # voltage by the effect of that power change (about 1 % here): 3 %
        sn = float(site.net.storage.sn_mva.sum())
        on = ser_f[CURRENT_LIMITED] == 1.0
        s = np.hypot(ser_f["battery_p_mw"][on], ser_f["battery_q_mvar"][on])
        bess_bus = list(site.net.bus.index).index(int(site.net.storage.bus.iloc[0]))
        np.testing.assert_allclose(s, 0.1 * sn * vm_f[on, bess_bus], rtol=0.03)
        assert np.all(np.hypot(ser_f["battery_p_mw"], ser_f["battery_q_mvar"]) <= 0.1 * sn * 1.1)
    else:
        assert limited == 0


def test_sparse_mode_and_full_newton_retries_agree(monkeypatch):
    """The sparse kernel path and the Python full Newton-Raphson retry keep the loop's state."""
    from gridstudy.studies.qsts import fast as fast_mod
    from gridstudy.studies.qsts import fast_model

    site = load_site(SITE)
    n = 40
    inputs = QSTSInputs(site, _profiles(site, n, period=10),
                        Controls(grid_forming=GridFormingControl(loop="vsm", current_limit_pu=0.1)))
    vm_r, _, ser_r, _ = _capture_reference(inputs, monkeypatch)
    monkeypatch.setattr(fast_model, "DENSE_MAX", 0)
    for chord in (40, 1):  # 1 chord iteration: nearly every step goes to the full Newton retry
        monkeypatch.setattr(fast_mod, "CHORD_MAX_ITER", chord)
        (vm_f, _, ser_f, _), res = _fast(inputs)
        assert np.max(np.abs(vm_r - vm_f)) <= TOL_PU
        np.testing.assert_allclose(ser_f["battery_p_mw"], ser_r["battery_p_mw"], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(ser_f[CURRENT_LIMITED], ser_r[CURRENT_LIMITED])
        if chord == 1:
            assert res.summary["retried_steps"] > 10


def test_refused_combinations():
    site = load_site(SITE)
    prof = _profiles(site, 5)
    for controls in (Controls(grid_forming=GridFormingControl(), volt_var=VoltVarCurve()),
                     Controls(grid_forming=GridFormingControl(), battery_controller=lambda load, soc, dt: 0.0)):
        with pytest.raises(StudyError, match=r"controls\.grid_forming"):
            run_fast(QSTSInputs(site, prof, controls), quiet=True)


def test_first_step_share_is_the_impedance_divider():
    """The plant's share of a campus edge in the first step, against the current divider at the
    POI worked out by hand from the site file's data (docs/sources/megapack.md §9)."""
    site = load_site(SITE)
    net = site.net
    base = 100.0  # MVA, the per-unit base of the hand calculation
    # grid: the source's Thevenin impedance from the minimum fault level and X/R (s_sc_min 5000
    # MVA, rx 0.1), then the two 12-km 161-kV circuits in parallel (r 0.036, x 0.40 ohm/km)
    eg = net.ext_grid.iloc[0]
    zs = base / float(eg.s_sc_min_mva)
    rx = float(eg.rx_min)
    z_source = zs * complex(rx, 1.0) / math.sqrt(1.0 + rx * rx)
    z_base_161 = 161.0 ** 2 / base
    z_line = complex(0.036, 0.40) * 12.0 / z_base_161 / 2.0
    z_grid = z_source + z_line
    # plant: three 220-MVA BESS transformers in parallel (vk 10 %, vkr 0.3 %), then the virtual
    # impedance j0.15 on the plant's MVA
    sn = float(net.storage.sn_mva.sum())
    vk, vkr = 0.10, 0.003
    z_t = complex(vkr, math.sqrt(vk * vk - vkr * vkr)) * base / 220.0 / 3.0
    control = GridFormingControl(loop="droop", x_pu=0.15, tau_p_s=0.02)
    z_v = control.z_pu * base / sn
    z_plant = z_t + z_v
    # a load edge at the campus draws its extra current through the POI: the two voltage sources
    # behind z_grid and z_plant share it as a current divider
    share = (z_grid / (z_grid + z_plant)).real

    n, edge = 14, 8
    p = np.where(np.arange(n) < edge, 150.0, 180.0)  # a 30-MW edge: the divider is linear in it
    idx = pd.date_range("2025-06-01", periods=n, freq="20ms")
    inputs = QSTSInputs(site, pd.DataFrame({"campus_p_mw": p}, index=idx),
                        Controls(taps=TapControl(enabled=False), grid_forming=control))
    (_, _, ser, conv), _ = _fast(inputs)
    assert conv.all()
    d_plant = -(ser["battery_p_mw"][edge] - ser["battery_p_mw"][edge - 1])  # delivered, generator sign
    d_campus = ser["campus_p_mw"][edge] - ser["campus_p_mw"][edge - 1]
    # 1 %: the divider neglects the lines' charging, the transformers' losses between the
    # terminal and the POI and the second-order (angle) terms of a 30-MW edge
    assert d_plant / d_campus == pytest.approx(share, rel=0.01)
    assert 0.3 < share < 0.5  # the rough estimate: about 40 %


def _gfm_net(site, control, campus_mw):
    """The site's net with the grid-forming plant, the campus at ``campus_mw`` (the halls at their
    power factor), taps as built."""
    net = copy.deepcopy(site.net)
    plant = add_grid_forming(net, site, control)
    loads = list(site.campus_loads)
    base_p = net.load.loc[loads, "p_mw"].to_numpy(dtype=float)
    base_q = net.load.loc[loads, "q_mvar"].to_numpy(dtype=float)
    net.load.loc[loads, "p_mw"] = campus_mw * base_p / base_p.sum()
    net.load.loc[loads, "q_mvar"] = campus_mw * base_q / base_p.sum()
    return net, plant


def _synchronizing(site, control, p_before, p_after):
    """``(K, E, δ)``: ``K = ∂P_e/∂δ`` [pu of the plant's MVA per rad] of the plant's EMF after the
    edge, by a central finite difference of two pandapower power flows, at the EMF the plant held
    before the edge (set-point 0: the EMF equals the terminal voltage)."""
    net, plant = _gfm_net(site, control, p_before)
    net.ext_grid.at[plant.ext_grid, "in_service"] = False  # the plant at its set-point 0
    pp.runpp(net, calculate_voltage_angles=True, tolerance_mva=1e-10)
    e = float(net.res_bus.vm_pu.at[plant.bus])
    delta = math.radians(float(net.res_bus.va_degree.at[plant.bus]))
    net, plant = _gfm_net(site, control, p_after)
    h = 1e-4  # rad: central difference, error ~ h² · P''' / 6, far below the tolerances below
    pe = []
    for d in (delta - h, delta + h):
        net.ext_grid.at[plant.ext_grid, "vm_pu"] = e
        net.ext_grid.at[plant.ext_grid, "va_degree"] = math.degrees(d)
        pp.runpp(net, calculate_voltage_angles=True, tolerance_mva=1e-10)
        pe.append(float(net.res_ext_grid.p_mw.at[plant.ext_grid]) / plant.sn_mva)
    return (pe[1] - pe[0]) / (2 * h)


def _edge_response(site, control, dt_s, n, edge, p_before, p_after):
    idx = pd.date_range("2025-06-01", periods=n, freq=pd.Timedelta(seconds=dt_s))
    p = np.where(np.arange(n) < edge, p_before, p_after)
    inputs = QSTSInputs(site, pd.DataFrame({"campus_p_mw": p}, index=idx),
                        Controls(taps=TapControl(enabled=False), grid_forming=control))
    (_, _, ser, conv), _ = _fast(inputs, block_steps=256)
    assert conv.all()
    sn = float(site.net.storage.sn_mva.sum())
    return -ser["battery_p_mw"][edge:] / sn  # the plant's output after the edge, set-point 0 [pu]


def test_droop_settles_as_a_first_order_lag():
    site = load_site(SITE)
    control = GridFormingControl(loop="droop", mp=0.002, tau_p_s=0.0)
    p0, p1 = 150.0, 180.0
    k_sync = _synchronizing(site, control, p0, p1)
    tau = 1.0 / (control.omega_b * control.mp * k_sync)
    dt = 0.01
    assert 0.2 < tau < 1.0 and dt / tau < 0.05  # the regime the closed form is checked in
    y = _edge_response(site, control, dt, 8 + int(3 * tau / dt), 8, p0, p1)
    t = dt * np.arange(len(y))
    closed = y[0] * np.exp(-t / tau)
    # the loop is advanced once per step from the step's solution (explicit): the discrete decay
    # (1 - dt/τ)^k differs from exp(-t/τ) by at most about dt/τ · max(t/τ · exp(-t/τ)) / 2 ≈
    # 0.2 dt/τ of the initial share; a tolerance of dt/τ adds the variation of K along the decay
    assert np.max(np.abs(y - closed)) <= dt / tau * abs(y[0])
    assert y[-1] < 0.1 * y[0]  # it did settle


def test_vsm_settles_as_a_second_order_system():
    site = load_site(SITE)
    control = GridFormingControl(loop="vsm", h_s=20.0, d_pu=150.0)
    p0, p1 = 150.0, 180.0
    k_sync = _synchronizing(site, control, p0, p1)
    wn = math.sqrt(control.omega_b * k_sync / (2.0 * control.h_s))
    zeta = control.d_pu / (2.0 * math.sqrt(2.0 * control.h_s * control.omega_b * k_sync))
    dt = 0.01
    assert 0.1 < zeta < 0.9 and wn * dt < 0.05  # underdamped, and well resolved by the step
    y = _edge_response(site, control, dt, 8 + int(4 * math.pi / wn / dt), 8, p0, p1)
    t = dt * np.arange(len(y))
    wd = wn * math.sqrt(1.0 - zeta * zeta)
    # y'' + 2ζω_n y' + ω_n² y = 0 with y(0) = the first-step share and y'(0) = 0 (the speed is
    # nominal at the edge)
    closed = y[0] * np.exp(-zeta * wn * t) * (np.cos(wd * t) + zeta / math.sqrt(1 - zeta * zeta) * np.sin(wd * t))
    # explicit (semi-implicit Euler) update once per step: a phase error of about ω_n·dt per
    # period and the one-step lag of the loop behind the solution, each of the order of ω_n·dt
    # of the initial share; the tolerance allows twice that
    assert np.max(np.abs(y - closed)) <= 2.0 * wn * dt * abs(y[0])
    assert np.min(y) < -0.05 * y[0]  # the overshoot of an underdamped second-order response
