"""Criteria judged while a long QSTS run streams by, without keeping its per-step series.

A year at 1 s keeps its per-step series as 1-minute envelopes (:class:`~gridstudy.studies.qsts.inputs.RecordSpec`),
so the criteria that need the series at the study step are judged on the fly: :class:`StreamJudge`
sits between the engine and its :class:`~gridstudy.studies.qsts.results.ResultRecorder`, gathers the
POI meter's P and Q of about :data:`JUDGE_STEPS` steps at a time and judges each stretch with the
registry's own functions, the previous stretch's last window prepended so that every window that
crosses a boundary is judged whole. The worst stretch of each criterion is kept; a criterion passes
when every stretch passes.

What a streamed run judges (:meth:`StreamJudge.findings`):

- at every step, from the streamed aggregates: convergence, every bus's voltage band (N-0, the POI
  bus included), branch loading (normal rating);
- on the per-step POI meter series, stretch by stretch: the grid-side variation limits of the preset
  (MW change / peak-to-peak over their windows) and the POI power factor.

Not judged on a streamed run: the rapid-voltage-change, flicker, ride-through and load-loss
criteria of the study step (they need the whole POI voltage series): flicker, RVC and the
short-window variation are judged on the sub-second windows of :mod:`gridstudy.studies.stages.fluctuation`,
and ride-through and load loss by the sag events. An event counted by a window that crosses a
stretch boundary may be counted in both stretches (``events`` is an upper bound); worst values and
pass/fail are exact.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from gridstudy.grid.site import Site
from gridstudy.models.timeindex import window_samples
from gridstudy.studies.criteria import Finding
from gridstudy.studies.criteria.power_factor import power_factor_finding
from gridstudy.studies.criteria.presets import CriteriaPreset
from gridstudy.studies.criteria.ramp import ramp_finding
from gridstudy.studies.judge.findings import (
    bus_band_finding,
    convergence_finding,
    slug,
    thermal_from_summary,
    with_standing,
)
from gridstudy.studies.qsts.heap import release_free_heap
from gridstudy.studies.qsts.results import QSTSResult, ResultRecorder

__all__ = ["StreamJudge", "JUDGE_STEPS"]


def _slug(criterion: str) -> str:
    """The registry's id suffix of a limit's finding (:func:`gridstudy.studies.judge.findings.slug` of
    the part after the group's ``": "``)."""
    return slug(criterion.split(": ", 1)[-1])

#: Steps gathered before a stretch is judged (about 4 MB of series). [-]
JUDGE_STEPS = 1 << 18


class StreamJudge:
    """Forward the engine's blocks to ``recorder`` and judge the series criteria on the way.

    Parameters
    ----------
    recorder : ResultRecorder
        Where the blocks go (its index gives the steps).
    site : Site
        The site of the run.
    preset : CriteriaPreset
        The criteria.
    judge_steps : int
        Steps per judged stretch. [-]
    case : {'n-0', 'n-1'}
        The case judged: bands and ratings of that case; the grid-side series criteria in N-0 only.
    """

    def __init__(self, recorder: ResultRecorder, site: Site, preset: CriteriaPreset, judge_steps: int = JUDGE_STEPS,
                 case: str = "n-0") -> None:
        self.recorder, self.site, self.preset, self.case = recorder, site, preset, case
        # the grid-side series criteria are N-0 criteria (the registry's cases)
        self.series_criteria = case == "n-0"
        self.judge_steps = int(judge_steps)
        step_s = recorder.step_s
        # a window crossing a stretch boundary is judged whole: its samples and its meter's averaging
        # window are kept; stretches advance by whole blocks of every block meter, so that the
        # meters' blocks stay aligned to the start of the run
        self.tail_steps = max([window_samples(lim.window_s, step_s) + preset.meter_for(lim).samples(step_s)
                               for lim in preset.ramps] + [preset.meters["power_factor"].samples(step_s), 1])
        self.block_steps = math.lcm(*[m.samples(step_s) for m in preset.meters.values() if m.averaging == "block"], 1)
        self._p: list[np.ndarray] = []
        self._q: list[np.ndarray] = []
        self._ok = True
        self._start = 0  # first step of the buffered stretch (tail included)
        self._held = 0
        self.worst: dict[str, Finding] = {}
        self.stretches = 0

    def add_block(self, start: int, vm_pu: np.ndarray, loading_percent: np.ndarray, series: dict[str, np.ndarray],
                  converged: np.ndarray, iterations: np.ndarray, max_mismatch_mva: np.ndarray) -> None:
        """:meth:`ResultRecorder.add_block`, then gather the POI meter's series."""
        self.recorder.add_block(start, vm_pu, loading_percent, series, converged, iterations, max_mismatch_mva)
        if not self._ok or not self.series_criteria:
            return
        if not np.all(converged):  # series criteria are judged only when every step converged
            self._ok, self._p, self._q = False, [], []
            return
        self._p.append(np.asarray(series["poi_p_mw"], dtype=float).copy())
        self._q.append(np.asarray(series["poi_q_mvar"], dtype=float).copy())
        self._held += len(converged)
        if self._held >= self.judge_steps:
            self._judge()

    def _judge(self) -> None:
        if not self._p:
            return
        p, q = np.concatenate(self._p), np.concatenate(self._q)
        idx = self.recorder.index[self._start:self._start + len(p)]
        ps, qs = pd.Series(p, index=idx), pd.Series(q, index=idx)
        made = [("poi_power_factor", power_factor_finding(ps, qs, self.preset.power_factor,
                                                          meter=self.preset.meters["power_factor"]), False)]
        made += [(f"grid_variation.{lim.name}", ramp_finding(ps, lim, self.preset.meter_for(lim)), True)
                 for lim in self.preset.ramps]
        for key, f, larger_worse in made:
            self._keep(key, f, larger_worse)
        self.stretches += 1
        advance = max(0, (len(p) - self.tail_steps) // self.block_steps * self.block_steps)
        keep = len(p) - advance
        self._p, self._q = [p[len(p) - keep:]], [q[len(q) - keep:]]
        self._start += len(p) - keep
        self._held = 0
        del p, q, idx, ps, qs, made
        release_free_heap()  # the stretch's temporaries are gone: their pages go back

    def _keep(self, key: str, f: Finding, larger_worse: bool) -> None:
        old = self.worst.get(key)
        if old is None:
            self.worst[key] = f
            return
        v, w = f.worst_value, old.worst_value
        worse = np.isfinite(v) and (not np.isfinite(w) or (v > w if larger_worse else v < w))
        best = f if worse else old
        self.worst[key] = dataclasses.replace(best, passed=old.passed and f.passed, events=old.events + f.events,
                                              seconds_outside=old.seconds_outside + f.seconds_outside)

    def finish(self, meta: dict[str, Any] | None = None) -> QSTSResult:
        """Judge the last stretch; :meth:`ResultRecorder.finish`."""
        if self._ok and self._held:
            self._judge()
        return self.recorder.finish(meta=meta)

    def findings(self, result: QSTSResult) -> list[Finding]:
        """The findings of the streamed run (see the module docstring for what is judged)."""

        case = self.case
        out = [dataclasses.replace(f, id=f"{g}.{case}", group=g) for g, f in (
            ("convergence", convergence_finding(result)),
            ("bus_voltages", bus_band_finding(self.site, result, self.preset, case)),
            ("thermal", thermal_from_summary(self.site, result, self.preset, case)))]
        if self._ok and self.series_criteria:  # ids as the registry gives them (gridstudy.studies.judge.findings)
            out += [dataclasses.replace(f, id=key if key == "poi_power_factor" else f"grid_variation.{_slug(f.criterion)}",
                                        group=key.split(".")[0]) for key, f in self.worst.items()]
        return [with_standing(f, self.preset, self.recorder.step_s) for f in out]

    def summary(self, result: QSTSResult) -> dict[str, Any]:
        """``criterion -> {passed, worst_value, unit}`` of :meth:`findings`, JSON-able."""
        return {f.criterion: {"passed": bool(f.passed), "worst_value": float(f.worst_value), "unit": f.worst_unit}
                for f in self.findings(result)}
