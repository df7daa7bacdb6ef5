"""Every grid-side criterion names its meter: the same series judged under two meters gives the
hand-computed figure of each (issue 21, item 1), and a meter that cannot read the study's series
is refused."""

import math

import numpy as np
import pandas as pd
import pytest

from gridstudy.studies.criteria import CriteriaError, RampLimit, power_factor_finding, ramp_finding
from gridstudy.studies.criteria.meter import Meter
from gridstudy.studies.criteria.power_factor import PowerFactorBand
from gridstudy.studies.criteria.presets import get_preset

T0 = pd.Timestamp("2026-07-01")
SAMPLE = Meter("active power", averaging="sample")
MIN_BLOCK = Meter("active power", averaging="block", window_s=60.0)
RMS_1S = Meter("active power", averaging="rolling", window_s=1.0)
RATE = RampLimit("20 MW/min", 60.0, 20.0, "delta")
P2P = RampLimit("10 MW in 5 s", 5.0, 10.0, "range")


def _s(values, freq="1s"):
    return pd.Series(np.asarray(values, dtype=float), index=pd.date_range(T0, periods=len(values), freq=freq))


def _minutes():
    # five minutes at 1 s: minute 0 at 200 MW; minute 1 at 200 MW with a 3-s pulse of +30 MW (a
    # latency pulse); minutes 2-4 at 210 MW
    p = np.full(300, 200.0)
    p[90:93] = 230.0
    p[120:] = 210.0
    return _s(p)


def test_mw_per_min_on_samples_and_on_one_minute_averages():
    p = _minutes()
    # each sample: the pulse against the same second a minute before (200 MW) is +30 MW
    f = ramp_finding(p, RATE, SAMPLE)
    assert f.worst_value == 30.0 and not f.passed
    assert f.when == T0 + pd.Timedelta(seconds=90)
    # 1-minute averages: 200, 200 + 3 x 30 / 60 = 201.5, 210, 210, 210 -> changes 1.5, 8.5, 0, 0
    g = ramp_finding(p, RATE, MIN_BLOCK)
    assert g.worst_value == pytest.approx(8.5, abs=1e-12) and g.passed  # float means of 60 values
    assert g.when == T0 + pd.Timedelta(minutes=2)  # the block whose change from the one before is worst
    assert "1-min averages" in g.limits[0].meter and "each sample" in f.limits[0].meter


def test_peak_to_peak_on_phasor_samples_and_on_a_one_second_rms_meter():
    # 20 s at 20 ms, 200 MW with one 0.2-s pulse (10 samples) of +50 MW
    p = np.full(1000, 200.0)
    p[400:410] = 250.0
    s = _s(p, "20ms")
    assert ramp_finding(s, P2P, SAMPLE).worst_value == 50.0
    # 1-s RMS (50 samples): the largest reading holds the whole pulse, 200 + 50 x 10 / 50 = 210 MW;
    # the smallest 200 MW -> 10 MW peak-to-peak, on the limit and so inside it
    f = ramp_finding(s, P2P, RMS_1S)
    assert f.worst_value == pytest.approx(10.0, abs=1e-9) and f.passed  # cumulative sums of 1000 values


def test_power_factor_per_sample_and_over_the_demand_interval():
    # 30 min at 1 s, 100 MW import; 50 Mvar absorbed during the first minute only
    p = _s(np.full(1800, 100.0))
    q = np.zeros(1800)
    q[:60] = 50.0
    q = _s(q)
    band = PowerFactorBand()
    f = power_factor_finding(p, q, band, meter=Meter("P and Q", averaging="sample"))
    assert f.worst_value == pytest.approx(100.0 / math.hypot(100.0, 50.0), rel=1e-12) and not f.passed
    # 15-min demand interval: mean Q of the first interval 50 x 60 / 900 = 3.333 Mvar ->
    # pf = 100 / hypot(100, 3.333) = 0.99944; the second interval is at unity
    g = power_factor_finding(p, q, band, meter=Meter("P and Q", averaging="block", window_s=900.0))
    assert g.worst_value == pytest.approx(100.0 / math.hypot(100.0, 50.0 * 60 / 900), rel=1e-12) and g.passed
    assert g.details["judged_steps"] == 2  # two demand intervals


def test_series_shorter_than_the_meter_is_not_applicable():
    f = ramp_finding(_s(np.full(50, 200.0)), RATE, MIN_BLOCK)
    assert f.standing == "not applicable" and not f.counts and math.isnan(f.worst_value)


def test_meter_window_not_a_whole_number_of_steps_is_refused():
    with pytest.raises(CriteriaError, match="whole number of steps"):
        ramp_finding(_s(np.full(300, 200.0)), RATE, Meter("active power", averaging="block", window_s=1.5))
    with pytest.raises(CriteriaError, match="averaging"):
        Meter("active power", averaging="median", window_s=60.0)  # type: ignore[arg-type]


def test_default_preset_names_its_meters():
    preset = get_preset("generic-utility")
    assert preset.meters["ramp_rate"].averaging == "block" and preset.meters["ramp_rate"].window_s == 60.0
    assert preset.meters["peak_to_peak"].averaging == "rolling" and preset.meters["peak_to_peak"].window_s == 1.0
    assert preset.meters["power_factor"].window_s == 900.0
    assert all("criteria.md §11" in m.source for m in preset.meters.values())
