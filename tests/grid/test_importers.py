"""Bring your own network: attach a campus and a battery to pandapower / SimBench nets."""

import warnings

import pandapower as pp
import pandapower.networks as pn
import pytest

from gridstudy.grid import SiteError, load_site
from gridstudy.grid.basecase import base_case, check_site
from gridstudy.grid.importers import attach
from gridstudy.grid.network import TAP_MODEL_WARNING


def test_attach_to_pandapower_case_gives_handles():
    with warnings.catch_warnings():  # pandapower's own power flows on its stored case (old tap model)
        warnings.filterwarnings("ignore", message=TAP_MODEL_WARNING, category=DeprecationWarning)
        net = pn.mv_oberrhein()
    assert "tap_dependency_table" not in net.trafo  # a net in the old tap model, as pandapower ships it
    poi = int(net.bus.index[net.bus.vn_kv == 20.0][5])
    n_load = len(net.load)
    site = attach(net, poi, campus_p_mw=8.0, battery_model="megapack2xl-2h", battery_units=4)
    assert site.poi_bus == poi
    assert len(net.load) == n_load + 1 and site.campus_loads == [n_load]
    assert net.load.at[site.campus_loads[0], "p_mw"] == pytest.approx(8.0)
    assert net.storage.at[site.storages[0], "max_p_mw"] == pytest.approx(4 * 1.927)
    assert not net.trafo.tap_dependency_table.any()  # attach brought it to the current model
    assert base_case(site).converged  # and its power flow raises no tap-model deprecation (pytest's filters)


def test_json_roundtrip_site(tmp_path, cli):
    net = pn.example_simple()
    net.gen["in_service"] = False  # its generator has no short-circuit data (xdss_pu)
    for col, v in (("s_sc_max_mva", 1000.0), ("s_sc_min_mva", 800.0), ("rx_max", 0.1), ("rx_min", 0.1)):
        net.ext_grid[col] = v
    path = tmp_path / "net.json"
    pp.to_json(net, str(path))
    site = load_site(str(path), poi=6, campus_p_mw=5.0)
    res = check_site(site)
    assert res["converged"] and res["skss_min_mva"] > 0
    assert res["scr"] == pytest.approx(res["skss_min_mva"] / 5.0)
    code, _out, err = cli("check", path, "--poi", 6, "--campus-mw", 5)
    assert code == 0, err


def test_generator_without_sc_data_is_reported_not_crashed():
    net = pn.example_simple()
    for col, v in (("s_sc_max_mva", 1000.0), ("s_sc_min_mva", 800.0), ("rx_max", 0.1), ("rx_min", 0.1)):
        net.ext_grid[col] = v
    res = check_site(attach(net, 6, campus_p_mw=5.0))
    assert res["converged"] and res["strength"] == "unknown"
    assert "xdss_pu" in res["sc_message"]


def test_simbench_code():
    pytest.importorskip("simbench")
    site = load_site("simbench:1-MV-rural--0-sw", poi=10, campus_p_mw=5.0)
    assert site.net.load.at[site.campus_loads[0], "bus"] == 10
    assert base_case(site).converged


def test_attach_reports_all_problems():
    net = pn.example_simple()
    with pytest.raises(SiteError) as exc:
        attach(net, "no such bus", campus_p_mw=-1.0, battery_model="x", battery_units=2)
    assert sorted(exc.value.fields) == ["battery.model", "campus_p_mw", "poi"]
