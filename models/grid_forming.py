"""The grid-forming plant: a voltage source behind a virtual impedance, with its power loop.

A grid-forming inverter plant is a voltage source ``E∠δ`` behind a virtual impedance
``Z_v = r_pu + j x_pu`` (per unit on the plant's MVA) at its terminals. Within a step the internal
EMF ``E`` and angle ``δ`` are held (they are the states of the step) and the power flow decides how
each load edge divides between the grid and the plant, by the impedances; between steps the power
loop moves ``δ`` and ``E`` back towards the slow set-points the dispatch strategy gives (state of
charge, ramp limit), as the WECC generic grid-forming models do (``docs/sources/megapack.md §9``):

- ``loop = "droop"`` (REGFM_A1-like): the measured power is filtered, ``P_f`` with time constant
  ``tau_p_s``, and the angle moves at ``dδ/dt = ω_b · m_p · (P_set − P_f)`` (P–f droop; the grid's
  frequency is the nominal one in a quasi-static study). Without the filter the plant's share of a
  load edge decays to its set-point as a first-order response of time constant
  ``1 / (ω_b · m_p · K)``, ``K = ∂P_e/∂δ`` the synchronizing coefficient of the network seen from the
  plant's EMF; with the filter, a second-order one.
- ``loop = "vsm"`` (REGFM_B1-like, virtual synchronous machine): ``2H · dω/dt = P_set − P_e −
  D · (ω − 1)`` and ``dδ/dt = ω_b · (ω − 1)``: a second-order response of natural frequency
  ``√(ω_b K / 2H)`` and damping ratio ``D / (2 √(2H ω_b K))``.
- Q–V droop, both loops: ``E = E_0 + m_q · (Q_set − Q_f)``, ``Q_f`` the measured reactive power
  filtered with ``tau_q_s`` (``E_0``: the EMF of the steady state at the run's first step).
- Current limit: the plant's current is limited to ``current_limit_pu`` of its MVA rating at 1 pu
  voltage; beyond it the plant is a current source on the P–Q circle with the stated ``priority``
  (``"p"``: active power first, then reactive within the circle; ``"q"``: reactive first).

The loop is advanced once per step from the step's solution (explicit in the step): the
discretisation error of the settling is of the order of ``dt`` over the loop's time constant, 1 to
7 % at a 20-ms step for time constants of 0.3 to 2 s.

Every default is a generic-model value, to be confirmed by the vendor (``docs/sources/megapack.md §9``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Real
from typing import Any, Literal

from gridstudy.models.errors import ModelError, Problem, finite_parameters

__all__ = ["GridFormingControl", "LOOPS", "PRIORITIES", "NOMINAL_HZ", "loop_step", "parameter_vector", "initial_state",
           "loop_spectral_radius", "synchronizing_coefficient"]

#: Power-loop kinds: droop (REGFM_A1-like) and virtual synchronous machine (REGFM_B1-like).
LOOPS = ("droop", "vsm")
#: Current-limit priorities: active power first, or reactive power first.
PRIORITIES = ("p", "q")
#: Nominal frequency of the interconnections the reference sites are in (US). [Hz]
NOMINAL_HZ = 60.0

#: Virtual reactance range of the WECC generic grid-forming models (REGFM_B1: 0.04 <= Xe <= 0.40). [pu]
X_RANGE_PU = (0.04, 0.40)


@finite_parameters
@dataclass(frozen=True)
class GridFormingControl:
    """Parameters of a grid-forming plant (see the module docstring).

    Parameters
    ----------
    loop : {'droop', 'vsm'}
        Power loop: P–f droop (REGFM_A1-like) or virtual synchronous machine (REGFM_B1-like).
    r_pu, x_pu : float
        Virtual resistance and reactance at the inverter terminals, per unit on the plant's MVA
        (``x_pu`` in the generic models' range 0.04–0.40, ``r_pu <= 0.25 x_pu``). [pu]
    mp : float
        P–f droop gain (droop loop): frequency deviation per unit of power error, 0.05 = 5 %. [pu/pu]
    mq : float
        Q–V droop gain (both loops): EMF change per unit of reactive-power error. [pu/pu]
    tau_p_s, tau_q_s : float
        Time constants of the active- and reactive-power measurement filters. [s]
    h_s : float
        Inertia constant of the virtual synchronous machine (vsm loop), on the plant's MVA. [s]
    d_pu : float
        Damping of the virtual synchronous machine (vsm loop): power per unit speed deviation. [pu/pu]
    current_limit_pu : float
        Largest current, per unit of the plant's rated current (its MVA at 1 pu voltage); at most
        1.0, the plant's MVA. [pu]
    priority : {'p', 'q'}
        What the current limit keeps first: active power or reactive power.
    """

    loop: Literal["droop", "vsm"] = "droop"
    r_pu: float = 0.0
    x_pu: float = 0.15
    mp: float = 0.05
    mq: float = 0.05
    tau_p_s: float = 0.02
    tau_q_s: float = 0.02
    h_s: float = 2.0
    d_pu: float = 100.0
    current_limit_pu: float = 1.0
    priority: Literal["p", "q"] = "p"

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ModelError(problems)

    def problems(self, prefix: str = "battery.control") -> list[Problem]:
        """Every problem of the parameter set, each with its field path."""
        p: list[Problem] = []

        def num(v: Any) -> bool:
            return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(float(v))

        if self.loop not in LOOPS:
            p.append(Problem(f"{prefix}.loop", f"must be one of {', '.join(LOOPS)}", self.loop))
        if self.priority not in PRIORITIES:
            p.append(Problem(f"{prefix}.priority", f"must be one of {', '.join(PRIORITIES)}", self.priority))
        lo, hi = X_RANGE_PU
        if not (num(self.x_pu) and lo <= float(self.x_pu) <= hi):
            p.append(Problem(f"{prefix}.x_pu", f"virtual reactance must lie in [{lo:g}, {hi:g}] pu "
                                              "(the WECC generic grid-forming models' range)", self.x_pu))
        if not (num(self.r_pu) and 0.0 <= float(self.r_pu)
                and (not num(self.x_pu) or float(self.r_pu) <= 0.25 * float(self.x_pu))):
            p.append(Problem(f"{prefix}.r_pu", "virtual resistance must lie in [0, 0.25 x_pu] pu", self.r_pu))
        for name in ("mp", "mq"):
            v = getattr(self, name)
            if not (num(v) and 0.0 < float(v) <= 1.0):
                p.append(Problem(f"{prefix}.{name}", "droop gain must lie in (0, 1] pu/pu (zero is refused)", v))
        for name in ("tau_p_s", "tau_q_s"):
            v = getattr(self, name)
            if not (num(v) and 0.0 <= float(v) <= 10.0):
                p.append(Problem(f"{prefix}.{name}", "filter time constant must lie in [0, 10] s", v))
        if not (num(self.h_s) and 0.0 < float(self.h_s) <= 30.0):
            p.append(Problem(f"{prefix}.h_s", "inertia constant must lie in (0, 30] s", self.h_s))
        if not (num(self.d_pu) and 0.0 <= float(self.d_pu) <= 1000.0):
            p.append(Problem(f"{prefix}.d_pu", "damping must lie in [0, 1000] pu (negative refused)", self.d_pu))
        if not (num(self.current_limit_pu) and 0.0 < float(self.current_limit_pu) <= 1.0):
            p.append(Problem(f"{prefix}.current_limit_pu",
                             "current limit must lie in (0, 1] pu of the plant's rated current (its MVA)",
                             self.current_limit_pu))
        return p

    @property
    def omega_b(self) -> float:
        """Base angular frequency. [rad/s]"""
        return 2.0 * math.pi * NOMINAL_HZ

    @property
    def z_pu(self) -> complex:
        """The virtual impedance on the plant's MVA. [pu]"""
        return complex(self.r_pu, self.x_pu)

    def replace(self, **changes: Any) -> GridFormingControl:
        """A copy with ``changes`` applied (validated again)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(changes)
        return GridFormingControl(**d)

    def describe(self) -> dict[str, float | str]:
        """The parameters, for summaries and the report's assumptions table."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: Slots of the loop's state vector (:func:`loop_step`): internal angle [rad], speed [pu], filtered
#: active and reactive power [pu of the plant's MVA, generator sign], EMF [pu], EMF at zero
#: reactive-power error [pu].
(S_DELTA, S_OMEGA, S_PF, S_QF, S_E, S_E0, N_STATE) = range(7)
#: Slots of the loop's parameter vector (:meth:`GridFormingControl.vector`).
(P_LOOP, P_MP, P_MQ, P_TAUP, P_TAUQ, P_H, P_D, P_WB, N_PARAM) = range(9)


def loop_step(x: Any, par: Any, p_e: float, q_e: float, p_set: float, q_set: float, dt: float) -> None:
    """Advance the power loop by one step ``dt`` [s] from the step's solution, in place.

    ``x``: state vector (slots ``S_*``), ``par``: parameter vector (slots ``P_*``, from
    :func:`parameter_vector`); ``p_e``, ``q_e``: the plant's output of the step, ``p_set``,
    ``q_set``: its set-points, all per unit of the plant's MVA in generator sign (export positive).
    Droop: ``P_f`` filtered exactly for a held input, ``ω = 1 + m_p (P_set − P_f)``; VSM: ``ω``
    by semi-implicit Euler on ``2H dω/dt = P_set − P_e − D (ω − 1)``; both ``δ += ω_b (ω − 1) dt``
    and ``E = E_0 + m_q (Q_set − Q_f)``. Plain arithmetic, so that the fast engine compiles the same
    function (:mod:`gridstudy.studies.qsts.fast_kernel`) the reference engine calls.
    """
    a_p = 1.0 - math.exp(-dt / par[P_TAUP]) if par[P_TAUP] > 0.0 else 1.0
    a_q = 1.0 - math.exp(-dt / par[P_TAUQ]) if par[P_TAUQ] > 0.0 else 1.0
    x[S_PF] = x[S_PF] + a_p * (p_e - x[S_PF])
    x[S_QF] = x[S_QF] + a_q * (q_e - x[S_QF])
    if par[P_LOOP] == 0.0:
        x[S_OMEGA] = 1.0 + par[P_MP] * (p_set - x[S_PF])
    else:
        x[S_OMEGA] = x[S_OMEGA] + dt / (2.0 * par[P_H]) * (p_set - p_e - par[P_D] * (x[S_OMEGA] - 1.0))
    x[S_DELTA] = x[S_DELTA] + par[P_WB] * (x[S_OMEGA] - 1.0) * dt
    x[S_E] = x[S_E0] + par[P_MQ] * (q_set - x[S_QF])


def parameter_vector(control: GridFormingControl) -> list[float]:
    """The parameter vector of :func:`loop_step` (slots ``P_*``)."""
    c = control
    return [float(LOOPS.index(c.loop)), c.mp, c.mq, c.tau_p_s, c.tau_q_s, c.h_s, c.d_pu, c.omega_b]


def initial_state(delta_rad: float, e_pu: float, p_pu: float, q_pu: float, q_set_pu: float,
                  control: GridFormingControl) -> list[float]:
    """The loop's state in steady state at an operating point: angle ``delta_rad`` and EMF ``e_pu``
    of the solved step, its output ``p_pu``/``q_pu``, and the reactive set-point ``q_set_pu`` (so
    that ``E_0 + m_q (Q_set − Q) = E``)."""
    x = [0.0] * N_STATE
    x[S_DELTA], x[S_OMEGA], x[S_PF], x[S_QF], x[S_E] = delta_rad, 1.0, p_pu, q_pu, e_pu
    x[S_E0] = e_pu - control.mq * (q_set_pu - q_pu)
    return x


def loop_spectral_radius(control: GridFormingControl, k_sync: float, dt: float) -> float:
    """The spectral radius of the power loop as :func:`loop_step` advances it, linearised about a
    steady state with the plant's output ``P_e = K δ`` (``k_sync`` = K = ∂P_e/∂δ, pu of the plant's
    MVA per rad), at step ``dt`` [s]: below 1 the loop settles, at or above 1 it diverges.

    Droop, states ``(δ, P_f)``, ``a = 1 − exp(−dt/τ_p)``, ``c = ω_b m_p dt``:
    ``P_f⁺ = a K δ + (1 − a) P_f``, ``δ⁺ = δ − c P_f⁺``. VSM, states ``(δ, ω)``, ``b = dt / 2H``:
    ``ω⁺ = −b K δ + (1 − b D) ω``, ``δ⁺ = δ + ω_b dt ω⁺``.
    """
    wb = control.omega_b
    if control.loop == "droop":
        a = 1.0 - math.exp(-dt / control.tau_p_s) if control.tau_p_s > 0.0 else 1.0
        c = wb * control.mp * dt
        m = [[1.0 - c * a * k_sync, -c * (1.0 - a)], [a * k_sync, 1.0 - a]]
    else:
        b = dt / (2.0 * control.h_s)
        m = [[1.0 - wb * dt * b * k_sync, wb * dt * (1.0 - b * control.d_pu)], [-b * k_sync, 1.0 - b * control.d_pu]]
    tr = m[0][0] + m[1][1]
    det = m[0][0] * m[1][1] - m[0][1] * m[1][0]
    disc = tr * tr / 4.0 - det
    if disc >= 0.0:
        r = math.sqrt(disc)
        return max(abs(tr / 2.0 + r), abs(tr / 2.0 - r))
    return math.sqrt(det)  # a complex pair: |λ|² = det


def synchronizing_coefficient(control: GridFormingControl, x_network_pu: float) -> float:
    """The synchronizing coefficient ``K ≈ E V / (x_v + x_network)`` at 1 pu voltages, pu of the
    plant's MVA per rad: ``x_network_pu`` the network's Thevenin reactance seen from the plant's
    terminals on the plant's MVA. [pu/rad]"""
    return 1.0 / (control.x_pu + x_network_pu)
