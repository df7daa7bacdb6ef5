"""The interconnection study end to end: scenarios, N-1 over time, bad study files."""

import json
from pathlib import Path

import pandas as pd
import pytest

from gridstudy.studies.cli.run_study import run_study

MESHED_SITE = """
name = "small-meshed"
poi = "POI 110kV"

[source]
bus = "Grid 110kV"
s_sc_max_mva = 3000.0
s_sc_min_mva = 2500.0

[[buses]]
name = "Grid 110kV"
vn_kv = 110.0

[[buses]]
name = "Mid 110kV"
vn_kv = 110.0

[[buses]]
name = "POI 110kV"
vn_kv = 110.0

[[buses]]
name = "Campus 20kV"
vn_kv = 20.0

[[lines]]
name = "Grid-Mid"
from_bus = "Grid 110kV"
to_bus = "Mid 110kV"
length_km = 10.0
circuits = 2
std_type = "243-AL1/39-ST1A 110.0"

[[lines]]
name = "Mid-POI"
from_bus = "Mid 110kV"
to_bus = "POI 110kV"
length_km = 3.0
std_type = "243-AL1/39-ST1A 110.0"

[[transformers]]
name = "T 110/20"
hv_bus = "POI 110kV"
lv_bus = "Campus 20kV"
sn_mva = 40.0
vn_hv_kv = 110.0
vn_lv_kv = 20.0
vk_percent = 12.0
vkr_percent = 0.4
parallel = 2
oltc = true

[campus]
[[campus.halls]]
name = "Hall"
bus = "Campus 20kV"
p_mw = 30.0

[battery]
model = "megapack2xl-2h"
units = 20
bus = "Campus 20kV"
"""


def study(tmp_path: Path, site: str, duration: str = "10min", extra: str = "") -> Path:
    p = tmp_path / "study.toml"
    p.write_text(f"""
[study]
name = "test"
site = "{site}"
duration = "{duration}"
step_s = 1.0
seed = 1

[campus]
job_start_s = 60.0
checkpoint_interval_s = 240.0

[battery]
strategy = "ramp_limit"

[battery.reactive]
mode = "fixed_pf"
pf = 1.0
{extra}
""")
    return p


INSTANT_PLANT = """
[battery.response]
measurement_delay_s = 0.0
measurement_tau_s = 0.0
control_period_s = 0.0
comms_latency_s = 0.0
inverter_tau_s = 0.0
"""


def test_battery_reduces_grid_side_ramps_and_poi_swing(tmp_path):
    """The strategy's mechanism, with a plant that answers in the step the load moves (its
    latency is judged in tests/studies/stages/test_fluctuation.py and by the sub-second windows)."""
    out = tmp_path / "out"
    s = run_study(study(tmp_path, "memphis-161kv", extra=INSTANT_PLANT), out, contingencies=False, sag=False,
                  quiet=True, report=False)
    wo, w = s["scenarios"]["without_battery"], s["scenarios"]["with_battery"]
    # a 300 MW campus swinging ~60 % of its IT load: far beyond 10 MW in 5 s without the buffer
    assert wo["max_p2p_mw_5s"] > 50.0
    # the 587 MW plant holds the ramp limit (10 MW per 5 s, 20 MW/min) at the study step and at
    # 20 ms alike when it answers at once; the criterion's 10 MW is judged at the POI meter, whose
    # losses add a fraction of a MW to the plant's 10 MW: 0.5 MW allowed for them
    assert w["max_p2p_mw_5s_study_step"] <= 10.0 + 0.5
    assert w["max_p2p_mw_5s"] <= 10.0 + 0.5
    assert w["max_ramp_mw_per_min"] <= 20.0 + 0.5
    assert w["battery_saturated_steps"] == 0
    series = pd.read_parquet(out / "series.parquet")
    swing = {n: series[f"{n}|poi_vm_pu"].max() - series[f"{n}|poi_vm_pu"].min() for n in ("without_battery", "with_battery")}
    assert swing["with_battery"] < 0.5 * swing["without_battery"]
    assert not wo["pass"]
    assert any(c["id"] == "grid_variation.ercot-5-s-peak-to-peak" and not c["pass"] for c in wo["criteria"])
    summary = json.loads((out / "summary.json").read_text())
    for key in ("study", "site", "steps", "step_s", "engine", "site_summary", "scenarios", "contingencies", "sag_events"):
        assert key in summary
    for key in ("pass", "poi_vm_pu_min", "poi_vm_pu_max", "seconds_outside_n0_band", "rvc_events", "pst_max",
                "max_ramp_mw_per_min", "max_p2p_mw_5s", "nonconverged_steps", "ride_through_trips",
                "load_loss_mw_max"):
        assert key in summary["scenarios"]["with_battery"]
    # no sag events, no N-1: the largest credible loss is the 300 MW campus tripping at its peak
    # together with the 587.4 MW plant (600 Megapack 2 XL 4-hour of 0.979 MW) charging at its rating,
    # which raises frequency (zenith); the largest pickup, the plant tripping while it discharges at
    # its rating (587.4 MW, more than the campus's 300 MW return from backup), lowers it (nadir)
    lll = summary["largest_load_loss"]
    causes = {c["cause"]: c["mw"] for c in lll["cases"]}
    assert causes["campus trip to backup at peak"] == 300.0
    assert lll["mw"] == pytest.approx(300.0 + 587.4, abs=1e-9)
    assert lll["cause"] == "campus and plant trip together, the plant charging at its rating"
    assert lll["largest_pickup_mw"] == pytest.approx(587.4, abs=1e-9)
    assert lll["largest_pickup_cause"] == "plant trip while discharging at its rating"
    assert lll["poi_vm_rise_pu"] > 0 and lll["frequency_zenith_hz"] > 60.0 and lll["frequency_nadir_hz"] < 60.0
    assert isinstance(lll["pass"], bool)
    assert summary["steps"] == 600 and summary["site_summary"]["converged"] is True


def test_n1_runs_credible_outages_and_lists_loss_of_supply(tmp_path):
    (tmp_path / "site.toml").write_text(MESHED_SITE)
    extra = '[contingencies]\nwindow = "all"\nworkers = 2\n'
    s = run_study(study(tmp_path, "site.toml", "5min", extra), tmp_path / "out", sag=False, quiet=True, report=False)
    ran = {(c["outage"], c["scenario"]) for c in s["contingencies"]}
    outages = {"Line Grid-Mid #1", "Line Grid-Mid #2", "Transformer T 110/20 #1", "Transformer T 110/20 #2"}
    assert ran == {(o, sc) for o in outages for sc in ("without_battery", "with_battery")}
    # the single Mid-POI line feeds the POI radially: its outage is loss of supply, not run
    assert [r["outage"] for r in s["loss_of_supply"]] == ["Line Mid-POI"]
    # its loss drops the campus at its 30 MW peak: one of the largest credible load losses
    causes = {c["cause"]: c["mw"] for c in s["largest_load_loss"]["cases"]}
    assert causes["N-1 loss of supply: Line Mid-POI"] == 30.0
    # larger still: the campus with the plant charging at its rating, the two lost together
    plant_mw = s["battery"]["p_mw"]
    assert s["largest_load_loss"]["mw"] == pytest.approx(30.0 + plant_mw, rel=1e-12)
    for c in s["contingencies"]:
        assert c["nonconverged_steps"] == 0 and c["worst_vm_pu"] > 0.85
    # with one of two identical transformers out, the other carries the whole hall: twice its
    # intact loading (window "all": the same steps); 5 % covers the lower voltage (more current)
    # and the changed losses
    t = next(c for c in s["contingencies"] if c["outage"] == "Transformer T 110/20 #1" and c["scenario"] == "without_battery")
    br = pd.read_parquet(tmp_path / "out" / "scenarios" / "without_battery" / "branch_summary.parquet")
    n0 = br.loc[br.name == "T 110/20 #2", "loading_max_percent"].iloc[0]
    assert t["max_loading_element"] == "T 110/20 #2"
    assert 2.0 * n0 <= t["max_loading_percent"] <= 2.1 * n0
    table = pd.read_parquet(tmp_path / "out" / "contingencies.parquet")
    assert len(table) == 8


def test_bad_study_file_lists_all_problems_and_writes_nothing(tmp_path, cli):
    p = tmp_path / "bad.toml"
    p.write_text("""
[study]
name = "bad"
site = "memphis-161kv"
duration = "10min"
step_s = -1.0

[battery]
units = -3
soc_min_percent = 90.0
soc_max_percent = 10.0
strategy = "ramp_limit"

[criteria]
preset = "nerc-9000"
""")
    out = tmp_path / "out"
    code, _stdout, err = cli("run", p, "--out", out)
    assert code == 2
    for field in ("study.step_s", "battery.units", "battery.soc_min_percent", "criteria.preset"):
        assert field in err, err
    assert "Traceback" not in err
    assert not out.exists()
