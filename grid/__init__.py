"""gridstudy.grid — what is connected to what: site description -> pandapower net, importers, topology."""

from grid.basecase import base_case, check_site, short_circuit
from grid.build import build_site
from grid.errors import InputError, Problem, SiteError
from grid.megapack import MEGAPACK_MODELS, megapack
from grid.reference import load_site, reference_sites
from grid.site import BatteryPlant, Site
from grid.spec import SiteSpec, load_site_spec, parse_site_spec
from grid.topology import Outage, single_outages, source_paths, validate_topology

__all__ = [
    "base_case", "check_site", "short_circuit", "build_site", "InputError", "Problem", "SiteError",
    "MEGAPACK_MODELS", "megapack", "load_site", "reference_sites", "BatteryPlant", "Site",
    "SiteSpec", "load_site_spec", "parse_site_spec", "Outage", "single_outages", "source_paths",
    "validate_topology",
]
