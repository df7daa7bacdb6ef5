"""The ``[network]`` table of a site file: the utility's own network model, where the campus
attaches, what may fail (N-1), what is watched, the other elements' profiles, and an optional
reduction to the study area.

Example::

    [network]
    simbench = "1-HV-urban--0-no_sw"     # or path = "planning.raw" (format from the suffix), or case = "case30"
    profiles = "simbench"                 # or a CSV/Parquet file (see gridstudy.models.element_profiles)

    [network.contingencies]               # credible single outages; default: every line and transformer
    within_buses = 2                      # branches with a terminal at most 2 buses from the POI
    vn_kv = [110.0]                       # ... and at these nominal voltages

    [network.monitor]                     # watched buses and branches; default: all
    within_buses = 3

    [network.reduce]                      # keep the study area, replace the rest by an equivalent
    method = "ward"                       # or "rei", "xward"
    radius = 4                            # buses within 4 branches of the POI (or boundary_buses = [...])

Bus references (``poi``, a hall's or the battery's ``bus``, a site line's ends) name a bus of the
site's own ``buses`` or of the network; a network bus may also be given by its index (an integer,
or a string of digits). Element references in ``contingencies.elements`` and
``monitor.branches`` are ``"line:NAME"`` / ``"trafo:NAME"`` (or ``"line:12"``, an index).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from gridstudy.grid.errors import INPUT_MODEL_CONFIG

__all__ = ["ContingencySpec", "MonitorSpec", "ReduceSpec", "NetworkSpec"]


class _Model(BaseModel):
    model_config = INPUT_MODEL_CONFIG  # unknown keys, inf and NaN refused


class ContingencySpec(_Model):
    """Which branches are credible single outages.

    The selection is ``elements`` together with the branches that meet *every* other criterion
    given (``within_buses``, ``vn_kv``); with nothing given, every in-service line and transformer.
    """

    elements: list[str] = Field(default_factory=list, description='"line:NAME", "trafo:NAME" or "line:INDEX"')
    within_buses: int | None = Field(None, ge=0, description="branches with a terminal at most this many buses from the POI [-]")
    vn_kv: list[float] | None = Field(None, description="branches with a terminal at one of these nominal voltages [kV]")


class MonitorSpec(_Model):
    """Which buses and branches are monitored (the criteria judge them).

    The selection is the listed ``buses``/``branches`` together with those meeting every other
    criterion given; with nothing given, all. The POI and the buses the site file adds are always
    monitored.
    """

    buses: list[str | int] = Field(default_factory=list)
    branches: list[str] = Field(default_factory=list, description='"line:NAME", "trafo:NAME" or "line:INDEX"')
    within_buses: int | None = Field(None, ge=0, description="at most this many buses from the POI [-]")
    vn_kv: list[float] | None = Field(None, description="nominal voltages of the buses and branch terminals [kV]")


class ReduceSpec(_Model):
    """Replace the network outside the study area by a pandapower ``grid_equivalents`` equivalent.

    The study area is the POI and the buses within ``radius`` branches of it, or the buses
    enclosed by ``boundary_buses`` (the boundary and the POI side of it).
    """

    method: Literal["rei", "ward", "xward"] = "ward"
    radius: int | None = Field(None, ge=1, description="study area: buses within this many branches of the POI [-]")
    boundary_buses: list[str | int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_area(self) -> ReduceSpec:
        if (self.radius is None) == (not self.boundary_buses):
            raise ValueError("give radius or boundary_buses (one of them)")
        return self


class NetworkSpec(_Model):
    """The utility's network: a file, a ``pandapower.networks`` case, or a SimBench code."""

    path: str | None = Field(None, description="network file, relative to the site file")
    format: str | None = Field(None, description="pandapower | matpower | cgmes | psse | ucte; default from the suffix")
    case: str | None = Field(None, description="a pandapower.networks case name (case30, mv_oberrhein, ...)")
    simbench: str | None = Field(None, description="a SimBench code (1-HV-urban--0-no_sw, ...)")
    slack: str | int | None = Field(None, description="generator made the slack ext_grid, where the file designates none")
    profiles: str | None = Field(None, description='per-element profiles: "simbench" or a CSV/Parquet file')
    contingencies: ContingencySpec = Field(default_factory=ContingencySpec)
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    reduce: ReduceSpec | None = None

    @model_validator(mode="after")
    def _one_source(self) -> NetworkSpec:
        given = [k for k in ("path", "case", "simbench") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of path, case, simbench; got {given or 'none'}")
        if self.format is not None and self.path is None:
            raise ValueError("format applies to a network file (path) only")
        if self.profiles == "simbench" and self.simbench is None:
            raise ValueError('profiles = "simbench" needs a SimBench network (simbench = CODE)')
        return self
