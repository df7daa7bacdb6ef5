"""A built site: the pandapower net plus named handles to the elements a study drives."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandapower as pp
import pandas as pd

__all__ = ["Site", "BatteryPlant", "ProfileSource"]


@dataclass(frozen=True)
class ProfileSource:
    """Where the per-element profiles of a network site come from (read by
    :func:`gridstudy.models.element_profiles.element_profiles`).

    Attributes
    ----------
    kind : {'file', 'simbench'}
        A CSV/Parquet file of per-element columns, or the SimBench grid's own year profiles.
    path : Path or None
        The file (``kind == 'file'``).
    frames : dict or None
        SimBench: ``{(element, variable): DataFrame}`` of absolute values (``simbench.get_absolute_values``,
        taken before any reduction), rows on the profiles' own 15-min ``DatetimeIndex``, columns the
        element indices of ``net``; only the elements still in the net. [MW, Mvar]
    field : str
        The site-file field that named the source (for error messages).
    """

    kind: str
    path: Path | None = None
    frames: dict[tuple[str, str], pd.DataFrame] | None = None
    field: str = "network.profiles"


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
    contingencies : list of (str, int) or None
        The branches (``("line", i)``, ``("trafo", i)``) a site file names as credible single
        outages; ``None``: every line and transformer (see :func:`gridstudy.grid.topology.site_outages`).
    monitored_buses : list of int or None
        Buses the criteria judge; ``None``: all.
    monitored_branches : list of (str, int) or None
        Lines and transformers the criteria judge; ``None``: all.
    profiles : ProfileSource or None
        Where the per-element profiles of the rest of the network come from.
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
    meta: dict[str, Any] = field(default_factory=dict)
    contingencies: list[tuple[str, int]] | None = None
    monitored_buses: list[int] | None = None
    monitored_branches: list[tuple[str, int]] | None = None
    profiles: ProfileSource | None = None

    @property
    def poi_name(self) -> str:
        """Name of the POI bus."""
        return str(self.net.bus.at[self.poi_bus, "name"])

    @property
    def poi_vn_kv(self) -> float:
        """Nominal voltage of the POI bus. [kV]"""
        return float(self.net.bus.at[self.poi_bus, "vn_kv"])
