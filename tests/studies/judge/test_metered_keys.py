"""The summary's grid-side figures at a study step longer than the 5-s peak-to-peak window."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

from gridstudy.studies.criteria import get_preset
from gridstudy.studies.judge.findings import metered_keys


def _sampled():
    """The generic preset with its ramp and peak-to-peak meters reading each sample."""
    preset = get_preset("generic-utility")
    meters = {**preset.meters, **{k: dataclasses.replace(preset.meters[k], averaging="sample", window_s=None)
                                  for k in ("ramp_rate", "peak_to_peak")}}
    return dataclasses.replace(preset, meters=meters)


def test_a_minute_step_has_no_5s_peak_to_peak_and_keeps_its_ramp():
    # 0, 10, 30, 30 MW at 1-min steps, read sample by sample: the largest change over a minute is
    # 30 - 10 = 20 MW/min (by hand); no 5-s window holds two readings, so the 5-s peak-to-peak is
    # not read (NaN), where it used to refuse the whole summary
    idx = pd.date_range("2025-07-15", periods=4, freq="60s")
    p = pd.Series([0.0, 10.0, 30.0, 30.0], index=idx)
    keys = metered_keys(p, None, _sampled())
    assert keys["max_ramp_mw_per_min"] == 20.0
    assert math.isnan(keys["max_p2p_mw_5s"])


def test_a_one_second_step_reads_the_5s_peak_to_peak():
    # 0, 4, 10, 6, 6, 6, 6 MW at 1 s: the widest 5-s window (6 samples) spans 0 .. 10 MW: 10 MW by hand
    idx = pd.date_range("2025-07-15", periods=7, freq="1s")
    p = pd.Series([0.0, 4.0, 10.0, 6.0, 6.0, 6.0, 6.0], index=idx)
    assert metered_keys(p, None, _sampled())["max_p2p_mw_5s"] == 10.0
