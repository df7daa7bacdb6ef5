"""Every reference site builds, converges, has the ratings its TOML documents, and balances."""

import math

import pytest

from gridstudy.grid import load_site, load_site_spec, reference_sites
from gridstudy.grid.basecase import base_case, check_site, settle_taps, solve_idle_battery
from gridstudy.grid.megapack import megapack

SITES = sorted(reference_sites())


def test_the_three_reference_sites_ship():
    assert SITES == ["austin-345kv", "feeder-34.5kv", "memphis-161kv"]


@pytest.mark.parametrize("name", SITES)
def test_site_builds_with_documented_ratings(name):
    spec = load_site_spec(reference_sites()[name])
    site = load_site(name)
    net = site.net
    # handles point at the right elements
    assert net.bus.at[site.poi_bus, "name"] == spec.poi
    assert sorted(net.load.loc[site.campus_loads, "name"]) == sorted(h.name for h in spec.campus.halls)
    assert net.load.loc[site.campus_loads, "p_mw"].sum() == pytest.approx(spec.campus.p_mw)
    # battery: units x preset (docs/sources/megapack.md §1)
    m = megapack(spec.battery.model)
    assert net.storage.loc[site.storages, "max_e_mwh"].sum() == pytest.approx(spec.battery.units * m.e_mwh)
    assert net.storage.loc[site.storages, "max_p_mw"].sum() == pytest.approx(spec.battery.units * m.p_mw)
    # every transformer unit is its own element (N-1 takes out one unit)
    assert len(net.trafo) == sum(t.parallel for t in spec.transformers)
    assert net.trafo.sn_mva.sum() == pytest.approx(sum(t.sn_mva * t.parallel for t in spec.transformers))
    assert len(net.line) == sum(ln.circuits for ln in spec.lines)
    assert site.regulating_trafos == [i for i in net.trafo.index if net.trafo.at[i, "oltc"]]
    assert net.bus.name.notna().all() and net.line.name.notna().all() and net.trafo.name.notna().all()


def test_memphis_battery_is_the_colossus_2_figure():
    # 600 Megapack 2 XL 4-hour: 600 x 0.979 MW = 587.4 MW, 600 x 3.916 MWh = 2,349.6 MWh (docs/sources/megapack.md §1)
    b = load_site("memphis-161kv").battery
    assert b.units == 600 and b.p_mw == pytest.approx(587.4) and b.e_mwh == pytest.approx(2349.6)


@pytest.mark.parametrize("name", SITES)
def test_base_case_converges_and_balances(name):
    site = load_site(name)
    pf = base_case(site)
    assert pf.converged
    # power balance: slack import = loads + network losses + the source impedance's loss;
    # pandapower's mismatch tolerance is 1e-8 MVA, so 1e-6 MW is generous.
    assert pf.slack_p_mw == pytest.approx(pf.load_p_mw + pf.losses_mw + pf.source_losses_mw, abs=1e-6)
    assert pf.source_losses_mw > 0
    assert pf.load_p_mw >= site.campus_p_mw  # campus at peak, battery idle
    assert 0.9 < pf.min_vm_pu <= pf.max_vm_pu < 1.1


@pytest.mark.parametrize("name", SITES)
def test_documented_strength_matches_computed_scr(name):
    res = check_site(load_site(name))
    assert res["strength"] == load_site_spec(reference_sites()[name]).strength
    assert res["skss_max_mva"] >= res["skss_min_mva"] > 0
    assert res["scr"] == pytest.approx(res["skss_min_mva"] / res["campus_p_mw"])


def test_one_weak_and_one_strong_site():
    scr = {n: check_site(load_site(n))["scr"] for n in SITES}
    assert any(3 <= v <= 5 for v in scr.values()), scr
    assert any(v > 10 for v in scr.values()), scr
    assert all(math.isfinite(v) for v in scr.values())


def test_site_battery_stays_true_after_the_study_rerates_the_plant():
    # issue 12 item 11: a study that re-rates the plant leaves the site's own description true.
    # Expected ratings: units x the Megapack preset (docs/sources/megapack.md §1).
    import pandas as pd

    from gridstudy.models.battery import MegapackPlant
    from gridstudy.studies.study import Study

    site = load_site("memphis-161kv")
    assert site.battery.units == 600
    plant = MegapackPlant(units=250, model="megapack2xl-2h")
    study = Study(site=site, battery=plant, index=pd.date_range("2025-07-01", periods=3, freq="1s"))
    built = study.build_site()
    m = megapack("megapack2xl-2h")
    assert built.battery.units == 250 and built.battery.model == "megapack2xl-2h"
    assert built.battery.p_mw == pytest.approx(250 * m.p_mw) and built.battery.e_mwh == pytest.approx(250 * m.e_mwh)
    st = built.net.storage.loc[built.storages]
    assert st.max_p_mw.sum() == pytest.approx(built.battery.p_mw) and st.max_e_mwh.sum() == pytest.approx(built.battery.e_mwh)
    assert st.sn_mva.sum() == pytest.approx(built.battery.s_mva)
    assert site.battery.units == 600  # the site handed to the study is not changed


@pytest.mark.parametrize("name", SITES)
def test_settled_taps_equal_pandapower_numba_controller_run(name):
    # settle_taps solves without pandapower's numba path (compiled afresh in every process); the
    # positions it settles on are pandapower's own DiscreteTapControl run with numba, at the peak
    site = load_site(name)
    if not site.regulating_trafos:
        pytest.skip("no regulating transformer")
    ref = solve_idle_battery(site, regulate=True, numba=True)
    got = settle_taps(site)
    assert got == {t: int(ref.trafo.at[t, "tap_pos"]) for t in site.regulating_trafos}
