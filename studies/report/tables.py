"""HTML tables of the interconnection report: the executive verdict table, site ratings, criteria,
findings, contingency and sag-event tables, built from ``summary.json`` and the saved frames.

:mod:`gridstudy.studies.report.render` assembles them with the figures into the report.
"""

from __future__ import annotations

import html as _html
import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from gridstudy.grid.site import Site
from gridstudy.grid.topology import study_area
from gridstudy.studies.report.text import (
    fmt_limits,
    fmt_num,
    fmt_param,
    fmt_value,
    n1_verdicts,
    param_unit,
    sag_verdicts,
    scenario_label,
    strategy_label,
    verdict_word,
)

__all__ = ["html_table", "fmt_when", "exec_table", "ratings_table", "strength_table", "criteria_table", "params_table",
           "metrics_table", "conditions_table", "findings_detail", "cont_table", "sag_table", "load_loss_table",
           "load_loss_cases_table", "capability_tables"]


def _esc(x: object) -> str:
    return _html.escape(str(x))


def html_table(df: pd.DataFrame, cls: str = "", num: set[str] | None = None, raw: set[str] | None = None) -> str:
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


def fmt_when(x: str | pd.Timestamp | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS``, an en dash when missing, the text itself when not a time."""
    if not x:
        return "–"
    try:
        return f"{pd.Timestamp(x):%Y-%m-%d %H:%M:%S}"
    except Exception:
        return str(x)


def _verdict_cell(criterion: str, scenario: str, ok: bool, inner: str) -> str:
    """One scenario's verdict cell of the executive table (the data attributes tests and readers
    of the HTML rely on)."""
    return (f"<td data-criterion=\"{_esc(criterion)}\" data-scenario=\"{_esc(scenario)}\" "
            f"data-verdict=\"{verdict_word(ok).lower()}\">{inner}</td>")


def _standing_cell(criterion: str, scenario: str, c: dict[str, Any]) -> str:
    """The cell of a finding that does not decide the verdict: a rule of another region (its
    verdict shown as a reference) or a criterion not applicable to the scenario."""
    standing = c.get("standing", "binding")
    if standing == "not applicable":
        inner = "<span class=\"na\">not applicable</span>"
        word = "n/a"
    else:
        inner = (f"<span class=\"na\">reference (other region)</span><br><span class=\"small\">would "
                 f"{verdict_word(c['pass']).lower()}: {_esc(fmt_value(c.get('worst_value'), c.get('worst_unit')))}</span>")
        word = "reference"
    return (f"<td data-criterion=\"{_esc(criterion)}\" data-scenario=\"{_esc(scenario)}\" "
            f"data-verdict=\"{word}\">{inner}</td>")


def _verdict_row(label: str, criterion: str, names: list[str], results: dict[str, Any],
                 judge: Callable[[Any], tuple[bool, str]], missing: str) -> str:
    """A row of the executive table: per scenario ``judge(result) -> (ok, text)``, or a ``missing``
    cell where the scenario has no result."""
    cells = []
    for n in names:
        r = results.get(n)
        if r is None:
            cells.append(f"<td class=\"na\">{missing}</td>")
            continue
        if isinstance(r, dict) and r.get("standing", "binding") != "binding":
            cells.append(_standing_cell(criterion, n, r))
            continue
        ok, text = judge(r)
        cells.append(_verdict_cell(criterion, n, ok, _verdict_html(ok, text)))
    return f"<tr><td>{label}</td>{''.join(cells)}</tr>"


def _cost_rows(sc: dict[str, Any], names: list[str]) -> list[str]:
    """What a mitigation costs the grid, beside the verdicts: the extra energy GPU smoothing draws
    and the POI's peak import (a smoothing floor raises it); figures, not verdicts."""
    rows = []
    if any(sc[n].get("gpu_smoothing_extra_mwh") for n in names):
        cells = "".join(f"<td class=\"num\">{_esc(fmt_num(sc[n].get('gpu_smoothing_extra_mwh'), 4))} MWh</td>"
                        for n in names)
        rows.append(f"<tr><td>GPU smoothing: extra energy drawn over the horizon (figure, not a verdict)</td>{cells}</tr>")
    if any(sc[n].get("poi_p_mw_max") is not None for n in names):
        cells = "".join(f"<td class=\"num\">{_esc(fmt_num(sc[n].get('poi_p_mw_max'), 4))} MW</td>" for n in names)
        rows.append(f"<tr><td>POI peak import at the study step (figure, not a verdict)</td>{cells}</tr>")
    return rows


def exec_table(summary: dict[str, Any]) -> str:
    """The executive table (HTML): per criterion and case, each scenario's verdict."""
    sc = summary["scenarios"]
    names = list(sc)
    crit_order: dict[str, str] = {}  # finding id -> display name
    for s in sc.values():
        for c in s.get("criteria", []):
            crit_order.setdefault(c["id"], c["criterion"])
    head = "<th>criterion (case)</th>" + "".join(f"<th>{_esc(scenario_label(n))}</th>" for n in names)
    rows = []
    for cid, cname in crit_order.items():
        found = {}
        for n in names:
            c = next((c for c in sc[n].get("criteria", []) if c["id"] == cid), None)
            if c is not None:
                found[n] = c
        case = "" if "N-1" in cname else " (N-0)"
        rows.append(_verdict_row(f"{_esc(cname)}{case}", cname, names, found,
                                 lambda c: (c["pass"], fmt_value(c.get("worst_value"), c.get("worst_unit"))),
                                 "not judged"))
    n1 = n1_verdicts(summary)
    if summary.get("contingencies") is not None and (n1 or summary.get("loss_of_supply")):
        def n1_text(d: dict[str, Any]) -> tuple[bool, str]:
            extra = f", {len(d['nonconverged'])} not converged" if d["nonconverged"] else ""
            return d["passed"] == d["n"], f"{d['passed']}/{d['n']} outages pass" + extra

        rows.append(_verdict_row("all criteria after each credible single outage (N-1)", "N-1", names, n1,
                                 n1_text, "not run"))
    sg = sag_verdicts(summary)
    if sg:
        rows.append(_verdict_row("load ride-through in the sag events", "sag ride-through", names, sg,
                                 lambda d: (not d["trips"], f"{len(d['trips'])} of {d['n']} events trip"),
                                 "not run"))
    rows += _cost_rows(sc, names)
    overall = "".join(_verdict_cell("all N-0", n, sc[n]["pass"], f"<b>{_verdict_html(sc[n]['pass'])}</b>")
                      for n in names)
    rows.append(f"<tr class=\"overall\"><td><b>all N-0 criteria</b></td>{overall}</tr>")
    return f"<table class=\"exec\"><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


#: The most elements the ratings table lists; a larger network's table holds its study area. [rows]
RATINGS_MAX_ROWS = 80


def ratings_table(site: Site | None) -> str:
    """The ratings of the site's source, lines, transformers, loads, battery and shunts (HTML); empty without a site.

    A network of more than :data:`RATINGS_MAX_ROWS` elements that names its monitored buses and
    branches lists its study area only (:func:`gridstudy.grid.topology.study_area`), and says how many of its elements are
    listed; the whole network is in ``site.json`` beside the report."""
    if site is None:
        return ""
    rows = _ratings_rows(site)
    area = study_area(site) if len(rows) > RATINGS_MAX_ROWS else None
    if area is None:
        return html_table(pd.DataFrame([r[2:] for r in rows], columns=["element", "name", "voltage", "rating and parameters"]))
    buses, branches = area
    kept = [r for r in rows if (r[0] == "bus" and bool(set(r[1]) & buses)) or (r[0] != "bus" and r[1] in branches)]
    note = (f'<p class="note">{len(kept)} of the network\'s {len(rows)} elements: its study area (the monitored '
            "buses and branches, the credible outages, the POI, campus and plant). Every element is in site.json "
            "beside this report.</p>")
    return note + html_table(pd.DataFrame([r[2:] for r in kept],
                                          columns=["element", "name", "voltage", "rating and parameters"]))


def _ratings_rows(site: Site) -> list[list[Any]]:
    """One row per in-service element: ``[kind, key, element, name, voltage, rating]``, where
    ``kind`` is ``"bus"`` (``key``: the element's buses) or ``"branch"`` (``key``: ``(table, index)``)."""
    net = site.net
    rows: list[list[Any]] = []
    for _, r in net.ext_grid[net.ext_grid.in_service].iterrows():
        vn = net.bus.at[r.bus, "vn_kv"]
        rows.append(["bus", (int(r.bus),), "utility source", str(r["name"] or "ext_grid"), f"{vn:g} kV",
                     f"fault level {r.get('s_sc_min_mva', float('nan')):g}–{r.get('s_sc_max_mva', float('nan')):g} MVA, "
                     f"R/X {r.get('rx_max', float('nan')):g}"])
    for i, r in net.line[net.line.in_service].iterrows():
        vn = net.bus.at[r.from_bus, "vn_kv"]
        mva = math.sqrt(3) * vn * r.max_i_ka * r.get("parallel", 1)
        rows.append(["branch", ("line", int(i)), "line", str(r["name"]), f"{vn:g} kV", f"{r.length_km:g} km, {r.max_i_ka * 1000:.0f} A ≈ {mva:.0f} MVA, "
                     f"r {r.r_ohm_per_km:g} / x {r.x_ohm_per_km:g} Ω/km"])
    for i, r in net.trafo[net.trafo.in_service].iterrows():
        tap = ""
        if pd.notna(r.get("tap_step_percent")) and pd.notna(r.get("tap_max")):
            tap = f", taps {r.tap_min:g}…{r.tap_max:g} × {r.tap_step_percent:g} %" + (" (OLTC)" if i in site.regulating_trafos else "")
        rows.append(["branch", ("trafo", int(i)), "transformer", str(r["name"]), f"{r.vn_hv_kv:g}/{r.vn_lv_kv:g} kV",
                     f"{r.sn_mva:g} MVA, vk {r.vk_percent:g} %, vkr {r.vkr_percent:g} %{tap}"])
    for i, r in net.load[net.load.in_service].iterrows():
        what = "campus load" if i in site.campus_loads else "other load"
        rows.append(["bus", (int(r.bus),), what, str(r["name"]), f"{net.bus.at[r.bus, 'vn_kv']:g} kV", f"{r.p_mw:g} MW, {r.q_mvar:g} Mvar (base case)"])
    for _, r in net.storage[net.storage.in_service].iterrows():
        rows.append(["bus", (int(r.bus),), "battery plant", str(r["name"]), f"{net.bus.at[r.bus, 'vn_kv']:g} kV",
                     f"{r.max_p_mw:.1f} MW, {r.max_e_mwh:.0f} MWh, {r.sn_mva:.1f} MVA"])
    for _, r in net.shunt[net.shunt.in_service].iterrows():
        rows.append(["bus", (int(r.bus),), "shunt", str(r["name"]), f"{net.bus.at[r.bus, 'vn_kv']:g} kV", f"{r.q_mvar:g} Mvar"])
    return rows


def strength_table(ss: dict[str, Any], summary: dict[str, Any]) -> str:
    """The grid strength at the POI (HTML): fault levels, X/R and breaker duties from ``ss``."""
    rows = [
        ("POI bus", ss.get("poi_bus"), ""),
        ("POI nominal voltage", fmt_num(ss.get("poi_vn_kv")), "kV"),
        ("three-phase fault level at the POI, maximum", fmt_num(ss.get("skss_max_mva")), "MVA"),
        ("three-phase fault level at the POI, minimum", fmt_num(ss.get("skss_min_mva")), "MVA"),
        ("X/R at the POI", fmt_num(ss.get("xr"), 3), "-"),
        ("breaker duty at the POI: initial symmetrical current I\"k, maximum, without the battery",
         fmt_num(ss.get("ikss_max_ka"), 4), "kA"),
        (f"breaker duty at the POI: I\"k, maximum, with the battery's inverters "
         f"(current sources of k = {fmt_num(ss.get('battery_sc_k'), 2)} × {fmt_num(ss.get('battery_s_mva'), 4)} MVA)",
         fmt_num(ss.get("ikss_max_with_battery_ka"), 4), "kA"),
        ("breaker duty at the POI: peak current ip, without / with the battery",
         f"{fmt_num(ss.get('ip_max_ka'), 4)} / {fmt_num(ss.get('ip_max_with_battery_ka'), 4)}", "kA"),
        ("campus peak demand", fmt_num(ss.get("campus_p_mw")), "MW"),
        ("short-circuit ratio SCR (minimum fault level / campus MW)", fmt_num(ss.get("scr"), 3), "-"),
        ("grid strength (SCR < 3 is weak)", ss.get("strength"), ""),
        ("base-case POI voltage", fmt_num(ss.get("poi_vm_pu")), "pu"),
        ("base-case highest branch loading", f"{fmt_num(ss.get('max_loading_percent'), 3)} % ({ss.get('max_loading_element', '')})", ""),
        ("base-case network losses (without the Thevenin source impedance)", fmt_num(ss.get("losses_mw"), 3), "MW"),
    ]
    if ss.get("tap_pos"):
        rows.append(("base-case tap positions", ", ".join(f"{k}: {v}" for k, v in ss["tap_pos"].items()), ""))
    df = pd.DataFrame([(a, "–" if b is None else b, c) for a, b, c in rows], columns=["quantity", "value", "unit"])
    return html_table(df, cls="kv", num={"value"})


def limit_status(lim: dict[str, Any], region: str | None) -> str:
    """A limit's status as the report prints it: ``published (<date>)``, ``proposed`` or
    ``assumed``, with ``reference (other region)`` where it is a rule of another region than the
    study's."""
    status = lim.get("status") or ("assumed" if lim.get("check") else "published")
    if status == "published" and lim.get("date"):
        status = f"published ({lim['date']})"
    reg = lim.get("region")
    if reg and region and region.strip().lower() not in [r.strip().lower() for r in str(reg).split(",")]:
        status += f"; reference (other region: {reg})"
    elif reg:
        status += f" ({reg})"
    return status


def criteria_table(summary: dict[str, Any]) -> tuple[str, pd.DataFrame]:
    """Every limit judged, with its meter, status and source; every limit that is not
    ``published`` marked "to confirm with the utility"."""
    seen, rows = set(), []
    region = summary.get("criteria_region")
    for s in summary["scenarios"].values():
        for c in s.get("criteria", []):
            for lim in c.get("limits", []):
                key = (c["criterion"], lim["name"])
                if key in seen:
                    continue
                seen.add(key)
                status = lim.get("status") or ("assumed" if lim.get("check") else "published")
                rows.append({"criterion": c["criterion"], "limit": lim["name"],
                             "value": fmt_value(lim["value"], lim.get("unit")), "meter": lim.get("meter") or "–",
                             "status": limit_status(lim, region), "source": lim.get("source", ""),
                             "to confirm with the utility": "to confirm with the utility"
                             if status != "published" else ""})
    df = pd.DataFrame(rows)
    return html_table(df, cls="small"), df


def params_table(d: dict[str, Any]) -> str:
    """A parameter table (HTML) of ``d``: name, value (:func:`fmt_param`: no Python literal) and unit
    (:func:`param_unit`)."""
    rows = [(k, fmt_param(v), param_unit(k) if not isinstance(v, dict) else "") for k, v in d.items()]
    return html_table(pd.DataFrame(rows, columns=["parameter", "value", "unit"]), cls="small", num={"value"})


def conditions_table(summary: dict[str, Any]) -> str:
    """The conditions each passing scenario's verdict relies on (HTML): GPU/rack smoothing, the
    plant's control mode and latency, the POI limits it was judged against and how each is metered
    (the monitoring the utility would need); empty when no scenario passes."""
    rows = []
    battery = summary.get("battery") or {}
    for n, s in summary["scenarios"].items():
        if not s.get("pass"):
            continue
        smoothing = s.get("gpu_smoothing_extra_mwh") or 0.0
        rows.append({"scenario": scenario_label(n), "condition": "GPU/rack power smoothing",
                     "setting": (f"enabled on every rack (extra energy {fmt_num(float(smoothing), 4)} MWh over the "
                                 "horizon)") if smoothing else "not used"})
        mode = s.get("plant_mode")
        ctrl = s.get("plant_control") or {}
        if mode and mode != "idle":
            lat = s.get("plant_total_latency_s")
            rows.append({"scenario": scenario_label(n), "condition": "battery plant control",
                         "setting": f"{mode.replace('_', ' ')}, total latency "
                                    f"{fmt_num(1000 * float(lat), 3) if lat is not None else '–'} ms; "
                                    + fmt_param({k: v for k, v in ctrl.items() if not isinstance(v, dict)})})
        rows.append({"scenario": scenario_label(n), "condition": "battery plant dispatch",
                     "setting": strategy_label(n, s, battery)})
        seen = set()
        for c in s.get("criteria", []):
            if c.get("standing", "binding") != "binding":
                continue
            for lim in c.get("limits", []):
                key = (c.get("group"), lim.get("name"))
                if key in seen or c.get("group") not in ("grid_variation", "poi_power_factor", "poi_voltage",
                                                         "flicker", "rapid_voltage_change", "oscillation"):
                    continue
                seen.add(key)
                rows.append({"scenario": scenario_label(n), "condition": f"POI limit: {lim.get('name')}",
                             "setting": f"{fmt_value(lim.get('value'), lim.get('unit'))}; monitored as "
                                        f"{lim.get('meter') or 'each study-step sample'}"})
    if not rows:
        return ""
    return html_table(pd.DataFrame(rows), cls="small")


def metrics_table(summary: dict[str, Any]) -> str:
    """Key figures per scenario (HTML): POI voltages, flicker, ramps, power factor, taps, convergence, battery limits."""
    keys = [("poi_vm_pu_min", "lowest POI voltage", "pu"), ("poi_vm_pu_max", "highest POI voltage", "pu"),
            ("seconds_outside_n0_band", "time outside the N-0 band at the POI", "s"),
            ("rvc_events", "rapid voltage changes (≥ 1 %)", "events"), ("pst_max", "highest Pst (10 min)", "-"),
            ("plt_max", "highest Plt (2 h: cubic mean of 12 consecutive Pst)", "-"),
            ("max_ramp_mw_per_min", "largest change over 1 min at the POI meter", "MW"),
            ("max_p2p_mw_5s", "largest 5-s peak-to-peak at the POI meter", "MW"),
            ("poi_pf_min", "lowest power factor at the POI meter", "-"),
            ("tap_operations", "tap operations (all regulating transformers)", "operations"),
            ("nonconverged_steps", "non-converged steps", "steps"), ("ride_through_trips", "ride-through trips", "trips"),
            ("load_loss_mw_max", "largest load lost to a transfer to backup", "MW"),
            ("battery_saturated_steps", "steps with the battery at a power or SOC limit", "steps")]
    sc = summary["scenarios"]
    rows = []
    for k, label, unit in keys:
        rows.append([label, unit] + [fmt_num(sc[n].get(k)) for n in sc])
    return html_table(pd.DataFrame(rows, columns=["metric", "unit"] + [scenario_label(n) for n in sc]),
                  num={scenario_label(n) for n in sc})


def findings_detail(summary: dict[str, Any]) -> pd.DataFrame:
    """Every finding of every scenario, one row each, formatted for the report."""
    rows = []
    for n, s in summary["scenarios"].items():
        for c in s.get("criteria", []):
            standing = c.get("standing", "binding")
            verdict = verdict_word(c["pass"]) if standing == "binding" else (
                "n/a" if standing == "not applicable" else f"reference ({verdict_word(c['pass'])})")
            rows.append({"scenario": scenario_label(n), "criterion": c["criterion"], "verdict": verdict,
                         "worst": fmt_value(c.get("worst_value"), c.get("worst_unit")), "when": fmt_when(c.get("when")),
                         "seconds outside": fmt_num(c.get("seconds_outside")), "events": fmt_num(c.get("events")),
                         "limits": fmt_limits(c.get("limits")), "note": c.get("note", "")})
    return pd.DataFrame(rows)


def cont_table(summary: dict[str, Any]) -> tuple[str, pd.DataFrame]:
    """The N-1 results, one row per outage and scenario (and window, where the stage ran every
    window of the horizon), as HTML and as a frame."""
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
        rows.append({"outage": r["outage"], **({"window": r["window_start"]} if r.get("window_start") else {}),
                     "scenario": scenario_label(r["scenario"]), "result": res,
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


def sag_table(summary: dict[str, Any]) -> tuple[str, pd.DataFrame]:
    """The sag events' results, one row per event and scenario, as HTML and as a frame."""
    rows = []
    for ev in summary.get("sag_events") or []:
        for scen, v in ev.items():
            if not isinstance(v, dict):
                continue
            rows.append({"event": ev["event"], "kind": ev.get("kind", ""), "scenario": scenario_label(scen),
                         "pre-event V [pu]": fmt_num(v.get("pre_event_poi_vm_pu")),
                         "lowest V [pu]": fmt_num(v.get("min_poi_vm_pu")), "dip depth [pu]": fmt_num(v.get("dip_depth_pu"), 3),
                         "highest V [pu]": fmt_num(v.get("max_poi_vm_pu")), "swell [pu]": fmt_num(v.get("swell_pu"), 3),
                         "time below 0.9 pu [s]": fmt_num(v.get("seconds_below_0p9"), 3),
                         "ride-through": (f"TRIP ({v['trip_cause']})" if v.get("trip_cause") else "TRIP") if v.get("trip")
                         else "rides through",
                         "trip at [s]": fmt_num(v.get("trip_time_s"), 3),
                         "largest grid-side change [MW]": fmt_num(v.get("grid_step_mw"), 3),
                         # the campus's own events as rapid voltage changes against the cap; a utility-side
                         # sag is a dip (judged by the ride-through), not an RVC
                         "rapid voltage change [%]": ("–" if v.get("rvc_pct") is None else
                                                      f"{fmt_num(float(v['rvc_pct']), 3)} "
                                                      f"({verdict_word(v.get('rvc_pass'))}, cap "
                                                      f"{fmt_num(v.get('rvc_limit_pct'), 3)} %)"),
                         "non-conv. steps": fmt_num(v.get("nonconverged_steps"))})
    df = pd.DataFrame(rows)
    return (html_table(df, cls="small", num={c for c in df.columns if "[" in c or c == "non-conv. steps"}) if len(df) else ""), df


def load_loss_table(summary: dict[str, Any]) -> tuple[str, pd.DataFrame]:
    """The largest credible load loss (``summary["largest_load_loss"]``) as a quantity/value table."""
    ll = summary.get("largest_load_loss")
    if not ll:
        return "", pd.DataFrame()
    sfr = ll.get("sfr_model") or {}
    f_lim = f"{fmt_num(ll.get('f_min_hz'))}–{fmt_num(ll.get('f_max_hz'))} Hz"
    rows = [("largest credible load loss", fmt_num(ll.get("mw")), "MW", ll.get("cause", "")),
            ("POI voltage before / after", f"{fmt_num(ll.get('poi_vm_before_pu'))} / "
             f"{fmt_num(ll.get('poi_vm_after_pu'))}", "pu",
             "N-1 band " + "–".join(fmt_num(v) for v in ll.get("n1_band_pu") or [])),
            ("POI voltage rise", fmt_num(ll.get("poi_vm_rise_pu"), 3), "pu", "campus at peak, then off; taps held"),
            ("frequency zenith (load lost)", fmt_num(ll.get("frequency_zenith_hz"), 6), "Hz",
             f"limits {f_lim}; at {fmt_num(ll.get('frequency_zenith_time_s'), 3)} s"),
            ("largest pickup", fmt_num(ll.get("largest_pickup_mw")), "MW", ll.get("largest_pickup_cause") or "none"),
            ("frequency nadir (load picked up)", fmt_num(ll.get("frequency_nadir_hz"), 6), "Hz",
             ll.get("frequency_nadir_cause") or "no case lowers frequency"),
            ("return from backup: POI step", fmt_num((ll.get("return_from_backup") or {}).get("poi_step_pct"), 3), "%",
             f"rapid voltage change, {(ll.get('return_from_backup') or {}).get('rvc_limit', 'no RVC level')}: "
             f"{verdict_word((ll.get('return_from_backup') or {}).get('rvc_pass'))}"),
            ("campus trip at peak: POI step", fmt_num((ll.get("campus_trip") or {}).get("poi_step_pct"), 3), "%",
             f"rapid voltage change, {(ll.get('campus_trip') or {}).get('rvc_limit', 'no RVC level')}: "
             f"{verdict_word((ll.get('campus_trip') or {}).get('rvc_pass'))}"),
            *[(f"campus trip / return, {scenario_label(scen)}",
               " / ".join(fmt_num(float(r["rvc_pct"]), 3) for kind in ("campus_trip", "campus_return")
                          for r in rows if r.get("kind") == kind and r.get("rvc_pct") is not None), "%",
               "20-ms event runs, " + (f"{str(rows[0]['plant_mode']).replace('_', '-')} plant"
                                       if rows[0].get("plant_mode", "idle") != "idle" else "no plant")
               + ": rapid voltage change (dv_max); " + ("the scenario's verdict uses these" if rows[0].get("plant_mode", "idle") != "idle"
                                       else "no plant: the verdict uses the static step above, the same"))
              for scen, rows in (summary.get("campus_event_rvc") or {}).items() if rows],
            ("interconnection model", sfr.get("interconnection", ""), "",
             f"H {fmt_num(sfr.get('h_s'), 3)} s on {fmt_num(sfr.get('base_mw'))} MW, R {fmt_num(sfr.get('r_pu'))}, "
             f"T_R {fmt_num(sfr.get('t_r_s'))} s, F_H {fmt_num(sfr.get('f_h'))}, Km {fmt_num(sfr.get('km'))}, "
             f"D {fmt_num(sfr.get('d_pu'))}"),
            ("verdict", verdict_word(ll.get("pass")), "", "frequency within limits, the POI voltage after every loss "
                                                          "within the N-1 band, the campus's trip and its return from "
                                                          "backup within the RVC level; part of every scenario's "
                                                          "verdict (without a plant: the campus's cases alone)")]
    df = pd.DataFrame(rows, columns=["quantity", "value", "unit", "basis"])
    return html_table(df, cls="small kv", num={"value"}), df


def load_loss_cases_table(summary: dict[str, Any]) -> tuple[str, pd.DataFrame]:
    """Every credible case of ``summary["largest_load_loss"]``: the MW lost or picked up, the
    campus and plant before and after, the POI voltage step and its checks; the largest marked."""
    ll = summary.get("largest_load_loss") or {}
    cases = ll.get("cases") or []
    if not cases:
        return "", pd.DataFrame()
    rows = []
    for c in cases:
        largest = (c.get("cause") == ll.get("cause") and c.get("kind") == "load loss") or \
                  (c.get("cause") == ll.get("largest_pickup_cause") and c.get("kind") == "pickup")
        band = ("N-1 band " + verdict_word(c.get("voltage_pass")) if c.get("converged", True) else "NOT CONVERGED") \
            if c.get("voltage_pass") is not None or not c.get("converged", True) else ""
        rvc = ("RVC " + verdict_word(c.get("rvc_pass"))) if "rvc_pass" in c else ""
        check = "; ".join(x for x in (band, rvc) if x)
        rows.append({"case": c.get("cause", "") + (f" ({scenario_label(c['scenario'])}, {c['time']})"
                                                    if c.get("scenario") else ""),
                     "kind": c.get("kind", ""), "MW": fmt_num(c.get("mw"), 4),
                     "campus / plant before [MW]": f"{fmt_num(c.get('campus_before_mw'), 4)} / "
                                                   f"{fmt_num(c.get('plant_before_mw'), 4)}",
                     "campus / plant after [MW]": f"{fmt_num(c.get('campus_after_mw'), 4)} / "
                                                  f"{fmt_num(c.get('plant_after_mw'), 4)}",
                     "POI step [%]": fmt_num(c.get("poi_step_pct"), 3),
                     "check": check, "largest": "largest" if largest else ""})
    df = pd.DataFrame(rows)
    return html_table(df, cls="small", num={"MW", "POI step [%]"}), df


#: Display names of the plant's corners.
CORNER_LABELS = {"peak_charging": "campus at peak, plant charging at its rating",
                 "idle_exporting": "campus idle, plant exporting at its rating"}


def capability_tables(summary: dict[str, Any]) -> tuple[str, str, pd.DataFrame]:
    """The plant's full capability (``summary["plant_capability"]``): the corners' worst voltages and
    loadings (one row per corner and case), every state (one row per corner and outage), and the
    latter as a frame for the appendix CSV."""
    cap = summary.get("plant_capability") or {}
    rows = cap.get("corners") or []
    if not rows:
        return "", "", pd.DataFrame()
    worst = []
    for corner, cases in (cap.get("worst") or {}).items():
        for case, w in cases.items():
            worst.append({"corner": CORNER_LABELS.get(corner, corner), "case": case,
                          "states failing": f"{w.get('failing', 0)} of {w.get('states', 0)}",
                          "lowest V [pu]": fmt_num(w.get("min_vm_pu")),
                          "at bus (outage)": f"{w.get('min_vm_bus', '')} ({w.get('min_vm_outage', '')})",
                          "highest V [pu]": fmt_num(w.get("max_vm_pu")),
                          "max loading [%]": fmt_num(w.get("max_loading_percent"), 3),
                          "on branch (outage)": f"{w.get('max_loading_element', '')} ({w.get('max_loading_outage', '')})",
                          "not converged": ", ".join(w.get("not_converged") or []) or "none"})
    wdf = pd.DataFrame(worst)
    detail = []
    for r in rows:
        if r.get("error"):
            res = "NOT CONVERGED"
        else:
            res = verdict_word(r.get("pass"))
        detail.append({"corner": CORNER_LABELS.get(r["corner"], r["corner"]), "outage": r.get("outage", ""),
                       "result": res, "POI V [pu]": fmt_num(r.get("poi_vm_pu")),
                       "lowest V [pu]": fmt_num(r.get("min_vm_pu")), "at bus": r.get("min_vm_bus", ""),
                       "max loading [%]": fmt_num(r.get("max_loading_percent"), 3),
                       "on branch": r.get("max_loading_element", ""), "POI P [MW]": fmt_num(r.get("poi_p_mw")),
                       "violations": ", ".join(r.get("violations") or [])})
    ddf = pd.DataFrame(detail)
    num = {c for c in ddf.columns if "[" in c} | {c for c in wdf.columns if "[" in c}
    return html_table(wdf, cls="small", num=num), html_table(ddf, cls="small cont", num=num), ddf
