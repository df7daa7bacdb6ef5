"""The report's "Dynamic (RMS) check" section, from a saved output folder alone.

Read from ``summary.json`` (``dynamics``, ``largest_load_loss``), ``dynamics.parquet`` and
``fluctuation_windows.parquet``: the RMS and quasi-static POI voltage and power on the worst window
(a figure and a table from the same series), the frequency of the largest load loss against the
study's frequency screen, the sag recovery; where they differ, computed sentences say why.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from gridstudy.models.timeindex import drive_index
from gridstudy.studies.report.figures import _fig, style, to_svg
from gridstudy.studies.report.tables import html_table
from gridstudy.studies.report.text import fmt_num, scenario_label

__all__ = ["dynamics_context", "rms_window_figure", "RECOVERY_BAND_PU", "AGREE_PU"]

#: The sag recovery ends when the RMS POI voltage stays within this of its pre-event value. [pu]
RECOVERY_BAND_PU = 0.01
#: Agreement the section calls "the same" (the 1e-3 pu bound of the stiff-grid check). [pu]
AGREE_PU = 1e-3


def _t(df: pd.DataFrame) -> np.ndarray:
    times = pd.DatetimeIndex(df["time"])
    return np.asarray((times - times[0]).total_seconds(), dtype=float)


def _window_pair(case: dict[str, Any], dyn: pd.DataFrame, win: pd.DataFrame | None) -> pd.DataFrame | None:
    """The RMS series of a window case beside the quasi-static window's on the same instants."""
    r = dyn[(dyn["case"] == case["case"]) & (dyn["scenario"] == case["scenario"])]
    if not len(r) or win is None:
        return None
    q = win[(win["scenario"] == case["scenario"]) & (win["window"] == case.get("window"))]
    if not len(q):
        return None
    rt = pd.DatetimeIndex(r["time"])
    q = q[(pd.DatetimeIndex(q["time"]) >= rt[0]) & (pd.DatetimeIndex(q["time"]) <= rt[-1])]
    if not len(q):
        return None
    # each quasi-static instant beside the RMS point driven by the same sample (the last one)
    qt = pd.DatetimeIndex(q["time"])
    dt = float(np.median(np.diff(qt.asi8))) / 1e9 if len(qt) > 1 else 1.0
    kr = drive_index(np.asarray((rt - rt[0]).total_seconds(), dtype=float), dt)
    kq = drive_index(np.asarray((qt - rt[0]).total_seconds(), dtype=float), dt)
    j = np.clip(np.searchsorted(kr, kq, side="right") - 1, 0, len(r) - 1)
    return pd.DataFrame({"time": qt, "t_s": _t(q),
                         "rms_poi_vm_pu": r["poi_vm_pu"].to_numpy()[j], "qsts_poi_vm_pu": q["poi_vm_pu"].to_numpy(),
                         "rms_poi_p_mw": r["poi_p_mw"].to_numpy()[j], "qsts_poi_p_mw": q["grid_p_mw"].to_numpy()})


def rms_window_figure(pair: pd.DataFrame, title: str, scenario: str) -> str:
    """RMS and quasi-static POI voltage (top) and POI power (bottom) of one window case."""
    fig, (a1, a2) = _fig(h=3.9, nrows=2)
    st = style(scenario)
    a1.plot(pair["t_s"], pair["qsts_poi_vm_pu"], lw=1.6, color="0.6", label="quasi-static")
    a1.plot(pair["t_s"], pair["rms_poi_vm_pu"], lw=0.8, color=st["color"], ls="--", label="RMS (ANDES)")
    a2.plot(pair["t_s"], pair["qsts_poi_p_mw"], lw=1.6, color="0.6", label="quasi-static")
    a2.plot(pair["t_s"], pair["rms_poi_p_mw"], lw=0.8, color=st["color"], ls="--", label="RMS (ANDES)")
    a1.set_ylabel("POI voltage [pu]")
    a1.set_title(title)
    a1.legend(loc="lower right", ncol=2)
    a2.set_ylabel("POI power [MW]\n(import positive)")
    a2.set_xlabel("time from the start of the RMS case [s]")
    return to_svg(fig)


def _sag_recovery(case: dict[str, Any], dyn: pd.DataFrame) -> dict[str, Any] | None:
    """Recovery of the RMS POI voltage after the last sag of a case: time to stay within
    :data:`RECOVERY_BAND_PU` of the pre-event voltage and the highest voltage after the clearing."""
    sags = case.get("sags_s") or []
    r = dyn[(dyn["case"] == case["case"]) & (dyn["scenario"] == case["scenario"])]
    if not len(r):
        return None
    t, v = _t(r), r["poi_vm_pu"].to_numpy(dtype=float)
    pre = float(case.get("pre_event_poi_vm_pu", v[0]))
    clear = float(sags[-1][1]) if sags else 0.0
    after = t >= clear - 1e-9
    if not after.any():
        return None
    out_band = np.flatnonzero(after & (np.abs(v - pre) > RECOVERY_BAND_PU))
    recovered = None if len(out_band) and out_band[-1] == len(v) - 1 else \
        (float(t[out_band[-1] + 1] - clear) if len(out_band) else 0.0)
    return {"clear_s": clear, "pre_pu": pre, "recovery_s": recovered, "max_after_pu": float(v[after].max()),
            "min_pu": float(v.min())}


def _why(case: dict[str, Any], agree: bool) -> str:
    if agree:
        return "They agree: the grid equivalent is stiff enough there and the plant follows its schedule."
    notes = case.get("notes") or []
    causes = ["the grid equivalent's machine is a dynamic source behind its reactance (its internal voltage, "
              "exciter and speed move), where the quasi-static run holds an ideal source"]
    if case.get("plant") == "model":
        causes.append("the plant runs as its generic models (converter and controller lags on top of the dispatch)")
    causes += notes
    causes.append("the transformer taps are held at the case start")
    return "They differ by up to {:s}: ".format(fmt_num(case.get("max_abs_dv_vs_qsts_pu"), 3) + " pu") + \
        "; ".join(causes) + "."


def dynamics_context(summary: dict[str, Any], dyn: pd.DataFrame | None, win: pd.DataFrame | None,
                     add_figure: Any) -> dict[str, Any]:
    """The template context of the section (empty when the summary has no RMS check);
    ``add_figure(id, svg, caption)`` registers a figure and returns its template handle."""
    block = summary.get("dynamics") or {}
    if not block.get("enabled"):
        return {}
    cases = list(block.get("cases") or [])
    ctx: dict[str, Any] = {"block": block, "tables": {}}
    ctx["intro"] = (f"Each case was run in {block.get('engine', 'ANDES')} at a {1000 * float(block['step_s']):g}-ms step: "
                    f"the grid equivalent as {block['machine']} (H = {fmt_num(block['grid_h_s'], 3)} s on "
                    f"{fmt_num(block['grid_mva_base'], 6)} MVA, the site's [dynamics.grid]), the campus as a "
                    "constant-power load driven by its quasi-static series, the plant "
                    + ("as its generic models (REGCA1 + REECA1 + REPCA1) driven by its dispatch" if block["plant"] == "model"
                       else "as the dispatch's fixed schedule")
                    + f"; each window case covers {fmt_num(block['window_s'], 4)} s around the window's largest campus edge.")
    rows = pd.DataFrame([{
        "scenario": scenario_label(str(c["scenario"])), "case": c["case"], "converged": "yes" if c["converged"] else "NO",
        "max |ΔV| vs quasi-static [pu]": fmt_num(c.get("max_abs_dv_vs_qsts_pu"), 3),
        "POI V min RMS / quasi-static [pu]": f"{fmt_num(c.get('poi_vm_min_pu'), 4)} / {fmt_num(c.get('qsts_poi_vm_min_pu'), 4)}",
        "frequency min–max [Hz]": f"{fmt_num(c.get('freq_min_hz'), 6)} – {fmt_num(c.get('freq_max_hz'), 6)}",
    } for c in cases])
    ctx["cases_table"] = html_table(rows, cls="small", num={"max |ΔV| vs quasi-static [pu]"})
    ctx["tables"]["dynamics_cases"] = pd.DataFrame(cases).drop(columns=["notes", "sags_s"], errors="ignore")
    bad = [c for c in cases if not c["converged"]]
    ctx["diverged"] = [f"{scenario_label(str(c['scenario']))}, {c['case']}: {c.get('reason')}" for c in bad]

    # the worst window: the with-battery one where there is one, else the first window case
    wins = [c for c in cases if c["kind"] == "window" and c["converged"]]
    pick = next((c for c in wins if c["scenario"] == "with_battery" and str(c["case"]).startswith("worst")),
                wins[0] if wins else None)
    if pick is not None and dyn is not None:
        pair = _window_pair(pick, dyn, win)
        if pair is not None and len(pair):
            dv = np.abs(pair["rms_poi_vm_pu"] - pair["qsts_poi_vm_pu"])
            dp = np.abs(pair["rms_poi_p_mw"] - pair["qsts_poi_p_mw"])
            title = f"RMS and quasi-static, {scenario_label(str(pick['scenario']))}: {pick['case']}"
            ctx["window_fig"] = add_figure("dyn-window", rms_window_figure(pair, title, str(pick["scenario"])),
                                           f"{title}. The RMS series is taken at the quasi-static instants (the table "
                                           "below is computed from the same series).")
            stats = pd.DataFrame([
                {"quantity": "POI voltage [pu]", "quasi-static min": fmt_num(pair["qsts_poi_vm_pu"].min(), 5),
                 "RMS min": fmt_num(pair["rms_poi_vm_pu"].min(), 5),
                 "quasi-static max": fmt_num(pair["qsts_poi_vm_pu"].max(), 5),
                 "RMS max": fmt_num(pair["rms_poi_vm_pu"].max(), 5), "max |difference|": fmt_num(dv.max(), 3)},
                {"quantity": "POI power [MW]", "quasi-static min": fmt_num(pair["qsts_poi_p_mw"].min(), 5),
                 "RMS min": fmt_num(pair["rms_poi_p_mw"].min(), 5),
                 "quasi-static max": fmt_num(pair["qsts_poi_p_mw"].max(), 5),
                 "RMS max": fmt_num(pair["rms_poi_p_mw"].max(), 5), "max |difference|": fmt_num(dp.max(), 3)}])
            ctx["window_table"] = html_table(stats, cls="small", num=set(stats.columns) - {"quantity"})
            ctx["tables"]["dynamics_worst_window"] = pair
            ctx["window_why"] = _why(pick, bool(dv.max() <= AGREE_PU))

    # frequency of the largest load loss against the study's screen
    ll = next((c for c in cases if c["kind"] == "load_loss"), None)
    lll = summary.get("largest_load_loss") or {}
    if ll is not None and lll:
        zen, screen = ll.get("freq_max_hz"), lll.get("frequency_zenith_hz")
        f_max, f_min = lll.get("f_max_hz"), lll.get("f_min_hz")
        case_mw = ll.get("load_loss_mw")
        s = (f"Largest credible load loss: the RMS case ({ll['case']}, {fmt_num(ll.get('duration_s'), 3)} s) reaches "
             f"{fmt_num(zen, 6)} Hz; the study's frequency screen gives a zenith of {fmt_num(screen, 6)} Hz for "
             f"{fmt_num(lll.get('mw'), 4)} MW ({lll.get('cause')}), against the limit of {fmt_num(f_max, 5)} Hz.")
        if isinstance(zen, (int, float)) and isinstance(f_max, (int, float)):
            s += " The RMS zenith is within the limit." if zen <= f_max else " The RMS zenith EXCEEDS the limit."
        if isinstance(zen, (int, float)) and isinstance(screen, (int, float)) and abs(zen - screen) > 1e-3:
            why = [f"the RMS grid equivalent is the site's machine (H = {fmt_num(block['grid_h_s'], 3)} s on "
                   f"{fmt_num(block['grid_mva_base'], 6)} MVA"
                   + (", its governor TGOV1" if block["machine"] == "GENROU" else ", no governor") + "), the screen the "
                   "preset's one-machine system-frequency-response model of the interconnection"]
            if case_mw is not None and isinstance(lll.get("mw"), (int, float)) and abs(case_mw - float(lll["mw"])) > 1e-6:
                why.append(f"the RMS case trips the campus at its peak ({fmt_num(case_mw, 4)} MW), the screen's "
                           f"largest loss is {fmt_num(lll['mw'], 4)} MW")
            if isinstance(lll.get("frequency_zenith_time_s"), (int, float)) and \
                    float(ll.get("duration_s") or 0.0) - 1.0 < float(lll["frequency_zenith_time_s"]):
                why.append(f"the RMS case ends {fmt_num(float(ll.get('duration_s') or 0.0) - 1.0, 3)} s after the loss, "
                           f"before the screen's zenith at {fmt_num(lll['frequency_zenith_time_s'], 3)} s")
            s += " They differ because " + "; ".join(why) + "."
        nadir = lll.get("frequency_nadir_hz")
        if nadir is not None:
            s += (f" The screen's nadir ({fmt_num(nadir, 6)} Hz, limit {fmt_num(f_min, 5)} Hz) is the return from backup, "
                  "which the RMS case does not run.")
        ctx["frequency_text"] = s

    # sag recovery
    sag_rows, sag_text = [], []
    for c in cases:
        if c["kind"] != "sag" or dyn is None or not c.get("sags_s"):  # a recovery after a utility-side sag
            continue
        rec = _sag_recovery(c, dyn)
        if rec is None:
            continue
        sag_rows.append({"event": str(c["case"]).removeprefix("sag: "), "converged": "yes" if c["converged"] else "NO",
                         "POI V min RMS / quasi-static [pu]": f"{fmt_num(rec['min_pu'], 4)} / {fmt_num(c.get('qsts_poi_vm_min_pu'), 4)}",
                         "highest after clearing [pu]": fmt_num(rec["max_after_pu"], 4),
                         f"back within {RECOVERY_BAND_PU:g} pu after [s]": "not within the run" if rec["recovery_s"] is None
                         else fmt_num(rec["recovery_s"], 3),
                         "max |ΔV| vs quasi-static [pu]": fmt_num(c.get("max_abs_dv_vs_qsts_pu"), 3)})
        dv = c.get("max_abs_dv_vs_qsts_pu")
        if isinstance(dv, (int, float)) and math.isfinite(dv) and dv > AGREE_PU:
            sag_text.append(f"{c['case']}: " + _why(c, False))
    if sag_rows:
        df = pd.DataFrame(sag_rows)
        ctx["sag_table"] = html_table(df, cls="small")
        ctx["tables"]["dynamics_sag_recovery"] = df
        ctx["sag_text"] = sag_text
    return ctx
