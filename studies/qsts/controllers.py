"""pandapower controllers of this package: on-load tap changer with time delay, volt-var, battery.

All three work in the QSTS reference engine and in any pandapower user's ``run_timeseries``. They
sit in controller level ``-1``, with pandapower's ``ConstControl`` (level -1, order -1), and
after it in order, so that one time step costs exactly one power flow when nothing iterates, and
they declare what pandapower may *recycle* (``net.controller.recycle``) so that its time-series
fast path stays on: a controller without a recycle dict turns recycling off for the whole run and
pandapower falls back to a full ``runpp`` per step.

Tap rule (the fast engine implements exactly the same)
------------------------------------------------------
One :class:`TapController` per regulating transformer. Band ``vm_set_pu ± deadband_pu`` at the
transformer's LV bus; ``delay_s`` the time delay; ``dt`` the step length [s]. After each time
step's power flow, with ``v`` the LV bus ``vm_pu`` of that step:

1. if ``v > vm_set + db``: ``t_up += dt``, ``t_down = 0``;
   elif ``v < vm_set - db``: ``t_down += dt``, ``t_up = 0``;
   else (inside the band, **or the step did not converge**, ``v = NaN``): ``t_up = t_down = 0``.
2. if ``t_up >= delay_s - 1e-9``: if the tap can still move one step in the direction that
   *lowers* the LV voltage, schedule that move and set ``t_up = 0``; otherwise no move and
   ``t_up = min(t_up, delay_s)`` (capped). Likewise ``t_down`` with the direction that raises it.
3. A scheduled move takes effect from the NEXT time step (the current step is not re-solved).

Direction: with ``tap_side == 'hv'`` and ``tap_step_percent > 0``, ``tap_pos + 1`` lowers the LV
voltage; with ``'lv'`` it raises it; a negative ``tap_step_percent`` flips both. Positions stay
within ``[tap_min, tap_max]``. Parameters come from the ``net.trafo`` columns ``vm_set_pu``,
``deadband_pu``, ``delay_s`` (written by :func:`gridstudy.grid.build.build_site`), overridden by the
arguments when not ``None``. pandapower's ``DiscreteTapControl`` has no time delay and moves within
the step; it is not used here.

Volt-var fixed point with a response time
-----------------------------------------
``f(V) = curve(vm_pu at the storage bus) · sn_mva`` (consumer sign: positive absorbs), limited to
``|q| <= sqrt(sn_mva² - p_mw²)`` (active power has priority). The plant follows ``f`` with a first
order lag of time constant ``tau = T_olrt / ln 10`` (``T_olrt``: the curve's open-loop response
time, 90 % of a step within it), discretised exactly for a target held over the step and
*implicitly* (the voltage of the same step):

``Q_k = clip(Q_{k-1} + (f(V_k) - Q_{k-1}) · a, ±qlim)``, ``a = 1 - exp(-dt / tau)``

(``a = 1`` exactly when ``T_olrt = 0``: ``Q_k = f(V_k)``, the instantaneous curve; and at the run's
first step, which starts from the steady state of its own conditions). ``Q_k`` and ``V_k`` depend
on each other, so within a step the controller iterates power flow ↔ Q: the first pass sets Q
from the latest voltage available (the previous step's solution), then each power flow is followed
by a secant-damped update (:func:`volt_var_update`) towards the fixed point; the step is done when
``|Q_target - Q| < 1e-9`` Mvar for every storage, and the recorded solution is the last power
flow (the one with ``Q``). Implicit rather than explicit (``V_{k-1}``): with ``T_olrt = 0`` it is
the instantaneous curve of the earlier releases bit for bit, and it stays stable where an explicit
update would oscillate (a loop gain ``a · g > 1`` on a weak grid, :func:`volt_var_update`).

Campus voltage dependence
-------------------------
:class:`CampusVoltageController` draws ``S_sched · m(V)`` at each campus load
(:func:`gridstudy.models.campus_voltage.multiplier`), the same kind of fixed point per step on
``m``; the fast engine solves the same equations with the voltage-dependent injection inside its
Newton iterations.

Battery bookkeeping
-------------------
Charging positive (pandapower's consumer view). Energy over a step of ``dt_h`` hours with the
plant at ``p`` [MW]: ``e += p · eta_c · dt_h`` when charging, ``e += p / eta_d · dt_h`` when
discharging, ``eta_c = eta_d = sqrt(round_trip_efficiency)``. The request of the dispatch strategy
is clipped to the plant's ``±p_mw`` rating and to what the energy between ``min_e_mwh`` and
``max_e_mwh`` allows over the step; the clipped amount is recorded as saturation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandapower as pp
import pandas as pd
from pandapower.control.basic_controller import Controller
from pandapower.timeseries.data_source import DataSource

from gridstudy.models.campus_voltage import CampusVoltageResponse, multiplier
from gridstudy.models.dispatch import Strategy

__all__ = ["TapController", "VoltVarController", "BatteryController", "CampusVoltageController",
           "add_tap_controllers", "tap_direction_lowering", "tap_settings", "DELAY_EPS_S", "Q_TOL_MVAR",
           "P_TOL_MW"]

#: Tolerance on the tap delay comparison. [s]
DELAY_EPS_S = 1e-9
#: Convergence tolerance of the volt-var fixed point. [Mvar]
Q_TOL_MVAR = 1e-9
#: Convergence tolerance of the campus voltage-dependence fixed point (reference engine): largest
#: change of a campus load's apparent power. [MVA]
P_TOL_MW = 1e-8

_RECYCLE_TRAFO = {"trafo": True, "gen": False, "bus_pq": False}
_RECYCLE_PQ = {"trafo": False, "gen": False, "bus_pq": True}

#: A volt-var characteristic: ``q_pu = curve(vm_pu)`` (e.g. :class:`gridstudy.studies.qsts.inputs.VoltVarCurve`).
VoltVarFn = Callable[[npt.NDArray[np.float64]], npt.ArrayLike]
#: A plain dispatch rule: ``battery_p_mw = rule(campus_p_mw, soc_percent, step_s)``. [MW, %, s -> MW]
DispatchRule = Callable[[float, float, float], float]


def tap_direction_lowering(tap_side: str, tap_step_percent: float) -> int:
    """The change of ``tap_pos`` (+1 or -1) that lowers the LV-side voltage. [-]"""
    d = 1 if str(tap_side).lower() == "hv" else -1
    return d if tap_step_percent >= 0 else -d


def _trafo_param(net: pp.pandapowerNet, trafo: int, col: str, override: float | None, default: float) -> float:
    if override is not None:
        return float(override)
    if col in net.trafo and pd.notna(net.trafo.at[trafo, col]):
        return float(net.trafo.at[trafo, col])
    return default


def tap_settings(net: pp.pandapowerNet, trafo: int, vm_set_pu: float | None = None, deadband_pu: float | None = None,
                 delay_s: float | None = None) -> tuple[float, float, float]:
    """``(vm_set [pu], deadband [pu], delay [s])`` of a regulating transformer: the override when
    given, else its ``net.trafo`` column, else 1.0 pu, 0.01 pu and 30 s. Both engines use it."""
    return (_trafo_param(net, trafo, "vm_set_pu", vm_set_pu, 1.0),
            _trafo_param(net, trafo, "deadband_pu", deadband_pu, 0.01),
            _trafo_param(net, trafo, "delay_s", delay_s, 30.0))


class TapController(Controller):  # type: ignore[misc]  # pandapower ships no type hints: Controller is Any
    """On-load tap changer with a time delay (the tap rule of the module docstring).

    Parameters
    ----------
    net : pandapowerNet
        The network; the controller adds itself to ``net.controller``.
    trafo_index : int
        Index in ``net.trafo``.
    step_s : float
        Length of one time step of the time series. [s]
    vm_set_pu, deadband_pu : float, optional
        Set point and half bandwidth at the LV bus; default from ``net.trafo``. [pu]
    delay_s : float, optional
        Time outside the band before a move; default from ``net.trafo``. [s]
    order, level : int
        pandapower controller order and level (default: after ``ConstControl`` in level -1).

    Attributes
    ----------
    operations : int
        Tap moves applied so far. [-]
    """

    def __init__(self, net: pp.pandapowerNet, trafo_index: int, step_s: float = 1.0, vm_set_pu: float | None = None,
                 deadband_pu: float | None = None, delay_s: float | None = None, in_service: bool = True,
                 order: int = 0, level: int = -1, **kwargs: Any) -> None:
        super().__init__(net, in_service=in_service, order=order, level=level, initial_run=False,
                         recycle=dict(_RECYCLE_TRAFO), **kwargs)
        t = int(trafo_index)
        self.trafo_index = t
        self.lv_bus = int(net.trafo.at[t, "lv_bus"])
        self.step_s = float(step_s)
        self.vm_set_pu, self.deadband_pu, self.delay_s = tap_settings(net, t, vm_set_pu, deadband_pu, delay_s)
        self.lower = tap_direction_lowering(net.trafo.at[t, "tap_side"], float(net.trafo.at[t, "tap_step_percent"]))
        self.tap_min = float(net.trafo.at[t, "tap_min"])
        self.tap_max = float(net.trafo.at[t, "tap_max"])
        self.t_up_s = 0.0
        self.t_down_s = 0.0
        self.pending = 0
        self.operations = 0
        self.applied = True
        self.set_recycle(net)

    def set_recycle(self, net: pp.pandapowerNet) -> None:
        """Declare what pandapower may reuse between steps (a tap move changes the trafo branches)."""
        # a tap move changes the admittance matrix: pandapower must rebuild the trafo branches
        net.controller.at[self.index, "recycle"] = dict(_RECYCLE_TRAFO)

    def initialize_control(self, net: pp.pandapowerNet) -> None:
        """Start a time step: the step is not done until :meth:`control_step` has run."""
        self.applied = False

    def time_step(self, net: pp.pandapowerNet, time: int) -> None:
        """Apply the move scheduled after the previous step."""
        if self.pending:
            net.trafo.at[self.trafo_index, "tap_pos"] = float(net.trafo.at[self.trafo_index, "tap_pos"]) + self.pending
            self.operations += 1
            self.pending = 0

    def is_converged(self, net: pp.pandapowerNet) -> bool:
        """Whether this step's control step has run (the tap acts between steps, not within one)."""
        return self.applied

    def control_step(self, net: pp.pandapowerNet) -> None:
        """Mark the step done (a move is scheduled in :meth:`finalize_step`)."""
        self.applied = True

    def finalize_step(self, net: pp.pandapowerNet, time: int) -> None:
        """Update the timers from this step's LV voltage and schedule a move for the next step."""
        v = float(net.res_bus.vm_pu.at[self.lv_bus]) if net.get("converged", False) else math.nan
        self.update(v, float(net.trafo.at[self.trafo_index, "tap_pos"]))

    def update(self, v_pu: float, tap_pos: float) -> int:
        """Advance the timers by one step at LV voltage ``v_pu`` [pu]; return the scheduled move."""
        dt = self.step_s
        if v_pu > self.vm_set_pu + self.deadband_pu:
            self.t_up_s += dt
            self.t_down_s = 0.0
        elif v_pu < self.vm_set_pu - self.deadband_pu:
            self.t_down_s += dt
            self.t_up_s = 0.0
        else:
            self.t_up_s = self.t_down_s = 0.0
        self.pending = 0
        for attr, move in (("t_up_s", self.lower), ("t_down_s", -self.lower)):
            t = getattr(self, attr)
            if t >= self.delay_s - DELAY_EPS_S:
                if self.tap_min <= tap_pos + move <= self.tap_max:
                    self.pending = move
                    setattr(self, attr, 0.0)
                else:
                    setattr(self, attr, min(t, self.delay_s))
        return self.pending

    def __str__(self) -> str:
        return f"TapController [trafo {self.trafo_index}]"


def add_tap_controllers(net: pp.pandapowerNet, trafos: Sequence[int], step_s: float, vm_set_pu: float | None = None,
                        deadband_pu: float | None = None, delay_s: float | None = None) -> list[TapController]:
    """One :class:`TapController` per transformer of ``trafos``."""
    return [TapController(net, t, step_s=step_s, vm_set_pu=vm_set_pu, deadband_pu=deadband_pu,
                          delay_s=delay_s) for t in trafos]


def volt_var_update(q: npt.NDArray[np.float64], f: npt.NDArray[np.float64],
                    prev: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None) -> npt.NDArray[np.float64]:
    """Next volt-var Q: a secant-damped fixed-point step on ``h(q) = f(V(q)) - q``.

    ``f`` is the curve's Q at the voltages solved with ``q``. A plain fixed point ``q <- f``
    diverges when the loop gain ``g = -df/dq`` exceeds 1 (a large inverter on a weak grid: the
    feeder-34.5kv site, or 618 MVA at a 3.4 GVA POI). ``h`` decreases monotonically (more
    absorption lowers the voltage, which lowers the curve's absorption), so the root is unique and
    the step ``q + (f - q) / (1 + g)``, with ``g`` estimated from the previous iterate ``prev =
    (q0, f0)``, is Newton's method on ``h`` with a secant slope. The fast engine uses the same
    update, so both engines settle on the same root. [Mvar]
    """
    step = f - q
    if prev is not None:
        q0, f0 = prev
        dq = q - q0
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(np.abs(dq) > 1e-12, -(f - f0) / dq, 0.0)
        g = np.clip(np.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)
        step = step / (1.0 + g)
    return q + step


class _VoltVarMixin:
    """Fixed-point volt-var on ``self.storage_index`` (needs ``self.curve``, ``self.s_mva``)."""

    storage_index: np.ndarray  # set by the controller before _vv_init
    curve: VoltVarFn | None
    s_mva: npt.NDArray[np.float64]

    def _vv_init(self, net: pp.pandapowerNet, curve: VoltVarFn | None, tol_mvar: float, step_s: float = 1.0) -> None:
        self.curve = curve
        self.q_tol_mvar = float(tol_mvar)
        # fraction of the gap to the curve closed per step (module docstring); a plain callable
        # without a response time follows the curve at once
        lag = getattr(curve, "lag_factor", None)
        self.vv_alpha = float(lag(step_s)) if lag is not None else 1.0
        self.q_state: np.ndarray | None = None  # Q at the end of the previous step [Mvar]
        self.s_mva = net.storage.loc[self.storage_index, "sn_mva"].to_numpy(dtype=float)
        self.bus = net.storage.loc[self.storage_index, "bus"].to_numpy(dtype=np.int64)
        self.first = True
        self._vv_prev: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None
        self.vv_iterations = 0

    def volt_var_q(self, net: pp.pandapowerNet) -> npt.NDArray[np.float64]:
        """Q of each storage from the voltages now in ``net.res_bus`` (P priority). [Mvar]"""
        q_now: npt.NDArray[np.float64] = net.storage.loc[self.storage_index, "q_mvar"].to_numpy(dtype=float)
        if not net.get("converged", False) or "vm_pu" not in net.res_bus:
            return q_now
        v: npt.NDArray[np.float64] = net.res_bus.vm_pu.reindex(self.bus).to_numpy(dtype=float)
        p: npt.NDArray[np.float64] = net.storage.loc[self.storage_index, "p_mw"].to_numpy(dtype=float)
        assert self.curve is not None  # called only by a controller with a volt-var curve
        q = np.asarray(self.curve(v), dtype=float) * self.s_mva
        qlim = np.sqrt(np.maximum(self.s_mva ** 2 - p ** 2, 0.0))
        q = np.clip(q, -qlim, qlim)
        if self.q_state is not None and self.vv_alpha != 1.0:  # the response time (module docstring)
            q = np.clip(self.q_state + (q - self.q_state) * self.vv_alpha, -qlim, qlim)
        return np.where(np.isfinite(q), q, q_now)

    def _vv_finalize(self, net: pp.pandapowerNet) -> None:
        """Keep this step's Q as the start of the next step's lag (a step that did not settle keeps
        the previous state, as the fast engine does)."""
        if net.get("converged", False) and self._vv_is_converged(net):
            self.q_state = net.storage.loc[self.storage_index, "q_mvar"].to_numpy(dtype=float).copy()

    def _vv_is_converged(self, net: pp.pandapowerNet) -> bool:
        if self.first:
            return False
        q = self.volt_var_q(net)
        q_now = net.storage.loc[self.storage_index, "q_mvar"].to_numpy(dtype=float)
        return bool(np.all(np.abs(q - q_now) < self.q_tol_mvar))

    def _vv_control_step(self, net: pp.pandapowerNet) -> None:
        """One secant-damped fixed-point update of Q (see :func:`volt_var_update`)."""
        fresh = not self.first  # the voltages in res_bus were solved in this time step
        self.first = False
        self.vv_iterations += 1
        q = net.storage.loc[self.storage_index, "q_mvar"].to_numpy(dtype=float)
        f = self.volt_var_q(net)
        prev = getattr(self, "_vv_prev", None) if fresh else None
        net.storage.loc[self.storage_index, "q_mvar"] = volt_var_update(q, f, prev)
        self._vv_prev = (q, f) if fresh else None


class VoltVarController(_VoltVarMixin, Controller):  # type: ignore[misc]  # pandapower ships no type hints: Controller is Any
    """Volt-var on storages: ``q_mvar = curve(vm_pu) · sn_mva``, solved as a fixed point per step.

    Parameters
    ----------
    net : pandapowerNet
        The network.
    storage_index : sequence of int
        Indices in ``net.storage``.
    curve : callable
        ``q_pu = curve(vm_pu)``, per unit of the storage's ``sn_mva``, consumer sign (e.g.
        :class:`gridstudy.studies.qsts.inputs.VoltVarCurve`, whose ``response_time_s`` sets the
        lag; a plain callable follows at once). [pu -> pu]
    tol_mvar : float
        Fixed-point tolerance on Q. [Mvar]
    step_s : float
        Length of one time step (for the response time). [s]
    """

    def __init__(self, net: pp.pandapowerNet, storage_index: int | Sequence[int], curve: VoltVarFn,
                 tol_mvar: float = Q_TOL_MVAR, in_service: bool = True,
                 order: int = 2, level: int = -1, step_s: float = 1.0, **kwargs: Any) -> None:
        super().__init__(net, in_service=in_service, order=order, level=level, initial_run=False,
                         recycle=dict(_RECYCLE_PQ), **kwargs)
        self.storage_index = np.atleast_1d(np.asarray(storage_index, dtype=np.int64))
        self._vv_init(net, curve, tol_mvar, step_s)
        net.controller.at[self.index, "recycle"] = dict(_RECYCLE_PQ)

    def set_recycle(self, net: pp.pandapowerNet) -> None:
        """Declare what pandapower may reuse between steps (storage P/Q change, the branches do not)."""
        net.controller.at[self.index, "recycle"] = dict(_RECYCLE_PQ)

    def initialize_control(self, net: pp.pandapowerNet) -> None:
        """Start a time step: the first pass takes the latest voltages available."""
        self.first = True
        self._vv_prev = None

    def is_converged(self, net: pp.pandapowerNet) -> bool:
        """Whether Q has settled on the curve at this step's voltages (within the tolerance)."""
        return self._vv_is_converged(net)

    def control_step(self, net: pp.pandapowerNet) -> None:
        """One secant-damped fixed-point update of Q."""
        self._vv_control_step(net)

    def finalize_step(self, net: pp.pandapowerNet, time: int) -> None:
        """Keep this step's Q as the start of the next step's lag."""
        self._vv_finalize(net)


def _is_model_strategy(strategy: object) -> bool:
    """A :class:`gridstudy.models.dispatch.Strategy` (own SOC: ``step(campus_p_mw, dt_s, ...)``, ``reset``)."""
    return all(hasattr(strategy, a) for a in ("step", "reset", "soc_percent", "plant"))


def _strategy_fn(strategy: Strategy | DispatchRule | None) -> Callable[[int, float, float, float], float] | None:
    """Normalise a plain dispatch rule to ``f(step, campus_p_mw, soc_percent, step_s) -> p_mw``
    (``None`` for a model strategy, which dispatches itself)."""
    if strategy is None:
        return lambda step, load, soc, dt: 0.0
    if _is_model_strategy(strategy):
        return None
    if callable(strategy):
        return lambda step, load, soc, dt: float(strategy(load, soc, dt))
    raise TypeError(f"a dispatch strategy must be callable or have .step(); got {type(strategy).__name__}")


class BatteryController(_VoltVarMixin, Controller):  # type: ignore[misc]  # pandapower ships no type hints: Controller is Any
    """A battery plant in a pandapower time series: dispatch strategy, SOC tracking, volt-var.

    Each time step the controller reads the campus load, asks the strategy for the plant's
    active power, clips it to the power rating and to the energy in store, writes ``p_mw`` and
    ``soc_percent`` of the storages (split in proportion to ``max_e_mwh``), and after the power
    flow integrates the energy (module docstring: *Battery bookkeeping*). With ``volt_var`` it
    also sets ``q_mvar`` by the volt-var fixed point.

    Parameters
    ----------
    net : pandapowerNet
        The network.
    storage_index : int or sequence of int
        The storages that form the plant (indices in ``net.storage``).
    strategy : models.dispatch.Strategy or callable, optional
        A :class:`gridstudy.models.dispatch.Strategy` (it keeps its own SOC, limits and reactive mode; the
        controller calls ``strategy.step(campus_p_mw, step_s, campus_q_mvar=...)`` once per time
        step after ``strategy.reset()``), or a plain rule
        ``strategy(campus_p_mw, soc_percent, step_s) -> battery_p_mw`` (charging positive) whose
        request the controller clips and books itself. ``None``: the plant stays idle.
        [MW, %, s -> MW]
    step_s : float
        Length of one time step. [s]
    load_index : sequence of int, optional
        ``net.load`` rows whose ``p_mw`` sum is the campus load (read after ``ConstControl`` has
        written the step's values).
    data_source : pandapower DataSource, optional
        Alternative source of the campus load, with ``profile_name``. [MW]
    profile_name : str, optional
        Column of ``data_source`` with the campus load.
    round_trip_efficiency : float, optional
        AC round-trip efficiency; default 0.92 (Megapack 2 XL). [-]
    soc_percent : float, optional
        Initial state of charge; default from ``net.storage.soc_percent``. [%]
    volt_var : callable, optional
        ``q_pu = volt_var(vm_pu)`` (see :class:`VoltVarController`).

    Attributes
    ----------
    soc_percent : float
        State of charge now. [%]
    """

    def __init__(self, net: pp.pandapowerNet, storage_index: int | Sequence[int],
                 strategy: Strategy | DispatchRule | None = None, step_s: float = 1.0,
                 load_index: int | Sequence[int] | None = None, data_source: DataSource | None = None,
                 profile_name: str | None = None, round_trip_efficiency: float = 0.92,
                 soc_percent: float | None = None, volt_var: VoltVarFn | None = None, tol_mvar: float = Q_TOL_MVAR,
                 in_service: bool = True, order: int = 1, level: int = -1, **kwargs: Any) -> None:
        super().__init__(net, in_service=in_service, order=order, level=level, initial_run=False,
                         recycle=dict(_RECYCLE_PQ), **kwargs)
        self.storage_index = np.atleast_1d(np.asarray(storage_index, dtype=np.int64))
        st = net.storage.loc[self.storage_index]
        if data_source is None and load_index is None:
            raise ValueError("BatteryController needs load_index or data_source + profile_name for the campus load")
        self.strategy = strategy
        self._fn = _strategy_fn(strategy)
        self.step_s = float(step_s)
        self.load_index = None if load_index is None else np.atleast_1d(np.asarray(load_index, dtype=np.int64))
        self.data_source, self.profile_name = data_source, profile_name
        self.eta_charge = self.eta_discharge = math.sqrt(float(round_trip_efficiency))
        e = st.max_e_mwh.to_numpy(dtype=float)
        self.weights = e / e.sum()
        self.e_max_mwh = float(e.sum())
        self.e_min_mwh = float(st.min_e_mwh.fillna(0.0).sum()) if "min_e_mwh" in st else 0.0
        pmax = st.max_p_mw.to_numpy(dtype=float) if "max_p_mw" in st else np.full(len(st), np.nan)
        self.p_max_mw = float(np.where(np.isfinite(pmax), pmax, st.sn_mva.to_numpy(dtype=float)).sum())
        soc0 = float((st.soc_percent.fillna(50.0).to_numpy(dtype=float) * self.weights).sum()) if soc_percent is None else float(soc_percent)
        self.e_mwh = soc0 / 100.0 * self.e_max_mwh
        self.model_strategy = _is_model_strategy(strategy)
        if self.model_strategy:
            cast(Strategy, strategy).reset()
        self.volt_var = volt_var
        self._vv_init(net, volt_var, tol_mvar, self.step_s)
        self.applied = True
        self.p_mw = 0.0
        self._log: dict[str, list[Any]] = {k: [] for k in ("time_step", "campus_p_mw", "request_p_mw", "p_mw",
                                                     "q_mvar", "saturation_p_mw", "saturated", "soc_percent")}
        net.controller.at[self.index, "recycle"] = dict(_RECYCLE_PQ)

    def set_recycle(self, net: pp.pandapowerNet) -> None:
        """Declare what pandapower may reuse between steps (storage P/Q change, the branches do not)."""
        net.controller.at[self.index, "recycle"] = dict(_RECYCLE_PQ)

    @property
    def soc_percent(self) -> float:
        """State of charge now. [%]"""
        if self.model_strategy:
            return float(cast(Strategy, self.strategy).soc_percent)
        return 100.0 * self.e_mwh / self.e_max_mwh

    def limits_mw(self) -> tuple[float, float]:
        """``(max discharge, max charge)`` over the next step from rating and stored energy. [MW]"""
        dt_h = self.step_s / 3600.0
        charge = min(self.p_max_mw, max(self.e_max_mwh - self.e_mwh, 0.0) / (self.eta_charge * dt_h))
        discharge = min(self.p_max_mw, max(self.e_mwh - self.e_min_mwh, 0.0) * self.eta_discharge / dt_h)
        return discharge, charge

    def campus_p_mw(self, net: pp.pandapowerNet, time: int) -> float:
        """The campus load at this step. [MW]"""
        if self.data_source is not None:
            return float(self.data_source.get_time_step_value(time_step=time, profile_name=self.profile_name))
        return float(net.load.loc[self.load_index, "p_mw"].sum())

    def time_step(self, net: pp.pandapowerNet, time: int) -> None:
        """Dispatch: strategy request, clipped, written to the storages with the SOC at step start."""
        load = self.campus_p_mw(net, time)
        soc0 = self.soc_percent
        if self.model_strategy:
            q_load = 0.0 if self.load_index is None else float(net.load.loc[self.load_index, "q_mvar"].sum())
            r = cast(Strategy, self.strategy).step(load, self.step_s, campus_q_mvar=q_load)
            self.p_mw = float(r.battery_p_mw)
            request = self.p_mw + (np.nan if r.saturated else 0.0)
            if self.volt_var is None:
                net.storage.loc[self.storage_index, "q_mvar"] = float(r.battery_q_mvar) * self.weights
        else:
            assert self._fn is not None  # not a model strategy: _strategy_fn gave a rule
            request = self._fn(time, load, soc0, self.step_s)
            dis, ch = self.limits_mw()
            self.p_mw = float(min(max(request, -dis), ch))
        net.storage.loc[self.storage_index, "p_mw"] = self.p_mw * self.weights
        net.storage.loc[self.storage_index, "soc_percent"] = soc0
        self._log["time_step"].append(time)
        self._log["campus_p_mw"].append(load)
        self._log["request_p_mw"].append(float(request))
        self._log["saturation_p_mw"].append(float(request) - self.p_mw)
        self._log["saturated"].append(bool(not (abs(float(request) - self.p_mw) <= 1e-12)))

    def initialize_control(self, net: pp.pandapowerNet) -> None:
        """Start a time step: dispatch is written in :meth:`time_step`; volt-var starts a new fixed point."""
        self.applied = False
        self.first = True
        self._vv_prev = None

    def is_converged(self, net: pp.pandapowerNet) -> bool:
        """Whether the step is settled: volt-var's fixed point where it is on, else the dispatch written."""
        if self.volt_var is not None:
            return self._vv_is_converged(net)
        return self.applied

    def control_step(self, net: pp.pandapowerNet) -> None:
        """One volt-var update where it is on; mark the dispatch written."""
        if self.volt_var is not None:
            self._vv_control_step(net)
        self.applied = True

    def finalize_step(self, net: pp.pandapowerNet, time: int) -> None:
        """Integrate the energy of the step."""
        if self.volt_var is not None:
            self._vv_finalize(net)
        dt_h = self.step_s / 3600.0
        p = self.p_mw
        if self.model_strategy:
            self.e_mwh = float(cast(Strategy, self.strategy).e_mwh)
        else:
            self.e_mwh += (p * self.eta_charge if p > 0 else p / self.eta_discharge) * dt_h
            self.e_mwh = min(max(self.e_mwh, self.e_min_mwh), self.e_max_mwh)  # rounding only
        self._log["p_mw"].append(p)
        self._log["q_mvar"].append(float(net.storage.loc[self.storage_index, "q_mvar"].sum()))
        self._log["soc_percent"].append(self.soc_percent)

    @property
    def results(self) -> pd.DataFrame:
        """Per step: campus load, request, applied P and Q, saturation, SOC at step end. [MW, Mvar, %]

        With a :class:`gridstudy.models.dispatch.Strategy` the request is known only where it was met
        (``request_p_mw``/``saturation_p_mw`` NaN on saturated steps; ``saturated`` is exact).
        """
        n = len(self._log["soc_percent"])
        return pd.DataFrame({k: v[:n] for k, v in self._log.items() if k != "time_step"},
                            index=pd.Index(self._log["time_step"][:n], name="time_step"))

    def __str__(self) -> str:
        return f"BatteryController [storage {list(self.storage_index)}]"


class CampusVoltageController(Controller):  # type: ignore[misc]  # pandapower ships no type hints: Controller is Any
    """Campus loads whose draw depends on their bus voltage, solved as a fixed point per step.

    Each step the loads' ``p_mw``/``q_mvar`` as written by the profiles (``ConstControl``) are the
    scheduled draw ``S_sched``; the controller then sets ``S = S_sched · m`` and iterates power flow
    ↔ ``m`` until ``|S_sched| · |m(V) - m| < tol_mva`` for every load, with ``m(V)``
    :func:`gridstudy.models.campus_voltage.multiplier` at the load's bus voltage and the same
    secant-damped update as volt-var (:func:`volt_var_update`: the draw falls as the voltage falls,
    so ``h(m) = m(V(m)) - m`` decreases and its root is unique). The recorded ``p_mw``/``q_mvar``
    are the drawn values. Every iterate is a power flow with the loads held at ``S_sched · m``:
    where such an iterate lies beyond the nose of the PV curve the step fails, even though the
    voltage-dependent campus has a solution (the fast engine, which solves the dependence inside
    its Newton iterations, does not have that limit). The first pass therefore scales the
    previous step's voltages by the change of the source voltage (a scripted sag starts from a
    load the sagged grid can carry).

    Parameters
    ----------
    net : pandapowerNet
        The network.
    load_index : sequence of int
        Indices in ``net.load`` (the campus loads).
    response : CampusVoltageResponse
        The characteristic (:class:`gridstudy.models.campus_voltage.CampusVoltageResponse`).
    tol_mva : float
        Fixed-point tolerance. [MVA]
    ext_grids : sequence of int, optional
        The ``ext_grid`` rows whose voltage is the source's (default: every one in service; a
        grid-forming plant's EMF is not the source).
    """

    def __init__(self, net: pp.pandapowerNet, load_index: int | Sequence[int], response: CampusVoltageResponse,
                 tol_mva: float = P_TOL_MW, in_service: bool = True,
                 order: int = 3, level: int = -1, ext_grids: Sequence[int] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(net, in_service=in_service, order=order, level=level, initial_run=False,
                         recycle=dict(_RECYCLE_PQ), **kwargs)

        self.load_index = np.atleast_1d(np.asarray(load_index, dtype=np.int64))
        self.bus = net.load.loc[self.load_index, "bus"].to_numpy(dtype=np.int64)
        self.response = response
        self._m = multiplier
        self.tol_mva = float(tol_mva)
        self.p_sched = net.load.loc[self.load_index, "p_mw"].to_numpy(dtype=float).copy()
        self.q_sched = net.load.loc[self.load_index, "q_mvar"].to_numpy(dtype=float).copy()
        self.m = np.ones(len(self.load_index))
        self.first = True
        self._prev: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None
        self.ext_grids = None if ext_grids is None else np.asarray(ext_grids, dtype=np.int64)
        net.controller.at[self.index, "recycle"] = dict(_RECYCLE_PQ)

    def set_recycle(self, net: pp.pandapowerNet) -> None:
        """Declare what pandapower may reuse between steps (load P/Q change, the branches do not)."""
        net.controller.at[self.index, "recycle"] = dict(_RECYCLE_PQ)

    def time_step(self, net: pp.pandapowerNet, time: int) -> None:
        """Read the step's scheduled draw (written by the profiles' ``ConstControl`` before)."""
        self.p_sched = net.load.loc[self.load_index, "p_mw"].to_numpy(dtype=float).copy()
        self.q_sched = net.load.loc[self.load_index, "q_mvar"].to_numpy(dtype=float).copy()
        net.load.loc[self.load_index, "p_mw"] = self.p_sched * self.m
        net.load.loc[self.load_index, "q_mvar"] = self.q_sched * self.m
        # the source voltage now against the last step's: the first pass scales the campus voltage
        # by it, so that a scripted source sag starts from a load that the sagged grid can carry
        tab = net.ext_grid if self.ext_grids is None else net.ext_grid.loc[self.ext_grids]
        eg = tab.vm_pu[tab.in_service.astype(bool)].to_numpy(dtype=float)
        src = float(eg.min()) if len(eg) else 1.0
        prev = getattr(self, "_src_vm_pu", src)
        self._src_ratio = src / prev if prev > 0 else 1.0
        self._src_vm_pu = src

    def initialize_control(self, net: pp.pandapowerNet) -> None:
        """Start a time step: the first pass takes the previous step's voltages, scaled by the source."""
        self.first = True
        self._prev = None

    def target(self, net: pp.pandapowerNet, scale: float = 1.0) -> npt.NDArray[np.float64]:
        """``m(V · scale)`` at the voltages now in ``net.res_bus`` (the current ``m`` where none). [-]"""
        if not net.get("converged", False) or "vm_pu" not in net.res_bus:
            return self.m.copy()
        v = net.res_bus.vm_pu.reindex(self.bus).to_numpy(dtype=float) * scale
        par = self.response.params
        f = np.array([self._m(float(x), *par) if np.isfinite(x) else np.nan for x in v])
        return np.where(np.isfinite(f), f, self.m)

    def is_converged(self, net: pp.pandapowerNet) -> bool:
        """Whether ``m`` has settled: ``|S_sched| · |m(V) - m|`` below the tolerance at every load."""
        if self.first:
            return False
        s = np.hypot(self.p_sched, self.q_sched)
        return bool(np.all(np.abs(self.target(net) - self.m) * s < self.tol_mva))

    def control_step(self, net: pp.pandapowerNet) -> None:
        """One secant-damped update of the multipliers ``m`` from this step's voltages."""
        fresh = not self.first  # the voltages in res_bus were solved in this time step
        self.first = False
        m = self.m.copy()
        # first pass: the previous step's voltages, scaled by the source's change (see time_step)
        f = self.target(net) if fresh else self.target(net, getattr(self, "_src_ratio", 1.0))
        self.m = volt_var_update(m, f, self._prev if fresh else None)
        self._prev = (m, f) if fresh else None
        net.load.loc[self.load_index, "p_mw"] = self.p_sched * self.m
        net.load.loc[self.load_index, "q_mvar"] = self.q_sched * self.m

    def __str__(self) -> str:
        return f"CampusVoltageController [load {list(self.load_index)}]"
