"""The grid-forming plant inside both QSTS engines (:attr:`gridstudy.studies.qsts.inputs.Controls.grid_forming`).

The site's battery storage is represented as a voltage source ``E∠δ`` behind the virtual
impedance ``Z_v = r_pu + j x_pu`` (per unit on the plant's MVA, the storages' ``sn_mva``) at the
storages' bus (:mod:`gridstudy.models.grid_forming`). :func:`add_grid_forming` makes that net
surgery on an engine's own copy of the net, once for both engines:

- an internal bus (the EMF's node) at the storages' voltage level;
- a pandapower ``impedance`` from the internal bus to the storages' bus (the *terminal*) with
  ``rft_pu``/``xft_pu`` = ``Z_v`` on its own ``sn_mva`` = the plant's MVA;
- an ``ext_grid`` at the internal bus whose ``vm_pu``/``va_degree`` are the loop's ``E`` and ``δ``
  each step (the *source mode*);
- an ``sgen`` at the terminal, out of service except in the *PQ mode* steps below;
- the site's storages out of service.

Set-points: the profiles' ``battery_p_mw``/``battery_q_mvar`` (consumer sign) are the plant's slow
set-points, ``p_set = -battery_p_mw / sn_mva``, ``q_set = -battery_q_mvar / sn_mva`` (generator
sign, pu of the plant's MVA), see :func:`set_points`.

A step, in both engines:

1. The run's first converged step is solved in PQ mode: the plant injects its set-point at the
   terminal (``ext_grid`` out of service, the ``sgen`` at the set-point; the internal bus then
   carries no current and sits at the terminal voltage). The loop starts in steady state from it
   (:func:`start_state`: the EMF behind the virtual impedance that delivers that power).
2. Every later step is solved in source mode with ``E``, ``δ`` from the loop's state: the power
   flow decides how each load edge divides between grid and plant.
3. Current limit, after a step's solve: the plant's current ``|S_t| / |V_t|`` (pu of its rated
   current, the MVA at 1 pu voltage; the same current flows through ``Z_v``) above
   ``current_limit_pu`` (by more than :data:`LIMIT_EPS`) makes the step *current-limited*: it is
   solved again in PQ mode with the plant's terminal power on the limit circle at the solved
   terminal voltage, with the stated priority (:func:`current_limited`).
4. The loop advances once from the step's solution (:func:`advance`, the model's
   :func:`gridstudy.models.grid_forming.loop_step` with the set-points of the step). After a
   current-limited step its states are re-aligned first: the EMF and angle become those that
   deliver the limited power at the solved terminal voltage (``E0`` shifted with ``E``), so the
   next step starts at the limit rather than from an EMF the plant could not hold.
5. A step that does not converge leaves the loop's state as it was.

The terminal power ``S_t`` (the power delivered into the storages' bus, generator sign) is what
the engines record as ``battery_p_mw``/``battery_q_mvar`` (consumer sign, ``-S_t · sn_mva``); the
grid import excludes the plant's ``ext_grid``; ``battery_current_limited`` (1.0 on a
current-limited step) is recorded per step and counted in the result's summary.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandapower as pp
from pandapower.control.basic_controller import Controller

from gridstudy.grid.errors import Problem
from gridstudy.grid.site import Site
from gridstudy.models.grid_forming import (
    S_DELTA,
    S_E,
    S_E0,
    GridFormingControl,
    initial_state,
    loop_step,
    parameter_vector,
)
from gridstudy.studies.errors import StudyError
from gridstudy.studies.qsts.results import CURRENT_LIMITED

__all__ = ["GridFormingPlant", "grid_forming_problems", "check_grid_forming", "add_grid_forming", "set_points",
           "current_limited", "emf_behind", "start_state", "advance", "GridFormingController", "LIMIT_EPS",
           "CURRENT_LIMITED"]

#: A current above ``current_limit_pu + LIMIT_EPS`` limits the step (both engines: the same rule). [pu]
LIMIT_EPS = 1e-9


@dataclass(frozen=True)
class GridFormingPlant:
    """Where the grid-forming plant sits in an engine's net (:func:`add_grid_forming`)."""

    control: GridFormingControl
    storages: tuple[int, ...]  # the site's storages (out of service in the engine's net)
    bus: int                   # the terminal: the storages' bus (net.bus index)
    internal_bus: int          # the EMF's node (net.bus index)
    impedance: int             # the virtual impedance (net.impedance index)
    ext_grid: int              # the EMF in source mode (net.ext_grid index)
    sgen: int                  # the plant in PQ mode (net.sgen index)
    sn_mva: float              # the plant's MVA: the base of the loop's per-unit quantities [MVA]

    @property
    def z_pu(self) -> complex:
        """The virtual impedance on the plant's MVA. [pu]"""
        return self.control.z_pu

    @property
    def parameters(self) -> np.ndarray:
        """The loop's parameter vector (:func:`gridstudy.models.grid_forming.parameter_vector`)."""
        return np.asarray(parameter_vector(self.control), dtype=float)


def _plant_storages(site: Site) -> list[int]:
    net = site.net
    return [int(s) for s in site.storages if bool(net.storage.at[s, "in_service"])]


def grid_forming_problems(inputs: Any) -> list[Problem]:
    """Why ``inputs`` (a :class:`gridstudy.studies.qsts.inputs.QSTSInputs`) cannot run with its
    grid-forming plant; empty when it can (or has none)."""
    controls = inputs.controls
    gfm = controls.grid_forming
    if gfm is None:
        return []
    out = []
    if not isinstance(gfm, GridFormingControl):
        return [Problem("controls.grid_forming", "must be a GridFormingControl", type(gfm).__name__)]
    if controls.battery_controller is not None:
        out.append(Problem("controls.grid_forming", "cannot be combined with controls.battery_controller (the "
                           "set-points come from the profiles' battery_p_mw/battery_q_mvar)",
                           type(controls.battery_controller).__name__))
    if controls.volt_var is not None:
        out.append(Problem("controls.grid_forming", "cannot be combined with controls.volt_var (the plant's "
                           "reactive power follows its Q-V droop)", "volt_var"))
    st = _plant_storages(inputs.site)
    net = inputs.site.net
    if not st:
        out.append(Problem("controls.grid_forming", "the site has no battery storage in service", inputs.site.name))
    else:
        buses = sorted({int(net.storage.at[s, "bus"]) for s in st})
        if len(buses) > 1:
            out.append(Problem("controls.grid_forming", "the site's storages must share one bus (one plant)", buses))
        sn = float(net.storage.loc[st, "sn_mva"].sum())
        if not (math.isfinite(sn) and sn > 0.0):
            out.append(Problem("controls.grid_forming", "the storages' sn_mva (the plant's MVA) must be positive", sn))
    return out


def check_grid_forming(inputs: Any) -> None:
    """Raise :class:`gridstudy.studies.errors.StudyError` with :func:`grid_forming_problems`."""
    problems = grid_forming_problems(inputs)
    if problems:
        raise StudyError(problems)


def add_grid_forming(net: pp.pandapowerNet, site: Site, control: GridFormingControl) -> GridFormingPlant:
    """Represent the site's storages in ``net`` (an engine's copy of ``site.net``, changed in place)
    as the grid-forming plant (module docstring); return where it sits."""
    st = _plant_storages(site)
    bus = int(net.storage.at[st[0], "bus"])
    sn = float(net.storage.loc[st, "sn_mva"].sum())
    name = "grid-forming plant"
    vn = float(net.bus.at[bus, "vn_kv"])
    internal = int(pp.create_bus(net, vn_kv=vn, name=f"{name} EMF"))
    imp = int(pp.create_impedance(net, internal, bus, rft_pu=control.r_pu, xft_pu=control.x_pu, sn_mva=sn,
                                  rtf_pu=control.r_pu, xtf_pu=control.x_pu, name=f"{name} virtual impedance"))
    eg = int(pp.create_ext_grid(net, internal, vm_pu=1.0, va_degree=0.0, name=f"{name} EMF"))
    sg = int(pp.create_sgen(net, bus, p_mw=0.0, q_mvar=0.0, in_service=False, name=f"{name} (PQ mode)"))
    net.storage.loc[st, "in_service"] = False
    return GridFormingPlant(control=control, storages=tuple(st), bus=bus, internal_bus=internal, impedance=imp,
                            ext_grid=eg, sgen=sg, sn_mva=sn)


def set_points(battery_p_mw: np.ndarray, battery_q_mvar: np.ndarray, sn_mva: float) -> tuple[np.ndarray, np.ndarray]:
    """The loop's set-points from the profiles' battery columns (consumer sign [MW, Mvar]):
    ``(p_set, q_set)``, generator sign, pu of the plant's MVA."""
    return (-np.asarray(battery_p_mw, dtype=float) / sn_mva, -np.asarray(battery_q_mvar, dtype=float) / sn_mva)


def current_limited(s_t: complex, v_t: float, control: GridFormingControl) -> tuple[complex, bool]:
    """The plant's terminal power within its current limit: ``(s, limited)``.

    ``s_t``: terminal power [pu of the plant's MVA, generator sign], ``v_t``: terminal voltage
    magnitude [pu]. Within ``current_limit_pu + LIMIT_EPS`` the power is returned as it is;
    beyond, the plant is a current source on the limit circle ``|s| = current_limit_pu · v_t``:
    priority ``'p'`` keeps ``P`` (clipped to the circle) and takes what ``Q`` is left, with its
    sign; ``'q'`` the other way round."""
    i_lim = control.current_limit_pu
    if abs(s_t) <= (i_lim + LIMIT_EPS) * v_t:
        return s_t, False
    s_max = i_lim * v_t
    p, q = s_t.real, s_t.imag
    if control.priority == "p":
        p = math.copysign(min(abs(p), s_max), p)
        q = math.copysign(math.sqrt(max(s_max * s_max - p * p, 0.0)), q)
    else:
        q = math.copysign(min(abs(q), s_max), q)
        p = math.copysign(math.sqrt(max(s_max * s_max - q * q, 0.0)), p)
    return complex(p, q), True


def emf_behind(v_t: complex, s_t: complex, z_pu: complex) -> complex:
    """The EMF that delivers ``s_t`` [pu, generator sign] at the terminal voltage ``v_t`` [pu]
    through ``z_pu``: ``E = V_t + Z_v · conj(S_t / V_t)``. [pu]"""
    return v_t + z_pu * (s_t / v_t).conjugate()


def _emf_output(v_t: complex, s_t: complex, z_pu: complex) -> complex:
    """The power the EMF gives for ``s_t`` delivered at ``v_t``: ``S_t + |I|² Z_v``. [pu]"""
    i2 = abs(s_t) ** 2 / abs(v_t) ** 2
    return s_t + i2 * z_pu


def start_state(v_t: complex, s_t: complex, q_set: float, control: GridFormingControl) -> np.ndarray:
    """The loop's state in steady state at a solved PQ-mode step (terminal voltage ``v_t`` [pu],
    terminal power ``s_t`` [pu, generator sign], reactive set-point ``q_set`` [pu])."""
    e = emf_behind(v_t, s_t, control.z_pu)
    s_e = _emf_output(v_t, s_t, control.z_pu)
    return np.asarray(initial_state(cmath.phase(e), abs(e), s_e.real, s_e.imag, q_set, control), dtype=float)


def advance(x: np.ndarray, par: np.ndarray, v_t: complex, s_t: complex, p_set: float, q_set: float, dt: float,
            limited: bool, control: GridFormingControl) -> None:
    """Advance the loop's state ``x`` in place from a solved step (terminal voltage ``v_t``, power
    ``s_t`` [pu, generator sign]); a ``limited`` step re-aligns ``δ``, ``E`` (and ``E0``) to the
    EMF that delivers ``s_t`` at ``v_t`` first (module docstring)."""
    if limited:
        e = emf_behind(v_t, s_t, control.z_pu)
        x[S_DELTA] = cmath.phase(e)
        x[S_E0] += abs(e) - x[S_E]
        x[S_E] = abs(e)
    s_e = _emf_output(v_t, s_t, control.z_pu)
    loop_step(x, par, s_e.real, s_e.imag, p_set, q_set, dt)


class GridFormingController(Controller):  # type: ignore[misc]  # pandapower ships no type hints: Controller is Any
    """The grid-forming plant in the reference engine's ``run_timeseries`` (module docstring).

    Per time step: PQ mode at the set-point until the first converged step, then source mode at
    the loop's ``E``, ``δ``; after each power flow of the step (once the ``peers``, the other
    controllers that iterate within a step, have settled) the current limit is checked and, when
    exceeded, the step is solved again in PQ mode on the limit circle. The step's reading
    (:meth:`reading`) is taken by the engine's output hook; ``finalize_step`` advances the loop.

    Parameters
    ----------
    net : pandapowerNet
        The engine's net, after :func:`add_grid_forming`.
    plant : GridFormingPlant
        Where the plant sits.
    p_set, q_set : ndarray
        Per-step set-points (:func:`set_points`). [pu]
    step_s : float
        Length of one time step. [s]
    peers : sequence
        Controllers whose fixed point must settle before the current limit is judged.
    """

    def __init__(self, net: pp.pandapowerNet, plant: GridFormingPlant, p_set: npt.ArrayLike, q_set: npt.ArrayLike,
                 step_s: float, peers: Sequence[Any] = (), in_service: bool = True, order: int = 10, level: int = -1,
                 **kwargs: Any) -> None:
        # recycle=False: the ext_grid is switched and its angle changes, so every step is a full runpp
        super().__init__(net, in_service=in_service, order=order, level=level, initial_run=False, recycle=False,
                         **kwargs)
        self.plant = plant
        self.p_set = np.asarray(p_set, dtype=float)
        self.q_set = np.asarray(q_set, dtype=float)
        self.dt = float(step_s)
        self.par = plant.parameters
        self.peers = list(peers)
        self.x: np.ndarray | None = None
        self.t = 0
        self.pq: complex | None = None  # PQ mode: the plant's terminal power [pu, generator sign]
        self.limited = False
        self.applied = False
        self.limited_steps = 0

    def _pq_mode(self, net: pp.pandapowerNet, s: complex) -> None:
        p = self.plant
        self.pq = s
        net.ext_grid.at[p.ext_grid, "in_service"] = False
        net.sgen.at[p.sgen, "in_service"] = True
        net.sgen.at[p.sgen, "p_mw"] = s.real * p.sn_mva
        net.sgen.at[p.sgen, "q_mvar"] = s.imag * p.sn_mva

    def _source_mode(self, net: pp.pandapowerNet) -> None:
        p, x = self.plant, self.x
        assert x is not None  # source mode only after the first converged step
        self.pq = None
        net.sgen.at[p.sgen, "in_service"] = False
        net.ext_grid.at[p.ext_grid, "in_service"] = True
        net.ext_grid.at[p.ext_grid, "vm_pu"] = float(x[S_E])
        net.ext_grid.at[p.ext_grid, "va_degree"] = math.degrees(float(x[S_DELTA]))

    def time_step(self, net: pp.pandapowerNet, time: int) -> None:
        """Before the step's power flow: the plant in source mode (PQ mode on the first step)."""
        self.t = int(time)
        self.limited = False
        self.applied = False
        if self.x is None:
            self._pq_mode(net, complex(self.p_set[self.t], self.q_set[self.t]))
        else:
            self._source_mode(net)

    def initialize_control(self, net: pp.pandapowerNet) -> None:
        """Before the run."""
        self.applied = False

    def terminal(self, net: pp.pandapowerNet) -> tuple[complex, complex]:
        """``(V_t [pu], S_t [pu of the plant's MVA, generator sign])`` from the last power flow."""
        p = self.plant
        vm = float(net.res_bus.vm_pu.at[p.bus])
        va = math.radians(float(net.res_bus.va_degree.at[p.bus]))
        v = cmath.rect(vm, va)
        if self.pq is not None:
            return v, self.pq
        # the power flowing into the impedance at the terminal end is the plant's delivery, negated
        s = complex(float(net.res_impedance.p_to_mw.at[p.impedance]), float(net.res_impedance.q_to_mvar.at[p.impedance]))
        return v, -s / p.sn_mva

    def is_converged(self, net: pp.pandapowerNet) -> bool:
        """Whether the step is done: solved once, and within the current limit (or limited)."""
        if not self.applied:
            return False
        if self.limited or not net.get("converged", False):
            return True
        if not all(c.is_converged(net) for c in self.peers):
            return True  # judged once the step's other fixed points have settled
        v, s = self.terminal(net)
        return not current_limited(s, abs(v), self.plant.control)[1]

    def control_step(self, net: pp.pandapowerNet) -> None:
        """After a power flow over the limit: the step again in PQ mode on the limit circle."""
        if not self.applied:
            self.applied = True
            return
        v, s = self.terminal(net)
        s_lim, _ = current_limited(s, abs(v), self.plant.control)
        self._pq_mode(net, s_lim)
        self.limited = True

    def reading(self, net: pp.pandapowerNet) -> tuple[float, float, bool]:
        """The step's delivered power at the terminal (consumer sign [MW, Mvar]) and whether it was
        current-limited."""
        _, s = self.terminal(net)
        return -s.real * self.plant.sn_mva, -s.imag * self.plant.sn_mva, self.limited

    def finalize_step(self, net: pp.pandapowerNet, time: int) -> None:
        """After the step: the loop's start state or its advance."""
        if not net.get("converged", False):
            return  # a step that did not converge leaves the state as it was
        v, s = self.terminal(net)
        t = int(time)
        if self.x is None:
            self.x = start_state(v, s, float(self.q_set[t]), self.plant.control)
        else:
            advance(self.x, self.par, v, s, float(self.p_set[t]), float(self.q_set[t]), self.dt, self.limited,
                    self.plant.control)
        if self.limited:
            self.limited_steps += 1

    def __str__(self) -> str:
        return f"GridFormingController [storage {list(self.plant.storages)}]"
