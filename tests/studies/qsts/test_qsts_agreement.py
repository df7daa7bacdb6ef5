"""The fast engine against the reference engine (pandapower ``run_timeseries``), step by step.

Tolerance 1e-8 pu on every bus voltage at every step. The reference solves each step with
pandapower's Newton-Raphson to ``tolerance_mva=1e-10``; the fast engine stops at a nodal mismatch
of 1e-8 MVA (``run_fast``'s default ``tolerance_mva``). A mismatch ΔS moves voltages by about
``ΔS / S_sc`` with ``S_sc`` the short-circuit power at the bus (≥ 100 MVA on every net here), so
both solutions lie within ~1e-10 pu of the exact one; 1e-8 pu leaves two orders of margin for
the last-digit differences of two sparse solvers, and is the issue's agreement criterion.
Tap positions must be identical at every step (same tap rule, same voltages).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from engine_capture import TOL_PU, CaptureRecorder, _capture_fast, _capture_reference

from gridstudy.grid.reference import load_site, reference_sites
from gridstudy.studies.qsts.fast import run_fast
from gridstudy.studies.qsts.inputs import Controls, QSTSInputs, TapControl, VoltVarCurve


def _profiles(site, n, seed=1, lo=0.3, hi=1.0, period=25):
    """Square-wave training load between ``lo`` and ``hi`` of the campus peak, with noise."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    level = np.where((k // period) % 2 == 0, hi, lo)
    p = site.campus_p_mw * np.clip(level + 0.03 * rng.standard_normal(n), 0.05, None)
    idx = pd.date_range("2025-06-01", periods=n, freq="1s")
    return pd.DataFrame({"campus_p_mw": p}, index=idx)


def _compare(a, b):
    vm_a, ld_a, ser_a, conv_a = a
    vm_b, ld_b, ser_b, conv_b = b
    np.testing.assert_array_equal(conv_a, conv_b)
    ok = conv_a
    dv = np.nanmax(np.abs(vm_a[ok] - vm_b[ok]))
    assert dv <= TOL_PU, f"max |dV| = {dv:.3e} pu"
    # loadings: same definition as pandapower's res_line/res_trafo; relative 1e-6 covers the
    # voltage tolerance propagated through currents (|I| ∝ |ΔV| · |Y|) on lightly loaded branches
    np.testing.assert_allclose(ld_a[ok], ld_b[ok], rtol=1e-6, atol=1e-6)
    for name in ser_a:
        if name.startswith("tap_pos_"):
            np.testing.assert_array_equal(ser_a[name], ser_b[name], err_msg=name)
    for name in ("campus_p_mw", "battery_p_mw"):
        np.testing.assert_allclose(ser_a[name], ser_b[name], rtol=1e-9, atol=1e-9, err_msg=name)
    # volt-var Q = curve(V) · sn: the steepest default curve segment is 0.44 pu / 0.06 pu, times
    # 30.8 MVA ≈ 226 Mvar/pu, so the 1e-8 pu voltage tolerance allows ≈ 2.3e-6 Mvar
    np.testing.assert_allclose(ser_a["battery_q_mvar"], ser_b["battery_q_mvar"], rtol=0, atol=3e-6)
    # grid import: power balance at the slack, 1e-6 MW on up to GW flows
    for name in ("grid_p_mw", "grid_q_mvar"):
        np.testing.assert_allclose(ser_a[name][ok], ser_b[name][ok], rtol=1e-7, atol=1e-6, err_msg=name)
    return dv


@pytest.mark.parametrize("name", sorted(reference_sites()))
def test_reference_sites_agree_with_taps(name, monkeypatch):
    site = load_site(name)
    # a short tap delay so the OLTC moves several times within the horizon
    inputs = QSTSInputs(site, _profiles(site, 150), Controls(taps=TapControl(delay_s=5.0, deadband_pu=0.005)))
    ref = _capture_reference(inputs, monkeypatch)
    fast = _capture_fast(inputs)
    _compare(fast, ref)
    taps = [v for k, v in fast[2].items() if k.startswith("tap_pos_")]
    if name == "feeder-34.5kv":  # the weak feeder's OLTC must actually work in this test
        assert any(np.ptp(t) > 0 for t in taps)


def test_volt_var_and_battery_profile_agree(monkeypatch):
    site = load_site("feeder-34.5kv")
    prof = _profiles(site, 120, seed=3)
    prof["battery_p_mw"] = np.linspace(-20.0, 20.0, len(prof))
    inputs = QSTSInputs(site, prof, Controls(taps=TapControl(delay_s=10.0), volt_var=VoltVarCurve()))
    ref = _capture_reference(inputs, monkeypatch)
    fast = _capture_fast(inputs)
    _compare(fast, ref)
    assert np.ptp(fast[2]["battery_q_mvar"]) > 1.0  # volt-var is active


def test_volt_var_steps_retried_with_full_newton_agree(monkeypatch):
    """With one chord iteration allowed, (nearly) every step fails in the compiled kernel and is
    solved by the Python retry (full Newton-Raphson inside the volt-var fixed point): it must give
    the reference engine's answer too."""
    import gridstudy.studies.qsts.fast as fast_mod

    site = load_site("feeder-34.5kv")
    prof = _profiles(site, 40, seed=5)
    prof["battery_p_mw"] = np.linspace(-15.0, 15.0, len(prof))
    inputs = QSTSInputs(site, prof, Controls(taps=TapControl(delay_s=10.0), volt_var=VoltVarCurve()))
    ref = _capture_reference(inputs, monkeypatch)
    monkeypatch.setattr(fast_mod, "CHORD_MAX_ITER", 1)
    rec = CaptureRecorder(inputs.site, inputs.profiles.index, inputs.record, engine="fast")
    res = run_fast(inputs, quiet=True, block_steps=16, recorder=rec)
    assert res.summary["retried_steps"] >= len(prof) // 2  # the retry path did the work
    assert res.summary["failed_steps"] == 0
    _compare(rec.captured(), ref)


def test_taps_disabled_agree_and_stay(monkeypatch):
    site = load_site("memphis-161kv")
    inputs = QSTSInputs(site, _profiles(site, 60), Controls(taps=TapControl(enabled=False)))
    ref = _capture_reference(inputs, monkeypatch)
    fast = _capture_fast(inputs)
    _compare(fast, ref)
    for k, v in fast[2].items():
        if k.startswith("tap_pos_"):
            assert np.ptp(v) == 0


@pytest.mark.parametrize("ref,poi,p_mw", [
    ("simbench:1-MV-rural--0-sw", None, 8.0),
    ("case:mv_oberrhein", None, 10.0),
])
def test_pandapower_networks_agree(ref, poi, p_mw, monkeypatch):
    pytest.importorskip("simbench") if ref.startswith("simbench") else None
    from gridstudy.grid.importers import load_network

    net = load_network(ref)
    if poi is None:  # a bus far from the source: the highest-index MV bus
        mv = net.bus.index[(net.bus.vn_kv > 10) & (net.bus.vn_kv < 40) & net.bus.in_service.astype(bool)]
        poi = int(mv[len(mv) // 2])
    site = load_site(ref, poi=poi, campus_p_mw=p_mw)
    site.regulating_trafos = [int(site.net.trafo.index[0])]
    prof = _profiles(site, 60)
    prof["other_load_scale"] = np.linspace(0.8, 1.2, len(prof))
    inputs = QSTSInputs(site, prof, Controls(taps=TapControl(delay_s=3.0, vm_set_pu=1.02, deadband_pu=0.005)))
    ref_out = _capture_reference(inputs, monkeypatch)
    fast = _capture_fast(inputs, block_steps=16)
    dv = _compare(fast, ref_out)  # every step, bus, branch and series (see _compare)
    assert fast[0].shape == (len(prof), len(site.net.bus)) and fast[3].all()
    assert dv <= TOL_PU


def test_sparse_path_with_volt_var_taps_and_campus_voltage_agrees(monkeypatch):
    """The sparse path (forced on the feeder) with everything that changes its Jacobian or its
    key between steps: volt-var Q inside each step, tap moves (the factorisations are dropped and
    retaken), the campus's voltage dependence (its derivative in the factorisations)."""
    import gridstudy.studies.qsts.fast_model as fast_model
    from gridstudy.models.campus_voltage import CampusVoltageResponse

    site = load_site("feeder-34.5kv")
    prof = _profiles(site, 120, seed=11)
    prof["battery_p_mw"] = np.linspace(-20.0, 20.0, len(prof))
    controls = Controls(taps=TapControl(delay_s=5.0, deadband_pu=0.005), volt_var=VoltVarCurve(),
                        campus_voltage=CampusVoltageResponse(knee_vm_pu=0.99))
    inputs = QSTSInputs(site, prof, controls)
    ref = _capture_reference(inputs, monkeypatch)
    monkeypatch.setattr(fast_model, "DENSE_MAX", 0)
    fast = _capture_fast(inputs)
    _compare(fast, ref)
    assert np.ptp(fast[2]["battery_q_mvar"]) > 1.0  # volt-var is active
    assert any(np.ptp(v) > 0 for k, v in fast[2].items() if k.startswith("tap_pos_"))  # taps moved
