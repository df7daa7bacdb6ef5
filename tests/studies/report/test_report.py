"""The utility-facing report: content agrees with summary.json, figures exist, PDF sections and pages.

One short study (memphis-161kv, 4 minutes at 1 s, N-1 over a 1-minute window, no sag events) is run
once for the module; every test reads its output folder (and the re-render tests rewrite only the
report files, which are a pure function of the saved results).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

STUDY = """
[study]
name = "report test"
site = "memphis-161kv"
duration = "4min"
step_s = 1.0
seed = 3

[campus]
checkpoint_interval_s = 120.0

[battery]
strategy = "smoothing"

[battery.smoothing]
tau_s = 60.0

[criteria]
preset = "generic-utility"

[contingencies]
window = "1min"
workers = 1
"""

pytestmark = pytest.mark.slow  # one short study with N-1 (about a minute) and three PDF renderings

SECTIONS = ["Executive summary", "Facility description", "Assumptions and method",
            "Results without and with the battery (N-0)", "Fluctuations at sub-second resolution",
            "Contingencies (N-1)", "Plant full capability", "Sag mitigation",
            "Appendix: detailed tables and the study file"]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    from gridstudy.studies.cli.run_study import run_study

    d = tmp_path_factory.mktemp("report")
    (d / "study.toml").write_text(STUDY)
    out = d / "out"
    run_study(d / "study.toml", out, engine="fast", contingencies=True, sag=False, quiet=True, report=True)
    return out


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.ids: list[str] = []
        self.svgs = 0
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-criterion" in a:
            self.cells[(a["data-criterion"], a["data-scenario"])] = a["data-verdict"]
        if tag == "figure" and "id" in a:
            self.ids.append(a["id"])
        if tag == "svg":
            self.svgs += 1
        if tag in ("img", "script", "link", "iframe") and (a.get("src") or a.get("href")):
            self.external.append(f"{tag} {a.get('src') or a.get('href')}")


def _parse(html: str) -> _Cells:
    p = _Cells()
    p.feed(html)
    return p


def test_run_writes_report_files(study):
    for name in ("report.html", "report.pdf", "report_tables/findings.csv", "report_tables/contingencies.csv"):
        assert (study / name).is_file(), name
    assert not list(study.glob(".*.tmp")), "a temporary file of an atomic write was left behind"


def test_every_criterion_has_the_verdict_of_the_summary(study):
    summary = json.loads((study / "summary.json").read_text())
    cells = _parse((study / "report.html").read_text()).cells
    n = 0
    for scen, s in summary["scenarios"].items():
        for c in s["criteria"]:
            # a finding that does not decide the verdict says so instead (issue 21): a rule of
            # another region is a reference; a criterion the horizon cannot judge (a 15-min demand
            # interval on a shorter run) is not applicable
            want = {"binding": "pass" if c["pass"] else "fail", "not applicable": "n/a",
                    "reference (other region)": "reference"}[c["standing"]]
            assert cells.get((c["criterion"], scen)) == want, (scen, c["criterion"])
            n += 1
        assert cells[("all N-0", scen)] == ("pass" if s["pass"] else "fail")
    assert n >= 2 * 8  # both scenarios, every criterion family
    # N-1 column: pass only if every outage case of the scenario passes
    for scen in summary["scenarios"]:
        rows = [r for r in summary["contingencies"] if r["scenario"] == scen]
        if rows:
            assert cells[("N-1", scen)] == ("pass" if all(r["pass"] for r in rows) else "fail")


def test_criteria_that_cannot_fail_are_not_applicable_and_not_counted(study):
    """The 4-minute study applies no grid disturbance and its POI stays inside 0.90-1.10 pu: the
    load ride-through and the load loss it causes cannot fail, and 4 minutes hold no 2-h Plt; each is
    "not applicable" in the summary and the table, and outside the count of criteria."""
    summary = json.loads((study / "summary.json").read_text())
    cells = _parse((study / "report.html").read_text()).cells
    for scen, s in summary["scenarios"].items():
        assert 0.9 < s["poi_vm_pu_min"] and s["poi_vm_pu_max"] < 1.1
        na = {c["criterion"] for c in s["criteria"] if c["standing"] == "not applicable"}
        assert {"load ride-through", "load loss (transfer to backup)"} <= na
        assert any(c["id"] == "flicker_plt" for c in s["criteria"] if c["criterion"] in na)
        assert set(s["not_applicable"]) == na
        assert s["criteria_counted"] == sum(c["standing"] == "binding" for c in s["criteria"])
        refs = sum(c["standing"] == "reference (other region)" for c in s["criteria"])
        assert s["criteria_counted"] + len(na) + refs == len(s["criteria"])
        for name in na:
            assert cells[(name, scen)] == "n/a"


def test_sentences_agree_with_the_numbers(study):
    from gridstudy.studies.report.text import executive_sentences

    summary = json.loads((study / "summary.json").read_text())
    text = " ".join(executive_sentences(summary))
    html = (study / "report.html").read_text()
    for scen, s in summary["scenarios"].items():
        # only binding findings are counted (issue 21): not the criteria not applicable to the run
        binding = [c for c in s["criteria"] if c["standing"] == "binding"]
        n = len(binding)
        failed = [c for c in binding if not c["pass"]]
        label = scen.replace("_", " ")
        # with the weakest N-1 state's flicker and RVC among them the sentence says "criteria"
        what = "criteria" if any("N-1" in c["criterion"] for c in binding) else "N-0 criteria"
        if failed:
            assert f"The campus {label} fails {len(failed)} of {n} {what}" in text
        else:
            assert f"The campus {label} meets all {n} {what}" in text
    n1 = summary["contingencies"]
    k = sum(r["pass"] for r in n1 if r["scenario"] == "with_battery")
    m = sum(r["scenario"] == "with_battery" for r in n1)
    assert f"{k} of {m} outage cases pass with battery" in text
    for s in executive_sentences(summary):
        assert s.replace("“", "&#8220;")[:40] in html or s[:40] in html.replace("&#39;", "'").replace("&amp;", "&")


def test_each_figure_is_an_inline_svg(study):
    html = (study / "report.html").read_text()
    p = _parse(html)
    # at a 1-s step the 5-s window and flicker are judged on the sub-second windows: their figures
    # are the fluctuation section's (worst windows and spectrum), not the aliased study-step views
    expected = {"fig-oneline", "fig-poi-voltage", "fig-poi-zoom", "fig-bus-envelopes", "fig-voltage-duration",
                "fig-grid-power", "fig-grid-variation-1", "fig-battery", "fig-taps",
                "fig-loading", "fig-fluct-without_battery", "fig-fluct-with_battery", "fig-spectrum"}
    assert expected <= set(p.ids), expected - set(p.ids)
    assert p.svgs == len(p.ids)  # one SVG per figure, nothing else
    for fid in p.ids:  # each figure has a title and a numbered caption
        chunk = html[html.index(f'id="{fid}"'):]
        chunk = chunk[:chunk.index("</figure>")]
        assert "<svg" in chunk and "<figcaption><b>Figure" in chunk
    assert not p.external, p.external  # self-contained: no external resource
    assert "limit 20 MW" in html  # limit line labelled in the ramp figure
    assert "POI voltage [pu]" in html and "state of charge [%]" in html  # axis labels with units


def test_contingency_table_lists_every_outage(study):
    summary = json.loads((study / "summary.json").read_text())
    html = (study / "report.html").read_text()
    assert summary["contingencies"], "the study should have run N-1"
    for r in summary["contingencies"]:
        assert r["outage"] in html
    table = pd.read_csv(study / "report_tables" / "contingencies.csv")
    assert len(table) == len(summary["contingencies"])


def test_capability_section_lists_the_corners(study):
    from gridstudy.studies.report.text import fmt_num

    summary = json.loads((study / "summary.json").read_text())
    cap = summary["plant_capability"]
    assert cap["approach"] == "corners" and cap["corners"]
    html = (study / "report.html").read_text()
    section = html[html.index('<section id="capability"'):]
    section = section[:section.index("</section>")]
    assert "Approach (a), the corners" in section
    assert ("cannot be delivered at this POI" if not cap["pass"] else "can be delivered at this POI") in section
    for cases in cap["worst"].values():  # each corner's worst voltage and loading, intact and after an outage
        for w in cases.values():
            assert fmt_num(w["min_vm_pu"]) in section and fmt_num(w["max_loading_percent"], 3) in section
    assert len(pd.read_csv(study / "report_tables" / "plant_capability.csv")) == len(cap["corners"])
    assert len(pd.read_parquet(study / "plant_capability.parquet")) == len(cap["corners"])
    # the overall verdict: every scenario's N-0 verdict and the corners', intact and after an outage
    assert summary["pass"] == (all(s["pass"] for s in summary["scenarios"].values()) and cap["pass"])


def test_pdf_sections_toc_and_page_numbers(study):
    from pypdf import PdfReader

    reader = PdfReader(study / "report.pdf")
    pages = [pg.extract_text() for pg in reader.pages]
    n = len(pages)
    assert n >= 8
    for k, t in enumerate(pages, start=1):
        assert f"page {k} of {n}" in t, k
    text = "\n".join(pages)
    found = [text.find(f"{k}. {title}", text.find("Contents") + 1 if k else 0) for k, title in enumerate(SECTIONS, 1)]
    # headings appear after the contents list, in order
    body = [pages.index(next(pg for pg in pages[1:] if re.search(rf"^{k}\. {re.escape(t)}", pg, re.M)))
            for k, t in enumerate(SECTIONS, 1)]
    assert all(f >= 0 for f in found)
    assert body == sorted(body)
    # the table of contents gives each section's page number
    toc = pages[0]
    for k, title in enumerate(SECTIONS, 1):
        m = re.search(rf"{re.escape(title[:20])}.*?(\d+)\s*$", toc, re.M)
        assert m, title
        assert int(m.group(1)) == body[k - 1] + 1, title


def test_report_rerenders_without_rerunning(study, cli, monkeypatch):
    import gridstudy.studies.cli.run_study as ic

    monkeypatch.setattr(ic, "run_study", lambda *a, **k: pytest.fail("report must not re-run the study"))
    before = (study / "summary.json").stat().st_mtime_ns
    (study / "report.html").unlink()
    (study / "report.pdf").unlink()
    code, out, _ = cli("report", study)
    assert code == 0 and "report.html" in out
    assert (study / "report.html").is_file() and (study / "report.pdf").is_file()
    assert (study / "summary.json").stat().st_mtime_ns == before


def test_sizing_section_when_sizing_json_exists(study, tmp_path):
    import shutil

    from gridstudy.studies.report.render import render_report

    d = tmp_path / "copy"
    shutil.copytree(study, d)
    designs = [{"units": u, "p_mw": 0.979 * u, "e_mwh": 3.916 * u, "cost_usd": 1.2e6 * u, "pass": u >= 200}
               for u in (100, 200, 300)]
    (d / "sizing.json").write_text(json.dumps({"chosen": designs[1], "evaluations": designs, "frontier": designs[1:]}))
    html_path, pdf_path = render_report(d, pdf=False)
    assert pdf_path is None
    html = html_path.read_text()
    assert "Battery sizing" in html and 'id="fig-sizing"' in html


def test_envelope_keeps_peaks_and_bounds_size():
    from gridstudy.studies.report import figures as F

    idx = pd.date_range("2025-01-01", periods=86_400, freq="1s")
    v = pd.Series(1.0 + 0.001 * np.sin(np.arange(86_400) / 50.0), index=idx)
    v.iloc[43_210] = 0.91  # one-second dip must survive
    v.iloc[70_001] = 1.08
    e = F.envelope(v)
    assert len(e) <= 2 * F.MAX_POINTS
    assert e.min() == 0.91 and e.max() == 1.08
    svg = F.poi_voltage({"without_battery": v, "with_battery": v * 0.999}, (0.95, 1.05), "day")
    assert svg.startswith("<svg") and len(svg) < 400_000  # a day at 1 s stays a few hundred kB


def test_report_text_has_no_python_literals_or_exponents(study):
    """No raw Python object (a dict's brace) and no exponent notation in the text a reader sees."""
    html = (study / "report.html").read_text()
    body = html.split("<body>", 1)[1]
    text = re.sub(r"<style.*?</style>|<svg.*?</svg>|<pre class=\"studyfile\">.*?</pre>", "", body, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    assert "{" not in text and "}" not in text
    assert not re.search(r"\d(\.\d+)?e[-+]\d", text)


def test_conditions_of_the_verdict_list_the_passing_scenario_settings(study):
    from gridstudy.studies.report.tables import conditions_table
    from gridstudy.studies.report.text import scenario_label

    summary = json.loads((study / "summary.json").read_text())
    html = (study / "report.html").read_text()
    assert "Conditions of the verdict" in html
    passing = [n for n, s in summary["scenarios"].items() if s["pass"]]
    table = conditions_table(summary)
    for n in passing:
        s = summary["scenarios"][n]
        assert scenario_label(n) in table
        if s.get("plant_mode") not in (None, "idle"):
            assert s["plant_mode"].replace("_", " ") in table
    if not passing:
        assert table == "" and "no verdict has conditions" in html


def test_plt_is_the_cubic_mean_of_twelve_pst_or_absent(study):
    """The report's Plt is the standard's: the cubic mean of 12 consecutive 10-min Pst. The short study's
    sub-second windows hold one Pst each, so no scenario has a Plt (not a Pst shown as one)."""
    summary = json.loads((study / "summary.json").read_text())
    for s in summary["scenarios"].values():
        crit = next((c for c in s["criteria"] if c["id"] == "flicker"), None)
        if crit is None:
            continue
        pst = crit["details"].get("pst") or []
        if len(pst) >= 12:
            expected = max((sum(p ** 3 for p in pst[k:k + 12]) / 12) ** (1 / 3) for k in range(len(pst) - 11))
            assert s["plt_max"] == pytest.approx(expected, rel=1e-9)
        else:
            assert s["plt_max"] is None or not np.isfinite(s["plt_max"])


def test_fmt_num_never_prints_an_exponent():
    from gridstudy.studies.report.text import fmt_num, fmt_param, param_unit

    assert fmt_num(1.28e-07) == "< 0.001" and fmt_num(-3e-9) == "> -0.001"
    assert fmt_num(0.0123) == "0.0123"
    assert fmt_param({"scope": "rack", "floor_fraction": 0.5}) == "scope = rack; floor_fraction = 0.5"
    assert param_unit("restart_s") == "s" and param_unit("battery.ramp_limit.ramp_mw_per_min") == "MW/min"
    assert param_unit("interruptions_per_day") == "1/day" and param_unit("transition_pu_per_s") == "pu/s"
