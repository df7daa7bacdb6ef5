"""Tesla Megapack unit ratings (per unit), from ``docs/sources/megapack.md``.

Sources (``docs/sources/megapack.md §1, §2``): Megapack 2 XL 2-hour 1.927 MW / 3.854 MWh (Tesla figures quoted by
several catalogues; 68 units = 131 MW at Giga Texas, LCRA); Megapack 2 XL 4-hour 0.979 MW /
3.916 MWh; Megapack (2019) 1.5 MW / 3.0 MWh; Megapack 3 about 5 MWh with 91 % round-trip
efficiency at MV including auxiliaries (pv magazine). The Megapack 3 power rating and the 92 %
round-trip efficiency of Megapack 2 XL are marked *(check)* in those sources: they are defaults
here, exposed as parameters, never baked in.

Inverter apparent power is not published per unit. The default sizes it so that rated active
power can be delivered at 0.95 power factor, the range the pro-forma interconnection agreement
asks of asynchronous plants at the POI: ``s_mva = p_mw / 0.95`` *(assumption)*
(``docs/sources/megapack.md §3``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MegapackModel", "MEGAPACK_MODELS", "megapack"]

#: Power factor at which a unit's inverter can still deliver its rated active power [-].
DEFAULT_INVERTER_PF = 0.95


@dataclass(frozen=True)
class MegapackModel:
    """Ratings of one Megapack unit.

    Parameters
    ----------
    key : str
        Preset name used in site and study files.
    p_mw : float
        Rated active power of one unit. [MW]
    e_mwh : float
        Usable energy of one unit. [MWh]
    round_trip_efficiency : float
        AC round-trip efficiency, auxiliaries included. [-]
    description : str
        Human-readable name.
    uncertain : tuple of str
        Fields whose value is an unconfirmed default *(check)*.
    s_mva : float, optional
        Inverter apparent-power limit of one unit; default ``p_mw / 0.95``. [MVA]
    """

    key: str
    p_mw: float
    e_mwh: float
    round_trip_efficiency: float
    description: str
    uncertain: tuple[str, ...] = field(default_factory=tuple)
    s_mva: float | None = None

    @property
    def inverter_mva(self) -> float:
        """Inverter apparent-power limit of one unit. [MVA]"""
        return self.s_mva if self.s_mva is not None else self.p_mw / DEFAULT_INVERTER_PF

    @property
    def duration_h(self) -> float:
        """Energy-to-power ratio. [h]"""
        return self.e_mwh / self.p_mw


MEGAPACK_MODELS: dict[str, MegapackModel] = {
    m.key: m
    for m in (
        MegapackModel(
            "megapack2xl-2h", 1.927, 3.854, 0.92, "Tesla Megapack 2 XL, 2-hour",
            uncertain=("round_trip_efficiency",),
        ),
        MegapackModel(
            "megapack2xl-4h", 0.979, 3.916, 0.92, "Tesla Megapack 2 XL, 4-hour",
            uncertain=("round_trip_efficiency",),
        ),
        MegapackModel(
            "megapack-2019", 1.5, 3.0, 0.92, "Tesla Megapack (2019)",
            uncertain=("round_trip_efficiency",),
        ),
        # Megapack 3: about 5 MWh; power not confirmed -> 2-hour-class default of 2.5 MW (check)
        MegapackModel(
            "megapack3", 2.5, 5.0, 0.91, "Tesla Megapack 3",
            uncertain=("p_mw", "e_mwh"),
        ),
    )
}


def megapack(key: str) -> MegapackModel:
    """Return the preset named ``key``; a ``KeyError`` lists the known presets."""
    try:
        return MEGAPACK_MODELS[key]
    except KeyError:
        raise KeyError(f"unknown Megapack model {key!r}; known: {', '.join(MEGAPACK_MODELS)}") from None
