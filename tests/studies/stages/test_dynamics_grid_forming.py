"""The grid-forming plant in the RMS check (ANDES REGF1 at the plant's EMF node behind its virtual
impedance): its share of a load edge and its settling equal the quasi-static grid-forming plant's
(studies/qsts/grid_forming.py) where that one is valid, and a droop plant's steady state obeys the
droop law worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridstudy.grid.reference import load_site
from gridstudy.grid.spec import GridEquivalentSpec
from gridstudy.models.grid_forming import GridFormingControl
from gridstudy.studies.qsts.inputs import Controls, QSTSInputs, TapControl
from gridstudy.studies.qsts.run import run_qsts
from gridstudy.studies.stages.dynamics import RmsCase, _set_point, run_case

pytest.importorskip("andes")

SITE = "memphis-161kv"
#: A stiff grid equivalent (GENCLS, 1000 s on 300 GVA): the grid's frequency stays nominal, as the
#: quasi-static study's.
STIFF = GridEquivalentSpec(model="GENCLS", h_s=1000.0)


def _edge_case(site, control, t, p_before, p_after, edge_s):
    net = site.net
    loads = list(site.campus_loads)
    ratio = float(net.load.loc[loads, "q_mvar"].sum()) / float(net.load.loc[loads, "p_mw"].sum())
    cp = np.where(t >= edge_s - 1e-9, p_after, p_before)
    zero = np.zeros(len(t))
    start = _set_point(site, p_before, p_before * ratio, 0.0, 0.0)
    return RmsCase("with_battery", "edge", "window", start, pd.Timestamp("2025-06-01"), t, cp, cp * ratio, zero,
                   zero.copy(), pd.DataFrame({"poi_vm_pu": np.nan, "poi_p_mw": np.nan}, index=t), forming=control,
                   plant_set_p_mw=zero.copy()), ratio


def test_droop_share_and_settling_equal_the_quasi_static_plant():
    """A 30-MW campus edge with the plant idle (set-point 0), a slow droop (m_p 0.002, no filter:
    the loop's time constant 1 / (ω_b m_p K) ≈ 0.4 s, 40 steps of 10 ms, where the quasi-static
    loop's explicit update is within dt/τ of the continuous one): RMS against the fast engine's
    grid-forming run of the same edge, step by step."""
    site = load_site(SITE)
    control = GridFormingControl(loop="droop", mp=0.002, tau_p_s=0.0)
    dt, n, edge = 0.01, 181, 20
    t = np.arange(n) * dt
    case, ratio = _edge_case(site, control, t, 150.0, 180.0, edge * dt)
    r = run_case(case, STIFF, dt, plant="model")
    assert r.summary["converged"] and r.summary["plant_model"] == "REGF1"
    rms = r.series.set_index((r.series["time"] - case.start).dt.total_seconds())["plant_p_mw"]
    rms = rms.reindex(t, method="nearest", tolerance=1e-6).to_numpy()

    idx = pd.date_range("2025-06-01", periods=n, freq="10ms")
    prof = pd.DataFrame({"campus_p_mw": case.campus_p_mw, "campus_q_mvar": case.campus_p_mw * ratio,
                         "battery_p_mw": 0.0, "battery_q_mvar": 0.0}, index=idx)
    q = run_qsts(QSTSInputs(site, prof, Controls(taps=TapControl(enabled=False), grid_forming=control)),
                 engine="fast", quiet=True).series["battery_p_mw"].to_numpy(dtype=float)

    # before the edge both hold the set-point: the plant idle (1e-3 MW: the power flows' tolerance)
    assert abs(rms[edge - 1]) < 1e-3 and abs(q[edge - 1]) < 1e-3
    d_campus = 30.0
    share_rms, share_q = -rms[edge] / d_campus, -q[edge] / d_campus
    assert 0.3 < share_q < 0.5  # the impedance divider's share (tests/studies/qsts/test_grid_forming.py)
    # the first step's share: 3 % — within the RMS step the loop already moves the angle (the
    # trapezoidal rule averages both ends: about dt/2τ ≈ 1.3 % of the share) and the REGF1 voltage
    # loop holds the EMF's magnitude within a few 1e-4 pu, where the quasi-static step holds both
    assert share_rms == pytest.approx(share_q, rel=0.03)
    # the settling, step by step: the quasi-static loop's explicit update is within dt/τ ≈ 2.5 %
    # of the initial share of the continuous decay, the RMS within half of that; 4 % of the share
    tail = slice(edge, n)
    assert np.max(np.abs(rms[tail] - q[tail])) <= 0.04 * abs(q[edge])
    assert abs(rms[-1]) < 0.1 * abs(rms[edge])  # it did settle towards the set-point


def test_droop_steady_state_is_the_droop_law():
    """A grid equivalent with no damping and no governor (GENCLS, D = 0, 2 GVA, H 1 s): after a
    30-MW campus edge the machine's power must return to its mechanical power, so in steady state
    the droop plant carries the edge, and the frequency settles where the droop law puts it:
    ω − 1 = m_p (P_set − P) on the plant's MVA (hand: Δf = 60 Hz · 0.05 · ΔP / 618 MVA)."""
    site = load_site(SITE)
    control = GridFormingControl(loop="droop", mp=0.05, tau_p_s=0.02)
    grid = GridEquivalentSpec(model="GENCLS", mva_base=2000.0, h_s=1.0, d_pu=0.0)
    dt, n = 0.02, 301
    t = np.arange(n) * dt
    case, _ = _edge_case(site, control, t, 150.0, 180.0, 0.5)
    r = run_case(case, grid, dt, plant="model")
    assert r.summary["converged"]
    s = r.series
    sn = float(site.net.storage.sn_mva.sum())
    p_end = -float(s["plant_p_mw"].iloc[-1])  # generator sign
    f_end = float(s["freq_hz"].iloc[-1])
    # the plant carries the edge: 30 MW and the change of the losses between the POI and the grid
    # machine (the 161-kV lines and the source impedance: a few 0.1 MW at 180 MW); 2 %
    assert p_end == pytest.approx(30.0, rel=0.02)
    # the droop law by hand at the plant's measured output: 0.05 × 30 / 618 × 60 Hz ≈ 0.146 Hz low;
    # 1 %: the frequency is the grid machine's speed (the plant's, in steady state) and the plant's
    # loop filters its power with 20 ms — both settled after 5.5 s (τ ≈ 2H S_g m_p / S_n ≈ 0.3 s)
    df_hand = -60.0 * control.mp * p_end / sn
    assert f_end - 60.0 == pytest.approx(df_hand, rel=0.01)
