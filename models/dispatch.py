"""Battery dispatch strategies, seen from the grid: what the utility sees is campus + battery.

Each strategy is a small stateful object that a power-flow controller can drive one step at a time
(:meth:`Strategy.reset`, :meth:`Strategy.step`); :func:`dispatch` runs the same compiled step
over a whole series and gives byte-identical results. Signs are pandapower's: campus draw and
battery *charging* positive; grid import ``grid_p_mw = campus_p_mw + battery_p_mw``.

Strategies (limits from ``docs/sources/criteria.md §5``, "Grid-side power variation of large loads"):

``none``
    Battery idle (its auxiliary load still drawn).
``ramp_limit``
    Grid import follows a low-pass of the campus load but changes by at most ``ramp_mw_per_min``
    per minute and by at most ``window_mw`` peak to peak in any ``window_s`` window (ERCOT proposed
    10 MW in 5 s; IESO, CAISO, Southern Company 20 MW/min).
``smoothing``
    Grid import is a first-order low-pass of the campus load with time constant ``tau_s``.
``import_cap``
    Peak shaving: grid import never above ``cap_mw``.
``load_loss_absorption``
    When the campus suddenly loses most of its load (a trip to backup), the battery charges to take
    the lost load and hands it back to the grid as a ramp of ``release_mw_per_min``.

Every strategy may run behind a plant that answers late (:class:`~gridstudy.models.plant_response.PlantResponse`,
``response=``): it then works on the *measured* campus load, and the battery's output follows its
command through the control cycle, communication latency, inverter lag, ramp limit and capability
circle. Without one (``response=None``) the plant answers in the step the load moves.

State-of-charge recovery (:class:`SocRecovery`) adds a small grid-side offset toward a target
SOC; it is added before the grid-side limits, so it never breaks them. Reactive power
(:class:`ReactiveControl`): none, a fixed power factor (of the battery's own output or of the grid
import), or a volt-var curve whose voltage the engine supplies per step.

When SOC, power or apparent-power limits make the strategy's wish impossible, the battery delivers
what it can, the step is flagged ``saturated`` and the grid-side limit is broken honestly.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from gridstudy.models.battery import MegapackPlant
from gridstudy.models.dispatch_kernel import (
    _AUX,
    _CAP,
    _CAPMW,
    _DCOMM,
    _DLEN,
    _DMEAS,
    _E,
    _EHI,
    _ELO,
    _ETAC,
    _ETAD,
    _ETGT,
    _HIST,
    _LOSS,
    _NLINES,
    _NONE,
    _NPAR,
    _NSTATE,
    _PMAX,
    _Q_PF_BATTERY,
    _Q_PF_GRID,
    _Q_VOLTVAR,
    _QMODE,
    _QPRIO,
    _RAMP,
    _RAMPP,
    _RAMPR,
    _RECMAX,
    _RECT,
    _REL,
    _SMAX,
    _SMOOTH,
    _TANPHI,
    _TAU,
    _TCTRL,
    _TINV,
    _TMEAS,
    _TRIG,
    _WINMW,
    _WINS,
    _run,
)
from gridstudy.models.errors import ModelError, Problem, finite_parameters
from gridstudy.models.grid_forming import GridFormingControl
from gridstudy.models.plant_control import PlantControl
from gridstudy.models.plant_response import PlantResponse
from gridstudy.models.timeindex import step_seconds, window_samples

__all__ = ["VoltVarCurve", "TRANSMISSION_KV", "IEEE1547_CAT_B", "IEEE2800_VOLT_VAR", "default_volt_var",
           "ReactiveControl", "SocRecovery", "StepResult", "Strategy", "NoDispatch",
           "RampLimit", "Smoothing", "ImportCap", "LoadLossAbsorption", "STRATEGIES", "make_strategy",
           "dispatch", "dispatch_chunks", "summarize", "max_ramp_mw", "OUTPUT_COLUMNS"]

OUTPUT_COLUMNS = ("campus_p_mw", "campus_q_mvar", "battery_p_mw", "battery_q_mvar", "soc_percent", "e_mwh",
                  "grid_p_mw", "grid_q_mvar", "saturated")

@finite_parameters
@dataclass(frozen=True)
class VoltVarCurve:
    """Battery reactive power as a piecewise-linear function of its bus voltage.

    Parameters
    ----------
    v_pu : tuple of float
        Voltage points, increasing. [pu]
    q_pu : tuple of float
        Reactive power at those points, per unit of the plant's inverter MVA, consumer sign
        (positive absorbs): above nominal voltage the plant absorbs. Default: IEEE 1547-style,
        full injection at 0.92 pu, dead band 0.98-1.02, full absorption at 1.08. [pu]
    response_time_s : float
        Open-loop response time: the plant's Q reaches 90 % of a step change of the curve's Q
        within it (first order, time constant ``response_time_s / ln 10``); 0: at once (the curve
        is met within each step). Default 5 s, the IEEE 1547-2018 Category B default
        (``docs/sources/megapack.md §3``). [s]
    basis : str
        Where the values come from, for the summary and the report.

    The defaults are those of a distribution-connected plant; :func:`default_volt_var` gives the
    defaults of a plant by its POI voltage (IEEE 2800-2022 style on transmission).
    """

    v_pu: tuple[float, ...] = (0.92, 0.98, 1.02, 1.08)
    q_pu: tuple[float, ...] = (-0.44, 0.0, 0.0, 0.44)
    response_time_s: float = 5.0
    basis: str = "IEEE 1547-2018 Category B default"

    def problems(self, prefix: str = "battery.reactive.curve") -> list[Problem]:
        """Every problem of the curve: lengths, rising ``v_pu``, ``q_pu`` within ±1, response time within [0, 600] s."""
        p = []
        if len(self.v_pu) != len(self.q_pu) or len(self.v_pu) < 2:
            p.append(Problem(f"{prefix}", "v_pu and q_pu need the same length, at least 2", (len(self.v_pu), len(self.q_pu))))
        elif any(b <= a for a, b in pairwise(self.v_pu)):
            p.append(Problem(f"{prefix}.v_pu", "must increase strictly", list(self.v_pu)))
        if any(abs(q) > 1 for q in self.q_pu):
            p.append(Problem(f"{prefix}.q_pu", "must lie in [-1, 1]", list(self.q_pu)))
        if not (0.0 <= self.response_time_s <= 600.0):
            p.append(Problem(f"{prefix}.response_time_s", "must lie in [0, 600]", self.response_time_s))
        return p

    def __call__(self, vm_pu: float | np.ndarray) -> np.float64 | np.ndarray:
        """Q of the curve at ``vm_pu``, per unit of the inverter rating, linear between its points. [pu]"""
        return np.interp(vm_pu, self.v_pu, self.q_pu)

    def lag_factor(self, step_s: float) -> float:
        """Fraction of the gap to the curve's Q closed within one step of ``step_s`` [s]:
        ``1 - exp(-step_s / tau)``, ``tau = response_time_s / ln 10``; exactly 1.0 when
        ``response_time_s`` is 0. [-]"""
        if self.response_time_s <= 0.0:
            return 1.0
        return -math.expm1(-float(step_s) * math.log(10.0) / float(self.response_time_s))


#: POI nominal voltage at and above which a plant is transmission-connected for its reactive-power
#: defaults: 69 kV, the lowest common sub-transmission voltage in North America; IEEE 2800-2022
#: covers inverter-based resources on transmission and sub-transmission systems
#: (``docs/sources/megapack.md §3``). [kV]
TRANSMISSION_KV = 69.0

#: The IEEE 1547-2018 Category B default volt-var curve and response time (distribution).
IEEE1547_CAT_B = VoltVarCurve()

#: Volt-var defaults of a transmission-connected plant after IEEE 2800-2022: the full reactive
#: capability of 0.95 power factor at rated active power (0.3287 pu of the active rating, 0.312 pu
#: of an inverter sized at p / 0.95) at the edges of the continuous operating range 0.95-1.05 pu,
#: a dead band of +-0.5 % and a 1-s response: droop, dead band and response time are set by the
#: transmission owner and are assumptions here (``docs/sources/megapack.md §3``).
IEEE2800_VOLT_VAR = VoltVarCurve((0.95, 0.995, 1.005, 1.05), (-0.312, 0.0, 0.0, 0.312), 1.0,
                                 "IEEE 2800-2022 style (transmission): capability of 0.95 PF at rated power, "
                                 "droop, dead band and response time assumed")


def default_volt_var(poi_vn_kv: float | None) -> VoltVarCurve:
    """The default volt-var curve of a plant whose POI has the nominal voltage ``poi_vn_kv`` [kV]:
    :data:`IEEE2800_VOLT_VAR` at and above :data:`TRANSMISSION_KV`, else (and for ``None``, an
    unknown POI) :data:`IEEE1547_CAT_B`."""
    if poi_vn_kv is not None and poi_vn_kv >= TRANSMISSION_KV:
        return IEEE2800_VOLT_VAR
    return IEEE1547_CAT_B


@finite_parameters
@dataclass(frozen=True)
class ReactiveControl:
    """Reactive-power mode of the battery plant.

    Parameters
    ----------
    mode : {"none", "fixed_pf", "volt_var"}
        No reactive power; a fixed power factor; or a volt-var curve (voltage from the engine).
    pf : float
        Target power factor for ``fixed_pf``; the pro-forma agreement asks 0.95 lagging to 0.95
        leading at the POI. [-]
    pf_reference : {"grid", "battery"}
        ``grid``: the battery holds the grid import (campus + battery) at ``pf``;
        ``battery``: the battery's own output runs at ``pf``.
    absorbing : bool
        True: lagging in the consumer view (Q has the sign of P, absorbing when importing).
    curve : VoltVarCurve
        Curve for ``volt_var``.
    """

    mode: Literal["none", "fixed_pf", "volt_var"] = "none"
    pf: float = 1.0
    pf_reference: Literal["grid", "battery"] = "grid"
    absorbing: bool = True
    curve: VoltVarCurve = field(default_factory=VoltVarCurve)

    def problems(self, prefix: str = "battery.reactive") -> list[Problem]:
        """Every problem of the reactive-power settings (mode, power factor and its reference, curve)."""
        p = []
        if self.mode not in ("none", "fixed_pf", "volt_var"):
            p.append(Problem(f"{prefix}.mode", "must be none, fixed_pf or volt_var", self.mode))
        if not (0 < self.pf <= 1):
            p.append(Problem(f"{prefix}.pf", "must lie in (0, 1]", self.pf))
        if self.pf_reference not in ("grid", "battery"):
            p.append(Problem(f"{prefix}.pf_reference", "must be grid or battery", self.pf_reference))
        return p + self.curve.problems(f"{prefix}.curve")


@finite_parameters
@dataclass(frozen=True)
class SocRecovery:
    """Steer the state of charge back toward a target where the strategy leaves room.

    The grid-side offset is ``(e_target - e) / time_s`` (charging positive), cut to ``max_mw``.

    Parameters
    ----------
    target_percent : float
        Target state of charge. [%]
    time_s : float
        Time constant of the recovery; 0 switches recovery off. [s]
    max_mw : float or None
        Largest recovery power; ``None``: 5 % of the plant rating. [MW]
    """

    target_percent: float = 50.0
    time_s: float = 3600.0
    max_mw: float | None = None

    def problems(self, prefix: str = "battery.recovery") -> list[Problem]:
        """Every problem of the recovery settings (target within [0, 100] %, time and power not negative)."""
        p = []
        if not (0 <= self.target_percent <= 100):
            p.append(Problem(f"{prefix}.target_percent", "must lie in [0, 100]", self.target_percent))
        if self.time_s < 0:
            p.append(Problem(f"{prefix}.time_s", "must be >= 0", self.time_s))
        if self.max_mw is not None and self.max_mw < 0:
            p.append(Problem(f"{prefix}.max_mw", "must be >= 0", self.max_mw))
        return p


class StepResult(NamedTuple):
    """What one :meth:`Strategy.step` returns."""

    battery_p_mw: float  #: plant draw at its terminal, charging positive [MW]
    battery_q_mvar: float  #: reactive power, absorbing positive [Mvar]
    saturated: bool  #: the strategy's active-power wish could not be met


class Strategy:
    """A dispatch strategy with a small stateful step API (base class).

    Call :meth:`reset` once, then :meth:`step` once per time step in order. The state (stored
    energy, low-pass, previous grid import, window history) lives in the object.

    Parameters
    ----------
    plant : MegapackPlant
        The battery plant.
    recovery : SocRecovery or None
        State-of-charge recovery; ``None`` switches it off.
    reactive : ReactiveControl or None
        Reactive-power mode; ``None``: no reactive power.
    response : PlantResponse or None
        How late the plant answers (measurement, control cycle, communication, inverter lag, ramp
        limit); ``None``: in the step the load moves, as :meth:`PlantResponse.instantaneous`.
    control : PlantControl or None
        The plant's control mode (:class:`gridstudy.models.plant_control.PlantControl`): the chain
        the kernel runs is :meth:`PlantControl.chain` of ``response`` (the local loop, the
        latency-aware filter, the grid-forming set-point); ``None``: grid-following on ``response``.
    """

    name = "base"
    _kind = _NONE

    def __init__(self, plant: MegapackPlant, *, recovery: SocRecovery | None = None,
                 reactive: ReactiveControl | None = None, response: PlantResponse | None = None,
                 control: PlantControl | None = None) -> None:
        self.plant = plant
        self.recovery = recovery
        self.reactive = reactive or ReactiveControl()
        self.response = response
        self.control = control
        problems = self.problems()
        if problems:
            raise ModelError(problems)
        self._P = self._params()
        curve = self.reactive.curve
        self._vv_v = np.asarray(curve.v_pu, dtype=float)
        self._vv_q = np.asarray(curve.q_pu, dtype=float)
        self._S = np.zeros(_NSTATE)
        self._hist = np.zeros(_HIST)
        self._dl = np.zeros((_NLINES, _DLEN))
        self.reset()

    # -- parameters
    def params(self) -> dict[str, Any]:
        """The keyword parameters the strategy was made with, beyond ``plant``, ``recovery``,
        ``reactive``, ``response`` and ``control`` (``make_strategy(s.name, s.plant, **s.params())`` makes it again)."""
        skip = {"self", "plant", "recovery", "reactive", "response", "control"}
        out: dict[str, Any] = {}
        for cls in type(self).__mro__:
            init = cls.__dict__.get("__init__")
            if init is None or cls is object:
                continue
            for k, p in inspect.signature(init).parameters.items():
                if k not in skip and p.kind is not p.VAR_KEYWORD and hasattr(self, k):
                    out.setdefault(k, getattr(self, k))
        return out

    def with_response(self, response: PlantResponse | None) -> Strategy:
        """A fresh copy of this strategy (same plant, parameters, recovery and reactive mode) whose
        plant answers with ``response``."""
        return make_strategy(self.name, self.plant, recovery=self.recovery, reactive=self.reactive,
                             response=response, control=self.control, **self.params())

    def with_control(self, control: PlantControl | None) -> Strategy:
        """A fresh copy of this strategy whose plant runs in the control mode ``control``."""
        return make_strategy(self.name, self.plant, recovery=self.recovery, reactive=self.reactive,
                             response=self.response, control=control, **self.params())

    @property
    def chain(self) -> PlantResponse | None:
        """The response chain the kernel runs: :meth:`PlantControl.chain` of :attr:`response`
        (``response`` itself without a control mode; ``None``: the plant answers at once)."""
        if self.control is None:
            return self.response
        base = self.response if self.response is not None else PlantResponse.instantaneous()
        return self.control.chain(base)

    @property
    def grid_forming(self) -> GridFormingControl | None:
        """The grid-forming parameters of the plant (``None``: not grid-forming)."""
        return self.control.forming if self.control is not None else None

    @property
    def mode(self) -> str:
        """The plant's control mode."""
        return self.control.mode if self.control is not None else "grid_following"

    def with_total_latency(self, total_latency_s: float) -> Strategy:
        """A copy whose plant answers with ``total_latency_s`` of total latency [s]: this strategy's
        response (or the Megapack defaults) scaled in every delay and time constant
        (:meth:`PlantResponse.scaled_to`); 0 gives the plant that answers in the step the load moves."""
        base = self.response if self.response is not None and not self.response.is_instantaneous \
            else PlantResponse()
        return self.with_response(base.scaled_to(total_latency_s))

    def problems(self, prefix: str = "battery") -> list[Problem]:
        """Every problem of the strategy's parameters."""
        p = self.reactive.problems(f"{prefix}.reactive")
        if self.recovery is not None:
            p += self.recovery.problems(f"{prefix}.recovery")
        if self.response is not None:
            p += self.response.problems(f"{prefix}.response")
        if self.control is not None:
            p += self.control.problems(f"{prefix}.control", self.response)
        return p

    def _params(self) -> np.ndarray:
        pl, P = self.plant, np.zeros(_NPAR)
        P[_PMAX], P[_SMAX] = pl.p_max_mw, pl.s_max_mva
        P[_ETAC], P[_ETAD] = pl.eta_charge, pl.eta_discharge
        P[_ELO], P[_EHI], P[_AUX] = pl.e_min_mwh, pl.e_high_mwh, pl.aux_mw
        P[_QPRIO] = 1.0 if pl.priority == "q" else 0.0
        r = self.reactive
        if r.mode == "fixed_pf":
            P[_QMODE] = _Q_PF_GRID if r.pf_reference == "grid" else _Q_PF_BATTERY
            P[_TANPHI] = math.tan(math.acos(r.pf)) * (1.0 if r.absorbing else -1.0)
        elif r.mode == "volt_var":
            P[_QMODE] = _Q_VOLTVAR
        rec = self.recovery
        if rec is not None and rec.time_s > 0:
            P[_ETGT] = pl.e_max_mwh * rec.target_percent / 100.0
            P[_RECT] = rec.time_s
            P[_RECMAX] = rec.max_mw if rec.max_mw is not None else 0.05 * pl.p_max_mw
        resp = self.chain
        if resp is not None:
            P[_DMEAS], P[_TMEAS] = resp.measurement_delay_s, resp.measurement_tau_s
            P[_TCTRL], P[_DCOMM], P[_TINV] = resp.control_period_s, resp.comms_latency_s, resp.inverter_tau_s
            P[_RAMPP] = resp.ramp_mw_per_s if resp.ramp_mw_per_s is not None else 0.0
        self._fill(P)
        return P

    def _fill(self, P: np.ndarray) -> None:
        """Strategy-specific slots of the parameter vector."""

    # -- the step API
    def reset(self, e_mwh: float | None = None, *, soc_percent: float | None = None) -> None:
        """Start again from stored energy ``e_mwh`` [MWh] or ``soc_percent`` [%] (default: the
        plant's initial SOC); the first following step starts the filters at its campus load."""
        if e_mwh is None:
            e_mwh = self.plant.e_max_mwh * soc_percent / 100.0 if soc_percent is not None else self.plant.e_init_mwh
        self._S[:] = 0.0
        self._S[_E] = float(e_mwh)
        self._hist[:] = 0.0
        self._dl[:] = 0.0

    def step(self, campus_p_mw: float, dt_s: float, *, campus_q_mvar: float = 0.0,
             vm_pu: float = float("nan")) -> StepResult:
        """Advance one step.

        Parameters
        ----------
        campus_p_mw : float
            Campus grid draw over this step. [MW]
        dt_s : float
            Step length. [s]
        campus_q_mvar : float
            Campus reactive draw (for ``fixed_pf`` at the grid). [Mvar]
        vm_pu : float
            Battery bus voltage for ``volt_var`` (NaN: no reactive power this step). [pu]

        Returns
        -------
        StepResult
            ``(battery_p_mw, battery_q_mvar, saturated)``, charging/absorbing positive.
        """
        out_p, out_q, out_e = np.empty(1), np.empty(1), np.empty(1)
        out_s = np.empty(1, dtype=np.bool_)
        _run(self._kind, self._P, self._S, self._hist, self._dl, self._vv_v, self._vv_q,
             np.array([campus_p_mw], dtype=float), np.array([campus_q_mvar], dtype=float),
             np.array([vm_pu], dtype=float), float(dt_s), self._window_samples(dt_s), out_p, out_q, out_e,
             out_s)
        return StepResult(float(out_p[0]), float(out_q[0]), bool(out_s[0]))

    def run(self, campus_p_mw: np.ndarray, dt_s: float, campus_q_mvar: np.ndarray | None = None,
            vm_pu: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Advance ``len(campus_p_mw)`` steps at once (same arithmetic as :meth:`step`).

        Returns ``(battery_p_mw, battery_q_mvar, e_mwh, saturated)`` arrays.
        """
        c = np.ascontiguousarray(campus_p_mw, dtype=float)
        n = len(c)
        cq = np.zeros(n) if campus_q_mvar is None else np.ascontiguousarray(campus_q_mvar, dtype=float)
        v = np.full(n, np.nan) if vm_pu is None else np.ascontiguousarray(vm_pu, dtype=float)
        out_p, out_q, out_e = np.empty(n), np.empty(n), np.empty(n)
        out_s = np.empty(n, dtype=np.bool_)
        _run(self._kind, self._P, self._S, self._hist, self._dl, self._vv_v, self._vv_q, c, cq, v, float(dt_s),
             self._window_samples(dt_s), out_p, out_q, out_e, out_s)
        return out_p, out_q, out_e, out_s

    def _window_samples(self, dt_s: float) -> int:
        """Samples in the strategy's peak-to-peak window at step ``dt_s`` [s] (0: no window), by
        :func:`~gridstudy.models.timeindex.window_samples`, the definition the criteria judge by."""
        w = float(self._P[_WINS])
        return window_samples(w, float(dt_s)) if w > 0.0 else 0

    @property
    def e_mwh(self) -> float:
        """Stored energy now. [MWh]"""
        return float(self._S[_E])

    @property
    def soc_percent(self) -> float:
        """State of charge now. [%]"""
        return 100.0 * self.e_mwh / self.plant.e_max_mwh

    def describe(self) -> dict[str, str | float]:
        """Name and parameters, for summaries."""
        return {"strategy": self.name}


class NoDispatch(Strategy):
    """Battery idle: it draws only its auxiliary load."""

    name = "none"
    _kind = _NONE


@finite_parameters
class RampLimit(Strategy):
    """Grid import limited in ramp rate and in swing over a short window.

    Parameters
    ----------
    plant : MegapackPlant
        The battery plant.
    ramp_mw_per_min : float
        Largest change of grid import per minute (IESO, CAISO, Southern Company: 20 MW/min). [MW/min]
    window_mw : float
        Largest peak-to-peak grid import within any ``window_s`` (ERCOT proposed: 10 MW in 5 s). [MW]
    window_s : float
        Window length; 0 switches the window limit off. The window holds the samples whose labels
        lie within ``window_s`` of each other, ``floor(window_s / step) + 1`` of them
        (:func:`~gridstudy.models.timeindex.window_samples`, the definition the grid-side criteria
        judge by), so a strategy set to ``window_mw`` passes a criterion of ``window_mw`` in
        ``window_s``; a window shorter than the step is left to the rate limit. [s]
    target_tau_s : float
        Time constant of the low-pass of the campus load that grid import follows inside the
        limits. [s]
    """

    name = "ramp_limit"
    _kind = _RAMP

    def __init__(self, plant: MegapackPlant, *, ramp_mw_per_min: float = 20.0, window_mw: float = 10.0,
                 window_s: float = 5.0, target_tau_s: float = 60.0, **kw: Any) -> None:
        self.ramp_mw_per_min, self.window_mw, self.window_s = ramp_mw_per_min, window_mw, window_s
        self.target_tau_s = target_tau_s
        super().__init__(plant, **kw)

    def problems(self, prefix: str = "battery") -> list[Problem]:
        """Every problem of the strategy's parameters (the base checks and its own)."""
        p = super().problems(prefix)
        if not self.ramp_mw_per_min > 0:
            p.append(Problem(f"{prefix}.ramp_mw_per_min", "must be > 0", self.ramp_mw_per_min))
        if not self.window_mw > 0:
            p.append(Problem(f"{prefix}.window_mw", "must be > 0", self.window_mw))
        if not (0 <= self.window_s <= 40.0):
            p.append(Problem(f"{prefix}.window_s", "must lie in [0, 40]", self.window_s))
        if not self.target_tau_s >= 0:
            p.append(Problem(f"{prefix}.target_tau_s", "must be >= 0", self.target_tau_s))
        return p

    def _fill(self, P: np.ndarray) -> None:
        P[_RAMPR] = self.ramp_mw_per_min / 60.0
        P[_WINMW], P[_WINS], P[_TAU] = self.window_mw, self.window_s, self.target_tau_s

    def describe(self) -> dict[str, str | float]:
        """Name and parameters, for summaries."""
        return {"strategy": self.name, "ramp_mw_per_min": self.ramp_mw_per_min, "window_mw": self.window_mw,
                "window_s": self.window_s}


@finite_parameters
class Smoothing(Strategy):
    """Grid import is a first-order low-pass of the campus load.

    Parameters
    ----------
    plant : MegapackPlant
        The battery plant.
    tau_s : float
        Time constant of the low-pass. [s]
    """

    name = "smoothing"
    _kind = _SMOOTH

    def __init__(self, plant: MegapackPlant, *, tau_s: float = 60.0, **kw: Any) -> None:
        self.tau_s = tau_s
        super().__init__(plant, **kw)

    def problems(self, prefix: str = "battery") -> list[Problem]:
        """Every problem of the strategy's parameters (the base checks and its own)."""
        p = super().problems(prefix)
        if not self.tau_s > 0:
            p.append(Problem(f"{prefix}.tau_s", "must be > 0", self.tau_s))
        return p

    def _fill(self, P: np.ndarray) -> None:
        P[_TAU] = self.tau_s

    def describe(self) -> dict[str, str | float]:
        """Name and parameters, for summaries."""
        return {"strategy": self.name, "tau_s": self.tau_s}


@finite_parameters
class ImportCap(Strategy):
    """Peak shaving: the battery discharges so that grid import stays at or below ``cap_mw``.

    Parameters
    ----------
    plant : MegapackPlant
        The battery plant.
    cap_mw : float
        Largest grid import. [MW]
    """

    name = "import_cap"
    _kind = _CAP

    def __init__(self, plant: MegapackPlant, *, cap_mw: float, **kw: Any) -> None:
        self.cap_mw = cap_mw
        super().__init__(plant, **kw)

    def problems(self, prefix: str = "battery") -> list[Problem]:
        """Every problem of the strategy's parameters (the base checks and its own)."""
        p = super().problems(prefix)
        if not self.cap_mw >= 0:
            p.append(Problem(f"{prefix}.cap_mw", "must be >= 0", self.cap_mw))
        return p

    def _fill(self, P: np.ndarray) -> None:
        P[_CAPMW] = self.cap_mw

    def describe(self) -> dict[str, str | float]:
        """Name and parameters, for summaries."""
        return {"strategy": self.name, "cap_mw": self.cap_mw}


@finite_parameters
class LoadLossAbsorption(Strategy):
    """Take a sudden loss of campus load into the battery and release it to the grid slowly.

    Engaged when the campus draw falls below ``(1 - trigger_fraction)`` of its recent level (a
    low-pass with ``detect_tau_s``); grid import then falls at ``release_mw_per_min`` until it meets
    the campus draw again, the battery charging the difference (what Tesla described to NERC).

    Parameters
    ----------
    plant : MegapackPlant
        The battery plant.
    release_mw_per_min : float
        Ramp at which the lost load is handed back to the grid. [MW/min]
    trigger_fraction : float
        Fraction of the recent load that must be lost in one step to engage. [-]
    detect_tau_s : float
        Time constant of the recent-load low-pass. [s]
    """

    name = "load_loss_absorption"
    _kind = _LOSS

    def __init__(self, plant: MegapackPlant, *, release_mw_per_min: float = 20.0, trigger_fraction: float = 0.8,
                 detect_tau_s: float = 10.0, **kw: Any) -> None:
        self.release_mw_per_min, self.trigger_fraction = release_mw_per_min, trigger_fraction
        self.detect_tau_s = detect_tau_s
        super().__init__(plant, **kw)

    def problems(self, prefix: str = "battery") -> list[Problem]:
        """Every problem of the strategy's parameters (the base checks and its own)."""
        p = super().problems(prefix)
        if not self.release_mw_per_min > 0:
            p.append(Problem(f"{prefix}.release_mw_per_min", "must be > 0", self.release_mw_per_min))
        if not (0 < self.trigger_fraction < 1):
            p.append(Problem(f"{prefix}.trigger_fraction", "must lie in (0, 1)", self.trigger_fraction))
        if not self.detect_tau_s > 0:
            p.append(Problem(f"{prefix}.detect_tau_s", "must be > 0", self.detect_tau_s))
        return p

    def _fill(self, P: np.ndarray) -> None:
        P[_REL], P[_TRIG], P[_TAU] = self.release_mw_per_min / 60.0, self.trigger_fraction, self.detect_tau_s

    def describe(self) -> dict[str, str | float]:
        """Name and parameters, for summaries."""
        return {"strategy": self.name, "release_mw_per_min": self.release_mw_per_min,
                "trigger_fraction": self.trigger_fraction}


STRATEGIES: dict[str, type[Strategy]] = {
    c.name: c for c in (NoDispatch, RampLimit, Smoothing, ImportCap, LoadLossAbsorption)
}


def make_strategy(name: str, plant: MegapackPlant, **params: Any) -> Strategy:
    """The strategy called ``name`` (a key of :data:`STRATEGIES`) with ``params``."""
    if name not in STRATEGIES:
        raise ModelError([Problem("battery.strategy", f"unknown strategy; known: {', '.join(STRATEGIES)}", name)])
    return STRATEGIES[name](plant, **params)


def dispatch(campus: pd.DataFrame | pd.Series, plant: MegapackPlant | None = None,
             strategy: Strategy | None = None, *, vm_pu: pd.Series | None = None,
             reset: bool = True) -> pd.DataFrame:
    """Run ``strategy`` over the campus series.

    Parameters
    ----------
    campus : pandas.DataFrame or pandas.Series
        ``campus_p_mw`` [MW] (and optionally ``campus_q_mvar`` [Mvar]) on a fixed-step
        DatetimeIndex; a Series is the active power.
    plant : MegapackPlant or None
        The plant; ``None`` takes ``strategy.plant``.
    strategy : Strategy or None
        The strategy; ``None``: :class:`NoDispatch`.
    vm_pu : pandas.Series or None
        Battery bus voltage for ``volt_var``. [pu]
    reset : bool
        Start from the plant's initial SOC (True), or continue from the strategy's state (False):
        a long horizon can be run in consecutive chunks that give the same result as one call.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`OUTPUT_COLUMNS` (battery charging positive, ``grid = campus + battery``);
        ``attrs``: ``step_s``, ``e0_mwh`` (stored energy before the first step), ``saturated_steps``,
        ``strategy``.
    """
    if isinstance(campus, pd.Series):
        campus = campus.rename("campus_p_mw").to_frame()
    if "campus_p_mw" not in campus:
        raise ModelError([Problem("campus.campus_p_mw", "required column is missing", None, has_value=False)])
    dt = step_seconds(campus.index, "campus.index")
    if strategy is None:
        if plant is None:
            raise ModelError([Problem("battery", "a plant or a strategy is required", None)])
        strategy = NoDispatch(plant)
    elif plant is not None and plant is not strategy.plant:
        raise ModelError([Problem("battery", "plant differs from the strategy's plant", None)])
    plant = strategy.plant
    cp = campus["campus_p_mw"].to_numpy(dtype=float)
    cq = campus["campus_q_mvar"].to_numpy(dtype=float) if "campus_q_mvar" in campus else np.zeros(len(cp))
    bad = ~np.isfinite(cp)
    if bad.any():
        raise ModelError([Problem("campus.campus_p_mw", "contains NaN or inf", int(bad.sum()))])
    if reset:
        strategy.reset()
    e0 = strategy.e_mwh
    v = None if vm_pu is None else pd.Series(vm_pu).reindex(campus.index).to_numpy(dtype=float)
    p, q, e, sat = strategy.run(cp, dt, cq, v)
    out = pd.DataFrame({
        "campus_p_mw": cp, "campus_q_mvar": cq, "battery_p_mw": p, "battery_q_mvar": q,
        "soc_percent": 100.0 * e / plant.e_max_mwh, "e_mwh": e,
        "grid_p_mw": cp + p, "grid_q_mvar": cq + q, "saturated": sat,
    }, index=campus.index)
    out.attrs.update({"step_s": dt, "e0_mwh": e0, "saturated_steps": int(sat.sum()), **strategy.describe()})
    if strategy.response is not None:
        out.attrs["plant_response"] = strategy.response.describe()
    return out


def dispatch_chunks(parts: Iterable[pd.DataFrame], strategy: Strategy) -> Iterator[pd.DataFrame]:
    """:func:`dispatch` over consecutive parts of one horizon, in order: the first part starts from
    the plant's initial state, each further one continues the strategy's state (``reset=False``),
    so the parts equal one call on the whole horizon. The strategy is changed as by ``dispatch``.

    Parameters
    ----------
    parts : iterable of pandas.DataFrame
        Consecutive campus parts (``campus_p_mw`` [MW], optionally ``campus_q_mvar`` [Mvar]).
    strategy : Strategy
        The strategy (bound to its plant).

    Yields
    ------
    pandas.DataFrame
        As :func:`dispatch`, per part.
    """
    for k, part in enumerate(parts):
        yield dispatch(part, strategy=strategy, reset=k == 0)


def max_ramp_mw(p_mw: pd.Series, window_s: float) -> float:
    """Largest peak-to-peak change of ``p_mw`` within any window of ``window_s``: max - min over
    :func:`~gridstudy.models.timeindex.window_samples` consecutive samples (``floor(window_s / step)
    + 1``, the samples whose labels lie within ``window_s`` of each other; at least two, so that a
    window shorter than the step still compares consecutive samples). [MW]"""
    dt = step_seconds(p_mw.index)
    n = max(2, window_samples(window_s, dt))
    x = p_mw.to_numpy(dtype=float)
    if len(x) < 2:
        return 0.0
    n = min(n, len(x))
    w = np.lib.stride_tricks.sliding_window_view(x, n)
    return float((w.max(axis=1) - w.min(axis=1)).max())


def summarize(result: pd.DataFrame) -> dict[str, float]:
    """Energy, peaks, grid-side ramps and saturation of a :func:`dispatch` result.

    Returns
    -------
    dict
        ``campus_energy_mwh``, ``grid_energy_mwh``, ``battery_charge_mwh``, ``battery_discharge_mwh``,
        ``campus_peak_mw``, ``grid_peak_mw``, ``grid_ramp_max_mw_per_min`` (largest swing within any
        60 s), ``grid_ramp_max_mw_per_5s`` (largest swing within any 5 s), the same for the campus,
        ``soc_min_percent``, ``soc_max_percent``, ``saturated_steps``, ``steps``, ``step_s``.
    """
    dt_h = float(result.attrs.get("step_s", step_seconds(result.index))) / 3600.0
    bp = result["battery_p_mw"].to_numpy()
    return {
        "steps": len(result), "step_s": dt_h * 3600.0,
        "campus_energy_mwh": float(result["campus_p_mw"].sum() * dt_h),
        "grid_energy_mwh": float(result["grid_p_mw"].sum() * dt_h),
        "battery_charge_mwh": float(bp[bp > 0].sum() * dt_h),
        "battery_discharge_mwh": float(-bp[bp < 0].sum() * dt_h),
        "campus_peak_mw": float(result["campus_p_mw"].max()),
        "grid_peak_mw": float(result["grid_p_mw"].max()),
        "campus_ramp_max_mw_per_min": max_ramp_mw(result["campus_p_mw"], 60.0),
        "campus_ramp_max_mw_per_5s": max_ramp_mw(result["campus_p_mw"], 5.0),
        "grid_ramp_max_mw_per_min": max_ramp_mw(result["grid_p_mw"], 60.0),
        "grid_ramp_max_mw_per_5s": max_ramp_mw(result["grid_p_mw"], 5.0),
        "soc_min_percent": float(result["soc_percent"].min()),
        "soc_max_percent": float(result["soc_percent"].max()),
        "saturated_steps": int(result["saturated"].sum()),
    }
