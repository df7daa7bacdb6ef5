"""How the battery plant buffers the campus: its control mode (``docs/sources/megapack.md §8``).

- ``grid_following``: the plant controller acts on the campus power measured at the POI through
  the plant's response chain (:class:`gridstudy.models.plant_response.PlantResponse`, ~0.145 s in
  all by default);
- ``grid_following_local``: the campus feeder measured at the plant by the inverters' own fast
  loop, ``local_latency_s`` in all (default 20 ms), split equally between the measurement delay and
  the inverter lag, with no plant-controller cycle and no communication hop;
- ``grid_forming``: a voltage source behind a virtual impedance
  (:class:`gridstudy.models.grid_forming.GridFormingControl`): it takes its share of every load
  edge within the step, by the impedances, with no measurement delay; the dispatch strategy gives
  its slow set-point (state of charge, ramp limit) through the response chain with the
  latency-aware filter on.

The **latency-aware filter** (``follow_filter``) lets a grid-following loop act only on what its
latency can follow: the measured campus signal passes through a first-order filter of time
constant ``follow_tau_factor`` × the chain's total latency ``T`` (added to the chain's own
measurement filter), so that the plant does not inject corrections it cannot deliver in time. A
correction delayed by ``T`` and filtered with ``τ = kT`` leaves ``|1 − e^{−jωT} / (1 + jωkT)|`` of a
component at ``ω`` on the grid: at most 1.48 for ``k = 1``, 1.15 for ``k = 5`` and 1.08 for the
default ``k = 10`` over all ``ω`` (``docs/sources/megapack.md §8``), where the loop without the
filter doubles components near ``ωT = π``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from numbers import Real
from typing import Any, Literal

from gridstudy.models.errors import ModelError, Problem, finite_parameters
from gridstudy.models.grid_forming import GridFormingControl
from gridstudy.models.plant_response import MAX_DELAY_S, PlantResponse

__all__ = ["PlantControl", "MODES"]

#: The plant's control modes.
MODES = ("grid_following", "grid_following_local", "grid_forming")


@finite_parameters
@dataclass(frozen=True)
class PlantControl:
    """The plant's control mode and its parameters (see the module docstring).

    Parameters
    ----------
    mode : {'grid_following', 'grid_following_local', 'grid_forming'}
        Control mode.
    local_latency_s : float
        Total latency of the local loop (``grid_following_local``): shorter than the central
        chain's control period plus its communication latency. [s]
    follow_filter : bool or None
        Act only on what the latency can follow (a first-order target filter of
        ``follow_tau_factor`` × total latency); ``None``: the mode's default — off for the
        grid-following modes, on for the grid-forming set-point (whose fast action is the plant's
        own response within the step).
    follow_tau_factor : float
        Time constant of the latency-aware filter, in multiples of the total latency. [-]
    grid_forming : GridFormingControl
        The grid-forming plant's parameters (used in ``grid_forming`` mode).
    """

    mode: Literal["grid_following", "grid_following_local", "grid_forming"] = "grid_following"
    local_latency_s: float = 0.02
    follow_filter: bool | None = None
    follow_tau_factor: float = 10.0
    grid_forming: GridFormingControl = field(default_factory=GridFormingControl)

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ModelError(problems)

    def problems(self, prefix: str = "battery.control", response: PlantResponse | None = None) -> list[Problem]:
        """Every problem of the parameter set, each with its field path; ``response``: the central
        chain the local loop must be faster than (default: the Megapack defaults)."""
        p: list[Problem] = []
        if self.mode not in MODES:
            p.append(Problem(f"{prefix}.mode", f"unknown control mode; known: {', '.join(MODES)}", self.mode))
        base = response if response is not None else PlantResponse()
        # judged against the central chain in local mode; otherwise against the default chain's bound
        # (an idealised central chain that answers at once sets no bound: the default chain's is used)
        ref = base if self.mode == "grid_following_local" and not base.is_instantaneous else PlantResponse()
        bound = ref.control_period_s + ref.comms_latency_s
        v = self.local_latency_s
        if not (isinstance(v, Real) and not isinstance(v, bool) and 0.0 < float(v) <= bound):
            p.append(Problem(f"{prefix}.local_latency_s",
                             f"must be > 0 and at most the central chain's control period plus its communication "
                             f"latency ({bound:g} s): a local loop slower than that is not local", v))
        f = self.follow_tau_factor
        if not (isinstance(f, Real) and not isinstance(f, bool) and 0.0 < float(f) <= 100.0):
            p.append(Problem(f"{prefix}.follow_tau_factor", "must lie in (0, 100]", f))
        if self.follow_filter is not None and not isinstance(self.follow_filter, bool):
            p.append(Problem(f"{prefix}.follow_filter", "must be true or false", self.follow_filter))
        if isinstance(self.grid_forming, GridFormingControl):
            p += self.grid_forming.problems(prefix)
        else:
            p.append(Problem(f"{prefix}.grid_forming", "must be a GridFormingControl", self.grid_forming))
        return p

    @property
    def filtered(self) -> bool:
        """Whether the latency-aware filter is on (``follow_filter``, or the mode's default)."""
        return self.is_grid_forming if self.follow_filter is None else bool(self.follow_filter)

    @property
    def forming(self) -> GridFormingControl | None:
        """The grid-forming parameters in force: ``grid_forming`` in ``grid_forming`` mode, else ``None``."""
        return self.grid_forming if self.is_grid_forming else None

    @property
    def is_grid_forming(self) -> bool:
        """True in ``grid_forming`` mode."""
        return self.mode == "grid_forming"

    def chain(self, base: PlantResponse) -> PlantResponse:
        """The response chain the dispatch runs in this mode, from the central chain ``base``:
        ``base`` itself (grid-following), the local loop (local), or the set-point chain of the
        grid-forming plant (``base`` with the latency-aware filter); the filter added where asked."""
        if self.mode == "grid_following_local":
            half = 0.5 * float(self.local_latency_s)
            chain = PlantResponse(measurement_delay_s=half, measurement_tau_s=0.0, control_period_s=0.0,
                                  comms_latency_s=0.0, inverter_tau_s=half, ramp_mw_per_s=base.ramp_mw_per_s)
        else:
            chain = base
        if self.filtered:
            chain = with_follow_filter(chain, self.follow_tau_factor)
        return chain

    def replace(self, **changes: Any) -> PlantControl:
        """A copy with ``changes`` applied (validated again)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(changes)
        return PlantControl(**d)

    def describe(self) -> dict[str, Any]:
        """The mode and its parameters, for summaries and the report."""
        out: dict[str, Any] = {"mode": self.mode}
        if self.mode == "grid_following_local":
            out["local_latency_s"] = self.local_latency_s
        out["follow_filter"] = self.filtered
        if self.filtered:
            out["follow_tau_factor"] = self.follow_tau_factor
        if self.is_grid_forming:
            out["grid_forming"] = self.grid_forming.describe()
        return out


def with_follow_filter(chain: PlantResponse, factor: float) -> PlantResponse:
    """``chain`` with the latency-aware filter: its measurement filter lengthened by ``factor`` ×
    its total latency (capped at the longest accepted time constant); a chain that answers at once
    has nothing to filter."""
    lat = chain.total_latency_s
    if lat <= 0.0:
        return chain
    return chain.replace(measurement_tau_s=min(chain.measurement_tau_s + factor * lat, MAX_DELAY_S))

