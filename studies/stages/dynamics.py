"""The RMS (dynamic) check of a study's worst moments, with ANDES (the ``dynamics`` extra).

The quasi-static steps see the voltage a campus swing causes, not how the grid and the plant
respond in time. This stage runs an RMS time-domain simulation (ANDES, positive-sequence phasor
dynamics) of each case the study's ``[dynamics]`` names
(:class:`gridstudy.studies.spec.interconnection.DynamicsSection`):

- **window**: the worst sub-second window of each scenario (its flicker verdict's window) or a
  named one, ``window_s`` of it around its largest campus edge (a quarter before the edge, the
  rest after; the whole judged part when shorter), so the cost stays bounded whatever the
  window's length; campus and plant power from the window's quasi-static run
  (:class:`gridstudy.studies.stages.fluctuation.WindowRun`);
- **sag**: each sag event (:mod:`gridstudy.studies.stages.sag`) with the study's plant
  (``with_battery``; ``without_battery`` when the study has none), the campus and plant power of
  the event's quasi-static run (after any transfer to backup), the utility-side sag as a drop of
  the classical machine's internal voltage by the event's retained ratio (``GENCLS``: the
  quasi-static definition, a drop of the source voltage) or, for the round-rotor machine, whose
  internal voltage is its fluxes', a fault at its terminal whose reactance retains the event's
  voltage against X''d at the onset (:func:`_sag_notes` says why that one differs);
- **load loss**: the campus at its peak (the larger of the site's rating and the horizon's
  highest draw, the *campus trip* of :mod:`gridstudy.studies.stages.load_loss`), battery idle,
  tripped to zero one second in, run for ``load_loss_s``.

Each case is exported at its start with :mod:`gridstudy.studies.export` (RAW v33 + DYR: the grid
equivalent of the site's ``[dynamics.grid]``, the plant as ``REGCA1 + REECA1 + REPCA1``) and
loaded by ANDES. A plant that is grid-forming in the study runs, with ``plant = "model"``, as ANDES
``REGF1`` (droop) or ``REGF2`` (virtual synchronous machine) at its EMF node behind the virtual
impedance (:func:`_forming_site`, :func:`gridstudy.studies.export.dyr.grid_forming_andes`), its
set-point the dispatch's, written between steps into the reference of its power loop: the loop
itself supplies the fast share of every edge, as in the quasi-static engines. The campus is a
**constant-power load driven by its time series** (ANDES ``PQ``
with ``p2p = q2q = 1``, its ``Ppf``/``Qpf`` set before each step). The plant is, with
``plant = "model"``, the generic models with their power order (``REECA1.Pref0``) set to the
dispatch's delivered power each step (the dispatch already carries the plant's delays, so the
models' lags are set to their shortest, :data:`gridstudy.studies.export.dyr.MIN_LAG_S`, and the
active-current floor of ``REECA1``, zero in ANDES, is set to ``-Imax`` so the plant can charge, as
REEC_C, the storage variant, allows); with
``plant = "schedule"``, a constant-power injection of the same schedule. Taps are held at the
case start (the RAW case has no tap control). Recorded per step: POI voltage, POI power (the POI
meter, :mod:`gridstudy.grid.poi_meter`, from the branch flows at the POI bus), grid frequency (the
grid equivalent's speed x nominal frequency) and plant P/Q (consumer sign, as the study's
``battery_p_mw``).

A run that fails to start or diverges is a result (``converged: false``), not an error.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandapower as pp
import pandas as pd

from gridstudy.grid.poi_meter import poi_meter
from gridstudy.grid.spec import GridEquivalentSpec
from gridstudy.models.grid_forming import GridFormingControl
from gridstudy.models.timeindex import drive_index
from gridstudy.studies.errors import MissingExtraError
from gridstudy.studies.export.dyr import grid_forming_andes, grid_records, plant_records
from gridstudy.studies.export.raw import SBASE_MVA, raw_case
from gridstudy.studies.spec.interconnection import WORST_WINDOW
from gridstudy.studies.stages.contingency import window_start_site
from gridstudy.studies.stages.load_loss import campus_off_rise

if TYPE_CHECKING:
    from gridstudy.grid.site import Site
    from gridstudy.studies.qsts.results import QSTSResult
    from gridstudy.studies.setup import StudySetup
    from gridstudy.studies.spec.interconnection import DynamicsSection
    from gridstudy.studies.stages.fluctuation import Assessment, WindowRun

__all__ = ["RmsCase", "RmsResult", "DynamicsOutcome", "require_andes", "run_case", "drive_index", "window_case", "sag_cases",
           "load_loss_case", "dynamics_stage", "COLUMNS", "LOAD_LOSS_AT_S"]

#: Columns of ``dynamics.parquet``.
COLUMNS = ("scenario", "case", "time", "poi_vm_pu", "poi_p_mw", "freq_hz", "plant_p_mw", "plant_q_mvar")

#: When the load-loss case trips the campus. [s]
LOAD_LOSS_AT_S = 1.0


def require_andes(option: str = "[dynamics] enabled = true") -> None:
    """Refuse, before anything runs, an option that needs ANDES where it is not installed
    (:class:`~gridstudy.studies.errors.MissingExtraError`, exit code 3, naming the extra)."""
    if importlib.util.find_spec("andes") is None:
        raise MissingExtraError(option, "dynamics", "andes")


@dataclass
class RmsCase:
    """One RMS case: the site at its start and what drives it.

    Attributes
    ----------
    scenario, case, kind : str
        Scenario, the case's label, ``window`` | ``sag`` | ``load_loss``.
    site : Site
        The site at the case's start: campus, plant and taps as the quasi-static run had them.
    start : pandas.Timestamp
        The case's first instant (``time`` of its rows).
    t_s : numpy.ndarray
        Times of the driving series from ``start``, evenly spaced. [s]
    campus_p_mw, campus_q_mvar : numpy.ndarray
        Campus draw on ``t_s``. [MW], [Mvar]
    plant_p_mw, plant_q_mvar : numpy.ndarray
        Plant schedule on ``t_s`` (consumer sign). [MW], [Mvar]
    sags : list of (float, float, float)
        ``(start, end, retained voltage)`` of each utility-side sag. [s], [s], [pu]
    qsts : pandas.DataFrame
        The quasi-static ``poi_vm_pu`` and ``poi_p_mw`` on ``t_s`` (index ``t_s``), to compare with.
    notes : list of str
        What the quasi-static run had that the RMS case does not (volt-var, a voltage-dependent campus).
    window : str or None
        The sub-second window's label (window cases).
    forming : GridFormingControl or None
        The plant's grid-forming parameters when it is grid-forming in the study (run, with
        ``plant = "model"``, as its grid-forming model, :func:`run_case`).
    plant_set_p_mw : numpy.ndarray or None
        A grid-forming plant's active-power set-point on ``t_s`` (consumer sign; the dispatch's
        slow value); ``None``: held at the case start's. [MW]
    """

    scenario: str
    case: str
    kind: str
    site: Site
    start: pd.Timestamp
    t_s: np.ndarray
    campus_p_mw: np.ndarray
    campus_q_mvar: np.ndarray
    plant_p_mw: np.ndarray
    plant_q_mvar: np.ndarray
    qsts: pd.DataFrame
    sags: list[tuple[float, float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    window: str | None = None
    forming: GridFormingControl | None = None
    plant_set_p_mw: np.ndarray | None = None


@dataclass
class RmsResult:
    """An RMS case's series (``dynamics.parquet`` rows) and its ``summary.json`` entry."""

    series: pd.DataFrame
    summary: dict[str, Any]


@dataclass
class DynamicsOutcome:
    """What the stage gives :meth:`~gridstudy.studies.study.Study.summarize`."""

    table: pd.DataFrame
    block: dict[str, Any]


def _campus_shares(site: Site) -> np.ndarray:
    """Each campus load's share of the campus draw (the split of the QSTS engines: base P). [-]"""
    p = site.net.load.loc[list(site.campus_loads), "p_mw"].to_numpy(dtype=float)
    return p / p.sum() if p.sum() else np.full(len(p), 1.0 / max(len(p), 1))


def _storage_shares(site: Site) -> np.ndarray:
    """Each storage's share of the plant's power (the split of the QSTS engines: energy). [-]"""
    e = site.net.storage.loc[list(site.storages), "max_e_mwh"].to_numpy(dtype=float)
    return e / e.sum() if len(e) and e.sum() else np.full(len(e), 1.0 / max(len(e), 1))


def _set_point(site: Site, campus_p: float, campus_q: float, plant_p: float, plant_q: float) -> Site:
    """A copy of ``site`` with the campus and the plant at the given power."""
    s = copy.copy(site)
    s.net = copy.deepcopy(site.net)
    loads = list(site.campus_loads)
    sh = _campus_shares(site)
    s.net.load.loc[loads, "p_mw"] = campus_p * sh
    s.net.load.loc[loads, "q_mvar"] = campus_q * sh
    if len(site.storages):
        st = list(site.storages)
        w = _storage_shares(site)
        s.net.storage.loc[st, "p_mw"] = plant_p * w
        s.net.storage.loc[st, "q_mvar"] = plant_q * w
    return s


def _grid_spec(study: StudySetup, dy: DynamicsSection) -> GridEquivalentSpec:
    """The grid equivalent: the site's ``[dynamics.grid]`` (defaults for a site given as a built net)
    with the machine model ``[dynamics] machine`` asks for."""
    g = study.site_spec.dynamics.grid if study.site_spec is not None else GridEquivalentSpec()
    if dy.machine != "site" and dy.machine != g.model:
        g = GridEquivalentSpec.model_validate({**g.model_dump(), "model": dy.machine})
    return g


def _schedule_site(site: Site) -> tuple[Site, list[int]]:
    """The plant of ``site`` as constant-power loads at its buses (the fixed schedule), and the
    indices of those loads."""
    s = copy.copy(site)
    s.net = copy.deepcopy(site.net)
    net = s.net
    new = [int(pp.create_load(net, bus=int(net.storage.at[i, "bus"]), p_mw=float(net.storage.at[i, "p_mw"]),
                              q_mvar=float(net.storage.at[i, "q_mvar"]), name=f"plant schedule {net.storage.at[i, 'name']}",
                              in_service=bool(net.storage.at[i, "in_service"])))
           for i in site.storages]
    net.storage.loc[list(site.storages), "in_service"] = False
    s.storages = []
    return s, new


def _forming_site(site: Site, control: GridFormingControl) -> tuple[Site, int, int, float]:
    """The grid-forming plant of ``site`` as one machine at its EMF node behind the virtual
    impedance: ``(site, EMF bus, terminal bus, plant MVA)``.

    A copy of the net gets an internal bus at the storages' voltage level, a pandapower
    ``impedance`` ``Z_v`` (on the plant's MVA) from it to the storages' bus (the terminal), and the
    plant as one storage there (the storages merged: one machine, one loop, as the quasi-static
    engines run it) whose power is the terminal power plus the losses in ``Z_v``: the power flow
    of the copy leaves every other bus as it was (:mod:`gridstudy.studies.qsts.grid_forming`)."""
    s = copy.copy(site)
    s.net = copy.deepcopy(site.net)
    net = s.net
    st = [int(i) for i in site.storages if bool(net.storage.at[i, "in_service"])]
    pp.runpp(net, calculate_voltage_angles=True)
    term = int(net.storage.at[st[0], "bus"])
    sn = float(net.storage.loc[st, "sn_mva"].sum())
    p_t = -float(net.res_storage.loc[st, "p_mw"].sum())  # generator sign
    q_t = -float(net.res_storage.loc[st, "q_mvar"].sum())
    v_t = float(net.res_bus.at[term, "vm_pu"])
    i2 = (p_t * p_t + q_t * q_t) / (v_t * v_t) / (sn * sn)  # |I|² on the plant's MVA at 1 pu voltage
    emf = int(pp.create_bus(net, vn_kv=float(net.bus.at[term, "vn_kv"]), name="grid-forming plant EMF"))
    pp.create_impedance(net, emf, term, rft_pu=control.r_pu, xft_pu=control.x_pu, rtf_pu=control.r_pu,
                        xtf_pu=control.x_pu, sn_mva=sn, name="grid-forming plant virtual impedance")
    keep = st[0]
    net.storage.loc[st[1:], "in_service"] = False
    net.storage.at[keep, "bus"] = emf
    net.storage.at[keep, "sn_mva"] = sn
    net.storage.at[keep, "max_e_mwh"] = float(net.storage.loc[st, "max_e_mwh"].sum())
    net.storage.at[keep, "p_mw"] = -(p_t + i2 * control.r_pu * sn)
    net.storage.at[keep, "q_mvar"] = -(q_t + i2 * control.x_pu * sn)
    s.storages = [keep]
    return s, emf, term, sn


def _branch_flow(ss: Any, uid: np.ndarray, at_bus1: np.ndarray, v: np.ndarray, a: np.ndarray,
                 reactive: bool = False) -> np.ndarray:
    """Active (``reactive``: reactive) power into ANDES ``Line`` devices ``uid`` at bus 1
    (``at_bus1``) or bus 2, for voltages ``v`` and angles ``a`` of shape (steps, buses), ANDES's own
    branch equations. [pu]"""
    ln = ss.Line
    b1 = ss.Bus.idx2uid(list(np.asarray(ln.bus1.v)[uid]))
    b2 = ss.Bus.idx2uid(list(np.asarray(ln.bus2.v)[uid]))
    gh, ghk, bhk, bh = (np.asarray(x.v)[uid] for x in (ln.gh, ln.ghk, ln.bhk, ln.bh))
    u = np.asarray(ln.u.v)[uid]
    itap = np.asarray(ln.itap.v)[uid]
    phi = np.asarray(ln.phi.v)[uid]
    v1, v2, d = v[:, b1], v[:, b2], a[:, b1] - a[:, b2] - phi
    if reactive:
        f1 = -v1 ** 2 * (bh + bhk) * itap ** 2 - v1 * v2 * (ghk * np.sin(d) - bhk * np.cos(d)) * itap
        f2 = -v2 ** 2 * (bh + bhk) + v1 * v2 * (ghk * np.sin(d) + bhk * np.cos(d)) * itap
    else:
        f1 = v1 ** 2 * (gh + ghk) * itap ** 2 - v1 * v2 * (ghk * np.cos(d) + bhk * np.sin(d)) * itap
        f2 = v2 ** 2 * (gh + ghk) - v1 * v2 * (ghk * np.cos(d) - bhk * np.sin(d)) * itap
    out: np.ndarray = np.where(at_bus1, f1, f2) * u
    return out


def run_case(case: RmsCase, grid: GridEquivalentSpec, step_s: float, plant: str = "model",
             f_hz: float = 60.0) -> RmsResult:
    """Run one RMS case with ANDES (see the module docstring).

    Parameters
    ----------
    case : RmsCase
        The case.
    grid : GridEquivalentSpec
        The grid equivalent's machine.
    step_s : float
        Integration step (fixed). [s]
    plant : {'model', 'schedule'}
        The plant as its generic models driven by the schedule, or as the schedule itself.
    f_hz : float
        Nominal frequency. [Hz]
    """
    import andes  # the optional dynamics extra

    site = case.site
    schedule = plant == "schedule" or not len(site.storages)
    forming = case.forming if not schedule else None
    emf = term = -1
    gfm_model, gfm_par = "", dict[str, float]()
    if forming is not None:  # the plant as its grid-forming model at its EMF node
        run_site, emf, term, mva_f = _forming_site(site, forming)
        gfm_model, gfm_par = grid_forming_andes(forming, mva_f)
        sched: list[int] = []
        mva: float | None = mva_f
    else:
        run_site, sched = _schedule_site(site) if schedule and len(site.storages) else (site, [])
        mva = float(site.net.storage.loc[list(site.storages), "sn_mva"].sum()) if len(site.storages) else None
    rc = raw_case(run_site, title=case.case, swing_mva=grid.mva_base,
                  swing_x_pu=grid.xd1_pu if grid.model == "GENCLS" else grid.xd2_pu, swing_r_pu=grid.ra_pu,
                  plant_mva=None if schedule else mva)
    records = list(grid_records(*rc.swing, grid))
    if not schedule and forming is None:
        for b, gid in rc.plant:  # the power order limited at each machine's rating
            records += plant_records(b, gid, rc.plant_mva[(b, gid)], rc.plant_mva[(b, gid)], None)
    # what the meter counts: the branches from the POI node into the facility and its own elements
    meter = poi_meter(site.net, site.poi_bus, site.campus_loads, site.storages)  # the same buses as run_site's
    poi_nums = {rc.bus_number[b] for b in meter.poi_buses}
    fac_nums = {rc.bus_number[b] for b in meter.facility_buses}

    t0 = time.perf_counter()
    log = logging.getLogger("andes")
    with tempfile.TemporaryDirectory() as tmp:
        raw, dyr = Path(tmp) / "case.raw", Path(tmp) / "case.dyr"
        raw.write_text(rc.text)
        dyr.write_text("\n".join(records) + "\n")
        andes.config_logger(stream_level=50, file=False, log_path=tmp)  # no log folder of its own in the temporary folder
        log.disabled = True
        try:
            ss = andes.load(str(raw), addfile=str(dyr), setup=False, no_output=True, default_config=True)
            if forming is not None:
                for k, (b, _gid) in enumerate(rc.plant):  # the machine at the EMF node is the model's static gen
                    gen = next(i for i, bb in zip(ss.PV.idx.v, ss.PV.bus.v, strict=True) if bb == b)
                    ss.add(gfm_model, {"idx": f"gfm{k}", "bus": b, "gen": gen, **gfm_par})
            sw_x = (grid.xd1_pu if grid.model == "GENCLS" else grid.xd2_pu) * SBASE_MVA / grid.mva_base
            for k, (a0, a1, vm) in enumerate(case.sags if grid.model == "GENROU" else []):
                # the source reactance and the fault reactance divide the internal voltage: xf = vm/(1-vm) x
                xf = max(vm / max(1.0 - vm, 1e-6) * sw_x, 1e-9)
                ss.add("Fault", {"idx": f"sag{k}", "bus": rc.swing[0], "tf": a0, "tc": a1, "xf": xf, "rf": 0.0})
            ss.setup()
            ok_pf = bool(ss.PFlow.run())
        finally:
            log.disabled = False
    base = ss.config.mva
    campus_uids = [ss.PQ.idx2uid(f"PQ_{k + 1}") for k, idx in enumerate(rc.loads)
                   if idx in set(site.campus_loads)]
    plant_uids = [ss.PQ.idx2uid(f"PQ_{k + 1}") for k, idx in enumerate(rc.loads) if idx in set(sched)]
    sh = _campus_shares(site)
    wsh = _storage_shares(site) if len(site.storages) else np.zeros(0)
    n = len(case.t_s)
    dt = float(case.t_s[1] - case.t_s[0]) if n > 1 else step_s
    ree = getattr(ss, "REECA1", None)
    n_ree = int(ree.n) if not schedule and forming is None and ree is not None else 0
    has_ree = n_ree > 0
    gfm = getattr(ss, gfm_model) if forming is not None else None
    set_p = case.plant_set_p_mw if forming is not None else None

    # a utility-side sag with the classical machine: its internal voltage (GENCLS ``vf0``, the EMF
    # behind X'd) scaled by the event's retained ratio on the samples inside the sag, the
    # quasi-static definition (a drop of the source voltage itself)
    emf_ratio = np.ones(n)
    if grid.model == "GENCLS":
        for a0, a1, vm in case.sags:
            emf_ratio[(case.t_s >= a0 - 1e-9) & (case.t_s < a1 - 1e-9)] = vm
    emf0: list[np.ndarray] = []

    def sample(x: np.ndarray, t: float) -> float:
        return float(x[min(max(int(drive_index(np.array([t]), dt)[0]), 0), n - 1)])

    def drive(t: float, system: Any) -> None:
        cp, cq = sample(case.campus_p_mw, t), sample(case.campus_q_mvar, t)
        for k, uid in enumerate(campus_uids):
            system.PQ.Ppf.v[uid] = cp * sh[k] / base
            system.PQ.Qpf.v[uid] = cq * sh[k] / base
        pp_, pq_ = sample(case.plant_p_mw, t), sample(case.plant_q_mvar, t)
        for k, uid in enumerate(plant_uids):
            system.PQ.Ppf.v[uid] = pp_ * wsh[k] / base
            system.PQ.Qpf.v[uid] = pq_ * wsh[k] / base
        if case.sags and grid.model == "GENCLS":
            if not emf0:
                emf0.append(np.array(system.GENCLS.vf0.v, dtype=float))
            system.GENCLS.vf0.v[:] = emf0[0] * sample(emf_ratio, t)
        if has_ree:  # the power order of each plant machine, generator sign on the system base
            # a battery charges: REEC_C lets the active current go negative, ANDES's REECA1 floors it at
            # 0 (a solar plant); its floor set to -Imax (a constant the limiter reads at every step)
            system.REECA1.Ipmin.v[:] = -system.REECA1.Imax.v
            for k in range(n_ree):  # qref0 = -Q of the machine (REECA1: Iqcmd0 = -q0 / v, qref0 = Iqcmd0 v)
                system.REECA1.Pref0.v[k] = -pp_ * wsh[k] / base
                system.REECA1.qref0.v[k] = pq_ * wsh[k] / base
        if set_p is not None and gfm is not None:
            # the grid-forming loop's reference: the integrator of its P-limit PI (idle within the
            # limits, so its state is the reference the droop or swing equation acts on), set
            # between steps to the dispatch's set-point, generator sign on the system base
            getattr(system, gfm_model).PIplim_xi.v[:] = -sample(set_p, t) / base

    converged, reason = ok_pf, "" if ok_pf else "the power flow of the case did not converge"
    tf = float(case.t_s[-1]) if n > 1 else step_s
    if converged:
        ss.PQ.config.p2p, ss.PQ.config.p2i, ss.PQ.config.p2z = 1.0, 0.0, 0.0
        ss.PQ.config.q2q, ss.PQ.config.q2i, ss.PQ.config.q2z = 1.0, 0.0, 0.0
        ss.TDS.config.tf, ss.TDS.config.tstep = tf, step_s
        ss.TDS.config.fixt, ss.TDS.config.shrinkt, ss.TDS.config.no_tqdm = 1, 1, 1
        ss.TDS.config.criteria = 0  # a large angle separation is for this check to report, not to stop
        ss.TDS.callpert = drive
        log.disabled = True
        try:
            ok = ss.TDS.run()  # initialises, stores t = 0, then steps
            if not ss.TDS.initialized:
                converged, reason = False, "the dynamic models did not initialise at the case start"
            elif not ok or ss.TDS.busted:
                converged, reason = False, "the time-domain simulation diverged"
        finally:
            log.disabled = False
    elapsed = time.perf_counter() - t0
    ts = ss.dae.ts
    t = np.asarray(ts.t, dtype=float)
    ns = np.round(t * 1e9)  # the time column's resolution
    last = np.r_[ns[1:] > ns[:-1], True] if len(t) else np.zeros(0, dtype=bool)  # one point per time: the last
    t = t[last]
    rows = len(t)
    if rows:
        y, x = np.asarray(ts.y, dtype=float)[last], np.asarray(ts.x, dtype=float)[last]
        va, aa = y[:, np.asarray(ss.Bus.v.a)], y[:, np.asarray(ss.Bus.a.a)]
        poi = ss.Bus.idx2uid(rc.poi_bus)
        gen = ss.GENROU if grid.model == "GENROU" else ss.GENCLS
        freq = x[:, np.asarray(gen.omega.a)][:, 0] * f_hz
        # the POI meter: lines between the POI node and the facility, at their POI end
        b1 = np.asarray(ss.Line.bus1.v)
        b2 = np.asarray(ss.Line.bus2.v)
        cut1 = np.isin(b1, list(poi_nums)) & np.isin(b2, list(fac_nums))
        cut2 = np.isin(b2, list(poi_nums)) & np.isin(b1, list(fac_nums))
        uid = np.flatnonzero(cut1 | cut2)
        flow = _branch_flow(ss, uid, cut1[uid], va, aa).sum(axis=1) if len(uid) else np.zeros(rows)
        at = np.clip(drive_index(np.asarray(t, dtype=float), dt), 0, n - 1)  # the driving sample of each point
        drv_p = np.asarray(case.campus_p_mw, dtype=float)[at]
        own = sum(sh[k] for k, i in enumerate(site.campus_loads) if int(site.net.load.at[i, "bus"]) in meter.poi_buses)
        poi_p = flow * base + own * drv_p
        if has_ree:
            plant_p = -y[:, np.asarray(ss.REGCA1.Pe.a)].sum(axis=1) * base
            plant_q = -y[:, np.asarray(ss.REGCA1.Qe.a)].sum(axis=1) * base
        elif forming is not None:  # the power into the virtual impedance at the terminal: the plant's, negated
            e_n, t_n = rc.bus_number[emf], rc.bus_number[term]
            vz = np.flatnonzero(((b1 == e_n) & (b2 == t_n)) | ((b1 == t_n) & (b2 == e_n)))
            at1 = b1[vz] == t_n
            plant_p = _branch_flow(ss, vz, at1, va, aa).sum(axis=1) * base
            plant_q = _branch_flow(ss, vz, at1, va, aa, reactive=True).sum(axis=1) * base
        else:
            plant_p = np.asarray(case.plant_p_mw, dtype=float)[at]
            plant_q = np.asarray(case.plant_q_mvar, dtype=float)[at]
        series = pd.DataFrame({"scenario": case.scenario, "case": case.case,
                               "time": case.start + pd.to_timedelta(t, unit="s"), "poi_vm_pu": va[:, poi],
                               "poi_p_mw": poi_p, "freq_hz": freq, "plant_p_mw": plant_p, "plant_q_mvar": plant_q})
    else:
        series = pd.DataFrame({c: [] for c in COLUMNS})
    rms_v = pd.Series(series["poi_vm_pu"].to_numpy(dtype=float), index=t) if rows else pd.Series(dtype=float)
    q = case.qsts
    if rows and len(q):
        # at each quasi-static step, the RMS solution driven by the same sample: the last RMS point
        # whose driving sample is that step's (ANDES adds points at a fault's switching times, and a
        # step it shortens to converge shifts its later points off the series' instants)
        tq = q.index.to_numpy(dtype=float)
        j = np.clip(np.searchsorted(drive_index(t, dt), drive_index(tq, dt), side="right") - 1, 0, rows - 1)
        on = rms_v.to_numpy()[j]
        inside = tq <= t[-1] + 1e-9
        dv = np.abs(on - q["poi_vm_pu"].to_numpy(dtype=float))[inside]
        dv = dv[np.isfinite(dv)]
        max_dv = float(dv.max()) if len(dv) else math.nan
        dp = np.abs(series["poi_p_mw"].to_numpy(dtype=float)[j] - q["poi_p_mw"].to_numpy(dtype=float))[inside]
        dp = dp[np.isfinite(dp)]
        max_dp = float(dp.max()) if len(dp) else math.nan
    else:
        max_dv = max_dp = math.nan
    summary = {
        "scenario": case.scenario, "case": case.case, "kind": case.kind, "window": case.window, "start": case.start,
        "load_loss_mw": float(case.campus_p_mw[0] - case.campus_p_mw[-1]) if case.kind == "load_loss" else None,
        "duration_s": float(t[-1]) if rows else 0.0, "step_s": step_s, "converged": bool(converged),
        "reason": reason or None, "max_abs_dv_vs_qsts_pu": max_dv, "max_abs_dp_vs_qsts_mw": max_dp,
        "freq_min_hz": float(series["freq_hz"].min()) if rows else math.nan,
        "freq_max_hz": float(series["freq_hz"].max()) if rows else math.nan,
        "poi_vm_min_pu": float(series["poi_vm_pu"].min()) if rows else math.nan,
        "poi_vm_max_pu": float(series["poi_vm_pu"].max()) if rows else math.nan,
        "qsts_poi_vm_min_pu": float(q["poi_vm_pu"].min()) if len(q) else math.nan,
        "qsts_poi_vm_max_pu": float(q["poi_vm_pu"].max()) if len(q) else math.nan,
        "machine": grid.model, "plant": "schedule" if schedule else "model",
        "plant_model": (gfm_model if forming is not None else "REGCA1+REECA1+REPCA1") if not schedule else None,
        "runtime_s": elapsed,
        "notes": list(case.notes) + _sag_notes(case, grid), "sags_s": [[a, b, vm] for a, b, vm in case.sags],
        "pre_event_poi_vm_pu": float(series["poi_vm_pu"].iloc[0]) if rows else math.nan,
    }
    return RmsResult(series, summary)


def _sag_notes(case: RmsCase, grid: GridEquivalentSpec) -> list[str]:
    """How the RMS case represents its utility-side sags, and why it differs from the quasi-static
    event where it does (``docs/sources/network.md §7``)."""
    if not case.sags:
        return []
    if grid.model == "GENCLS":
        return ["the sag drops the classical machine's internal voltage by the event's retained ratio, the quasi-static "
                "definition (a drop of the source voltage): they differ only by the machine's X'd under the load current"]
    return ["the sag is a fault at the round-rotor machine's terminal whose reactance retains the event's voltage against "
            "its X''d at the onset; the machine's fluxes then move: the subtransient flux decays within T''d0 (the "
            "retained voltage falls a few 0.01 pu below the quasi-static one), the exciter (SEXS) drives the field "
            "towards its ceiling so the retained voltage rises within a long sag (by up to about 0.2 pu after 1-2 s) "
            "and the over-excited machine overshoots when the fault clears; the quasi-static event holds the source "
            "voltage itself, so the two agree only at the onset"]


def _volt_var_note(study: StudySetup, scenario: str) -> list[str]:
    strat = study.strategies().get(scenario)
    notes = []
    if strat is not None and strat.reactive.mode == "volt_var":
        notes.append("the quasi-static run's plant answers the voltage (volt-var); the RMS plant holds the reactive "
                     "power of the case start")
    if strat is not None and strat.grid_forming is not None:
        notes.append("the plant is grid-forming in the study: with plant = \"model\" the RMS case runs it as ANDES "
                     f"{'REGF1 (droop)' if strat.grid_forming.loop == 'droop' else 'REGF2 (virtual synchronous machine)'} "
                     "at its EMF node behind the virtual impedance, its set-point the dispatch's; with \"schedule\", as "
                     "its delivered power")
    if study.campus_voltage_time_series:
        notes.append("the quasi-static run draws the campus voltage-dependent; the RMS case holds it at constant power")
    return notes


def window_case(study: StudySetup, site: Site, run: WindowRun, n0: QSTSResult, profiles: pd.DataFrame,
                window_s: float, label: str) -> RmsCase:
    """The RMS case of a sub-second window run: ``window_s`` around its largest campus edge, from
    the state of the study-step run at the step the case starts in (taps) and the window run's
    campus and plant power at its first sample."""
    assert run.campus_p_mw is not None and run.battery_p_mw is not None  # run_window fills both
    idx = pd.DatetimeIndex(run.poi_vm_pu.index)
    c = run.campus_p_mw.to_numpy(dtype=float)
    j0, j1 = run.judged.start or 0, run.judged.stop or len(c)
    dt = float(np.median(np.diff(idx.asi8))) / 1e9
    n = max(2, int(round(window_s / dt)) + 1)
    edge = j0 + int(np.argmax(np.abs(np.diff(c[j0:j1])))) + 1 if j1 - j0 > 1 else j0
    a = max(j0, min(edge - n // 4, j1 - n))
    a = max(a, 0)
    b = min(a + n, len(c))
    start = idx[a]
    k = int(math.floor((start - study.horizon[0]).total_seconds() / study.step_s + 1e-9))
    k = min(max(k, 0), len(study.horizon) - 1)
    base = window_start_site(site, n0, k, profiles)
    cp = c[a:b]
    cq = run.campus_q_mvar.to_numpy(dtype=float)[a:b] if run.campus_q_mvar is not None else np.zeros_like(cp)
    bp = run.battery_p_mw.to_numpy(dtype=float)[a:b]
    bq = run.battery_q_mvar.to_numpy(dtype=float)[a:b] if run.battery_q_mvar is not None else np.zeros_like(bp)
    t = (idx[a:b] - start).total_seconds().to_numpy()
    at_start = _set_point(base, float(cp[0]), float(cq[0]), float(bp[0]), float(bq[0]))
    qsts = pd.DataFrame({"poi_vm_pu": run.poi_vm_pu.to_numpy(dtype=float)[a:b],
                         "poi_p_mw": run.grid_p_mw.to_numpy(dtype=float)[a:b]}, index=t)
    strat = study.strategies().get(run.scenario)
    forming = strat.grid_forming if strat is not None else None
    sp = run.battery_set_p_mw.to_numpy(dtype=float)[a:b] if forming is not None and run.battery_set_p_mw is not None \
        else None
    return RmsCase(run.scenario, label, "window", at_start, pd.Timestamp(start), t, cp, cq, bp, bq, qsts,
                   notes=_volt_var_note(study, run.scenario), window=run.window.label, forming=forming,
                   plant_set_p_mw=sp)


def sag_cases(study: StudySetup, site: Site, sag_series: pd.DataFrame, names: list[str] | None) -> list[RmsCase]:
    """The RMS case of each sag event (``names``: those events; ``None``: every one), with the
    study's plant (the events' ``with_battery`` run) from the event's quasi-static series."""
    if not len(sag_series):
        return []
    scen = "with_battery" if (sag_series["scenario"] == "with_battery").any() else "without_battery"
    sec = study.sag
    net = site.net
    loads = list(site.campus_loads)
    base_p = float(net.load.loc[loads, "p_mw"].sum())
    ratio = float(net.load.loc[loads, "q_mvar"].sum()) / base_p if base_p else 0.0
    out = []
    for ev in sec.events:
        if names is not None and ev.name not in names:
            continue
        g = sag_series[(sag_series["event"] == ev.name) & (sag_series["scenario"] == scen)]
        if not len(g):
            continue
        t = g["t_s"].to_numpy(dtype=float)
        cp = g["campus_p_mw"].to_numpy(dtype=float)
        bp = g["battery_p_mw"].to_numpy(dtype=float)
        bq = g["battery_q_mvar"].fillna(0.0).to_numpy(dtype=float)
        src = g["source_vm_pu"].to_numpy(dtype=float)
        vm0 = float(src[0])
        sags: list[tuple[float, float, float]] = []
        low = src < vm0 - 1e-9
        k = 0
        while k < len(low):
            if low[k]:
                e = k
                while e + 1 < len(low) and low[e + 1]:
                    e += 1
                sags.append((float(t[k]), float(t[e] + sec.step_s), float(src[k] / vm0)))
                k = e + 1
            else:
                k += 1
        at_start = _set_point(site, float(cp[0]), float(cp[0] * ratio), float(bp[0]), float(bq[0]))
        qsts = pd.DataFrame({"poi_vm_pu": g["poi_vm_pu"].to_numpy(dtype=float),
                             "poi_p_mw": g["grid_p_mw"].to_numpy(dtype=float)}, index=t)
        notes = ["the quasi-static event draws the campus voltage-dependent; the RMS case holds it at constant power"]
        if np.any(np.abs(bq) > 1e-9):
            notes.append("the quasi-static event's plant answers the voltage (volt-var) step by step; the RMS case "
                         "plays its reactive power back as a schedule")
        strat = study.strategies().get(scen)
        out.append(RmsCase(scen, f"sag: {ev.name}", "sag", at_start, pd.Timestamp(study.horizon[0]), t, cp, cp * ratio,
                           bp, bq, qsts, sags=sags, notes=notes,
                           forming=strat.grid_forming if strat is not None else None))
    return out


def load_loss_case(study: StudySetup, site: Site, campus: pd.DataFrame, duration_s: float, step_s: float) -> RmsCase:
    """The campus tripped at its peak (battery idle) at :data:`LOAD_LOSS_AT_S`; the quasi-static
    comparison is the POI voltage of the power flow before and after
    (:func:`~gridstudy.studies.stages.load_loss.campus_off_rise`)."""
    peak = max(float(site.campus_p_mw), float(campus["campus_p_mw"].max()))
    net = site.net
    loads = list(site.campus_loads)
    base_p = float(net.load.loc[loads, "p_mw"].sum())
    ratio = float(net.load.loc[loads, "q_mvar"].sum()) / base_p if base_p else 0.0
    n = int(round(duration_s / step_s)) + 1
    t = np.arange(n) * step_s
    cp = np.where(t >= LOAD_LOSS_AT_S - 1e-9, 0.0, peak)
    before, after = campus_off_rise(site, peak)
    qsts = pd.DataFrame({"poi_vm_pu": np.where(t >= LOAD_LOSS_AT_S - 1e-9, after, before),
                         "poi_p_mw": np.nan}, index=t)
    zero = np.zeros(n)
    at_start = _set_point(site, peak, peak * ratio, 0.0, 0.0)
    scen = "with_battery" if study.battery is not None else "without_battery"
    strat = study.strategies().get(scen)
    return RmsCase(scen, f"load loss: campus trip at {peak:.0f} MW", "load_loss", at_start, pd.Timestamp(study.horizon[0]),
                   t, cp, cp * ratio, zero, zero.copy(), qsts,
                   notes=["the quasi-static comparison is the power flow before and after the loss (taps held); the "
                          "RMS case shows the transient between them and the machine's speed"],
                   forming=strat.grid_forming if strat is not None else None)


def _worst_runs(fluct: Assessment, wanted: list[str]) -> list[tuple[str, WindowRun]]:
    """``(label, run)`` of each window case: for ``worst``, each scenario's worst flicker window."""
    out = []
    for name, runs in fluct.runs.items():
        if not runs:
            continue
        for w in wanted:
            if w == WORST_WINDOW:
                fl = next((f for f in fluct.findings.get(name, []) if f.group == "flicker"), None)
                worst = next((r for r in runs if fl is not None and r.window.start == fl.when), runs[0])
                out.append((f"worst window {worst.window.label}", worst))
            else:
                t = pd.Timestamp(w)
                named = next((r for r in runs if r.window.start == t), None)
                if named is not None:
                    out.append((f"window {named.window.label}", named))
    return out


def dynamics_stage(study: StudySetup, site: Site, results: dict[str, QSTSResult], profiles: dict[str, pd.DataFrame],
                   campus: pd.DataFrame, fluct: Assessment | None, sag_series: pd.DataFrame,
                   say: Callable[[str], None] | None = None) -> DynamicsOutcome | None:
    """The RMS check of a study (``None`` when its ``[dynamics]`` is not enabled)."""
    dy = study.dynamics
    if not dy.enabled:
        return None
    require_andes()
    say = say or (lambda line: None)
    grid = _grid_spec(study, dy)
    step = float(dy.step_s if dy.step_s is not None else study.fluctuation.step_s)
    cases: list[RmsCase] = []
    if fluct is not None and dy.windows:
        for label, run in _worst_runs(fluct, list(dy.windows)):
            cases.append(window_case(study, site, run, results[run.scenario], profiles[run.scenario], dy.window_s,
                                     label))
    if study.sag.enabled:
        cases += sag_cases(study, site, sag_series, list(dy.events) if dy.events is not None else None)
    if dy.load_loss:
        cases.append(load_loss_case(study, site, campus, dy.load_loss_s, step))
    f_hz = float(site.net.f_hz) if "f_hz" in site.net else 60.0
    frames, rows = [], []
    for c in cases:
        say(f"RMS check ({grid.model}, plant {dy.plant}): {c.scenario}, {c.case}, {c.t_s[-1]:g} s at {step * 1000:g} ms")
        r = run_case(c, grid, step, dy.plant, f_hz)
        frames.append(r.series)
        rows.append(r.summary)
    table = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else \
        pd.DataFrame({c: [] for c in COLUMNS})
    block = {"enabled": True, "engine": "ANDES (RMS, positive sequence)", "machine": grid.model,
             "grid_h_s": grid.h_s, "grid_mva_base": grid.mva_base, "plant": dy.plant, "step_s": step,
             "window_s": dy.window_s, "cases": rows,
             "converged": all(r["converged"] for r in rows)}
    return DynamicsOutcome(table=table[list(COLUMNS)], block=block)
