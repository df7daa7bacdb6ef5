"""Each limit carries its status and region; rules of another region are references, not verdicts
(issue 21, item 4)."""

import dataclasses

import pandas as pd
import pytest

from gridstudy.studies.criteria import CriteriaError, Finding, Limit, get_preset
from gridstudy.studies.criteria.presets import custom_preset
from gridstudy.studies.judge.findings import with_standing


def _finding(*limits: Limit, passed: bool = False, group: str = "grid_variation") -> Finding:
    return Finding("x", passed, 30.0, "MW", pd.Timestamp("2025-07-15"), 1.0, 1, limits, group=group)


def test_status_from_check_and_explicit():
    assert Limit("a", 1.0, "-", "doc", check=True).status == "assumed"
    lim = Limit("b", 1.0, "-", "ANSI C84.1-2020", date="2020")
    assert lim.status == "published" and not lim.to_confirm
    prop = Limit("c", 1.0, "-", "ERCOT", status="proposed", region="ERCOT")
    assert prop.check and prop.to_confirm  # everything not published is to confirm
    with pytest.raises(CriteriaError, match="must be one of published, proposed, assumed"):
        Limit("d", 1.0, "-", "x", status="approved")


def test_generic_preset_statuses_and_regions():
    p = get_preset("generic-utility")
    rate, ercot = (r.limit() for r in p.ramps)
    assert rate.status == "assumed" and "Southern Company" in (rate.region or "")
    assert ercot.status == "proposed" and ercot.region == "ERCOT"
    assert p.ride_through.limits()[0].region == "ERCOT" and p.ride_through.limits()[0].status == "proposed"
    assert p.power_factor.limits()[0].status == "assumed"  # a generator requirement applied to a load


def test_other_region_rule_is_a_reference_and_does_not_count():
    ercot = get_preset("generic-utility").ramps[1].limit()
    tva = custom_preset("generic-utility", region="TVA")
    f = with_standing(_finding(ercot), tva)
    assert f.standing == "reference (other region)" and not f.counts
    # the same finding binds a study in ERCOT, and one whose region is not named
    assert with_standing(_finding(ercot), custom_preset("g", region="ERCOT")).counts
    assert with_standing(_finding(ercot), get_preset("generic-utility")).counts
    # a rule of several regions binds any of them (case and spaces ignored)
    rate = get_preset("generic-utility").ramps[0].limit()
    assert with_standing(_finding(rate), custom_preset("g", region=" southern company ")).counts
    # a finding with one non-regional limit stays binding
    ansi = Limit("band", (0.95, 1.05), "pu", "ANSI C84.1-2020", date="2020")
    assert with_standing(_finding(ercot, ansi), tva).counts


def test_study_status_replaces_the_groups_statuses():
    lim = Limit("min power factor", 0.95, "-", "tariff", check=True)
    preset = custom_preset("g", status={"poi_power_factor": "published"})
    f = with_standing(_finding(lim, group="poi_power_factor"), preset)
    assert f.limits[0].status == "published" and not f.limits[0].check
    assert with_standing(_finding(lim, group="thermal"), preset).limits[0].status == "assumed"


def test_unknown_standing_is_refused():
    with pytest.raises(CriteriaError, match=r"finding\.standing"):
        dataclasses.replace(_finding(), standing="advisory")
