"""The largest credible simultaneous load loss of a study: MW, POI voltage steps, frequency screen.

ERCOT requires large-load loss in planning cases and screens the largest credible load loss
against its frequency limits (``docs/sources/studies.md §5``). The credible losses here:

- *campus trip*: the whole campus goes to backup at its peak (the larger of the site's rated
  campus peak and the horizon's highest draw);
- *transfer to backup* by the campus's disturbance counter or ride-through envelope, as found in
  the daily scenarios and the sag events (:mod:`gridstudy.studies.criteria.load_loss`);
- *N-1 loss of supply*: an outage that islands the POI (``summary["loss_of_supply"]``) drops the
  campus and every load on the islanded buses;
- *the plant*: a trip of the battery plant while it charges (a load lost) or discharges (a
  generation lost: the grid picks up its output), alone and together with the campus (one fault
  at the campus substation takes both), each at the plant's rating with the campus at its peak
  and at what the study's dispatch did (the step of the largest charging, of the largest
  discharging, of the largest grid import while charging, over every scenario).

Each case is a power flow on the study's site before and after (taps and shunts held: the step
before any control acts): the POI voltage step of every case, the voltage after a loss or a plant
trip judged against the N-1 band of the POI's voltage class. The **return from backup** of the largest campus loss (a campus trip at peak
or a transfer, whichever is larger) is a load the customer switches on, so it is also judged as a
rapid voltage change: its POI step against the preset's RVC level for a change that may happen a
few times a day (``RVCLimits.day_pct``, IEC 61000-3-7's "n <= 4 a day" row). The steps here are
static, the plant at 0 MW; in a scenario's verdict (:func:`load_loss_verdict_finding`) a scenario with
a plant is judged on the step its own 20-ms event runs measured
(:func:`gridstudy.studies.stages.sag.campus_event_runs`), where the plant answers as its control mode
lets it. The plant's own trips are contingencies (faults): judged by the N-1 band and the frequency
screen, not as rapid voltage changes. The frequency screen
is the one-machine SFR model of the interconnection (:mod:`gridstudy.studies.criteria.frequency`):
the largest load loss raises frequency to a zenith; the largest pickup (the return from backup or
a plant trip while discharging), as one step, lowers it to a nadir. The result passes when both
extremes stay within the preset's frequency limits, every case's POI voltage after the step stays
within the N-1 band and the return from backup is within its RVC level.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pandapower as pp
import pandas as pd
from pandapower.powerflow import LoadflowNotConverged

from gridstudy.grid.site import Site
from gridstudy.grid.topology import Outage, unsupplied_buses
from gridstudy.models.battery import MegapackPlant
from gridstudy.studies.criteria._base import Finding, Limit
from gridstudy.studies.criteria.frequency import frequency_screen
from gridstudy.studies.criteria.presets import CriteriaPreset
from gridstudy.studies.criteria.voltage import voltage_class

__all__ = ["campus_off_rise", "poi_step", "plant_cases", "largest_load_loss", "verdict", "plant_case",
           "load_loss_verdict_finding", "measured_steps", "scenario_cases"]


def campus_off_rise(site: Site, campus_p_mw: float) -> tuple[float, float]:
    """POI voltage with the campus drawing ``campus_p_mw`` and with the campus disconnected.

    Parameters
    ----------
    site : Site
        The study's built site (not changed: a copy is solved).
    campus_p_mw : float
        Campus draw before the loss, shared among the campus loads as in the site; reactive power
        at the site's campus power factor. [MW]

    Returns
    -------
    tuple of float
        POI voltage before and after the loss. [pu]
    """

    net = copy.deepcopy(site.net)
    loads = list(site.campus_loads)
    base_p = float(net.load.loc[loads, "p_mw"].sum())
    scale = campus_p_mw / base_p if base_p else 0.0
    net.load.loc[loads, "p_mw"] = net.load.loc[loads, "p_mw"] * scale
    net.load.loc[loads, "q_mvar"] = net.load.loc[loads, "q_mvar"] * scale
    if len(net.storage):
        net.storage["p_mw"] = 0.0
        if "q_mvar" in net.storage:
            net.storage["q_mvar"] = 0.0
    pp.runpp(net, calculate_voltage_angles=True)
    before = float(net.res_bus.at[site.poi_bus, "vm_pu"])
    net.load.loc[loads, "in_service"] = False
    pp.runpp(net, calculate_voltage_angles=True)
    return before, float(net.res_bus.at[site.poi_bus, "vm_pu"])


def poi_step(site: Site, before: tuple[float, float], after: tuple[float, float]) -> tuple[float, float]:
    """POI voltage with the campus and the plant at ``before`` and at ``after``.

    Parameters
    ----------
    site : Site
        The study's built site (not changed: a copy is solved, taps and shunts held).
    before, after : tuple of float
        ``(campus_p_mw, plant_p_mw)``: the campus draw, shared among the campus loads as in the
        site with the site's campus power factor (0: the campus disconnected), and the plant's
        active power, consumer sign (positive charging), shared among its storage elements at zero
        reactive power. [MW]

    Returns
    -------
    tuple of float
        POI voltage before and after. [pu]
    """

    net = copy.deepcopy(site.net)
    loads = list(site.campus_loads)
    base_p = float(net.load.loc[loads, "p_mw"].sum())
    base_q = net.load.loc[loads, "q_mvar"].copy()
    base_pl = net.load.loc[loads, "p_mw"].copy()
    stores = [i for i in site.storages if bool(net.storage.at[i, "in_service"])] if len(net.storage) else []
    if len(net.storage):
        net.storage["p_mw"] = 0.0
        if "q_mvar" in net.storage:
            net.storage["q_mvar"] = 0.0
    out = []
    for campus_mw, plant_mw in (before, after):
        scale = campus_mw / base_p if base_p else 0.0
        net.load.loc[loads, "p_mw"] = base_pl * scale
        net.load.loc[loads, "q_mvar"] = base_q * scale
        net.load.loc[loads, "in_service"] = campus_mw != 0.0
        if stores:  # shared by the elements' ratings (equally where a rating is missing)
            w = (net.storage.loc[stores, "sn_mva"].astype(float) if "sn_mva" in net.storage
                 else pd.Series(1.0, index=stores))
            w = w.where(w > 0.0, 1.0)
            net.storage.loc[stores, "p_mw"] = plant_mw * w / float(w.sum())
        elif plant_mw:
            raise ValueError("the site has no in-service storage for the plant's power")
        pp.runpp(net, calculate_voltage_angles=True)
        out.append(float(net.res_bus.at[site.poi_bus, "vm_pu"]))
    return out[0], out[1]


def plant_cases(peak_mw: float, plant: MegapackPlant, profiles: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """The plant's credible trips: ``cause``, ``before`` and ``after`` (``(campus, plant)`` MW,
    consumer sign) and where a dispatch gave it, ``scenario`` and ``time``.

    At the plant's rating with the campus at ``peak_mw``: the plant alone and the plant with the
    campus, charging and discharging. As dispatched (``profiles``: each scenario's
    ``campus_p_mw`` and ``battery_p_mw``): the step of the largest charging (the plant alone), of
    the largest grid import while charging (campus and plant together) and of the largest
    discharging (alone, and together with the campus at that step)."""

    rating = float(plant.p_max_mw)
    out: list[dict[str, Any]] = [
        {"cause": "plant trip while charging at its rating", "before": (peak_mw, rating), "after": (peak_mw, 0.0)},
        {"cause": "campus and plant trip together, the plant charging at its rating", "before": (peak_mw, rating),
         "after": (0.0, 0.0)},
        {"cause": "plant trip while discharging at its rating", "before": (peak_mw, -rating), "after": (peak_mw, 0.0)},
        {"cause": "campus and plant trip together, the plant discharging at its rating", "before": (peak_mw, -rating),
         "after": (0.0, 0.0)},
    ]
    best: dict[str, tuple[float, str, Any, float, float]] = {}

    def keep(key: str, value: float, name: str, t: Any, c: float, b: float) -> None:
        if value > 0.0 and (key not in best or value > best[key][0]):
            best[key] = (value, name, t, c, b)

    for name, prof in profiles.items():
        if "battery_p_mw" not in prof or "campus_p_mw" not in prof or not len(prof):
            continue
        b = prof["battery_p_mw"].to_numpy(dtype=float)
        c = prof["campus_p_mw"].to_numpy(dtype=float)
        k = int(np.argmax(b))
        keep("charging", float(b[k]), name, prof.index[k], float(c[k]), float(b[k]))
        k = int(np.argmin(b))
        keep("discharging", -float(b[k]), name, prof.index[k], float(c[k]), float(b[k]))
        imp = np.where(b > 0.0, c + b, -np.inf)
        k = int(np.argmax(imp))
        keep("import", float(imp[k]), name, prof.index[k], float(c[k]), float(b[k]))
    labels = {"charging": ("plant trip while charging, as dispatched", False),
              "import": ("campus and plant trip together while charging, as dispatched", True),
              "discharging": ("plant trip while discharging, as dispatched", False)}
    for key, (label, both) in labels.items():
        if key in best:
            _, name, t, cm, bm = best[key]
            out.append({"cause": label, "before": (cm, bm), "after": (0.0, 0.0) if both else (cm, 0.0),
                        "scenario": name, "time": pd.Timestamp(t)})
    if "discharging" in best:
        _, name, t, cm, bm = best["discharging"]
        out.append({"cause": "campus and plant trip together while discharging, as dispatched", "before": (cm, bm),
                    "after": (0.0, 0.0), "scenario": name, "time": pd.Timestamp(t)})
    return out


def _loss_of_supply_mw(site: Site, row: dict[str, Any], campus_mw: float) -> float:
    """Campus at its peak plus every other in-service load islanded by the outage. [MW]"""

    net = site.net
    dead = unsupplied_buses(net, Outage(str(row["element"]), int(row["index"]), str(row.get("outage", ""))))
    others = net.load[net.load.in_service & net.load.bus.isin(dead) & ~net.load.index.isin(site.campus_loads)]
    return campus_mw + float(others.p_mw.sum())


def _transfers(scenarios: dict[str, Any], sag_rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """``(where, MW)`` of every transfer to backup found in the scenarios and the sag events."""
    out: list[tuple[str, float]] = []
    for name, s in scenarios.items():
        for c in s.get("criteria", []):
            if c.get("group") != "load_loss":
                continue
            for t in (c.get("details") or {}).get("transfers", []):
                out.append((f"{t['cause']} in scenario {name}", float(t["lost_mw"])))
    for ev in sag_rows:
        for scen, v in ev.items():
            if isinstance(v, dict) and v.get("trip"):
                out.append((f"{v.get('trip_cause') or 'trip'} in sag event '{ev['event']}' ({scen})",
                            float(v.get("load_lost_mw") or 0.0)))
    return out


def largest_load_loss(site: Site, campus: pd.DataFrame, preset: CriteriaPreset, scenarios: dict[str, Any],
                      loss_rows: list[dict[str, Any]], sag_rows: list[dict[str, Any]],
                      plant: MegapackPlant | None = None,
                      profiles: dict[str, pd.DataFrame] | None = None) -> dict[str, Any]:
    """The top-level ``largest_load_loss`` entry of ``summary.json`` (see the module's rules).

    Parameters
    ----------
    site : Site
        The study's built site.
    campus : pandas.DataFrame
        Campus profile with ``campus_p_mw`` over the horizon. [MW]
    preset : CriteriaPreset
        Gives the frequency model and limits, the N-1 band and the RVC levels.
    scenarios : dict
        Per-scenario summaries (their ``load_loss`` findings list the transfers).
    loss_rows : list of dict
        ``summary["loss_of_supply"]``.
    sag_rows : list of dict
        ``summary["sag_events"]``.
    plant : MegapackPlant or None
        The study's battery plant (``None``: no plant cases).
    profiles : dict of pandas.DataFrame, optional
        Each scenario's dispatch (``campus_p_mw``, ``battery_p_mw``), for the plant's trips as
        dispatched.

    Returns
    -------
    dict
        ``mw`` [MW] and ``cause`` of the largest load loss, ``poi_vm_rise_pu``,
        ``poi_vm_before_pu``, ``poi_vm_after_pu`` [pu] of it, ``largest_pickup_mw`` and its
        ``largest_pickup_cause``, ``frequency_zenith_hz``, ``frequency_nadir_hz`` [Hz], the
        limits, ``cases`` (every credible case: ``cause``, ``kind`` ``load loss`` or ``pickup``,
        ``mw``, the POI voltage before and after and the step in %, ``voltage_pass``, and the
        return from backup's ``rvc_limit_pct`` and ``rvc_pass``), ``return_from_backup`` (that
        case) and ``pass``.
    """

    peak = max(float(site.campus_p_mw), float(campus["campus_p_mw"].max()))
    band = preset.band(voltage_class(site.poi_vn_kv), "n-1")
    rvc = preset.rvc_limits(voltage_class(site.poi_vn_kv))
    transfers = _transfers(scenarios, sag_rows)
    specs: list[dict[str, Any]] = [{"cause": "campus trip to backup at peak", "before": (peak, 0.0),
                                    "after": (0.0, 0.0), "rvc": "trip"}]
    specs += [{"cause": f"transfer to backup: {where}", "before": (mw, 0.0), "after": (0.0, 0.0)}
              for where, mw in transfers]
    # an islanding outage: the campus and the islanded loads leave; the POI step is that of the
    # campus disconnected from a still-supplied POI
    specs += [{"cause": f"N-1 loss of supply: {r['outage']}", "before": (peak, 0.0), "after": (0.0, 0.0),
               "mw": _loss_of_supply_mw(site, r, peak)} for r in loss_rows]
    if plant is not None and site.storages:
        specs += plant_cases(peak, plant, profiles or {})
    back_mw = max([peak] + [mw for _, mw in transfers])
    specs.append({"cause": "return from backup of the largest campus loss, as one step", "before": (0.0, 0.0),
                  "after": (back_mw, 0.0), "rvc": "return"})

    cases: list[dict[str, Any]] = []
    for sp in specs:
        (c0, b0), (c1, b1) = sp["before"], sp["after"]
        lost = float(sp.get("mw", (c0 + b0) - (c1 + b1)))
        row: dict[str, Any] = {"cause": sp["cause"], "kind": "load loss" if lost >= 0.0 else "pickup",
                               "mw": abs(lost), "campus_before_mw": c0, "plant_before_mw": b0,
                               "campus_after_mw": c1, "plant_after_mw": b1}
        if "scenario" in sp:
            row.update(scenario=sp["scenario"], time=sp["time"])
        try:
            v0, v1 = poi_step(site, (c0, b0), (c1, b1))
            row.update(poi_vm_before_pu=v0, poi_vm_after_pu=v1, poi_step_pct=100.0 * (v1 - v0),
                       voltage_pass=bool(band.vmin_pu <= v1 <= band.vmax_pu), converged=True)
        except LoadflowNotConverged:  # a state the grid cannot carry: no step to compute, the check fails
            row.update(poi_vm_before_pu=math.nan, poi_vm_after_pu=math.nan, poi_step_pct=math.nan,
                       voltage_pass=False, converged=False)
        if sp.get("rvc"):
            # the campus's own switching (its trip, its return): a rapid voltage change against the cap
            if sp["rvc"] == "return":  # back to the pre-loss state, an N-0 state the time series judges
                row["voltage_pass"] = None
            step = abs(row["poi_step_pct"])
            row.update(rvc_kind=sp["rvc"], rvc_limit_pct=rvc.day_pct, rvc_limit=f"RVC {rvc.voltage_class}: no change "
                       f"above {rvc.day_pct:g} % ({rvc.source})",
                       rvc_pass=bool(math.isfinite(step) and step <= rvc.day_pct))
        cases.append(row)

    v = verdict(cases, preset)
    worst, pick, freq, v_ok = v["worst"], v["pick"], v["freq"], v["voltage_pass"]
    ret = next(c for c in cases if c.get("rvc_kind") == "return")
    trip = next(c for c in cases if c.get("rvc_kind") == "trip")
    collapse = "" if all(c["converged"] for c in cases) else (
        "A power flow of a case does not converge (voltage collapse): its POI voltage is not computed and its "
        "voltage check fails. ")
    return {
        "mw": float(worst["mw"]),
        "cause": worst["cause"],
        "poi_vm_rise_pu": worst["poi_vm_after_pu"] - worst["poi_vm_before_pu"],
        "poi_vm_before_pu": worst["poi_vm_before_pu"],
        "poi_vm_after_pu": worst["poi_vm_after_pu"],
        "largest_pickup_mw": float(pick["mw"]) if pick is not None else None,
        "largest_pickup_cause": pick["cause"] if pick is not None else None,
        "n1_band_pu": [band.vmin_pu, band.vmax_pu],
        "voltage_pass": bool(v_ok),
        **freq,
        "frequency_nadir_cause": (f"{pick['cause']}, as one step" if pick is not None else None),
        "cases": cases,
        "return_from_backup": ret,
        "campus_trip": trip,
        "rvc_pass": bool(v["rvc_pass"]),
        "pass": bool(v["pass"]),
        "note": (collapse + "POI voltage: a power flow of each case before and after the step (taps and shunts "
                 "held), judged against the N-1 band; the campus's own switching (its trip to backup at peak and "
                 "its return from backup) also as a rapid voltage change against the RVC level for a change a few "
                 "times a day. Frequency: one-machine system-frequency-response model of the interconnection "
                 "(Anderson & Mirheydar 1990), no deadband, no fast frequency response."),
    }


def verdict(cases: list[dict[str, Any]], preset: CriteriaPreset) -> dict[str, Any]:
    """The verdict of a set of load-loss ``cases`` (rows of :func:`largest_load_loss`): the largest
    loss and pickup, the frequency screen of both, whether every case's POI voltage after the step
    is within the N-1 band and every switching of the campus within its RVC level; ``pass`` all three."""
    losses = [c for c in cases if c["kind"] == "load loss"]
    pickups = [c for c in cases if c["kind"] == "pickup"]
    worst = max(losses, key=lambda c: float(c["mw"]))  # the first listed wins a tie
    pick = max(pickups, key=lambda c: float(c["mw"])) if pickups else None
    freq = frequency_screen(preset.frequency, worst["mw"], pick["mw"] if pick is not None else None)
    v_ok = all(c["voltage_pass"] for c in cases if c["voltage_pass"] is not None)
    rvc_ok = all(c["rvc_pass"] for c in cases if "rvc_pass" in c)
    return {"worst": worst, "pick": pick, "freq": freq, "voltage_pass": bool(v_ok), "rvc_pass": bool(rvc_ok),
            "pass": bool(v_ok and rvc_ok and freq["frequency_pass"])}


def plant_case(case: dict[str, Any]) -> bool:
    """Whether a load-loss case involves the battery plant (its power before or after is not zero)."""
    return bool(case.get("plant_before_mw") or case.get("plant_after_mw"))


#: The per-scenario event run (:func:`gridstudy.studies.stages.sag.campus_event_runs`) of each
#: RVC case of the load loss: its ``kind`` -> the case's ``rvc_kind``. [-]
_EVENT_KINDS = {"campus_trip": "trip", "campus_return": "return"}


def measured_steps(events: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """The campus trip's and the return from backup's rapid voltage change as a scenario's 20-ms
    event runs measured them (``events``: that scenario's rows of
    :func:`gridstudy.studies.stages.sag.campus_event_runs`), the largest of each: ``{"trip": row,
    "return": row}`` (a kind the runs lack is left out)."""
    out: dict[str, dict[str, Any]] = {}
    for r in events or []:
        k = _EVENT_KINDS.get(str(r.get("kind")))
        if k is None or r.get("rvc_pct") is None or not math.isfinite(float(r["rvc_pct"])):
            continue
        if k not in out or float(r["rvc_pct"]) > float(out[k]["rvc_pct"]):
            out[k] = r
    return out


def scenario_cases(block: dict[str, Any], has_plant: bool,
                   events: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The load-loss cases of one scenario (copies of ``block["cases"]``): every case with a battery
    plant, the campus's own cases alone without one (a plant it does not have cannot trip). Each RVC
    case (the campus trip, the return from backup) gets ``rvc_step_pct`` [%] and its ``rvc_basis``:
    with a plant, the step the scenario's 20-ms event run measured (``events``; its plant answers as
    its control mode lets it: a grid-forming plant within the step, a grid-following one after its
    latency), else the static power flow with the plant at 0 MW (no plant acts; the event run of a
    scenario without a plant gives the same step)."""
    measured = measured_steps(events) if has_plant else {}
    out: list[dict[str, Any]] = []
    for c in block["cases"]:
        if not (has_plant or not plant_case(c)):
            continue
        c = dict(c)
        k = c.get("rvc_kind")
        if k in measured:
            ev = measured[k]
            c.update(rvc_step_pct=float(ev["rvc_pct"]), rvc_pass=bool(ev["rvc_pass"]),
                     rvc_basis=f"20-ms event run with the scenario's plant ({str(ev.get('plant_mode', '')).replace('_', '-')})")
        elif k:
            c.update(rvc_step_pct=abs(float(c["poi_step_pct"])),
                     rvc_basis="static power flow, " + ("the plant at 0 MW" if has_plant else "no plant"))
        out.append(c)
    return out


def load_loss_verdict_finding(block: dict[str, Any], preset: CriteriaPreset, has_plant: bool,
                              poi_class: str, events: list[dict[str, Any]] | None = None) -> Finding:
    """The largest credible load loss (``summary["largest_load_loss"]``) as one scenario's finding, so
    that it enters the scenario's verdict: every case for a scenario with a battery plant, the campus's
    own cases alone for one without (a plant it does not have cannot trip). The campus's trip and its
    return from backup are judged as rapid voltage changes on the step of :func:`scenario_cases`:
    with a plant the one its 20-ms event run measured (``events``), else the static power flow. The
    plant's own trips are contingencies (a fault), judged by the N-1 band and the frequency screen,
    not as rapid voltage changes."""
    cases = scenario_cases(block, has_plant, events)
    v = verdict(cases, preset)
    freq = v["freq"]
    failed = ([] if v["voltage_pass"] else ["POI voltage after a loss outside the N-1 band"]) + \
        ([] if v["rvc_pass"] else ["the campus's trip or return steps the POI by more than the RVC cap"]) + \
        ([] if freq["frequency_pass"] else ["frequency outside its limits"])
    steps = "; ".join(f"{c['cause']}: {c['rvc_step_pct']:.2f} % ({c['rvc_basis']})" for c in cases
                      if "rvc_pass" in c and math.isfinite(c["rvc_step_pct"]))
    why = ("With a plant the campus's switching is judged on the step its 20-ms event run measured, the plant "
           "answering as its control mode lets it (a grid-forming plant takes its share within the step, a "
           "grid-following one acts after its latency); the static power flow holds the plant at 0 MW. "
           if any(str(c.get("rvc_basis", "")).startswith("20-ms") for c in cases) else "")
    return Finding(
        criterion="largest credible load loss (frequency, POI voltage, the campus's trip and return as RVC)",
        passed=v["pass"], worst_value=float(v["worst"]["mw"]), worst_unit="MW", when=None,
        seconds_outside=math.nan, events=len(failed),
        limits=(Limit("frequency after the largest loss and pickup", (freq["f_min_hz"], freq["f_max_hz"]), "Hz",
                      freq["sfr_model"]["source"], True),
                preset.band(poi_class, "n-1").limit(),
                preset.rvc_limits(poi_class).limits()[0]),
        note=("Site-level: every credible load loss and pickup of the study "
              + ("" if has_plant else "without the battery plant's trips (this scenario has no plant) ")
              + f"(the largest {float(v['worst']['mw']):.0f} MW: {v['worst']['cause']}); the POI steps of the "
              f"campus's own switching: {steps}. " + why
              + ("Fails: " + "; ".join(failed) + "." if failed else "Every check passes.")),
        details={"cases": len(cases), "voltage_pass": v["voltage_pass"], "rvc_pass": v["rvc_pass"],
                 "frequency_pass": bool(freq["frequency_pass"]), "frequency_zenith_hz": freq["frequency_zenith_hz"],
                 "frequency_nadir_hz": freq["frequency_nadir_hz"], "with_plant_cases": has_plant,
                 "rvc_steps": {str(c["rvc_kind"]): {"pct": c["rvc_step_pct"], "basis": c["rvc_basis"],
                                                    "pass": c["rvc_pass"]} for c in cases if "rvc_pass" in c}},
        id="largest_load_loss", group="largest_load_loss")
