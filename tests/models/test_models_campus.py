"""AI training campus load: means, ramps, spectrum, energy-correct averaging, determinism."""

import numpy as np
import pandas as pd
import pytest

from gridstudy.models.campus import CampusLoadParams, campus_load, expected_mean_p_mw, gpus_for_peak, nominal_peak_p_mw
from gridstudy.models.errors import ModelError
from gridstudy.models.timeindex import make_index, step_seconds


def _steady(**kw) -> CampusLoadParams:
    base = dict(gpus=1000, checkpoint_interval_s=None, interruptions_per_day=0.0)
    base.update(kw)
    return CampusLoadParams(**base)


def test_mean_is_gpus_times_power_times_pue():
    # hand calculation: per GPU, compute 700 W for 70 % of each iteration and 700 x (1 - 0.6) =
    # 280 W for 30 %: 700 x 0.82 = 574 W; node overhead x 1.5 -> 861 W IT; PUE 1.3 -> 1119.3 W.
    # 1000 GPUs -> 1.1193 MW.
    p = _steady()
    assert expected_mean_p_mw(p) == pytest.approx(1.1193, rel=1e-12)
    df = campus_load(make_index("2025-01-01", 3600, 1.0), p)
    # the hour holds ~2400 whole iterations; the partial last one and the random periods move the
    # mean by at most one iteration's swing over the horizon (~1.5 s x 0.6 / 3600 s ~ 3e-4)
    assert df["campus_p_mw"].mean() == pytest.approx(1.1193, rel=1e-3)
    # cooling starts in steady state: facility = (PUE - 1) x IT on average
    assert df["facility_p_mw"].mean() == pytest.approx(0.3 * df["it_p_mw"].mean(), rel=1e-3)
    # the peak: all GPUs at TDP: 1000 x 700 W x 1.5 x 1.3 = 1.365 MW
    assert nominal_peak_p_mw(p) == pytest.approx(1.365, rel=1e-12)
    assert gpus_for_peak(300.0, p) == round(300.0 / 1.365e-3)


def test_coarse_step_carries_the_energy_of_the_fine_series():
    p = CampusLoadParams(gpus=20_000, checkpoint_interval_s=600.0, interruptions_per_day=50.0, job_start_s=300.0,
                         job_stop_s=6000.0, trip_at_s=3000.0, trip_drop_s=0.5, seed=7)
    fine = campus_load(make_index("2025-01-01", 7200, 1.0), p)
    coarse = campus_load(make_index("2025-01-01", 7200, 3600.0), p)
    e_fine = fine["campus_p_mw"].sum() * 1.0
    e_coarse = coarse["campus_p_mw"].sum() * 3600.0
    # both integrate the same piecewise-linear draw exactly on the same segments, plus the step
    # edges; only segments where two envelope ramps cross, and the trip-recovery ramp times the
    # exponential cooling lag, carry a second-order error on sub-second segments (seen: 1e-9)
    assert e_coarse == pytest.approx(e_fine, rel=1e-7)
    # a coarse value is the average of the fine ones, never a sample
    np.testing.assert_allclose(coarse["campus_p_mw"].to_numpy(),
                               fine["campus_p_mw"].to_numpy().reshape(2, 3600).mean(axis=1), rtol=1e-7)
    ms = campus_load(make_index("2025-01-01", 600, 0.01), p.replace(job_start_s=None, job_stop_s=None, trip_at_s=None))
    s1 = campus_load(make_index("2025-01-01", 600, 1.0), p.replace(job_start_s=None, job_stop_s=None, trip_at_s=None))
    np.testing.assert_allclose(ms["campus_p_mw"].to_numpy().reshape(600, 100).mean(axis=1),
                               s1["campus_p_mw"].to_numpy(), rtol=1e-9)


def test_swing_energy_sits_between_0p2_and_3_hz():
    # a square wave of duty 0.7 at 1/1.5 s puts sin^2(pi n D)/n^2 of its power in harmonic n:
    # n = 1..4 (0.67-2.67 Hz) hold 0.912 / 1.036 = 88 % of the swing power, n = 5 (3.33 Hz) 3.9 %
    p = _steady(pue=1.0)
    df = campus_load(make_index("2025-01-01", 600, 0.05), p)
    x = df["campus_p_mw"].to_numpy() - df["campus_p_mw"].mean()
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 0.05)
    frac = spec[(f >= 0.2) & (f <= 3.0)].sum() / spec[1:].sum()
    # jitter smears the harmonics a little and the 50 ms averaging damps the upper ones
    assert frac > 0.8
    # the swing itself: compute 1000 x 700 x 1.5 W = 1.05 MW, communication 0.42 MW
    assert df["campus_p_mw"].max() == pytest.approx(1.05, rel=1e-9)
    assert df["campus_p_mw"].min() == pytest.approx(0.42, rel=1e-9)


def test_job_start_and_stop_ramps_follow_the_parameters():
    # no swing and PUE 1 so that the draw is the envelope alone: idle 1000 x 70 W x 1.5 = 0.105 MW,
    # full 1.05 MW; start ramp 60 s -> (1.05 - 0.105) / 60 = 0.01575 MW/s; stop ramp 10 s
    p = _steady(pue=1.0, swing_depth=0.0, job_start_s=100.0, job_stop_s=400.0, start_ramp_s=60.0, stop_ramp_s=10.0)
    df = campus_load(make_index("2025-01-01", 600, 1.0), p)
    x = df["campus_p_mw"].to_numpy()
    assert x[:100] == pytest.approx(0.105, rel=1e-12)
    assert x[160:400] == pytest.approx(1.05, rel=1e-12)
    assert x[410:] == pytest.approx(0.105, rel=1e-12)
    d = np.diff(x)
    assert d.max() == pytest.approx(0.945 / 60.0, rel=1e-9)
    assert d.min() == pytest.approx(-0.945 / 10.0, rel=1e-9)


def test_checkpoint_dips_to_idle_and_trip_drops_grid_draw_to_zero():
    p = _steady(pue=1.0, swing_depth=0.0, checkpoint_interval_s=300.0, checkpoint_duration_s=20.0,
                trip_at_s=500.0, trip_duration_s=30.0, trip_recovery_s=60.0)
    df = campus_load(make_index("2025-01-01", 700, 1.0), p)
    # checkpoint at 300 s: down in 1/1.9 s, 20 s at idle, back in 1/1.9 s
    assert df["campus_p_mw"].iloc[305:315].to_numpy() == pytest.approx(0.105, rel=1e-12)
    assert df["campus_p_mw"].iloc[500:530].abs().max() == 0.0
    assert df["it_p_mw"].iloc[510] == pytest.approx(1.05, rel=1e-12)  # IT keeps running on backup
    # recovery: linear from 0 to full over 60 s -> the step 530-531 s averages 0.5/60 of full
    assert df["campus_p_mw"].iloc[530] == pytest.approx(1.05 * 0.5 / 60, rel=1e-9)
    assert df["campus_p_mw"].iloc[595] == pytest.approx(1.05, rel=1e-12)


def test_same_seed_same_bytes_different_seed_different_series():
    idx = make_index("2025-01-01", 900, 0.5)
    p = CampusLoadParams(gpus=5000, interruptions_per_day=200.0, seed=3)
    a, b = campus_load(idx, p), campus_load(idx, p)
    assert a.to_numpy().tobytes() == b.to_numpy().tobytes()
    c = campus_load(idx, p.replace(seed=4))
    assert not np.array_equal(a["campus_p_mw"].to_numpy(), c["campus_p_mw"].to_numpy())


def test_bad_parameters_are_listed_with_field_names():
    with pytest.raises(ModelError) as exc:
        CampusLoadParams(gpus=-3, pue=0.5, gpu_model="tpu")
    assert exc.value.fields == ["campus.gpus", "campus.gpu_model", "campus.pue"]
    assert isinstance(exc.value, ValueError)


def test_uneven_index_is_rejected():
    idx = pd.DatetimeIndex(["2025-01-01 00:00:00", "2025-01-01 00:00:01", "2025-01-01 00:00:03"])
    with pytest.raises(ModelError, match="not uniform"):
        campus_load(idx, _steady())
    with pytest.raises(ModelError, match="step must lie"):
        step_seconds(pd.date_range("2025-01-01", periods=3, freq="2h"))


@pytest.mark.parametrize("kw", [{}, {"job_start_s": 1800.0, "checkpoint_interval_s": 1800.0, "interruptions_per_day": 6.0},
                                {"job_start_s": 100.0, "job_stop_s": 50_000.0, "checkpoint_interval_s": 600.0,
                                 "checkpoint_duration_s": 30.0, "interruptions_per_day": 40.0, "restart_s": 120.0}])
def test_activity_near_transitions_only_equals_activity_everywhere(kw):
    # the campus model evaluates its activity only near envelope transitions and takes 1 elsewhere;
    # at random times, on every breakpoint, one ulp either side and at the margin, the values are
    # those of the whole evaluation, bit for bit (parts of the horizon and unsorted times too)
    import gridstudy.models.campus as campus

    p = CampusLoadParams(gpus=1000, seed=3, **kw)
    horizon = 3 * 86_400.0
    env = campus._Envelope(p, horizon, campus._interruptions(p, horizon, np.random.default_rng(5)))
    bp = env.breakpoints(0.0, horizon)
    m = campus._ACTIVE_MARGIN_S
    special = np.concatenate([bp, np.nextafter(bp, -np.inf), np.nextafter(bp, np.inf), bp - m, bp + m])
    rng = np.random.default_rng(0)
    t = np.sort(np.concatenate([rng.uniform(0.0, horizon, 100_000), special[(special >= 0) & (special <= horizon)]]))
    assert (env.activity(t) < 1).any() or not kw  # transitions present where the parameters make them
    for a, b in [(0, len(t)), (1_000, 50_000), (len(t) // 2, len(t))]:
        np.testing.assert_array_equal(env.activity_sorted(t[a:b]), env.activity(t[a:b]))
    shuffled = rng.permutation(t[:5_000])
    np.testing.assert_array_equal(env.activity_sorted(shuffled), env.activity(shuffled))
