"""Issue 12 item 7: volt-var follows its curve with the open-loop response time, in both engines.

The discretisation (``studies/qsts/controllers.py``): ``Q_k = clip(Q_{k-1} + (f(V_k) - Q_{k-1})·a)``,
``a = 1 - exp(-dt / tau)``, ``tau = T_olrt / ln 10``, implicit (``V_k`` of the same step), the run's
first step at its own steady state (``a = 1``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gridstudy.grid.reference import load_site
from gridstudy.studies.qsts.fast import run_fast
from gridstudy.studies.qsts.inputs import Controls, QSTSInputs, RecordSpec, VoltVarCurve
from gridstudy.studies.qsts.results import ResultRecorder
from gridstudy.studies.qsts.run import run_qsts

#: engines' voltage agreement (see tests/studies/qsts/test_qsts_agreement.py for the margin)
TOL_PU = 1e-8
#: Q agreement: the steepest curve segment, 0.44 pu / 0.06 pu of ~32 MVA ≈ 240 Mvar/pu, times 1e-8 pu
TOL_MVAR = 3e-6


def test_lag_factor_by_hand():
    # 90 % of a step in T_olrt: after T_olrt / dt steps the gap left is (1 - a)^(T/dt) = 0.1
    c = VoltVarCurve()
    assert c.response_time_s == 5.0  # IEEE 1547-2018 Category B default
    assert c.lag_factor(1.0) == pytest.approx(1 - 10 ** (-1 / 5), rel=1e-14)       # 0.369043
    assert c.lag_factor(0.02) == pytest.approx(1 - 10 ** (-0.02 / 5), rel=1e-12)   # 0.009168
    assert (1 - c.lag_factor(0.02)) ** (5.0 / 0.02) == pytest.approx(0.1, rel=1e-12)
    assert VoltVarCurve(response_time_s=0.0).lag_factor(0.02) == 1.0  # exactly: the curve at once
    assert VoltVarCurve(response_time_s=-1.0).problems()


class _Capture(ResultRecorder):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.vm: list[np.ndarray] = []

    def add_block(self, start, vm_pu, *rest):
        self.vm.append(np.array(vm_pu, dtype=float))
        super().add_block(start, vm_pu, *rest)


def _inputs(site, curve, n, step, drop=0.9):
    vm0 = float(site.net.ext_grid.vm_pu.iloc[0])
    idx = pd.date_range("2025-01-01", periods=n, freq=step)
    prof = pd.DataFrame({"campus_p_mw": 0.8 * site.campus_p_mw, "source_vm_pu": np.where(np.arange(n) >= 3, drop * vm0, vm0),
                         "battery_p_mw": 5.0, "battery_q_mvar": 0.0}, index=idx)
    return QSTSInputs(site, prof, Controls(volt_var=curve), RecordSpec(worst_windows=0))


@pytest.mark.parametrize("step,tau", [("1s", 5.0), ("20ms", 5.0), ("20ms", 0.2), ("1s", 0.0)])
def test_fast_engine_follows_the_discrete_lag_and_agrees_with_reference(step, tau):
    site = load_site("feeder-34.5kv")
    curve = VoltVarCurve(response_time_s=tau)
    inputs = _inputs(site, curve, 30, step)
    rec = _Capture(site, inputs.profiles.index, inputs.record, engine="fast")
    fast = run_fast(inputs, quiet=True, recorder=rec)
    ref = run_qsts(inputs, engine="reference", quiet=True)
    assert fast.nonconverged_steps == 0 and ref.nonconverged_steps == 0
    assert np.max(np.abs(fast.series["poi_vm_pu"].to_numpy() - ref.series["poi_vm_pu"].to_numpy())) <= TOL_PU
    np.testing.assert_allclose(fast.series["battery_q_mvar"], ref.series["battery_q_mvar"], rtol=0, atol=TOL_MVAR)
    # the recursion, checked from the solved voltages of the storage bus (one storage here)
    (s,) = site.storages
    net = site.net
    sn = float(net.storage.at[s, "sn_mva"])
    p = 5.0
    qlim = math.sqrt(sn**2 - p**2)
    col = list(net.bus.index).index(int(net.storage.at[s, "bus"]))
    v = np.vstack(rec.vm)[:, col]
    q = fast.series["battery_q_mvar"].to_numpy()
    f = np.clip(curve(v) * sn, -qlim, qlim)
    a = curve.lag_factor(inputs.step_s)
    expect = np.empty_like(q)
    expect[0] = f[0]  # the first step starts from its own steady state
    expect[1:] = np.clip(q[:-1] + (f[1:] - q[:-1]) * a, -qlim, qlim)
    np.testing.assert_allclose(q, expect, rtol=0, atol=1e-8)
    assert q.min() < -1.0  # the source drop makes the plant inject (consumer sign: negative)
    if tau > 0:
        # three steps after the drop the plant is still on its way: the lag is visible
        assert abs(q[5] - f[5]) > 0.1


def test_zero_response_time_is_the_instantaneous_curve():
    # τ = 0: Q equals the curve at the step's own voltage at every step (the fixed point of the
    # earlier releases), to the fixed point's tolerance
    site = load_site("feeder-34.5kv")
    curve = VoltVarCurve(response_time_s=0.0)
    inputs = _inputs(site, curve, 10, "1s", drop=0.93)
    rec = _Capture(site, inputs.profiles.index, inputs.record, engine="fast")
    res = run_fast(inputs, quiet=True, recorder=rec)
    (s,) = site.storages
    sn = float(site.net.storage.at[s, "sn_mva"])
    col = list(site.net.bus.index).index(int(site.net.storage.at[s, "bus"]))
    v = np.vstack(rec.vm)[:, col]
    np.testing.assert_allclose(res.series["battery_q_mvar"].to_numpy(), curve(v) * sn, rtol=0, atol=1e-8)
