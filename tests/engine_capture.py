"""Capturing every step of both QSTS engines, for the tests that compare them step by step
(the fast engine against pandapower's ``run_timeseries``)."""

from __future__ import annotations

import numpy as np

from gridstudy.studies.qsts import reference as reference_mod
from gridstudy.studies.qsts.fast import run_fast
from gridstudy.studies.qsts.results import ResultRecorder

#: Agreement of the two engines on every bus voltage at every step (see tests/studies/qsts/test_qsts_agreement.py). [pu]
TOL_PU = 1e-8


class CaptureRecorder(ResultRecorder):
    """A ResultRecorder that also keeps every block's full voltages, loadings and series."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.vm, self.ld, self.series, self.conv = [], [], [], []

    def add_block(self, start, vm_pu, loading_percent, series, converged, iterations, max_mismatch_mva):
        self.vm.append(np.array(vm_pu, dtype=float))
        self.ld.append(np.array(loading_percent, dtype=float))
        self.series.append({k: np.array(v, dtype=float) for k, v in series.items()})
        self.conv.append(np.array(converged, dtype=bool))
        super().add_block(start, vm_pu, loading_percent, series, converged, iterations, max_mismatch_mva)

    def captured(self):
        ser = {k: np.concatenate([s[k] for s in self.series]) for k in self.series[0]}
        return np.vstack(self.vm), np.vstack(self.ld), ser, np.concatenate(self.conv)


def _capture_reference(inputs, monkeypatch):
    made = []

    def factory(*a, **k):
        made.append(CaptureRecorder(*a, **k))
        return made[-1]

    monkeypatch.setattr(reference_mod, "ResultRecorder", factory)
    reference_mod.run_reference(inputs, quiet=True)
    return made[0].captured()


def _capture_fast(inputs, block_steps=64):
    rec = CaptureRecorder(inputs.site, inputs.profiles.index, inputs.record, engine="fast")
    run_fast(inputs, quiet=True, block_steps=block_steps, recorder=rec)
    return rec.captured()
