"""The utility-facing report of an interconnection study: one self-contained HTML file and its PDF.

``report(DIR)`` (also ``render_report``) reads what
:meth:`gridstudy.studies.output.result.StudyResult.save` wrote in ``DIR`` (``summary.json``, the Parquet
tables, each scenario's QSTS aggregates, ``site.json``, ``study.toml`` and, when present,
``sizing.json``) and writes, each file atomically:

- ``DIR/report.html``: System Impact Study-style report, figures as inline SVG, no external
  resources;
- ``DIR/report.pdf``: the same HTML printed by weasyprint (page numbers, table of contents);
- ``DIR/report_tables/*.csv``: the appendix tables.

Nothing is re-run and no power flow is solved: the report is a view of the saved results, and
this module imports nothing of the study pipeline (the study, its engines, findings, contingency
and sag runs); it uses the grid layer's data model and the criteria's pure window functions.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import math
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, cast

import jinja2
import pandas as pd
from weasyprint import HTML

from gridstudy.grid.errors import InputError, parse_json_object, read_text
from gridstudy.grid.site import Site
from gridstudy.grid.site_io import read_site_json
from gridstudy.studies.criteria.flicker import pst
from gridstudy.studies.criteria.meter import Meter
from gridstudy.studies.criteria.ramp import delta_mw, rolling_range_mw
from gridstudy.studies.errors import ReportError
from gridstudy.studies.io import atomic_write
from gridstudy.studies.output.folder import REPORT_FILES, check_complete, locked, stop_on_signals, write_marker
from gridstudy.studies.report import figures as F
from gridstudy.studies.report.dynamics import dynamics_context
from gridstudy.studies.report.oneline import draw_oneline, study_area_site
from gridstudy.studies.report.schema import load_summary, read_table
from gridstudy.studies.report.tables import (
    capability_tables,
    conditions_table,
    cont_table,
    criteria_table,
    exec_table,
    findings_detail,
    fmt_when,
    html_table,
    load_loss_cases_table,
    load_loss_table,
    metrics_table,
    params_table,
    ratings_table,
    sag_table,
    strength_table,
)
from gridstudy.studies.report.text import (
    capability_sentences,
    executive_sentences,
    fmt_num,
    fmt_value,
    plant_label,
    scenario_label,
    strategy_label,
)

__all__ = ["report", "render_report", "build_report", "Report"]

QSTS_LIMITS = [
    "Each step is a steady-state (phasor) power flow; electromechanical and electromagnetic dynamics "
    "(inverter controls, protection, motor and converter transients, sub-synchronous oscillations) are not "
    "modelled and need a dynamic (RMS/EMT) study.",
    "In the daily time series the loads are constant-power at every step. In the sag events the campus draw "
    "depends on its voltage (its power electronics hold constant power down to 0.85 pu and draw constant "
    "current below, the rest of the campus constant power; docs/sources/load.md §9); where the campus bus "
    "falls below the power supplies' trip voltage (0.5 pu) the event reports it, and the load loss is taken "
    "by the ride-through envelope and the disturbance counter.",
    "Nothing faster than the study step is seen; a coarse step averages the campus load, never samples it.",
    "Tap changers move between steps after their time delay. Volt-var follows its curve as a first-order lag "
    "of the stated open-loop response time (90 % of a step within it; by default 1 s for a transmission-connected "
    "plant after IEEE 2800-2022, 5 s, the IEEE 1547-2018 Category B default, for a distribution-connected one; "
    "docs/sources/megapack.md §3), solved at each step's own voltage; the battery's active power follows the "
    "dispatch with the plant's modelled latency. Utility-side regulation (other tap changers, capacitor "
    "switching, generator AVRs) is as in the site model.",
    "The utility source is a Thevenin equivalent at the stated fault levels; other loads and generation in "
    "the area are not varied.",
]


#: PDF page sizes the report prints on (CSS ``@page`` size names).
PAGE_SIZES = ("Letter", "A4")

#: units of the plant-control parameters shown in the report
_UNITS = {"r_pu": " pu", "x_pu": " pu", "mp": " pu/pu", "mq": " pu/pu", "tau_p_s": " s", "tau_q_s": " s",
          "h_s": " s", "d_pu": " pu", "current_limit_pu": " pu", "local_latency_s": " s"}

def _reactive_note(summary: dict[str, Any]) -> str:
    """How the battery's reactive power is controlled in the daily run and in the sag events (which
    run volt-var: the study's curve, or the default curve of docs/sources/megapack.md §3)."""
    bat = summary.get("battery") or {}
    mode = bat.get("reactive", "none")
    if not bat or not summary.get("sag_events"):
        return ""
    daily = {"volt_var": "volt-var", "fixed_pf": "a fixed power factor", "none": "no reactive power"}.get(mode, mode)
    if mode == "volt_var":
        return "Reactive power of the battery: volt-var in the daily time series and in the sag events alike."
    return (f"Reactive power of the battery: the daily time series runs {daily} (the study's setting), while the "
            f"with-battery sag events run volt-var (the default curve of the site's POI voltage: "
            f"{(bat.get('volt_var_curve') or {}).get('basis', 'IEEE 1547-2018 Category B default')}): the sag "
            "results show the voltage support the plant gives when set to volt-var, which the daily run does not use.")


def _flicker_method(summary: dict[str, Any]) -> str:
    """The one statement of how flicker is judged in this study."""
    fl = summary.get("fluctuation") or {}
    if fl.get("assessed"):
        return (f"Flicker is measured with an IEC 61000-4-15 flickermeter on the POI voltage of the sub-second windows "
                f"({1000 * float(fl.get('step_s', 0.02)):g}-ms step); that is the verdict. The IEC 61000-3-7 analytical "
                "estimate from the study-step series, where drawn, is a cross-check only.")
    return ("Flicker is estimated from the study-step voltage changes with the IEC 61000-3-7 analytical method (no "
            "sub-second assessment in this study), not measured with an IEC 61000-4-15 flickermeter.")


@dataclass
class Report:
    """Everything the template needs."""

    dir: Path
    summary: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- data
def _read_parquet(path: Path) -> pd.DataFrame | None:
    """A saved table, ``None`` when absent; a damaged one is named (ReportError), never dropped."""

    return read_table(path)


def _site(d: Path) -> tuple[Site | None, str | None]:
    """The site as studied, from ``site.json`` (saved by the study; nothing is rebuilt or solved)."""

    path = d / "site.json"
    if not path.exists():
        return None, f"{path.name} is missing: the one-line diagram and ratings cannot be drawn"
    try:
        return read_site_json(path), None
    except InputError as exc:
        return None, f"{path.name} could not be read: {exc}"


def _plant_soc_limits(summary: dict[str, Any]) -> tuple[float, float] | None:
    bat = summary.get("battery") or {}
    lo, hi = bat.get("soc_min_percent"), bat.get("soc_max_percent")
    return (float(lo), float(hi)) if lo is not None and hi is not None else None


# ------------------------------------------------------------------------------------------- helpers
def _version() -> str:

    try:
        return version("gridstudy")
    except PackageNotFoundError:
        return "unknown"


def _source_date_epoch() -> int | None:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(epoch) if epoch.isdigit() else None


def report_datetime(summary: dict[str, Any]) -> _dt.datetime:
    """The date the report carries (title block, PDF creation and modification dates), from the inputs.

    ``SOURCE_DATE_EPOCH`` (seconds since 1970, the reproducible-builds convention) when set, else
    midnight UTC of the run's date (``summary["run_date"]``), else (a folder saved without it) of
    the study's start: never the clock of the rendering, so that a re-render prints the same
    report, byte for byte. [UTC]
    """
    epoch = _source_date_epoch()
    if epoch is not None:
        return _dt.datetime.fromtimestamp(epoch, tz=_dt.UTC)
    run = summary.get("run_date")
    if isinstance(run, str) and len(run) == 10:
        try:
            return _dt.datetime.strptime(run, "%Y-%m-%d").replace(tzinfo=_dt.UTC)
        except ValueError:
            pass
    try:
        start = pd.Timestamp(str(summary.get("start")))
    except (TypeError, ValueError):
        return _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
    if pd.isna(start):
        return _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
    return _dt.datetime(start.year, start.month, start.day, tzinfo=_dt.UTC)


def _report_date_label(summary: dict[str, Any]) -> str:
    why = "SOURCE_DATE_EPOCH" if _source_date_epoch() is not None else \
        "date of the run" if summary.get("run_date") else "the study's start (no run date saved)"
    return f"{report_datetime(summary):%Y-%m-%d} ({why})"


def _csv(d: Path, name: str, df: pd.DataFrame) -> str:
    path = d / "report_tables" / f"{name}.csv"
    atomic_write(path, lambda p: df.to_csv(p, index=False))
    return f"report_tables/{name}.csv"


# ------------------------------------------------------------------------------------------ sections
class _Figs:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, fid: str, svg: str, caption: str) -> dict[str, Any]:
        f = {"id": f"fig-{fid}", "n": len(self.items) + 1, "svg": svg, "caption": caption}
        self.items.append(f)
        return f


# ---------------------------------------------------------------------------------------- assembling
def build_report(out_dir: str | Path) -> Report:
    """Read the saved study in ``out_dir`` and build the template context (figures included)."""
    d = Path(out_dir)

    summary = load_summary(d)  # validated: a bad field is named, exit code 2
    sc = summary["scenarios"]
    rep = Report(d, summary)
    figs = _Figs()
    ctx: dict[str, Any] = {"summary": summary}
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
    # PDF creation/modification dates (weasyprint reads these meta tags): from the inputs, not the clock
    ctx["document_date"] = report_datetime(summary).strftime("%Y-%m-%dT%H:%M:%SZ")
    ctx["titleblock"] = [
        ("Study", summary["study"]), ("Site", f"{summary['site']} — {summary.get('site_description', '')}"),
        ("Horizon", f"{fmt_when(summary['start'])} to {fmt_when(summary['end'])} ({summary['steps']} steps of {summary['step_s']:g} s)"),
        ("Report date", _report_date_label(summary)), ("Package", f"gridstudy {_version()}"),
        ("Engine", f"{summary['engine']} (quasi-static time series)"), ("Criteria preset", summary.get("criteria_preset", "")),
        ("Input file SHA-256", summary.get("input_sha256", "")),
        ("Overall verdict (N-0, all scenarios" + ("; the plant's full capability, N-0 and N-1)"
                                                  if summary.get("plant_capability") else ")"),
         "PASS" if summary.get("pass") else "FAIL — see the executive summary"),
    ]

    # 1 executive summary
    ctx["exec_table"] = exec_table(summary)
    ctx["exec_sentences"] = executive_sentences(summary)

    # 2 facility
    site, site_note = _site(d)
    ctx["site_note"] = site_note
    if site is not None:
        area = study_area_site(site)
        caption = ("One-line diagram of the site as studied, drawn from the network model; the POI bus in red."
                   if area is None else
                   f"One-line diagram of the study area ({len(area.net.bus)} of the network's {len(site.net.bus)} "
                   "buses: the monitored buses and branches, the credible outages, the POI, campus and plant), "
                   "drawn from the network model; the POI bus in red.")
        ctx["oneline"] = figs.add("oneline", F.to_svg(draw_oneline(area or site)), caption)
    ctx["ratings"] = ratings_table(site)
    ctx["strength"] = strength_table(summary.get("site_summary") or {}, summary)

    # 3 method
    ctx["campus_params"] = params_table(summary.get("campus_model") or {})
    bat = dict(summary.get("battery") or {})
    for sect in ("battery",):
        for k, v in (study_raw.get(sect) or {}).items():
            if isinstance(v, dict):
                bat.update({f"{k}.{kk}": vv for kk, vv in v.items() if not isinstance(vv, (dict, list))})
    ctx["battery_params"] = params_table(bat) if bat else ""
    ctx["strategies"] = {scenario_label(n): strategy_label(n, s, summary.get("battery") or {}) for n, s in sc.items()}
    ctx["criteria_table"], crit_df = criteria_table(summary)
    ctx["qsts_limits"] = [summary.get("quasi_static_note", ""), _flicker_method(summary)] + QSTS_LIMITS
    ctx["conditions"] = conditions_table(summary)
    ctx["reactive_note"] = _reactive_note(summary)
    # the page size the study chose (its preset's, or a setting); US Letter where a summary has none
    ctx["page_size"] = summary.get("page_size") if summary.get("page_size") in PAGE_SIZES else "Letter"

    # 4 results
    ctx["metrics_table"] = metrics_table(summary)
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
    bus_read = {n: _read_parquet(d / "scenarios" / n / "bus_summary.parquet") for n in sc}
    bus = {n: b for n, b in bus_read.items() if b is not None and len(b)}
    real_bus: dict[int, str] = {}
    if bus:
        first = next(iter(bus.values()))
        real_bus = {int(cast(int, b)): str(r["name"]) for b, r in first.iterrows() if not str(r["name"]).endswith("(Thevenin source)")}
        bus = {n: b.loc[[i for i in b.index if int(i) in real_bus]] for n, b in bus.items()}
        bands = {str(k): tuple(v) for k, v in (summary.get("bus_bands_n0") or {}).items()}
        rf.append(figs.add("bus-envelopes", F.bus_envelopes(bus, bands, "Voltage range of each bus (N-0)"),
                           "Lowest to highest voltage of each bus over the horizon; dashed: the N-0 band of the bus's "
                           "voltage class (HV: planning band, MV: ANSI C84.1 Range A)."))
        rep.tables.update({f"bus_summary_{n}": b.reset_index() for n, b in bus.items()})
    hist_read = {n: _read_parquet(d / "scenarios" / n / "histogram_s.parquet") for n in sc}
    hist = {n: h for n, h in hist_read.items() if h is not None and len(h)}
    if hist and real_bus:
        total_s = summary["steps"] * summary["step_s"]
        rf.append(figs.add("voltage-duration", F.voltage_duration(hist, real_bus, n0_band, total_s, "Voltage-duration curves"),
                           "Share of the horizon each bus spends at or above a voltage (from 5-mpu histograms of every step)."))
    grid_fig_ids = []
    if series is not None and len(series):
        # the POI meter where the results carry it (power from the POI bus into the facility,
        # transformer and collector losses included), else the campus-side sum campus + battery
        gp, at_meter = {}, True
        for n in sc:
            col = f"{n}|poi_p_mw"
            if col in series and bool(series[col].notna().all()):
                gp[n] = series[col]
            elif f"{n}|grid_p_mw" in series:
                gp[n], at_meter = series[f"{n}|grid_p_mw"], False
        campus = series.get("without_battery|campus_p_mw")
        if gp:
            what = ("measured at the POI meter: power flowing from the POI bus into the facility, campus and "
                    "battery transformer losses included" if at_meter else
                    "campus plus battery, without the facility's transformer losses")
            rf.append(figs.add("grid-power", F.grid_power(gp, campus, "Grid-side active power at the POI"),
                               f"Active power drawn from the grid ({what}; import positive) and the campus demand."))

            crits = {}
            for s in sc.values():
                for c in s.get("criteria", []):
                    # a short window judged on the sub-second windows is not drawn from the aliased
                    # study-step series (its figures are in the fluctuation section)
                    sub_second = str(c.get("criterion", "")).endswith("(sub-second)")
                    if c["group"] == "grid_variation" and c["criterion"] not in crits and not sub_second:
                        crits[c["criterion"]] = c
            for k, (cname, c) in enumerate(crits.items()):
                det = c.get("details") or {}
                lim = (c.get("limits") or [{}])[0]
                w = float(det.get("window_s") or 60.0)
                method = det.get("method", "delta")
                try:
                    # the series as the criterion's meter reads it (a figure and its finding agree)
                    meter = Meter("active power", averaging=det["meter_averaging"],
                                  window_s=det.get("meter_window_s")) if det.get("meter_averaging") else None
                    read: dict[str, pd.Series] = {}
                    for n, p in gp.items():
                        r = meter.apply(p) if meter is not None else p
                        if r is not None and len(r) > 1:
                            read[n] = r
                    how = f" ({det['meter']})" if det.get("meter") else ""
                    if method == "range":
                        m = {n: rolling_range_mw(p, w) for n, p in read.items()}
                        yl, signed = f"peak-to-peak within {w:g} s [MW]", False
                    else:
                        m = {n: delta_mw(p, w) for n, p in read.items()}
                        yl, signed = f"change over {w:g} s [MW]", True
                except Exception:
                    continue
                if not m:
                    continue
                fid = f"grid-variation-{k + 1}"
                grid_fig_ids.append(fid)
                rf.append(figs.add(fid, F.grid_variation(m, float(lim.get("value", 0.0)), str(lim.get("source", ""))[:40],
                                                         yl, f"Grid-side variation: {cname.split(': ', 1)[-1]}", signed),
                                   f"{cname}: limit {fmt_value(lim.get('value'), lim.get('unit'))} "
                                   f"({lim.get('source', '')}); read on the criterion's meter{how}."))
            bp = {n: series[f"{n}|battery_p_mw"] for n in sc if n != "without_battery" and f"{n}|battery_p_mw" in series}
            soc = {n: series[f"{n}|soc_percent"] for n in bp if f"{n}|soc_percent" in series}
            if bp:
                rf.append(figs.add("battery", F.battery(bp, soc, (summary.get("battery") or {}).get("p_mw"), _plant_soc_limits(summary),
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
    branch_read = {n: _read_parquet(d / "scenarios" / n / "branch_summary.parquet") for n in sc}
    branch = {n: b for n, b in branch_read.items() if b is not None and len(b)}
    if branch:
        thermal_lim = 100.0
        rf.append(figs.add("loading", F.loading_ranges(branch, thermal_lim, "Branch loading range (N-0)"),
                           "Lowest to highest loading of every line and transformer over the horizon. The study records "
                           "only the extremes of each branch (no per-step loading), so a loading-duration curve cannot be "
                           "drawn; the range shows how close each branch comes to its normal rating."))
        rep.tables.update({f"branch_summary_{n}": b.reset_index() for n, b in branch.items()})
    fl = summary.get("fluctuation") or {}
    if series is not None and len(series) and not fl.get("aliased"):
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
                if c["group"] == "flicker" and c.get("limits") and level is None:
                    level = float(c["limits"][0]["value"])  # the Pst planning level comes first
        if pstd:
            rf.append(figs.add("flicker", F.flicker_pst(pstd, level, "Short-term flicker severity Pst at the POI "
                                                                      "(analytical cross-check)"),
                               "Cross-check only: Pst per clock-aligned 10-minute window estimated from the study-step POI "
                               "voltage changes by the IEC 61000-3-7 analytical method (valid for separated changes at "
                               "the study step); the verdict is the IEC 61000-4-15 flickermeter's on the sub-second "
                               "windows (section on fluctuations)."))
            rep.tables["pst_per_window"] = pd.DataFrame(pstd).rename_axis("window_start").reset_index()
    ctx["findings_detail"] = findings_detail(summary)
    rep.tables["findings"] = ctx["findings_detail"]

    # fluctuations at sub-second resolution
    # the sub-second windows, read once for their section and the RMS check's comparison
    windows_df = _read_parquet(d / "fluctuation_windows.parquet")
    _fluctuation_section(d, summary, ctx, figs, rep, windows_df)

    # 5 contingencies
    ctx["cont_table"], cont_df = cont_table(summary)
    ctx["cont_run"] = bool(summary.get("contingencies")) or bool(summary.get("loss_of_supply"))
    ctx["loss_of_supply"] = summary.get("loss_of_supply") or []
    if len(cont_df):
        rep.tables["contingencies"] = cont_df
    # the plant's full capability
    ctx["cap"] = summary.get("plant_capability")
    ctx["cap_worst"], ctx["cap_table"], cap_df = capability_tables(summary)
    ctx["cap_sentences"] = capability_sentences(summary)
    if len(cap_df):
        rep.tables["plant_capability"] = cap_df
    # 6 sag
    ctx["sag_table"], sag_df = sag_table(summary)
    ctx["sag_figs"] = []
    sag_series = _read_parquet(d / "sag_events.parquet")
    if sag_series is not None and len(sag_series):
        for k, (ev, g) in enumerate(sag_series.groupby("event", sort=False)):
            ctx["sag_figs"].append(figs.add(f"sag-{k + 1}", F.sag_event(g, f"Event: {ev}"),
                                            f"Sag event “{ev}”: POI voltage and utility source voltage (top), grid-side "
                                            "power (bottom), without and with the battery."))
    if len(sag_df):
        rep.tables["sag_events"] = sag_df
    ctx["load_loss_table"], ll_df = load_loss_table(summary)
    if len(ll_df):
        rep.tables["largest_load_loss"] = ll_df
    ctx["load_loss_cases"], llc_df = load_loss_cases_table(summary)
    if len(llc_df):
        rep.tables["load_loss_cases"] = llc_df
    # the dynamic (RMS) check, when the study ran it
    ran_rms = bool((summary.get("dynamics") or {}).get("enabled"))  # else the section is empty: nothing to read
    ctx["dyn"] = dynamics_context(summary, _read_parquet(d / "dynamics.parquet") if ran_rms else None,
                                  windows_df, figs.add)
    rep.tables.update(ctx["dyn"].get("tables", {}))
    # 7 sizing
    sizing = None
    if (d / "sizing.json").exists():
        sizing = parse_json_object(read_text(d / "sizing.json", ReportError, "sizing.json"), str(d / "sizing.json"),
                                   ReportError, "sizing.json", "the result `gridstudy size` wrote")
    ctx["sizing"] = sizing
    if sizing:
        ch = sizing.get("chosen") or {}
        ctx["sizing_fig"] = figs.add("sizing", F.sizing_frontier(sizing.get("frontier") or [], sizing.get("evaluations") or [], ch,
                                                                 "Battery sizing: cost against energy"),
                                     "Every evaluated battery design (passes / fails all criteria), the cost frontier and the chosen design.")
        ctx["sizing_chosen"] = params_table({k: v for k, v in ch.items() if not isinstance(v, (dict, list))})
        fr = pd.DataFrame(sizing.get("frontier") or [])
        if len(fr):
            fr = fr[[c for c in fr.columns if not isinstance(fr[c].iloc[0], (dict, list))]]
            ctx["sizing_frontier"] = html_table(fr.map(lambda v: fmt_num(v) if isinstance(v, (int, float)) else str(v)), cls="small")
            rep.tables["sizing_frontier"] = fr
    # 8 appendix
    ctx["crit_df"] = crit_df
    rep.tables["criteria_limits"] = crit_df
    ctx["study_text"] = study_text
    ctx["figures"] = figs.items
    rep.context = ctx
    return rep


def _fluctuation_section(d: Path, summary: dict[str, Any], ctx: dict[str, Any], figs: _Figs, rep: Report,
                         wdf: pd.DataFrame | None) -> None:
    """Context of the section "Fluctuations at sub-second resolution" (from saved files only)."""
    fl = summary.get("fluctuation") or {}
    sc = summary["scenarios"]
    ctx["fluct"] = fl
    ctx["fluct_figs"] = []
    if not fl.get("assessed"):
        return
    win = pd.DataFrame(fl.get("windows") or [])
    if len(win):
        ctx["fluct_windows"] = html_table(pd.DataFrame({
            "window start": [fmt_when(w) for w in win["start"]], "end": [fmt_when(w) for w in win["stop"]],
            "chosen because": win["reason"]}), cls="small")
    rows = []
    for n, s in sc.items():
        for label, p in (s.get("pst_by_window") or {}).items():
            rows.append({"scenario": scenario_label(n), "window": label, "Pst": fmt_num(p, 3)})
    if rows:
        ctx["fluct_pst"] = html_table(pd.DataFrame(rows), cls="small", num={"Pst"})
        rep.tables["pst_by_window"] = pd.DataFrame(rows)
    em_rows = []
    for n, s in sc.items():
        e = s.get("flicker_emission") or {}
        if e:
            em_rows.append({"scenario": scenario_label(n), "campus Pst": fmt_num(e.get("emission_pst"), 3),
                            "own limit E_i": fmt_num(e.get("emission_limit_pst"), 3),
                            "total with background": fmt_num(e.get("total_pst"), 3),
                            "planning level": fmt_num(e.get("planning_pst"), 3),
                            "verdict": "PASS" if e.get("pass") else "FAIL"})
    if em_rows:
        ctx["fluct_emission"] = html_table(pd.DataFrame(em_rows), cls="small",
                                           num={"campus Pst", "own limit E_i", "total with background", "planning level"})
        first = next(s.get("flicker_emission") for s in sc.values() if s.get("flicker_emission"))
        ctx["fluct_emission_note"] = (f"IEC 61000-3-7 allocation: the campus's own limit is its share "
                                      f"(S_i/S_t = {first['share']:g}, assumed) of what the system's loads may add; "
                                      f"the background ({first['background_pst']:g}, assumed) is added by cubic sum.")
    osc_rows = []
    for n, s in sc.items():
        o = s.get("oscillation") or {}
        if o:
            row = {"scenario": scenario_label(n)}
            for lw, r in (o.get("by_window_length") or {}).items():
                row[f"{lw}-s windows [MW]"] = f"{fmt_num(r.get('amplitude_mw'), 3)} at {fmt_num(r.get('peak_hz'), 3)} Hz"
            row.update({"worst [MW]": fmt_num(o.get("peak_mw"), 3), "cap [MW]": fmt_num(o.get("limit_mw"), 3),
                        "verdict": "PASS" if o.get("pass") else "FAIL"})
            osc_rows.append(row)
            ctx["fluct_osc_method"] = o.get("method", "one Hann spectrum per window")
    if osc_rows:
        odf = pd.DataFrame(osc_rows).fillna("–")
        ctx["fluct_osc"] = html_table(odf, cls="small", num={c for c in odf.columns if "MW" in c})
    sens = summary.get("latency_sensitivity") or []
    if sens:
        sdf = pd.DataFrame(sens)
        ctx["fluct_sens"] = html_table(pd.DataFrame({
            "scenario": [scenario_label(x) for x in sdf["scenario"]], "total latency [ms]": [fmt_num(1000 * x, 3) for x in sdf["latency_s"]],
            "Pst": [fmt_num(x, 3) for x in sdf["pst_max"]], "5-s peak-to-peak [MW]": [fmt_num(x, 3) for x in sdf["max_p2p_mw_5s"]]}),
            cls="small", num={"total latency [ms]", "Pst", "5-s peak-to-peak [MW]"})
        ctx["fluct_sens_window"] = str(sdf["window"].iloc[0])
        rep.tables["latency_sensitivity"] = sdf
    periods = summary.get("swing_period_sensitivity") or []
    if periods:
        pdf = pd.DataFrame(periods)
        ctx["fluct_periods"] = html_table(pd.DataFrame({
            "scenario": [scenario_label(x) for x in pdf["scenario"]],
            "iteration period [s]": [fmt_num(x, 3) for x in pdf["period_s"]],
            "Pst": [fmt_num(x, 3) for x in pdf["pst_max"]],
            "5-s peak-to-peak [MW]": [fmt_num(x, 3) for x in pdf["max_p2p_mw_5s"]],
            "oscillation peak [MW]": [fmt_num(x, 3) for x in pdf["oscillation_peak_mw"]],
            "at [Hz]": [fmt_num(x, 3) for x in pdf["oscillation_peak_hz"]]}),
            cls="small", num={"iteration period [s]", "Pst", "5-s peak-to-peak [MW]", "oscillation peak [MW]", "at [Hz]"})
        ctx["fluct_periods_windows"] = "; ".join(
            f"{scenario_label(str(n))}: {w}" for n, w in pdf.groupby("scenario", sort=False)["window"].first().items())
        rep.tables["swing_period_sensitivity"] = pdf
    modes = summary.get("control_mode_sensitivity") or []
    if modes:
        mdf = pd.DataFrame(modes)
        ctx["fluct_modes"] = html_table(pd.DataFrame({
            "plant": [plant_label(r) for r in modes],
            "Pst": [fmt_num(x, 3) for x in mdf["pst_max"]],
            "5-s peak-to-peak [MW] (peak-to-peak meter)": [fmt_num(x, 3) for x in mdf["max_p2p_mw_5s"]],
            "oscillation peak [MW]": [fmt_num(x, 3) for x in mdf["oscillation_peak_mw"]],
            "plant's share of the largest edge": [_share(x) for x in mdf["first_step_share"]]}),
            cls="small", num={"Pst", "5-s peak-to-peak [MW] (peak-to-peak meter)", "oscillation peak [MW]",
                               "plant's share of the largest edge"})
        ctx["fluct_modes_window"] = str(mdf["window"].iloc[0])
        rep.tables["control_mode_sensitivity"] = mdf
    resp = (summary.get("battery") or {}).get("response")
    if resp:
        ctx["fluct_response"] = params_table(resp)
    mode_rows = []
    for n, s in sc.items():
        ctrl = s.get("plant_control")
        if not ctrl:
            continue
        params = dict(ctrl.get("grid_forming") or {})
        shown = [f"{k} = {fmt_num(v, 3) if isinstance(v, (int, float)) and not isinstance(v, bool) else v}"
                 f"{_UNITS.get(k, '')}" for k, v in params.items()]
        if ctrl.get("mode") == "grid_following_local":
            shown.insert(0, f"local_latency_s = {fmt_num(ctrl.get('local_latency_s'), 3)} s")
        if ctrl.get("follow_filter"):
            shown.append(f"latency-aware filter: {fmt_num(ctrl.get('follow_tau_factor'), 3)} × latency")
        mode_rows.append({"scenario": scenario_label(n), "mode": plant_label({"mode": ctrl.get("mode"), **ctrl,
                                                                               "latency_s": s.get("plant_total_latency_s")}),
                          "parameters (to be confirmed by the vendor)": "; ".join(shown) or "–"})
    if mode_rows:
        ctx["plant_modes"] = html_table(pd.DataFrame(mode_rows), cls="small")
    if wdf is not None and len(wdf):
        for n in sc:
            s = sc[n]
            worst = max((s.get("pst_by_window") or {}).items(), key=lambda kv: kv[1], default=(None, None))[0]
            if worst is None:
                continue
            frames = {m: wdf[(wdf["scenario"] == m) & (wdf["window"] == worst)] for m in sc}
            frames = {m: g for m, g in frames.items() if len(g)}
            ctx["fluct_figs"].append(figs.add(
                f"fluct-{n}", F.fluctuation_window(frames, f"Worst window of {scenario_label(n)}: {worst}"),
                f"POI voltage and grid-side power at the {1000 * float(fl['step_s']):g}-ms step in the worst flicker window "
                f"of {scenario_label(n)} ({worst}), every scenario in the same window, 30 s around the window's largest "
                f"change of grid-side power."))
    sp = _read_parquet(d / "fluctuation_spectra.parquet")
    if sp is not None and len(sp):
        first = next((s.get("oscillation") for s in sc.values() if s.get("oscillation")), None) or {}
        band = tuple(first.get("band_hz") or (0.1, 20.0))
        sensitive = [("inter-area < 1 Hz", 0.1, 1.0), ("1-2.5 Hz", 1.0, 2.5), ("torsional ≥ 7 Hz", 7.0, 20.0)]
        spectra = {str(n): g for n, g in sp.groupby("scenario", sort=False)}
        ctx["fluct_figs"].append(figs.add(
            "spectrum", F.oscillation_spectrum(spectra, first.get("limit_mw"), (float(band[0]), float(band[1])), sensitive,
                                               "Spectrum of grid-side active power at the POI"),
            "Single-sided amplitude spectrum of the grid-side active power (largest over the sub-second windows) with the "
            "cap of the oscillation screen; shaded: inter-area modes below 1 Hz, 1-2.5 Hz, generator torsional modes "
            "from 7 Hz."))


def _sections(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    s = [("summary", "Executive summary"), ("facility", "Facility description"), ("method", "Assumptions and method"),
         ("results", "Results without and with the battery (N-0)"),
         ("fluctuations", "Fluctuations at sub-second resolution"), ("contingencies", "Contingencies (N-1)"),
         ("capability", "Plant full capability"), ("sag", "Sag mitigation")]
    if ctx.get("dyn"):
        s.append(("dynamics", "Dynamic (RMS) check"))
    if ctx.get("sizing"):
        s.append(("sizing", "Battery sizing"))
    s.append(("appendix", "Appendix: detailed tables and the study file"))
    return [{"id": i, "title": t, "n": k + 1} for k, (i, t) in enumerate(s)]


def render_html(rep: Report) -> str:
    """The report as one self-contained HTML string."""
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
        Output folder of :func:`gridstudy.studies.cli.run_study.run_study`.
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
        logging.getLogger("weasyprint").setLevel(logging.ERROR)
        logging.getLogger("fontTools").setLevel(logging.ERROR)
        # no base URL: the links to report_tables/ stay relative (they follow the folder, and the PDF does
        # not depend on where it was printed: a run prints it in its staging folder)
        with _reproducible_fonts(rep.summary):
            pdf_path = atomic_write(d / "report.pdf", lambda p: HTML(string=html, base_url=None).write_pdf(str(p)))
    return html_path, pdf_path


def _share(x: float) -> str:
    """A share [-] with two decimals; "0.00" for what rounds to zero, never "-0.00"."""
    if not math.isfinite(x):
        return "–"
    return "0.00" if abs(x) < 0.005 else f"{x:.2f}"


@contextlib.contextmanager
def _reproducible_fonts(summary: dict[str, Any]) -> Iterator[None]:
    """``SOURCE_DATE_EPOCH`` at the report's own date while the PDF is written, where it is not set:
    fontTools stamps each embedded font subset's ``head.modified`` with it (else with the wall
    clock), so the same inputs print the same PDF, byte for byte."""
    if _source_date_epoch() is not None:
        yield
        return
    os.environ["SOURCE_DATE_EPOCH"] = str(int(report_datetime(summary).timestamp()))
    try:
        yield
    finally:
        os.environ.pop("SOURCE_DATE_EPOCH", None)


def report(out_dir: str | Path, pdf: bool = True) -> tuple[Path, Path | None]:
    """Re-render the report of a complete output folder (``gridstudy.report``, ``gridstudy report``).

    The folder must hold the completion marker of a ``run`` (:func:`gridstudy.studies.output.folder.check_complete`;
    :class:`~gridstudy.studies.output.folder.IncompleteOutputError` otherwise, exit code 2). Its lock is held
    while the report files are rewritten (each atomically, in place; see :func:`render_report`), then
    the marker is rewritten to list them.
    """

    d = Path(out_dir)
    check_complete(d, "run", ignore=REPORT_FILES)  # before the lock: a path that is no output gets no lock file
    with stop_on_signals(), locked(d, create_parent=False):
        check_complete(d, "run", ignore=REPORT_FILES)  # as the lock found it
        paths = render_report(d, pdf=pdf)
        write_marker(d, "run")
    return paths
