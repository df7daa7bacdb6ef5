"""Rapid voltage changes of the discrete campus events: each kind's POI step measured on a sub-second
run, every occurrence of the horizon counted against the table by frequency of changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridstudy.studies.criteria.rvc import RVC_HV
from gridstudy.studies.stages.fluctuation import Window, WindowRun, event_voltage_steps, rvc_count_finding

T0 = pd.Timestamp("2025-07-15")


def _run(v: np.ndarray, step: float = 0.02) -> WindowRun:
    idx = pd.date_range(T0, periods=len(v), freq=pd.Timedelta(seconds=step))
    s = pd.Series(v, index=idx)
    return WindowRun(Window(idx[0], idx[-1], "test"), "s", s, s * 0.0, slice(0, len(v)), 0)


def _swing(t: np.ndarray) -> np.ndarray:
    # a square swing of +/-0.5 % at 1.5 s, no jitter: its mean over 3 s (two periods) is exactly 0
    return np.where((t % 1.5) < 0.75, 0.005, -0.005)


def _changes(rows: list[tuple[str, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame({"family": "checkpoint", "kind": [r[0] for r in rows], "occurrence": range(len(rows)),
                         "start_s": [r[1] for r in rows], "duration_s": [r[2] for r in rows],
                         "step_mw": [r[3] for r in rows]})


def test_a_step_under_the_swing_reads_its_size_and_a_slow_ramp_reads_none():
    """1.0 pu with the swing, a drop of 2 % over 0.5 s at 60 s (a rapid change: 4 %/s), back up over
    60 s from 120 s (0.033 %/s: a slow variation). The 3-s means either side cancel the swing, so the
    drop reads 2.0 % (hand value), 0.02 %/MW for its 100 MW; the ramp reads 0."""
    t = np.arange(0, 200, 0.02)
    v = 1.0 + _swing(t) - 0.02 * np.clip((t - 60.0) / 0.5, 0, 1) + 0.02 * np.clip((t - 120.0) / 60.0, 0, 1)
    ch = _changes([("checkpoint drop", 60.0, 0.5, -100.0), ("restart", 120.0, 60.0, 100.0)])
    m = event_voltage_steps(_run(v), ch, T0)
    # 1e-9 %: float rounding of the means (the swing cancels exactly over whole periods)
    assert m["dv_pct"].to_numpy() == pytest.approx([2.0, 0.0], abs=1e-9)
    assert m["sensitivity_pct_per_mw"].iloc[0] == pytest.approx(0.02, abs=1e-11)


def test_every_occurrence_is_counted_by_hour_against_the_table():
    """HV table: none above 3 %, at most 2 an hour above 2.5 %. A checkpoint that steps the POI by
    2.6 % (measured) and returns, every 30 min, makes 4 changes an hour above 2.5 %: FAIL; the same
    at 2.4 % passes (no level exceeded). The other occurrences scale by their MW step."""
    t = np.arange(0, 200, 0.02)
    rows = []
    for k in range(4):  # two hours: drops at 0, 1800, 3600, 5400 s (+60 s), returns 20 s later
        rows += [("checkpoint drop", 60.0 + 1800 * k, 0.5, -100.0), ("checkpoint return", 80.5 + 1800 * k, 0.5, 100.0)]
    ch = _changes(rows)
    for size, passes in ((0.026, False), (0.024, True)):
        v = 1.0 + _swing(t) - size * np.clip((t - 60.0) / 0.5, 0, 1) + size * np.clip((t - 80.5) / 0.5, 0, 1)
        f = rvc_count_finding([_run(v)], ch, T0, RVC_HV)
        assert f is not None
        assert f.passed is passes
        assert f.events == 8 and f.details["max_per_hour"] == 4
        assert f.worst_value == pytest.approx(100 * size, abs=1e-9)
        assert f.details["max_per_hour_over_hour10_level"] == (4 if not passes else 0)
    # a change above the 3 % cap fails however rare
    v = 1.0 + _swing(t) - 0.031 * np.clip((t - 60.0) / 0.5, 0, 1) + 0.031 * np.clip((t - 80.5) / 0.5, 0, 1)
    f = rvc_count_finding([_run(v)], ch.iloc[:2], T0, RVC_HV)
    assert f is not None and not f.passed and f.details["over_day_level"] == 2


def test_a_kind_no_window_holds_is_named_not_counted():
    t = np.arange(0, 200, 0.02)
    v = 1.0 + _swing(t)
    ch = _changes([("checkpoint drop", 60.0, 0.5, -100.0), ("trip", 5000.0, 0.0, -300.0)])
    f = rvc_count_finding([_run(v)], ch, T0, RVC_HV)
    assert f is not None and f.details["kinds_not_measured"] == ["trip"] and f.events == 0


def test_weakest_outage_has_the_lowest_fault_level_at_the_poi():
    """Against pandapower's own IEC 60909 calculation of every credible outage of the reference site:
    the chosen outage's POI fault level is the minimum, and below the intact one."""
    import copy

    import pandapower.shortcircuit as sc

    from gridstudy.grid.reference import load_site
    from gridstudy.grid.topology import site_outages
    from gridstudy.studies.stages.contingency import weakest_outage

    site = load_site("memphis-161kv")
    outage, sk, sk0 = weakest_outage(site)
    levels = {}
    for o in site_outages(site)[0]:
        net = copy.deepcopy(site.net)
        net[o.element].at[o.index, "in_service"] = False
        net.storage["in_service"] = False
        if site.source_impedance is not None:
            net.impedance.at[site.source_impedance, "in_service"] = False
            net.ext_grid.at[site.ext_grid, "bus"] = site.source_bus
        sc.calc_sc(net, bus=site.poi_bus, case="max", fault="3ph")
        levels[o.label] = float(net.res_bus_sc.at[site.poi_bus, "skss_mw"])
    assert outage.label == min(levels, key=levels.get)
    assert sk == pytest.approx(levels[outage.label], rel=1e-9) and sk < sk0


def test_a_site_without_fault_data_is_ranked_on_its_power_flow_strength():
    """A network without IEC 60909 data (an imported planning case: no ``s_sc_max_mva`` on its
    source) is ranked on ``dQ/dV`` at the POI. The reference site's power flow holds the source
    impedance sized for the minimum fault level (c_min = 1.0, grid/build.py), so that strength is
    pandapower's IEC 60909 minimum fault level at the POI seen from the operating point: within 8 %
    (``dQ/dV = V² / X`` at ~0.98 pu rather than ``Un² / |Z|``: 4 % for V², the rest the impedance's
    resistance and the campus load). The weakest outage is the same one as by fault level."""
    import copy

    from gridstudy.grid.basecase import has_fault_data, sensitivity_strength_mva_at, short_circuit
    from gridstudy.grid.reference import load_site
    from gridstudy.studies.stages.contingency import strength_method, weakest_outage

    site = load_site("memphis-161kv")
    assert has_fault_data(site) and strength_method(site) == "iec60909"
    by_fault, _, _ = weakest_outage(site)
    s_k_min = short_circuit(site).skss_min_mva
    assert sensitivity_strength_mva_at(site, site.poi_bus) == pytest.approx(s_k_min, rel=0.08)

    bare = copy.copy(site)
    bare.net = copy.deepcopy(site.net)
    bare.net.ext_grid["s_sc_max_mva"] = np.nan  # as an imported case without fault data
    assert not has_fault_data(bare) and strength_method(bare) == "sensitivity"
    outage, strength, intact = weakest_outage(bare)
    assert outage.label == by_fault.label
    assert strength < intact
    assert intact == pytest.approx(sensitivity_strength_mva_at(site, site.poi_bus), rel=1e-12)
