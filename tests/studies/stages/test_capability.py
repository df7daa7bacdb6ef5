"""The plant's full capability: the corners it can create, intact and after an outage.

Expected values come from outside the stage: pandapower's own Newton-Raphson on a net built in the
test from the same site file, the campus and the storage set by hand; the campus idle draw from the
campus model's definition written out here.
"""

from __future__ import annotations

import copy
import math

import pandapower as pp
import pandas as pd
import pytest

import gridstudy
from gridstudy.grid.reference import load_site
from gridstudy.grid.topology import site_outages
from gridstudy.models import MegapackPlant, make_index, make_strategy
from gridstudy.studies.output.result import StudyResult
from gridstudy.studies.stages.capability import (
    INTACT,
    CapabilityOutcome,
    Corner,
    capability_block,
    capability_rows,
    judge_state,
    plant_corners,
    solve_state,
)

SITE = "memphis-161kv"

#: Both solves are pandapower's Newton-Raphson on the same net to its default tolerance (1e-8 MVA on
#: the net's base): the same equations, the same taps and the same start give the same iterates, so
#: the POI voltage agrees far below 1e-9 pu.
VM_TOL_PU = 1e-9


def _study(units: int = 600, campus=None) -> gridstudy.Study:
    plant = MegapackPlant(units=units, model="megapack2xl-4h")
    return gridstudy.Study(site=SITE, campus=campus, strategy=make_strategy("ramp_limit", plant),
                           criteria="generic-utility", index=make_index("2025-07-01", 4, 1.0))


def _hand_net(rating_mw: float, campus_p_mw: float, pf: float, taps: dict[str, int], out_line: int | None = None):
    """The site file's net with the campus and the plant set by hand: the campus split equally
    over its three 100-MW halls at power factor ``pf``, the plant's single storage at ``rating_mw``
    (consumer view), the regulating transformers at ``taps`` (by name), optionally a line out."""
    net = copy.deepcopy(load_site(SITE).net)
    halls = net.load.index[net.load.name.str.startswith("Data hall")]
    assert len(halls) == 3 and (net.load.loc[halls, "p_mw"] == 100.0).all()  # the site file's halls
    net.load.loc[halls, "p_mw"] = campus_p_mw / 3
    net.load.loc[halls, "q_mvar"] = campus_p_mw / 3 * math.tan(math.acos(pf))
    assert len(net.storage) == 1
    net.storage["p_mw"] = rating_mw
    net.storage["q_mvar"] = 0.0
    for name, pos in taps.items():
        net.trafo.loc[net.trafo.name == name, "tap_pos"] = pos
    if out_line is not None:
        net.line.at[out_line, "in_service"] = False
    pp.runpp(net, calculate_voltage_angles=True)
    return net


@pytest.fixture(scope="module")
def demo_rows():
    """The 600-unit plant on memphis-161kv: both corners intact and with 161-kV circuit #1 out."""
    st = _study()
    site = st.build_site()
    line = [o for o in site_outages(site)[0] if o.element == "line" and o.index == 0]
    corners = plant_corners(st)
    return st, site, corners, capability_rows(site, corners, st.preset, line)


def test_corner_poi_voltage_equals_pandapower_on_a_hand_built_net(demo_rows):
    st, site, _, rows = demo_rows
    plant = st.battery
    assert plant is not None and len(rows) == 4  # two corners, intact and one outage each
    pf = st.campus.pf
    idle = st.campus.gpus * 700.0 * (1 + 0.5) * 0.10 * 1.3 / 1e6  # H100 TDP, node overhead, idle fraction, PUE
    want = {"peak_charging": (300.0, plant.p_max_mw), "idle_exporting": (idle, -plant.p_max_mw)}
    for r in rows:
        campus_p, bat_p = want[r["corner"]]
        assert r["campus_p_mw"] == pytest.approx(campus_p, rel=1e-12)  # the same arithmetic, rounding only
        assert r["plant_p_mw"] == bat_p
        net = _hand_net(bat_p, campus_p, pf, r["tap_pos"], None if r["outage"] == INTACT else 0)
        assert abs(r["poi_vm_pu"] - float(net.res_bus.vm_pu.at[site.poi_bus])) < VM_TOL_PU, r["outage"]
        assert r["converged"]


def test_taps_settle_into_their_band_or_at_a_limit(demo_rows):
    _, site, _, rows = demo_rows
    tr = site.net.trafo
    for r in rows:
        net = _hand_net(r["plant_p_mw"], r["campus_p_mw"], 0.98, r["tap_pos"], None if r["outage"] == INTACT else 0)
        for t in site.regulating_trafos:
            name = str(tr.at[t, "name"])
            vm = float(net.res_bus.vm_pu.at[int(tr.at[t, "lv_bus"])])
            lo = float(tr.at[t, "vm_set_pu"]) - float(tr.at[t, "deadband_pu"])
            hi = float(tr.at[t, "vm_set_pu"]) + float(tr.at[t, "deadband_pu"])
            pos = r["tap_pos"][name]
            # in band, or at the limit that would have raised (tap on the HV side: down raises) or lowered it
            assert lo <= vm <= hi or (vm < lo and pos == tr.at[t, "tap_min"]) or (vm > hi and pos == tr.at[t, "tap_max"]), \
                (r["corner"], r["outage"], name, vm, pos)


def test_the_review_numbers_are_reproduced(demo_rows):
    """An independent review found, for the campus at 300 MW and the plant charging at 587 MW: the POI
    at about 0.906 pu intact, about 0.81 pu with one 161-kV circuit out and the other at about 200 %."""
    _, _, _, rows = demo_rows
    n0 = next(r for r in rows if r["corner"] == "peak_charging" and r["outage"] == INTACT)
    n1 = next(r for r in rows if r["corner"] == "peak_charging" and r["outage"] != INTACT)
    # the review held the taps as built (0.9052 pu intact, 0.8115 pu and 202.4 % with a circuit out);
    # settled taps (the campus OLTCs at their limit) raise the campus bus, so the constant-power
    # campus draws less current and the transformers absorb less reactive power: about 2-6 mpu higher
    assert n0["poi_vm_pu"] == pytest.approx(0.906, abs=0.005)
    assert n1["poi_vm_pu"] == pytest.approx(0.81, abs=0.01)
    assert n1["max_loading_element"] == "TVA-POI 161kV circuit #2"
    assert n1["max_loading_percent"] == pytest.approx(200.0, abs=5.0)


def test_a_failing_corner_is_reported_and_fails_the_overall_verdict(demo_rows):
    st, _, corners, rows = demo_rows
    n0 = next(r for r in rows if r["corner"] == "peak_charging" and r["outage"] == INTACT)
    band = st.preset.band("HV", "n-0")
    assert n0["poi_vm_pu"] < band.vmin_pu  # below the 161-kV N-0 band: a violation to report
    assert n0["pass"] is False and "bus voltages N-0 (all buses)" in n0["violations"]
    block = capability_block(rows, corners)
    assert block["approach"] == "corners" and block["pass"] is False and block["n0_pass"] is False
    assert block["worst"]["peak_charging"]["N-0"]["min_vm_pu"] == n0["min_vm_pu"]
    result = StudyResult(summary={"pass": True}, scenarios={}, findings={}, profiles={})
    CapabilityOutcome(rows=rows, block=block).add_to(result)
    assert result.summary["pass"] is False and result.summary["plant_capability"] is block
    assert len(result.tables["plant_capability"]) == len(rows)


def test_a_small_plant_passes_its_corners():
    st = _study(units=50)  # 49 MW: both corners well inside every band and rating
    site = st.build_site()
    rows = capability_rows(site, plant_corners(st), st.preset, [])
    assert [r["pass"] for r in rows] == [True, True]
    result = StudyResult(summary={"pass": True}, scenarios={}, findings={}, profiles={})
    CapabilityOutcome(rows=rows, block=capability_block(rows, plant_corners(st))).add_to(result)
    assert result.summary["pass"] is True


def test_non_convergence_is_a_reported_result_not_an_exception(demo_rows):
    st, site, _, _ = demo_rows
    corner = Corner("peak_charging", 300.0, 60.0, 5000.0)  # far beyond what the 161-kV circuits can carry
    with pytest.raises(pp.LoadflowNotConverged):  # pandapower alone: no solution at this load
        _hand_net(5000.0, 300.0, 0.98, {})
    net, msg = solve_state(site, corner)
    assert "did not converge" in msg
    row, _ = judge_state(site, net, msg, st.preset, "n-0")
    assert row["converged"] is False and row["pass"] is False
    assert row["violations"] == ["power flow convergence"] and math.isnan(row["poi_vm_pu"])
    rows = capability_rows(site, [corner], st.preset, site_outages(site)[0][:1])
    assert [r["converged"] for r in rows] == [False, False]


def test_a_measured_campus_gives_its_lowest_step_as_idle():
    idx = make_index("2025-07-01", 4, 1.0)
    trace = pd.DataFrame({"campus_p_mw": [200.0, 40.0, 250.0, 120.0],
                          "campus_q_mvar": [40.0, 4.0, 25.0, 12.0]}, index=idx)
    st = _study(campus=trace)
    peak, idle = plant_corners(st)
    assert (idle.campus_p_mw, idle.campus_q_mvar) == (40.0, 4.0)
    assert peak.campus_p_mw == 300.0  # the site's campus peak, at the power factor of the trace's peak step
    assert peak.campus_q_mvar == pytest.approx(300.0 * 25.0 / 250.0, rel=1e-12)
    assert peak.scenarios == ("with_battery",)
