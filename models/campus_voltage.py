"""How the campus draw depends on its bus voltage: the power electronics' constant-power band, a
constant-current transition below it, and a static ZIP remainder.

The campus draw at bus voltage ``v`` [pu] is the scheduled draw (the profile's ``p_mw``,
``q_mvar``, taken at 1.0 pu) times the multiplier

``m(v) = f_e · pe(v) + (1 - f_e) · (z · v² + i · v + (1 - z - i))``

with ``pe(v) = 1`` for ``v >= knee_vm_pu`` (the servers' power supplies and the UPS rectifiers hold
their power) and ``pe(v) = v / knee_vm_pu`` below (input current limit: constant current,
continuous at the knee). ``f_e`` is the power-electronic share of the campus draw, ``z`` and ``i``
the constant-impedance and constant-current shares of the rest. P and Q scale alike (the campus
keeps its power factor). Below ``trip_vm_pu`` the power supplies drop out: that is *reported*
(:meth:`CampusVoltageResponse.dropout`), not applied inside the power flow; the load loss itself
is the business of the ride-through envelope and the disturbance counter
(:mod:`gridstudy.models.protection`), which take the campus to backup. Defaults and sources:
``docs/sources/load.md §9``.

:func:`multiplier` and :func:`multiplier_slope` are plain scalar functions of floats, so that the
fast engine compiles the very same definition (numba) that the reference engine calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridstudy.grid.errors import Problem
from gridstudy.models.errors import ModelError, finite_parameters

__all__ = ["CampusVoltageResponse", "multiplier", "multiplier_slope"]


def multiplier(vm_pu: float, electronic_fraction: float, knee_vm_pu: float, z_fraction: float,
               i_fraction: float) -> float:
    """The campus draw at ``vm_pu`` per unit of its scheduled draw (module docstring). [-]

    Parameters
    ----------
    vm_pu : float
        Voltage of the campus load bus. [pu]
    electronic_fraction : float
        Power-electronic share of the draw. [-]
    knee_vm_pu : float
        Lowest voltage at which the power electronics hold constant power. [pu]
    z_fraction, i_fraction : float
        Constant-impedance and constant-current shares of the remaining draw. [-]
    """
    pe = 1.0 if vm_pu >= knee_vm_pu else vm_pu / knee_vm_pu
    static = z_fraction * vm_pu * vm_pu + i_fraction * vm_pu + (1.0 - z_fraction - i_fraction)
    return electronic_fraction * pe + (1.0 - electronic_fraction) * static


def multiplier_slope(vm_pu: float, electronic_fraction: float, knee_vm_pu: float, z_fraction: float,
                     i_fraction: float) -> float:
    """``dm/dv`` of :func:`multiplier` (right-hand slope at the knee: 0 there). [1/pu]"""
    pe = 0.0 if vm_pu >= knee_vm_pu else 1.0 / knee_vm_pu
    return electronic_fraction * pe + (1.0 - electronic_fraction) * (2.0 * z_fraction * vm_pu + i_fraction)


@finite_parameters
@dataclass(frozen=True)
class CampusVoltageResponse:
    """Voltage dependence of the campus draw (module docstring; ``docs/sources/load.md §9``).

    Parameters
    ----------
    electronic_fraction : float
        Power-electronic share of the campus draw (servers' power supplies behind UPS rectifiers):
        the IT share of a campus at PUE 1.3, ``1 / 1.3``. [-]
    knee_vm_pu : float
        Below this voltage the power electronics draw constant current instead of constant power
        (double-conversion UPS input window, -15 % at full load). [pu]
    trip_vm_pu : float
        Below this voltage the power supplies drop out (reported, not applied). [pu]
    z_fraction : float
        Constant-impedance share of the rest of the draw (cooling, auxiliaries). [-]
    i_fraction : float
        Constant-current share of the rest of the draw; the remainder ``1 - z - i`` is constant
        power. [-]
    """

    electronic_fraction: float = 0.77
    knee_vm_pu: float = 0.85
    trip_vm_pu: float = 0.5
    z_fraction: float = 0.0
    i_fraction: float = 0.0

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ModelError(problems)

    def problems(self, prefix: str = "campus.voltage_response") -> list[Problem]:
        """Every problem of the parameters, each with its path and value."""
        out = []
        for name in ("electronic_fraction", "z_fraction", "i_fraction"):
            v = getattr(self, name)
            if not (0.0 <= v <= 1.0):
                out.append(Problem(f"{prefix}.{name}", "must lie in [0, 1]", v))
        if 0.0 <= self.z_fraction <= 1.0 and 0.0 <= self.i_fraction <= 1.0 and self.z_fraction + self.i_fraction > 1.0:
            out.append(Problem(f"{prefix}.z_fraction + i_fraction", "must not exceed 1",
                               self.z_fraction + self.i_fraction))
        if not (0.0 < self.knee_vm_pu <= 1.2):
            out.append(Problem(f"{prefix}.knee_vm_pu", "must lie in (0, 1.2]", self.knee_vm_pu))
        if not (0.0 <= self.trip_vm_pu < self.knee_vm_pu):
            out.append(Problem(f"{prefix}.trip_vm_pu", "must lie in [0, knee_vm_pu)", self.trip_vm_pu))
        return out

    @property
    def params(self) -> tuple[float, float, float, float]:
        """``(electronic_fraction, knee_vm_pu, z_fraction, i_fraction)``, the arguments of
        :func:`multiplier` after ``vm_pu``."""
        return (float(self.electronic_fraction), float(self.knee_vm_pu), float(self.z_fraction),
                float(self.i_fraction))

    def __call__(self, vm_pu: float | np.ndarray) -> np.ndarray:
        """:func:`multiplier` at each of ``vm_pu``. [-]"""
        v = np.atleast_1d(np.asarray(vm_pu, dtype=float))
        return np.array([multiplier(float(x), *self.params) for x in v])

    def dropout(self, vm_pu: float | np.ndarray) -> np.ndarray:
        """Where the power supplies would drop out (``vm_pu < trip_vm_pu``). [-]"""
        return np.asarray(vm_pu, dtype=float) < self.trip_vm_pu
