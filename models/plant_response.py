"""How late the battery plant answers: measurement, control cycle, communication, inverter, ramp.

A real plant does not answer in the step the load moves. :class:`PlantResponse` holds the chain
between the campus load and the battery's terminal power, applied by the dispatch kernel
(:mod:`gridstudy.models.dispatch_kernel`) around every strategy:

1. **measurement**: the controller sees the campus load (P and Q) after a pure delay
   ``measurement_delay_s`` and a first-order filter ``measurement_tau_s``; every strategy works on
   this *measured* load, and its own view of the grid import is measured load + its command;
2. **control cycle**: the command the strategy computes is sampled and held at the controller
   period ``control_period_s`` (the output is refreshed once per cycle; the strategy's own filters
   still run at the study step on the measured signal);
3. **communication**: the held command reaches the inverters after ``comms_latency_s``;
4. **inverter**: the current loop follows the command as a first-order lag ``inverter_tau_s`` (P and
   Q alike);
5. **ramp**: the active power changes by at most ``ramp_mw_per_s`` (``None``: no limit);
6. **capability**: the P-Q circle at the inverter MVA (priority as the plant says) and the energy
   headroom of the state of charge cut the delivered power; the energy bookkeeping uses what is
   delivered.

Discrete time, at any step ``dt`` (10 ms .. 1 h). Every stage sees its input of the same step held
over that step, as the strategies always have; nothing adds an implicit step of delay, so a plant
with every parameter zero answers in the step the load moves and reproduces the dispatch without
a plant model bit for bit.

- A first-order stage (``tau > 0``) advances by its exact response to the held input:
  ``y = y_prev + (1 - exp(-dt / tau)) (x - y_prev)``; ``tau = 0`` passes the input unchanged.
- A pure delay ``d = (k + f) dt`` (``k`` whole steps, ``0 <= f < 1``) gives
  ``(1 - f) x[i - k] + f x[i - k - 1]``: linear interpolation between samples, which is the exact
  step average of the delayed signal when the input is held over each step (the series' own
  meaning: a value is the average over its step). A delay shorter than the step is therefore kept
  as a fraction of the previous step, never rounded to zero or up to a whole step.
- The controller samples at the first step that starts at or after each multiple of
  ``control_period_s`` (a period shorter than the step samples every step; a period that is not a
  whole number of steps jitters by less than one step around its mean rate).
- The plant starts in steady state: delay lines and filters hold the first step's values.

Sources and the reasons for the defaults: ``docs/sources/megapack.md §7``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Real
from typing import Any

from gridstudy.models.errors import ModelError, Problem, finite_parameters

__all__ = ["PlantResponse", "MAX_DELAY_S"]

#: Longest accepted delay, filter or control period (a plant slower than this is not a fast buffer). [s]
MAX_DELAY_S = 10.0

_TIMES = ("measurement_delay_s", "measurement_tau_s", "control_period_s", "comms_latency_s", "inverter_tau_s")


@finite_parameters
@dataclass(frozen=True)
class PlantResponse:
    """Response chain of the battery plant, from the campus load it measures to its terminal power.

    Defaults are the Megapack plant assumed by this package (``docs/sources/megapack.md §7``), each
    to be confirmed by the vendor; their sum is in the order of Hornsdale's "under 200 ms".
    :meth:`instantaneous` gives the plant that answers in the step the load moves.

    Parameters
    ----------
    measurement_delay_s : float
        Pure delay of the campus power measurement (one cycle of an RMS/phasor computation at
        50-60 Hz, about 20 ms). [s]
    measurement_tau_s : float
        Time constant of the first-order measurement filter. [s]
    control_period_s : float
        Cycle of the plant controller; its command is held between cycles. [s]
    comms_latency_s : float
        Latency from the plant controller to the inverters. [s]
    inverter_tau_s : float
        Time constant of the inverters' current loop, first order. [s]
    ramp_mw_per_s : float or None
        Largest change of the plant's active power per second; ``None``: no limit. [MW/s]
    """

    measurement_delay_s: float = 0.02
    measurement_tau_s: float = 0.02
    control_period_s: float = 0.05
    comms_latency_s: float = 0.05
    inverter_tau_s: float = 0.03
    ramp_mw_per_s: float | None = None

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ModelError(problems)

    @classmethod
    def instantaneous(cls) -> PlantResponse:
        """The plant that answers in the step the load moves (every delay and lag zero, no ramp limit)."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, None)

    def problems(self, prefix: str = "battery.response") -> list[Problem]:
        """Every problem of the parameter set, each with its field path (NaN and negative refused)."""
        p: list[Problem] = []
        for name in _TIMES:
            v = getattr(self, name)
            ok = isinstance(v, Real) and not isinstance(v, bool) and 0.0 <= float(v) <= MAX_DELAY_S
            if not ok:
                p.append(Problem(f"{prefix}.{name}", f"must lie in [0, {MAX_DELAY_S:g}] s (NaN refused)", v))
        r = self.ramp_mw_per_s
        if r is not None and not (isinstance(r, Real) and not isinstance(r, bool) and 0.0 < float(r) < math.inf):
            p.append(Problem(f"{prefix}.ramp_mw_per_s", "must be > 0 and finite, or None for no limit", r))
        return p

    @property
    def total_latency_s(self) -> float:
        """Sum of the delays and time constants, plus half a control period (the mean wait for
        the next cycle): the order of the time to about 63 % of a step. [s]"""
        return (self.measurement_delay_s + self.measurement_tau_s + 0.5 * self.control_period_s
                + self.comms_latency_s + self.inverter_tau_s)

    @property
    def is_instantaneous(self) -> bool:
        """True when the plant answers in the step the load moves."""
        return all(getattr(self, n) == 0.0 for n in _TIMES) and self.ramp_mw_per_s is None

    def replace(self, **changes: Any) -> PlantResponse:
        """A copy with ``changes`` applied (validated again)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(changes)
        return PlantResponse(**d)

    def scaled_to(self, total_latency_s: float) -> PlantResponse:
        """This response with every delay and time constant scaled so that
        :attr:`total_latency_s` is ``total_latency_s`` [s] (the ramp limit kept); 0 or less gives
        :meth:`instantaneous`."""
        if total_latency_s <= 0:
            return PlantResponse.instantaneous()
        f = total_latency_s / self.total_latency_s
        return self.replace(measurement_delay_s=self.measurement_delay_s * f, measurement_tau_s=self.measurement_tau_s * f,
                            control_period_s=self.control_period_s * f, comms_latency_s=self.comms_latency_s * f,
                            inverter_tau_s=self.inverter_tau_s * f)

    def describe(self) -> dict[str, float | None]:
        """The parameters, for summaries and the report's assumptions table."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
