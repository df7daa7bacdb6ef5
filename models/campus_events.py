"""The discrete events of a campus realization: every checkpoint, interruption and restart, job
start and stop and trip of the horizon, with the step of grid draw each one makes.

The campus model (:mod:`gridstudy.models.campus`) schedules them: a checkpoint every
``checkpoint_interval_s`` (its drop to idle and its return, each at ``transition_pu_per_s``), the
random interruptions of the seed (a drop to idle, then the restart ramp after ``restart_s``), the
job start and stop ramps and the scripted trip (the fall to zero and the recovery ramp). Each
*change* is one of those transitions: where it starts, how long it lasts, and the step of the
campus's mean draw across it, ``level(end) - level(start)``, where the mean draw is the IT load at
the iteration's mean GPU level times the envelope's activity and trip factor, and the facility
(cooling) load is counted only where the campus leaves or returns to the grid (a trip: cooling
follows the IT heat with a time constant of minutes, so at the other changes it has not moved).
Overlapping transitions (a checkpoint inside a restart) are evaluated on the model's own envelope,
so the step is what the campus actually does there (zero for a checkpoint while idle).

The sub-second assessment picks the worst occurrence of each kind from this table
(:func:`worst_occurrences`), and judges rapid voltage changes by counting every change of the
horizon (:func:`gridstudy.studies.stages.fluctuation.rvc_count_finding`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridstudy.models.campus import CampusLoadParams, _levels, _realization
from gridstudy.models.timeindex import step_seconds

__all__ = ["FAMILIES", "EventWindow", "campus_changes", "worst_occurrences"]

#: The kinds of change, grouped by the event they belong to (one window per family). [-]
FAMILIES: dict[str, tuple[str, ...]] = {
    "checkpoint": ("checkpoint drop", "checkpoint return"),
    "interruption and restart": ("interruption", "restart"),
    "job start": ("job start",),
    "job stop": ("job stop",),
    "trip": ("trip", "trip return"),
}

_COLUMNS = ["family", "kind", "occurrence", "start_s", "duration_s", "step_mw"]


def campus_changes(index: pd.DatetimeIndex, params: CampusLoadParams) -> pd.DataFrame:
    """Every discrete change of the campus's grid draw in the horizon of ``index``.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        The study's time axis (its start is the realization's origin).
    params : CampusLoadParams
        The campus (seed included).

    Returns
    -------
    pandas.DataFrame
        One row per change that starts inside the horizon and moves the draw: ``family`` and
        ``kind`` (:data:`FAMILIES`), ``occurrence`` (its event's number within the family, from
        0), ``start_s`` and ``duration_s`` (seconds after the horizon's start) [s], ``step_mw``
        (signed step of the mean grid draw, consumer sign) [MW]; sorted by start.
    """
    horizon_s = len(index) * step_seconds(index)
    _, env = _realization(params, horizon_s)
    hi, lo, idle, scale = _levels(params)
    mean_wave = params.duty * hi + (1.0 - params.duty) * lo
    tr = 1.0 / params.transition_pu_per_s

    def level(t: np.ndarray, with_facility: bool) -> np.ndarray:
        it = scale * (idle + env.activity(t) * (mean_wave - idle))
        out: np.ndarray = it * (params.pue if with_facility else 1.0) * env.trip_factor(t)
        return out

    rows: list[tuple[str, str, int, float, float, bool]] = []  # family, kind, occurrence, start, length, facility
    ckpt = params.checkpoint_interval_s or 0.0
    if ckpt > 0:
        for k, t in enumerate(np.arange(ckpt, horizon_s, ckpt)):
            rows.append(("checkpoint", "checkpoint drop", k, float(t), tr, False))
            rows.append(("checkpoint", "checkpoint return", k, float(t) + tr + params.checkpoint_duration_s, tr, False))
    for k, t in enumerate(env.intr):
        rows.append(("interruption and restart", "interruption", k, float(t), tr, False))
        rows.append(("interruption and restart", "restart", k, float(t) + tr + params.restart_s, params.start_ramp_s,
                     False))
    if params.job_start_s is not None:
        rows.append(("job start", "job start", 0, float(params.job_start_s), params.start_ramp_s, False))
    if params.job_stop_s is not None:
        rows.append(("job stop", "job stop", 0, float(params.job_stop_s), params.stop_ramp_s, False))
    if params.trip_at_s is not None:
        t0 = float(params.trip_at_s)
        rows.append(("trip", "trip", 0, t0, params.trip_drop_s, True))
        rows.append(("trip", "trip return", 0, t0 + params.trip_drop_s + params.trip_duration_s,
                     params.trip_recovery_s, True))
    rows = [r for r in rows if r[3] < horizon_s]
    if not rows:
        return pd.DataFrame(columns=_COLUMNS)
    start = np.array([r[3] for r in rows])
    length = np.array([r[4] for r in rows])
    fac = np.array([r[5] for r in rows])
    # just before the start and just after the end (a sudden trip has no length)
    eps = 1e-6
    before = np.where(fac, level(start - eps, True), level(start - eps, False))
    after = np.where(fac, level(start + length + eps, True), level(start + length + eps, False))
    df = pd.DataFrame({"family": [r[0] for r in rows], "kind": [r[1] for r in rows],
                       "occurrence": [r[2] for r in rows], "start_s": start, "duration_s": length,
                       "step_mw": after - before}, columns=_COLUMNS)
    # a change that moves nothing (a checkpoint while the job is idle) is no change; 1e-6 MW is rounding
    df = df[np.abs(df["step_mw"]) > 1e-6]
    out: pd.DataFrame = df.sort_values("start_s", kind="stable").reset_index(drop=True)
    return out


@dataclass(frozen=True)
class EventWindow:
    """The worst occurrence of a family of events: its changes' span and its largest step."""

    family: str
    occurrence: int
    start_s: float
    stop_s: float
    worst_step_mw: float
    worst_at_s: float


def worst_occurrences(changes: pd.DataFrame) -> list[EventWindow]:
    """Per family of :func:`campus_changes`, the occurrence with the largest step (the earliest of
    equal ones): the span from its first change's start to its last change's end, its largest
    signed step and where that step starts. [s], [MW]"""
    out: list[EventWindow] = []
    if not len(changes):
        return out
    for family in FAMILIES:
        f = changes[changes["family"] == family]
        if not len(f):
            continue
        size = f.assign(abs_mw=f["step_mw"].abs()).groupby("occurrence", sort=True)["abs_mw"].max()
        occ = int(size.index[int(np.argmax(size.to_numpy()))])
        g = f[f["occurrence"] == occ]
        k = int(np.argmax(g["step_mw"].abs().to_numpy()))
        out.append(EventWindow(family, occ, float(g["start_s"].min()), float((g["start_s"] + g["duration_s"]).max()),
                               float(g["step_mw"].iloc[k]), float(g["start_s"].iloc[k])))
    return out
