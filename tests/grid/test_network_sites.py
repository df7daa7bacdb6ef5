"""Sites on a utility's own network: SimBench with its own profiles through both QSTS engines,
per-element profile files, contingency and monitor selection, reduction to the study area, and
the errors of bad input."""

from __future__ import annotations

import textwrap
import warnings

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from engine_capture import TOL_PU, _capture_fast, _capture_reference

from gridstudy.grid.errors import InputError, SiteError
from gridstudy.grid.reference import load_site
from gridstudy.grid.topology import single_outages, site_outages
from gridstudy.models.element_profiles import element_profiles
from gridstudy.studies.qsts.inputs import QSTSInputs

SB_CODE = "1-HV-urban--0-no_sw"
POI = "HV2 Bus 96"


def _site_file(tmp_path, body: str, name: str = "site.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def _sb_site(tmp_path, extra: str = ""):
    return _site_file(tmp_path, f"""
        name = "sb"
        f_hz = 50.0
        poi = "{POI}"
        [network]
        simbench = "{SB_CODE}"
        profiles = "simbench"
        {extra}
        [campus]
        [[campus.halls]]
        name = "Hall"
        bus = "{POI}"
        p_mw = 60.0
        [battery]
        model = "megapack2xl-2h"
        units = 10
        bus = "{POI}"
    """)


@pytest.mark.slow
def test_simbench_profiles_both_engines_agree(tmp_path, monkeypatch):
    """SimBench's own profiles drive loads and PV/wind in both engines; they agree to 1e-8 pu
    (the tolerance of tests/studies/qsts/test_qsts_agreement.py, explained there), and the values applied are
    simbench.get_absolute_values' own at the same position in the year."""
    import simbench as sb

    site = load_site(_sb_site(tmp_path, "[network.contingencies]\nwithin_buses = 1"))
    index = pd.date_range("2025-07-15 10:00", periods=12, freq="15min")
    el = element_profiles(site, index)
    assert el is not None and len(el.indices("sgen")) == 98 and len(el.indices("load")) == 79
    campus = np.linspace(10.0, 60.0, len(index))
    inputs = QSTSInputs(site, pd.DataFrame({"campus_p_mw": campus, "battery_p_mw": -5.0}, index=index),
                        elements=el)
    vm_ref, _, ser_ref, conv_ref = _capture_reference(inputs, monkeypatch)
    vm_fast, _, ser_fast, conv_fast = _capture_fast(inputs, block_steps=5)
    assert conv_ref.all() and conv_fast.all()
    assert np.nanmax(np.abs(vm_ref - vm_fast)) <= TOL_PU
    assert np.nanmax(np.abs(ser_ref["grid_p_mw"] - ser_fast["grid_p_mw"])) <= 1e-6  # MW; mismatch 1e-8 MVA
    # the profiles moved the voltages: a run without them differs by more than the tolerance
    plain = QSTSInputs(site, inputs.profiles)
    vm_plain, _, _, _ = _capture_fast(plain)
    assert np.nanmax(np.abs(vm_plain - vm_fast)) > 1e-3
    # expected values from simbench itself: 15 Jul 10:00 is row (196 days + 10 h) * 4 of 2016's
    # profiles (1 Jan 2025 -> 1 Jan 2016; a 15-min study step on the 15-min rows takes one row)
    net = sb.get_simbench_net(SB_CODE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        absolute = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
    row = (pd.Timestamp("2025-07-15 10:00") - pd.Timestamp("2025-01-01")) // pd.Timedelta("15min")
    block = el.block(index[:1], int(pd.Timedelta("15min").value))
    idx, p, _ = block["sgen"]
    np.testing.assert_allclose(p[0], absolute[("sgen", "p_mw")].iloc[row][idx].to_numpy(), rtol=0, atol=1e-12)


def _csv_site(tmp_path, csv_name: str):
    """A site file on the SimBench grid whose other elements follow the profile file ``csv_name``."""
    return _site_file(tmp_path, f"""
        name = "csv"
        poi = "{POI}"
        [network]
        simbench = "{SB_CODE}"
        profiles = "{csv_name}"
        [campus]
        [[campus.halls]]
        name = "Hall"
        bus = "{POI}"
        p_mw = 50.0
    """)


def test_profile_csv_sets_elements_and_averages(tmp_path):
    """A CSV's columns drive the named elements: a 30-min step takes the mean of two 15-min rows
    (hand calculation), Q follows P at the base power factor where no Q column is given."""
    csv = tmp_path / "profiles.csv"
    times = pd.date_range("2025-07-15 00:00", periods=8, freq="15min")
    pd.DataFrame({"load:HV2 Load 1:p_mw": [1, 3, 5, 7, 9, 11, 13, 15],
                  "sgen:0:p_mw": [2.0] * 8, "sgen:0:q_mvar": [0.5] * 8}, index=times).to_csv(csv)
    path = _csv_site(tmp_path, "profiles.csv")
    site = load_site(path)
    index = pd.date_range("2025-07-15 00:00", periods=4, freq="30min")
    el = element_profiles(site, index)
    blk = el.block(index, int(pd.Timedelta("30min").value))
    li, lp, lq = blk["load"]
    load = int(site.net.load.index[site.net.load.name == "HV2 Load 1"][0])
    assert li.tolist() == [load]
    np.testing.assert_allclose(lp[:, 0], [2.0, 6.0, 10.0, 14.0], atol=1e-12)  # (1+3)/2, (5+7)/2, ...
    ratio = site.net.load.at[load, "q_mvar"] / site.net.load.at[load, "p_mw"]
    np.testing.assert_allclose(lq[:, 0], lp[:, 0] * ratio, rtol=1e-12)
    np.testing.assert_allclose(blk["sgen"][2][:, 0], 0.5, atol=1e-12)
    # the horizon must lie inside the file's rows
    with pytest.raises(InputError) as exc:
        element_profiles(site, pd.date_range("2025-07-15 01:00", periods=4, freq="30min"))
    assert "network.profiles" in exc.value.fields


def test_profile_csv_unknown_elements_listed(tmp_path):
    csv = tmp_path / "bad.csv"
    times = pd.date_range("2025-07-15", periods=3, freq="1h")
    pd.DataFrame({"load:No such load:p_mw": 1.0, "sgen:9999:p_mw": 1.0, "gen:0:q_mvar": 1.0,
                  "shunt:1:q_mvar": 1.0}, index=times).to_csv(csv)
    path = _csv_site(tmp_path, "bad.csv")
    site = load_site(path)
    with pytest.raises(InputError) as exc:
        element_profiles(site, pd.date_range("2025-07-15", periods=2, freq="1h"))
    text = str(exc.value)
    assert "No such load" in text and "9999" in text and "gen:0:q_mvar" in text and "shunt:1:q_mvar" in text
    assert len(exc.value.problems) == 4


def test_contingency_and_monitor_selection(tmp_path):
    """within_buses = 1 selects exactly the lines at the POI (counted from net.line here)."""
    site = load_site(_sb_site(tmp_path, """
        [network.contingencies]
        within_buses = 1
        [network.monitor]
        buses = ["HV2 Bus 1"]
        branches = ["line:HV2 Line 25"]
    """))
    net, poi = site.net, site.poi_bus
    neighbours = set(net.line.to_bus[net.line.from_bus == poi]) | set(net.line.from_bus[net.line.to_bus == poi]) | {poi}
    expected = sorted(("line", int(i)) for i in net.line.index
                      if net.line.at[i, "from_bus"] in neighbours or net.line.at[i, "to_bus"] in neighbours)
    assert site.contingencies == expected
    credible, lost = site_outages(site)
    assert {(o.element, o.index) for o in credible + lost} == set(expected)
    assert len(credible + lost) < sum(len(x) for x in single_outages(net, poi))
    named = int(net.bus.index[net.bus.name == "HV2 Bus 1"][0])
    assert named in site.monitored_buses and poi in site.monitored_buses
    # the battery's step-up transformer and collector bus are the site's own: always monitored
    assert site.monitored_branches is not None and ("line", int(net.line.index[net.line.name == "HV2 Line 25"][0])) in site.monitored_branches


def test_bad_network_inputs_listed(tmp_path):
    path = _site_file(tmp_path, """
        name = "bad"
        poi = "Nowhere"
        [network]
        simbench = "1-HV-urban--0-no_sw"
        [campus]
        [[campus.halls]]
        name = "Hall"
        bus = "Nowhere either"
        p_mw = 50.0
    """)
    with pytest.raises(SiteError) as exc:
        load_site(path)
    assert exc.value.fields == ["poi", "campus.halls[0].bus"]
    assert "Nowhere either" in str(exc.value)
    missing = _site_file(tmp_path, """
        name = "bad"
        poi = 1
        [network]
        path = "no-such-file.raw"
        [campus]
        [[campus.halls]]
        name = "Hall"
        bus = "1"
        p_mw = 50.0
    """, "missing.toml")
    with pytest.raises(SiteError) as exc:
        load_site(missing)
    assert exc.value.fields == ["network.path"] and "no-such-file.raw" in str(exc.value)
    unknown = _site_file(tmp_path, """
        name = "bad"
        poi = 1
        [network]
        path = "grid.xyz"
        format = "psse-v99"
        [campus]
        [[campus.halls]]
        name = "Hall"
        bus = "1"
        p_mw = 50.0
    """, "unknown.toml")
    (tmp_path / "grid.xyz").write_text("")
    with pytest.raises(SiteError) as exc:
        load_site(unknown)
    assert exc.value.fields == ["network.format"] and "psse-v99" in str(exc.value)


@pytest.mark.slow
def test_example_simbench_site_runs_both_engines():
    """examples/simbench-hv-site.toml: its base case converges and a short QSTS with its own
    profiles converges on both engines, which agree (tolerance: tests/studies/qsts/test_qsts_agreement.py)."""
    from pathlib import Path

    from gridstudy.studies.qsts.run import run_qsts

    site = load_site(Path(__file__).resolve().parents[2] / "examples" / "simbench-hv-site.toml")
    net = site.net
    pp.runpp(net, calculate_voltage_angles=True)
    assert net.converged and 0.95 < net.res_bus.vm_pu.at[site.poi_bus] < 1.05
    index = pd.date_range("2025-07-15 11:00", periods=20, freq="1min")
    prof = pd.DataFrame({"campus_p_mw": np.where(np.arange(20) % 2, 100.0, 40.0)}, index=index)
    inputs = QSTSInputs(site, prof, elements=element_profiles(site, index))
    fast = run_qsts(inputs, engine="fast", quiet=True)
    ref = run_qsts(inputs, engine="reference", quiet=True)
    assert fast.nonconverged_steps == 0 and ref.nonconverged_steps == 0
    a = fast.series["poi_vm_pu"].to_numpy()
    b = ref.series["poi_vm_pu"].to_numpy()
    assert np.abs(a - b).max() <= TOL_PU


@pytest.mark.slow
def test_reduced_network_follows_full_over_a_day(tmp_path):
    """A Ward equivalent of everything beyond 3 branches from the POI: over a day of hourly steps
    with the campus swinging 0..100 MW, the reduced model's POI voltage stays within 1e-4 pu of the
    full model's (both solved by pandapower's runpp; measured: 1.5e-5 pu).

    Why 1e-4 pu: a Ward equivalent is exact at the operating point where it is computed (the base
    network before the campus is attached; checked to 1e-8 pu with the campus off) and linear
    around it: the
    external loads and generators become constant injections at the boundary, so when the campus
    moves the boundary voltages by ~1 %, their voltage dependence through the external network is
    lost to second order -- about 1e-5 pu at this grid's strength; 1e-4 pu bounds it with margin
    and is two orders below the voltage bands judged (±0.05 pu).
    """
    full = load_site(_sb_site(tmp_path))
    reduced = load_site(_site_file(tmp_path, f"""
        name = "sb-reduced"
        f_hz = 50.0
        poi = "{POI}"
        [network]
        simbench = "{SB_CODE}"
        [network.reduce]
        method = "ward"
        radius = 3
        [campus]
        [[campus.halls]]
        name = "Hall"
        bus = "{POI}"
        p_mw = 60.0
        [battery]
        model = "megapack2xl-2h"
        units = 10
        bus = "{POI}"
    """, "reduced.toml"))
    assert len(reduced.net.bus) < len(full.net.bus) / 3
    at_base = []
    for s in (full, reduced):  # the operating point the equivalent was computed at: campus off
        s.net.load.loc[s.campus_loads, ["p_mw", "q_mvar"]] = 0.0
        pp.runpp(s.net, calculate_voltage_angles=True)
        at_base.append(float(s.net.res_bus.vm_pu.at[s.poi_bus]))
    assert abs(at_base[0] - at_base[1]) <= 1e-8  # exact there, to the power flow's tolerance
    hours = np.arange(24)
    campus_mw = 50.0 + 50.0 * np.sin(2 * np.pi * hours / 24.0)
    worst = 0.0
    for mw in campus_mw:
        v = []
        for s in (full, reduced):
            s.net.load.loc[s.campus_loads, "p_mw"] = mw
            s.net.load.loc[s.campus_loads, "q_mvar"] = mw * 0.2
            pp.runpp(s.net, calculate_voltage_angles=True)
            v.append(float(s.net.res_bus.vm_pu.at[s.poi_bus]))
        worst = max(worst, abs(v[0] - v[1]))
    print(f"worst POI voltage difference reduced vs full: {worst:.2e} pu")
    assert worst <= 1e-4


def test_contingency_window_follows_the_network_profiles(tmp_path):
    """An outage that removes nothing reproduces the N-0 run of a network site whose loads follow
    a profile CSV: the N-1 windows apply the rest of the network's profiles too (the N-0 run, by
    the same engine, is the reference; 1e-9 pu: the same arithmetic on the same inputs)."""
    from gridstudy.grid.basecase import internal_buses
    from gridstudy.grid.topology import Outage
    from gridstudy.models import CampusLoadParams, make_index
    from gridstudy.studies.setup import ENGINE_COLUMNS
    from gridstudy.studies.stages.contingency import run_outage
    from gridstudy.studies.study import Study

    csv = tmp_path / "profiles.csv"
    times = pd.date_range("2025-07-15 00:00", periods=8, freq="15min")
    # a 40 MW swing of one load: enough to move the voltages by far more than the tolerance
    pd.DataFrame({"load:HV2 Load 1:p_mw": [1.0, 41.0] * 4}, index=times).to_csv(csv)
    path = _csv_site(tmp_path, "profiles.csv")
    study = Study(site=path, campus=CampusLoadParams(gpus=20_000), index=make_index("2025-07-15", 7200, 900.0),
                  contingencies={"enabled": False}, sag={"enabled": False})
    site = study.build_site()
    spare = pp.create_line_from_parameters(site.net, site.poi_bus, site.poi_bus, 1.0, 0.1, 0.3, 0.0, 1.0,
                                           in_service=False, name="spare")
    prof = study.profiles()["without_battery"]
    n0 = study.qsts(site=site)["without_battery"]
    row = run_outage(site, Outage("line", spare, "spare"), "without_battery", prof[list(ENGINE_COLUMNS)],
                     study.controls("without_battery"), study.preset, "fast")
    bs = n0.bus_summary
    real = bs.index.difference(internal_buses(site))
    assert row["worst_vm_pu"] == pytest.approx(float(bs.loc[real, "vm_min_pu"].min()), abs=1e-9)
    assert row["max_vm_pu"] == pytest.approx(float(bs.loc[real, "vm_max_pu"].max()), abs=1e-9)
    # and the profile matters: without it the same window's lowest voltage differs
    site.profiles = None
    bare = study.qsts(site=site)["without_battery"].bus_summary
    assert abs(float(bare.loc[real, "vm_min_pu"].min()) - float(bs.loc[real, "vm_min_pu"].min())) > 1e-4


def test_an_unnamed_branch_of_an_imported_case_is_named_by_its_index():
    # PEGASE 1354 as pandapower ships it names no line: each outage's label must still say which
    # branch it is, distinct from every other (it used to read "Line None" for all of them)
    import pandapower.networks as pn

    net = pn.case1354pegase()
    assert net.line.name.isna().all()
    lines = [int(i) for i in net.line.index[(net.line.from_bus == 55) | (net.line.to_bus == 55)]]
    credible, lost = single_outages(net, 55, candidates=[("line", i) for i in lines])
    assert sorted(o.label for o in credible + lost) == sorted(f"Line #{i}" for i in lines)
