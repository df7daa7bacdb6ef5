"""Streamed QSTS results equal the aggregates computed from the full series; memory stays bounded."""

import tracemalloc
from itertools import pairwise

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from gridstudy.grid.site import Site
from gridstudy.studies.qsts.inputs import RecordSpec
from gridstudy.studies.qsts.results import BASE_SERIES, QSTSResult, ResultRecorder


def _site(n_bus=6, with_trafo=True):
    net = pp.create_empty_network()
    buses = [pp.create_bus(net, 20.0, name=f"b{i}") for i in range(n_bus)]
    pp.create_ext_grid(net, buses[0])
    for a, b in pairwise(buses):
        pp.create_line_from_parameters(net, a, b, 1.0, 0.1, 0.3, 10.0, 0.5, name=f"l{a}")
    trafos = []
    if with_trafo:
        lv = pp.create_bus(net, 0.4, name="lv")
        trafos.append(pp.create_transformer(net, buses[-1], lv, "0.4 MVA 20/0.4 kV", name="T1"))
    return Site(name="synthetic", net=net, poi_bus=buses[1], source_bus=buses[0], ext_grid=0,
                source_impedance=None, campus_loads=[], storages=[], regulating_trafos=trafos, campus_p_mw=1.0)


def _synthetic(site, n, seed=0):
    rng = np.random.default_rng(seed)
    nb, nbr = len(site.net.bus), len(site.net.line) + len(site.net.trafo)
    vm = 1.0 + 0.06 * rng.standard_normal((n, nb))
    ld = 100 * rng.random((n, nbr))
    conv = np.ones(n, dtype=bool)
    conv[[7, 100]] = False
    vm[~conv] = np.nan
    ld[~conv] = np.nan
    series = {s: rng.standard_normal(n) for s in BASE_SERIES}
    series["poi_vm_pu"] = vm[:, list(site.net.bus.index).index(site.poi_bus)]
    series["tap_pos_T1"] = np.cumsum(rng.random(n) < 0.02).astype(float)
    return vm, ld, series, conv, rng.integers(1, 6, n), rng.random(n) * 1e-9


def _feed(rec, data, block):
    vm, ld, series, conv, it, mis = data
    n = vm.shape[0]
    for s in range(0, n, block):
        e = min(n, s + block)
        rec.add_block(s, vm[s:e], ld[s:e], {k: v[s:e] for k, v in series.items()}, conv[s:e], it[s:e], mis[s:e])
    return rec.finish()


@pytest.mark.parametrize("block", [1, 37, 1000])
def test_streamed_aggregates_equal_full_series(block):
    site = _site()
    n = 500
    idx = pd.date_range("2025-01-01", periods=n, freq="1s")
    data = _synthetic(site, n)
    vm, ld, series, conv, _it, _mis = data
    spec = RecordSpec(worst_windows=3, window_s=20.0)
    res = _feed(ResultRecorder(site, idx, spec), data, block)
    full = pd.DataFrame(vm, index=idx, columns=site.net.bus.index)
    bs = res.bus_summary
    np.testing.assert_array_equal(bs["vm_min_pu"], full.min())
    np.testing.assert_array_equal(bs["vm_max_pu"], full.max())
    assert (bs["vm_min_time"].to_numpy() == full.idxmin().to_numpy()).all()
    assert (bs["vm_max_time"].to_numpy() == full.idxmax().to_numpy()).all()
    for name, (lo, hi) in spec.bands.items():
        np.testing.assert_array_equal(bs[f"{name}_below_s"], (full < lo).sum().to_numpy() * 1.0)
        np.testing.assert_array_equal(bs[f"{name}_above_s"], (full > hi).sum().to_numpy() * 1.0)
    edges = np.asarray(spec.histogram_edges_pu)
    for j, b in enumerate(site.net.bus.index):
        v = vm[:, j][np.isfinite(vm[:, j])]
        inner = np.histogram(v, bins=edges)[0]
        # np.histogram closes the last bin on the right; ours is [a, b) with an overflow bin
        inner[-1] -= int((v == edges[-1]).sum())
        got = res.histogram_s.loc[b].to_numpy()
        assert got[0] == (v < edges[0]).sum() and got[-1] == (v >= edges[-1]).sum()
        np.testing.assert_array_equal(got[1:-1], inner)
    np.testing.assert_array_equal(res.branch_summary["loading_max_percent"], np.nanmax(ld, axis=0))
    np.testing.assert_array_equal(res.branch_summary["loading_min_percent"], np.nanmin(ld, axis=0))
    np.testing.assert_array_equal(res.series["campus_p_mw"], series["campus_p_mw"])
    assert res.converged.tolist() == conv.tolist() and res.nonconverged_steps == 2
    assert res.tap_operations["tap_pos_T1"] == np.count_nonzero(np.diff(series["tap_pos_T1"]))
    # worst windows: aligned 20-step windows ranked by max |poi - 1|
    dev = np.abs(series["poi_vm_pu"] - 1.0).reshape(-1, 20)
    sev = np.nanmax(dev, axis=1)
    order = np.argsort(-sev, kind="stable")[:3]
    assert [w.index[0] for w in res.windows.values()] == [idx[20 * k] for k in order]
    w0 = res.windows[0]
    np.testing.assert_array_equal(w0[f"vm_pu_bus_{site.poi_bus}"], series["poi_vm_pu"][20 * order[0]:20 * order[0] + 20])


def test_envelopes_equal_resampled_min_max_and_save_load_roundtrip(tmp_path):
    site = _site()
    n = 600
    idx = pd.date_range("2025-01-01 00:00:30", periods=n, freq="1s")
    data = _synthetic(site, n, seed=3)
    res = _feed(ResultRecorder(site, idx, RecordSpec(envelope_freq="1min")), data, 77)
    s = pd.Series(data[2]["grid_p_mw"], index=idx)
    np.testing.assert_array_equal(res.series[("grid_p_mw", "min")], s.resample("1min").min())
    np.testing.assert_array_equal(res.series[("grid_p_mw", "max")], s.resample("1min").max())
    res.save(tmp_path / "r")
    back = QSTSResult.load(tmp_path / "r")
    pd.testing.assert_frame_equal(back.bus_summary, res.bus_summary, check_freq=False)
    pd.testing.assert_frame_equal(back.series, res.series, check_freq=False)
    pd.testing.assert_series_equal(back.converged, res.converged, check_freq=False)
    assert back.summary["nonconverged_steps"] == 2 and len(back.windows) == len(res.windows)
    assert not list((tmp_path / "r").glob(".*.tmp"))


def test_recorder_memory_is_bounded_for_a_day_at_one_second():
    site = _site(n_bus=50, with_trafo=False)
    n, block = 86_400, 600
    idx = pd.date_range("2025-01-01", periods=n, freq="1s")
    rng = np.random.default_rng(0)
    vm = 1.0 + 0.02 * rng.standard_normal((block, 50))
    ld = 50 * rng.random((block, 49))
    ser = {s: rng.standard_normal(block) for s in BASE_SERIES}
    conv, it, mis = np.ones(block, bool), np.full(block, 3), np.full(block, 1e-11)
    tracemalloc.start()
    try:
        rec = ResultRecorder(site, idx, RecordSpec(envelope_freq="1min"))
        for s in range(0, n, block):
            rec.add_block(s, vm, ld, ser, conv, it, mis)
        res = rec.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # with envelopes the convergence record is kept per 1-minute interval, as the series are
    assert len(res.converged) == 86_400 // 60 and res.nonconverged_steps == 0
    # keeping every bus voltage of every step would take 86,400 x 50 x 8 B = 34.6 MB, and a
    # per-step convergence record 7 B a step (0.6 MB); the recorder keeps per-bus aggregates and
    # 1-minute envelopes (1,440 x 11 series x 2 x 8 B = 0.25 MB) and what one block needs
    assert peak < 12e6, peak


@pytest.mark.parametrize("block", [1, 37, 1000])
def test_envelope_convergence_record_equals_resampled_per_step_record(block):
    # with envelopes the recorder keeps the convergence record per interval; it equals the per-step
    # record of the same blocks resampled by pandas, and the count and first non-converged step
    # are exact (steps 7 and 100 of _synthetic do not converge; 130 s from 00:00:30 at 1 s)
    site = _site()
    n = 130
    idx = pd.date_range("2025-01-01 00:00:30", periods=n, freq="1s")
    data = _synthetic(site, n, seed=4)
    per_step = _feed(ResultRecorder(site, idx, RecordSpec()), data, block)
    env = _feed(ResultRecorder(site, idx, RecordSpec(envelope_freq="1min")), data, block)
    assert env.summary["step_record"] == "envelope" and per_step.summary["step_record"] == "step"
    minute = per_step.converged.index.floor("1min")
    want_conv = per_step.converged.groupby(minute).all()
    assert list(want_conv) == [False, True, False]  # steps 7 and 100: 00:00:37 and 00:02:10
    pd.testing.assert_series_equal(env.converged, want_conv, check_names=False, check_index_type=False,
                                   check_freq=False)
    np.testing.assert_array_equal(env.iterations.to_numpy(), per_step.iterations.groupby(minute).max().to_numpy())
    # float32 both: the largest of the interval's values, exactly (NaN of a failed step skipped)
    np.testing.assert_array_equal(env.max_mismatch_mva.to_numpy(),
                                  per_step.max_mismatch_mva.groupby(minute).max().to_numpy())
    assert env.nonconverged_steps == per_step.nonconverged_steps == 2
    assert env.first_nonconverged == per_step.first_nonconverged == idx[7]
    assert env.summary["max_mismatch_mva"] == per_step.summary["max_mismatch_mva"]
    assert env.summary["max_iterations"] == per_step.summary["max_iterations"]


def test_envelope_blocks_must_come_in_order():
    # the compact record counts the steps added: a block out of order is refused, not miscounted
    site = _site()
    idx = pd.date_range("2025-01-01", periods=120, freq="1s")
    vm, ld, series, conv, it, mis = _synthetic(site, 120)
    rec = ResultRecorder(site, idx, RecordSpec(envelope_freq="1min"))
    with pytest.raises(ValueError, match="does not follow step 0"):
        rec.add_block(60, vm[60:], ld[60:], {k: v[60:] for k, v in series.items()}, conv[60:], it[60:], mis[60:])


@pytest.mark.parametrize("edges", [tuple(np.round(np.arange(0.80, 1.2001, 0.005), 3)),  # the default
                                   (0.9, 0.95, 0.951, 1.0, 1.2),  # uneven
                                   (1.0,)])
def test_histogram_counts_equal_searchsorted_at_and_between_edges(edges):
    # a voltage on an edge belongs to the bin above it (searchsorted side="right", bins [a, b));
    # voltages exactly on every edge, a hair either side, out of range and NaN are all counted as
    # numpy counts them
    from gridstudy.studies.qsts.results import _bus_counts

    e = np.asarray(edges, dtype=float)
    v = np.concatenate([e, np.nextafter(e, -np.inf), np.nextafter(e, np.inf), [0.5, 1.5, np.nan],
                        np.random.default_rng(1).uniform(0.7, 1.3, 500)])
    vm = v.reshape(-1, 1).repeat(3, axis=1)
    vm[::7, 1] = np.nan
    lo, hi = np.array([0.95, 0.917]), np.array([1.05, 1.058])
    below, above = np.zeros((2, 3), dtype=np.int64), np.zeros((2, 3), dtype=np.int64)
    hist = np.zeros((3, len(e) + 1), dtype=np.int64)
    _bus_counts(vm, lo, hi, e, below, above, hist)
    for b in range(3):
        x = vm[:, b][np.isfinite(vm[:, b])]
        np.testing.assert_array_equal(hist[b], np.bincount(np.searchsorted(e, x, side="right"), minlength=len(e) + 1))
        np.testing.assert_array_equal(below[:, b], [(x < q).sum() for q in lo])
        np.testing.assert_array_equal(above[:, b], [(x > q).sum() for q in hi])


@pytest.mark.parametrize("step", ["250ms", "1s", "7s", "1min", "90s"])
def test_envelope_intervals_equal_pandas_resample_at_any_step(step):
    # the recorder finds each step's interval by integer arithmetic when the step is no longer
    # than the interval (then no interval in between is empty) and by flooring the index
    # otherwise; pandas' resample is the reference, its empty bins dropped (a step of 90 s skips
    # some 1-minute intervals, which hold no step and so no envelope)
    site = _site()
    n = 700
    idx = pd.date_range("2025-01-01 00:00:13.5", periods=n, freq=step)
    data = _synthetic(site, n, seed=5)
    res = _feed(ResultRecorder(site, idx, RecordSpec(envelope_freq="1min")), data, 64)
    s = pd.Series(data[2]["grid_p_mw"], index=idx)
    lo, hi = s.resample("1min").min().dropna(), s.resample("1min").max().dropna()
    assert list(res.series.index) == list(lo.index)
    # min and max pick values of the series: exact
    np.testing.assert_array_equal(res.series[("grid_p_mw", "min")].to_numpy(), lo.to_numpy())
    np.testing.assert_array_equal(res.series[("grid_p_mw", "max")].to_numpy(), hi.to_numpy())
