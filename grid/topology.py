"""Topology checks and N-1 outage lists on the pandapower net, with networkx.

- :func:`validate_topology` rejects, in one :class:`gridstudy.grid.errors.SiteError`, elements on missing
  buses, islands without a source, and a POI that is not connected to the source.
- :func:`source_paths` lists the paths from the source to the POI.
- :func:`single_outages` splits the in-service lines and transformers into credible single
  outages (the POI stays supplied) and those that would island the POI (loss of supply: reported,
  not run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx
import pandapower as pp
import pandapower.topology as top
import pandas as pd

from gridstudy.grid.errors import Problem, SiteError

__all__ = [
    "Outage", "missing_bus_problems", "validate_topology", "source_buses", "source_paths",
    "single_outages", "site_outages", "study_area", "buses_within", "unsupplied_buses",
]

#: Element tables and the columns that name a bus.
_BUS_COLUMNS = {
    "line": ("from_bus", "to_bus"),
    "trafo": ("hv_bus", "lv_bus"),
    "trafo3w": ("hv_bus", "mv_bus", "lv_bus"),
    "impedance": ("from_bus", "to_bus"),
    "switch": ("bus",),
    "load": ("bus",),
    "sgen": ("bus",),
    "gen": ("bus",),
    "storage": ("bus",),
    "shunt": ("bus",),
    "ext_grid": ("bus",),
    "ward": ("bus",),
    "xward": ("bus",),
}


@dataclass(frozen=True)
class Outage:
    """One credible single outage: a line or a transformer taken out of service."""

    element: str  # "line" or "trafo"
    index: int
    name: str

    @property
    def label(self) -> str:
        """Readable name of the outage (``Line <name>`` or ``Transformer <name>``)."""
        kind = "Line" if self.element == "line" else "Transformer"
        return f"{kind} {self.name}"


def missing_bus_problems(net: pp.pandapowerNet) -> list[Problem]:
    """Elements whose bus columns name a bus that is not in ``net.bus``."""
    known = set(net.bus.index)
    out = []
    for table, cols in _BUS_COLUMNS.items():
        df = net[table] if table in net else None
        if df is None or len(df) == 0:
            continue
        for col in cols:
            for idx, b in df[col].items():
                if int(b) not in known:
                    name = df.at[idx, "name"] if "name" in df else None
                    out.append(Problem(f"{table}[{idx}].{col}", f"bus does not exist (element {name!r})", int(b)))
    return out


def source_buses(net: pp.pandapowerNet) -> set[int]:
    """Buses of in-service slack sources (``ext_grid``, and ``gen`` marked slack)."""
    eg = net.ext_grid[net.ext_grid.in_service]
    buses = {int(b) for b in eg.bus}
    if len(net.gen) and "slack" in net.gen:
        g = net.gen[net.gen.in_service & net.gen.slack.astype(bool)]
        buses |= {int(b) for b in g.bus}
    return buses


def _graph(net: pp.pandapowerNet, outage: Outage | None = None) -> nx.MultiGraph:
    g = top.create_nxgraph(net, respect_switches=True, include_impedances=True, multi=True)
    if outage is not None:
        for u, v, k in list(g.edges(keys=True)):
            if k[0] == outage.element and int(k[1]) == outage.index:
                g.remove_edge(u, v, k)
    return g


def unsupplied_buses(net: pp.pandapowerNet, outage: Outage | None = None) -> set[int]:
    """In-service buses with no path to a source (optionally with one element out)."""
    g = _graph(net, outage)
    src = source_buses(net)
    supplied: set[int] = set()
    for s in src:
        if s in g:
            supplied |= nx.node_connected_component(g, s)
    in_service = {int(b) for b in net.bus.index[net.bus.in_service]}
    return in_service - supplied


def validate_topology(net: pp.pandapowerNet, poi_bus: int | None = None, source: str | None = None) -> None:
    """Raise :class:`SiteError` listing every topology problem of ``net``; return quietly if none."""
    problems = missing_bus_problems(net)
    if problems:
        raise SiteError(problems, source=source)
    if not source_buses(net):
        raise SiteError([Problem("ext_grid", "the network has no in-service source", len(net.ext_grid))], source)
    if poi_bus is not None and poi_bus not in net.bus.index:
        raise SiteError([Problem("poi", "bus does not exist", poi_bus)], source)
    lost = unsupplied_buses(net)
    if lost:
        g = _graph(net)
        for comp in nx.connected_components(g.subgraph(lost)):
            names = sorted(str(net.bus.at[b, "name"]) for b in comp)
            if poi_bus is not None and poi_bus in comp:
                problems.append(Problem("poi", "POI is not connected to the source", str(net.bus.at[poi_bus, "name"])))
            problems.append(Problem("buses", "island without a source", names))
    if problems:
        raise SiteError(problems, source=source)


def source_paths(net: pp.pandapowerNet, poi_bus: int, limit: int = 50) -> list[list[int]]:
    """Simple bus paths from each source bus to the POI (at most ``limit``), shortest first."""
    g = nx.Graph(_graph(net))
    paths = []
    for s in sorted(source_buses(net)):
        if s in g and poi_bus in g and nx.has_path(g, s, poi_bus):
            for p in nx.shortest_simple_paths(g, s, poi_bus):
                paths.append([int(b) for b in p])
                if len(paths) >= limit:
                    return paths
    return paths


def single_outages(net: pp.pandapowerNet, poi_bus: int,
                   candidates: list[tuple[str, int]] | None = None) -> tuple[list[Outage], list[Outage]]:
    """Split in-service lines and transformers into ``(credible, loss_of_supply)``.

    A credible outage leaves the POI connected to a source and is run in N-1; an outage that
    islands the POI is a loss of supply, reported as such and not run.

    Parameters
    ----------
    net : pandapowerNet
        The network.
    poi_bus : int
        The POI bus index.
    candidates : list of (str, int), optional
        Only these branches (``("line", i)`` / ``("trafo", i)``; a site's ``contingencies``);
        default: every line and transformer.
    """
    credible: list[Outage] = []
    lost: list[Outage] = []
    chosen = None if candidates is None else {(str(e), int(i)) for e, i in candidates}
    for element in ("line", "trafo"):
        df = net[element]
        for idx in df.index[df.in_service]:
            if chosen is not None and (element, int(idx)) not in chosen:
                continue
            name = df.at[idx, "name"]
            # an imported case's unnamed branch is named by its index (its label is then unique)
            unnamed = name is None or (not isinstance(name, str) and bool(pd.isna(name))) or str(name) == ""
            o = Outage(element, int(idx), f"#{int(idx)}" if unnamed else str(name))
            (lost if poi_bus in unsupplied_buses(net, o) else credible).append(o)
    return credible, lost


def study_area(site: Any) -> tuple[set[int], set[tuple[str, int]]] | None:
    """The study area of a :class:`gridstudy.grid.site.Site` whose site file names what it
    monitors: ``(buses, branches)``, the monitored buses with the POI's, campus's and plant's, and
    the monitored branches with the credible outages; ``None`` where no monitored set is named (the
    whole network is the study area)."""
    if site.monitored_buses is None and site.monitored_branches is None:
        return None
    net = site.net
    buses = set(site.monitored_buses or []) | {site.poi_bus}
    buses |= {int(net.load.at[i, "bus"]) for i in site.campus_loads}
    buses |= {int(net.storage.at[i, "bus"]) for i in site.storages}
    branches = set(site.monitored_branches or []) | set(site.contingencies or [])
    return buses, branches


def site_outages(site: Any) -> tuple[list[Outage], list[Outage]]:
    """:func:`single_outages` of a :class:`gridstudy.grid.site.Site`, restricted to the credible
    contingencies its site file names (``site.contingencies``; all branches where ``None``)."""
    return single_outages(site.net, site.poi_bus, site.contingencies)


def buses_within(net: pp.pandapowerNet, bus: int, hops: int) -> dict[int, int]:
    """Buses at most ``hops`` branches from ``bus`` (closed switches, lines, transformers and
    impedances count as branches), with their distance. [-]"""
    g = nx.Graph(_graph(net))
    if bus not in g:
        return {bus: 0}
    return {int(b): int(d) for b, d in nx.single_source_shortest_path_length(g, bus, cutoff=hops).items()}
