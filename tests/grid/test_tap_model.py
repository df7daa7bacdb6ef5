"""Every net the package builds, reads or imports carries pandapower's current (3.0) tap model:
``tap_changer_type`` and ``tap_dependency_table`` / ``id_characteristic_table`` on its
transformer tables, so pandapower's power flow takes its current path and raises none of its
deprecation warnings about the old one; and bringing a net to that model leaves its power flow
as it was."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import pytest

from gridstudy.grid import SiteError
from gridstudy.grid.network import TAP_MODEL_WARNING, current_tap_model, network_from_ref, read_network
from gridstudy.grid.reference import load_site, reference_sites
from gridstudy.grid.site_io import site_from_json, site_to_json

#: Starts of pandapower's deprecation warnings about the pre-3.0 tap model (build_branch).
OLD_MODEL_WARNINGS = (TAP_MODEL_WARNING, "tap_phase_shifter was removed", "tap2_phase_shifter was removed")


def _old_model_warnings(record):
    return [str(w.message)[:80] for w in record
            if issubclass(w.category, DeprecationWarning) and str(w.message).startswith(OLD_MODEL_WARNINGS)]


def _solve_recording(build):
    """``build()`` and a power flow of the net it returns (``.net`` of a site), every warning
    recorded whatever the filters say; return ``(net, old-model warnings)``."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = build()
        net = getattr(got, "net", got)
        pp.runpp(net, calculate_voltage_angles=True)
    return net, _old_model_warnings(record)


def _assert_current_model(net):
    for table in ("trafo", "trafo3w"):
        df = net[table]
        assert {"tap_changer_type", "tap_dependency_table", "id_characteristic_table"} <= set(df.columns), table
        assert "tap_phase_shifter" not in df, table


def _stored_case(name):
    """A ``pandapower.networks`` case as pandapower ships it (old tap model; some of these
    functions run power flows of their own on it, whose deprecation warning is let pass here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=TAP_MODEL_WARNING, category=DeprecationWarning)
        return getattr(pn, name)()


def test_the_check_sees_pandapowers_deprecation_on_its_own_stored_case():
    """The control: pandapower's case118 as shipped lacks tap_dependency_table and its power flow
    raises the deprecation these tests look for (were pandapower to drop or reword it, the
    checks below would pass for nothing, and this test says so)."""
    net = _stored_case("case118")
    assert len(net.trafo) and "tap_dependency_table" not in net.trafo
    _, found = _solve_recording(lambda: net)
    assert found and all(m.startswith(TAP_MODEL_WARNING) for m in found)


@pytest.mark.parametrize("name", sorted(reference_sites()))
def test_reference_site_builds_and_solves_without_tap_model_warnings(name):
    net, found = _solve_recording(lambda: load_site(name))
    assert found == []
    _assert_current_model(net)
    assert len(net.trafo) and not net.trafo.tap_dependency_table.any()
    assert net.res_bus.vm_pu.notna().all()


@pytest.mark.parametrize("ref,attach_kwargs", [
    ("case:case118", {"poi": 10, "campus_p_mw": 50.0, "battery_model": "megapack2xl-2h", "battery_units": 8}),
    ("case:mv_oberrhein", {"poi": 5, "campus_p_mw": 8.0}),  # its case function runs power flows of its own
    ("simbench:1-MV-rural--0-sw", {"poi": 10, "campus_p_mw": 5.0}),
])
def test_imported_network_site_solves_without_tap_model_warnings(ref, attach_kwargs):
    if ref.startswith("simbench:"):
        pytest.importorskip("simbench")
    net, found = _solve_recording(lambda: load_site(ref, **attach_kwargs))
    assert found == []
    _assert_current_model(net)
    assert len(net.trafo) and net.res_bus.vm_pu.notna().all()


def test_network_table_case_and_files_carry_the_current_model(tmp_path):
    """``[network] case = ...``, a pandapower JSON file written by pandapower from its stored
    case (so in the old model) and a MATPOWER case: read, they solve without the deprecation."""
    from pandapower.converter.matpower.to_mpc import to_mpc

    pp.to_json(_stored_case("case14"), str(tmp_path / "case14.json"))
    assert "tap_dependency_table" not in json.loads(json.loads((tmp_path / "case14.json").read_text())
                                                    ["_object"]["trafo"]["_object"])["columns"]
    to_mpc(current_tap_model(_stored_case("case118")), str(tmp_path / "case118.mat"), init="flat")
    for build in (lambda: network_from_ref(case="case300"), lambda: read_network(tmp_path / "case14.json"),
                  lambda: read_network(tmp_path / "case118.mat")):
        net, found = _solve_recording(build)
        assert found == []
        _assert_current_model(net)
        assert len(net.trafo) and net.res_bus.vm_pu.notna().all()


def test_saved_site_json_reads_back_in_the_current_model():
    site = load_site("memphis-161kv")
    net, found = _solve_recording(lambda: site_from_json(site_to_json(site)))
    assert found == []
    _assert_current_model(net)


def test_leftover_phase_shifter_flag_is_dropped():
    net = _stored_case("case30")  # pandapower's case30 still carries the pandapower 2 flag
    assert "tap_phase_shifter" in net.trafo and "tap_changer_type" in net.trafo
    _assert_current_model(network_from_ref(case="case30"))


def test_conversion_keeps_the_power_flow_of_a_stored_case():
    old = _stored_case("case300")
    new = current_tap_model(_stored_case("case300"))
    assert current_tap_model(new) is new  # a second time changes nothing
    _, found_old = _solve_recording(lambda: old)
    _, found_new = _solve_recording(lambda: new)
    assert found_old and not found_new  # the old path ran before, the current one after
    assert not new.trafo.tap_dependency_table.any() and new.trafo.id_characteristic_table.isna().all()
    np.testing.assert_array_equal(new.res_bus.vm_pu.to_numpy(), old.res_bus.vm_pu.to_numpy())
    np.testing.assert_array_equal(new.res_bus.va_degree.to_numpy(), old.res_bus.va_degree.to_numpy())


def _tap_net():
    """Five 110/20 kV transformers, each feeding its own loaded bus: ratio taps on the HV and the
    LV side, an ideal phase shifter in degrees and one in percent, and one without a tap."""
    net = pp.create_empty_network()
    hv = pp.create_bus(net, 110.0)
    pp.create_ext_grid(net, hv, vm_pu=1.02)
    taps = [
        dict(tap_side="hv", tap_pos=2, tap_step_percent=1.5, tap_changer_type="Ratio"),
        dict(tap_side="lv", tap_pos=-3, tap_step_percent=1.25, tap_changer_type="Ratio"),
        dict(tap_side="hv", tap_pos=2, tap_step_degree=5.0, tap_changer_type="Ideal"),
        dict(tap_side="hv", tap_pos=3, tap_step_percent=2.0, tap_changer_type="Ideal"),
        dict(),
    ]
    for k, tap in enumerate(taps):
        lv = pp.create_bus(net, 20.0)
        pp.create_transformer_from_parameters(
            net, hv, lv, sn_mva=40.0, vn_hv_kv=110.0, vn_lv_kv=20.0, vkr_percent=0.4, vk_percent=12.0,
            pfe_kw=20.0, i0_percent=0.05, tap_neutral=0, tap_min=-9, tap_max=9, name=f"T{k}", **tap,
        )
        pp.create_load(net, lv, p_mw=20.0 + 2 * k, q_mvar=5.0)
    return net


def test_old_phase_shifter_flag_converts_to_the_type_it_meant():
    """A trafo table in the pandapower 2 form (``tap_phase_shifter``, no ``tap_changer_type``,
    no ``tap_dependency_table``; pandapower 3.5's own deprecated path fails on it), converted,
    solves as the same transformers given in the current model; the ideal shifter with a percent
    step stays an ideal shifter (it turns the angle, not the magnitude)."""
    ref = _tap_net()
    _, found = _solve_recording(lambda: ref)
    assert found == []
    old = _tap_net()
    flag = old.trafo.tap_changer_type.eq("Ideal").to_numpy()
    old.trafo = old.trafo.drop(columns=["tap_changer_type", "tap_dependency_table", "id_characteristic_table"])
    old.trafo["tap_phase_shifter"] = flag
    new = current_tap_model(old)
    assert list(new.trafo.tap_changer_type.iloc[:4]) == ["Ratio", "Ratio", "Ideal", "Ideal"]
    assert pd.isna(new.trafo.tap_changer_type.iloc[4])  # no tap
    _assert_current_model(new)
    _, found = _solve_recording(lambda: new)
    assert found == []
    for col in ("vm_pu", "va_degree"):
        np.testing.assert_allclose(new.res_bus[col].to_numpy(), ref.res_bus[col].to_numpy(), rtol=0, atol=1e-12)


def test_pandapowers_own_phase_shifter_converter_would_change_the_power_flow():
    """Why current_tap_model does not call pandapower's convert_trafo_pst_logic: it classifies by
    the step values, so the ideal shifter with a percent step (T3) becomes a ratio tap."""
    from pandapower.convert_format import convert_trafo_pst_logic

    ref = _tap_net()
    pp.runpp(ref, calculate_voltage_angles=True)
    old = _tap_net()
    flag = old.trafo.tap_changer_type.eq("Ideal").to_numpy()
    old.trafo = old.trafo.drop(columns=["tap_changer_type"])
    old.trafo["tap_phase_shifter"] = flag
    convert_trafo_pst_logic(old)
    assert old.trafo.at[3, "tap_changer_type"] == "Ratio"
    pp.runpp(old, calculate_voltage_angles=True)
    lv = int(old.trafo.at[3, "lv_bus"])
    assert abs(old.res_bus.vm_pu.at[lv] - ref.res_bus.vm_pu.at[lv]) > 1e-3


def test_spline_tap_characteristics_in_use_are_refused():
    net = _tap_net()
    net.trafo = net.trafo.drop(columns=["tap_dependency_table", "id_characteristic_table"])
    net.trafo["tap_dependent_impedance"] = [False, True, False, False, False]
    with pytest.raises(SiteError) as exc:
        current_tap_model(net, "network.path")
    assert exc.value.fields == ["network.path.trafo.tap_dependent_impedance"]
    assert "T1" in str(exc.value)
    net.trafo["tap_dependent_impedance"] = False  # present but unused: the rated impedance; converted
    _assert_current_model(current_tap_model(net))
