"""Sub-second fidelity: windows made by the campus model at a fine step, screened by its own changes,
run from the study-step state, judged by the flickermeter, the short-window criteria and the
oscillation screen."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from gridstudy.models import CampusLoadParams, make_index
from gridstudy.models.campus import campus_load, campus_window, change_severity, swing_amplitude_p_mw
from gridstudy.studies.stages.fluctuation import aliased, oscillation_spectrum
from gridstudy.studies.study import Study


def test_window_is_the_same_realization_at_a_finer_step():
    """Averaged back over each second, the 20-ms window equals the 1-s series there: the model made
    the window itself (not an interpolation), from the same iterations, checkpoints and
    interruptions. Tolerance 1e-9 MW: summation order only (values ~1e2 MW, float64)."""
    p = CampusLoadParams(gpus=60_000, seed=5, interruptions_per_day=24.0, checkpoint_interval_s=900.0)
    idx = make_index("2025-07-15", 7200, 1.0)
    coarse = campus_load(idx, p)
    start = pd.Timestamp("2025-07-15 01:20:00")
    fine = campus_window(idx, p, start, start + pd.Timedelta("2min"), 0.02)
    back = fine["campus_p_mw"].to_numpy().reshape(-1, 50).mean(axis=1)
    ref = coarse.loc[start:start + pd.Timedelta("119s"), "campus_p_mw"].to_numpy()
    assert np.abs(back - ref).max() <= 1e-9
    # and the fine series holds the swing the 1-s averages fold: a 1.5-s iteration between compute
    # and communication is at least 90 % of its full depth at 20 ms, much less at 1 s
    swing = p.it_scale_mw * p.compute_fraction * p.swing_depth
    assert fine["campus_p_mw"].rolling(100).apply(np.ptp).max() >= 0.9 * swing
    assert coarse.loc[start:start + pd.Timedelta("119s"), "campus_p_mw"].rolling(2).apply(np.ptp).max() < 0.8 * swing


def test_change_severity_counts_the_model_own_edges():
    """No jitter, no checkpoints: iterations of 1.5 s with compute for 70 %: edges at 1.5 k (k >= 1)
    and 1.5 k + 1.05 (k >= 0). In (0, 600) s: 399 + 400 = 799 edges, each of
    it_scale x (hi - lo) MW, so the first window's severity is 799 x A^3.2 (hand count)."""
    p = CampusLoadParams(gpus=10_000, jitter=0.0, checkpoint_interval_s=None, seed=1)
    idx = make_index("2025-07-15", 1200, 1.0)
    sev = change_severity(idx, p, 600.0)
    a = p.it_scale_mw * p.compute_fraction * p.swing_depth
    assert len(sev) == 2
    assert sev.iloc[0] == pytest.approx(799 * a ** 3.2, rel=1e-12)
    # a checkpoint at 700 s (down at 1.9 pu/s, 20 s at idle, back up) adds its drop and return, two
    # changes of it_scale x (mean level - idle), and silences the edges while it lasts: edges at idle
    # count nothing, edges on its ramps count a fraction, so the window's severity lies between the
    # two bounds written out here
    q = CampusLoadParams(gpus=10_000, jitter=0.0, checkpoint_interval_s=700.0, seed=1)
    ck = change_severity(idx, q, 600.0).iloc[1]
    tr = 1 / 1.9
    edges = np.array(sorted([1.5 * k for k in range(1, 800)] + [1.5 * k + 1.05 for k in range(800)]))
    in_span = int(((edges >= 700.0) & (edges <= 700.0 + 2 * tr + 20.0)).sum())
    in_idle = int(((edges >= 700.0 + tr) & (edges <= 700.0 + tr + 20.0)).sum())
    level = p.it_scale_mw * (0.7 * 1.0 + 0.3 * 0.4 - 0.1)  # duty-weighted training level minus idle
    assert sev.iloc[1] - in_span * a ** 3.2 + 2 * level ** 3.2 <= ck <= sev.iloc[1] - in_idle * a ** 3.2 + 2 * level ** 3.2


def test_aliasing_rule():
    p = CampusLoadParams(gpus=1000, period_s=1.5, jitter=0.05)
    one_s = Study(site="feeder-34.5kv", campus=p, index=make_index("2025-07-15", 60, 1.0))
    tenth = Study(site="feeder-34.5kv", campus=p, index=make_index("2025-07-15", 60, 0.1))
    # shortest period 1.5 s x (1 - 3 x 0.05) = 1.275 s; half of it 0.64 s: 1 s aliases, 0.1 s does not
    assert aliased(one_s) and not aliased(tenth)


def test_spectrum_reads_a_sinusoid_amplitude():
    """A 5-MW sinusoid at a bin frequency reads 5 MW (Hann window, single-sided, coherent gain
    corrected); 1e-9 relative: the window's scalloping is zero at a bin centre."""
    n, dt = 30_000, 0.02
    f0 = 0.675  # 0.675 x 600 s = 405 cycles: a bin frequency
    idx = pd.date_range("2025-07-15", periods=n, freq="20ms")
    p = pd.Series(100.0 + 5.0 * np.sin(2 * math.pi * f0 * np.arange(n) * dt), index=idx)
    sp = oscillation_spectrum(p)
    assert float(sp.idxmax()) == pytest.approx(f0, abs=1e-12)
    assert float(sp.max()) == pytest.approx(5.0, rel=1e-9)


def _study(tmp_path, extra: str = "", duration: str = "20min"):
    f = tmp_path / "s.toml"
    f.write_text(f'[study]\nname = "fl"\nsite = "feeder-34.5kv"\nstart = "2025-07-15T10:00:00"\nduration = "{duration}"\n'
                 'seed = 3\n[campus]\ngpus = 9000\ncheckpoint_interval_s = 600.0\n[battery]\nstrategy = "smoothing"\n'
                 '[battery.smoothing]\ntau_s = 20.0\n[contingencies]\nenabled = false\n[sag]\nenabled = false\n'
                 '[fluctuation]\nworst_windows = 1\nwindow_s = 120.0\nwarmup_s = 10.0\nlatencies_s = [0.0, 0.1]\n'
                 + extra)
    return f


def test_study_judges_fluctuations_on_sub_second_windows(tmp_path):
    study = Study.from_file(_study(tmp_path))
    res = study.run()
    s = res.summary
    assert s["fluctuation"]["assessed"] and s["fluctuation"]["aliased"]
    for sc in s["scenarios"].values():
        ids = [c["id"] for c in sc["criteria"]]
        assert len(ids) == len(set(ids))
        flick = next(c for c in sc["criteria"] if c["id"] == "flicker")
        # the verdict is the flickermeter's, at the sub-second step
        assert flick["details"]["method"] == "iec61000-4-15" and sc["flicker_method"] == "iec61000-4-15"
        assert sc["fluctuation_step_s"] == 0.02
        assert {"band_hz", "peak_mw", "peak_hz", "limit_mw", "pass"} <= set(sc["oscillation"])
        assert "oscillation" in ids
    # the Pst in the summary is reproducible from the saved series (item 8)
    out = res.save(tmp_path / "out")
    w = pd.read_parquet(out / "fluctuation_windows.parquet")
    assert {"scenario", "window", "time", "poi_vm_pu", "grid_p_mw"} <= set(w.columns)
    from gridstudy.studies.criteria.flickermeter import flickermeter

    summary = json.loads((out / "summary.json").read_text())
    for name, sc in summary["scenarios"].items():
        for label, pst in sc["pst_by_window"].items():
            g = w[(w["scenario"] == name) & (w["window"] == label)]
            vm = pd.Series(g["poi_vm_pu"].to_numpy(), index=pd.DatetimeIndex(g["time"]))
            vm.index.freq = "20ms"
            again = flickermeter(vm, lamp="120V", settle_s=10.0, interval_s=120.0).pst_max
            assert again == pytest.approx(pst, rel=1e-12)
    sens = summary["latency_sensitivity"]
    assert {x["latency_s"] for x in sens} == {0.0, 0.1}
    assert all({"latency_s", "scenario", "pst_max", "max_p2p_mw_5s"} <= set(x) for x in sens)


@pytest.mark.parametrize("old, new, field", [
    ("worst_windows = 1\n", 'worst_windows = 1\nwindows = ["2025-07-16T00:00:00"]\n', "fluctuation.windows[0]"),
    ("window_s = 120.0", "window_s = 120.01", "fluctuation.window_s"),
    ("latencies_s = [0.0, 0.1]", "latencies_s = [-0.1]", "fluctuation.latencies_s"),
    ("latencies_s = [0.0, 0.1]", "latencies_s = [0.0, 0.1]\nperiods_s = [0.0]", "fluctuation.periods_s"),
])
def test_bad_fluctuation_input_names_the_field(tmp_path, old, new, field, cli):
    f = _study(tmp_path)
    f.write_text(f.read_text().replace(old, new))
    out = tmp_path / "out"
    code, _, err = cli("run", f, "--out", out, "--quiet")
    assert code == 2, err
    assert field in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.slow
def test_engines_agree_on_a_sub_second_window(tmp_path):
    """Both engines on the same 20-ms window from the same start state: 1e-8 pu, as on the study
    step (tests/studies/qsts/test_qsts_agreement.py)."""
    from gridstudy.studies.stages.fluctuation import Window, run_window

    study = Study.from_file(_study(tmp_path, duration="5min"))
    site = study.build_site()
    profs = study.profiles()
    n0 = study.qsts(site=site)
    start = pd.Timestamp("2025-07-15T10:02:00")
    settings = study.fluctuation.model_copy(update={"warmup_s": 2.0})
    win = Window(start, start + pd.Timedelta("4s"), "test")
    for name in ("without_battery", "with_battery"):
        strat = study.strategies()[name]
        fast = run_window(study, site, name, strat, n0[name], profs[name], win, settings, "fast")
        ref = run_window(study, site, name, strat, n0[name], profs[name], win, settings, "reference")
        assert fast.nonconverged_steps == ref.nonconverged_steps == 0
        assert np.abs(fast.poi_vm_pu.to_numpy() - ref.poi_vm_pu.to_numpy()).max() <= 1e-8


def test_swing_period_sensitivity_runs_each_period_on_the_worst_window(tmp_path):
    extra = "periods_s = [1.0, 3.0]\ncontrol_modes = false\n"
    f = _study(tmp_path, extra, duration="6min")
    # the 5-s peak-to-peak read on each 20-ms sample (the preset's 1-s RMS meter would average a
    # 1-s swing away; how a meter reads a series is tests/studies/criteria/test_meter.py's)
    f.write_text(f.read_text().replace("checkpoint_interval_s = 600.0", "checkpoint_interval_s = 600.0\n"
                                       "interruptions_per_day = 0.0")
                 + '[criteria.meters.peak_to_peak]\naveraging = "sample"\n')
    study = Study.from_file(f)
    s = study.run(contingencies=False, sag=False, capability=False).summary
    rows = s["swing_period_sensitivity"]
    # the campus alone and with the plant, each at both periods
    assert [(r["scenario"], r["period_s"]) for r in rows] == [
        ("without_battery", 1.0), ("without_battery", 3.0), ("with_battery", 1.0), ("with_battery", 3.0)]
    wo = {r["period_s"]: r for r in rows if r["scenario"] == "without_battery"}
    # without the plant the grid sees the whole swing within any 5 s at either period: 9,000 GPUs x
    # 700 W x 0.6 x 1.5 = 5.67 MW (hand calculation); the cooling load drifts within 5 s (time
    # constant 300 s) and the jitter moves the edges: 1 % (seen: 0.1 %)
    swing = swing_amplitude_p_mw(study.campus)
    assert swing == pytest.approx(5.67, rel=1e-12)
    for r in wo.values():
        assert r["max_p2p_mw_5s"] == pytest.approx(swing, rel=0.01)
        assert r["nonconverged_steps"] == 0
    # the oscillation screen's line is the swing's fundamental, 1 / period (a duty of 0.7 puts
    # |sin(0.7 pi)| = 0.81 in it against 0.48 in the second harmonic); 0.1 Hz: the resolution of
    # the screen's 10-s windows and the 5 % jitter of the period
    assert wo[1.0]["oscillation_peak_hz"] == pytest.approx(1.0, abs=0.1)
    assert wo[3.0]["oscillation_peak_hz"] == pytest.approx(1 / 3, abs=0.1)
    # the same step at 120 changes a minute (1-s period) flickers more than at 40 (3-s period):
    # IEC 61000-3-3's Pst = 1 curve for rectangular changes falls from 1 to ~1,000 changes/min
    assert wo[1.0]["pst_max"] > wo[3.0]["pst_max"]
