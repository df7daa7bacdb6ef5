"""The one-machine system-frequency-response model against its closed form.

Anderson and Mirheydar, "A low-order system frequency response model", IEEE Trans. Power Systems
5(3), 1990: for a step ΔP (per unit on the online generation) the speed deviation is

    Δω(t) = R·ΔP/(DR + Km) · [1 + α·exp(−ζ·ω_n·t)·sin(ω_r·t + φ)]

with ω_n² = (DR + Km)/(2HRT_R), ζ = ω_n·(2HR + (DR + Km·F_H)·T_R)/(2(DR + Km)),
ω_r = ω_n·√(1 − ζ²), α = √((1 − 2T_R·ζ·ω_n + T_R²·ω_n²)/(1 − ζ²)), φ = φ1 − φ2,
φ1 = atan(ω_r·T_R/(1 − ζ·ω_n·T_R)), φ2 = atan(√(1 − ζ²)/(−ζ)) (both taken in their quadrant), and
the extreme at t_z = atan(ω_r·T_R/(ζ·ω_n·T_R − 1))/ω_r.
"""

import math

import pytest

from gridstudy.studies.criteria.frequency import (
    ERCOT_SFR,
    SystemFrequencyResponse,
    frequency_screen,
    sfr_extreme,
    sfr_trajectory,
)


def closed_form(p: SystemFrequencyResponse, dp_pu: float):
    h, r, d, km, fh, tr = p.h_s, p.r_pu, p.d_pu, p.km, p.f_h, p.t_r_s
    wn = math.sqrt((d * r + km) / (2 * h * r * tr))
    zeta = wn * (2 * h * r + (d * r + km * fh) * tr) / (2 * (d * r + km))
    wr = wn * math.sqrt(1 - zeta**2)
    alpha = math.sqrt((1 - 2 * tr * zeta * wn + tr**2 * wn**2) / (1 - zeta**2))
    phi = math.atan2(wr * tr, 1 - zeta * wn * tr) - math.atan2(math.sqrt(1 - zeta**2), -zeta)
    ss = r * dp_pu / (d * r + km)

    def dw(t):
        return ss * (1 + alpha * math.exp(-zeta * wn * t) * math.sin(wr * t + phi))

    tz = math.atan2(wr * tr, zeta * wn * tr - 1) / wr
    return dw, tz, zeta


# a textbook system (Anderson & Mirheydar's typical reheat values): H 4 s, R 5 %, T_R 8 s, F_H 0.3,
# Km 0.95, D 1, and a 10 % load loss
P = SystemFrequencyResponse("test", base_mw=10_000.0, inertia_mws=40_000.0, r_pu=0.05, t_r_s=8.0, f_h=0.3,
                            km=0.95, d_pu=1.0)


@pytest.mark.parametrize("params", [P, ERCOT_SFR])
def test_extreme_matches_the_closed_form(params):
    surplus_mw = 0.1 * params.base_mw
    dw, tz, zeta = closed_form(params, 0.1)
    assert 0 < zeta < 1  # underdamped: the closed form above applies
    assert dw(0.0) == pytest.approx(0.0, abs=1e-12)  # the phase is right: no deviation at the step
    ext = sfr_extreme(params, surplus_mw)
    # the ODE is integrated to rtol 1e-10 and the event located to machine precision along the
    # dense output: 1e-6 s and 1e-7 Hz leave margin for both and are far below what is judged
    assert ext.t_s == pytest.approx(tz, abs=1e-6)
    assert ext.f_hz == pytest.approx(params.f0_hz * (1 + dw(tz)), abs=1e-7)
    assert ext.f_hz > params.f0_hz  # a load loss raises frequency
    # the linear model is symmetric: a pickup of the same MW gives the mirror nadir
    down = sfr_extreme(params, -surplus_mw)
    assert down.f_hz - params.f0_hz == pytest.approx(-(ext.f_hz - params.f0_hz), abs=1e-7)
    # and the trajectory settles at f0 (1 + R ΔP / (DR + Km)) (0.5 mHz: 120 s leaves a decayed tail)
    tr = sfr_trajectory(params, surplus_mw, t_end_s=120.0)
    assert tr.iloc[-1] == pytest.approx(params.f0_hz * (1 + 0.05 * 0.1 / (params.d_pu * 0.05 + params.km)), abs=5e-4)
    assert tr.iloc[0] == params.f0_hz
    for t in (1.0, 5.0, 20.0):  # the trajectory follows the closed form (1e-7 Hz as above)
        assert tr.loc[t] == pytest.approx(params.f0_hz * (1 + dw(t)), abs=1e-7)


def test_screen_against_limits_ercot_resource_contingency():
    # hand numbers for ERCOT_SFR (H 2.5 s, Km 0.6): the 2,750 MW resource contingency at the
    # critical inertia must land just above the 59.3 Hz UFLS stage — the calibration stated in
    # docs/sources/criteria.md §10; a 300 MW load loss is a small zenith well below 60.6 Hz
    dw, tz, _ = closed_form(ERCOT_SFR, -2750.0 / ERCOT_SFR.base_mw)
    nadir = 60.0 * (1 + dw(tz))
    assert 59.3 < nadir < 59.4
    s = frequency_screen(ERCOT_SFR, loss_mw=300.0, pickup_mw=2750.0)
    assert s["frequency_nadir_hz"] == pytest.approx(nadir, abs=1e-7)
    assert s["frequency_pass"] is True
    # 4,000 MW returning at once would pass the UFLS stage: the screen fails
    assert frequency_screen(ERCOT_SFR, loss_mw=300.0, pickup_mw=4000.0)["frequency_pass"] is False
    # without a pickup there is no nadir
    assert frequency_screen(ERCOT_SFR, loss_mw=300.0)["frequency_nadir_hz"] is None
