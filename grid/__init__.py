"""gridstudy.grid — what is connected to what: site description -> pandapower net, importers, topology."""

if __name__ != "gridstudy.grid":  # a checkout's ``grid/`` folder imported under its bare name
    raise ImportError(f"this is the package gridstudy.grid; import it as gridstudy.grid, not {__name__}")


from gridstudy.grid.basecase import base_case, check_site, short_circuit
from gridstudy.grid.build import build_site
from gridstudy.grid.errors import InputError, Problem, SiteError
from gridstudy.grid.megapack import MEGAPACK_MODELS, megapack
from gridstudy.grid.reference import load_site, reference_sites
from gridstudy.grid.site import BatteryPlant, Site
from gridstudy.grid.spec import SiteSpec, load_site_spec, parse_site_spec
from gridstudy.grid.topology import Outage, single_outages, source_paths, validate_topology

__all__ = [
    "base_case", "check_site", "short_circuit", "build_site", "InputError", "Problem", "SiteError",
    "MEGAPACK_MODELS", "megapack", "load_site", "reference_sites", "BatteryPlant", "Site",
    "SiteSpec", "load_site_spec", "parse_site_spec", "Outage", "single_outages", "source_paths",
    "validate_topology",
]
