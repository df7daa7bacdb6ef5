"""The POI meter: which power flows count as the facility's import at the point of interconnection.

Definition
----------
The *POI node* is the POI bus together with every bus joined to it by a closed bus-bus switch
without impedance (``z_ohm == 0``; pandapower fuses those buses into one). The *facility* is every
bus that a campus load or a battery storage of the site reaches, through in-service lines,
transformers (2- and 3-winding), impedances and closed switches, **without passing through the POI
node** (:func:`pandapower.topology.create_nxgraph` with ``respect_switches=True``, the POI node
removed). The POI meter is

    S_poi = Σ S of each in-service branch between the POI node and the facility, taken at its
            POI-node end (the power flowing from the POI bus into that branch)
          + Σ S of each campus load and storage connected at the POI node itself,

in pandapower's consumer view: import into the facility positive (``p_mw > 0``), reactive power
absorbed positive (``q_mvar > 0``, lagging). The branch terms include the losses of the campus and
battery transformers and collector lines; elements of the utility at the POI bus (other loads,
shunts, generators) are not part of the meter. Any other element that the facility's buses carry
(an auxiliary load, an on-site generator) is part of it, as a revenue meter at the POI would see.

A site where the facility also reaches a slack source (``ext_grid``, slack ``gen``) without passing
through the POI node, or where a branch type other than those above crosses the cut, has no single
POI meter: :attr:`PoiMeter.problem` says why, and the engines record NaN for the meter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandapower as pp
import pandapower.topology as top

__all__ = ["PoiMeter", "poi_meter", "poi_meter_pq", "METER_BRANCH_TABLES"]

#: Branch tables that may cross the POI meter's cut, with the ends they have. [-]
METER_BRANCH_TABLES = {"line": ("from", "to"), "trafo": ("hv", "lv"), "trafo3w": ("hv", "mv", "lv"),
                       "impedance": ("from", "to")}
_END_COLUMNS = {"from": "from_bus", "to": "to_bus", "hv": "hv_bus", "mv": "mv_bus", "lv": "lv_bus"}


@dataclass(frozen=True)
class PoiMeter:
    """Where the POI meter measures (see the module docstring for the definition).

    Attributes
    ----------
    poi_buses : tuple of int
        The POI node: the POI bus and the buses fused with it by closed zero-impedance bus-bus switches.
    facility_buses : tuple of int
        Buses of the facility (campus and battery side, the POI node excluded).
    branches : tuple of (str, int, str)
        ``(table, index, end)`` of each branch between the POI node and the facility; ``end`` is the
        branch end at the POI node (``from``/``to`` for lines and impedances, ``hv``/``mv``/``lv``
        for transformers), where its power is taken.
    loads : tuple of int
        Campus loads (``net.load`` indices) connected at the POI node itself.
    storages : tuple of int
        Storages (``net.storage`` indices) of the battery connected at the POI node itself.
    problem : str or None
        Why the site has no single POI meter; ``None`` when it has one.
    """

    poi_buses: tuple[int, ...]
    facility_buses: tuple[int, ...]
    branches: tuple[tuple[str, int, str], ...]
    loads: tuple[int, ...]
    storages: tuple[int, ...]
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """The site has a single POI meter."""
        return self.problem is None


def _poi_node(net: pp.pandapowerNet, poi_bus: int) -> set[int]:
    """The POI bus and the buses pandapower fuses with it (closed bus-bus switches, no impedance)."""
    sw = net.switch
    if not len(sw):
        return {int(poi_bus)}
    z = sw.z_ohm.fillna(0.0).to_numpy(dtype=float) if "z_ohm" in sw else np.zeros(len(sw))
    fused = sw[(sw.et.to_numpy() == "b") & sw.closed.astype(bool).to_numpy() & (z == 0.0)]
    g = nx.Graph()
    g.add_node(int(poi_bus))
    g.add_edges_from((int(a), int(b)) for a, b in zip(fused.bus, fused.element, strict=True))
    return {int(b) for b in nx.node_connected_component(g, int(poi_bus))}


def _source_buses(net: pp.pandapowerNet) -> set[int]:
    eg = net.ext_grid[net.ext_grid.in_service.astype(bool)]
    out = {int(b) for b in eg.bus}
    if len(net.gen) and "slack" in net.gen:
        g = net.gen[net.gen.in_service.astype(bool) & net.gen.slack.fillna(False).astype(bool)]
        out |= {int(b) for b in g.bus}
    return out


def poi_meter(net: pp.pandapowerNet, poi_bus: int, campus_loads: Iterable[int],
              storages: Iterable[int]) -> PoiMeter:
    """The POI meter of a site: the POI node, the facility's buses and the branches of the cut.

    Parameters
    ----------
    net : pandapowerNet
        The network (its in-service elements and switch states are used).
    poi_bus : int
        The POI bus (``net.bus`` index).
    campus_loads : iterable of int
        The campus loads (``net.load`` indices).
    storages : iterable of int
        The battery storages (``net.storage`` indices).

    Returns
    -------
    PoiMeter
    """
    loads = [int(i) for i in campus_loads]
    sts = [int(i) for i in storages]
    node = _poi_node(net, poi_bus)
    at_poi_loads = tuple(i for i in loads if int(net.load.at[i, "bus"]) in node)
    at_poi_st = tuple(i for i in sts if int(net.storage.at[i, "bus"]) in node)
    starts = {int(net.load.at[i, "bus"]) for i in loads} | {int(net.storage.at[i, "bus"]) for i in sts}
    starts -= node
    g = top.create_nxgraph(net, respect_switches=True, include_out_of_service=False, multi=True)
    rest = g.copy()
    rest.remove_nodes_from(node)
    facility: set[int] = set()
    for b in starts:
        if b in rest and b not in facility:
            facility |= {int(x) for x in nx.node_connected_component(rest, b)}
    problem = None
    reached = facility & _source_buses(net)
    if reached:
        problem = (f"the campus or battery reaches the source bus(es) {sorted(reached)} without passing "
                   f"through the POI bus {int(poi_bus)}: the POI is not the facility's only connection")
    branches: list[tuple[str, int, str]] = []
    other: set[tuple[str, int]] = set()
    for u, v, key in g.edges(keys=True):
        if (int(u) in node) == (int(v) in node) or not ({int(u), int(v)} & facility):
            continue  # not an edge between the POI node and the facility
        table, idx = str(key[0]), int(key[1])
        if table not in METER_BRANCH_TABLES:
            other.add((table, idx))
            continue
        for end in METER_BRANCH_TABLES[table]:
            item = (table, idx, end)
            if int(net[table].at[idx, _END_COLUMNS[end]]) in node and item not in branches:
                branches.append(item)
    if other and problem is None:
        problem = (f"branches of a kind the POI meter does not measure connect the POI bus to the facility: "
                   f"{sorted(other)}")
    return PoiMeter(poi_buses=tuple(sorted(node)), facility_buses=tuple(sorted(facility)),
                    branches=tuple(sorted(branches)), loads=at_poi_loads, storages=at_poi_st, problem=problem)


def poi_meter_pq(net: pp.pandapowerNet, meter: PoiMeter) -> tuple[float, float]:
    """The POI meter's reading from the results of the last power flow of ``net``.

    From pandapower's own result tables: ``res_<table>.p_<end>_mw``/``q_<end>_mvar`` of each
    branch of the cut, plus ``res_load``/``res_storage`` of the campus loads and storages at the
    POI node.

    Parameters
    ----------
    net : pandapowerNet
        A net whose last power flow converged.
    meter : PoiMeter
        From :func:`poi_meter` on this net.

    Returns
    -------
    p_mw, q_mvar : float
        Import into the facility [MW] and reactive power absorbed [Mvar] (consumer view); NaN
        when ``meter`` has a problem.
    """
    if not meter.ok:
        return float("nan"), float("nan")
    p = q = 0.0
    for table, idx, end in meter.branches:
        res = net[f"res_{table}"]
        p += float(res.at[idx, f"p_{end}_mw"])
        q += float(res.at[idx, f"q_{end}_mvar"])
    if meter.loads:
        p += float(net.res_load.p_mw.loc[list(meter.loads)].sum())
        q += float(net.res_load.q_mvar.loc[list(meter.loads)].sum())
    if meter.storages:
        p += float(net.res_storage.p_mw.loc[list(meter.storages)].sum())
        q += float(net.res_storage.q_mvar.loc[list(meter.storages)].sum())
    return p, q
