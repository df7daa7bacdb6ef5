"""IEC 61000-4-15 flickermeter on RMS series, against the standard's own performance tables.

Expected values are those of IEC 61000-4-15:2010 (edition 2):

- Table 5 (rectangular fluctuations giving Pst = 1.00, tolerance +-5 %), 230-V lamp / 50-Hz column
  and 120-V lamp / 60-Hz column (the lamp the North American practice of IEEE 1453 uses);
- Table 1 (sinusoidal fluctuations giving P_inst,max = 1.00), same two columns. The 2010 edition
  allows +-8 % there; these tests hold the +-5 % of Table 5.

The 2003 edition (1997 + A1) printed slightly different Table 5 figures for the 230-V lamp (2.724,
2.211, 1.459, 0.906, 0.725, 0.402 %) and docs/sources/criteria.md section 4 mixes the two editions;
the largest difference (0.402 against 0.407 % at 1620 changes/min) is 1.3 %, inside the
tolerance either way. Figures cross-checked against the transcription of all tables in the Czech
metrology institute's flicker_sim verification script (qwtb, verify_flicker_sim.m).

Construction of the test series (the flickermeter takes RMS values, not the waveform). A
fluctuation of ``dV/V`` (peak-to-peak, as the tables give it) around 1 pu is
``v(t) = 1 + (dV/V)/2 * s(t)`` with ``s = sin(2 pi f t)`` (Table 1) or ``s = +-1`` changing
``cpm`` times a minute (Table 5: a square wave of frequency ``cpm/120`` Hz). The series holds, for
each step ``[t, t + h)``, the RMS over that step (``sample="mean"``, what a QSTS step mean or a
recorder's window RMS is): ``sqrt(mean of v(t)^2 over the step)``, integrated in closed form; or
the instantaneous envelope ``v(t)`` (``sample="point"``). Steps: 20 ms (the studies' default) and
10 ms and 50 ms. Points above 0.9 x the Nyquist frequency of the step (22.5 Hz at 20 ms, 9 Hz at
50 ms) are out of reach of the series and skipped explicitly, as is the 50-ms judgement of
isolated steps (1 and 2 changes/min), which the sampling itself leaves uncertain by -23 %/+19 %
(shown by its own test below).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from gridstudy.studies.criteria import (
    FLICKER_MV,
    CriteriaError,
    FlickerLevels,
    flickermeter,
    flickermeter_finding,
    plt_from_pst,
    pst_from_p_inst,
)
from gridstudy.studies.criteria.flickermeter import analog_scale

STEPS_S = (0.010, 0.020, 0.050)
LEAD_S = 30.0  # lead-in before the 10-min observation interval (settle_s), filters run through it

# IEC 61000-4-15:2010 Table 5: changes per minute -> dV/V [%] giving Pst = 1.00
TABLE5 = {
    "230V": {1: 2.715, 2: 2.191, 7: 1.450, 39: 0.894, 110: 0.722, 1620: 0.407},
    "120V": {1: 3.181, 2: 2.564, 7: 1.694, 39: 1.040, 110: 0.844, 1620: 0.548},
}
# IEC 61000-4-15:2010 Table 1: frequency [Hz] -> dV/V [%] giving P_inst,max = 1.00 (a selection)
TABLE1 = {
    "230V": {0.5: 2.325, 1.0: 1.397, 2.0: 0.879, 5.0: 0.396, 8.8: 0.250, 10.0: 0.261, 15.0: 0.438,
             20.0: 0.704, 25.0: 1.037},
    "120V": {0.5: 2.453, 1.0: 1.465, 2.0: 0.942, 5.0: 0.466, 8.8: 0.321, 10.0: 0.341, 15.0: 0.592,
             20.0: 0.977, 25.0: 1.464},
}
TOL = 0.05  # the standard's +-5 % on Pst (Table 5), held for P_inst,max too


def _series(values: np.ndarray, step_s: float) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2026-07-01", periods=len(values),
                                                 freq=pd.Timedelta(seconds=step_s)))


def _rect_rms(cpm: float, dvv_pct: float, step_s: float, *, phase: float = 0.0,
              length_s: float = LEAD_S + 610.0) -> pd.Series:
    """Step-mean RMS of a rectangular fluctuation of ``dvv_pct`` at ``cpm`` changes a minute.

    Changes at ``t_j = LEAD_S + (j + 1/2) * D + phase * step_s`` (``D = 60 / cpm`` s, all ``j``),
    so the 10-min interval from ``LEAD_S`` holds exactly ``10 * cpm`` changes, each ``phase`` of a
    step after a step boundary. With ``v = 1 + d/2 s``, ``s = +-1``: ``v^2 = 1 + d^2/4 + d s``;
    the mean of ``s`` over ``[t, t + h)`` is ``(S(t + h) - S(t)) / h`` with ``S`` the integral of
    ``s``, a triangle wave (``r`` for ``r < D``, ``2 D - r`` after, ``r = (t - t_0) mod 2 D``).
    """
    n = int(round(length_s / step_s))
    t = np.arange(n) * step_s
    d = dvv_pct / 100.0
    period = 60.0 / cpm
    t0 = LEAD_S + period / 2 + phase * step_s

    def integral(tt: np.ndarray) -> np.ndarray:
        r = np.mod(tt - t0, 2 * period)
        return np.where(r < period, r, 2 * period - r)

    mean_s = (integral(t + step_s) - integral(t)) / step_s
    return _series(np.sqrt(1.0 + d * d / 4 + d * mean_s), step_s)


def _sine_rms(f_hz: float, dvv_pct: float, step_s: float, sample: str, *,
              length_s: float = 90.0) -> pd.Series:
    """RMS series of a sinusoidal fluctuation ``v = 1 + a sin(w t)``, ``a = (dV/V)/2``.

    ``"mean"``: ``sqrt`` of the mean of ``v^2 = 1 + 2 a sin + a^2 sin^2`` over each step, from
    ``int sin = -cos/w`` and ``int sin^2 = t/2 - sin(2 w t)/(4 w)``; ``"point"``: ``v(t)``.
    """
    n = int(round(length_s / step_s))
    t = np.arange(n) * step_s
    a = dvv_pct / 200.0
    w = 2 * math.pi * f_hz
    if sample == "point":
        return _series(1.0 + a * np.sin(w * t), step_s)
    m1 = (np.cos(w * t) - np.cos(w * (t + step_s))) / (w * step_s)
    m2 = 0.5 - (np.sin(2 * w * (t + step_s)) - np.sin(2 * w * t)) / (4 * w * step_s)
    return _series(np.sqrt(1.0 + 2 * a * m1 + a * a * m2), step_s)


def _pst(v: pd.Series, lamp: str = "230V") -> float:
    r = flickermeter(v, lamp=lamp, settle_s=LEAD_S)
    assert len(r.intervals) == 1 and not r.intervals["partial"].iloc[0]  # one full 10-min interval
    return float(r.pst.iloc[0])


# --- Table 5: rectangular fluctuations, Pst = 1 ---------------------------------------------------

@pytest.mark.parametrize("step_s", STEPS_S)
@pytest.mark.parametrize("cpm", [7, 39, 110, 1620])
@pytest.mark.parametrize("lamp", ["230V", "120V"])
def test_table5_trains_of_changes_give_pst_1(lamp, cpm, step_s):
    if cpm / 120.0 > 0.45 / step_s:
        pytest.skip(f"{cpm} changes/min = {cpm / 120:g} Hz square wave, above 0.9 x Nyquist of {step_s * 1e3:g} ms")
    # changes on step boundaries; with 7 or more a minute they fall at all phases of the step
    # (the period is no multiple of it), the phase of the first does not matter (< 0.5 %)
    assert _pst(_rect_rms(cpm, TABLE5[lamp][cpm], step_s), lamp) == pytest.approx(1.0, abs=TOL)


@pytest.mark.parametrize("step_s", [0.010, 0.020])
@pytest.mark.parametrize("cpm", [1, 2])
@pytest.mark.parametrize("lamp", ["230V", "120V"])
def test_table5_isolated_changes_give_pst_1_over_the_phase_of_the_change(lamp, cpm, step_s):
    # 1 or 2 changes a minute: every change falls at the same phase of its step (60 s and 30 s
    # are multiples of the step), and an isolated step's reading depends on that phase (module
    # notes). Averaged over four phases the reading is unbiased: within the standard's 5 %.
    # Each phase: within 5 % at 10 ms; at 20 ms within the sampling spread of +7 % (change on a
    # step boundary) .. -4 % (mid-step), bounded here by 8 %.
    psts = [_pst(_rect_rms(cpm, TABLE5[lamp][cpm], step_s, phase=ph), lamp) for ph in (0.0, 0.25, 0.5, 0.75)]
    assert np.mean(psts) == pytest.approx(1.0, abs=TOL)
    each = TOL if step_s <= 0.010 else 0.08
    assert max(abs(p - 1.0) for p in psts) <= each
    assert psts[0] == max(psts)  # on the boundary the step looks sharpest: the highest reading


def test_fifty_ms_cannot_judge_isolated_steps():
    # the reason 1 and 2 changes/min are skipped at 50 ms: the same change read at four phases
    # of the step spreads by more than the standard's whole tolerance band (10 %)
    psts = [_pst(_rect_rms(1, TABLE5["230V"][1], 0.050, phase=ph)) for ph in (0.0, 0.25, 0.5, 0.75)]
    assert max(psts) - min(psts) > 2 * TOL


# --- Table 1: sinusoidal fluctuations, P_inst,max = 1 ----------------------------------------------

@pytest.mark.parametrize("sample", ["mean", "point"])
@pytest.mark.parametrize("step_s", STEPS_S)
@pytest.mark.parametrize("lamp", ["230V", "120V"])
def test_table1_sinusoidal_gives_p_inst_max_1(lamp, step_s, sample):
    checked = 0
    for f_hz, dvv in TABLE1[lamp].items():
        if f_hz > 0.45 / step_s:
            continue  # above 0.9 x Nyquist of the step: 25 Hz at 20 ms; 10 Hz and up at 50 ms
        r = flickermeter(_sine_rms(f_hz, dvv, step_s, sample), lamp=lamp, sample=sample, settle_s=20.0)
        assert r.p_inst_max == pytest.approx(1.0, abs=TOL), f"{f_hz} Hz"
        checked += 1
    assert checked >= 5


def test_reference_point_and_step_mean_correction():
    # 8.8 Hz, 0.250 %: the calibration point of the 230-V lamp gives 1 to 1 %; read without the
    # step-mean correction (step means taken for points) it loses sinc(8.8 Hz * 20 ms)^2 = 0.90
    v = _sine_rms(8.8, 0.250, 0.020, "mean")
    assert flickermeter(v, settle_s=20.0).p_inst_max == pytest.approx(1.0, abs=0.01)
    wrong = flickermeter(v, sample="point", settle_s=20.0).p_inst_max
    assert wrong == pytest.approx(np.sinc(8.8 * 0.020) ** 2, abs=0.01)


def test_scale_matches_the_published_constant():
    # the block-4 scale follows from the demodulator relation x = ((v/v_ref)^2 - 1)/2 ~ dv/v
    # (factor 1 between RMS modulation and weighting-filter input); the 230-V chain normalised the
    # same way is published with the constant 1 238 400 (W. Mombauer, Messung von
    # Spannungsschwankungen und Flickern mit dem IEC-Flickermeter, VDE-Verlag), 5 digits: 1e-4
    assert analog_scale("230V") == pytest.approx(1_238_400, rel=1e-4)


# --- properties and bookkeeping -----------------------------------------------------------------

def test_pst_is_proportional_to_the_fluctuation_and_unit_free():
    v = _rect_rms(39, 0.894, 0.020)
    p1 = _pst(v)
    # P_inst ~ (dV/V)^2 and Pst ~ sqrt(P_inst): doubling dV/V doubles Pst (second-order terms of
    # the demodulator, m^2/2 with m = 0.9 %, stay below 0.5 %)
    assert _pst(_rect_rms(39, 2 * 0.894, 0.020)) / p1 == pytest.approx(2.0, rel=0.005)
    # volts or pu: only ratios enter
    assert _pst(v * 230.0) == pytest.approx(p1, rel=1e-9)


def test_steady_voltage_gives_zero():
    r = flickermeter(_series(np.full(40_000, 1.02), 0.020))
    assert r.pst_max == pytest.approx(0.0, abs=1e-12) and r.p_inst_max == pytest.approx(0.0, abs=1e-12)


def test_classifier_of_a_constant_sensation_by_hand():
    # every percentile equals c: Pst = sqrt(c (0.0314 + 0.0525 + 0.0657 + 0.28 + 0.08)) = sqrt(0.5096 c)
    pst, lv = pst_from_p_inst(np.full(1000, 2.0))
    assert pst == pytest.approx(math.sqrt(0.5096 * 2.0), rel=1e-12)
    assert lv["p50s"] == pytest.approx(2.0)
    # P0.1 is the level exceeded 0.1 % of the time: with 1 % of samples at 100 it is 100
    p = np.r_[np.zeros(9900), np.full(100, 100.0)]
    assert pst_from_p_inst(p)[1]["p0_1"] == pytest.approx(100.0)


def test_plt_is_the_cubic_mean_of_12():
    lt = plt_from_pst(np.r_[np.ones(6), np.zeros(6), [2.0]])
    assert lt["plt"].iloc[0] == pytest.approx(0.5 ** (1 / 3))  # (6 / 12)^(1/3)
    assert list(lt["n_pst"]) == [12, 1] and list(lt["complete"]) == [True, False]
    assert lt["plt"].iloc[1] == pytest.approx(2.0)  # one value: its own cubic mean, marked incomplete


def test_ten_minutes_at_20ms_well_under_a_second():
    v = _rect_rms(110, 0.722, 0.020)
    flickermeter(v, settle_s=LEAD_S)  # filter design is cached per lamp and step
    best = min(_timed(lambda: flickermeter(v, settle_s=LEAD_S)) for _ in range(3))
    assert best < 1.0  # typically 0.06-0.1 s on one core


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def test_series_shorter_than_ten_minutes_gets_its_own_pst_marked_partial():
    # 39 changes/min is stationary: over 5 min it still reads Pst = 1 (within the 5 %)
    v = _rect_rms(39, 0.894, 0.020, length_s=LEAD_S + 300.0)
    r = flickermeter(v, settle_s=LEAD_S)
    assert len(r.intervals) == 1 and bool(r.intervals["partial"].iloc[0])
    assert r.intervals["seconds"].iloc[0] == pytest.approx(300.0 - r.lookahead_s)
    assert r.pst.iloc[0] == pytest.approx(1.0, abs=TOL)
    assert np.isnan(r.p_inst.iloc[-1]) and r.lookahead_s == pytest.approx(64 * 0.020)


def test_two_hours_give_twelve_intervals_and_a_complete_plt():
    v = _rect_rms(110, 0.722, 0.050, length_s=LEAD_S + 7200.0 + 5.0)
    r = flickermeter(v, settle_s=LEAD_S)
    assert len(r.intervals) == 12 and not r.intervals["partial"].any()
    assert bool(r.plt["complete"].iloc[0])
    assert r.plt_max == pytest.approx(1.0, abs=TOL)  # a steady Pst of 1 for 2 h: Plt 1


@pytest.mark.parametrize(("series", "kw", "field"), [
    (lambda: _series(np.ones(3600), 1.0), {}, "vm.index"),              # the 1-s series: refused
    (lambda: _series(np.ones(2000), 0.020), {}, "vm"),                  # 40 s: below 60 s
    (lambda: _series(-np.ones(5000), 0.020), {}, "vm"),                 # not an RMS value
    (lambda: _series(np.ones(5000), 0.020), {"lamp": "100V"}, "lamp"),
    (lambda: _series(np.ones(5000), 0.020), {"sample": "avg"}, "sample"),
])
def test_bad_input_is_refused_naming_the_field(series, kw, field):
    with pytest.raises(CriteriaError) as e:
        flickermeter(series(), **kw)
    assert any(p.path == field for p in e.value.problems)


def test_uneven_steps_are_refused():
    idx = pd.DatetimeIndex(pd.date_range("2026-07-01", periods=5000, freq="20ms").asi8 + np.r_[0, 1, np.zeros(4998, int)])
    with pytest.raises(CriteriaError):
        flickermeter(pd.Series(np.ones(5000), index=idx))


# --- the finding --------------------------------------------------------------------------------

def test_finding_against_planning_levels():
    fail = flickermeter_finding(_rect_rms(39, 0.894, 0.020), FLICKER_MV, settle_s=LEAD_S)
    assert not fail.passed and fail.events == 1  # Pst ~ 1.0 > 0.9
    assert fail.worst_value == pytest.approx(1.0, abs=TOL)
    d = fail.details
    assert d["method"] == "iec61000-4-15" and d["lamp"] == "230V" and d["step_s"] == pytest.approx(0.020)
    assert d["pst_max"] == pytest.approx(fail.worst_value) and d["plt_max"] == pytest.approx(d["pst_max"])
    assert d["plt_complete"] is False and "not 12" in fail.note
    assert fail.to_dict()["pass"] is False
    # half the fluctuation: Pst ~ 0.5 (proportional), below both MV levels
    ok = flickermeter_finding(_rect_rms(39, 0.447, 0.020), FLICKER_MV, settle_s=LEAD_S)
    assert ok.passed and ok.events == 0 and ok.seconds_outside == 0.0
    assert ok.details["pst_max"] == pytest.approx(0.5, abs=0.5 * TOL)


def test_finding_120v_lamp_and_emission_limit():
    # the same 39 changes/min at the 230-V lamp's Pst = 1 amplitude reads lower on the 120-V lamp,
    # by the ratio of the two Table 5 amplitudes (0.894 / 1.040 = 0.86)
    emission = FlickerLevels(0.9, 0.9, "emission limit", "study-specific emission limit", check=True)
    f = flickermeter_finding(_rect_rms(39, 0.894, 0.020), emission, lamp="120V", settle_s=LEAD_S)
    assert f.details["lamp"] == "120V"
    assert f.details["pst_max"] == pytest.approx(0.894 / 1.040, rel=TOL)
    assert f.passed and f.limits[0].name == "Pst planning level emission limit"


def test_emission_allocation_by_hand():
    """IEC 61000-3-7 Stage 2 with L_HV = 0.8, L_EHV = 0.8, T = 0.8, S_i/S_t = 0.5, α = 3:
    G = (0.8³ - (0.8 x 0.8)³)^(1/3) = 0.249856^(1/3) = 0.629840; E_i = G x 0.5^(1/3) = 0.499904;
    a campus Pst of 0.4 over a background of 0.3 totals (0.4³ + 0.3³)^(1/3) = 0.091^(1/3) = 0.449794.
    (Tolerance 1e-6: the hand figures are written to six decimals.)"""
    from gridstudy.studies.criteria.flickermeter import FlickerAllocation, emission_finding

    a = FlickerAllocation(upstream_pst=0.8, transfer_coefficient=0.8, share=0.5, background_pst=0.3)
    assert a.global_pst(0.8) == pytest.approx(0.629840, abs=1e-6)
    assert a.emission_limit(0.8) == pytest.approx(0.499904, abs=1e-6)
    assert a.total(0.4) == pytest.approx(0.449794, abs=1e-6)
    assert emission_finding(0.4, 0.8, a).passed
    assert not emission_finding(0.55, 0.8, a).passed  # above its own 0.4999, though the total 0.59 < 0.8
