"""The fast QSTS engine on its own: collapse handling, unsupported input, solver paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gridstudy.studies.qsts.fast_model as fast_model
from gridstudy.grid.reference import load_site
from gridstudy.studies.errors import StudyError
from gridstudy.studies.qsts.fast import run_fast
from gridstudy.studies.qsts.inputs import Controls, QSTSInputs, TapControl


class Sink:
    """Stand-in recorder: keeps every block."""

    def __init__(self):
        self.blocks = []

    def add_block(self, *args):
        self.blocks.append(args)

    def finish(self, meta=None):
        self.meta = meta
        return self

    def cat(self, k):
        parts = [b[k] for b in self.blocks]
        return np.concatenate(parts) if parts[0].ndim == 1 else np.vstack(parts)


def _inputs(site, p, **controls):
    idx = pd.date_range("2025-01-01", periods=len(p), freq="1s")
    return QSTSInputs(site, pd.DataFrame({"campus_p_mw": p}, index=idx), Controls(**controls))


def test_step_beyond_the_nose_is_reported_not_dropped():
    site = load_site("feeder-34.5kv")
    p = np.full(40, 0.8 * site.campus_p_mw)
    p[17] = 50 * site.campus_p_mw  # 1250 MW on a 20 km 34.5 kV feeder: no power-flow solution
    sink = Sink()
    run_fast(_inputs(site, p), quiet=True, block_steps=16, recorder=sink)
    conv, vm = sink.cat(4), sink.cat(1)
    assert len(conv) == 40  # never dropped
    assert not conv[17] and np.isnan(vm[17]).all()
    assert conv[np.arange(40) != 17].all()
    # the neighbours solve to the same state as before the collapse
    np.testing.assert_allclose(vm[16], vm[18], atol=1e-12)
    assert sink.meta["failed_steps"] == 1


def test_battery_controller_is_refused_by_name():
    site = load_site("memphis-161kv")
    inputs = _inputs(site, np.full(5, 10.0), battery_controller=object())
    with pytest.raises(StudyError, match=r"controls\.battery_controller"):
        run_fast(inputs, quiet=True)


def test_voltage_dependent_loads_are_refused_by_name():
    site = load_site("feeder-34.5kv")
    site.net.load.loc[site.net.load.index[0], "const_z_p_percent"] = 50.0
    with pytest.raises(StudyError, match="const_z_p_percent"):
        run_fast(_inputs(site, np.full(5, 10.0)), quiet=True)


def test_sparse_lu_path_equals_dense_path(monkeypatch):
    """The sparse triangular solves (large nets) against the dense path on the same net."""
    site = load_site("feeder-34.5kv")
    rng = np.random.default_rng(5)
    p = site.campus_p_mw * (0.5 + 0.4 * rng.random(300))
    inputs = _inputs(site, p, taps=TapControl(delay_s=4.0))
    dense = Sink()
    run_fast(inputs, quiet=True, block_steps=64, recorder=dense)
    monkeypatch.setattr(fast_model, "DENSE_MAX", 0)
    sparse = Sink()
    run_fast(inputs, quiet=True, block_steps=64, recorder=sparse)
    # both stop at a mismatch of 1e-8 MVA: on this feeder (S_sc >= 100 MVA) the solutions lie
    # within ~1e-10 pu of each other
    np.testing.assert_allclose(dense.cat(1), sparse.cat(1), atol=1e-9)
    for name in dense.blocks[0][3]:
        if name.startswith("tap_pos_"):
            a = np.concatenate([b[3][name] for b in dense.blocks])
            b = np.concatenate([b[3][name] for b in sparse.blocks])
            np.testing.assert_array_equal(a, b)


def test_block_size_does_not_change_results():
    site = load_site("austin-345kv")
    rng = np.random.default_rng(2)
    p = site.campus_p_mw * (0.3 + 0.7 * (rng.random(200) > 0.5))
    a, b = Sink(), Sink()
    run_fast(_inputs(site, p, taps=TapControl(delay_s=3.0)), quiet=True, block_steps=7, recorder=a)
    run_fast(_inputs(site, p, taps=TapControl(delay_s=3.0)), quiet=True, block_steps=4096, recorder=b)
    np.testing.assert_allclose(a.cat(1), b.cat(1), atol=1e-9)
    assert (a.cat(4) & b.cat(4)).all()


def test_pipelined_blocks_give_the_same_results():
    """Solving block b + 1 in a second thread while block b is emitted changes nothing: the same
    voltages, loadings, series and convergence flags, bit for bit (same operations, same order)."""
    site = load_site("feeder-34.5kv")
    rng = np.random.default_rng(4)
    p = site.campus_p_mw * (0.3 + 0.7 * (rng.random(300) > 0.5))
    a, b = Sink(), Sink()
    run_fast(_inputs(site, p, taps=TapControl(delay_s=3.0)), quiet=True, block_steps=16, recorder=a, pipeline=True)
    run_fast(_inputs(site, p, taps=TapControl(delay_s=3.0)), quiet=True, block_steps=16, recorder=b, pipeline=False)
    assert len(a.blocks) == len(b.blocks) == 19
    for k in (1, 2, 4):
        np.testing.assert_array_equal(a.cat(k), b.cat(k))
    for name in a.blocks[0][3]:
        np.testing.assert_array_equal(np.concatenate([x[3][name] for x in a.blocks]),
                                      np.concatenate([x[3][name] for x in b.blocks]))
