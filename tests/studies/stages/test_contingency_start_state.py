"""N-1 windows start from the N-0 state at the window start (issue 12, item 1).

Expected values come from the N-0 run itself: a window run from :func:`window_start_site` with
nothing removed must reproduce the N-0 run's bus voltages over that window, step by step.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gridstudy
from gridstudy.grid.basecase import internal_buses
from gridstudy.grid.topology import Outage
from gridstudy.studies.qsts.inputs import RecordSpec
from gridstudy.studies.qsts.results import tap_series_name
from gridstudy.studies.qsts.run import run_qsts
from gridstudy.studies.setup import ENGINE_COLUMNS
from gridstudy.studies.stages import contingency
from gridstudy.studies.stages.contingency import run_outage, window_start_site

DEMO = Path(__file__).resolve().parents[3] / "examples" / "demo.toml"

#: Power-flow tolerance of both engines is 1e-8 MVA (fast) / 1e-10 MVA (reference) on a 100 MVA
#: base; the resulting voltage error is orders of magnitude below the 1e-9 pu asked of the test.
VM_TOL_PU = 1e-9


def _demo(duration_s: int, path: Path = DEMO) -> gridstudy.Study:
    """The demo study on its first ``duration_s`` seconds: the campus ramps to full load from
    30 min on, so the OLTCs move from the first step's taps (+2 at 30 MW) to -1 by 00:35."""
    st = gridstudy.Study.from_file(path)
    st.index = st.index[:duration_s]
    return st


def _n0_with_all_windows(st, site, scenario, prof, tile_s, engine):
    """N-0 run recording every bus at full resolution: the horizon is tiled into windows of
    ``tile_s`` and all of them are kept."""
    n_tiles = len(prof) // tile_s
    rec = RecordSpec(worst_windows=n_tiles, window_s=float(tile_s))
    return run_qsts(st.qsts_inputs(site, scenario, prof, rec), engine=engine, quiet=True)


def _nothing_removed_against_n0(engine: str, duration_s: int, tile_s: int, scenarios,
                                path: Path = DEMO) -> dict[str, dict]:
    """Per scenario, the last tile of the horizon run as a window that removes nothing, from the
    N-0 state at its start, against the N-0 run over the same tile: ``taps_moved`` (the taps at the
    window start are not the site's as built), ``same_index``, ``buses`` (bus columns compared),
    ``max_dv_pu`` (largest |ΔV| over every bus and step, NaN if any is not finite), ``same_taps``,
    and ``as_built_dv_pu`` (the same window from the site as built: the comparison can fail)."""
    out = {}
    st = _demo(duration_s, path)
    site = st.build_site()
    profs = st.profiles()
    start = duration_s - tile_s  # the window is the last tile: it starts after the taps have moved
    for name in scenarios:
        prof = profs[name]
        n0 = _n0_with_all_windows(st, site, name, prof, tile_s, engine)
        ref = next(w for w in n0.windows.values() if w.index[0] == prof.index[start])
        taps = [tap_series_name(site.net, t) for t in site.regulating_trafos]
        s0 = window_start_site(site, n0, start, prof)
        win = prof[list(ENGINE_COLUMNS)].iloc[start:]
        rec = RecordSpec(worst_windows=1, window_s=float(tile_s))
        got = run_qsts(st.qsts_inputs(s0, name, win, rec), engine=engine, quiet=True).windows[0]
        cols = [c for c in ref.columns if c.startswith("vm_pu_bus_")]
        err = np.abs(got[cols].to_numpy() - ref[cols].to_numpy())
        old = run_qsts(st.qsts_inputs(site, name, win, rec), engine=engine, quiet=True).windows[0]
        out[name] = {
            "taps_moved": bool((n0.series[taps].iloc[start]
                                != site.net.trafo.loc[site.regulating_trafos, "tap_pos"].to_numpy()).all()),
            "same_index": got.index.equals(ref.index), "buses": (len(cols), len(site.net.bus)),
            "max_dv_pu": float(err.max()) if np.isfinite(err).all() else float("nan"),
            "same_taps": bool((got[taps].to_numpy() == ref[taps].to_numpy()).all()),
            "as_built_dv_pu": float(np.abs(old[cols].to_numpy() - ref[cols].to_numpy()).max()),
        }
    return out


def test_window_from_n0_state_reproduces_n0_on_every_bus_fast_engine():
    # 1 h of the demo at 1 s; the last 20 min (from 00:40, taps at -1 since 00:34:53, no tap move in
    # the window) against the N-0 run of the whole hour, both scenarios
    got = _nothing_removed_against_n0("fast", 3600, 1200, ("without_battery", "with_battery"))
    for name, m in got.items():
        # the taps at the window start differ from the site as built (else the test proves nothing);
        # every bus and step within VM_TOL_PU of N-0, same tap series; from the site as built the
        # same window differs by more than 1e-3 pu
        assert m["taps_moved"] and m["same_index"] and m["buses"][0] == m["buses"][1], (name, m)
        assert m["max_dv_pu"] < VM_TOL_PU and m["same_taps"], (name, m)
        assert m["as_built_dv_pu"] > 1e-3, (name, m)


@pytest.mark.slow
def test_window_from_n0_state_reproduces_n0_on_every_bus_reference_engine(tmp_path):
    # the same check on pandapower's own run_timeseries, kept short: the campus starts its job at
    # 60 s, the taps go from +2 to -1 by 00:06:11; the last 2 min of 10 min are the window
    text = DEMO.read_text().replace('duration = "1D"', 'duration = "10min"').replace(
        "job_start_s = 1800.0", "job_start_s = 60.0").replace('window = "1h"', 'window = "2min"')
    (tmp_path / "demo10.toml").write_text(text)
    m = _nothing_removed_against_n0("reference", 600, 120, ("without_battery",), tmp_path / "demo10.toml")[
        "without_battery"]
    # as in the fast-engine test above
    assert m["taps_moved"] and m["same_index"] and m["buses"][0] == m["buses"][1], m
    assert m["max_dv_pu"] < VM_TOL_PU and m["same_taps"], m
    assert m["as_built_dv_pu"] > 1e-3, m


def test_window_start_site_takes_taps_and_soc_and_leaves_the_site_alone():
    st = _demo(3600)
    site = st.build_site()
    prof = st.profiles()["with_battery"]
    n0 = run_qsts(st.qsts_inputs(site, "with_battery", prof, RecordSpec(worst_windows=0)), engine="fast", quiet=True)
    k = 3000
    before = site.net.trafo.tap_pos.copy()
    s0 = window_start_site(site, n0, k, prof)
    for t in site.regulating_trafos:
        assert s0.net.trafo.at[t, "tap_pos"] == n0.series[tap_series_name(site.net, t)].iloc[k]
    # the state of charge at the start of step k is the dispatch's after step k - 1
    assert (s0.net.storage.loc[site.storages, "soc_percent"] == prof["soc_percent"].iloc[k - 1]).all()
    assert prof["soc_percent"].iloc[k - 1] != site.net.storage.soc_percent.iloc[0]
    assert site.net.trafo.tap_pos.equals(before) and s0.net is not site.net


def test_study_run_and_sizing_hand_the_n0_start_state_to_every_outage(monkeypatch, tmp_path):
    captured = []

    def fake(site, outages, cases, preset, engine, workers=2, start_sites=None):
        captured.append((site, dict(cases), dict(start_sites or {})))
        return []

    def fake_jobs(jobs, workers, *, client=None, retries=1):
        # the stage's tasks: (start site, outage, scenario, profiles, controls, preset, engine, window)
        captured.append((None, {j[2]: (j[3], j[4]) for j in jobs}, {j[2]: j[0] for j in jobs}))
        return []

    import gridstudy.studies.scale.sizing as sizing_mod

    monkeypatch.setattr(contingency, "run_jobs", fake_jobs)  # the study's N-1 stage
    monkeypatch.setattr(sizing_mod, "run_contingencies", fake)  # the sizing evaluator's
    text = DEMO.read_text().replace('duration = "1D"', 'duration = "45min"').replace('window = "1h"', 'window = "2min"')
    path = tmp_path / "demo45.toml"
    path.write_text(text)
    st = gridstudy.Study.from_file(path)
    result = st.run(sag=False, fluctuation=False)
    _, cases, starts = captured[0]
    site = st.build_site()  # the site as built, before any run moved its taps
    assert set(starts) == set(cases) == set(st.contingencies.scenarios)
    for name, (prof, _) in cases.items():
        k = result.scenarios[name].index.get_loc(prof.index[0])
        for t in site.regulating_trafos:
            want = result.scenarios[name].series[tap_series_name(site.net, t)].iloc[k]
            assert starts[name].net.trafo.at[t, "tap_pos"] == want
        assert (starts[name].net.trafo.tap_pos != site.net.trafo.tap_pos).any(), name
    assert "N-0 tap positions" in result.summary["contingency_window"]

    from gridstudy.studies.scale.sizing import StudyEvaluator
    from gridstudy.studies.spec.scale import load_scale_study

    captured.clear()
    ev = StudyEvaluator(load_scale_study(path), n1=True)
    ev.evaluate("megapack2xl-4h", 600)
    site, cases, starts = captured[0]
    prof = cases["with_battery"][0]
    assert set(starts) == {"with_battery"}
    assert (starts["with_battery"].net.trafo.tap_pos != site.net.trafo.tap_pos).any()
    k = st.index.get_loc(prof.index[0])
    assert starts["with_battery"].net.storage.soc_percent.iloc[0] != site.net.storage.soc_percent.iloc[0]
    assert k > 0


def test_outage_row_of_an_element_already_out_reproduces_n0_window_minimum():
    # run_outage on an outage that changes nothing (a line added out of service) reports the N-0
    # window's lowest voltage of the real buses
    import pandapower as pp

    st = _demo(3600)
    site = st.build_site()
    spare = pp.create_line_from_parameters(site.net, site.source_bus, site.poi_bus, 1.0, 0.1, 0.3, 0.0, 1.0,
                                           in_service=False, name="spare")
    prof = st.profiles()["without_battery"]
    n0 = _n0_with_all_windows(st, site, "without_battery", prof, 1200, "fast")
    ref = next(w for w in n0.windows.values() if w.index[0] == prof.index[2400])
    real = [c for c in ref.columns if c.startswith("vm_pu_bus_")
            and int(c.rsplit("_", 1)[1]) not in internal_buses(site)]
    s0 = window_start_site(site, n0, 2400, prof)
    row = run_outage(s0, Outage("line", spare, "spare"), "without_battery",
                     prof[list(ENGINE_COLUMNS)].iloc[2400:], st.controls("without_battery"), st.preset, "fast")
    assert row["worst_vm_pu"] == pytest.approx(float(ref[real].min().min()), abs=VM_TOL_PU)
    assert pd.notna(row["worst_vm_pu"])


def test_demo_worst_window_numbers_of_issue_12(tmp_path):
    # Issue 12 item 1, measured by a reviewer on the demo day: over the 18:00 window without the
    # battery, the MV minimum is 0.9789 pu with the N-0 taps (0.9608 with the first step's) for a
    # BESS-transformer outage (which changes nothing for the idle battery), and 0.9666 pu (0.9485)
    # for the loss of one 161 kV line. The issue gives four decimals: tolerance half a unit of the
    # last one. That day had 4 interruptions a day set in the file (the demo now derives its rate
    # from the GPU count): the same day again, with that rate.
    demo = tmp_path / "demo.toml"
    demo.write_text(DEMO.read_text().replace("restart_s = 300.0", "restart_s = 300.0\ninterruptions_per_day = 4.0", 1))
    st = gridstudy.Study.from_file(demo)
    site = st.build_site()
    prof = st.profiles(only="without_battery")["without_battery"]
    n0 = run_qsts(st.qsts_inputs(site, "without_battery", prof, RecordSpec(worst_windows=0)), engine="fast", quiet=True)
    sl = contingency.worst_window(n0.series["poi_vm_pu"], "1h")
    assert prof.index[sl.start].strftime("%H:%M") == "17:59"
    s0 = window_start_site(site, n0, sl.start, prof)
    win = prof[list(ENGINE_COLUMNS)].iloc[sl]
    ctrl = st.controls("without_battery")
    by_name = {str(site.net[e].at[i, "name"]): (e, i) for e in ("line", "trafo") for i in site.net[e].index}
    cases = {"BESS T 161/34.5kV 220MVA #1": (0.9789, 0.9608), "TVA-POI 161kV circuit #1": (0.9666, 0.9485)}
    for name, (now, before) in cases.items():
        e, i = by_name[name]
        out = Outage(e, i, name)
        assert run_outage(s0, out, "without_battery", win, ctrl, st.preset, "fast")["worst_vm_pu"] == pytest.approx(now, abs=5e-5)
        assert run_outage(site, out, "without_battery", win, ctrl, st.preset, "fast")["worst_vm_pu"] == pytest.approx(before, abs=5e-5)
