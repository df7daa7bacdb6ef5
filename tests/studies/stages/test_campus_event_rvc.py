"""The campus's own events (its trip, its return from backup) run for every scenario with that
scenario's plant, and the largest credible load loss judged on those steps where a plant acts.

Expected values by hand: the POI step of the campus trip from the Thevenin circuit of the site file
(the grid's source and lines behind ``z_grid``; a grid-forming plant as a voltage source behind its
BESS transformers and virtual impedance, ``z_plant``), with the campus's draw at the POI taken from
pandapower's own power flow.
"""

from __future__ import annotations

import cmath
import copy
import math

import pandapower as pp
import pytest

from gridstudy.models.grid_forming import GridFormingControl
from gridstudy.models.plant_response import PlantResponse
from gridstudy.studies.criteria.voltage import voltage_class
from gridstudy.studies.qsts.inputs import VoltVarCurve
from gridstudy.studies.spec.interconnection import SagEvent, SagSection
from gridstudy.studies.stages.load_loss import largest_load_loss, load_loss_verdict_finding
from gridstudy.studies.stages.sag import (
    RETURN_KIND,
    EventPlant,
    campus_event_runs,
    campus_event_stage,
    sag_rvc_findings,
    scenario_event_plants,
)
from gridstudy.studies.study import Study

STUDY = """
[study]
name = "campus events"
site = "memphis-161kv"
duration = "1min"
[battery]
strategy = "ramp_limit"
[contingencies]
enabled = false
[sag]
duration_s = 3.0
[[sag.events]]
name = "campus trip to backup"
kind = "campus_trip"
[[sag.events]]
name = "recloser shot"
kind = "source_sag"
[[scenarios]]
name = "gfm"
battery = { control = { mode = "grid_forming" } }
[[scenarios]]
name = "idle"
battery = { strategy = "none" }
"""

#: A volt-var curve that never moves the plant's reactive power: the grid-following plant then
#: differs from no plant only by its active power, which its latency holds back.
NO_VAR = VoltVarCurve((0.5, 1.5), (0.0, 0.0), 0.0, "no reactive power")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    p = tmp_path_factory.mktemp("events") / "s.toml"
    p.write_text(STUDY)
    s = Study.from_file(p)
    return s, s.build_site()


@pytest.fixture(scope="module")
def runs(study):
    s, site = study
    return campus_event_stage(s, site, "fast")


def _rows(runs, scen):
    return {r["kind"]: r for r in runs[scen]}


def test_a_grid_forming_plant_lets_through_the_share_the_impedance_divider_leaves_the_grid(study, runs):
    _, site = study
    net = copy.deepcopy(site.net)
    base = 100.0  # MVA, the per-unit base of the hand calculation
    # grid: the source's Thevenin impedance from the minimum fault level and X/R, then the two 12-km
    # 161-kV circuits in parallel (r 0.036, x 0.40 ohm/km): the site file's data
    eg = net.ext_grid.iloc[0]
    rx = float(eg.rx_min)
    z_grid = (base / float(eg.s_sc_min_mva) * complex(rx, 1.0) / math.sqrt(1.0 + rx * rx)
              + complex(0.036, 0.40) * 12.0 / (161.0 ** 2 / base) / 2.0)
    # plant: three 220-MVA BESS transformers in parallel (vk 10 %, vkr 0.3 %), then the virtual
    # impedance (j0.15 on the plant's MVA, the control's default)
    vk, vkr = 0.10, 0.003
    z_plant = (complex(vkr, math.sqrt(vk * vk - vkr * vkr)) * base / 220.0 / 3.0
               + GridFormingControl().z_pu * base / float(net.storage.sn_mva.sum()))
    # before the trip (pandapower's power flow, the plant at 0): the POI phasor and the campus's
    # current into its transformers; the grid's EMF is e = v0 + z_grid i0, the plant's is v0 (no current)
    net.storage["p_mw"] = 0.0
    net.storage["q_mvar"] = 0.0
    pp.runpp(net, calculate_voltage_angles=True)
    campus_t = [i for i in net.trafo.index if str(net.trafo.at[i, "name"]).startswith("Campus")]
    s0 = complex(net.res_trafo.loc[campus_t, "p_hv_mw"].sum(), net.res_trafo.loc[campus_t, "q_hv_mvar"].sum()) / base
    v0 = cmath.rect(float(net.res_bus.at[site.poi_bus, "vm_pu"]), math.radians(float(net.res_bus.at[site.poi_bus, "va_degree"])))
    i0 = (s0 / v0).conjugate()
    # after the trip no load draws: without a plant the POI rises to e; with the grid-forming plant
    # the two sources share (e - v0) as a current divider, and the POI sits at v0 + z_grid i0 (1 - s)
    share = z_grid / (z_grid + z_plant)
    step_none = 100.0 * (abs(v0 + z_grid * i0) - abs(v0))
    step_gfm = 100.0 * (abs(v0 + z_grid * i0 * (1.0 - share)) - abs(v0))
    none, gfm = _rows(runs, "without_battery")["campus_trip"], _rows(runs, "gfm")["campus_trip"]
    assert gfm["plant_mode"] == "grid_forming" and none["plant_mode"] == "idle"
    # 1 %: the circuit neglects the lines' charging and the campus's voltage dependence, which the
    # event run applies to the draw before the trip
    assert none["first_step_pct"] == pytest.approx(step_none, rel=0.01)
    assert gfm["first_step_pct"] == pytest.approx(step_gfm, rel=0.01)
    assert gfm["first_step_pct"] / none["first_step_pct"] == pytest.approx(step_gfm / step_none, rel=0.01)
    assert 0.3 < share.real < 0.5  # the plant takes about 40 % of the edge (docs/sources/megapack.md §9)
    # its power loop then hands the edge back to the grid (the largest change comes after the first
    # step), yet the change stays below the trip's without a plant: the dispatch's set-point takes it
    assert gfm["first_step_pct"] < gfm["rvc_pct"] < none["rvc_pct"]
    # the return from backup, the campus back at its peak as one step, is the same circuit reversed
    back_none, back_gfm = _rows(runs, "without_battery")[RETURN_KIND], _rows(runs, "gfm")[RETURN_KIND]
    # 1 %: as above, from the other side of the step
    assert -back_none["first_step_pct"] == pytest.approx(step_none, rel=0.01)
    assert back_gfm["rvc_pct"] < back_none["rvc_pct"]


def test_a_grid_following_plant_lets_the_whole_step_through_its_latency(study):
    s, site = study
    sec = SagSection(step_s=0.02, duration_s=3.0, events=[SagEvent(name="campus trip", kind="campus_trip")])
    central = PlantResponse()  # the Megapack defaults: 0.145 s from measurement to power
    assert central.total_latency_s > sec.step_s
    kw = {"ramp_mw_per_min": 20.0, "window_mw": 10.0}
    plants = {"none": None, "gfl": EventPlant("ramp_limit", kw, NO_VAR, central, None)}
    out = campus_event_runs(site, sec, s.battery, plants, s.preset, "fast", s.campus_voltage)
    for kind in ("campus_trip", RETURN_KIND):
        none, gfl = _rows(out, "none")[kind], _rows(out, "gfl")[kind]
        # the same power flow in the first step (the plant has not moved yet): equal to rounding
        assert gfl["first_step_pct"] == pytest.approx(none["first_step_pct"], abs=1e-9)
        # and that first step is the largest change: the plant only brings the POI back after it
        assert gfl["rvc_pct"] == pytest.approx(none["rvc_pct"], abs=1e-9)
        # from the same state: the plant idle before the event, its reactive power held at zero
        assert gfl["pre_event_poi_vm_pu"] == pytest.approx(none["pre_event_poi_vm_pu"], abs=1e-12)


def test_every_scenario_gets_its_own_finding_from_its_own_runs(study, runs):
    s, site = study
    assert set(runs) == {"without_battery", "with_battery", "gfm", "idle"}
    plants = scenario_event_plants(s)
    assert plants["idle"] is None and plants["without_battery"] is None
    assert plants["gfm"] is not None and plants["gfm"].mode == "grid_forming"
    cls = voltage_class(site.poi_vn_kv)
    limits = s.preset.rvc_limits(cls)
    f = sag_rvc_findings(runs, limits)
    assert set(f) == set(runs)
    for scen, finding in f.items():
        # each finding is the worst of its own scenario's runs (the utility-side sag is no RVC)
        assert finding.worst_value == pytest.approx(max(r["rvc_pct"] for r in runs[scen]), abs=1e-12)
        assert finding.details["plant_mode"] == runs[scen][0]["plant_mode"]
        assert {r["kind"] for r in runs[scen]} == {"campus_trip", RETURN_KIND}
    assert f["gfm"].worst_value < f["without_battery"].worst_value
    # no plant acts in the idle scenario: the same runs as without a battery
    assert f["idle"].worst_value == pytest.approx(f["without_battery"].worst_value, abs=1e-12)

    # the largest credible load loss: the static campus trip (plant at 0 MW) equals the no-plant event
    campus = s.campus_profile()
    block = largest_load_loss(site, campus, s.preset, {}, [], [], plant=s.battery, profiles={})
    static = abs(block["campus_trip"]["poi_step_pct"])
    # 0.01 % of nominal: the event run draws the campus with its voltage dependence before the trip
    # and at the site's rated peak; the static flow at constant power and the horizon's peak
    assert _rows(runs, "without_battery")["campus_trip"]["rvc_pct"] == pytest.approx(static, abs=0.01)
    for scen, has_plant in (("without_battery", False), ("idle", False), ("with_battery", True), ("gfm", True)):
        fd = load_loss_verdict_finding(block, s.preset, has_plant, cls, runs[scen])
        steps = fd.details["rvc_steps"]
        if has_plant:  # the scenario's own 20-ms runs
            assert steps["trip"]["pct"] == _rows(runs, scen)["campus_trip"]["rvc_pct"]
            assert steps["return"]["pct"] == _rows(runs, scen)[RETURN_KIND]["rvc_pct"]
            assert steps["trip"]["basis"].startswith("20-ms event run")
        else:  # the static power flow, the plant at 0 MW
            assert steps["trip"]["pct"] == pytest.approx(static, abs=1e-12)
            assert steps["trip"]["basis"] == "static power flow, no plant"
        assert ("20-ms event run" in fd.note) is has_plant
    # the plant's own trips are faults, judged by the band and the frequency screen, never as RVC
    assert all("rvc_kind" not in c for c in block["cases"] if c.get("plant_before_mw"))
    # a grid-forming plant's steps pass the 3 % cap here, a plant-less campus's do not
    gfm_ll = load_loss_verdict_finding(block, s.preset, True, cls, runs["gfm"])
    assert gfm_ll.details["rvc_pass"] is (max(r["rvc_pct"] for r in runs["gfm"]) <= limits.day_pct)
    assert load_loss_verdict_finding(block, s.preset, False, cls, runs["idle"]).details["rvc_pass"] is (
        static <= limits.day_pct)
