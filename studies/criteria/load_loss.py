"""Load loss: the campus transfers to backup, by its disturbance counter or the ride-through envelope.

Two mechanisms move the campus to backup (its grid draw drops to zero): the load ride-through
envelope (:mod:`gridstudy.studies.criteria.ride_through`, ERCOT NOGRR282) and the campus's own
disturbance counter (:mod:`gridstudy.models.protection`: N excursions within T seconds, the
Virginia July 2024 failure mode, ``docs/sources/events.md §1, §6``). Either way the campus returns
after the counter's ``return_after_s``. The finding reports every transfer, the MW lost (the
campus draw just before it) and when the campus returns; it fails when any load is lost, since a
sudden loss of the whole campus is what the planner must then study (voltage rise, frequency).
"""

from __future__ import annotations

import math

import pandas as pd

from gridstudy.models.protection import DisturbanceCounter, backup_transfers
from gridstudy.studies.criteria._base import Finding, Limit
from gridstudy.studies.criteria.ride_through import RideThroughEnvelope, ride_through_trips

__all__ = ["load_transfers", "load_loss_finding"]

_COLUMNS = ["transfer_time", "return_time", "returns_in_horizon", "cause", "lost_mw"]


def load_transfers(vm_pu: pd.Series, campus_p_mw: pd.Series | float, counter: DisturbanceCounter,
                   envelope: RideThroughEnvelope | None = None, *, nan_vm_pu: float = 0.0) -> pd.DataFrame:
    """Every transfer of the campus to backup, by either mechanism, in time order.

    Parameters
    ----------
    vm_pu : pandas.Series
        POI voltage on a fixed-step DatetimeIndex. [pu]
    campus_p_mw : pandas.Series or float
        Campus draw (consumer view) on the same index, or a constant. [MW]
    counter : DisturbanceCounter
    envelope : RideThroughEnvelope or None
        ``None``: the counter alone.
    nan_vm_pu : float
        Voltage assumed at NaN steps. [pu]

    Returns
    -------
    pandas.DataFrame
        ``transfer_time``, ``return_time``, ``returns_in_horizon``, ``cause`` (``disturbance
        counter`` or ``ride-through envelope``) and ``lost_mw`` [MW]; a transfer while the campus
        is already on backup is not listed.
    """
    idx = vm_pu.index
    end = idx[-1] + (idx[1] - idx[0] if len(idx) > 1 else pd.Timedelta(0))
    back = pd.Timedelta(seconds=counter.return_after_s)
    bt = backup_transfers(vm_pu, counter, campus_p_mw, nan_vm_pu=nan_vm_pu)
    cand: list[tuple[pd.Timestamp, str, float]] = [
        (pd.Timestamp(t), "disturbance counter", float(mw)) for t, mw in zip(bt["transfer_time"], bt["lost_mw"],
                                                                             strict=True)]
    if envelope is not None:
        p = campus_p_mw if isinstance(campus_p_mw, pd.Series) else pd.Series(float(campus_p_mw), index=idx)
        for t in ride_through_trips(vm_pu, envelope, nan_vm_pu=nan_vm_pu)["trip_time"]:
            k = max(int(idx.searchsorted(t, side="right")) - 1, 0)
            cand.append((pd.Timestamp(t), "ride-through envelope", float(p.iloc[k])))
    rows: list[dict[str, object]] = []
    busy_until: pd.Timestamp | None = None
    for t, cause, mw in sorted(cand, key=lambda c: c[0].value):
        if busy_until is not None and t < busy_until:
            continue
        busy_until = t + back
        rows.append({"transfer_time": t, "return_time": busy_until, "returns_in_horizon": bool(busy_until <= end),
                     "cause": cause, "lost_mw": mw})
    return pd.DataFrame(rows, columns=_COLUMNS)


def load_loss_finding(vm_pu: pd.Series, campus_p_mw: pd.Series | float, counter: DisturbanceCounter,
                      envelope: RideThroughEnvelope | None = None, *, nan_vm_pu: float = 0.0) -> Finding:
    """Judge load loss: does the campus transfer to backup, how many MW, and when does it return?

    Parameters
    ----------
    vm_pu, campus_p_mw, counter, envelope, nan_vm_pu
        As :func:`load_transfers`. [pu], [MW]

    Returns
    -------
    Finding
        ``passed`` when no load is lost; ``worst_value`` the largest MW lost; ``when`` the first
        transfer; ``events`` the transfers; ``details``: ``load_loss_mw_max``, ``transfers`` (one
        dict per transfer: times, cause, MW, whether it returns within the horizon).
    """
    tr = load_transfers(vm_pu, campus_p_mw, counter, envelope, nan_vm_pu=nan_vm_pu)
    mw_max = float(tr["lost_mw"].to_numpy(dtype=float).max()) if len(tr) else 0.0
    limits = (Limit("load lost to a transfer to backup", 0.0, "MW", counter.source, True),
              Limit("disturbance counter: excursions below "
                    f"{counter.threshold_pu:g} pu within {counter.window_s:g} s", float(counter.count),
                    "excursions", counter.source, True),
              Limit("time on backup before the return", counter.return_after_s, "s", counter.source, True))
    return Finding(
        criterion="load loss (transfer to backup)",
        passed=len(tr) == 0,
        worst_value=mw_max if len(tr) else 0.0,
        worst_unit="MW",
        when=tr["transfer_time"].iloc[0] if len(tr) else None,
        seconds_outside=math.nan,
        events=len(tr),
        limits=limits,
        note=(f"The campus transfers to backup after {counter.count} excursions below {counter.threshold_pu:g} pu "
              f"within {counter.window_s:g} s (disturbance counter) or when it leaves the ride-through envelope, "
              f"and returns {counter.return_after_s:g} s later; the run itself keeps the campus connected "
              "(the MW lost is reported, not re-simulated)."),
        details={"load_loss_mw_max": mw_max,
                 "transfers": tr.assign(lost_mw=tr["lost_mw"].astype(float)).to_dict("records")},
    )
