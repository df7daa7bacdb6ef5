"""The Megapack battery plant: ratings, P/Q capability and exact state-of-charge bookkeeping.

A plant is ``units`` x one Megapack preset of :mod:`gridstudy.grid.megapack` (Megapack 2 XL 2-hour
1.927 MW / 3.854 MWh, 4-hour 0.979 MW / 3.916 MWh, Megapack (2019) 1.5 MW / 3.0 MWh, Megapack 3
about 5 MWh at 91 % round trip; Megapack 2 XL round trip about 92 % *(check)*; ``docs/sources/megapack.md §1, §2``).
Every rating can be overridden per unit.

Sign: pandapower's ``storage`` convention, charging positive. ``battery_p_mw`` is the plant's draw
at its grid terminal: converter power plus the auxiliary/standby load, which always comes from the
grid.

Energy bookkeeping (per step of ``dt_s`` seconds, converter power ``p`` [MW]):

- charging (``p > 0``): stored energy rises by ``eta_charge * p * dt / 3600``;
- discharging (``p < 0``): stored energy falls by ``|p| / eta_discharge * dt / 3600``;

with ``eta_charge = eta_discharge = sqrt(round_trip_efficiency)``. The power limits are cut so that
the stored energy never leaves ``[soc_min, soc_max]``; :func:`energy_balance` checks that
energy in - losses - energy out equals the change in stored energy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal, Protocol

import numba
import numpy as np
import pandas as pd

from gridstudy.grid.bounds import MAX_BATTERY_UNITS
from gridstudy.grid.megapack import MEGAPACK_MODELS, MegapackModel, megapack
from gridstudy.models.errors import ModelError, Problem, finite_parameters

__all__ = ["MegapackPlant", "energy_step", "energy_balance"]


class _SiteBattery(Protocol):
    """What :meth:`MegapackPlant.from_site` reads of a site's battery (``BatteryPlant``, ``BatterySpec``)."""

    @property
    def units(self) -> int: ...
    @property
    def model(self) -> str: ...
    @property
    def soc_percent(self) -> float: ...


@finite_parameters
@dataclass(frozen=True)
class MegapackPlant:
    """A battery plant of ``units`` Megapacks of one model.

    Parameters
    ----------
    units : int
        Number of Megapack units. [-]
    model : str
        Preset key of :data:`gridstudy.grid.megapack.MEGAPACK_MODELS`.
    unit_p_mw, unit_e_mwh, unit_s_mva : float or None
        Overrides of one unit's active-power rating [MW], usable energy [MWh] and inverter
        apparent-power limit [MVA]; ``None`` keeps the preset.
    round_trip_efficiency : float or None
        Override of the AC round-trip efficiency; ``None`` keeps the preset. [-]
    soc_min_percent, soc_max_percent : float
        Operating window of the state of charge, in % of usable energy (5-95 assumed). [%]
    soc_init_percent : float
        State of charge at the start. [%]
    aux_mw : float
        Auxiliary/standby load of the whole plant, drawn from the grid; at most the plant's power
        rating. [MW]
    priority : {"p", "q"}
        Which of active or reactive power keeps its set point when the inverter's apparent power
        (a circle of radius ``s_max_mva``) cannot hold both.
    """

    units: int
    model: str = "megapack2xl-2h"
    unit_p_mw: float | None = None
    unit_e_mwh: float | None = None
    unit_s_mva: float | None = None
    round_trip_efficiency: float | None = None
    soc_min_percent: float = 5.0
    soc_max_percent: float = 95.0
    soc_init_percent: float = 50.0
    aux_mw: float = 0.0
    priority: Literal["p", "q"] = "p"

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ModelError(problems)

    def problems(self, prefix: str = "battery") -> list[Problem]:
        """Every problem of the parameter set, each with its field path."""
        p: list[Problem] = []

        def need(name: str, ok: bool, msg: str) -> None:
            if not ok:
                p.append(Problem(f"{prefix}.{name}", msg, getattr(self, name)))

        integer = isinstance(self.units, (int, np.integer)) and not isinstance(self.units, bool)
        need("units", integer and self.units > 0, "must be an integer > 0")
        if integer and self.units > MAX_BATTERY_UNITS:
            need("units", False, f"must be <= {MAX_BATTERY_UNITS:,} (gridstudy.grid.bounds)")
        need("model", self.model in MEGAPACK_MODELS, f"unknown Megapack model; known: {', '.join(MEGAPACK_MODELS)}")
        for name in ("unit_p_mw", "unit_e_mwh", "unit_s_mva"):
            v = getattr(self, name)
            need(name, v is None or v > 0, "must be > 0")
        rte = self.round_trip_efficiency
        need("round_trip_efficiency", rte is None or 0 < rte <= 1, "must lie in (0, 1]")
        need("soc_min_percent", 0 <= self.soc_min_percent <= 100, "must lie in [0, 100]")
        need("soc_max_percent", 0 <= self.soc_max_percent <= 100, "must lie in [0, 100]")
        if self.soc_min_percent >= self.soc_max_percent:
            p.append(Problem(f"{prefix}.soc_min_percent", "must be below soc_max_percent "
                             f"({self.soc_max_percent:g}); limits reversed?", self.soc_min_percent))
        elif not (self.soc_min_percent <= self.soc_init_percent <= self.soc_max_percent):
            need("soc_init_percent", False, "must lie within [soc_min_percent, soc_max_percent]")
        need("aux_mw", self.aux_mw >= 0, "must be >= 0")
        rated = integer and self.units > 0 and self.model in MEGAPACK_MODELS and (self.unit_p_mw is None or self.unit_p_mw > 0)
        if rated and self.aux_mw > self.p_max_mw:  # a standby draw above the rating: a unit slip
            need("aux_mw", False, f"must not exceed the plant's power rating ({self.p_max_mw:g} MW)")
        need("priority", self.priority in ("p", "q"), "must be 'p' or 'q'")
        return p

    @classmethod
    def from_site(cls, battery: _SiteBattery, **overrides: Any) -> MegapackPlant:
        """The plant of a site's battery (:class:`gridstudy.grid.site.BatteryPlant` or ``grid.spec.BatterySpec``)."""
        kw: dict[str, Any] = {"units": int(battery.units), "model": battery.model,
              "soc_init_percent": float(battery.soc_percent)}
        kw.update(overrides)
        return cls(**kw)

    def replace(self, **changes: Any) -> MegapackPlant:
        """A copy with ``changes`` applied (validated again)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(changes)
        return MegapackPlant(**d)

    @property
    def unit(self) -> MegapackModel:
        """The Megapack model of one unit of the plant."""
        return megapack(self.model)

    @property
    def p_max_mw(self) -> float:
        """Active-power rating of the plant. [MW]"""
        return self.units * (self.unit_p_mw if self.unit_p_mw is not None else self.unit.p_mw)

    @property
    def e_max_mwh(self) -> float:
        """Usable energy of the plant (100 % SOC). [MWh]"""
        return self.units * (self.unit_e_mwh if self.unit_e_mwh is not None else self.unit.e_mwh)

    @property
    def s_max_mva(self) -> float:
        """Inverter apparent-power limit of the plant. [MVA]"""
        if self.unit_s_mva is not None:
            return self.units * self.unit_s_mva
        if self.unit_p_mw is not None:  # keep the preset's P/S ratio
            return self.units * self.unit_p_mw * self.unit.inverter_mva / self.unit.p_mw
        return self.units * self.unit.inverter_mva

    @property
    def rte(self) -> float:
        """Round-trip efficiency in use. [-]"""
        return self.round_trip_efficiency if self.round_trip_efficiency is not None else self.unit.round_trip_efficiency

    @property
    def eta_charge(self) -> float:
        """One-way charging efficiency, sqrt of the round trip. [-]"""
        return math.sqrt(self.rte)

    @property
    def eta_discharge(self) -> float:
        """One-way discharging efficiency, sqrt of the round trip. [-]"""
        return math.sqrt(self.rte)

    @property
    def e_min_mwh(self) -> float:
        """Lowest allowed stored energy. [MWh]"""
        return self.e_max_mwh * self.soc_min_percent / 100.0

    @property
    def e_high_mwh(self) -> float:
        """Highest allowed stored energy. [MWh]"""
        return self.e_max_mwh * self.soc_max_percent / 100.0

    @property
    def e_init_mwh(self) -> float:
        """Stored energy at the start. [MWh]"""
        return self.e_max_mwh * self.soc_init_percent / 100.0


@numba.njit(cache=True)
def energy_step(e_mwh: float, p_conv_mw: float, dt_s: float, eta_charge: float, eta_discharge: float,
                e_lo_mwh: float, e_hi_mwh: float) -> float:
    """Stored energy after ``dt_s`` at converter power ``p_conv_mw`` (charging positive).

    The caller has already cut ``p_conv_mw`` to the energy headroom; the final clamp only removes
    the last-bit rounding of that cut. Returns the new stored energy. [MWh]
    """
    if p_conv_mw >= 0.0:
        e = e_mwh + eta_charge * p_conv_mw * dt_s / 3600.0
    else:
        e = e_mwh + p_conv_mw / eta_discharge * dt_s / 3600.0
    if e > e_hi_mwh:
        e = e_hi_mwh
    if e < e_lo_mwh:
        e = e_lo_mwh
    return e


def energy_balance(result: pd.DataFrame, plant: MegapackPlant) -> dict[str, float]:
    """Energy balance of a dispatch result, from its power column alone.

    Parameters
    ----------
    result : pandas.DataFrame
        Output of :func:`gridstudy.models.dispatch.dispatch` (``battery_p_mw``, ``e_mwh``, ``attrs["e0_mwh"]``,
        ``attrs["step_s"]``).
    plant : MegapackPlant
        The plant that produced it.

    Returns
    -------
    dict
        ``e_in_mwh`` (converter charging energy), ``e_out_mwh`` (energy delivered by the converter),
        ``loss_mwh`` (conversion losses by the efficiencies), ``aux_mwh``, ``delta_e_mwh`` (change
        in stored energy from the ``e_mwh`` column) and ``residual_mwh`` = in - losses - out - delta.
        [MWh]
    """
    dt_h = float(result.attrs["step_s"]) / 3600.0
    p = result["battery_p_mw"].to_numpy() - plant.aux_mw
    ch = np.where(p > 0, p, 0.0)
    dis = np.where(p < 0, -p, 0.0)
    e_in = float(ch.sum() * dt_h)
    e_out = float(dis.sum() * dt_h)
    loss = float((ch * (1.0 - plant.eta_charge)).sum() * dt_h + (dis * (1.0 / plant.eta_discharge - 1.0)).sum() * dt_h)
    delta = float(result["e_mwh"].iloc[-1] - result.attrs["e0_mwh"])
    return {"e_in_mwh": e_in, "e_out_mwh": e_out, "loss_mwh": loss, "aux_mwh": plant.aux_mw * dt_h * len(p),
            "delta_e_mwh": delta, "residual_mwh": e_in - loss - e_out - delta}
