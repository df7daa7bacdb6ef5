"""The largest credible simultaneous load loss of a study: MW, POI voltage rise, frequency screen.

ERCOT requires large-load loss in planning cases and screens the largest credible load loss
against its frequency limits (``docs/sources/studies.md §5``). Three causes are credible here:

- *campus trip*: the whole campus goes to backup at its peak (the larger of the site's rated
  campus peak and the horizon's highest draw);
- *transfer to backup* by the campus's disturbance counter or ride-through envelope, as found in
  the daily scenarios and the sag events (:mod:`gridstudy.studies.criteria.load_loss`);
- *N-1 loss of supply*: an outage that islands the POI (``summary["loss_of_supply"]``) drops the
  campus and every load on the islanded buses.

The largest is screened twice. The POI voltage rise is a power flow on the study's site with the
campus at its peak, then without it (battery idle, taps and shunts held: the rise before any
control acts); for a loss of supply the same MW leaves the network, and the rise is that of the
campus disconnected from a still-supplied POI. The frequency screen is the one-machine SFR
model of the interconnection (:mod:`gridstudy.studies.criteria.frequency`): a load loss raises
frequency to a zenith; the return from backup, modelled as one step of the lost MW, lowers it to
a nadir. The result passes when both extremes stay within the preset's frequency limits and the
POI voltage after the loss stays within the N-1 band of the POI's voltage class.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pandapower as pp
import pandas as pd
from pandapower.powerflow import LoadflowNotConverged

from gridstudy.grid.site import Site
from gridstudy.grid.topology import Outage, unsupplied_buses
from gridstudy.studies.criteria.frequency import frequency_screen
from gridstudy.studies.criteria.presets import CriteriaPreset
from gridstudy.studies.criteria.voltage import voltage_class

__all__ = ["campus_off_rise", "largest_load_loss"]


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
                      loss_rows: list[dict[str, Any]], sag_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The top-level ``largest_load_loss`` entry of ``summary.json`` (see the module's rules).

    Parameters
    ----------
    site : Site
        The study's built site.
    campus : pandas.DataFrame
        Campus profile with ``campus_p_mw`` over the horizon. [MW]
    preset : CriteriaPreset
        Gives the frequency model and limits and the N-1 band.
    scenarios : dict
        Per-scenario summaries (their ``load_loss`` findings list the transfers).
    loss_rows : list of dict
        ``summary["loss_of_supply"]``.
    sag_rows : list of dict
        ``summary["sag_events"]``.

    Returns
    -------
    dict
        ``mw`` [MW], ``cause``, ``poi_vm_rise_pu``, ``poi_vm_before_pu``, ``poi_vm_after_pu``
        [pu], ``frequency_zenith_hz``, ``frequency_nadir_hz`` (``None`` when no case lowers
        frequency) [Hz], the limits, ``cases`` (every credible loss) and ``pass``.
    """

    peak = max(float(site.campus_p_mw), float(campus["campus_p_mw"].max()))
    cases: list[dict[str, Any]] = [{"cause": "campus trip to backup at peak", "mw": peak}]
    transfers = _transfers(scenarios, sag_rows)
    cases += [{"cause": f"transfer to backup: {where}", "mw": mw} for where, mw in transfers]
    cases += [{"cause": f"N-1 loss of supply: {r['outage']}", "mw": _loss_of_supply_mw(site, r, peak)}
              for r in loss_rows]
    worst = max(cases, key=lambda c: float(c["mw"]))  # the first listed wins a tie

    collapse = ""
    try:
        before, after = campus_off_rise(site, peak)
    except LoadflowNotConverged:  # the campus at its peak collapses the grid: no rise to compute
        before = after = math.nan
        collapse = ("The power flow with the campus at its peak does not converge (voltage collapse): the POI "
                    "voltage rise is not computed and the voltage check fails. ")
    band = preset.band(voltage_class(site.poi_vn_kv), "n-1")
    pickup = max((mw for _, mw in transfers), default=None)
    freq = frequency_screen(preset.frequency, worst["mw"], pickup)
    v_ok = band.vmin_pu <= after <= band.vmax_pu if math.isfinite(after) else False
    return {
        "mw": float(worst["mw"]),
        "cause": worst["cause"],
        "poi_vm_rise_pu": after - before,
        "poi_vm_before_pu": before,
        "poi_vm_after_pu": after,
        "n1_band_pu": [band.vmin_pu, band.vmax_pu],
        "voltage_pass": bool(v_ok),
        **freq,
        "frequency_nadir_cause": ("return from backup of the largest transfer, as one step" if pickup else None),
        "cases": cases,
        "pass": bool(v_ok and freq["frequency_pass"]),
        "note": (collapse + "POI rise: power flow with the campus at its peak, then disconnected (battery idle, taps held). "
                 "Frequency: one-machine system-frequency-response model of the interconnection "
                 "(Anderson & Mirheydar 1990), no deadband, no fast frequency response."),
    }
