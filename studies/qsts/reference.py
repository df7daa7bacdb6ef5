"""The reference QSTS engine: pandapower's own ``run_timeseries`` with pandapower controllers.

Slow (one full Newton-Raphson per step in Python, about a thousand power flows a second), and the
oracle the fast engine is checked against. The run is set up the way a pandapower user would:

- a deep copy of the site's net (the site is never modified);
- ``ConstControl`` + ``DFData`` for every element that changes, with the values of
  :func:`gridstudy.studies.qsts.apply.element_series` (the same values the fast engine applies);
- one :class:`~gridstudy.studies.qsts.controllers.TapController` per regulating transformer (time delay,
  move from the next step: the tap rule in :mod:`gridstudy.studies.qsts.controllers`);
- a :class:`~gridstudy.studies.qsts.controllers.BatteryController` when ``Controls.battery_controller`` is
  a dispatch strategy, or a :class:`~gridstudy.studies.qsts.controllers.VoltVarController` when only
  ``Controls.volt_var`` is given (both with the curve's response time);
- a :class:`~gridstudy.studies.qsts.controllers.CampusVoltageController` on the campus loads when
  ``Controls.campus_voltage`` is given (their ``p_mw``/``q_mvar`` are then the drawn values);
- an ``OutputWriter`` that logs only ``res_ext_grid.p_mw`` (so pandapower allocates nothing per
  bus and step), and this module's hook in its place that streams each step into a
  :class:`~gridstudy.studies.qsts.results.ResultRecorder`.

Power-flow options: ``runpp(algorithm='nr', calculate_voltage_angles=True, tolerance_mva=1e-10,
init='results', lightsim2grid=False)``. ``lightsim2grid=False`` is explicit on purpose: pandapower's
``runpp`` defaults to ``lightsim2grid='auto'`` and silently hands the Newton-Raphson to
lightsim2grid's C++ solver whenever that package is installed, which changes iteration counts and
the last digits of the result. pandapower's own solver is the reference.

Every controller of this package declares its recycle flags, so pandapower's time-series fast
path (``_recycled_powerflow``: reuse of the internal ``ppc``, warm start) stays on; the tap
changers require the transformer branches to be rebuilt (``recycle['trafo']``), which pandapower
does in place.

A step whose power flow does not converge (``continue_on_divergence=True``) is recorded with
``converged=False`` and NaN voltages and loadings, and the run continues; pandapower then starts
the next step from a full ``runpp``.
"""

from __future__ import annotations

import copy
import logging
import time as _time
from typing import Any, cast

import numpy as np
import pandapower as pp
import pandas as pd
from pandapower.control import ConstControl
from pandapower.timeseries import DFData, OutputWriter, run_timeseries
from tqdm.auto import tqdm

from gridstudy.grid.poi_meter import poi_meter, poi_meter_pq
from gridstudy.grid.site import Site
from gridstudy.studies.qsts.apply import ElementSeries, element_series
from gridstudy.studies.qsts.controllers import (
    BatteryController,
    CampusVoltageController,
    TapController,
    VoltVarController,
)
from gridstudy.studies.qsts.grid_forming import (
    GridFormingController,
    add_grid_forming,
    check_grid_forming,
    set_points,
)
from gridstudy.studies.qsts.inputs import QSTSInputs
from gridstudy.studies.qsts.results import CURRENT_LIMITED, QSTSResult, ResultRecorder, tap_series_name

__all__ = ["run_reference", "RUNPP_OPTIONS", "max_mismatch_mva"]

#: Options of every power flow of the reference engine (see module docstring).
RUNPP_OPTIONS = dict(algorithm="nr", calculate_voltage_angles=True, tolerance_mva=1e-10,
                     lightsim2grid=False)


def max_mismatch_mva(net: pp.pandapowerNet) -> float:
    """Largest nodal power mismatch of the last power flow of ``net``. [MVA]

    ``max |V · conj(Ybus · V) - Sbus|`` over the PV and PQ buses of pandapower's internal case
    (real and imaginary parts together), times ``baseMVA``.
    """
    ppc = net.get("_ppc", None)
    if not ppc or "internal" not in ppc:
        return float("nan")
    i = ppc["internal"]
    V, Y, S = i.get("V"), i.get("Ybus"), i.get("Sbus")
    if V is None or Y is None or S is None:
        return float("nan")
    mis = V * np.conj(Y @ V) - S
    rows = np.r_[i["pv"], i["pq"]].astype(np.int64)
    if rows.size == 0:
        return 0.0
    return float(np.abs(mis[rows]).max() * i["baseMVA"])


def _series_frame(es: ElementSeries) -> tuple[pd.DataFrame, list[tuple[str, str, np.ndarray, list[str]]]]:
    cols, specs = {}, []
    for element, variable, idx, values in (
        ("load", "p_mw", es.load_index, es.load_p_mw), ("load", "q_mvar", es.load_index, es.load_q_mvar),
        ("storage", "p_mw", es.storage_index, es.storage_p_mw),
        ("storage", "q_mvar", es.storage_index, es.storage_q_mvar),
        ("ext_grid", "vm_pu", es.ext_grid_index, es.ext_grid_vm_pu),
        ("sgen", "p_mw", es.sgen_index, es.sgen_p_mw), ("sgen", "q_mvar", es.sgen_index, es.sgen_q_mvar),
        ("gen", "p_mw", es.gen_index, es.gen_p_mw),
    ):
        if len(idx) == 0:
            continue
        names = [f"{element}.{variable}.{i}" for i in idx]
        for j, n in enumerate(names):
            cols[n] = values[:, j]
        specs.append((element, variable, np.asarray(idx, dtype=np.int64), names))
    return pd.DataFrame(cols, index=pd.RangeIndex(es.load_p_mw.shape[0])), specs


class _Hook:
    """Collects each step into block buffers and streams full blocks into the recorder."""

    def __init__(self, site: Site, net: pp.pandapowerNet, recorder: ResultRecorder, block_steps: int,
                 bar: tqdm | None, gfm: GridFormingController | None = None) -> None:
        self.site, self.rec, self.bar = site, recorder, bar
        self.gfm = gfm
        self.k = max(1, int(block_steps))
        nb, nl, nt = len(site.net.bus), len(net.line), len(net.trafo)
        self.bus_order = site.net.bus.index  # the site's buses (a grid-forming plant adds its own)
        self.vm = np.full((self.k, nb), np.nan)
        self.ld = np.full((self.k, nl + nt), np.nan)
        self.names = recorder.series_names
        self.ser = {s: np.full(self.k, np.nan) for s in self.names}
        self.conv = np.zeros(self.k, dtype=bool)
        self.it = np.zeros(self.k, dtype=np.int64)
        self.mis = np.full(self.k, np.nan)
        self.start, self.fill = 0, 0
        self.campus = np.asarray(site.campus_loads, dtype=np.int64)
        self.storages = np.asarray(site.storages, dtype=np.int64)
        self.taps = [(tap_series_name(net, t), int(t)) for t in site.regulating_trafos]
        self.poi = site.poi_bus
        # the meter of the site's own net: a grid-forming plant's source sits behind the terminal
        self.meter = poi_meter(site.net, site.poi_bus, site.campus_loads, site.storages)
        # the site's ext_grids: the grid import (a grid-forming plant's EMF is not the grid)
        self.grid_eg = site.net.ext_grid.index

    def __call__(self, net: pp.pandapowerNet, time_step: int, pf_converged: bool, ctrl_converged: bool,
                 ts_variables: dict[str, Any]) -> None:
        j = self.fill
        # a step whose controllers did not settle (e.g. a volt-var loop that oscillates) is not a
        # solution either: both count as not converged, with NaN voltages, like the fast engine
        ok = bool(pf_converged) and bool(ctrl_converged)
        self.conv[j] = ok
        s = self.ser
        s["campus_p_mw"][j] = net.load.p_mw.loc[self.campus].sum()
        s["campus_q_mvar"][j] = net.load.q_mvar.loc[self.campus].sum()
        s["battery_p_mw"][j] = net.storage.p_mw.loc[self.storages].sum() if self.storages.size else 0.0
        s["battery_q_mvar"][j] = net.storage.q_mvar.loc[self.storages].sum() if self.storages.size else 0.0
        if self.gfm is not None:  # the plant's delivery at its terminal, and whether it was limited
            if ok:
                p, q, lim = self.gfm.reading(net)
                s["battery_p_mw"][j], s["battery_q_mvar"][j], s[CURRENT_LIMITED][j] = p, q, float(lim)
            else:
                s["battery_p_mw"][j] = s["battery_q_mvar"][j] = s[CURRENT_LIMITED][j] = np.nan
        for name, t in self.taps:
            s[name][j] = net.trafo.tap_pos.at[t]
        if ok:
            self.vm[j] = net.res_bus.vm_pu.reindex(self.bus_order).to_numpy()
            self.ld[j] = np.r_[net.res_line.loading_percent.to_numpy(), net.res_trafo.loading_percent.to_numpy()]
            s["poi_vm_pu"][j] = net.res_bus.vm_pu.at[self.poi]
            s["grid_p_mw"][j] = net.res_ext_grid.p_mw.reindex(self.grid_eg).sum()
            s["grid_q_mvar"][j] = net.res_ext_grid.q_mvar.reindex(self.grid_eg).sum()
            s["poi_p_mw"][j], s["poi_q_mvar"][j] = poi_meter_pq(net, self.meter)
            if self.gfm is not None and self.meter.storages:  # the plant at the POI node itself
                s["poi_p_mw"][j] += s["battery_p_mw"][j]
                s["poi_q_mvar"][j] += s["battery_q_mvar"][j]
            self.it[j] = int(net._ppc.get("iterations", 0) or 0)
            self.mis[j] = max_mismatch_mva(net)
        else:
            self.vm[j] = self.ld[j] = np.nan
            for name in ("poi_vm_pu", "grid_p_mw", "grid_q_mvar", "poi_p_mw", "poi_q_mvar"):
                s[name][j] = np.nan
            self.it[j] = 0
            self.mis[j] = np.nan
        self.fill += 1
        if self.fill == self.k:
            self.flush()
        if self.bar is not None:
            self.bar.update(1)

    def flush(self) -> None:
        k = self.fill
        if k == 0:
            return
        self.rec.add_block(self.start, self.vm[:k], self.ld[:k], {n: a[:k] for n, a in self.ser.items()},
                           self.conv[:k], self.it[:k], self.mis[:k])
        self.start += k
        self.fill = 0


def build_reference_net(inputs: QSTSInputs) -> tuple[pp.pandapowerNet, BatteryController | None]:
    """The deep-copied net with every controller of the reference run; returns ``(net, battery)``.

    ``battery`` is the :class:`BatteryController` (or ``None``). With ``Controls.grid_forming`` the
    net carries the grid-forming plant (:func:`gridstudy.studies.qsts.grid_forming.add_grid_forming`)
    and its :class:`~gridstudy.studies.qsts.grid_forming.GridFormingController` (:func:`_gfm_controller`).
    """
    site, controls = inputs.site, inputs.controls
    check_grid_forming(inputs)
    net = copy.deepcopy(site.net)
    if "controller" in net and len(net.controller):
        net.controller = net.controller.iloc[0:0]
    es = element_series(inputs)
    plant = None
    if controls.grid_forming is not None:
        plant = add_grid_forming(net, site, controls.grid_forming)
        # the storages' profiles are the plant's set-points, not injections
        p_set, q_set = set_points(es.storage_p_mw.sum(axis=1), es.storage_q_mvar.sum(axis=1), plant.sn_mva)
        es.storage_index = es.storage_index[:0]
    frame, specs = _series_frame(es)
    ds = DFData(frame)
    for element, variable, idx, names in specs:
        ConstControl(net, element, variable, element_index=idx, data_source=ds, profile_name=names)
    step_s = inputs.step_s
    if controls.taps.enabled:
        for t in site.regulating_trafos:
            TapController(net, t, step_s=step_s, vm_set_pu=controls.taps.vm_set_pu,
                          deadband_pu=controls.taps.deadband_pu, delay_s=controls.taps.delay_s)
    battery = None
    storages = list(site.storages)
    if controls.battery_controller is not None:
        if not storages:
            raise ValueError("Controls.battery_controller is set but the site has no storage")
        rte = site.battery.round_trip_efficiency if site.battery is not None else 0.92
        battery = BatteryController(net, storages, strategy=controls.battery_controller, step_s=step_s,
                                    load_index=site.campus_loads, round_trip_efficiency=rte,
                                    volt_var=controls.volt_var)
    elif controls.volt_var is not None and storages:
        VoltVarController(net, storages, controls.volt_var, step_s=step_s)
    peers = []
    if controls.campus_voltage is not None and len(site.campus_loads):
        peers.append(CampusVoltageController(net, site.campus_loads, controls.campus_voltage,
                                             ext_grids=site.net.ext_grid.index))
    if plant is not None:
        GridFormingController(net, plant, p_set, q_set, step_s, peers=peers)
    return net, battery


def _gfm_controller(net: pp.pandapowerNet) -> GridFormingController | None:
    """The net's grid-forming plant controller, if it has one."""
    if "controller" not in net or not len(net.controller):
        return None
    return next((c for c in net.controller.object if isinstance(c, GridFormingController)), None)


def run_reference(inputs: QSTSInputs, quiet: bool = False, block_steps: int = 3600) -> QSTSResult:
    """Run the QSTS of ``inputs`` with pandapower ``run_timeseries``.

    Parameters
    ----------
    inputs : QSTSInputs
        Site, profiles, controls and what to record.
    quiet : bool
        No progress bar.
    block_steps : int
        Steps buffered before they are streamed into the result recorder. [-]

    Returns
    -------
    QSTSResult
        Streamed aggregates and per-step ``converged``/``iterations``/``max_mismatch_mva``;
        ``summary['pf_per_s']`` is the measured power flows a second (wall clock, whole loop).
    """
    site = inputs.site
    index = cast(pd.DatetimeIndex, inputs.profiles.index)  # QSTSInputs checked it
    n = len(index)
    net, battery = build_reference_net(inputs)
    gfm = _gfm_controller(net)
    recorder = ResultRecorder(site, index, inputs.record, engine="reference",
                              extra_series=(CURRENT_LIMITED,) if gfm is not None else ())
    OutputWriter(net, time_steps=range(n), output_path=None, log_variables=[("res_ext_grid", "p_mw")])
    try:  # results to start from (init='results'); a base case that diverges starts flat
        pp.runpp(net, init="auto", run_control=False, **RUNPP_OPTIONS)
    except pp.LoadflowNotConverged:
        pass
    bar = None
    if not quiet:
        bar = tqdm(total=n, desc=f"reference {site.name}", unit="step", delay=2.0)
    hook = _Hook(site, net, recorder, block_steps, bar, gfm=gfm)
    loggers = [logging.getLogger(m) for m in ("pandapower.timeseries.run_time_series",
                                              "pandapower.control.run_control", "pandapower.powerflow")]
    levels = [lg.level for lg in loggers]
    t0 = _time.perf_counter()
    try:
        for lg in loggers:
            lg.setLevel(logging.CRITICAL)  # a diverged step is recorded, not logged as an error
        run_timeseries(net, time_steps=range(n), continue_on_divergence=True, verbose=False,
                       check_controllers=False, output_writer_fct=hook, init="results", **RUNPP_OPTIONS)
    finally:
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)
        if bar is not None:
            bar.close()
    wall = _time.perf_counter() - t0
    hook.flush()
    meta = {"wall_s": wall, "pf_per_s": n / wall if wall > 0 else None}
    result = recorder.finish(meta)
    if battery is not None:
        result.battery = battery.results.set_index(index[: len(battery.results)])
    return result
