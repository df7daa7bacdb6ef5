"""The discrete events of a campus realization: every change the model schedules, with its step."""

from __future__ import annotations

import pytest

from gridstudy.models import CampusLoadParams, make_index
from gridstudy.models.campus_events import campus_changes, worst_occurrences


def test_changes_are_the_model_schedule_with_hand_computed_steps():
    """Checkpoints every 900 s in 1 h (at 900, 1800, 2700 s), a job start at 100 s ramped over 60 s
    and a trip at 3000 s: the drop and return of each checkpoint are one transition of 1/1.9 s and
    step the IT load between its mean training level and idle, it_scale x (0.7 x 1.0 + 0.3 x 0.4 -
    0.1) MW (duty-weighted compute and communication levels minus idle); the job start steps by the
    same; the trip drops the whole draw, IT times PUE (the cooling leaves the grid with it)."""
    p = CampusLoadParams(gpus=10_000, checkpoint_interval_s=900.0, job_start_s=100.0, trip_at_s=3000.0,
                         trip_duration_s=60.0, trip_recovery_s=180.0, seed=1)
    idx = make_index("2025-07-15", 3600, 1.0)
    c = campus_changes(idx, p)
    level = p.it_scale_mw * (0.7 * 1.0 + 0.3 * 0.4 - 0.1)
    drops = c[c["kind"] == "checkpoint drop"]
    assert list(drops["start_s"]) == [900.0, 1800.0, 2700.0]
    assert drops["duration_s"].iloc[0] == pytest.approx(1 / 1.9, rel=1e-12)
    # rel 1e-9: the levels are read 1 µs outside each transition (no other change is that close)
    assert drops["step_mw"].to_numpy() == pytest.approx([-level] * 3, rel=1e-9)
    returns = c[c["kind"] == "checkpoint return"]
    assert returns["start_s"].iloc[0] == pytest.approx(900.0 + 1 / 1.9 + 20.0, rel=1e-12)
    assert returns["step_mw"].to_numpy() == pytest.approx([level] * 3, rel=1e-9)
    job = c[c["kind"] == "job start"]
    assert job["step_mw"].iloc[0] == pytest.approx(level, rel=1e-9)
    trip = c[c["kind"] == "trip"]
    assert trip["step_mw"].iloc[0] == pytest.approx(-level * p.pue - p.it_scale_mw * 0.1 * p.pue, rel=1e-9)
    back = c[c["kind"] == "trip return"]
    assert back["start_s"].iloc[0] == pytest.approx(3060.0) and back["duration_s"].iloc[0] == 180.0


def test_a_checkpoint_while_idle_is_no_change_and_the_worst_is_the_largest_step():
    """A checkpoint that falls inside the job-start ramp moves less than a full one (it drops from
    the ramp's level), so the worst checkpoint is a later, full one; the window spans its drop and
    return."""
    p = CampusLoadParams(gpus=10_000, checkpoint_interval_s=600.0, job_start_s=590.0, start_ramp_s=60.0, seed=1)
    idx = make_index("2025-07-15", 3600, 1.0)
    c = campus_changes(idx, p)
    first = c[(c["kind"] == "checkpoint drop")].iloc[0]
    full = p.it_scale_mw * (0.7 * 1.0 + 0.3 * 0.4 - 0.1)
    assert abs(first["step_mw"]) < 0.5 * full  # 10 s into a 60-s ramp: about a sixth of the level
    worst = {w.family: w for w in worst_occurrences(c)}
    ck = worst["checkpoint"]
    assert ck.start_s == 1200.0 and ck.worst_step_mw == pytest.approx(-full, rel=1e-9)
    assert ck.stop_s == pytest.approx(1200.0 + 2 / 1.9 + 20.0, rel=1e-12)
    assert worst["job start"].start_s == 590.0


def test_no_event_gives_an_empty_table():
    p = CampusLoadParams(gpus=1000, checkpoint_interval_s=None, seed=1)
    c = campus_changes(make_index("2025-07-15", 600, 1.0), p)
    assert len(c) == 0 and worst_occurrences(c) == []
