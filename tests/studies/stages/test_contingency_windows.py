"""``[contingencies] windows = "every"``: the horizon cut into consecutive windows of ``window``."""

from __future__ import annotations

import pandas as pd

from gridstudy.studies.stages.contingency import every_window


def _index(n: int, step_s: float = 60.0) -> pd.DatetimeIndex:
    return pd.date_range("2025-07-15", periods=n, freq=pd.Timedelta(seconds=step_s))


def test_a_day_at_one_minute_is_24_hourly_windows_of_60_steps():
    wins = every_window(_index(1440), "1h")
    assert len(wins) == 24
    assert [(w.start, w.stop) for w in wins[:2]] == [(0, 60), (60, 120)] and wins[-1] == slice(1380, 1440)


def test_a_last_partial_window_is_kept_and_a_lone_last_step_joins_the_one_before():
    # 10 steps in windows of 3: 0-2, 3-5, 6-8 and the lone step 9 -> the last window is 6-9
    assert every_window(_index(10), "3min") == [slice(0, 3), slice(3, 6), slice(6, 10)]
    # 11 steps: 9-10 are two steps, a window of their own
    assert every_window(_index(11), "3min") == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 11)]


def test_all_is_one_window_of_the_whole_horizon():
    assert every_window(_index(100), "all") == [slice(0, 100)]
