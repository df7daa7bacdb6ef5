"""Streamed profiles (campus model and dispatch part by part) give the whole-frame results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridstudy.models.battery import MegapackPlant
from gridstudy.models.campus import CampusLoadParams, campus_chunks, campus_load
from gridstudy.models.dispatch import dispatch, dispatch_chunks, make_strategy
from gridstudy.models.timeindex import FixedHorizon, make_horizon, make_index
from gridstudy.studies.qsts.fast import run_fast
from gridstudy.studies.qsts.inputs import ProfileStream, RecordSpec
from gridstudy.studies.study import Study


def _params() -> CampusLoadParams:
    return CampusLoadParams(gpus=100_000, seed=5, interruptions_per_day=6.0, job_start_s=1800.0,
                            checkpoint_interval_s=1800.0)


def test_campus_chunks_equal_whole_series_bit_for_bit():
    # a whole-second step: every part's step times are exact, so the parts equal the whole bit for bit
    idx = make_index("2025-07-15", 86_400, 1.0)
    whole = campus_load(idx, _params())
    parts = list(campus_chunks(idx, _params(), 7_777))
    assert len(parts) == -(-86_400 // 7_777)
    joined = pd.concat(parts)
    assert joined.index.equals(whole.index)
    np.testing.assert_array_equal(joined[whole.columns].to_numpy(), whole.to_numpy())


def test_dispatch_chunks_continue_the_strategy_exactly():
    idx = make_index("2025-07-15", 86_400, 1.0)
    campus = campus_load(idx, _params())[["campus_p_mw", "campus_q_mvar"]]
    plant = MegapackPlant(units=300, model="megapack2xl-4h")
    whole = dispatch(campus, strategy=make_strategy("ramp_limit", plant))
    strat = make_strategy("ramp_limit", plant)
    parts = dispatch_chunks((campus.iloc[a:a + 5_000] for a in range(0, len(campus), 5_000)), strat)
    joined = pd.concat(list(parts))
    np.testing.assert_array_equal(joined.to_numpy(dtype=float), whole.to_numpy(dtype=float))


def _study(days: float = 1.0) -> Study:
    plant = MegapackPlant(units=600, model="megapack2xl-4h")
    return Study(site="memphis-161kv", campus=_params(), strategy=make_strategy("ramp_limit", plant),
                 index=make_index("2025-07-15", days * 86_400, 1.0))


def test_study_stream_parts_equal_profiles():
    st = _study()
    whole = st.profiles()
    for name in ("without_battery", "with_battery"):
        joined = pd.concat(list(st.profile_parts(name, 10_000)))
        np.testing.assert_array_equal(joined.to_numpy(dtype=float), whole[name].to_numpy(dtype=float))


@pytest.mark.parametrize(("prefetch", "process"), [(0, False), (2, False), (2, True)])
def test_streamed_qsts_equals_whole_frame_run(prefetch, process):
    # a day at 1 s on memphis with OLTC: the engine reads the stream in blocks that straddle the
    # parts; every recorded quantity equals the whole-frame run (same inputs, same arithmetic)
    st = _study()
    site = st.build_site()
    rec = RecordSpec(envelope_freq="1min")
    prof = st.profiles(only="with_battery")["with_battery"]
    whole = run_fast(st.qsts_inputs(site, "with_battery", prof, rec), block_steps=4096, quiet=True)
    stream = st.profile_stream("with_battery", chunk_steps=10_000, prefetch=prefetch, process=process)
    assert isinstance(stream, ProfileStream) and len(stream) == 86_400
    stream.start()
    try:
        part = run_fast(st.qsts_inputs(site, "with_battery", stream, rec), block_steps=4096, quiet=True)
    finally:
        stream.close()
    pd.testing.assert_frame_equal(part.bus_summary, whole.bus_summary, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(part.branch_summary, whole.branch_summary, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(part.series, whole.series, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(part.histogram_s, whole.histogram_s)
    pd.testing.assert_series_equal(part.tap_operations, whole.tap_operations)
    assert part.nonconverged_steps == 0
    # the battery acted, so its state of charge had to cross the parts
    assert float(whole.series[("battery_p_mw", "max")].abs().max()) > 1.0


def test_stream_rejects_a_part_with_nan():
    idx = make_index("2025-07-15", 100, 1.0)

    def parts():
        yield pd.DataFrame({"campus_p_mw": np.ones(50)}, index=idx[:50])
        yield pd.DataFrame({"campus_p_mw": np.r_[np.nan, np.ones(49)]}, index=idx[50:])

    from gridstudy.studies.errors import StudyError

    s = ProfileStream(idx, ["campus_p_mw"], parts)
    assert len(s.iloc[0:40]) == 40
    with pytest.raises(StudyError, match="NaN"):
        s.iloc[40:100]


def _edges_one_draw(params: CampusLoadParams, horizon_s: float, rng: np.random.Generator) -> np.ndarray:
    """The iteration edges as one draw of the whole horizon (the definition the blocks must meet)."""
    n = int(horizon_s / params.period_s * 1.3) + 16
    periods = params.period_s * np.clip(1.0 + params.jitter * rng.standard_normal(n), 0.2, None)
    starts = np.concatenate([[0.0], np.cumsum(periods)[:-1]])
    edges = np.empty(2 * len(starts))
    edges[0::2] = starts
    edges[1::2] = starts + params.duty * periods
    return edges[edges < horizon_s + params.period_s]


def test_iteration_edges_drawn_in_blocks_equal_one_draw(monkeypatch):
    import gridstudy.models.campus as campus

    monkeypatch.setattr(campus, "_EDGE_BLOCK", 997)  # many blocks, a prime so they never align
    for seed in range(3):
        p = CampusLoadParams(gpus=1000, seed=seed)
        for horizon_s in (10.0, 3600.0, 3 * 86_400 + 0.5):
            got = campus._iteration_edges(p, horizon_s, np.random.default_rng(seed))
            np.testing.assert_array_equal(got, _edges_one_draw(p, horizon_s, np.random.default_rng(seed)))


def test_stream_judge_equals_whole_series_criteria():
    # the series criteria judged stretch by stretch (the last window carried over) find the worst
    # values the registry finds on the whole series
    from gridstudy.studies.judge.findings import scenario_findings
    from gridstudy.studies.judge.streamed import StreamJudge
    from gridstudy.studies.qsts.results import ResultRecorder

    st = _study(0.25)
    site = st.build_site()
    prof = st.profiles(only="with_battery")["with_battery"]
    whole = run_fast(st.qsts_inputs(site, "with_battery", prof), quiet=True)
    want = {f.criterion: f for f in scenario_findings(site, whole, st.preset, prof)}
    inputs = st.qsts_inputs(site, "with_battery", st.profile_stream("with_battery", chunk_steps=3_000),
                            RecordSpec(envelope_freq="1min"))
    judge = StreamJudge(ResultRecorder(site, st.profile_stream("with_battery").index, inputs.record), site, st.preset,
                        judge_steps=4_000)
    res = run_fast(inputs, quiet=True, recorder=judge, block_steps=1_000)
    assert judge.stretches >= 5
    got = {f.criterion: f for f in judge.findings(res)}
    assert any(k.startswith("grid-side variation") for k in got)
    for name, f in got.items():
        assert name in want, name
        assert f.passed == want[name].passed, name
        assert f.worst_value == pytest.approx(want[name].worst_value, rel=0, abs=1e-12), name


def test_campus_chunks_make_the_edges_as_they_go(monkeypatch):
    # the parts make the iteration edges block by block (a year at 1.5 s holds 42 M of them) and
    # still equal the whole series bit for bit, for parts shorter and longer than a block of draws
    import gridstudy.models.campus as campus

    monkeypatch.setattr(campus, "_EDGE_BLOCK", 997)  # a prime: blocks never align with the parts
    idx = make_index("2025-07-15", 2 * 86_400, 1.0)
    whole = campus_load(idx, _params())
    for chunk in (500, 7_777):
        joined = pd.concat(list(campus_chunks(idx, _params(), chunk)))
        np.testing.assert_array_equal(joined[whole.columns].to_numpy(), whole.to_numpy())
    # what the stream holds after walking the horizon: the edges of about one part and one block,
    # not the 2 x 172 800 s / 1.5 s = 230 400 edges of the horizon (a tenth of them is far above
    # one 7 777-s part's ~10 400 edges plus a block's 1 994)
    real = campus._streamed_realization(_params(), 2 * 86_400.0)
    edges = real[0]
    for a in range(0, 2 * 86_400, 7_777):
        got, first = edges.around(float(a), float(a + 7_777))
        assert got[0] <= a < got[1]  # the last edge at or before the part's start, then the part's
    all_edges = campus._realization(_params(), 2 * 86_400.0)[0]
    assert len(edges._buf) < len(all_edges) / 10
    # the position it reports is the edge's position among all edges (the phase parity)
    k = min(len(got), len(all_edges) - first)  # the stream keeps the last block's edges past the horizon
    np.testing.assert_array_equal(got[:k], all_edges[first:first + k])


def test_study_qsts_streamed_keeps_envelopes_unless_asked():
    # a streamed run keeps the per-step series as 1-minute envelopes by default (a year of them in
    # full would be 8 bytes a step per series); the envelopes bound the whole-frame series
    st = _study(0.05)  # 4 320 steps, 72 minutes
    site = st.build_site()
    streamed = st.qsts(site=site, stream=True, prefetch=0)["with_battery"]
    whole = st.qsts(site=site, stream=False)["with_battery"]
    assert streamed.compact and len(streamed.series) == 72
    assert streamed.series.columns.nlevels == 2 and whole.series.columns.nlevels == 1
    # the same steps solved from the same inputs: equal to the streamed-run tolerance of this module
    v = whole.series["poi_vm_pu"].resample("1min")
    np.testing.assert_allclose(streamed.series[("poi_vm_pu", "min")].to_numpy(), v.min().to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(streamed.series[("poi_vm_pu", "max")].to_numpy(), v.max().to_numpy(), rtol=0, atol=1e-12)
    full = st.qsts(site=site, stream=True, prefetch=0, record=RecordSpec())["with_battery"]
    pd.testing.assert_series_equal(full.series["poi_vm_pu"], whole.series["poi_vm_pu"], rtol=0, atol=1e-12)


def test_study_qsts_streamed_is_judged_like_the_whole_frame():
    # a streamed run carries the criteria judged on the way; they are the registry's findings on
    # the whole-frame run of the same steps (same verdicts, worst values to the streamed-run
    # tolerance of this module); a whole-frame run of Study.qsts is not judged
    from gridstudy.studies.judge.findings import scenario_findings

    st = _study(0.05)
    site = st.build_site()
    streamed = st.qsts(site=site, stream=True, prefetch=0)
    whole = st.qsts(site=site, stream=False)
    profs = st.profiles()
    for name, res in streamed.items():
        got = res.summary["criteria"]
        want = {f.criterion: f for f in scenario_findings(site, whole[name], st.preset, profs[name])}
        assert any(k.startswith("grid-side variation") for k in got)
        for crit, v in got.items():
            assert v["passed"] == want[crit].passed, (name, crit)
            assert v["worst_value"] == pytest.approx(want[crit].worst_value, rel=0, abs=1e-12), (name, crit)
        assert "criteria" not in whole[name].summary


def test_cli_qsts_prints_and_writes_the_streamed_verdicts(tmp_path, monkeypatch, capsys):
    # `gridstudy qsts` on a horizon it streams (the threshold lowered so that 72 minutes stream)
    # prints a verdict per criterion and writes them to qsts.json
    import json

    import gridstudy.studies.study as study_mod
    from gridstudy.studies.cli.main import main

    monkeypatch.setattr(study_mod, "STREAM_MIN_STEPS", 1_000)
    src = Path(__file__).resolve().parents[3] / "examples" / "demo.toml"
    text = src.read_text().replace('duration = "1D"', 'duration = "72min"')
    assert 'duration = "72min"' in text
    f = tmp_path / "s.toml"
    f.write_text(text)
    code = main(["qsts", str(f), "--out", str(tmp_path / "out"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads((tmp_path / "out" / "qsts.json").read_text())
    for name, s in doc["scenarios"].items():
        assert s["criteria"], name
        for crit, v in s["criteria"].items():
            assert f"{'PASS' if v['passed'] else 'FAIL'}  {crit}" in out


def test_qsts_each_holds_one_scenario_at_a_time(monkeypatch):
    # gridstudy qsts saves each scenario as it finishes and drops it: while the next one runs,
    # nothing keeps the previous result alive (a year's envelopes are ~100 MB per scenario)
    import gc
    import weakref

    import gridstudy.studies.study as study_mod

    refs: list = []
    alive_during_next: list[bool] = []
    real = study_mod.run_fast

    def spy(*args, **kwargs):
        gc.collect()
        alive_during_next.append(any(r() is not None for r in refs))
        res = real(*args, **kwargs)
        refs.append(weakref.ref(res))
        return res

    monkeypatch.setattr(study_mod, "run_fast", spy)  # the streamed run of Study.qsts_each
    st = _study(0.02)
    names = []
    for name, res in st.qsts_each(site=st.build_site(), stream=True, prefetch=0):
        names.append(name)
        assert res.summary["criteria"]
        del res  # what the caller does once it has saved the result
    assert len(names) >= 2 and len(alive_during_next) == len(names)
    assert not any(alive_during_next)


def test_streamed_run_on_a_fixed_horizon_equals_the_run_on_its_labels(monkeypatch):
    # a study file's horizon holds no labels (FixedHorizon): the streamed run makes each part's and
    # gives exactly the run on the whole index; none of the horizon's labels are made at once, and
    # the parts are made ahead in a thread (no child process), as benchmarks/qsts_year.py makes them
    plant = MegapackPlant(units=600, model="megapack2xl-4h")
    kw = {"site": "memphis-161kv", "campus": _params(), "strategy": make_strategy("ramp_limit", plant)}
    labels = Study(index=make_index("2025-07-15", 0.05 * 86_400, 1.0), **kw)
    light = Study(index=make_horizon("2025-07-15", 0.05 * 86_400, 1.0), **kw)
    assert isinstance(light.index, FixedHorizon)
    made = []
    real = Study.profile_stream

    def spy(self, scenario, *args, **kwargs):
        made.append(kwargs.get("process", False))
        return real(self, scenario, *args, **kwargs)

    monkeypatch.setattr(Study, "profile_stream", spy)
    a = labels.qsts(site=labels.build_site(), stream=True, prefetch=1)
    b = light.qsts(site=light.build_site(), stream=True, prefetch=1)
    assert made and not any(made)
    assert light._labels is None  # no label of the whole horizon was made
    for name in a:
        ra, rb = a[name], b[name]
        pd.testing.assert_frame_equal(ra.series, rb.series, check_exact=True)
        pd.testing.assert_frame_equal(ra.bus_summary, rb.bus_summary, check_exact=True)
        pd.testing.assert_frame_equal(ra.branch_summary, rb.branch_summary, check_exact=True)
        pd.testing.assert_frame_equal(ra.histogram_s, rb.histogram_s, check_exact=True)
        pd.testing.assert_series_equal(ra.converged, rb.converged)
        assert ra.summary["criteria"] == rb.summary["criteria"]
        assert len(rb.index) == len(ra.index) and rb.index[-1] == ra.index[-1]
        for k in ra.windows:
            pd.testing.assert_frame_equal(ra.windows[k], rb.windows[k], check_exact=True)
