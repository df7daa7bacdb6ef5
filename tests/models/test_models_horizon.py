"""FixedHorizon against the labels make_index makes (pandas' own date_range)."""

import pandas as pd
import pytest

from gridstudy.models.errors import ModelError
from gridstudy.models.timeindex import FixedHorizon, as_index, make_horizon, make_index, step_seconds

CASES = [("2025-07-01", 3 * 86400, 1.0), ("2025-07-01 00:00:00.5", 100, 0.02),
         (pd.Timestamp("2025-03-09", tz="US/Central"), 86400, 1.0), ("2025-07-01", 7200, 3600.0)]


@pytest.mark.parametrize(("start", "duration_s", "step_s"), CASES)
def test_horizon_reads_like_the_index(start, duration_s, step_s):
    idx = make_index(start, duration_s, step_s)
    h = make_horizon(start, duration_s, step_s)
    assert len(h) == len(idx)
    full = as_index(h)
    assert full.equals(idx) and full.freq == idx.freq and full.tz == idx.tz
    n = len(idx)
    for sl in (slice(0, 2), slice(5 % n, 5 % n), slice(-3, None), slice(1, 100_000), slice(n - 1, n + 5)):
        a, b = idx[sl], h[sl]
        assert b.equals(a) and b.freq == a.freq and b.name == a.name, sl
    for i in (0, 1 % n, n - 1, -1, -n):
        assert h[i] == idx[i]
    assert h.freqstr == idx.freqstr and h.tz == idx.tz
    assert step_seconds(h) == step_seconds(idx) == step_s
    assert FixedHorizon.of(idx) == h
    for i in (0, n // 2, n - 1):
        assert h.get_loc(idx[i]) == idx.get_loc(idx[i]) == i
    step = pd.Timedelta(h.step_ns)  # in ns (a Timedelta of a Second offset halves to whole seconds)
    for t in (idx[0] - step, idx[-1] + step, idx[0] + step / 2):
        with pytest.raises(KeyError):
            idx.get_loc(t)
        with pytest.raises(KeyError):
            h.get_loc(t)
    with pytest.raises(IndexError):
        h[n]


def test_horizon_refuses_what_make_index_refuses():
    for args in (("2025-07-01", 10, 0.0015), ("2025-07-01", 10.5, 1.0), ("2025-07-01", 0, 1.0)):
        with pytest.raises(ModelError) as e_idx:
            make_index(*args)
        with pytest.raises(ModelError) as e_h:
            make_horizon(*args)
        assert str(e_h.value) == str(e_idx.value)
