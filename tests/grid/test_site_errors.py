"""Bad site input: every problem listed at once with its field path; CLI exit codes."""

import copy
import json
import tomllib

import pytest

from gridstudy.grid import SiteError, load_site, parse_site_spec, reference_sites


def feeder_raw():
    return tomllib.loads(reference_sites()["feeder-34.5kv"].read_text())


def test_several_mistakes_are_listed_at_once():
    raw = feeder_raw()
    raw["lines"][1]["length_km"] = -2.0
    raw["lines"][2]["to_bus"] = "Nowhere 34.5kV"
    raw["battery"]["units"] = -3
    raw["source"]["s_sc_min_mva"] = 9000.0  # above s_sc_max_mva
    raw["campus"]["halls"][0]["pf"] = 1.5
    del raw["transformers"][0]["sn_mva"]
    with pytest.raises(SiteError) as exc:
        parse_site_spec(raw)
    assert sorted(exc.value.fields) == sorted([
        "lines[1].length_km", "lines[2].to_bus", "battery.units", "source",
        "campus.halls[0].pf", "transformers[0].sn_mva",
    ])
    by_path = {p.path: p for p in exc.value.problems}
    assert by_path["battery.units"].value == -3
    assert by_path["lines[2].to_bus"].value == "Nowhere 34.5kV"
    assert "battery.units: Input should be greater than 0, got -3" in str(exc.value)


def test_unknown_megapack_model_lists_known_ones():
    raw = feeder_raw()
    raw["battery"]["model"] = "powerwall"
    with pytest.raises(SiteError) as exc:
        parse_site_spec(raw)
    (p,) = exc.value.problems
    assert p.path == "battery.model" and "megapack2xl-4h" in p.message


def test_unknown_field_is_rejected():
    raw = feeder_raw()
    raw["campus"]["halls"][0]["mw"] = 3
    with pytest.raises(SiteError) as exc:
        parse_site_spec(raw)
    assert exc.value.fields == ["campus.halls[0].mw"]


def test_cli_bad_site_file_exits_2_without_traceback(cli, tmp_path):
    text = reference_sites()["feeder-34.5kv"].read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("units = 16", "units = -3").replace("length_km = 5.0", "length_km = -5.0", 1))
    out_json = tmp_path / "check.json"
    code, out, err = cli("check", bad, "--json", out_json)
    assert code == 2
    assert "battery.units" in err and "lines[0].length_km" in err
    assert "Traceback" not in err + out
    assert not out_json.exists()


def test_cli_unknown_reference_lists_known(cli):
    code, _out, err = cli("check", "colossus-9")
    assert code == 2
    for name in reference_sites():
        assert name in err


def test_cli_nonconvergence_exits_1_with_message(cli, tmp_path):
    text = reference_sites()["feeder-34.5kv"].read_text()
    bad = tmp_path / "huge.toml"
    bad.write_text(text.replace("p_mw = 25.0", "p_mw = 2500.0"))  # far beyond the feeder's nose
    code, _out, err = cli("check", bad, "--json", tmp_path / "c.json")
    assert code == 1
    assert "did not converge" in err
    assert json.loads((tmp_path / "c.json").read_text())["converged"] is False


def test_cli_check_writes_the_documented_keys(cli, tmp_path):
    path = tmp_path / "c.json"
    code, out, err = cli("check", "memphis-161kv", "--json", path)
    assert code == 0, err
    data = json.loads(path.read_text())
    for key in ("poi_bus", "poi_vm_pu", "min_vm_pu", "max_vm_pu", "max_loading_percent", "skss_max_mva",
                "skss_min_mva", "rx", "scr", "converged", "ikss_max_ka", "ikss_max_with_battery_ka", "ip_max_ka",
                "ip_max_with_battery_ka", "battery_sc_k", "source_losses_mw"):
        assert key in data
    assert data["converged"] is True and data["poi_bus"] == "Campus POI 161kV"
    assert "SCR" in out
    # breaker duty with and without the battery, both in the table (the with-battery one is larger)
    assert data["ikss_max_with_battery_ka"] > data["ikss_max_ka"] > 0
    for value in (data["ikss_max_ka"], data["ikss_max_with_battery_ka"]):
        assert f"{value:.2f}" in out
    assert "without battery" in out and "with battery" in out


def test_cli_sites_lists_reference_sites(cli):
    code, out, _ = cli("sites", "--names")
    assert code == 0 and out.split() == sorted(reference_sites())


def test_existing_json_is_not_clobbered_by_a_failed_run(cli, tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"kept": true}')
    code, _, _ = cli("check", "no-such-site", "--json", path)
    assert code == 2
    assert json.loads(path.read_text()) == {"kept": True}


def test_load_site_accepts_a_mapping():
    raw = copy.deepcopy(feeder_raw())
    site = load_site(raw)
    assert site.name == "feeder-34.5kv"
