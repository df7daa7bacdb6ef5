"""Criteria that cannot fail for a run are "not applicable": shown, not counted.

The daily run applies no grid disturbance: the campus's ride-through envelope and its disturbance
counter can only act where the POI voltage leaves the envelope's continuous band (0.90-1.10 pu,
ERCOT NOGRR282 as the preset gives it) or falls below the counter's threshold (0.90 pu). A run
that stays inside cannot make the campus transfer to backup.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from gridstudy.studies.criteria import get_preset
from gridstudy.studies.judge.findings import REGISTRY, Evidence, disturbance_seen
from gridstudy.studies.report.text import _scenario_sentence

PRESET = get_preset("generic-utility")


def _evidence(v: np.ndarray) -> Evidence:
    idx = pd.date_range("2025-07-15", periods=len(v), freq="1s")
    result = SimpleNamespace(series={"poi_vm_pu": pd.Series(v, index=idx)},
                             converged=pd.Series(True, index=idx), step_s=1.0)
    prof = pd.DataFrame({"campus_p_mw": 300.0}, index=idx)
    return Evidence(site=None, result=result, profiles=prof, preset=PRESET)  # type: ignore[arg-type]


def _judge(ev: Evidence) -> dict[str, object]:
    return {cid: REGISTRY[cid].judge(ev)[0] for cid in ("ride_through", "load_loss")}


def test_a_run_inside_the_continuous_band_makes_ride_through_and_load_loss_not_applicable():
    # a 2 % swing around 1.0 pu every second: far inside 0.90-1.10 pu
    v = 1.0 + 0.01 * np.where(np.arange(600) % 2 == 0, 1.0, -1.0)
    assert PRESET.ride_through.vmin_pu == 0.90 and PRESET.disturbance_counter.threshold_pu == 0.90
    for f in _judge(_evidence(v)).values():
        assert f.standing == "not applicable" and not f.counts
        assert f.note.startswith("Not applicable") and "0.9-1.1 pu" in f.note


def test_a_run_that_leaves_the_band_is_judged():
    # 5 s at 0.85 pu: below the continuous band and the counter's threshold
    v = np.ones(600)
    v[100:105] = 0.85
    ev = _evidence(v)
    assert disturbance_seen(ev.poi, PRESET)
    for f in _judge(ev).values():
        assert f.standing == "binding" and f.counts
    # 1.12 pu: above the band's 1.10 (the counter looks only down; the envelope both ways)
    v2 = np.ones(600)
    v2[50] = 1.12
    assert disturbance_seen(_evidence(v2).poi, PRESET)


def test_not_applicable_criteria_are_not_counted_in_the_sentence():
    crit = [{"criterion": "a", "pass": True, "standing": "binding"},
            {"criterion": "b", "pass": False, "standing": "binding"},
            {"criterion": "load ride-through", "pass": True, "standing": "not applicable"},
            {"criterion": "c", "pass": False, "standing": "reference (other region)"}]
    # two criteria decide: 1 of 2 fails; the not-applicable and the reference are not among them
    assert _scenario_sentence("with_battery", {"criteria": crit}) == \
        "The campus with battery fails 1 of 2 N-0 criteria: b."
