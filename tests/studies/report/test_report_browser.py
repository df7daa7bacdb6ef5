"""The HTML report in headless Chromium: it loads without console errors and its figures render.

Needs Debian's ``chromium`` (``scripts/ensure_browser.sh`` installs it where it can); skipped with
the reason where it is absent. The report is rendered from a small hand-made study output (no power
flow), so the test checks the browser side only; the content is checked in ``test_report.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CHROMIUM = shutil.which("chromium") or (str(Path("/usr/bin/chromium")) if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (run scripts/ensure_browser.sh)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-extensions", "--disable-default-apps", "--mute-audio"]

# Appended to a copy of the report: records script errors and the rendered size of every figure.
PROBE = """<script>
window.__errors = window.__errors || [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
window.addEventListener('load', () => {
  const figs = Array.from(document.querySelectorAll('figure')).map(f => {
    const s = f.querySelector('svg'); const r = s ? s.getBoundingClientRect() : {width: 0, height: 0};
    return {id: f.id, w: Math.round(r.width), h: Math.round(r.height),
            shapes: s ? s.querySelectorAll('path, use, text, rect, line, polyline').length : 0};
  });
  const out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify({errors: window.__errors, figures: figs});
  document.body.appendChild(out);
});
</script>"""


def _fake_study(d: Path) -> None:
    """A minimal output folder in the layout of ``run_study`` (two scenarios, 20 minutes at 1 s)."""
    from gridstudy.studies.io import write_json

    idx = pd.date_range("2025-07-01", periods=1200, freq="1s")
    t = np.arange(len(idx))
    campus = 250 + 60 * np.sign(np.sin(t / 0.8))
    bat = np.where(t > 5, -(campus - pd.Series(campus).ewm(span=60).mean().to_numpy()), 0.0)
    cols = {}
    for scen, b in (("without_battery", np.zeros_like(campus)), ("with_battery", bat)):
        grid = campus + b
        cols[f"{scen}|poi_vm_pu"] = 1.0 - 0.00005 * grid
        cols[f"{scen}|campus_p_mw"] = campus
        cols[f"{scen}|battery_p_mw"] = b
        cols[f"{scen}|soc_percent"] = 50 - np.cumsum(b) / 3600 / 2000 * 100
        cols[f"{scen}|grid_p_mw"] = grid
        cols[f"{scen}|tap_pos_T1"] = np.where(t > 600, -1.0, 0.0)
    pd.DataFrame(cols, index=idx).to_parquet(d / "series.parquet")
    groups = {"POI": ("poi_voltage.n-0", "poi_voltage"), "grid": ("grid_variation.5-s-peak", "grid_variation"),
              "flicker": ("flicker", "flicker")}
    crit = lambda name, ok, v, unit, lim: {  # noqa: E731
        "id": groups[name.split()[0].split("-")[0]][0], "group": groups[name.split()[0].split("-")[0]][1],
        "criterion": name, "pass": ok, "worst_value": v, "worst_unit": unit, "when": "2025-07-01T00:05:00",
        "seconds_outside": 0.0, "events": 0, "note": "",
        "limits": [{"name": lim[0], "value": lim[1], "unit": lim[2], "source": "test", "check": False}],
        "details": {"method": "range", "window_s": 5.0} if "peak" in name else {}}
    scen = {}
    for s, ok in (("without_battery", False), ("with_battery", True)):
        scen[s] = {"pass": ok, "poi_vm_pu_min": 0.98, "poi_vm_pu_max": 0.99, "n0_band_pu": [0.95, 1.05],
                   "max_ramp_mw_per_min": 120.0 if not ok else 9.0, "max_p2p_mw_5s": 120.0 if not ok else 5.0,
                   "tap_operations": 1, "strategy": "test", "failed": [] if ok else ["grid-side variation: 5-s peak"],
                   "criteria": [crit("POI voltage N-0", True, 0.98, "pu", ("N-0", [0.95, 1.05], "pu")),
                                crit("grid-side variation: 5-s peak", ok, 5.0 if ok else 120.0, "MW",
                                     ("5-s peak-to-peak", 10.0, "MW")),
                                crit("flicker (HV)", True, 0.3, "-", ("Pst planning level HV", 0.8, "-"))]}
    ts = np.arange(0, 3, 0.02)
    dip = np.where((ts > 1.0) & (ts < 1.06), 0.65, 1.0)
    frames = []
    for s, depth in (("without_battery", 0.38), ("with_battery", 0.33)):
        frames.append(pd.DataFrame({"event": "recloser shot, 60 ms at 0.65 pu", "scenario": s, "t_s": ts,
                                    "poi_vm_pu": 1 - depth * (dip < 1), "grid_p_mw": 300 - 50 * (dip < 1),
                                    "campus_p_mw": 300.0, "battery_p_mw": 0.0, "battery_q_mvar": 0.0,
                                    "source_vm_pu": dip}))
    pd.concat(frames, ignore_index=True).to_parquet(d / "sag_events.parquet")
    sag_row = {"event": "recloser shot, 60 ms at 0.65 pu", "kind": "source_sag"}
    for s, depth in (("without_battery", 0.38), ("with_battery", 0.33)):
        sag_row[s] = {"min_poi_vm_pu": 1 - depth, "pre_event_poi_vm_pu": 1.0, "dip_depth_pu": depth,
                      "seconds_below_0p9": 0.06, "trip": False, "trip_time_s": None, "grid_step_mw": 50.0,
                      "nonconverged_steps": 0}
    write_json(d / "summary.json", {
        "study": "browser test", "site": "no-such-site", "site_description": "hand-made output", "steps": 1200,
        "step_s": 1.0, "start": str(idx[0]), "end": str(idx[-1]), "engine": "fast", "criteria_preset": "generic-utility",
        "input_sha256": "0" * 64, "site_summary": {"poi_bus": "POI", "skss_max_mva": 4000.0}, "battery": None,
        "campus_model": {"gpus": 1000}, "scenarios": scen, "contingency_window": "", "contingencies": [],
        "loss_of_supply": [], "sag_events": [sag_row], "pass": False, "quasi_static_note": "quasi-static"})
    (d / "study.toml").write_text('[study]\nname = "browser test"\nsite = "no-such-site"\n')


def _chromium(args: list[str], tmp: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def report(tmp_path) -> Path:
    from gridstudy.studies.report.render import render_report

    d = tmp_path / "out"
    d.mkdir()
    _fake_study(d)
    html, _ = render_report(d, pdf=False)
    return html


def test_loads_without_console_errors(report, tmp_path):
    r = _chromium(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom", report.as_uri()], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "<figure" in r.stdout  # the page was parsed and serialised
    console = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, "\n".join(console)
    blocked = [ln for ln in r.stderr.splitlines() if re.search(r"ERR_(FILE_NOT_FOUND|NAME_NOT_RESOLVED|INTERNET_DISCONNECTED)", ln)]
    assert not blocked, "\n".join(blocked)  # nothing fetched from elsewhere


def test_figures_are_rendered(report, tmp_path):
    probe = report.with_name("probe.html")
    probe.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    r = _chromium(["--window-size=1200,2000", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], tmp_path)
    m = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout, re.S)
    assert m, r.stderr[-2000:]
    res = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert res["errors"] == []
    figs = res["figures"]
    assert len(figs) == report.read_text().count("<figure") >= 6, figs
    for f in figs:  # each figure laid out at a readable size and drawn with real content
        assert f["w"] >= 400 and f["h"] >= 120, f
        assert f["shapes"] >= 20, f
    shot = tmp_path / "shot.png"
    r = _chromium([f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri()], tmp_path)
    assert shot.is_file() and shot.stat().st_size > 20_000  # a blank page compresses to a few kB
