"""``[dynamics]`` through ``gridstudy run``: bad input refused with nothing written (exit 2), ANDES
missing is the environment (exit 3), and a run writes ``dynamics.parquet`` and ``summary["dynamics"]``."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from gridstudy.grid.reference import reference_site_path
from gridstudy.studies.cli.main import main

STUDY = """
[study]
name = "dynamics check"
site = "memphis-161kv"
start = "2025-07-15T00:00:00"
duration = "3min"
step_s = 1.0
seed = 7

[campus]
gpu_model = "h100"

[battery]
strategy = "ramp_limit"

[fluctuation]
window_s = 60.0
warmup_s = 0.0
worst_windows = 1
events = false
latencies_s = [0.0]
control_modes = false
windows = ["2025-07-15T00:01:00"]

[contingencies]
enabled = false

[sag]
duration_s = 3.0
events = [{{ name = "sag to 0.8 pu for 100 ms", kind = "source_sag", vm_pu = 0.8, duration_s = 0.1 }}]

[dynamics]
enabled = true
{dynamics}
"""


def _study(tmp_path, dynamics: str = ""):
    p = tmp_path / "study.toml"
    p.write_text(STUDY.format(dynamics=dynamics))
    return p


@pytest.mark.parametrize(("line", "field", "value"), [
    ('windows = ["2025-07-15T00:02:00"]', "dynamics.windows[0]", "2025-07-15T00:02:00"),
    ('windows = ["largest"]', "dynamics.windows", "largest"),
    ('events = ["no such event"]', "dynamics.events[0]", "no such event"),
    ("step_s = 0.5", "dynamics.step_s", "0.5"),
    ("window_s = nan", "dynamics.window_s", "nan"),
    ('machine = "GENSAL"', "dynamics.machine", "GENSAL"),
    ('plant = "grid_forming"', "dynamics.plant", "grid_forming"),
])
def test_bad_dynamics_input_is_refused(tmp_path, capsys, line, field, value):
    out = tmp_path / "out"
    assert main(["run", str(_study(tmp_path, line)), "--out", str(out), "--no-report", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert field in err and value in err
    assert "Traceback" not in err
    assert not out.exists()


def test_machine_outside_its_model_range_is_refused(tmp_path, capsys):
    """The site's grid equivalent is a GENCLS with X'd = 2.0 pu (valid for it); the study asks for
    GENROU, whose X'd must lie below Xd (1.8 pu): refused naming the field, nothing written."""
    text = reference_site_path("memphis-161kv").read_text() + '\n[dynamics.grid]\nmodel = "GENCLS"\nxd1_pu = 2.0\n'
    (tmp_path / "site.toml").write_text(text)
    p = _study(tmp_path, 'machine = "GENROU"')
    p.write_text(p.read_text().replace('site = "memphis-161kv"', 'site = "site.toml"'))
    out = tmp_path / "out"
    assert main(["run", str(p), "--out", str(out), "--no-report", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "dynamics.machine" in err and "GENROU" in err and "xd_pu > xd1_pu" in err
    assert not out.exists()


def test_missing_andes_is_the_environment(tmp_path, capsys, monkeypatch):
    """Without ANDES (its import made to fail), ``[dynamics] enabled = true`` stops with exit code 3
    naming the extra, before anything is written."""
    monkeypatch.setitem(sys.modules, "andes", None)  # `import andes` raises ImportError
    out = tmp_path / "out"
    assert main(["run", str(_study(tmp_path)), "--out", str(out), "--no-report", "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "dynamics" in err and "pip install" in err
    assert not out.exists()


def test_run_writes_the_rms_check(tmp_path):
    pytest.importorskip("andes")
    p = _study(tmp_path, 'windows = ["worst", "2025-07-15T00:01:00"]\nwindow_s = 2.0\nload_loss_s = 3.0\n'
                         'machine = "GENCLS"')
    out = tmp_path / "out"
    assert main(["run", str(p), "--out", str(out), "--no-report", "--quiet"]) == 0
    s = json.loads((out / "summary.json").read_text())
    dy = s["dynamics"]
    assert dy["enabled"] and dy["machine"] == "GENCLS"
    cases = dy["cases"]
    # per scenario: the worst window and the named one; the sag event (with the plant); the load loss
    kinds = [c["kind"] for c in cases]
    assert kinds.count("window") == 4 and kinds.count("sag") == 1 and kinds.count("load_loss") == 1
    for c in cases:
        assert {"max_abs_dv_vs_qsts_pu", "freq_min_hz", "freq_max_hz", "converged"} <= set(c)
        assert c["converged"] is True
    df = pd.read_parquet(out / "dynamics.parquet")
    assert list(df.columns) == ["scenario", "case", "time", "poi_vm_pu", "poi_p_mw", "freq_hz", "plant_p_mw",
                                "plant_q_mvar"]
    assert set(df["case"]) == {c["case"] for c in cases}
    # the load loss raises frequency: the campus (300 MW at its peak) lost at 1 s against a 300-GVA
    # GENCLS of H = 4 s, no damping and no governor: df/dt = f0 dP / (2 H S) = 60 x 300 / (2 x 4 x
    # 300000) = 0.0075 Hz/s (a hand calculation), so 0.015 Hz by the end of the 3-s run; 10 %: the
    # network losses and the other loads' share of the imbalance
    ll = next(c for c in cases if c["kind"] == "load_loss")
    assert ll["freq_max_hz"] - 60.0 == pytest.approx(0.015, rel=0.1)
    # the report's section, rendered from the saved folder alone: the load loss's RMS zenith beside the
    # study's frequency screen, both as the summary holds them
    pytest.importorskip("weasyprint")
    from gridstudy.studies.report.render import render_report
    from gridstudy.studies.report.text import fmt_num

    html_path, _ = render_report(out, pdf=False)
    html = html_path.read_text()
    assert "Dynamic (RMS) check" in html
    assert f"reaches {fmt_num(ll['freq_max_hz'], 6)} Hz" in html
    assert f"zenith of {fmt_num(s['largest_load_loss']['frequency_zenith_hz'], 6)} Hz" in html
    assert "Sag recovery" in html and "Worst window: RMS against quasi-static" in html
