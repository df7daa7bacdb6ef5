"""A one-line diagram of a site drawn from its pandapower net (networkx layout, matplotlib).

Buses are laid out top to bottom by their distance from the utility source (breadth-first over
the network graph); parallel elements between the same pair of buses are drawn side by side.
Transformers are drawn as two overlapping circles, lines as straight conductors, the source as a
circle with a sine, the campus halls as arrows (loads) and the battery as a box.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandapower as pp
import pandapower.topology as top
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle
from pandapower.toolbox import select_subnet

from gridstudy.grid.site import Site
from gridstudy.grid.topology import source_buses, study_area

__all__ = ["draw_oneline", "study_area_site", "ONELINE_MAX_BUSES"]

#: The most buses a one-line diagram draws; a larger network is drawn as its study area. [buses]
ONELINE_MAX_BUSES = 60


def study_area_site(site: Site) -> Site | None:
    """The part of a large network the one-line diagram draws: the buses of its study area
    (:func:`gridstudy.grid.topology.study_area`) and both ends of its branches, with the elements
    between them. ``None`` where the network has at most :data:`ONELINE_MAX_BUSES` buses or names no
    monitored set (the whole network is drawn)."""
    net = site.net
    found = study_area(site) if len(net.bus) > ONELINE_MAX_BUSES else None
    if found is None:
        return None
    buses, branches = found
    ends = {"line": ("from_bus", "to_bus"), "trafo": ("hv_bus", "lv_bus")}
    for table, idx in branches:
        if table in ends:
            buses |= {int(net[table].at[idx, c]) for c in ends[table]}
    area = copy.copy(site)
    area.net = select_subnet(net, sorted(buses), include_results=False)
    return area


def _layout(net: pp.pandapowerNet, root: int) -> dict[int, tuple[float, float]]:
    g = nx.Graph(top.create_nxgraph(net, respect_switches=True, include_impedances=True))
    depth = nx.single_source_shortest_path_length(g, root)
    layers: dict[int, list[int]] = defaultdict(list)
    for b, d in sorted(depth.items(), key=lambda kv: (kv[1], kv[0])):
        layers[d].append(b)
    pos = {}
    for d, buses in layers.items():
        n = len(buses)
        for k, b in enumerate(buses):
            pos[b] = ((k - (n - 1) / 2) * 3.4, -d * 1.8)
    return pos


def _bus_pair(a: int, b: int) -> tuple[int, int]:
    """The two buses of a branch, lower index first."""
    return (a, b) if a <= b else (b, a)


def draw_oneline(site: Site, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Draw the one-line diagram of ``site``; return the matplotlib figure."""
    net = site.net
    roots = sorted(source_buses(net)) or [site.poi_bus]  # a study area without the network's source
    pos = _layout(net, roots[0])
    if ax is None:
        width = max(6.0, 2.2 * max(1, len({round(x, 3) for x, _ in pos.values()})))
        height = max(4.0, 1.9 * (1 + len({y for _, y in pos.values()})))
        fig, ax = plt.subplots(figsize=(min(width, 11), min(height, 13)))
    fig = cast(Figure, ax.figure)  # the axes of a whole figure: this one, or the caller's
    half = 1.1
    # branches, grouped by bus pair so parallels fan out
    pairs: dict[tuple[int, int], list[tuple[str, int]]] = defaultdict(list)
    for idx, r in net.line[net.line.in_service].iterrows():
        pairs[_bus_pair(int(r.from_bus), int(r.to_bus))].append(("line", idx))
    for idx, r in net.trafo[net.trafo.in_service].iterrows():
        pairs[_bus_pair(int(r.hv_bus), int(r.lv_bus))].append(("trafo", idx))
    for idx, r in net.impedance[net.impedance.in_service].iterrows():
        pairs[_bus_pair(int(r.from_bus), int(r.to_bus))].append(("impedance", idx))
    for (a, b), elems in pairs.items():
        if a not in pos or b not in pos:
            continue
        if pos[a][1] < pos[b][1]:
            a, b = b, a  # a is the upper bus
        (xa, ya), (xb, yb) = pos[a], pos[b]
        n = len(elems)
        for k, (kind, idx) in enumerate(elems):
            off = (k - (n - 1) / 2) * min(0.45, 1.8 / n)
            x0 = xa + float(np.clip(xb - xa, -0.7 * half, 0.7 * half)) * (0.5 if xb != xa else 0) + off
            x1 = xb + off
            ax.plot([x0, x1], [ya, yb], color="0.2", lw=1.4, zorder=1)
            frac = 0.62 if kind == "trafo" else 0.5  # transformers sit nearer the (wider) lower level
            xm, ym = x0 + frac * (x1 - x0), ya + frac * (yb - ya)
            if kind == "trafo":
                for dy in (0.13, -0.13):
                    ax.add_patch(Circle((xm, ym + dy), 0.2, fill=False, lw=1.4, color="tab:blue", zorder=3))
                ax.add_patch(Circle((xm, ym), 0.33, color="white", zorder=2))
                if k == n - 1:
                    r = net.trafo.loc[idx]
                    oltc = " OLTC" if idx in site.regulating_trafos else ""
                    ax.text(xm + 0.4, ym, f"{n}× {r.sn_mva:g} MVA\n{r.vn_hv_kv:g}/{r.vn_lv_kv:g} kV\nvk {r.vk_percent:g} %{oltc}",
                            fontsize=6, va="center")
            elif kind == "line" and k == n - 1:
                r = net.line.loc[idx]
                ax.text(xm - 0.15, ym, f"{n}× {r.length_km:g} km", fontsize=7, va="center", ha="right")
            elif kind == "impedance":
                ax.add_patch(Rectangle((xm - 0.12, ym - 0.3), 0.24, 0.6, fill=True, color="white", ec="0.2", zorder=3))
                ax.text(xm + 0.25, ym, "source\nimpedance", fontsize=7, va="center")
    # buses
    for b, (x, y) in pos.items():
        is_poi = b == site.poi_bus
        ax.plot([x - half, x + half], [y, y], color="tab:red" if is_poi else "black", lw=4 if is_poi else 3, zorder=4)
        name = str(net.bus.at[b, "name"])
        label = "Thevenin source (model-internal)" if name.endswith("(Thevenin source)") else name
        label += "  ◀ POI" if is_poi else ""
        ax.text(x - half, y + 0.12, label, fontsize=7.5, fontweight="bold" if is_poi else "normal", zorder=5)
    # source
    for _, r in net.ext_grid[net.ext_grid.in_service].iterrows():
        x, y = pos[int(r.bus)]
        ax.plot([x, x], [y, y + 0.7], color="0.2", lw=1.4)
        ax.add_patch(Circle((x, y + 0.95), 0.25, fill=False, lw=1.5, zorder=3))
        t = np.linspace(-0.15, 0.15, 30)
        ax.plot(x + t, y + 0.95 + 0.08 * np.sin(t / 0.15 * np.pi), color="black", lw=1)
        sc = f"\n{r.s_sc_min_mva:g}-{r.s_sc_max_mva:g} MVA" if np.isfinite(r.get("s_sc_max_mva", np.nan)) else ""
        ax.text(x + 0.35, y + 0.95, f"Utility source{sc}", fontsize=7, va="center")
    # loads: campus halls highlighted, others grey
    by_bus: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for idx, r in net.load[net.load.in_service].iterrows():
        by_bus[int(r.bus)].append(("campus" if idx in site.campus_loads else "load", idx))
    for idx, r in net.storage[net.storage.in_service].iterrows():
        by_bus[int(r.bus)].append(("battery", idx))
    for idx, r in net.shunt[net.shunt.in_service].iterrows():
        by_bus[int(r.bus)].append(("shunt", idx))
    has_child = {a if pos[a][1] > pos[b][1] else b for a, b in pairs if a in pos and b in pos}
    for b, items in by_bus.items():
        if b not in pos:
            continue
        x, y = pos[b]
        n = len(items)
        for k, (kind, idx) in enumerate(items):
            if b in has_child:  # keep clear of the branches leaving the bar downward
                xe = x + 0.55 + k * 0.75
            else:
                xe = x + (k - (n - 1) / 2) * 1.1
            if kind in ("campus", "load"):
                color = "tab:purple" if kind == "campus" else "0.45"
                ax.annotate("", xy=(xe, y - 0.75), xytext=(xe, y), arrowprops=dict(arrowstyle="-|>", color=color, lw=1.5))
                p = net.load.at[idx, "p_mw"]
                ax.text(xe, y - 0.9 - 0.35 * (k % 2), f"{net.load.at[idx, 'name']}\n{p:g} MW", fontsize=6.5, ha="center", va="top", color=color)
            elif kind == "battery":
                ax.plot([xe, xe], [y, y - 0.45], color="tab:green", lw=1.4)
                ax.add_patch(Rectangle((xe - 0.3, y - 0.85), 0.6, 0.4, color="tab:green", alpha=0.85, zorder=3))
                r = net.storage.loc[idx]
                ax.text(xe, y - 0.95 - 0.35 * (k % 2), f"{r['name']}\n{r.max_p_mw:.0f} MW / {r.max_e_mwh:.0f} MWh",
                        fontsize=6.5, ha="center", va="top", color="tab:green")
            else:
                ax.plot([xe, xe], [y, y - 0.4], color="0.3", lw=1.2)
                ax.plot([xe - 0.15, xe + 0.15], [y - 0.4, y - 0.4], color="0.3", lw=1.5)
                ax.plot([xe - 0.15, xe + 0.15], [y - 0.5, y - 0.5], color="0.3", lw=1.5)
                q = net.shunt.at[idx, "q_mvar"]
                ax.text(xe, y - 0.6, f"{'capacitor' if q < 0 else 'reactor'}\n{abs(q):g} Mvar", fontsize=6.5, ha="center", va="top")
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 2.0, max(xs) + 2.6)
    ax.set_ylim(min(ys) - 1.8, max(ys) + 1.5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"One-line diagram — {site.name}", fontsize=10)
    fig.tight_layout()
    return fig
