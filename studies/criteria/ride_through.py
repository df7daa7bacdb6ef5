"""Load ride-through: when does the POI voltage leave the ERCOT NOGRR282 envelope?

Envelope (``docs/sources/criteria.md §7``, ERCOT NOGRR282): continuous operation 0.90-1.10 pu; ride through
2.0 s at 0.80-0.90 pu or 1.10-1.20 pu, 0.5 s at 0.50-0.80 pu, 0.25 s at 0.20-0.50 pu and 0.15 s
below 0.20 pu. Above 1.20 pu the envelope asks nothing; it is taken here as an immediate trip
(``high_bands`` parameter). A load that leaves the envelope is assumed to transfer to backup:
its grid draw drops to zero from the trip time on (the Virginia, July 2024 failure mode). The
rule's second part, recovery to 90 % of the pre-disturbance load within 2 s of the voltage
returning above 0.9 pu, concerns the load's own behaviour and is not judged here.

Counting rule (the allowance is cumulative over a sliding window, not per contiguous sag):

- each sample holds its value for one step (quasi-static view);
- the time spent at or beyond each band edge is summed over the last ``window_s`` seconds
  (default 10 s, ``docs/sources/criteria.md §7``); time in a deeper band counts toward every
  shallower one: e.g. time below 0.80 pu adds to both the 0.5-s allowance (below 0.80) and the
  2.0-s allowance (below 0.90). Going back inside the continuous band does *not* reset the
  allowance: three 0.3-s sags at 0.7 pu within 10 s use 0.9 s of the 0.5-s allowance and trip,
  where a reset on the first sample back inside let each pass;
- the load trips at the instant the windowed time of any band first *exceeds* its allowance,
  located inside the step that makes it exceed (a single sag of exactly 0.5 s at 0.7 pu rides
  through);
- an *excursion* (for reporting) ends when the voltage has been back inside the continuous band
  for ``window_s``; one trip per excursion is reported (the first); a study that transfers the
  campus at the first trip ignores the rest.

What the envelope cannot see: at a daily study's 1-s step the 0.90-1.10 pu continuous band is
wider than the N-0 and N-1 planning bands, so on a 1-s series the envelope fails only where a band
already failed; a fault-cleared sag lasts tens of ms. Sag events at a 20-ms step and the campus's
disturbance counter (:mod:`gridstudy.models.protection`) are where load loss is found.

NaN voltages (steps whose power flow did not converge: voltage collapse) are taken as
``nan_vm_pu`` (0 pu by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.studies.criteria._base import CriteriaError, Finding, Limit, as_values, runs

__all__ = ["RideThroughEnvelope", "NOGRR282", "ride_through_trips", "ride_through_finding"]

_SOURCE = "ERCOT NOGRR282 load ride-through envelope"


@dataclass(frozen=True)
class RideThroughEnvelope:
    """A voltage ride-through envelope for a load.

    Parameters
    ----------
    vmin_pu, vmax_pu : float
        Continuous operating band. [pu]
    low_bands : tuple of (float, float)
        ``(threshold_pu, allowance_s)``: accumulated time with ``v < threshold_pu`` during an
        excursion may not exceed ``allowance_s``. [pu], [s]
    high_bands : tuple of (float, float)
        Same with ``v > threshold_pu``. [pu], [s]
    window_s : float
        Sliding window over which the time beyond each band edge is summed; at least the largest
        allowance. [s]
    source : str
    check : bool
        Above 1.20 pu (immediate trip) is this package's reading, not the rule's text.
    """

    vmin_pu: float = 0.90
    vmax_pu: float = 1.10
    low_bands: tuple[tuple[float, float], ...] = ((0.90, 2.0), (0.80, 0.5), (0.50, 0.25),
                                                  (0.20, 0.15))
    high_bands: tuple[tuple[float, float], ...] = ((1.10, 2.0), (1.20, 0.0))
    window_s: float = 10.0
    source: str = _SOURCE
    check: bool = False
    #: NOGRR282 is ERCOT's revision request (docs/sources/criteria.md §7): a proposed rule of one region
    status: str = "proposed"
    region: str | None = "ERCOT"

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.vmin_pu < self.vmax_pu:
            problems.append(Problem("vmin_pu", "needs 0 < vmin_pu < vmax_pu",
                                    (self.vmin_pu, self.vmax_pu)))
        for i, (thr, allow) in enumerate(self.low_bands):
            if thr > self.vmin_pu or allow < 0:
                problems.append(Problem(f"low_bands[{i}]", "needs threshold <= vmin_pu and "
                                        "allowance >= 0", (thr, allow)))
        for i, (thr, allow) in enumerate(self.high_bands):
            if thr < self.vmax_pu or allow < 0:
                problems.append(Problem(f"high_bands[{i}]", "needs threshold >= vmax_pu and "
                                        "allowance >= 0", (thr, allow)))
        longest = max([a for _, a in (*self.low_bands, *self.high_bands)], default=0.0)
        if not self.window_s >= longest or not self.window_s > 0:
            problems.append(Problem("window_s", f"must be > 0 and at least the longest allowance ({longest:g} s)",
                                    self.window_s))
        if problems:
            raise CriteriaError(problems)

    def limits(self) -> tuple[Limit, ...]:
        """Every band as a :class:`Limit` (allowance in seconds)."""
        st, rg = self.status, self.region
        out = [Limit("continuous band", (self.vmin_pu, self.vmax_pu), "pu", self.source, self.check, st, region=rg),
               Limit("allowance window (time summed over)", self.window_s, "s",
                     "package reading, after IEEE 2800-2022 consecutive deviations", True, region=rg)]
        out += [Limit(f"time below {t:g} pu", a, "s", self.source, self.check, st, region=rg)
                for t, a in self.low_bands]
        out += [Limit(f"time above {t:g} pu", a, "s", self.source, self.check, st, region=rg)
                for t, a in self.high_bands]
        return tuple(out)


NOGRR282 = RideThroughEnvelope()

_TRIP_COLUMNS = ["trip_time", "excursion_start", "band", "vm_pu_min", "vm_pu_max"]


def _trips(v: np.ndarray, index: pd.DatetimeIndex, step_s: float,
           env: RideThroughEnvelope) -> pd.DataFrame:
    n = len(v)
    inband = (v >= env.vmin_pu) & (v <= env.vmax_pu)
    pos = np.arange(n)
    last_out = np.maximum.accumulate(np.where(~inband, pos, -1))
    window_n = max(1, math.ceil(env.window_s / step_s - 1e-9))  # samples in the window
    reset = inband & (pos - last_out >= window_n)
    group = np.cumsum(reset)
    tol = 1e-9
    cand_t, cand_g, cand_band = [], [], []
    bands = ([(v < t, t, a, "below") for t, a in env.low_bands]
             + [(v > t, t, a, "above") for t, a in env.high_bands])
    for ind, thr, allow, side in bands:
        cum = np.concatenate(([0], np.cumsum(ind)))
        count = cum[1:] - cum[np.maximum(pos + 1 - window_n, 0)]  # samples beyond the edge in the window
        allow_steps = allow / step_s
        hit = ind & (count > allow_steps + tol) & (count - 1 <= allow_steps + tol)
        k = np.flatnonzero(hit)
        # the trip instant inside step k: (count-1) steps of the window were used before it
        t_ns = index.asi8[k] + np.round((allow - (count[k] - 1) * step_s) * 1e9).astype(np.int64)
        cand_t.append(t_ns)
        cand_g.append(group[k])
        cand_band += [f"{side} {thr:g} pu for more than {allow:g} s"] * len(k)
    if not cand_band:
        return pd.DataFrame(columns=_TRIP_COLUMNS)
    t_all = np.concatenate(cand_t)
    g_all = np.concatenate(cand_g)
    order = np.lexsort((t_all, g_all))
    first = order[np.unique(g_all[order], return_index=True)[1]]
    out_pos = np.flatnonzero(~inband)
    g_out, i_first = np.unique(group[out_pos], return_index=True)
    start_of = dict(zip(g_out.tolist(), out_pos[i_first].tolist(), strict=True))
    rows = []
    for j in first:
        g = int(g_all[j])
        s = start_of[g]
        trip_ns = int(t_all[j])
        e = int(np.searchsorted(index.asi8, trip_ns, side="right"))
        seg = v[s:max(e, s + 1)]
        rows.append({"trip_time": pd.Timestamp(trip_ns, tz=index.tz), "excursion_start": index[s],
                     "band": cand_band[j], "vm_pu_min": float(seg.min()),
                     "vm_pu_max": float(seg.max())})
    return pd.DataFrame(rows, columns=_TRIP_COLUMNS).sort_values("trip_time", ignore_index=True)


def ride_through_trips(vm_pu: pd.Series, envelope: RideThroughEnvelope = NOGRR282, *,
                       nan_vm_pu: float = 0.0) -> pd.DataFrame:
    """The instants at which a load leaves its ride-through envelope (see the module's rule).

    Parameters
    ----------
    vm_pu : pandas.Series
        POI voltage magnitude on a fixed-step index. [pu]
    envelope : RideThroughEnvelope
        Default :data:`NOGRR282`.
    nan_vm_pu : float
        Voltage assumed at NaN steps (non-converged power flow). [pu]

    Returns
    -------
    pandas.DataFrame
        One row per excursion that trips: ``trip_time`` (exact instant, between stamps when the
        allowance runs out inside a step), ``excursion_start``, ``band`` (which allowance ran
        out), ``vm_pu_min`` and ``vm_pu_max`` from the excursion start to the trip [pu].
    """
    values, index, step_s = as_values(vm_pu, "vm_pu", frame_ok=False, finite=False)
    v = values[:, 0].copy()
    v[np.isnan(v)] = nan_vm_pu
    if np.isinf(v).any():
        raise CriteriaError([Problem("vm_pu", "has infinite values", int(np.isinf(v).sum()))])
    return _trips(v, index, step_s, envelope)


def ride_through_finding(vm_pu: pd.Series, envelope: RideThroughEnvelope = NOGRR282, *,
                         nan_vm_pu: float = 0.0) -> Finding:
    """Judge whether the campus rides through the POI voltage, or when it transfers to backup.

    Parameters
    ----------
    vm_pu : pandas.Series
        POI voltage magnitude on a fixed-step index. [pu]
    envelope : RideThroughEnvelope
    nan_vm_pu : float
        Voltage assumed at NaN steps. [pu]

    Returns
    -------
    Finding
        ``passed`` when no excursion trips; ``when`` the first trip time (else the time of the
        worst voltage); ``worst_value`` the voltage farthest outside the continuous band;
        ``seconds_outside`` time outside the continuous band; ``events`` the trips;
        ``details["trip_times"]`` every trip instant.
    """
    trips = ride_through_trips(vm_pu, envelope, nan_vm_pu=nan_vm_pu)
    values, index, step_s = as_values(vm_pu, "vm_pu", frame_ok=False, finite=False)
    v = np.where(np.isnan(values[:, 0]), nan_vm_pu, values[:, 0])
    margin = np.maximum(envelope.vmin_pu - v, v - envelope.vmax_pu)
    k = int(margin.argmax())
    outside = margin > 0
    starts, _ = runs(outside)
    trip_times = list(trips["trip_time"])
    return Finding(
        criterion="load ride-through",
        passed=len(trips) == 0,
        worst_value=float(v[k]),
        worst_unit="pu",
        when=trip_times[0] if trip_times else index[k],
        seconds_outside=float(outside.sum()) * step_s,
        events=len(trips),
        limits=envelope.limits(),
        note=("A load leaving the envelope is taken to transfer to backup (grid draw to zero) at "
              "the trip time; time in a deeper band counts toward every shallower allowance, summed "
              f"over a sliding {envelope.window_s:g}-s window (no reset on returning inside the band)."),
        details={"trip_times": trip_times,
                 "trip_bands": list(trips["band"]),
                 "excursions": len(starts),
                 "first_trip_time": trip_times[0] if trip_times else None},
    )
