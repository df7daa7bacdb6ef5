"""The POI meter: its definition on the built site, its reading in both engines against
pandapower's own ``runpp``, and the criteria that judge it (issue 12, item 2).

Expected values come from pandapower's solver: the net is set to a step's operating point
(campus and battery set points, source voltage, tap positions) and solved with ``runpp``; the
expected meter is the sum of the ``res_trafo``/``res_trafo3w``/``res_impedance`` flows at the POI
end of the branches named *in the test* (not taken from the code under test) plus the campus
elements at the POI bus.

Tolerance 1e-6 MW/Mvar, why: the meter equals the facility's consumption plus its losses (power
balance at every facility bus, up to each solver's mismatch: 1e-8 MVA for the fast engine,
1e-10 MVA for ``runpp`` here); the losses depend on voltages that agree to ~1e-8 pu, which moves
a few MW of losses by ~1e-7 MW. Measured differences are ~2e-8 MW.
"""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from gridstudy.grid.poi_meter import poi_meter
from gridstudy.grid.reference import load_site
from gridstudy.grid.site import Site
from gridstudy.studies.criteria.meter import Meter
from gridstudy.studies.criteria.power_factor import PowerFactorBand
from gridstudy.studies.criteria.presets import custom_preset
from gridstudy.studies.judge.findings import scenario_findings, scenario_summary
from gridstudy.studies.output.result import StudyResult
from gridstudy.studies.qsts.inputs import QSTSInputs
from gridstudy.studies.qsts.run import run_qsts

TOL_MW = 1e-6  # see the module docstring
RUNPP = dict(algorithm="nr", calculate_voltage_angles=True, tolerance_mva=1e-10, lightsim2grid=False)


def _profile(site: Site, n: int, seed: int = 3, battery: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2025-07-15", periods=n, freq="1s")
    prof = {"campus_p_mw": site.campus_p_mw * (0.4 + 0.6 * rng.random(n)),
            "battery_p_mw": (0.25 * site.campus_p_mw * (rng.random(n) - 0.5)) if battery else np.zeros(n),
            "battery_q_mvar": (0.05 * site.campus_p_mw * (rng.random(n) - 0.5)) if battery else np.zeros(n)}
    return pd.DataFrame(prof, index=idx)


def _runpp_at(site: Site, result, j: int) -> pp.pandapowerNet:
    """The site's net at step ``j`` of ``result``, solved by pandapower: campus loads in proportion
    to their rated P at their own PF, storages split by ``max_e_mwh``, taps as recorded."""
    net = copy.deepcopy(site.net)
    s = result.series.iloc[j]
    loads = list(site.campus_loads)
    share = net.load.p_mw.loc[loads] / net.load.p_mw.loc[loads].sum()
    tan = (net.load.q_mvar.loc[loads] / net.load.p_mw.loc[loads]).fillna(0.0)
    net.load.loc[loads, "p_mw"] = s["campus_p_mw"] * share
    net.load.loc[loads, "q_mvar"] = s["campus_p_mw"] * share * tan
    if site.storages:
        st = list(site.storages)
        w = net.storage.max_e_mwh.loc[st] / net.storage.max_e_mwh.loc[st].sum()
        net.storage.loc[st, "p_mw"] = s["battery_p_mw"] * w
        net.storage.loc[st, "q_mvar"] = s["battery_q_mvar"] * w
    for t in site.regulating_trafos:
        name = net.trafo.at[t, "name"]
        net.trafo.at[t, "tap_pos"] = float(s[f"tap_pos_{name}"])
    pp.runpp(net, **RUNPP)
    # the series the engines report are the values applied: the check above reproduces them
    assert net.res_load.p_mw.loc[loads].sum() == pytest.approx(s["campus_p_mw"], abs=1e-9)
    return net


def test_definition_on_the_reference_sites():
    """Memphis: the facility is the campus and BESS 34.5 kV buses, metered on the HV side of the six
    transformers; the feeder: campus and battery at the POI itself, the utility's capacitor bank
    there is not part of the meter."""
    site = load_site("memphis-161kv")
    m = poi_meter(site.net, site.poi_bus, site.campus_loads, site.storages)
    names = {site.net.bus.at[b, "name"] for b in m.facility_buses}
    assert m.ok and names == {"Campus MV bus 34.5kV", "BESS MV bus 34.5kV"}
    assert m.branches == tuple(("trafo", t, "hv") for t in range(6)) and not m.loads and not m.storages
    feeder = load_site("feeder-34.5kv")
    m = poi_meter(feeder.net, feeder.poi_bus, feeder.campus_loads, feeder.storages)
    assert m.ok and m.branches == () and m.facility_buses == ()
    assert m.loads == tuple(feeder.campus_loads) and m.storages == tuple(feeder.storages)


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_memphis_meter_matches_runpp(engine):
    """Both engines' POI meter against runpp's ``Σ res_trafo.p_hv_mw`` of the six transformers at the
    POI, over steps with tap moves; and the power balance: meter = campus + battery + the
    transformers' losses (``pl_mw``)."""
    site = load_site("memphis-161kv")
    prof = _profile(site, 90)
    prof["campus_p_mw"] = site.campus_p_mw * (0.97 + 0.03 * np.sin(np.arange(90) / 5.0))  # near peak: taps move
    res = run_qsts(QSTSInputs(site, prof), engine=engine, quiet=True)
    assert res.converged.all()
    assert res.tap_operations.sum() > 0  # the meter follows the admittances of the taps in force
    at_poi = [t for t in site.net.trafo.index if site.net.trafo.at[t, "hv_bus"] == site.poi_bus]
    assert len(at_poi) == 6
    for j in (0, 17, 45, 89):
        net = _runpp_at(site, res, j)
        p = net.res_trafo.p_hv_mw.loc[at_poi].sum()
        q = net.res_trafo.q_hv_mvar.loc[at_poi].sum()
        assert res.series.poi_p_mw.iloc[j] == pytest.approx(p, abs=TOL_MW)
        assert res.series.poi_q_mvar.iloc[j] == pytest.approx(q, abs=TOL_MW)
        losses = net.res_trafo.pl_mw.sum()
        s = res.series.iloc[j]
        assert s.poi_p_mw == pytest.approx(s.campus_p_mw + s.battery_p_mw + losses, abs=TOL_MW)
        assert losses > 0.1  # the meter differs from the campus-side sum by more than the tolerance


def _mixed_site() -> Site:
    """A 110 kV network where the facility attaches in every way the meter handles: a hall directly
    at the POI, a 3-winding transformer on a bus fused with the POI by a closed bus-bus switch, a
    battery behind an impedance; the utility's own load, shunt and line at the POI are not part
    of the meter."""
    net = pp.create_empty_network(sn_mva=100.0)
    src = pp.create_bus(net, 110.0, name="source")
    poi = pp.create_bus(net, 110.0, name="POI")
    poi2 = pp.create_bus(net, 110.0, name="POI section 2")
    mv = pp.create_bus(net, 34.5, name="campus MV")
    lv = pp.create_bus(net, 10.0, name="campus LV")
    bess = pp.create_bus(net, 110.0, name="BESS")
    other = pp.create_bus(net, 110.0, name="utility bus")
    pp.create_ext_grid(net, src, vm_pu=1.02)
    pp.create_line_from_parameters(net, src, poi, 12.0, 0.06, 0.4, 9.0, 1.0, name="source line")
    pp.create_line_from_parameters(net, poi, other, 8.0, 0.06, 0.4, 9.0, 0.6, name="utility line")
    pp.create_switch(net, poi, poi2, et="b", closed=True, name="POI bus coupler")
    pp.create_transformer3w_from_parameters(
        net, poi2, mv, lv, vn_hv_kv=110.0, vn_mv_kv=34.5, vn_lv_kv=10.0, sn_hv_mva=120.0, sn_mv_mva=80.0,
        sn_lv_mva=40.0, vk_hv_percent=11.0, vk_mv_percent=10.0, vk_lv_percent=9.0, vkr_hv_percent=0.35,
        vkr_mv_percent=0.3, vkr_lv_percent=0.3, pfe_kw=40.0, i0_percent=0.05, name="campus T3W")
    pp.create_impedance(net, poi, bess, rft_pu=0.002, xft_pu=0.02, sn_mva=100.0, name="BESS connection")
    halls = [pp.create_load(net, mv, 40.0, 8.0, name="hall MV"), pp.create_load(net, lv, 20.0, 4.0, name="hall LV"),
             pp.create_load(net, poi, 15.0, 3.0, name="hall at POI")]
    pp.create_load(net, poi, 7.0, 2.0, name="utility load at POI")
    pp.create_load(net, other, 9.0, 3.0, name="utility load")
    pp.create_shunt(net, poi, q_mvar=-5.0, name="utility capacitor at POI")
    st = pp.create_storage(net, bess, 0.0, 60.0, q_mvar=0.0, sn_mva=60.0, name="battery")
    return Site(name="mixed", net=net, poi_bus=poi, source_bus=src, ext_grid=0, source_impedance=None,
                campus_loads=halls, storages=[st], regulating_trafos=[], campus_p_mw=75.0)


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_mixed_attachment_matches_runpp(engine):
    site = _mixed_site()
    m = poi_meter(site.net, site.poi_bus, site.campus_loads, site.storages)
    assert m.ok and m.poi_buses == (1, 2)
    assert m.branches == (("impedance", 0, "from"), ("trafo3w", 0, "hv")) and m.loads == (2,) and m.storages == ()
    assert {site.net.bus.at[b, "name"] for b in m.facility_buses} == {"campus MV", "campus LV", "BESS"}
    prof = _profile(site, 12, seed=5)
    res = run_qsts(QSTSInputs(site, prof), engine=engine, quiet=True)
    assert res.converged.all()
    for j in (0, 6, 11):
        net = _runpp_at(site, res, j)
        p = (net.res_trafo3w.p_hv_mw.at[0] + net.res_impedance.p_from_mw.at[0]
             + net.res_load.p_mw.at[2])  # hall at POI; not the utility load nor the capacitor
        q = net.res_trafo3w.q_hv_mvar.at[0] + net.res_impedance.q_from_mvar.at[0] + net.res_load.q_mvar.at[2]
        assert res.series.poi_p_mw.iloc[j] == pytest.approx(p, abs=TOL_MW)
        assert res.series.poi_q_mvar.iloc[j] == pytest.approx(q, abs=TOL_MW)


def test_engines_agree_on_the_meter():
    site = load_site("austin-345kv")
    prof = _profile(site, 60, seed=9)
    f, r = (run_qsts(QSTSInputs(site, prof), engine=e, quiet=True) for e in ("fast", "reference"))
    for col in ("poi_p_mw", "poi_q_mvar"):
        np.testing.assert_allclose(f.series[col], r.series[col], rtol=0, atol=TOL_MW)


def test_no_single_meter_is_reported_and_judged_on_the_campus_side():
    """A hall on a bus with its own path to the source: the POI is not the facility's only
    connection; the meter reads NaN in both engines and the criteria say they judged the campus side."""
    site = _mixed_site()
    net = site.net
    pp.create_line_from_parameters(net, 0, 3, 5.0, 0.1, 0.3, 0.0, 1.0)  # source straight to campus MV (34.5 kV: a short tie)
    m = poi_meter(net, site.poi_bus, site.campus_loads, site.storages)
    assert not m.ok and "source" in str(m.problem)
    prof = _profile(site, 4, battery=False)
    prof["campus_p_mw"] = 30.0
    for engine in ("fast", "reference"):
        res = run_qsts(QSTSInputs(site, prof), engine=engine, quiet=True)
        assert res.converged.all() and res.series.poi_p_mw.isna().all()
    full = prof.assign(campus_q_mvar=prof.campus_p_mw * 0.2, battery_q_mvar=0.0)
    fs = scenario_findings(site, res, custom_preset("t", ramps=()), full)
    pf = next(f for f in fs if f.group == "poi_power_factor")
    assert pf.details["measured_at"] == "campus_side" and "campus side" in pf.note


def test_power_factor_and_ramps_judged_at_the_meter():
    """Memphis, 300 MW without battery (issue 12, item 2): campus-side PF is the halls' 0.98; at the
    POI meter the transformers' reactive losses lower it below 0.97, so a 0.97 requirement fails.
    The expected meter PF is runpp's, from the HV-side flows of the six transformers."""
    site = load_site("memphis-161kv")
    n = 120
    idx = pd.date_range("2025-07-15", periods=n, freq="1s")
    prof = pd.DataFrame({"campus_p_mw": 300.0, "battery_p_mw": 0.0, "battery_q_mvar": 0.0}, index=idx)
    res = run_qsts(QSTSInputs(site, prof), engine="fast", quiet=True)
    taps = res.series.filter(like="tap_pos_").to_numpy()
    pfs = []
    for j in np.r_[0, np.flatnonzero((np.diff(taps, axis=0) != 0).any(axis=1)) + 1]:  # each tap setting
        net = _runpp_at(site, res, int(j))
        p, q = net.res_trafo.p_hv_mw.sum(), net.res_trafo.q_hv_mvar.sum()
        pfs.append(p / np.hypot(p, q))
    expected_pf = min(pfs)
    assert 0.96 < expected_pf < 0.97
    full = prof.assign(campus_q_mvar=res.series.campus_q_mvar)
    # each 1-s sample (the preset's 15-min demand interval does not fit in these 2 minutes): this
    # test is about where the PF is measured; how it is averaged is tests/studies/criteria/test_meter.py's
    preset = custom_preset("pf-0.97", power_factor=PowerFactorBand(0.97, 0.97, "test: 0.97 at the POI"),
                           meters={"power_factor": Meter("active and reactive power", averaging="sample")})
    fs = scenario_findings(site, res, preset, full)
    pf = next(f for f in fs if f.group == "poi_power_factor")
    assert not pf.passed and pf.details["measured_at"] == "poi_meter"
    assert pf.worst_value == pytest.approx(expected_pf, abs=1e-6)  # constant load: PF changes with the taps only
    assert pf.details["campus_side_pf_min"] == pytest.approx(0.98, abs=1e-9)  # the halls' own PF
    summ = scenario_summary(site, res, fs, full, preset)
    assert summ["poi_pf_min"] == pytest.approx(pf.worst_value, abs=1e-12)
    assert summ["grid_side_measured_at"] == "poi_meter"
    # a load step of 30 MW: the meter changes by 30 MW plus the change of the transformer losses
    prof2 = prof.copy()
    prof2.iloc[60:, 0] = 270.0
    res2 = run_qsts(QSTSInputs(site, prof2), engine="fast", quiet=True)
    summ2 = scenario_summary(site, res2, scenario_findings(site, res2, preset, prof2.assign(
        campus_q_mvar=res2.series.campus_q_mvar)), prof2.assign(campus_q_mvar=res2.series.campus_q_mvar), preset)
    m = res2.series.poi_p_mw.to_numpy()
    # the preset's MW/min meter: the change between consecutive 1-minute averages (by hand: the
    # means of whole minutes); campus side: exactly 30 MW, the meter adds the transformer losses
    blocks = m[: len(m) // 60 * 60].reshape(-1, 60).mean(axis=1)
    d_meter = np.abs(np.diff(blocks)).max()
    assert summ2["max_ramp_mw_per_min"] == pytest.approx(d_meter, abs=1e-9) and d_meter > 30.0 + 0.01
    study = StudyResult(summary={}, scenarios={"without_battery": res}, findings={}, profiles={"without_battery": full})
    np.testing.assert_array_equal(study.series()["without_battery|poi_p_mw"], res.series.poi_p_mw)
