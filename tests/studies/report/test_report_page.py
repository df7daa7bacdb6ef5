"""The report's page size follows the study (preset or setting) and its notes on reactive control.

Each test saves a 10-s study of the feeder site (no N-1, no sag events) and renders its report from
the saved files only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gridstudy.grid.importers import attach
from gridstudy.studies.report.render import render_report
from gridstudy.studies.study import Study

STUDY = """[study]
name = "page"
site = "feeder-34.5kv"
duration = "10s"
[battery]
strategy = "smoothing"
[battery.reactive]
mode = "fixed_pf"
pf = 1.0
[criteria]
preset = "ercot"
"""


def _summary_folder(d: Path, extra: str = "", **summary) -> Path:
    """A saved 10-s study of the feeder site (no N-1, no sag events), ``summary`` keys replaced."""
    from gridstudy.studies.study import Study

    d.mkdir()
    (d / "study.toml").write_text(STUDY + extra)
    Study.from_file(d / "study.toml").run(contingencies=False, sag=False).save(d / "out")
    s = json.loads((d / "out" / "summary.json").read_text())
    s.update(summary)
    (d / "out" / "summary.json").write_text(json.dumps(s))
    return d / "out"


@pytest.mark.slow  # two PDF renderings (about 15 s each)
@pytest.mark.parametrize("size, points", [("Letter", (612.0, 792.0)), ("A4", (595.28, 841.89))])
def test_pdf_page_size_is_the_one_saved_in_the_summary(tmp_path, size, points):
    # US Letter is 8.5 x 11 in = 612 x 792 pt; ISO 216 A4 is 210 x 297 mm = 595.28 x 841.89 pt.
    # 0.01 pt: the PDF writes the box to two decimals.
    from pypdf import PdfReader

    d = _summary_folder(tmp_path / "out", page_size=size)
    html, pdf = render_report(d, pdf=True)
    assert f"size: {size};" in html.read_text()
    for page in PdfReader(pdf).pages:
        assert float(page.mediabox.width) == pytest.approx(points[0], abs=0.01)
        assert float(page.mediabox.height) == pytest.approx(points[1], abs=0.01)


def test_summary_without_a_page_size_prints_on_letter(tmp_path):
    d = _summary_folder(tmp_path / "out")
    s = json.loads((d / "summary.json").read_text())
    assert s["page_size"] == "Letter"  # the ercot preset's
    del s["page_size"]  # a summary saved before the setting existed
    (d / "summary.json").write_text(json.dumps(s))
    html, _ = render_report(d, pdf=False)
    assert "size: Letter;" in html.read_text()


def test_study_saves_the_presets_page_size_or_its_setting(tmp_path):
    from gridstudy.studies.criteria import PRESETS
    from gridstudy.studies.errors import StudyError

    # every built-in preset stands for a North American utility: US Letter
    assert {p.page_size for p in PRESETS.values()} == {"Letter"}
    d = _summary_folder(tmp_path / "a4", extra='[report]\npage_size = "A4"\n')
    assert json.loads((d / "summary.json").read_text())["page_size"] == "A4"
    html, _ = render_report(d, pdf=False)
    assert "size: A4;" in html.read_text()
    (tmp_path / "bad.toml").write_text(STUDY + '[report]\npage_size = "B5"\n')
    with pytest.raises(StudyError, match="page_size"):
        Study.from_file(tmp_path / "bad.toml")


def test_report_states_the_reactive_control_of_daily_run_and_sag_events(tmp_path):
    # the sag events of a study run volt-var in the with-battery case (studies/study.py
    # _event_strategy); the report says so beside the daily run's own mode. A saved row stands in
    # for the events (the note depends on the summary only).
    row = {"event": "campus trip", "kind": "campus_trip",
           "without_battery": {"min_poi_vm_pu": 1.0, "pre_event_poi_vm_pu": 1.0, "dip_depth_pu": 0.0,
                               "max_poi_vm_pu": 1.03, "swell_pu": 0.03, "trip": False}}
    d = _summary_folder(tmp_path / "a", sag_events=[row])
    bat = json.loads((d / "summary.json").read_text())["battery"]
    assert bat["reactive"] == "fixed_pf"
    html, _ = render_report(d, pdf=False)
    text = html.read_text()
    assert text.count("the daily time series runs a fixed power factor") == 2  # method and sag sections
    assert "sag events run volt-var" in text
    html, _ = render_report(_summary_folder(tmp_path / "b", battery={**bat, "reactive": "volt_var"}, sag_events=[row]),
                            pdf=False)
    assert "volt-var in the daily time series and in the sag events alike" in html.read_text()


def test_a_range_bar_figure_fits_a_page_with_its_caption():
    # 8 branches x 6 scenarios (the demo's) gave a 15-in figure that pushed its caption onto the next
    # page. A Letter page is 11 in high; less 1.5 in of margins, header and footer, and ~1 in of
    # caption, 8 in are left for the figure. The SVG is drawn at the text width, at most its own
    # 7.2-in width, so its height on the page is at most its viewBox height (in points)
    import re

    import pandas as pd

    from gridstudy.studies.report.figures import loading_ranges

    frame = pd.DataFrame({"name": [f"branch {i}" for i in range(8)],
                          "loading_min_percent": [10.0] * 8, "loading_max_percent": [60.0] * 8})
    svg = loading_ranges({f"scenario {k}": frame for k in range(6)}, 100.0, "Branch loading range")
    height_pt = float(re.search(r'viewBox="0 0 [\d.]+ ([\d.]+)"', svg).group(1))
    assert height_pt / 72.0 <= 8.0


def test_the_ratings_of_a_large_network_list_its_study_area_and_site_json_keeps_it():
    # IEEE 118 (173 lines, 9 transformers, 99 loads: over the table's 80 rows) with a campus at bus 10
    # and a monitored set of two lines: the table lists exactly what the study area holds, counted
    # here from the network itself, and site.json carries the area to the report
    import pandapower.networks as pn

    from gridstudy.grid.site_io import site_from_json, site_to_json
    from gridstudy.studies.report.tables import ratings_table

    site = attach(pn.case118(), poi=10, campus_p_mw=50.0, battery_model="megapack2xl-2h", battery_units=8)
    site.monitored_buses = [site.poi_bus]
    site.monitored_branches = [("line", 0), ("line", 5)]
    site.contingencies = [("line", 0)]
    site = site_from_json(site_to_json(site))
    assert site.monitored_branches == [("line", 0), ("line", 5)] and site.contingencies == [("line", 0)]
    net = site.net
    at_poi = sum(int(((net[t].bus == site.poi_bus) & net[t].in_service).sum())
                 for t in ("ext_grid", "load", "storage", "shunt"))
    expected = 2 + at_poi  # the two monitored lines and every one-bus element at the POI
    total = (len(net.line) + len(net.trafo) + len(net.load) + len(net.storage) + len(net.shunt)
             + len(net.ext_grid))  # every element in service in case118
    html = ratings_table(site)
    assert f"{expected} of the network's {total} elements" in html
    assert html.count("<tr>") - 1 == expected  # one header row


def test_the_one_line_of_a_large_network_draws_its_study_area():
    # IEEE 118 with a campus at bus 10 and one monitored line: the diagram's network holds the POI
    # (where the campus and plant also connect) and both ends of the line, read here from the case
    import pandapower.networks as pn

    from gridstudy.studies.report.oneline import draw_oneline, study_area_site

    site = attach(pn.case118(), poi=10, campus_p_mw=50.0, battery_model="megapack2xl-2h", battery_units=8)
    assert study_area_site(site) is None  # no monitored set named: the whole network is drawn
    site.monitored_buses = []
    site.monitored_branches = [("line", 0)]
    area = study_area_site(site)
    line = site.net.line.loc[0]
    assert area is not None
    assert set(area.net.bus.index) == {site.poi_bus, int(line.from_bus), int(line.to_bus)}
    assert list(area.net.line.index) == [0]  # the monitored line; no other line joins those buses
    draw_oneline(area)  # drawn from the POI where the area holds none of the network's sources
