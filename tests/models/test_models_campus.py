"""AI training campus load: means, ramps, spectrum, energy-correct averaging, determinism."""

import numpy as np
import pandas as pd
import pytest

from gridstudy.models.campus import (
    CampusLoadParams,
    _interruptions,
    _realization_rngs,
    campus_load,
    expected_mean_p_mw,
    gpus_for_peak,
    job_start_fraction,
    nominal_peak_p_mw,
    swing_amplitude_p_mw,
)
from gridstudy.models.errors import ModelError
from gridstudy.models.gpu_smoothing import GpuSmoothing
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


# -- the load model of issue 21 item 5: interruption rate, node swing share, one job-start ramp


def test_interruption_rate_is_derived_from_the_failure_rate_and_the_gpu_count():
    # Llama 3 (arXiv:2407.21783): 419 unexpected interruptions in 54 days on 16,384 H100 GPUs,
    # 419 / (54 x 16,384) = 4.736e-4 per GPU-day; the model's default rounds it to 4.74e-4
    assert CampusLoadParams().failure_rate_per_gpu_day == pytest.approx(419 / (54 * 16_384), rel=1e-3)
    # the demo's campus: 219,780 GPUs in one synchronous job -> 219,780 x 4.74e-4 = 104.18 a day
    p = CampusLoadParams(gpus=219_780)
    assert p.interruptions_per_day is None
    assert p.interruption_rate_per_day == pytest.approx(104.17572, rel=1e-12)
    # Llama 3's own cluster gets back its 419 / 54 = 7.76 a day (within the default's rounding)
    assert CampusLoadParams(gpus=16_384).interruption_rate_per_day == pytest.approx(419 / 54, rel=1e-3)
    # a rate given explicitly wins; the failure rate then plays no part
    assert CampusLoadParams(gpus=219_780, interruptions_per_day=4.0).interruption_rate_per_day == 4.0
    assert CampusLoadParams(gpus=219_780, failure_rate_per_gpu_day=0.0).interruption_rate_per_day == 0.0


def test_derived_interruptions_happen_at_the_derived_rate():
    # 100,000 GPUs -> 47.4 a day; a failure during the 360.5-s dead time (1/1.9 s down, 300 s at
    # idle, 60 s restart ramp) is folded in, so a Poisson stream of rate r keeps r / (1 + r w):
    # 47.4 / (1 + 47.4 x 360.53 / 86400) = 39.56 a day; over 30 days (1,187 expected) the count's
    # standard deviation is under sqrt(1187) = 34.5 (the dead time makes it more regular), so
    # 4 % (47) is more than 1.3 of them -- and far from the 1,422 the undepleted rate would give
    p = CampusLoadParams(gpus=100_000, seed=11)
    days = 30
    t = _interruptions(p, days * 86400.0, _realization_rngs(p)[1])
    w = 1 / 1.9 + 300.0 + 60.0
    kept = 47.4 / (1 + 47.4 * w / 86400.0)
    assert len(t) / days == pytest.approx(kept, rel=0.04)
    assert np.diff(t).min() >= w  # never two interruptions within one's dead time


@pytest.mark.parametrize("f, swing_mw", [(1.0, 0.63), (0.0, 0.42), (0.5, 0.525)])
def test_node_swing_fraction_sets_the_swing_amplitude(f, swing_mw):
    # hand calculation, 1000 GPUs at 700 W, compute 1.0 and communication 0.4 of TDP, PUE 1:
    # the GPUs swing 1000 x 700 W x 0.6 = 0.42 MW; the node overhead (0.5 W per W of GPU) adds
    # 0.5 x f of that: f = 1 -> 0.63 MW, f = 0 -> 0.42 MW, f = 0.5 -> 0.525 MW
    p = _steady(pue=1.0, node_swing_fraction=f)
    assert swing_amplitude_p_mw(p) == pytest.approx(swing_mw, rel=1e-12)
    df = campus_load(make_index("2025-01-01", 300, 0.05), p)
    x = df["campus_p_mw"].to_numpy()
    # phases last 1.05 s and 0.45 s (jitter 5 %): many 50-ms steps lie wholly inside each, so the
    # series reaches both levels exactly (rounding only)
    assert x.max() - x.min() == pytest.approx(swing_mw, rel=1e-9)
    # the mean does not move: the non-swinging share sits at the iteration's mean,
    # 1000 x 700 W x 0.82 x 1.5 = 0.861 MW (hand calculation of test_mean_is...); one iteration's
    # swing over the 300-s horizon bounds the partial-iteration error (~1.5 x 0.63 / 300 / 0.861)
    assert x.mean() == pytest.approx(0.861, rel=5e-3)
    # the peak: GPUs at 1.0, the swinging node share with them, the rest at the mean 0.82:
    # 0.7 x (1 + 0.5 x (f x 1.0 + (1 - f) x 0.82)) MW
    assert nominal_peak_p_mw(p) == pytest.approx(0.7 * (1 + 0.5 * (f + (1 - f) * 0.82)), rel=1e-12)
    assert x.max() == pytest.approx(nominal_peak_p_mw(p), rel=1e-9)


def test_node_swing_fraction_acts_in_the_smoothed_series_too():
    # GB200 smoothing at scope "gpu" holds the GPUs at the compute level (2 s hysteresis, longer
    # than the 0.45-s communication phase): only the node's swinging share remains, 1000 x 700 W x
    # 0.6 x 0.5 x f -- 0.21 MW at f = 1, nothing at f = 0 (hand calculation)
    for f, left in ((1.0, 0.21), (0.0, 0.0)):
        p = _steady(pue=1.0, gpu_model="gb200", gpu_tdp_w=700.0, node_swing_fraction=f, smoothing=GpuSmoothing())
        x = campus_load(make_index("2025-01-01", 120, 0.05), p)["campus_p_mw"].to_numpy()[200:]
        # after 10 s the GPUs sit on their compute level; 1e-9 MW: rounding
        assert x.max() - x.min() == pytest.approx(left, abs=1e-9)


def test_one_job_start_definition():
    # no swing, PUE 1: idle 1000 x 70 W x 1.5 = 0.105 MW, peak 1.05 MW, a 60-s start ramp at 100 s:
    # the day's series and job_start_fraction give the same draw (the sag events use the latter)
    p = _steady(pue=1.0, swing_depth=0.0, job_start_s=100.0, start_ramp_s=60.0)
    df = campus_load(make_index("2025-01-01", 200, 0.5), p)
    t = np.arange(400) * 0.5
    # step averages of a linear ramp equal the value at the step's middle
    expected = 1.05 * job_start_fraction(t + 0.25 - 100.0, p)
    np.testing.assert_allclose(df["campus_p_mw"].to_numpy(), expected, rtol=1e-12)
    assert job_start_fraction(np.array([-1.0, 30.0, 60.0]), p) == pytest.approx([0.1, 0.55, 1.0], rel=1e-12)


@pytest.mark.parametrize("kw, field", [({"node_swing_fraction": 1.5}, "campus.node_swing_fraction"),
                                       ({"node_swing_fraction": -0.1}, "campus.node_swing_fraction"),
                                       ({"failure_rate_per_gpu_day": -1e-4}, "campus.failure_rate_per_gpu_day"),
                                       ({"failure_rate_per_gpu_day": float("nan")}, "campus.failure_rate_per_gpu_day"),
                                       ({"interruptions_per_day": -1.0}, "campus.interruptions_per_day")])
def test_load_model_parameters_out_of_range_are_refused(kw, field):
    with pytest.raises(ModelError) as exc:
        CampusLoadParams(**kw)
    assert exc.value.fields == [field]
