"""A built site: the pandapower net plus named handles to the elements a study drives."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandapower as pp

__all__ = ["Site", "BatteryPlant"]


@dataclass(frozen=True)
class BatteryPlant:
    """Ratings of the battery plant attached to a site.

    Parameters
    ----------
    model : str
        Megapack preset key (:data:`gridstudy.grid.megapack.MEGAPACK_MODELS`).
    units : int
        Number of units. [-]
    p_mw, e_mwh, s_mva : float
        Plant active-power rating [MW], usable energy [MWh], inverter apparent-power limit [MVA].
    round_trip_efficiency : float
        AC round-trip efficiency. [-]
    soc_percent : float
        Initial state of charge. [%]
    """

    model: str
    units: int
    p_mw: float
    e_mwh: float
    s_mva: float
    round_trip_efficiency: float
    soc_percent: float


@dataclass
class Site:
    """A pandapower net with the handles of the elements a study drives.

    Attributes
    ----------
    name : str
        Site name.
    net : pandapowerNet
        The network. Every element carries a readable ``name``.
    poi_bus : int
        Index of the point-of-interconnection bus in ``net.bus``.
    source_bus : int
        Bus where the utility source (Thevenin equivalent) connects.
    ext_grid : int
        Index of the slack ``ext_grid``.
    source_impedance : int or None
        Index in ``net.impedance`` of the source's Thevenin impedance (min fault level); ``None``
        where the net came without one (its ext_grid is then a stiff source in the power flow).
    campus_loads : list of int
        Indices in ``net.load`` of the data-center halls.
    storages : list of int
        Indices in ``net.storage`` of the battery plant (empty without battery).
    regulating_trafos : list of int
        Indices in ``net.trafo`` of transformers with an on-load tap changer that regulates.
    campus_p_mw : float
        Peak grid draw of the campus (the SCR denominator). [MW]
    battery : BatteryPlant or None
        Battery plant ratings.
    """

    name: str
    net: pp.pandapowerNet
    poi_bus: int
    source_bus: int
    ext_grid: int
    source_impedance: int | None
    campus_loads: list[int]
    storages: list[int]
    regulating_trafos: list[int]
    campus_p_mw: float
    battery: BatteryPlant | None = None
    description: str = ""
    strength: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def poi_name(self) -> str:
        return str(self.net.bus.at[self.poi_bus, "name"])

    @property
    def poi_vn_kv(self) -> float:
        return float(self.net.bus.at[self.poi_bus, "vn_kv"])
