"""Findings in plain words: the executive-summary sentences, generated from the numbers only.

Every sentence is built from ``summary.json`` (verdicts, worst values, limits, counts), so it cannot
disagree with the tables next to it; where a fact is missing the sentence is left out rather than
guessed.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["param_unit", "fmt_param", "strategy_label", "scenario_label", "plant_label", "reliance_sentence", "verdict_word", "fmt_value", "fmt_limits",
           "executive_sentences", "n1_verdicts", "sag_verdicts", "capability_sentences"]


def scenario_label(name: str) -> str:
    """Readable name of a scenario (``with_battery`` -> ``with battery``)."""
    return name.replace("_", " ")


#: Units of parameters by the ending of their name (the package's naming: ``_s`` seconds, ``_mw``
#: megawatts, ...), longest ending first.
_UNIT_SUFFIXES = (("_pu_per_s", "pu/s"), ("_mw_per_min", "MW/min"), ("_mw_per_s", "MW/s"), ("_per_day", "1/day"),
                  ("_percent", "%"), ("_mvar", "Mvar"), ("_mwh", "MWh"), ("_mva", "MVA"), ("_kv", "kV"),
                  ("_mw", "MW"), ("_hz", "Hz"), ("_pu", "pu"), ("_s", "s"), ("_w", "W"), ("_pct", "%"))

#: Units of parameters whose name carries none.
_UNIT_NAMES = {"gpus": "GPUs", "units": "units", "seed": "-", "pue": "-", "pf": "-", "duty": "-", "jitter": "-",
               "swing_depth": "-", "idle_fraction": "-", "compute_fraction": "-", "node_overhead": "-",
               "gpu_model": "-", "model": "-", "strategy": "-", "reactive": "-", "smoothing": "-", "mode": "-",
               "pf_reference": "-"}


def param_unit(name: str) -> str:
    """The unit of a parameter from its name (``restart_s`` -> ``s``), ``-`` for a dimensionless one."""
    key = name.rsplit(".", 1)[-1]
    if key in _UNIT_NAMES:
        return _UNIT_NAMES[key]
    for suffix, unit in _UNIT_SUFFIXES:
        if key.endswith(suffix):
            return unit
    return "-"


def fmt_param(v: object) -> str:
    """A parameter's value as a reader reads it: numbers by :func:`fmt_num`, ``None`` as "none",
    a mapping as ``key = value (unit)`` pairs, a list item by item; never a Python literal."""
    if v is None:
        return "none"
    if isinstance(v, dict):
        return "; ".join(f"{k} = {fmt_param(x)}" + (f" {param_unit(str(k))}" if param_unit(str(k)) != "-" else "")
                         for k, x in v.items()) or "none"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt_param(x) for x in v) or "none"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return fmt_num(v)
    return str(v)


def strategy_label(scenario: str, scen: dict[str, Any], battery: dict[str, Any]) -> str:
    """What the battery of a scenario does, in words that match what runs: a scenario whose
    strategy moves no active power still runs the study's reactive control (e.g. a fixed power
    factor), so it is not "idle"."""
    strat = str(scen.get("strategy") or "")
    if scenario == "without_battery" or not battery:
        return "no battery"
    reactive = battery.get("reactive", "none")
    rq = {"fixed_pf": "reactive power at a fixed power factor", "volt_var": "reactive power on volt-var",
          "none": "no reactive power"}.get(str(reactive), f"reactive power: {reactive}")
    parts = strat.split(" + ", 1)
    active = parts[0]
    extra = f" + {parts[1]}" if len(parts) > 1 else ""
    if active in ("none", "battery idle"):
        return f"battery: no active power, {rq}{extra}"
    return f"battery: {active}, {rq}{extra}"


def verdict_word(passed: bool | None) -> str:
    """``PASS`` / ``FAIL`` / ``n/a``."""
    return "n/a" if passed is None else ("PASS" if passed else "FAIL")


def fmt_num(v: object, digits: int = 4) -> str:
    """A number with ``digits`` significant digits, or an en dash when missing."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:d}"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) < 10.0 ** -(digits - 1):  # below what the digits show: no exponent notation
            return f"< {10.0 ** -(digits - 1):g}" if v > 0 else f"> -{10.0 ** -(digits - 1):g}"
        if abs(v) >= 10 ** digits:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}" if abs(v) < 1 else f"{v:.{max(digits - 1 - int(math.floor(math.log10(abs(v)))), 0)}f}"
    return str(v)


def fmt_value(value: object, unit: str | None) -> str:
    """A worst value with its unit (``1.013 pu``)."""
    if isinstance(value, (list, tuple)):
        return "–".join(fmt_num(v) for v in value) + (f" {unit}" if unit and unit != "-" else "")
    s = fmt_num(value)
    if s == "–" or not unit or unit == "-":
        return s
    return f"{s} {unit}"


def fmt_limits(limits: list[dict[str, Any]]) -> str:
    """The limits of a finding as one line (``N-0: 0.95–1.05 pu``)."""
    return "; ".join(f"{lim['name']}: {fmt_value(lim['value'], lim.get('unit'))}" for lim in limits or [])


def _list(items: list[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def n1_verdicts(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per scenario: ``{"n": cases, "passed": count, "failed": [outages], "nonconverged": [outages]}``."""
    out: dict[str, dict[str, Any]] = {}
    for r in summary.get("contingencies") or []:
        d = out.setdefault(r["scenario"], {"n": 0, "passed": 0, "failed": [], "nonconverged": []})
        d["n"] += 1
        if r.get("pass"):
            d["passed"] += 1
        else:
            d["failed"].append(r["outage"])
        if (r.get("nonconverged_steps") or 0) > 0:
            d["nonconverged"].append(r["outage"])
    return out


def sag_verdicts(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per scenario: ``{"n": events, "trips": [event names], "nonconverged": [event names]}``."""
    out: dict[str, dict[str, Any]] = {}
    for ev in summary.get("sag_events") or []:
        for scen, v in ev.items():
            if not isinstance(v, dict):
                continue
            d = out.setdefault(scen, {"n": 0, "trips": [], "nonconverged": []})
            d["n"] += 1
            if v.get("trip"):
                d["trips"].append(ev["event"])
            if (v.get("nonconverged_steps") or 0) > 0:
                d["nonconverged"].append(ev["event"])
    return out


def _scenario_sentence(name: str, scen: dict[str, Any]) -> str:
    # only binding findings count: references to other regions' rules and criteria not applicable
    # to the scenario are shown in the tables, not counted here
    crits = [c for c in scen.get("criteria", []) if c.get("standing", "binding") == "binding"]
    failed = [c["criterion"] for c in crits if not c["pass"]]
    n = len(crits)
    who = f"The campus {scenario_label(name)}"
    if name not in ("without_battery", "with_battery"):
        who = f"The alternative “{scenario_label(name)}”"
    # the scenario's own criteria: N-0, and the sub-second flicker and RVC of the weakest N-1 state
    what = "criteria" if any("N-1" in c["criterion"] for c in crits) else "N-0 criteria"
    if not failed:
        return f"{who} meets all {n} {what} judged."
    return f"{who} fails {len(failed)} of {n} {what}: {_list(failed)}."


def _ramp_sentence(summary: dict[str, Any]) -> str:
    sc = summary["scenarios"]
    if "without_battery" not in sc or "with_battery" not in sc:
        return ""
    parts = []
    for key, what in (("max_p2p_mw_5s", "largest 5-s peak-to-peak change of grid-side power"),
                      ("max_ramp_mw_per_min", "largest change over one minute")):
        a, b = sc["without_battery"].get(key), sc["with_battery"].get(key)
        if a is None or b is None:
            continue
        parts.append(f"the {what} goes from {fmt_num(a, 3)} MW without the battery to {fmt_num(b, 3)} MW with it")
    lims = []
    for c in sc["with_battery"].get("criteria", []):
        if c["group"] == "grid_variation":
            lims += [f"{fmt_value(lim['value'], lim.get('unit'))} ({lim['name']})" for lim in c.get("limits", [])]
    if not parts:
        return ""
    s = "At the POI, " + "; ".join(parts)
    if lims:
        s += f", against limits of {_list(lims)}"
    return s + "."


def _voltage_sentence(summary: dict[str, Any]) -> str:
    sc = summary["scenarios"]
    bits = []
    for name in ("without_battery", "with_battery"):
        s = sc.get(name)
        if not s or s.get("poi_vm_pu_min") is None:
            continue
        bits.append(f"{fmt_num(s['poi_vm_pu_min'])}–{fmt_num(s['poi_vm_pu_max'])} pu {scenario_label(name)}")
        if s.get("pst_max") is not None:
            bits[-1] += f" (Pst max {fmt_num(s['pst_max'], 2)})"
    if not bits:
        return ""
    band = next(iter(sc.values())).get("n0_band_pu")
    out = "The POI voltage stays within " + _list(bits)
    if band:
        out += f"; the N-0 band is {fmt_num(band[0])}–{fmt_num(band[1])} pu"
    return out + "."


def _n1_sentence(summary: dict[str, Any]) -> str:
    v = n1_verdicts(summary)
    loss = summary.get("loss_of_supply") or []
    if not v and not loss:
        return ""
    bits = []
    for scen, d in v.items():
        who = scenario_label(scen) if scen in ("without_battery", "with_battery") else f"in “{scenario_label(scen)}”"
        b = f"{d['passed']} of {d['n']} outage cases pass {who}"
        if d["nonconverged"]:
            b += f" ({len(d['nonconverged'])} did not converge: voltage collapse)"
        bits.append(b)
    s = "After a single credible outage (N-1), " + _list(bits) if bits else "No credible single outage was run"
    if loss:
        s += f"; {len(loss)} outage(s) island the POI (loss of supply, not run)"
    return s + "."


def _sag_sentence(summary: dict[str, Any]) -> str:
    v = sag_verdicts(summary)
    if not v:
        return ""
    bits = []
    for scen, d in v.items():
        t = len(d["trips"])
        bits.append(f"{scenario_label(scen)} the campus leaves the ride-through envelope in {t} of {d['n']} events"
                    if t else f"{scenario_label(scen)} it rides through all {d['n']} events")
    return "In the sag-mitigation events, " + _list(bits) + "."


def executive_sentences(summary: dict[str, Any]) -> list[str]:
    """Two to five sentences in plain words, each computed from ``summary``."""
    sc = summary["scenarios"]
    out = [_scenario_sentence(n, s) for n, s in sc.items()]
    if len(out) > 2:  # keep the summary short: without/with first, alternatives folded into one sentence
        alt = [n for n in sc if n not in ("without_battery", "with_battery")]
        ok = [n for n in alt if sc[n]["pass"]]
        out = out[:2] + ([f"Of {len(alt)} alternative battery scenario(s), {len(ok)} meet(s) all N-0 criteria"
                          + (f" ({_list([scenario_label(n) for n in ok])})" if ok else "") + "."])
    for f in (_ramp_sentence, _voltage_sentence, _n1_sentence, _sag_sentence, _capability_sentence):
        s = f(summary)
        if s:
            out.append(s)
    rel = reliance_sentence(summary)
    if rel:
        out.append(rel)
    return out


def plant_label(row: dict[str, Any]) -> str:
    """A plant of the control-mode sensitivity or a scenario's ``plant_control`` in words."""
    mode = row.get("mode", "grid_following")
    if mode == "grid_forming":
        g = row.get("grid_forming") or {}
        loop = row.get("loop", g.get("loop", "droop"))
        x = row.get("virtual_impedance_pu", g.get("x_pu"))
        kind = "VSM" if loop == "vsm" else "droop"
        return f"grid-forming ({kind}, virtual reactance {fmt_num(x, 3)} pu)"
    if mode == "grid_following_local":
        lat = row.get("latency_s", row.get("local_latency_s"))
        return f"local grid-following ({fmt_num(1000 * lat, 3)} ms)" if lat is not None else "local grid-following"
    lat = row.get("latency_s")
    filt = " with the latency-aware filter" if row.get("follow_filter") else ""
    return (f"grid-following ({fmt_num(1000 * lat, 3)} ms){filt}" if lat is not None else f"grid-following{filt}")


def reliance_sentence(summary: dict[str, Any]) -> str:
    """Which scenarios pass and what each relies on (its plant's mode and latency, campus smoothing)."""
    parts = []
    for n, s in summary["scenarios"].items():
        if not s.get("pass"):
            continue
        relies = []
        mode = s.get("plant_mode")
        if mode and mode != "idle":
            ctrl = dict(s.get("plant_control") or {"mode": mode})
            lat = s.get("plant_total_latency_s")
            if mode != "grid_forming" and lat is not None:
                ctrl["latency_s"] = lat
            relies.append(f"a battery plant in {plant_label(ctrl)} control")
        if s.get("gpu_smoothing_extra_mwh", 0.0) > 0.0:
            relies.append("GPU/rack power smoothing enabled on the campus")
        parts.append(f"{scenario_label(n)} (relies on {_list(relies)})" if relies
                     else f"{scenario_label(n)} (no mitigation)")
    if not parts:
        return "No scenario meets every N-0 criterion."
    return f"Passing scenario(s): {'; '.join(parts)}."


def _corner_bits(cap: dict[str, Any]) -> list[str]:
    """One phrase per corner and case that fails: its worst voltage and loading."""
    names = {"peak_charging": "with the campus at peak and the plant charging at its rating",
             "idle_exporting": "with the campus idle and the plant exporting at its rating"}
    bits = []
    for corner, cases in (cap.get("worst") or {}).items():
        for case, w in cases.items():
            if not w.get("failing"):
                continue
            where = "intact" if case == "N-0" else "after a single outage"
            b = (f"{names.get(corner, corner)}, {where}, {w['failing']} of {w['states']} state(s) fail "
                 f"(lowest bus voltage {fmt_num(w.get('min_vm_pu'))} pu at {w.get('min_vm_bus', '')}, "
                 f"worst loading {fmt_num(w.get('max_loading_percent'), 3)} % on {w.get('max_loading_element', '')}")
            if w.get("not_converged"):
                b += f"; {len(w['not_converged'])} did not converge: voltage collapse"
            bits.append(b + ")")
    return bits


def _capability_sentence(summary: dict[str, Any]) -> str:
    cap = summary.get("plant_capability") or {}
    if not cap.get("corners"):
        return ""
    if cap.get("pass"):
        return ("At the plant's full rating (campus at peak with the plant charging, campus idle with it exporting) "
                "every state passes, intact and after each credible outage.")
    return ("At the plant's full rating the study fails: " + "; ".join(_corner_bits(cap))
            + ". This fails the overall verdict (section on the plant's full capability).")


def capability_sentences(summary: dict[str, Any]) -> list[str]:
    """What the plant's full capability means, in plain words: the approach, the verdict and what it
    asks of the POI agreement (empty when the study has no corner)."""
    cap = summary.get("plant_capability") or {}
    rows = cap.get("corners") or []
    if not rows:
        return [str(cap.get("note") or "")] if cap else []
    out = ["Approach (a), the corners: the dispatch enforces no POI import or export limit, so the study solves "
           "the two corners the plant can create (the campus at its peak with the plant charging at its rating; "
           "the campus idle with the plant exporting at its rating; the plant at unity power factor), intact and "
           "after every credible single outage, with the regulating transformers settled, and judges each like any "
           "other state: intact against the N-0 bus bands and normal ratings, after an outage against the N-1 "
           "bands and emergency ratings; a power flow that does not converge is voltage collapse. A failing corner, "
           "intact or after an outage, fails the study's overall verdict."]
    intact = {r["corner"]: r for r in rows if r.get("case") == "N-0"}
    imp = (intact.get("peak_charging") or {}).get("poi_p_mw")
    exp_ = (intact.get("idle_exporting") or {}).get("poi_p_mw")
    reach = []
    if isinstance(imp, (int, float)) and math.isfinite(imp):
        reach.append(f"{fmt_num(float(imp))} MW import")
    if isinstance(exp_, (int, float)) and math.isfinite(exp_):
        reach.append(f"{fmt_num(-float(exp_))} MW export")
    at = f" ({_list(reach)} at the POI, intact)" if reach else ""
    if cap.get("pass"):
        out.append(f"The plant's full rating can be delivered at this POI{at}: a POI agreement that allows it needs "
                   "no import or export limit enforced by the plant's controller.")
    else:
        out.append(f"The plant's full rating cannot be delivered at this POI without violations{at}: "
                   + "; ".join(_corner_bits(cap)) + ". The POI agreement must therefore either set import and "
                   "export limits that the plant's controller enforces, below what the corners reach, and have the "
                   "study judge them, or the network must be reinforced; this study applies no such limits.")
    return out
