"""The utility-facing report of an interconnection study: one self-contained HTML file and its PDF.

``render_report(DIR)`` reads what :func:`studies.interconnection.run_study` saved in ``DIR``
(``summary.json``, the Parquet tables, each scenario's QSTS aggregates, ``study.toml`` and, when
present, ``sizing.json``) and writes, each file atomically:

- ``DIR/report.html``: System Impact Study-style report, figures as inline SVG, no external
  resources;
- ``DIR/report.pdf``: the same HTML printed by weasyprint (page numbers, table of contents);
- ``DIR/report_tables/*.csv``: the appendix tables.

Nothing is re-run: the report is a view of the saved results.
"""

from __future__ import annotations

import datetime as _dt
import html as _html
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from studies.io import atomic_write
from studies.report import figures as F
from studies.report.text import (executive_sentences, fmt_limits, fmt_num, fmt_value, n1_verdicts, sag_verdicts,
                                 scenario_label, verdict_word)

__all__ = ["render_report", "build_report", "Report"]

QSTS_LIMITS = [
    "Each step is a steady-state (phasor) power flow; electromechanical and electromagnetic dynamics "
    "(inverter controls, protection, motor and converter transients, sub-synchronous oscillations) are not "
    "modelled and need a dynamic (RMS/EMT) study.",
    "Loads are constant-power at every step; voltage sensitivity of the campus load is not represented.",
    "Nothing faster than the study step is seen; a coarse step averages the campus load, never samples it.",
    "Flicker is estimated from the quasi-static voltage changes with the IEC 61000-3-7 analytical method, "
    "not measured with an IEC 61000-4-15 flickermeter.",
    "Tap changers, volt-var and battery controls act between steps with their modelled delays; "
    "utility-side regulation (other tap changers, capacitor switching, generator AVRs) is as in the site model.",
    "The utility source is a Thevenin equivalent at the stated fault levels; other loads and generation in "
    "the area are not varied.",
]


@dataclass
class Report:
    """Everything the template needs."""

    dir: Path
    summary: dict
    context: dict = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- data
def _read_parquet(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        return pd.read_parquet(path)
    except Exception:  # an empty frame written without columns reads back badly on some versions
        return None


def _site(d: Path, summary: dict):
    """The site as studied (battery sized to the plant), or the reference site, or ``None``."""
    try:
        from studies.interconnection import prepare_study, study_site

        return study_site(prepare_study(d / "study.toml").resolved), None
    except Exception as exc:  # relative paths of the original study file may not resolve from DIR
        first = exc
    try:
        from grid.reference import load_site

        return load_site(summary["site"]), None
    except Exception:
        return None, f"site could not be rebuilt from {d / 'study.toml'}: {first}"


def _plant_soc_limits(d: Path) -> tuple[float, float] | None:
    try:
        from studies.interconnection import prepare_study

        p = prepare_study(d / "study.toml").resolved.plant
        return (float(p.soc_min_percent), float(p.soc_max_percent)) if p is not None else None
    except Exception:
        return None


def _preset(name: str):
    from studies.criteria.presets import CriteriaPreset, get_preset

    try:
        return get_preset(str(name).split("+")[0])
    except Exception:
        return CriteriaPreset("default")


# ------------------------------------------------------------------------------------------- helpers
def _esc(x) -> str:
    return _html.escape(str(x))


def _table(df: pd.DataFrame, cls: str = "", num: set[str] | None = None, raw: set[str] | None = None) -> str:
    """An HTML table from a frame of already formatted strings (columns in ``raw`` are not escaped)."""
    num = num or set()
    raw = raw or set()
    head = "".join(f"<th>{_esc(c)}</th>" for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            v = r[c]
            s = v if c in raw else _esc("" if v is None else v)
            cells.append(f"<td class=\"num\">{s}</td>" if c in num else f"<td>{s}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class=\"{cls}\"><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _verdict_html(passed: bool | None, extra: str = "") -> str:
    w = verdict_word(passed)
    cls = {"PASS": "pass", "FAIL": "fail"}.get(w, "na")
    return f"<span class=\"{cls}\">{w}</span>" + (f"<br><span class=\"small\">{_esc(extra)}</span>" if extra else "")


def _when(x) -> str:
    if not x:
        return "–"
    try:
        return f"{pd.Timestamp(x):%Y-%m-%d %H:%M:%S}"
    except Exception:
        return str(x)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gridstudy")
    except PackageNotFoundError:
        return "unknown"


def _csv(d: Path, name: str, df: pd.DataFrame) -> str:
    path = d / "report_tables" / f"{name}.csv"
    atomic_write(path, lambda p: df.to_csv(p, index=False))
    return f"report_tables/{name}.csv"


# ------------------------------------------------------------------------------------------ sections
class _Figs:
    def __init__(self):
        self.items: list[dict] = []

    def add(self, fid: str, svg: str, caption: str) -> dict:
        f = {"id": f"fig-{fid}", "n": len(self.items) + 1, "svg": svg, "caption": caption}
        self.items.append(f)
        return f


def _verdict_cell(criterion: str, scenario: str, ok: bool, inner: str) -> str:
    """One scenario's verdict cell of the executive table (the data attributes tests and readers
    of the HTML rely on)."""
    return (f"<td data-criterion=\"{_esc(criterion)}\" data-scenario=\"{_esc(scenario)}\" "
            f"data-verdict=\"{verdict_word(ok).lower()}\">{inner}</td>")


def _verdict_row(label: str, criterion: str, names: list[str], results: dict, judge, missing: str) -> str:
    """A row of the executive table: per scenario ``judge(result) -> (ok, text)``, or a ``missing``
    cell where the scenario has no result."""
    cells = []
    for n in names:
        r = results.get(n)
        if r is None:
            cells.append(f"<td class=\"na\">{missing}</td>")
            continue
        ok, text = judge(r)
        cells.append(_verdict_cell(criterion, n, ok, _verdict_html(ok, text)))
    return f"<tr><td>{label}</td>{''.join(cells)}</tr>"


def _exec_table(summary: dict) -> str:
    sc = summary["scenarios"]
    names = list(sc)
    crit_order: list[str] = []
    for s in sc.values():
        for c in s.get("criteria", []):
            if c["criterion"] not in crit_order:
                crit_order.append(c["criterion"])
    head = "<th>criterion (case)</th>" + "".join(f"<th>{_esc(scenario_label(n))}</th>" for n in names)
    rows = []
    for cname in crit_order:
        found = {}
        for n in names:
            c = next((c for c in sc[n].get("criteria", []) if c["criterion"] == cname), None)
            if c is not None:
                found[n] = c
        rows.append(_verdict_row(f"{_esc(cname)} (N-0)", cname, names, found,
                                 lambda c: (c["pass"], fmt_value(c.get("worst_value"), c.get("worst_unit"))),
                                 "not judged"))
    n1 = n1_verdicts(summary)
    if summary.get("contingencies") is not None and (n1 or summary.get("loss_of_supply")):
        def n1_text(d):
            extra = f", {len(d['nonconverged'])} not converged" if d["nonconverged"] else ""
            return d["passed"] == d["n"], f"{d['passed']}/{d['n']} outages pass" + extra

        rows.append(_verdict_row("all criteria after each credible single outage (N-1)", "N-1", names, n1,
                                 n1_text, "not run"))
    sg = sag_verdicts(summary)
    if sg:
        rows.append(_verdict_row("load ride-through in the sag events", "sag ride-through", names, sg,
                                 lambda d: (not d["trips"], f"{len(d['trips'])} of {d['n']} events trip"),
                                 "not run"))
    overall = "".join(_verdict_cell("all N-0", n, sc[n]["pass"], f"<b>{_verdict_html(sc[n]['pass'])}</b>")
                      for n in names)
    rows.append(f"<tr class=\"overall\"><td><b>all N-0 criteria</b></td>{overall}</tr>")
    return f"<table class=\"exec\"><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _ratings(site) -> str:
    if site is None:
        return ""
    net = site.net
    rows = []
    for _, r in net.ext_grid[net.ext_grid.in_service].iterrows():
        vn = net.bus.at[r.bus, "vn_kv"]
        rows.append(["utility source", str(r["name"] or "ext_grid"), f"{vn:g} kV",
                     f"fault level {r.get('s_sc_min_mva', float('nan')):g}–{r.get('s_sc_max_mva', float('nan')):g} MVA, "
                     f"R/X {r.get('rx_max', float('nan')):g}"])
    for _, r in net.line[net.line.in_service].iterrows():
        vn = net.bus.at[r.from_bus, "vn_kv"]
        mva = math.sqrt(3) * vn * r.max_i_ka * r.get("parallel", 1)
        rows.append(["line", str(r["name"]), f"{vn:g} kV", f"{r.length_km:g} km, {r.max_i_ka * 1000:.0f} A ≈ {mva:.0f} MVA, "
                     f"r {r.r_ohm_per_km:g} / x {r.x_ohm_per_km:g} Ω/km"])
    for i, r in net.trafo[net.trafo.in_service].iterrows():
        tap = ""
        if pd.notna(r.get("tap_step_percent")) and pd.notna(r.get("tap_max")):
            tap = f", taps {r.tap_min:g}…{r.tap_max:g} × {r.tap_step_percent:g} %" + (" (OLTC)" if i in site.regulating_trafos else "")
        rows.append(["transformer", str(r["name"]), f"{r.vn_hv_kv:g}/{r.vn_lv_kv:g} kV",
                     f"{r.sn_mva:g} MVA, vk {r.vk_percent:g} %, vkr {r.vkr_percent:g} %{tap}"])
    for i, r in net.load[net.load.in_service].iterrows():
        what = "campus load" if i in site.campus_loads else "other load"
        rows.append([what, str(r["name"]), f"{net.bus.at[r.bus, 'vn_kv']:g} kV", f"{r.p_mw:g} MW, {r.q_mvar:g} Mvar (base case)"])
    for _, r in net.storage[net.storage.in_service].iterrows():
        rows.append(["battery plant", str(r["name"]), f"{net.bus.at[r.bus, 'vn_kv']:g} kV",
                     f"{r.max_p_mw:.1f} MW, {r.max_e_mwh:.0f} MWh, {r.sn_mva:.1f} MVA"])
    for _, r in net.shunt[net.shunt.in_service].iterrows():
        rows.append(["shunt", str(r["name"]), f"{net.bus.at[r.bus, 'vn_kv']:g} kV", f"{r.q_mvar:g} Mvar"])
    return _table(pd.DataFrame(rows, columns=["element", "name", "voltage", "rating and parameters"]))


def _strength(ss: dict, summary: dict) -> str:
    rows = [
        ("POI bus", ss.get("poi_bus"), ""),
        ("POI nominal voltage", fmt_num(ss.get("poi_vn_kv")), "kV"),
        ("three-phase fault level at the POI, maximum", fmt_num(ss.get("skss_max_mva")), "MVA"),
        ("three-phase fault level at the POI, minimum", fmt_num(ss.get("skss_min_mva")), "MVA"),
        ("X/R at the POI", fmt_num(ss.get("xr"), 3), "-"),
        ("campus peak demand", fmt_num(ss.get("campus_p_mw")), "MW"),
        ("short-circuit ratio SCR (minimum fault level / campus MW)", fmt_num(ss.get("scr"), 3), "-"),
        ("grid strength (SCR < 3 is weak)", ss.get("strength"), ""),
        ("base-case POI voltage", fmt_num(ss.get("poi_vm_pu")), "pu"),
        ("base-case highest branch loading", f"{fmt_num(ss.get('max_loading_percent'), 3)} % ({ss.get('max_loading_element', '')})", ""),
        ("base-case losses", fmt_num(ss.get("losses_mw"), 3), "MW"),
    ]
    if ss.get("tap_pos"):
        rows.append(("base-case tap positions", ", ".join(f"{k}: {v}" for k, v in ss["tap_pos"].items()), ""))
    df = pd.DataFrame([(a, "–" if b is None else b, c) for a, b, c in rows], columns=["quantity", "value", "unit"])
    return _table(df, cls="kv", num={"value"})


def _criteria_table(summary: dict) -> tuple[str, pd.DataFrame]:
    seen, rows = set(), []
    for s in summary["scenarios"].values():
        for c in s.get("criteria", []):
            for lim in c.get("limits", []):
                key = (c["criterion"], lim["name"])
                if key in seen:
                    continue
                seen.add(key)
                rows.append({"criterion": c["criterion"], "limit": lim["name"],
                             "value": fmt_value(lim["value"], lim.get("unit")), "source": lim.get("source", ""),
                             "to confirm with the utility": "yes" if lim.get("check") else ""})
    df = pd.DataFrame(rows)
    return _table(df, cls="small"), df


def _params_table(d: dict) -> str:
    rows = [(k, fmt_num(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else ("–" if v is None else str(v)))
            for k, v in d.items()]
    return _table(pd.DataFrame(rows, columns=["parameter", "value"]), cls="small", num={"value"})


def _metrics_table(summary: dict) -> str:
    keys = [("poi_vm_pu_min", "lowest POI voltage", "pu"), ("poi_vm_pu_max", "highest POI voltage", "pu"),
            ("seconds_outside_n0_band", "time outside the N-0 band at the POI", "s"),
            ("rvc_events", "rapid voltage changes (≥ 1 %)", "events"), ("pst_max", "highest Pst (10 min)", "-"),
            ("plt_max", "highest Plt (2 h)", "-"), ("max_ramp_mw_per_min", "largest grid-side change over 1 min", "MW"),
            ("max_p2p_mw_5s", "largest grid-side 5-s peak-to-peak", "MW"),
            ("tap_operations", "tap operations (all regulating transformers)", "operations"),
            ("nonconverged_steps", "non-converged steps", "steps"), ("ride_through_trips", "ride-through trips", "trips"),
            ("battery_saturated_steps", "steps with the battery at a power or SOC limit", "steps")]
    sc = summary["scenarios"]
    rows = []
    for k, label, unit in keys:
        rows.append([label, unit] + [fmt_num(sc[n].get(k)) for n in sc])
    return _table(pd.DataFrame(rows, columns=["metric", "unit"] + [scenario_label(n) for n in sc]),
                  num={scenario_label(n) for n in sc})


def _findings_detail(summary: dict) -> pd.DataFrame:
    rows = []
    for n, s in summary["scenarios"].items():
        for c in s.get("criteria", []):
            rows.append({"scenario": scenario_label(n), "criterion": c["criterion"], "verdict": verdict_word(c["pass"]),
                         "worst": fmt_value(c.get("worst_value"), c.get("worst_unit")), "when": _when(c.get("when")),
                         "seconds outside": fmt_num(c.get("seconds_outside")), "events": fmt_num(c.get("events")),
                         "limits": fmt_limits(c.get("limits")), "note": c.get("note", "")})
    return pd.DataFrame(rows)


def _cont_table(summary: dict) -> tuple[str, pd.DataFrame]:
    rows = []
    for r in summary.get("contingencies") or []:
        nc = r.get("nonconverged_steps") or 0
        if r.get("error"):
            res = "RUN FAILED"
        elif nc:
            res = "NOT CONVERGED"
        else:
            res = verdict_word(r.get("pass"))
        viol = r.get("violations") or []
        rows.append({"outage": r["outage"], "scenario": scenario_label(r["scenario"]), "result": res,
                     "lowest V [pu]": fmt_num(r.get("worst_vm_pu")), "at bus": r.get("worst_vm_bus", ""),
                     "highest V [pu]": fmt_num(r.get("max_vm_pu")),
                     "max loading [%]": fmt_num(r.get("max_loading_percent"), 3),
                     "on branch": r.get("max_loading_element", ""), "non-conv. steps": fmt_num(nc),
                     "violations": ", ".join(viol) if isinstance(viol, list) else str(viol or "")})
    df = pd.DataFrame(rows)
    if not len(df):
        return "", df
    body = []
    for _, r in df.iterrows():
        cls = {"PASS": "pass", "FAIL": "fail"}.get(r["result"], "fail")
        rowcls = " class=\"nonconv\"" if r["result"] in ("NOT CONVERGED", "RUN FAILED") else ""
        cells = "".join(f"<td class=\"num\">{_esc(r[c])}</td>" if "[" in c or c == "non-conv. steps" else
                        (f"<td><span class=\"{cls}\">{_esc(r[c])}</span></td>" if c == "result" else f"<td>{_esc(r[c])}</td>")
                        for c in df.columns)
        body.append(f"<tr{rowcls}>{cells}</tr>")
    head = "".join(f"<th>{_esc(c)}</th>" for c in df.columns)
    return f"<table class=\"small cont\"><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>", df


def _sag_table(summary: dict) -> tuple[str, pd.DataFrame]:
    rows = []
    for ev in summary.get("sag_events") or []:
        for scen, v in ev.items():
            if not isinstance(v, dict):
                continue
            rows.append({"event": ev["event"], "kind": ev.get("kind", ""), "scenario": scenario_label(scen),
                         "pre-event V [pu]": fmt_num(v.get("pre_event_poi_vm_pu")),
                         "lowest V [pu]": fmt_num(v.get("min_poi_vm_pu")), "dip depth [pu]": fmt_num(v.get("dip_depth_pu"), 3),
                         "time below 0.9 pu [s]": fmt_num(v.get("seconds_below_0p9"), 3),
                         "ride-through": "TRIP" if v.get("trip") else "rides through",
                         "trip at [s]": fmt_num(v.get("trip_time_s"), 3),
                         "largest grid-side change [MW]": fmt_num(v.get("grid_step_mw"), 3),
                         "non-conv. steps": fmt_num(v.get("nonconverged_steps"))})
    df = pd.DataFrame(rows)
    return (_table(df, cls="small", num={c for c in df.columns if "[" in c or c == "non-conv. steps"}) if len(df) else ""), df


# ---------------------------------------------------------------------------------------- assembling
def build_report(out_dir: str | Path) -> Report:
    """Read the saved study in ``out_dir`` and build the template context (figures included)."""
    d = Path(out_dir)
    summary = json.loads((d / "summary.json").read_text())
    sc = summary["scenarios"]
    rep = Report(d, summary)
    figs = _Figs()
    ctx: dict = {"summary": summary}
    preset = _preset(summary.get("criteria_preset", ""))
    series = _read_parquet(d / "series.parquet")
    if series is not None:
        series.index = pd.DatetimeIndex(series.index)
    study_text = (d / "study.toml").read_text() if (d / "study.toml").exists() else ""
    try:
        study_raw = tomllib.loads(study_text) if study_text else {}
    except tomllib.TOMLDecodeError:
        study_raw = {}
    n0_band = tuple(next(iter(sc.values())).get("n0_band_pu") or ()) or None

    # title block
    ctx["title"] = f"Interconnection study: {summary['study']}"
    ctx["short_title"] = summary["study"]
    ctx["titleblock"] = [
        ("Study", summary["study"]), ("Site", f"{summary['site']} — {summary.get('site_description', '')}"),
        ("Horizon", f"{_when(summary['start'])} to {_when(summary['end'])} ({summary['steps']} steps of {summary['step_s']:g} s)"),
        ("Report date", f"{_dt.date.today():%Y-%m-%d}"), ("Package", f"gridstudy {_version()}"),
        ("Engine", f"{summary['engine']} (quasi-static time series)"), ("Criteria preset", summary.get("criteria_preset", "")),
        ("Input file SHA-256", summary.get("input_sha256", "")),
        ("Overall verdict (N-0, all scenarios)", "PASS" if summary.get("pass") else "FAIL — see the executive summary"),
    ]

    # 1 executive summary
    ctx["exec_table"] = _exec_table(summary)
    ctx["exec_sentences"] = executive_sentences(summary)

    # 2 facility
    site, site_note = _site(d, summary)
    ctx["site_note"] = site_note
    if site is not None:
        from studies.report.oneline import draw_oneline

        ctx["oneline"] = figs.add("oneline", F.to_svg(draw_oneline(site)),
                                  "One-line diagram of the site as studied, drawn from the network model; the POI bus in red.")
    ctx["ratings"] = _ratings(site)
    ctx["strength"] = _strength(summary.get("site_summary") or {}, summary)

    # 3 method
    ctx["campus_params"] = _params_table(summary.get("campus_model") or {})
    bat = dict(summary.get("battery") or {})
    for sect in ("battery",):
        for k, v in (study_raw.get(sect) or {}).items():
            if isinstance(v, dict):
                bat.update({f"{k}.{kk}": vv for kk, vv in v.items() if not isinstance(vv, (dict, list))})
    ctx["battery_params"] = _params_table(bat) if bat else ""
    ctx["strategies"] = {scenario_label(n): s.get("strategy", "") for n, s in sc.items()}
    ctx["criteria_table"], crit_df = _criteria_table(summary)
    ctx["qsts_limits"] = [summary.get("quasi_static_note", "")] + QSTS_LIMITS

    # 4 results
    ctx["metrics_table"] = _metrics_table(summary)
    ctx["results_figs"] = []
    rf = ctx["results_figs"]
    if series is not None and len(series):
        poi = {n: series[f"{n}|poi_vm_pu"] for n in sc if f"{n}|poi_vm_pu" in series}
        if poi:
            rf.append(figs.add("poi-voltage", F.poi_voltage(poi, n0_band, "POI voltage over the study horizon"),
                               "POI voltage without and with the battery over the whole horizon (for long horizons each "
                               "plotted point pair is the minimum and maximum of its interval, so no peak is hidden)."))
            base = poi.get("without_battery", next(iter(poi.values())))
            t0, t1 = F.worst_minutes(base, 5.0)
            rf.append(figs.add("poi-zoom", F.poi_voltage_zoom(poi, n0_band, t0, t1, f"POI voltage, worst 5 minutes ({t0:%H:%M:%S}–{t1:%H:%M:%S})"),
                               f"Zoom at full resolution on the 5 minutes with the widest POI voltage swing without the battery, "
                               f"{t0:%Y-%m-%d %H:%M:%S} to {t1:%H:%M:%S}."))
    bus = {n: _read_parquet(d / "scenarios" / n / "bus_summary.parquet") for n in sc}
    bus = {n: b for n, b in bus.items() if b is not None and len(b)}
    real_bus: dict[int, str] = {}
    if bus:
        first = next(iter(bus.values()))
        real_bus = {int(b): str(r["name"]) for b, r in first.iterrows() if not str(r["name"]).endswith("(Thevenin source)")}
        bus = {n: b.loc[[i for i in b.index if int(i) in real_bus]] for n, b in bus.items()}
        from studies.criteria.voltage import voltage_class

        bands = {}
        for _, r in first.iterrows():
            try:
                vb = preset.band(voltage_class(float(r["vn_kv"])), "n-0")
                bands[str(r["name"])] = (vb.vmin_pu, vb.vmax_pu)
            except Exception:
                pass
        rf.append(figs.add("bus-envelopes", F.bus_envelopes(bus, bands, "Voltage range of each bus (N-0)"),
                           "Lowest to highest voltage of each bus over the horizon; dashed: the N-0 band of the bus's "
                           "voltage class (HV: planning band, MV: ANSI C84.1 Range A)."))
        rep.tables.update({f"bus_summary_{n}": b.reset_index() for n, b in bus.items()})
    hist = {n: _read_parquet(d / "scenarios" / n / "histogram_s.parquet") for n in sc}
    hist = {n: h for n, h in hist.items() if h is not None and len(h)}
    if hist and real_bus:
        total_s = summary["steps"] * summary["step_s"]
        rf.append(figs.add("voltage-duration", F.voltage_duration(hist, real_bus, n0_band, total_s, "Voltage-duration curves"),
                           "Share of the horizon each bus spends at or above a voltage (from 5-mpu histograms of every step)."))
    grid_fig_ids = []
    if series is not None and len(series):
        gp = {n: series[f"{n}|grid_p_mw"] for n in sc if f"{n}|grid_p_mw" in series}
        campus = series.get("without_battery|campus_p_mw")
        if gp:
            rf.append(figs.add("grid-power", F.grid_power(gp, campus, "Grid-side active power at the POI"),
                               "Active power drawn from the grid (campus plus battery, import positive) and the campus demand."))
            from studies.criteria.ramp import delta_mw, rolling_range_mw

            crits = {}
            for s in sc.values():
                for c in s.get("criteria", []):
                    if c["criterion"].startswith("grid-side variation") and c["criterion"] not in crits:
                        crits[c["criterion"]] = c
            for k, (cname, c) in enumerate(crits.items()):
                det = c.get("details") or {}
                lim = (c.get("limits") or [{}])[0]
                w = float(det.get("window_s") or 60.0)
                method = det.get("method", "delta")
                try:
                    if method == "range":
                        m = {n: rolling_range_mw(p, w) for n, p in gp.items()}
                        yl, signed = f"peak-to-peak within {w:g} s [MW]", False
                    else:
                        m = {n: delta_mw(p, w) for n, p in gp.items()}
                        yl, signed = f"change over {w:g} s [MW]", True
                except Exception:
                    continue
                fid = f"grid-variation-{k + 1}"
                grid_fig_ids.append(fid)
                rf.append(figs.add(fid, F.grid_variation(m, float(lim.get("value", 0.0)), str(lim.get("source", ""))[:40],
                                                         yl, f"Grid-side variation: {cname.split(': ', 1)[-1]}", signed),
                                   f"{cname}: limit {fmt_value(lim.get('value'), lim.get('unit'))} ({lim.get('source', '')})."))
            bp = {n: series[f"{n}|battery_p_mw"] for n in sc if n != "without_battery" and f"{n}|battery_p_mw" in series}
            soc = {n: series[f"{n}|soc_percent"] for n in bp if f"{n}|soc_percent" in series}
            if bp:
                rf.append(figs.add("battery", F.battery(bp, soc, (summary.get("battery") or {}).get("p_mw"), _plant_soc_limits(d),
                                                       "Battery plant power and state of charge"),
                                   "Battery active power (pandapower consumer view: charging positive, discharging negative) "
                                   "and state of charge."))
            tapcols = {}
            for n in sc:
                cols = {c.split("|tap_pos_", 1)[1]: series[c] for c in series.columns if c.startswith(f"{n}|tap_pos_")}
                if cols:
                    tapcols[n] = cols
            if tapcols:
                ops = ", ".join(f"{scenario_label(n)}: {fmt_num(sc[n].get('tap_operations'))}" for n in tapcols)
                rf.append(figs.add("taps", F.taps(tapcols, "On-load tap changer positions"),
                                   f"Tap positions of the regulating transformers; tap operations over the horizon — {ops}."))
    branch = {n: _read_parquet(d / "scenarios" / n / "branch_summary.parquet") for n in sc}
    branch = {n: b for n, b in branch.items() if b is not None and len(b)}
    if branch:
        thermal_lim = 100.0
        rf.append(figs.add("loading", F.loading_ranges(branch, thermal_lim, "Branch loading range (N-0)"),
                           "Lowest to highest loading of every line and transformer over the horizon. The study records "
                           "only the extremes of each branch (no per-step loading), so a loading-duration curve cannot be "
                           "drawn; the range shows how close each branch comes to its normal rating."))
        rep.tables.update({f"branch_summary_{n}": b.reset_index() for n, b in branch.items()})
    if series is not None and len(series):
        from studies.criteria.flicker import pst

        pstd = {}
        for n in sc:
            col = f"{n}|poi_vm_pu"
            if col in series:
                try:
                    pstd[n] = pst(series[col].interpolate(limit_direction="both"))
                except Exception:
                    pass
        level = None
        for s in sc.values():
            for c in s.get("criteria", []):
                for lim in c.get("limits", []):
                    if lim["name"].startswith("Pst planning level") and level is None:
                        level = float(lim["value"])
        if pstd:
            rf.append(figs.add("flicker", F.flicker_pst(pstd, level, "Short-term flicker severity Pst at the POI"),
                               "Pst per clock-aligned 10-minute window, estimated from the POI voltage changes by the "
                               "IEC 61000-3-7 analytical method; a window cut by the horizon is shorter than 10 minutes."))
            rep.tables["pst_per_window"] = pd.DataFrame(pstd).rename_axis("window_start").reset_index()
    ctx["findings_detail"] = _findings_detail(summary)
    rep.tables["findings"] = ctx["findings_detail"]

    # 5 contingencies
    ctx["cont_table"], cont_df = _cont_table(summary)
    ctx["cont_run"] = bool(summary.get("contingencies")) or bool(summary.get("loss_of_supply"))
    ctx["loss_of_supply"] = summary.get("loss_of_supply") or []
    if len(cont_df):
        rep.tables["contingencies"] = cont_df
    # 6 sag
    ctx["sag_table"], sag_df = _sag_table(summary)
    ctx["sag_figs"] = []
    sag_series = _read_parquet(d / "sag_events.parquet")
    if sag_series is not None and len(sag_series):
        for k, (ev, g) in enumerate(sag_series.groupby("event", sort=False)):
            ctx["sag_figs"].append(figs.add(f"sag-{k + 1}", F.sag_event(g, f"Event: {ev}"),
                                            f"Sag event “{ev}”: POI voltage and utility source voltage (top), grid-side "
                                            "power (bottom), without and with the battery."))
    if len(sag_df):
        rep.tables["sag_events"] = sag_df
    # 7 sizing
    sizing = None
    if (d / "sizing.json").exists():
        try:
            sizing = json.loads((d / "sizing.json").read_text())
        except json.JSONDecodeError:
            sizing = None
    ctx["sizing"] = sizing
    if sizing:
        ch = sizing.get("chosen") or {}
        ctx["sizing_fig"] = figs.add("sizing", F.sizing_frontier(sizing.get("frontier") or [], sizing.get("evaluations") or [], ch,
                                                                 "Battery sizing: cost against energy"),
                                     "Every evaluated battery design (passes / fails all criteria), the cost frontier and the chosen design.")
        ctx["sizing_chosen"] = _params_table({k: v for k, v in ch.items() if not isinstance(v, (dict, list))})
        fr = pd.DataFrame(sizing.get("frontier") or [])
        if len(fr):
            fr = fr[[c for c in fr.columns if not isinstance(fr[c].iloc[0], (dict, list))]]
            ctx["sizing_frontier"] = _table(fr.map(lambda v: fmt_num(v) if isinstance(v, (int, float)) else str(v)), cls="small")
            rep.tables["sizing_frontier"] = fr
    # 8 appendix
    ctx["crit_df"] = crit_df
    rep.tables["criteria_limits"] = crit_df
    ctx["study_text"] = study_text
    ctx["figures"] = figs.items
    rep.context = ctx
    return rep


def _sections(ctx: dict) -> list[dict]:
    s = [("summary", "Executive summary"), ("facility", "Facility description"), ("method", "Assumptions and method"),
         ("results", "Results without and with the battery (N-0)"), ("contingencies", "Contingencies (N-1)"),
         ("sag", "Sag mitigation")]
    if ctx.get("sizing"):
        s.append(("sizing", "Battery sizing"))
    s.append(("appendix", "Appendix: detailed tables and the study file"))
    return [{"id": i, "title": t, "n": k + 1} for k, (i, t) in enumerate(s)]


def render_html(rep: Report) -> str:
    """The report as one self-contained HTML string."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    ctx = dict(rep.context)
    ctx["sections"] = _sections(ctx)
    ctx["sec"] = {s["id"]: s for s in ctx["sections"]}
    ctx["csv_files"] = rep.context.get("csv_files", [])
    return env.get_template("report.html.j2").render(**ctx)


def render_report(out_dir: str | Path, pdf: bool = True) -> tuple[Path, Path | None]:
    """Render ``report.html`` (and ``report.pdf``) in ``out_dir`` from its saved results.

    Parameters
    ----------
    out_dir : str or Path
        Output folder of :func:`studies.interconnection.run_study`.
    pdf : bool
        Also print the PDF with weasyprint.

    Returns
    -------
    tuple
        ``(html_path, pdf_path or None)``.
    """
    d = Path(out_dir)
    if not (d / "summary.json").exists():
        raise FileNotFoundError(f"{d / 'summary.json'} not found: run `gridstudy run STUDY --out {d}` first")
    rep = build_report(d)
    csv = []
    for name, df in rep.tables.items():
        if df is not None and len(df):
            csv.append(_csv(d, name, df))
    rep.context["csv_files"] = csv
    html = render_html(rep)
    html_path = atomic_write(d / "report.html", lambda p: p.write_text(html, encoding="utf-8"))
    pdf_path = None
    if pdf:
        import logging

        from weasyprint import HTML

        logging.getLogger("weasyprint").setLevel(logging.ERROR)
        logging.getLogger("fontTools").setLevel(logging.ERROR)
        pdf_path = atomic_write(d / "report.pdf", lambda p: HTML(string=html, base_url=str(d)).write_pdf(str(p)))
    return html_path, pdf_path
