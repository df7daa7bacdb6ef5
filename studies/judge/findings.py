"""Judge one QSTS result against a criteria preset: the findings of one scenario.

The utility's point of view is the POI: voltage criteria (band, rapid voltage change, flicker,
ride-through) are judged on the POI voltage series; the N-0 band is also checked on every bus of
the site from the streamed per-bus extremes (each bus against the band of its own voltage class).
Grid-side variation and the POI power factor are judged at the POI meter
(:mod:`gridstudy.grid.poi_meter`): the power flowing from the POI bus into the facility, from the
engine's own power flow (series ``poi_p_mw``/``poi_q_mvar``; consumer view, import and absorbed Q
positive), so the losses of the campus and battery transformers and collector lines are included.
The campus-side sums (campus + battery P and Q, without those losses) are shown beside them in
each finding's ``details``, labelled as such; a result without a POI meter reading (saved by an
older version, or a site whose POI is not the facility's only connection) is judged on the
campus-side sums, and its note says so.
A step whose power flow did not converge fails the study (voltage collapse) and is counted.

What is judged is the criteria registry (:data:`REGISTRY`): one :class:`Criterion` per family,
each giving findings with stable ids (``poi_voltage.n-0``, ``flicker``,
``grid_variation.<limit>``...), so that summaries, reports and tools find a finding by its id or
group, never by its display name. A new criterion is one :func:`register` call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from gridstudy.grid.basecase import internal_buses
from gridstudy.grid.site import Site
from gridstudy.studies.criteria import (
    Finding,
    Limit,
    flicker_finding,
    max_p2p_mw,
    max_ramp_mw_per_min,
    power_factor,
    power_factor_finding,
    ramp_finding,
    ride_through_finding,
    rvc_finding,
    step_seconds,
    voltage_band_finding,
    voltage_class,
)
from gridstudy.studies.criteria.load_loss import load_loss_finding
from gridstudy.studies.criteria.presets import CriteriaPreset
from gridstudy.studies.criteria.voltage import VoltageBand
from gridstudy.studies.qsts.results import QSTSResult

__all__ = ["scenario_findings", "scenario_summary", "bus_band_finding", "bus_band", "with_standing", "MEASURED",
           "disturbance_seen", "applicable_to_disturbance", "STATUS_GROUP", "thermal_from_summary",
           "convergence_finding", "Criterion", "Evidence", "REGISTRY", "register", "finding_by_group",
           "grid_side_pq", "slug"]


def _real_buses(site: Site) -> pd.Index:
    """The buses judged: the site's monitored buses (all, where its file names none), without the
    model-internal ones (the Thevenin source's)."""

    buses: pd.Index = site.net.bus.index.difference(internal_buses(site))
    monitored = getattr(site, "monitored_buses", None)
    return buses if monitored is None else buses.intersection(pd.Index(monitored))


def bus_band(site: Site, preset: CriteriaPreset, bus: Hashable, case: str = "n-0") -> VoltageBand:
    """The band a bus is judged against: the POI (the service point) the service band of its
    class (:meth:`CriteriaPreset.band`: ANSI C84.1 service ranges at MV and LV, planning bands at
    HV); the customer's own buses their equipment range (:meth:`CriteriaPreset.equipment_band`)."""
    vn = float(site.net.bus.at[bus, "vn_kv"])
    if bus == site.poi_bus:
        return preset.band(voltage_class(vn), case)
    return preset.equipment_band(voltage_class(vn), case)


def bus_band_finding(site: Site, result: QSTSResult, preset: CriteriaPreset, case: str = "n-0") -> Finding:
    """Every bus's min/max voltage against its band (``case`` N-0 or N-1; :func:`bus_band`)."""
    bs = result.bus_summary.loc[result.bus_summary.index.intersection(_real_buses(site))]
    worst_margin, worst = -math.inf, None
    failing = []
    for b, row in bs.iterrows():
        band = bus_band(site, preset, b, case)
        for side, v, t in (("low", row.vm_min_pu, row.get("vm_min_time")), ("high", row.vm_max_pu, row.get("vm_max_time"))):
            if not np.isfinite(v):
                continue
            margin = band.vmin_pu - v if side == "low" else v - band.vmax_pu
            if margin > worst_margin:
                worst_margin, worst = margin, (b, side, v, t, band)
            if margin > 0:
                failing.append(str(site.net.bus.at[b, "name"]))
    if worst is None:
        return Finding(f"bus voltages {case.upper()} (all buses)", False, math.nan, "pu", None, 0.0, 0, (),
                       note="no converged step")
    b, side, v, t, band = worst
    return Finding(
        criterion=f"bus voltages {case.upper()} (all buses)", passed=not failing, worst_value=float(v),
        worst_unit="pu", when=pd.Timestamp(t) if t is not None and not pd.isna(t) else None,
        seconds_outside=math.nan, events=len(failing), limits=(band.limit(),),
        note=(f"worst bus {site.net.bus.at[b, 'name']} ({side}); the POI against the service range of its class, "
              "the customer's own buses against their equipment range"),
        details={"buses_outside": sorted(set(failing)), "element": str(site.net.bus.at[b, "name"])},
    )


def thermal_from_summary(site: Site, result: QSTSResult, preset: CriteriaPreset, case: str = "n-0") -> Finding:
    """Branch loading maxima against the normal (N-0) or emergency (N-1) rating.

    Emergency ratings are ``emergency_factor`` × normal per branch (site file), else the preset's
    factor.
    """
    br = result.branch_summary
    lim = preset.thermal
    net = site.net
    rows = []
    monitored = getattr(site, "monitored_branches", None)
    watched = None if monitored is None else {(str(t), int(i)) for t, i in monitored}
    for key, row in br.iterrows():
        table, idx = _branch_key(key, row)
        if watched is not None and (table, idx) not in watched:
            continue  # the site file monitors other branches only
        name = str(net[table].at[idx, "name"]) if table else str(key)
        factor = 1.0
        if case == "n-1":
            f = net[table].at[idx, "emergency_factor"] if table and "emergency_factor" in net[table] else np.nan
            factor = float(f) if np.isfinite(f) else float(lim.emergency_rating_factor)
        rows.append((float(row.loading_max_percent) / factor, name, row.get("loading_max_time"), factor))
    rows = [r for r in rows if np.isfinite(r[0])]
    limit_pct = lim.normal_percent if case == "n-0" else lim.emergency_percent
    if not rows:
        return Finding(f"thermal {case.upper()}", False, math.nan, "%", None, 0.0, 0, (), note="no converged step")
    worst = max(rows)
    over = [r[1] for r in rows if r[0] > limit_pct]
    source = lim.source if hasattr(lim, "source") else ""
    return Finding(
        criterion=f"thermal {case.upper()}", passed=not over, worst_value=worst[0], worst_unit="% of rating",
        when=pd.Timestamp(worst[2]) if worst[2] is not None and not pd.isna(worst[2]) else None,
        seconds_outside=math.nan, events=len(over),
        limits=(Limit(f"{'normal' if case == 'n-0' else 'emergency'} rating", limit_pct, "%", source,
                      bool(getattr(lim, "check", True))),),
        note=f"worst branch {worst[1]}" + (f" (emergency = {worst[3]:g} x normal)" if case == "n-1" else ""),
        details={"element": worst[1], "overloaded_elements": over},
    )


def _branch_key(key: Hashable, row: pd.Series) -> tuple[str | None, Hashable]:
    """Map a branch_summary row to (table, index)."""
    if "element" in row and "element_index" in row:
        return str(row["element"]), int(row["element_index"])
    if isinstance(key, tuple) and len(key) == 2:
        return str(key[0]), int(key[1])
    return None, key


def convergence_finding(result: QSTSResult) -> Finding:
    """The power-flow convergence finding of a run: passes when every step converged."""
    n = result.nonconverged_steps
    first = result.first_nonconverged if n else None
    return Finding(
        criterion="power flow convergence", passed=n == 0, worst_value=float(n), worst_unit="steps",
        when=first, seconds_outside=n * result.step_s, events=n,
        limits=(Limit("non-converged steps", 0.0, "steps", "a step that does not converge is voltage collapse"),),
        note="steps whose power flow did not converge (voltage collapse); their voltages are excluded elsewhere",
    )


def _poi_series(result: QSTSResult) -> pd.Series:
    s = result.series["poi_vm_pu"]
    if isinstance(s, pd.DataFrame):
        raise ValueError("the POI voltage must be recorded in full (RecordSpec.envelope_freq=None) to judge it")
    return s


@dataclass(frozen=True)
class Evidence:
    """What a criterion judges: one scenario's QSTS result on its site, with its input profiles."""

    site: Site
    result: QSTSResult
    profiles: pd.DataFrame
    preset: CriteriaPreset
    case: str = "n-0"

    @property
    def poi(self) -> pd.Series:
        """The POI voltage series of the run (recorded in full). [pu]"""
        return _poi_series(self.result)

    @property
    def all_converged(self) -> bool:
        """Whether the run has at least two steps and every step converged."""
        return len(self.poi) >= 2 and bool(self.result.converged.all())


@dataclass(frozen=True)
class Criterion:
    """An entry of the criteria registry.

    Parameters
    ----------
    id : str
        Stable identifier; a finding's ``id`` is this, plus ``.n-0``/``.n-1`` for criteria judged in
        both cases, or plus the limit's slug for criteria with several limits.
    cases : tuple of str
        The cases the criterion is judged in (``"n-0"``, ``"n-1"``).
    judge : callable
        ``Evidence -> list of Finding`` (an empty list: not applicable to this evidence).
    needs_all_converged : bool
        Judged only when every step converged (series criteria; with a non-converged step the
        convergence finding fails instead).
    """

    id: str
    cases: tuple[str, ...]
    judge: Callable[[Evidence], list[Finding]]
    needs_all_converged: bool = False


#: The criteria a scenario is judged on, in report order; :func:`register` adds to it.
REGISTRY: dict[str, Criterion] = {}


def register(criterion: Criterion) -> Criterion:
    """Add ``criterion`` to :data:`REGISTRY` (its id must be new)."""
    if criterion.id in REGISTRY:
        raise ValueError(f"criterion id {criterion.id!r} is already registered")
    REGISTRY[criterion.id] = criterion
    return criterion


def slug(text: str) -> str:
    """A finding id's part from a display name: lower case, runs of other characters as ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _campus_side_pq(result: QSTSResult, profiles: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Campus + battery P and Q (consumer view), without the facility's transformer and line
    losses. [MW, Mvar]"""
    gp = profiles["campus_p_mw"] + profiles["battery_p_mw"]
    gq = profiles["campus_q_mvar"] + profiles["battery_q_mvar"]
    if "battery_q_mvar" in result.series:  # volt-var: Q decided inside the engine
        gq = result.series["campus_q_mvar"] + result.series["battery_q_mvar"]
    return gp.rename("campus_side_p_mw"), gq.rename("campus_side_q_mvar")


def _poi_meter_pq(result: QSTSResult) -> tuple[pd.Series, pd.Series] | None:
    """The POI meter's P and Q per step (``None`` where the result has no complete reading:
    recorded as envelopes, saved without it, or NaN at a converged step). [MW, Mvar]"""
    s = result.series
    if "poi_p_mw" not in s or "poi_q_mvar" not in s:
        return None
    p, q = s["poi_p_mw"], s["poi_q_mvar"]
    if isinstance(p, pd.DataFrame) or isinstance(q, pd.DataFrame):
        return None
    ok = result.converged.to_numpy()
    if not (np.isfinite(p.to_numpy(dtype=float)[ok]).all() and np.isfinite(q.to_numpy(dtype=float)[ok]).all()):
        return None
    return p.rename("poi_p_mw"), q.rename("poi_q_mvar")


def grid_side_pq(result: QSTSResult, profiles: pd.DataFrame) -> tuple[pd.Series, pd.Series, str]:
    """What the POI power factor and the grid-side variation criteria judge.

    Returns
    -------
    p_mw, q_mvar : pandas.Series
        At the POI meter when the result has its reading, else the campus-side sums. [MW, Mvar]
    at : {'poi_meter', 'campus_side'}
        Where they were measured.
    """
    meter = _poi_meter_pq(result)
    if meter is not None:
        return meter[0], meter[1], "poi_meter"
    p, q = _campus_side_pq(result, profiles)
    return p, q, "campus_side"


_AT_NOTE = {"poi_meter": ("Measured at the POI meter: power flowing from the POI bus into the facility "
                          "(campus and battery transformer and collector losses included); campus-side "
                          "sums in details."),
            "campus_side": ("Measured on the campus side (campus + battery, without the facility's "
                            "transformer and line losses): this result has no POI meter reading.")}


def _pf_min(p_mw: pd.Series, q_mvar: pd.Series) -> float:
    """Lowest power factor magnitude over the steps with finite, non-zero power. [-]"""
    pf = np.abs(power_factor(p_mw.fillna(0.0), q_mvar.fillna(0.0)).to_numpy())
    pf = pf[np.isfinite(pf) & np.isfinite(p_mw.to_numpy(dtype=float))]
    return float(pf.min()) if len(pf) else math.nan


#: The window of the summary's peak-to-peak figure ``max_p2p_mw_5s``. [s]
P2P_WINDOW_S = 5.0


def metered_keys(p_mw: pd.Series, q_mvar: pd.Series | None, preset: CriteriaPreset) -> dict[str, float]:
    """The key figures of grid-side power as the criteria's meters read them (the same meters as the
    findings, so a figure and its finding agree): ``max_ramp_mw_per_min``, the largest change between
    consecutive readings of the MW/min meter (1-minute averages by default) per minute [MW/min];
    ``max_p2p_mw_5s``, the largest peak-to-peak within any 5 s of the peak-to-peak meter's readings
    (1-s RMS by default) [MW]; ``poi_pf_min``, the lowest power factor of the power-factor meter's
    readings (15-minute demand intervals by default; NaN without ``q_mvar`` or without one full
    interval) [-]. A series shorter than a meter's window gives 0 (no change read) or NaN; readings
    further apart than 5 s give NaN for the 5-s peak-to-peak (no 5-s window holds two of them)."""
    out: dict[str, float] = {}
    ramp = preset.meters["ramp_rate"].apply(p_mw) if len(p_mw) > 1 else None
    out["max_ramp_mw_per_min"] = float(max_ramp_mw_per_min(ramp)) if ramp is not None and len(ramp) > 1 else 0.0
    pp = preset.meters["peak_to_peak"].apply(p_mw) if len(p_mw) > 1 else None
    if pp is not None and len(pp) > 1 and (pp.index[1] - pp.index[0]).total_seconds() > P2P_WINDOW_S * (1 + 1e-9):
        out["max_p2p_mw_5s"] = math.nan
    else:
        out["max_p2p_mw_5s"] = float(max_p2p_mw(pp, P2P_WINDOW_S)) if pp is not None and len(pp) > 1 else 0.0
    pf_meter = preset.meters["power_factor"]
    pm = pf_meter.apply(p_mw) if q_mvar is not None else None
    qm = pf_meter.apply(q_mvar) if q_mvar is not None else None
    out["poi_pf_min"] = _pf_min(pm, qm) if pm is not None and qm is not None and len(pm) else math.nan
    return out


def _power_factor(ev: Evidence) -> list[Finding]:
    p, q, at = grid_side_pq(ev.result, ev.profiles)
    f = power_factor_finding(p, q, ev.preset.power_factor, meter=ev.preset.meters["power_factor"])
    cp, cq = _campus_side_pq(ev.result, ev.profiles)
    return [replace(f, note=f"{f.note} {_AT_NOTE[at]}",
                    details={**f.details, "measured_at": at, "campus_side_pf_min": _pf_min(cp, cq)})]


def _grid_variation(ev: Evidence) -> list[Finding]:
    p, _, at = grid_side_pq(ev.result, ev.profiles)
    cp = _campus_side_pq(ev.result, ev.profiles)[0]
    out = []
    for lim in ev.preset.ramps:
        meter = ev.preset.meter_for(lim)
        f = ramp_finding(p, lim, meter)
        c = ramp_finding(cp, lim, meter)
        out.append(replace(f, note=f"{f.note} {_AT_NOTE[at]}",
                           details={**f.details, "measured_at": at, "campus_side_worst_mw": c.worst_value,
                                    "campus_side_passed": c.passed}))
    return out


def _poi_class(ev: Evidence) -> str:
    return voltage_class(ev.site.poi_vn_kv)


def disturbance_seen(vm_pu: pd.Series, preset: CriteriaPreset) -> bool:
    """Whether a POI voltage series holds anything the campus's ride-through envelope or its
    disturbance counter responds to: a sample outside the envelope's continuous band or below the
    counter's threshold (a step that did not converge counts: its voltage is unknown)."""
    v = vm_pu.to_numpy(dtype=float)
    env, counter = preset.ride_through, preset.disturbance_counter
    lo = max(env.vmin_pu, counter.threshold_pu)
    return bool(np.isnan(v).any() or (v < lo).any() or (v > env.vmax_pu).any())


def applicable_to_disturbance(f: Finding, ev: Evidence) -> Finding:
    """A ride-through or load-loss finding of a run that applies no grid disturbance: ``not
    applicable`` where the POI voltage never leaves the envelope's continuous band nor falls below
    the disturbance counter's threshold (:func:`disturbance_seen`), since nothing could then make
    the campus transfer to backup and the criterion cannot fail; the sag events judge the campus's
    ride-through of utility-side disturbances. Binding otherwise."""
    if f.standing != "binding" or disturbance_seen(ev.poi.where(ev.result.converged.to_numpy()), ev.preset):
        return f
    env, counter = ev.preset.ride_through, ev.preset.disturbance_counter
    why = (f"Not applicable: the POI voltage of this run stays within {env.vmin_pu:g}-{env.vmax_pu:g} pu (the "
           f"ride-through envelope's continuous band; the disturbance counter counts excursions below "
           f"{counter.threshold_pu:g} pu), so nothing makes the campus transfer to backup and the criterion cannot "
           "fail; the campus's ride-through of utility-side disturbances is judged in the sag events.")
    return replace(f, standing="not applicable", note=f"{why} {f.note}")


for _c in (
    Criterion("convergence", ("n-0", "n-1"), lambda ev: [convergence_finding(ev.result)]),
    Criterion("poi_voltage", ("n-0", "n-1"), lambda ev: [voltage_band_finding(
        ev.poi, ev.preset.band(_poi_class(ev), ev.case), criterion=f"POI voltage {ev.case.upper()}")],
        needs_all_converged=True),
    Criterion("rapid_voltage_change", ("n-0",), lambda ev: [rvc_finding(ev.poi, ev.preset.rvc_limits(_poi_class(ev)))],
              needs_all_converged=True),
    Criterion("flicker", ("n-0",), lambda ev: [flicker_finding(ev.poi, ev.preset.flicker_levels(_poi_class(ev)))],
              needs_all_converged=True),
    Criterion("bus_voltages", ("n-0", "n-1"), lambda ev: [bus_band_finding(ev.site, ev.result, ev.preset, ev.case)]),
    Criterion("thermal", ("n-0", "n-1"), lambda ev: [thermal_from_summary(ev.site, ev.result, ev.preset, ev.case)]),
    Criterion("ride_through", ("n-0", "n-1"), lambda ev: [applicable_to_disturbance(ride_through_finding(
        ev.poi.where(ev.result.converged.to_numpy()), ev.preset.ride_through), ev)]),
    # judged on the POI meter's per-step series: with a non-converged step (no reading there) the
    # convergence finding fails instead, like the other series criteria
    Criterion("poi_power_factor", ("n-0",), _power_factor, needs_all_converged=True),
    Criterion("grid_variation", ("n-0",), _grid_variation, needs_all_converged=True),
):
    register(_c)


def _load_loss(ev: Evidence) -> list[Finding]:
    """Transfers of the campus to backup (disturbance counter or ride-through envelope)."""

    return [applicable_to_disturbance(load_loss_finding(
        ev.poi.where(ev.result.converged.to_numpy()), ev.profiles["campus_p_mw"], ev.preset.disturbance_counter,
        ev.preset.ride_through), ev)]


register(Criterion("load_loss", ("n-0", "n-1"), _load_loss))


def _finding_id(criterion: Criterion, finding: Finding, case: str, several: bool) -> str:
    if several:  # one finding per limit: the limit's name tells them apart
        return f"{criterion.id}.{slug(finding.criterion.split(': ', 1)[-1])}"
    return f"{criterion.id}.{case}" if len(criterion.cases) > 1 else criterion.id


def scenario_findings(site: Site, result: QSTSResult, preset: CriteriaPreset, profiles: pd.DataFrame,
                      case: str = "n-0") -> list[Finding]:
    """All findings of one scenario run: every :data:`REGISTRY` entry judged in ``case``, in order.

    Each finding carries a stable ``id`` and its registry ``group`` (see :class:`Criterion`).
    """
    ev = Evidence(site, result, preset=preset, profiles=profiles, case=case)
    findings: list[Finding] = []
    for c in REGISTRY.values():
        if case not in c.cases or (c.needs_all_converged and not ev.all_converged):
            continue
        made = c.judge(ev)
        for f in made:
            fid = _finding_id(c, f, case, several=len(made) > 1 or c.id == "grid_variation")
            findings.append(with_standing(replace(f, id=fid, group=c.id), preset, ev.result.step_s))
    ids = [f.id for f in findings]
    if len(set(ids)) != len(ids):
        raise ValueError(f"criteria registry gave duplicate finding ids: {ids}")
    return findings


#: How the criteria of the registry that judge the study-step series read their quantity (the
#: grid-side ones name their :class:`~gridstudy.studies.criteria.meter.Meter`); ``{step}`` is the step.
MEASURED = {
    "convergence": "power flow of every study step",
    "poi_voltage": "POI voltage magnitude, each {step}-s study-step sample (a quasi-static phasor)",
    "rapid_voltage_change": "POI voltage magnitude, each {step}-s study-step sample",
    "flicker": "POI voltage magnitude, analytical estimate from the {step}-s steps (IEC 61000-3-7)",
    "bus_voltages": "voltage magnitude of every monitored bus, each {step}-s study-step sample",
    "thermal": "branch loading, each {step}-s study-step sample",
    "ride_through": "POI voltage magnitude, each {step}-s study-step sample",
    "load_loss": "POI voltage magnitude, each {step}-s study-step sample, through the campus's protection",
}


#: Groups whose limits take the status the study file gives another group (the Plt's planning level
#: is the flicker planning levels' second row).
STATUS_GROUP = {"flicker_plt": "flicker"}


def with_standing(f: Finding, preset: CriteriaPreset, step_s: float | None = None) -> Finding:
    """``f`` with its standing for the study of ``preset`` and every limit's meter named.

    A binding finding whose every limit is a rule of another region than the study's
    (:meth:`CriteriaPreset.binding`) becomes ``reference (other region)``: shown, not counted.
    Limits without a meter get the registry's description of how their group reads its quantity
    (:data:`MEASURED`); a group named in the preset's ``status`` gets that status on every limit.
    """
    step = f"{step_s:g}" if step_s is not None else "study"
    how = MEASURED.get(f.group, "")
    fine = f.details.get("fluctuation_step_s")
    if f.details.get("method") == "iec61000-4-15":  # the sub-second windows' flickermeter
        how = ("POI voltage magnitude at the sub-second step" + (f" of {1000 * float(fine):g} ms" if fine else "")
               + " through the IEC 61000-4-15 flickermeter")
    elif f.id.endswith("sub-second") and f.group == "rapid_voltage_change":
        how = "POI voltage magnitude, each sample of the sub-second windows"
    limits = tuple(replace(lim, meter=how.format(step=step)) if not lim.meter and how else lim for lim in f.limits)
    group = STATUS_GROUP.get(f.group, f.group)
    if group in preset.status:  # the status the study file gives the group's limits
        limits = tuple(replace(lim, status=preset.status[group]) for lim in limits)
    standing = f.standing
    if standing == "binding" and f.limits and not any(preset.binding(lim.region) for lim in f.limits):
        standing = "reference (other region)"
    return replace(f, limits=limits, standing=standing)


def finding_by_group(findings: list[Finding], group: str) -> Finding | None:
    """The first finding of a registry entry (``None`` when it was not judged)."""
    return next((f for f in findings if f.group == group), None)


def scenario_summary(site: Site, result: QSTSResult, findings: list[Finding], profiles: pd.DataFrame,
                     preset: CriteriaPreset) -> dict[str, Any]:
    """The per-scenario keys of ``summary.json``.

    ``poi_pf_min`` is the lowest power factor at the POI meter (NaN without a meter reading);
    ``max_ramp_mw_per_min`` and ``max_p2p_mw_5s`` are measured at the POI meter as well, and on the
    campus side only where the meter has no reading at every step (``grid_side_measured_at``
    says which); all three as the criteria's meters read them (:func:`metered_keys`).
    """

    poi = _poi_series(result)
    conv = result.converged.to_numpy()
    band = preset.band(voltage_class(site.poi_vn_kv), "n-0")
    meter = _poi_meter_pq(result)
    gp, _, at = grid_side_pq(result, profiles)
    if not np.isfinite(gp.to_numpy(dtype=float)).all():  # a non-converged step has no meter reading
        gp, at = _campus_side_pq(result, profiles)[0], "campus_side"
    poi_ok = poi[conv]
    flick = finding_by_group(findings, "flicker")
    rvc = finding_by_group(findings, "rapid_voltage_change")
    rt = finding_by_group(findings, "ride_through")
    outside = int(((poi_ok < band.vmin_pu) | (poi_ok > band.vmax_pu)).sum()) * step_seconds(poi.index)
    return {
        "pass": all(f.passed for f in findings if f.counts),
        "poi_vm_pu_min": float(poi_ok.min()) if len(poi_ok) else math.nan,
        "poi_vm_pu_max": float(poi_ok.max()) if len(poi_ok) else math.nan,
        "seconds_outside_n0_band": float(outside),
        "n0_band_pu": [band.vmin_pu, band.vmax_pu],
        "rvc_events": int(rvc.events) if rvc is not None else 0,
        "pst_max": float(flick.details.get("pst_max", flick.worst_value)) if flick is not None else math.nan,
        "plt_max": float(flick.details.get("plt_max", math.nan)) if flick is not None else math.nan,
        **metered_keys(gp, meter[1] if meter is not None else None, preset),
        "poi_p_mw_max": float(gp.max()) if len(gp) else math.nan,
        "grid_side_measured_at": at,
        "nonconverged_steps": result.nonconverged_steps,
        "ride_through_trips": int(rt.events) if rt is not None else 0,
        "load_loss_mw_max": float(ll.worst_value) if (ll := finding_by_group(findings, "load_loss")) else 0.0,
        "tap_operations": int(result.tap_operations.sum()) if len(result.tap_operations) else 0,
        "battery_saturated_steps": int(profiles["saturated"].sum()) if "saturated" in profiles else 0,
        "criteria": [f.to_dict() for f in findings],
        "failed": [f.criterion for f in findings if not f.passed and f.counts],
        # criteria that decide the verdict; those not applicable to this scenario are listed, not counted
        "criteria_counted": sum(f.counts for f in findings),
        "not_applicable": [f.criterion for f in findings if f.standing == "not applicable"],
        "reference_failed": [f.criterion for f in findings if not f.passed and not f.counts],
    }
