"""The plant's full capability: the two corners the battery plant can create, intact and after
every credible single outage.

The dispatch of a study keeps the plant well inside its rating (a ramp limit charges at a few tens
of MW), but nothing at the point of interconnection stops the plant from doing what it is built to
do. Without POI import and export limits enforced by the plant's controller, the utility must plan
for the two corners the plant can create:

- ``peak_charging``: the campus at its peak (the site's campus peak, at the campus's power factor)
  and the plant charging at its active-power rating (``+p_max_mw``, pandapower's consumer view);
- ``idle_exporting``: the campus at idle (the campus model's draw with every GPU idle and cooling
  settled, :func:`gridstudy.models.campus.nominal_idle_p_mw`; for a measured campus series, its
  lowest step) and the plant discharging at its rating (``-p_max_mw``).

The plant runs at unity power factor at the corners (its reactive strategy is not applied: at the
active-power rating its MVA leaves little room, and the corners ask what the active power alone
does). Each corner is solved intact (N-0) and with each credible single outage of the site
(:func:`gridstudy.grid.topology.site_outages`, taken out as the N-1 stage does,
:func:`gridstudy.studies.stages.contingency.outage_site`), with pandapower's Newton-Raphson.

Taps: a corner is a sustained state (a 4-h plant holds its rating for hours), so the regulating
transformers settle as they would in steady state: pandapower's ``DiscreteTapControl`` of the
base case (:func:`gridstudy.grid.basecase.add_tap_controllers`) moves them into their bands (or to
a tap limit), starting from the study's site as built (taps settled at the first step's load,
:meth:`gridstudy.studies.setup.StudySetup.build_site`) for the intact corner, and from the intact
corner's settled taps after an outage. Other loads and generation of the network stay at the site
file's values.

Each state is judged like any other (:func:`gridstudy.studies.judge.findings.bus_band_finding`,
:func:`~gridstudy.studies.judge.findings.thermal_from_summary`,
:func:`~gridstudy.studies.judge.findings.convergence_finding`): intact with the preset's N-0 bus
bands and normal ratings, after an outage with its N-1 bands and emergency ratings. A power flow
that does not converge is voltage collapse: a failing row, never an exception. A failing corner,
intact or after an outage, fails the study's overall verdict (:meth:`CapabilityOutcome.add_to`).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandapower as pp
import pandas as pd

from gridstudy.grid.basecase import add_tap_controllers, internal_buses, is_divergence
from gridstudy.grid.poi_meter import poi_meter, poi_meter_pq
from gridstudy.grid.site import Site
from gridstudy.grid.topology import Outage, site_outages
from gridstudy.models.campus import CampusLoadParams, nominal_idle_p_mw
from gridstudy.studies.criteria.presets import CriteriaPreset
from gridstudy.studies.judge.findings import bus_band_finding, convergence_finding, thermal_from_summary
from gridstudy.studies.qsts.apply import element_series
from gridstudy.studies.qsts.inputs import QSTSInputs, RecordSpec
from gridstudy.studies.qsts.results import BASE_SERIES, QSTSResult, ResultRecorder, tap_series_name
from gridstudy.studies.setup import StudySetup
from gridstudy.studies.stages.contingency import outage_site

if TYPE_CHECKING:
    from gridstudy.studies.criteria import Finding

__all__ = ["Corner", "CORNER_NAMES", "plant_corners", "solve_state", "judge_state", "capability_rows",
           "capability_stage", "CapabilityOutcome", "INTACT"]

#: The two corners, in the order they are reported.
CORNER_NAMES = ("peak_charging", "idle_exporting")

#: The ``outage`` of an intact (N-0) state.
INTACT = "none (N-0)"

#: A state's stamp for the judge (one state, no time). [-]
_STAMP = pd.DatetimeIndex([pd.Timestamp("2000-01-01")])


@dataclass(frozen=True)
class Corner:
    """One corner the plant can create.

    Attributes
    ----------
    name : str
        ``peak_charging`` or ``idle_exporting``.
    campus_p_mw, campus_q_mvar : float
        Campus draw (consumer view). [MW, Mvar]
    plant_p_mw : float
        Plant active power, charging positive (pandapower's consumer view). [MW]
    plant_q_mvar : float
        Plant reactive power (consumer view). [Mvar]
    scenarios : tuple of str
        The scenarios whose plant and campus make this corner.
    """

    name: str
    campus_p_mw: float
    campus_q_mvar: float
    plant_p_mw: float
    plant_q_mvar: float = 0.0
    scenarios: tuple[str, ...] = ()


def _campus_tan_phi(frame: pd.DataFrame, at: str) -> tuple[float, float]:
    """``(p_mw, tan_phi)`` of a measured campus series at its highest (``at='max'``) or lowest step."""
    p = frame["campus_p_mw"].to_numpy(dtype=float)
    k = int(p.argmax() if at == "max" else p.argmin())
    pk, qk = float(p[k]), float(frame["campus_q_mvar"].to_numpy(dtype=float)[k])
    return pk, (qk / pk if pk else 0.0)


def plant_corners(setup: StudySetup) -> list[Corner]:
    """The corners of every scenario that runs a battery plant (a strategy other than ``none``),
    the scenarios with the same plant rating and campus sharing one pair."""
    found: dict[tuple[float, ...], list[str]] = {}
    for name, strat in setup.strategies().items():
        if strat is None or strat.name == "none":
            continue
        campus = setup.campus_for(name)
        peak = float(setup.campus_peak_mw)
        if isinstance(campus, CampusLoadParams):
            tan_phi = math.tan(math.acos(campus.pf))
            key = (peak, peak * tan_phi, nominal_idle_p_mw(campus), nominal_idle_p_mw(campus) * tan_phi,
                   float(strat.plant.p_max_mw))
        else:
            frame = setup.campus_profile(scenario=name)
            _, tan_peak = _campus_tan_phi(frame, "max")
            idle_p, tan_idle = _campus_tan_phi(frame, "min")
            key = (peak, peak * tan_peak, idle_p, idle_p * tan_idle, float(strat.plant.p_max_mw))
        found.setdefault(key, []).append(name)
    out = []
    for (pk, qk, pi, qi, pm), names in found.items():
        out.append(Corner("peak_charging", pk, qk, pm, 0.0, tuple(names)))
        out.append(Corner("idle_exporting", pi, qi, -pm, 0.0, tuple(names)))
    return out


def _set_state(site: Site, net: pp.pandapowerNet, corner: Corner) -> None:
    """Campus and plant of ``corner`` on ``net``, split over the campus loads and storages as the
    engines split a profile (:func:`gridstudy.studies.qsts.apply.element_series`)."""
    prof = pd.DataFrame({"campus_p_mw": [corner.campus_p_mw], "campus_q_mvar": [corner.campus_q_mvar],
                         "battery_p_mw": [corner.plant_p_mw], "battery_q_mvar": [corner.plant_q_mvar]},
                        index=pd.date_range(_STAMP[0], periods=1, freq="1s"))
    es = element_series(QSTSInputs(site, prof))
    net.load.loc[es.load_index, "p_mw"] = es.load_p_mw[0]
    net.load.loc[es.load_index, "q_mvar"] = es.load_q_mvar[0]
    if len(es.storage_index):
        net.storage.loc[es.storage_index, "p_mw"] = es.storage_p_mw[0]
        net.storage.loc[es.storage_index, "q_mvar"] = es.storage_q_mvar[0]


def solve_state(site: Site, corner: Corner, taps: Mapping[int, float] | None = None) -> tuple[pp.pandapowerNet, str]:
    """The net of ``site`` at ``corner``, solved with its regulating transformers settled.

    Parameters
    ----------
    site : Site
        The site, an outage already taken out (not changed: a copy is solved).
    corner : Corner
    taps : mapping of int to float, optional
        Tap positions to start from (``net.trafo`` index -> position); default: the site's. [-]

    Returns
    -------
    net : pandapowerNet
        The solved copy (its ``trafo.tap_pos`` the settled taps).
    message : str
        Empty when the power flow converged; else why not (never raised: non-convergence is a
        result, voltage collapse).
    """
    net = copy.deepcopy(site.net)
    for t, pos in (taps or {}).items():
        if t in net.trafo.index:
            net.trafo.at[t, "tap_pos"] = pos
    _set_state(site, net, corner)
    add_tap_controllers(site, net)
    try:
        pp.runpp(net, calculate_voltage_angles=True, run_control=bool(site.regulating_trafos))
    except Exception as exc:
        if not is_divergence(exc):
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return net, f"did not converge (voltage collapse): {first}"
    return net, ""


def _state_result(site: Site, net: pp.pandapowerNet, converged: bool) -> QSTSResult:
    """One solved state as a one-step :class:`QSTSResult` (the recorder the engines feed), so
    that the judge reads it as it reads a time series."""
    rec = ResultRecorder(site, _STAMP, RecordSpec(worst_windows=0), engine="pandapower")
    nan = np.nan
    if converged:
        vm = net.res_bus.vm_pu.reindex(net.bus.index).to_numpy(dtype=float)
        load = np.r_[net.res_line.loading_percent.reindex(net.line.index).to_numpy(dtype=float),
                     net.res_trafo.loading_percent.reindex(net.trafo.index).to_numpy(dtype=float)]
        meter = poi_meter(net, site.poi_bus, site.campus_loads, site.storages)
        poi_p, poi_q = poi_meter_pq(net, meter)
        st = list(site.storages)
        values = {"poi_vm_pu": float(net.res_bus.vm_pu.at[site.poi_bus]),
                  "campus_p_mw": float(net.res_load.p_mw.loc[site.campus_loads].sum()),
                  "campus_q_mvar": float(net.res_load.q_mvar.loc[site.campus_loads].sum()),
                  "battery_p_mw": float(net.res_storage.p_mw.loc[st].sum()) if st else 0.0,
                  "battery_q_mvar": float(net.res_storage.q_mvar.loc[st].sum()) if st else 0.0,
                  "grid_p_mw": float(net.res_ext_grid.p_mw.sum()), "grid_q_mvar": float(net.res_ext_grid.q_mvar.sum()),
                  "poi_p_mw": poi_p, "poi_q_mvar": poi_q}
    else:
        vm = np.full(len(net.bus), nan)
        load = np.full(len(net.line) + len(net.trafo), nan)
        values = dict.fromkeys(BASE_SERIES, nan)
    for t in site.regulating_trafos:
        values[tap_series_name(net, t)] = float(net.trafo.at[t, "tap_pos"])
    rec.add_block(0, vm[None, :], load[None, :], {k: np.array([v]) for k, v in values.items()},
                  np.array([converged]), np.zeros(1, dtype=int), np.array([nan]))
    return rec.finish()


def judge_state(site: Site, net: pp.pandapowerNet, message: str, preset: CriteriaPreset,
                case: str) -> tuple[dict[str, Any], list[Finding]]:
    """The row of one solved state and its findings: convergence, every bus against the band of its
    voltage class and ``case`` (``"n-0"``/``"n-1"``), every branch against its normal (N-0) or
    emergency (N-1) rating."""
    ok = not message
    res = _state_result(site, net, ok)
    findings = [convergence_finding(res), bus_band_finding(site, res, preset, case),
                thermal_from_summary(site, res, preset, case)]
    nan = math.nan
    row: dict[str, Any] = {"converged": ok, "poi_vm_pu": nan, "min_vm_pu": nan, "min_vm_bus": "", "max_vm_pu": nan,
                           "max_vm_bus": "", "max_loading_percent": nan, "max_loading_element": "",
                           "poi_p_mw": nan, "poi_q_mvar": nan}
    if ok:
        ser = res.series.iloc[0]
        real = net.bus.index.difference(internal_buses(site))
        vm = net.res_bus.vm_pu.loc[real]
        br = res.branch_summary
        lmax = br.loading_max_percent
        row.update(poi_vm_pu=float(ser["poi_vm_pu"]), min_vm_pu=float(vm.min()),
                   min_vm_bus=str(net.bus.at[vm.idxmin(), "name"]), max_vm_pu=float(vm.max()),
                   max_vm_bus=str(net.bus.at[vm.idxmax(), "name"]),
                   poi_p_mw=float(ser["poi_p_mw"]), poi_q_mvar=float(ser["poi_q_mvar"]))
        if lmax.notna().any():
            row.update(max_loading_percent=float(lmax.max()), max_loading_element=str(br.at[lmax.idxmax(), "name"]))
    row["tap_pos"] = {str(net.trafo.at[t, "name"]): int(net.trafo.at[t, "tap_pos"]) for t in site.regulating_trafos}
    row["violations"] = [f.criterion for f in findings if not f.passed] if ok else ["power flow convergence"]
    row["pass"] = ok and all(f.passed for f in findings)
    row["error"] = message
    return row, findings


def capability_rows(site: Site, corners: list[Corner], preset: CriteriaPreset,
                    outages: list[Outage] | None = None) -> list[dict[str, Any]]:
    """Every corner intact and with each of ``outages`` (default: the site's credible single
    outages), one row each (see :func:`judge_state`)."""
    outages = site_outages(site)[0] if outages is None else outages
    if corners and not site.storages:  # a study with a plant rates (or adds) the site's storage
        raise ValueError(f"site {site.name} has no storage element to put the plant's corners on")
    rows: list[dict[str, Any]] = []
    for c in corners:
        head = {"corner": c.name, "scenarios": list(c.scenarios), "campus_p_mw": c.campus_p_mw,
                "campus_q_mvar": c.campus_q_mvar, "plant_p_mw": c.plant_p_mw, "plant_q_mvar": c.plant_q_mvar}
        net0, msg0 = solve_state(site, c)
        row0, _ = judge_state(site, net0, msg0, preset, "n-0")
        rows.append({**head, "case": "N-0", "outage": INTACT, **row0})
        # after an outage the taps settle again, from where they stood in the intact corner
        taps = {int(t): float(net0.trafo.at[t, "tap_pos"]) for t in site.regulating_trafos} if not msg0 else None
        for o in outages:
            s = outage_site(site, o)
            net, msg = solve_state(s, c, taps)
            row, _ = judge_state(s, net, msg, preset, "n-1")
            rows.append({**head, "case": "N-1", "outage": o.label, **row})
    return rows


@dataclass
class CapabilityOutcome:
    """What the capability stage gives a study: the rows and the ``plant_capability`` block."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    block: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every corner state passes (true without a plant)."""
        return bool(self.block.get("pass", True))

    def table(self) -> pd.DataFrame:
        """The rows as a flat table (``plant_capability.parquet``): lists joined, tap positions as JSON."""
        flat = [{k: (", ".join(map(str, v)) if isinstance(v, list) else json.dumps(v) if isinstance(v, dict) else v)
                 for k, v in r.items()} for r in self.rows]
        return pd.DataFrame(flat)

    def add_to(self, result: Any) -> None:
        """Put the block into a study's result: ``summary["plant_capability"]``, the overall verdict
        (a failing corner fails it) and the table ``plant_capability``."""
        result.summary["plant_capability"] = self.block
        result.summary["pass"] = bool(result.summary["pass"]) and self.passed
        if self.rows:
            result.tables["plant_capability"] = self.table()


def _worst(rows: list[dict[str, Any]], corner: str, case: str) -> dict[str, Any]:
    """The worst voltage and loading of ``corner`` over the states of ``case``."""
    sel = [r for r in rows if r["corner"] == corner and r["case"] == case]
    conv = [r for r in sel if r["converged"]]
    out: dict[str, Any] = {"states": len(sel), "failing": sum(not r["pass"] for r in sel),
                           "not_converged": [r["outage"] for r in sel if not r["converged"]]}
    if conv:
        lo = min(conv, key=lambda r: r["min_vm_pu"])
        hi = max(conv, key=lambda r: r["max_vm_pu"])
        ld = max(conv, key=lambda r: r["max_loading_percent"] if np.isfinite(r["max_loading_percent"]) else -1.0)
        out.update(min_vm_pu=lo["min_vm_pu"], min_vm_bus=lo["min_vm_bus"], min_vm_outage=lo["outage"],
                   max_vm_pu=hi["max_vm_pu"], max_vm_bus=hi["max_vm_bus"], max_vm_outage=hi["outage"],
                   max_loading_percent=ld["max_loading_percent"], max_loading_element=ld["max_loading_element"],
                   max_loading_outage=ld["outage"])
    return out


def capability_block(rows: list[dict[str, Any]], corners: list[Corner]) -> dict[str, Any]:
    """``summary.json``'s ``plant_capability``: the approach, the rows (without findings), the
    verdict and the note."""
    if not corners:
        return {"approach": "corners", "corners": [], "pass": True, "worst": {},
                "note": "No scenario runs a battery plant: the plant can create no corner."}
    passed = all(r["pass"] for r in rows)
    intact = {r["corner"]: r for r in rows if r["case"] == "N-0"}
    pc, ie = intact.get("peak_charging", {}), intact.get("idle_exporting", {})
    note = ("Approach (a), the corners: no POI import or export limit is enforced by the dispatch, so the plant "
            "can create two corners: the campus at its peak with the plant charging at its rating, and the campus "
            "at idle with the plant exporting at its rating (unity power factor). Each is solved intact and after "
            "every credible single outage, the regulating transformers settled (pandapower DiscreteTapControl, from "
            "the site's taps as built for the intact state, from the intact state's for each outage), and judged "
            "like any other state: intact against the N-0 bus bands and normal ratings, after an outage against "
            "the N-1 bands and emergency ratings; a power flow that does not converge is voltage collapse. "
            "A failing corner, intact or after an outage, fails the study's overall verdict.")
    if pc.get("converged") and ie.get("converged"):
        note += (f" At the POI the plant's corners mean {pc['poi_p_mw']:.0f} MW import and "
                 f"{-ie['poi_p_mw']:.0f} MW export intact.")
    return {
        "approach": "corners",
        "corners": rows,
        "pass": passed,
        "n0_pass": all(r["pass"] for r in rows if r["case"] == "N-0"),
        "n1_pass": all(r["pass"] for r in rows if r["case"] == "N-1"),
        "worst": {c: {"N-0": _worst(rows, c, "N-0"), "N-1": _worst(rows, c, "N-1")}
                  for c in CORNER_NAMES if any(r["corner"] == c for r in rows)},
        "taps": "settled at each state (DiscreteTapControl of the base case)",
        "plant_q": "unity power factor at the corners (the reactive strategy is not applied)",
        "note": note,
    }


def capability_stage(setup: StudySetup, site: Site, say: Callable[[str], None] | None = None) -> CapabilityOutcome:
    """The plant's full capability of a study (see the module docstring), on its built ``site``."""
    say = say or (lambda line: None)
    corners = plant_corners(setup)
    outages = site_outages(site)[0]
    say(f"plant full capability: {len(corners)} corners x {1 + len(outages)} states (intact and each credible outage)")
    rows = capability_rows(site, corners, setup.preset, outages)
    return CapabilityOutcome(rows=rows, block=capability_block(rows, corners))
