"""The campus's disturbance counter (models/protection.py) on hand-built voltage series."""

import numpy as np
import pandas as pd
import pytest

from gridstudy.models.errors import ModelError
from gridstudy.models.protection import VIRGINIA_2024, DisturbanceCounter, backup_transfers, on_backup

T0 = pd.Timestamp("2024-07-10 19:00")
STEP_S = 0.02


def shots(starts_s, horizon_s, depth_pu=0.35, length_s=0.06):
    """1.0 pu with sags of ``length_s`` at ``depth_pu`` starting at ``starts_s`` (20 ms step)."""
    n = int(round(horizon_s / STEP_S))
    v = np.ones(n)
    for t in starts_s:
        k = int(round(t / STEP_S))
        v[k:k + int(round(length_s / STEP_S))] = depth_pu
    return pd.Series(v, index=pd.date_range(T0, periods=n, freq="20ms"))


def at(t_s):
    """The timestamp ``t_s`` after T0, in whole milliseconds (exact, no float seconds)."""
    return T0 + pd.Timedelta(milliseconds=round(t_s * 1000))


# Virginia, July 2024: six faults within 82 s; spread evenly they are 82 / 5 = 16.4 s apart
VIRGINIA = [1.0 + 16.4 * k for k in range(6)]


def test_virginia_sequence_trips_the_default_counter_at_the_third_fault():
    tr = backup_transfers(shots(VIRGINIA, 90.0), VIRGINIA_2024, campus_p_mw=1500.0)
    # 3 excursions below 0.90 pu within 60 s: the third fault starts at 1 + 2 x 16.4 = 33.8 s;
    # the faults after it come while the campus is on backup and are not counted
    assert len(tr) == 1
    assert tr.loc[0, "transfer_time"] == at(33.8)
    assert tr.loc[0, "excursions"] == 3 and tr.loc[0, "lost_mw"] == 1500.0
    assert tr.loc[0, "vm_pu_min"] == pytest.approx(0.35)
    # back one hour later (default), beyond this 90-s horizon
    assert tr.loc[0, "return_time"] == at(33.8 + 3600.0)
    assert not tr.loc[0, "returns_in_horizon"]


def test_the_window_decides():
    # three faults 16.4 s apart span 32.8 s: a 30-s window never holds three of them
    assert len(backup_transfers(shots(VIRGINIA, 90.0), DisturbanceCounter(window_s=30.0))) == 0
    # the default recloser event (3 shots of 60 ms at 0.65 pu, 1 s apart: starts 1.0, 2.06, 3.12 s)
    tr = backup_transfers(shots([1.0, 2.06, 3.12], 8.0, depth_pu=0.65))
    assert list(tr.transfer_time) == [at(3.12)]
    # a sag that stays above the threshold is no excursion
    assert len(backup_transfers(shots([1.0, 2.06, 3.12], 8.0, depth_pu=0.92))) == 0


def test_return_and_counting_afresh():
    # 2 in 60 s, back after 10 s: trip at the 2nd fault (17.4 s), back at 27.4 s; the 3rd (33.8)
    # counts afresh, the 4th (50.2) trips again, back at 60.2; the 5th (66.6) counts, the 6th
    # (83.0) trips; that return (93.0 s) lies beyond the 90-s horizon
    c = DisturbanceCounter(count=2, window_s=60.0, return_after_s=10.0)
    v = shots(VIRGINIA, 90.0)
    p = pd.Series(np.linspace(100.0, 190.0, len(v)), index=v.index)
    tr = backup_transfers(v, c, campus_p_mw=p)
    assert [t.total_seconds() for t in tr.transfer_time - T0] == pytest.approx([17.4, 50.2, 83.0], abs=1e-9)
    assert list(tr.returns_in_horizon) == [True, True, False]
    # MW lost: the draw of the sample just before the transfer
    k = int(round(17.4 / STEP_S)) - 1
    assert tr.loc[0, "lost_mw"] == pytest.approx(p.iloc[k], abs=1e-12)
    # on backup 10 s + 10 s + (90 - 83) s = 27 s, i.e. 1350 samples of 20 ms
    assert int(on_backup(v.index, tr).sum()) == 1350


def test_nan_is_an_excursion_and_bad_parameters_are_listed():
    v = shots([1.0, 2.0], 8.0)
    v.iloc[int(round(3.0 / STEP_S))] = np.nan  # a non-converged step: voltage collapse
    tr = backup_transfers(v)
    assert list(tr.transfer_time) == [at(3.0)]
    with pytest.raises(ModelError) as e:
        DisturbanceCounter(count=0, window_s=-1.0, return_after_s=0.0)
    assert {p.path for p in e.value.problems} == {"count", "window_s", "return_after_s"}
