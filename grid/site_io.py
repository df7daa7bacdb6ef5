"""A built site as one JSON file: the pandapower net (pandapower's own JSON) and its handles.

A study saves the site it ran on (taps settled, storage rated to the plant) beside its results, so
that whoever reads the results — the report above all — sees the network as studied without
rebuilding or re-solving it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandapower as pp

from gridstudy.grid.errors import Problem, SiteError, parse_json_object
from gridstudy.grid.network import net_from_json_text
from gridstudy.grid.site import BatteryPlant, Site

__all__ = ["site_to_json", "site_from_json", "read_site_json", "HANDLES"]

#: The :class:`Site` fields kept beside the net (the net itself is stored by pandapower).
HANDLES = ("name", "poi_bus", "source_bus", "ext_grid", "source_impedance", "campus_loads", "storages",
           "regulating_trafos", "campus_p_mw", "description", "strength")


def site_to_json(site: Site) -> str:
    """The site as a JSON text: ``{"handles": {...}, "battery": {...} | null, "net": <pandapower JSON>}``."""
    handles: dict[str, Any] = {
        "name": site.name, "poi_bus": int(site.poi_bus), "source_bus": int(site.source_bus),
        "ext_grid": int(site.ext_grid),
        "source_impedance": None if site.source_impedance is None else int(site.source_impedance),
        "campus_loads": [int(x) for x in site.campus_loads], "storages": [int(x) for x in site.storages],
        "regulating_trafos": [int(x) for x in site.regulating_trafos], "campus_p_mw": float(site.campus_p_mw),
        "description": site.description, "strength": site.strength,
        # the study area of a network site (None: every element); optional on reading
        "contingencies": _branches(site.contingencies), "monitored_branches": _branches(site.monitored_branches),
        "monitored_buses": None if site.monitored_buses is None else [int(b) for b in site.monitored_buses],
    }
    return json.dumps({"handles": handles, "battery": asdict(site.battery) if site.battery is not None else None,
                       "net": pp.to_json(site.net)})


def site_from_json(text: str, source: str = "site.json") -> Site:
    """Read what :func:`site_to_json` wrote.

    Raises
    ------
    SiteError
        When the text is not such a file (naming what is missing).
    """
    d = parse_json_object(text, source, SiteError, "site", "the site a study saved (handles, battery, net)")
    missing = [k for k in ("handles", "net") if k not in d]
    if missing:
        raise SiteError([Problem(k, "missing", None, has_value=False) for k in missing], source=source)
    h = d["handles"]
    if not isinstance(h, dict):
        raise SiteError([Problem("handles", "must be a mapping", type(h).__name__)], source=source)
    absent = [k for k in HANDLES if k not in h]
    if absent:
        raise SiteError([Problem(f"handles.{k}", "missing", None, has_value=False) for k in absent], source=source)

    if not isinstance(d["net"], str):
        raise SiteError([Problem("net", "must be pandapower's JSON text", type(d["net"]).__name__)], source=source)
    net = net_from_json_text(d["net"], "net", source)
    bat = d.get("battery")
    return Site(name=h["name"], net=net, poi_bus=h["poi_bus"], source_bus=h["source_bus"], ext_grid=h["ext_grid"],
                source_impedance=h["source_impedance"], campus_loads=list(h["campus_loads"]),
                storages=list(h["storages"]), regulating_trafos=list(h["regulating_trafos"]),
                campus_p_mw=float(h["campus_p_mw"]), battery=BatteryPlant(**bat) if bat else None,
                description=h.get("description") or "", strength=h.get("strength"),
                contingencies=_read_branches(h.get("contingencies")),
                monitored_branches=_read_branches(h.get("monitored_branches")),
                monitored_buses=None if h.get("monitored_buses") is None else [int(b) for b in h["monitored_buses"]])


def _branches(items: list[tuple[str, int]] | None) -> list[list[Any]] | None:
    return None if items is None else [[str(t), int(i)] for t, i in items]


def _read_branches(items: Any) -> list[tuple[str, int]] | None:
    return None if items is None else [(str(t), int(i)) for t, i in items]


def read_site_json(path: str | Path) -> Site:
    """:func:`site_from_json` of a file."""
    p = Path(path)
    return site_from_json(p.read_text(encoding="utf-8"), source=str(p))
