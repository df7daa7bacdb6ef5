"""N-1 over the whole horizon (``[contingencies] window = "all"``): streamed outages equal the
whole-frame runs of the same window."""

from __future__ import annotations

import pytest

from gridstudy.grid.topology import site_outages
from gridstudy.models.battery import MegapackPlant
from gridstudy.models.campus import CampusLoadParams
from gridstudy.models.dispatch import make_strategy
from gridstudy.models.timeindex import make_index
from gridstudy.studies.setup import ENGINE_COLUMNS
from gridstudy.studies.stages import contingency
from gridstudy.studies.study import Study


def _study() -> Study:
    plant = MegapackPlant(units=600, model="megapack2xl-4h")
    return Study(site="memphis-161kv", campus=CampusLoadParams(gpus=100_000, seed=2, job_start_s=600.0),
                 strategy=make_strategy("ramp_limit", plant), index=make_index("2025-07-15", 3 * 3600, 1.0),
                 contingencies={"window": "all"})


@pytest.mark.parametrize("scenario", ["without_battery", "with_battery"])
def test_streamed_outages_equal_whole_frame_outages(scenario):
    # the same outage over the whole horizon, once from the profile frame with its per-step series
    # (every N-1 criterion) and once streamed (profiles made part by part, aggregates only): the
    # extremes the N-1 table reports are the same numbers, and so are the aggregate criteria
    st = _study()
    site = st.build_site()
    credible, _ = site_outages(site)
    prof = st.profiles(only=scenario)[scenario][list(ENGINE_COLUMNS)]
    stream = st.profile_stream(scenario, chunk_steps=2_500)
    for outage in credible[:3]:
        whole = contingency.run_outage(site, outage, scenario, prof, st.controls(scenario), st.preset, "fast")
        part = contingency.run_outage(site, outage, scenario, stream, st.controls(scenario), st.preset, "fast")
        assert whole["error"] == part["error"] == ""
        for key in ("worst_vm_pu", "max_vm_pu", "max_loading_percent"):
            assert part[key] == pytest.approx(whole[key], rel=0, abs=1e-12), key
        assert part["worst_vm_bus"] == whole["worst_vm_bus"]
        assert part["max_loading_element"] == whole["max_loading_element"]
        assert part["nonconverged_steps"] == whole["nonconverged_steps"] == 0
        judged = {c["criterion"] for c in part["criteria"]}
        agg = [c for c in whole["criteria"] if c["criterion"] in judged]
        assert len(agg) == len(part["criteria"]) == 3  # convergence, bus bands, emergency ratings
        for a, b in zip(sorted(agg, key=lambda c: c["criterion"]), sorted(part["criteria"], key=lambda c: c["criterion"]),
                        strict=True):
            assert a["pass"] == b["pass"]
            assert a["worst_value"] == pytest.approx(b["worst_value"], rel=0, abs=1e-12)


def test_all_horizon_pool_equals_serial_and_long_frames_stream(monkeypatch):
    # a window longer than FULL_SERIES_MAX_STEPS streams even from a frame; the process pool (each
    # outage a task, the study pickled to the worker with its stream) gives the rows a serial run gives
    monkeypatch.setattr(contingency, "FULL_SERIES_MAX_STEPS", 3_600)
    st = _study()
    site = st.build_site()
    credible, _ = site_outages(site)
    cases = {n: (st.profile_stream(n, chunk_steps=4_000), st.controls(n)) for n in ("without_battery", "with_battery")}
    serial = contingency.run_contingencies(site, credible[:2], cases, st.preset, "fast", workers=1)
    pooled = contingency.run_contingencies(site, credible[:2], cases, st.preset, "fast", workers=2)
    assert len(serial) == len(pooled) == 4
    for a, b in zip(serial, pooled, strict=True):
        assert (a["outage"], a["scenario"]) == (b["outage"], b["scenario"])
        assert a["worst_vm_pu"] == b["worst_vm_pu"] and a["max_loading_percent"] == b["max_loading_percent"]
    frame = {n: (st.profiles(only=n)[n][list(ENGINE_COLUMNS)], st.controls(n)) for n in ("with_battery",)}
    rows = contingency.run_contingencies(site, credible[:1], frame, st.preset, "fast", workers=1)
    assert {c["criterion"] for c in rows[0]["criteria"]} == {c["criterion"] for c in serial[1]["criteria"]}
