"""The built-in reference sites and the one entry point that resolves a site argument."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from gridstudy.grid.build import build_site
from gridstudy.grid.errors import Problem, SiteError
from gridstudy.grid.importers import attach, load_network
from gridstudy.grid.site import Site
from gridstudy.grid.spec import SiteSpec, load_site_spec, parse_site_spec
from gridstudy.grid.topology import validate_topology

__all__ = ["reference_sites", "reference_site_path", "load_site", "site_from_spec"]


def reference_sites() -> dict[str, Path]:
    """Names of the built-in reference sites and their TOML files."""
    folder = resources.files("gridstudy.grid") / "sites"
    return {Path(p.name).stem: Path(str(p)) for p in sorted(folder.iterdir(), key=lambda p: p.name) if p.name.endswith(".toml")}


def reference_site_path(name: str) -> Path:
    """The TOML file of the built-in reference site ``name``; :class:`SiteError` naming the known ones otherwise."""
    sites = reference_sites()
    if name not in sites:
        raise SiteError([Problem("site", f"unknown reference site; known: {', '.join(sites)}", name)])
    return sites[name]


def site_from_spec(spec: SiteSpec, source: str | None = None) -> Site:
    """Build ``spec`` and validate its topology."""
    site = build_site(spec)
    validate_topology(site.net, site.poi_bus, source=source or spec.name)
    return site


def load_site(ref: str | Path | dict[str, Any], **attach_kwargs: Any) -> Site:
    """Resolve a site argument: a reference name, a site TOML path, a mapping, or a network.

    A network (``*.json``, ``case:NAME``, ``simbench:CODE``) needs ``poi`` and ``campus_p_mw`` in
    ``attach_kwargs`` (see :func:`gridstudy.grid.importers.attach`).
    """
    if isinstance(ref, dict):
        return site_from_spec(parse_site_spec(ref))
    s = str(ref)
    if s in reference_sites():
        return site_from_spec(load_site_spec(reference_site_path(s)), source=s)
    if s.endswith(".toml"):
        return site_from_spec(load_site_spec(s), source=s)
    if s.endswith(".json") or s.startswith(("case:", "simbench:")):
        missing = [k for k in ("poi", "campus_p_mw") if attach_kwargs.get(k) is None]
        if missing:
            raise SiteError([Problem(k, "required to attach a campus to a network", None) for k in missing], source=s)
        net = load_network(s)
        return attach(net, name=Path(s).stem if s.endswith(".json") else s, **attach_kwargs)
    raise SiteError([Problem("site", f"not a reference site, a .toml site file or a network; known reference sites: {', '.join(reference_sites())}", s)])
