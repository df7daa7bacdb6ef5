"""A site on the utility's own network: load it, choose its slack, reduce it to the study area,
resolve the site file's bus references, and choose its contingencies and monitored elements.

:func:`gridstudy.grid.build.build_site` calls :func:`prepare_network` before it adds the site's
own buses, lines, transformers, campus and battery, and :func:`finish_network_site` after.
See :mod:`gridstudy.grid.network_spec` for the ``[network]`` table.
"""

from __future__ import annotations

import importlib
import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandapower as pp
import pandas as pd
from pandapower.grid_equivalents import get_equivalent
from pandapower.toolbox import replace_gen_by_ext_grid

from gridstudy.grid.errors import Problem, SiteError
from gridstudy.grid.network import network_from_ref, read_network
from gridstudy.grid.network_spec import ContingencySpec, MonitorSpec, ReduceSpec
from gridstudy.grid.site import ProfileSource, Site
from gridstudy.grid.spec import SiteSpec
from gridstudy.grid.topology import buses_within

__all__ = ["NetworkBase", "prepare_network", "finish_network_site", "resolve_branch", "reduce_network",
           "SIMBENCH_TIME_FORMAT"]

#: Format of the ``time`` column of SimBench's profile tables. [-]
SIMBENCH_TIME_FORMAT = "%d.%m.%Y %H:%M"

#: Tables a SimBench net carries beside pandapower's own (removed once their content is taken).
_SIMBENCH_EXTRAS = ("profiles", "loadcases")


@dataclass
class NetworkBase:
    """The network prepared for a site: the net, the bus of every bus reference of the site file
    that names a network bus, and the profile source."""

    net: Any
    refs: dict[str | int, int]
    network_buses: set[int]
    profiles: ProfileSource | None = None
    problems: list[Problem] = field(default_factory=list)


def _bus_refs(spec: SiteSpec) -> list[tuple[str, Any]]:
    """Every ``(field path, bus reference)`` of a site spec."""
    out: list[tuple[str, Any]] = [("poi", spec.poi)]
    if spec.source is not None:
        out.append(("source.bus", spec.source.bus))
    for i, ln in enumerate(spec.lines):
        out += [(f"lines[{i}].from_bus", ln.from_bus), (f"lines[{i}].to_bus", ln.to_bus)]
    for i, t in enumerate(spec.transformers):
        out += [(f"transformers[{i}].hv_bus", t.hv_bus), (f"transformers[{i}].lv_bus", t.lv_bus)]
    out += [(f"loads[{i}].bus", ld.bus) for i, ld in enumerate(spec.loads)]
    out += [(f"shunts[{i}].bus", sh.bus) for i, sh in enumerate(spec.shunts)]
    out += [(f"campus.halls[{i}].bus", h.bus) for i, h in enumerate(spec.campus.halls)]
    if spec.battery is not None:
        out.append(("battery.bus", spec.battery.bus))
    return out


def _network_bus(net: Any, ref: str | int) -> tuple[int | None, str]:
    """``(index, '')`` of a network bus named or indexed by ``ref``, or ``(None, why)``."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        idx = int(ref)
        return (idx, "") if idx in net.bus.index else (None, "no bus with that index in the network")
    hits = net.bus.index[net.bus.name.astype(str) == ref]
    if len(hits) == 1:
        return int(hits[0]), ""
    return None, ("no bus of that name in buses or in the network" if len(hits) == 0
                  else "bus name is not unique in the network")


def resolve_branch(net: Any, ref: str, path: str) -> tuple[tuple[str, int] | None, Problem | None]:
    """``"line:NAME"`` / ``"trafo:NAME"`` / ``"line:12"`` -> ``(("line", 12), None)`` or a problem."""
    table, sep, key = ref.partition(":")
    if not sep or table not in ("line", "trafo") or not key:
        return None, Problem(path, 'expected "line:NAME", "trafo:NAME" or "line:INDEX"', ref)
    df = net[table]
    hits = df.index[df.name.astype(str) == key]
    if len(hits) == 1:
        return (table, int(hits[0])), None
    if len(hits) > 1:
        return None, Problem(path, f"{table} name is not unique", ref)
    if key.isdigit() and int(key) in df.index:
        return (table, int(key)), None
    return None, Problem(path, f"no {table} of that name or index", ref)


def _slack(net: Any, slack: str | int | None, problems: list[Problem]) -> None:
    """Make the network's slack an ``ext_grid``: the named generator, or the slack generators
    the file marks (a slack ``gen`` and an ``ext_grid`` are the same in a power flow; the fast
    engine takes ``ext_grid`` only)."""

    gens: list[int] = []
    if slack is not None:
        if isinstance(slack, int) or str(slack).isdigit():
            if int(slack) in net.gen.index:
                gens = [int(slack)]
        else:
            hits = net.gen.index[net.gen.name.astype(str) == str(slack)]
            gens = [int(hits[0])] if len(hits) == 1 else []
        if not gens:
            problems.append(Problem("network.slack", "no generator of that name or index (unique)", slack))
            return
    elif len(net.gen) and "slack" in net.gen and net.gen.slack.fillna(False).astype(bool).any():
        gens = [int(g) for g in net.gen.index[net.gen.slack.fillna(False).astype(bool)]]
    if gens:
        replace_gen_by_ext_grid(net, gens=gens)
    if not len(net.ext_grid) or not net.ext_grid.in_service.astype(bool).any():
        problems.append(Problem("network.slack", "the network has no slack (ext_grid or slack gen); name the "
                                "generator that holds the voltage and balances the power", slack))


def _simbench_profiles(net: Any, code: str) -> ProfileSource:
    """SimBench's absolute profiles of ``net`` on a ``DatetimeIndex`` (taken before reduction)."""
    sb = importlib.import_module("simbench")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
    # SimBench's rows are a regular 15-min grid over its profile year (366 x 96 rows for 2016);
    # their 'time' labels follow local daylight-saving time (an hour missing in March), so the
    # rows are placed by position from the first label
    time = pd.to_datetime(net.profiles["load"]["time"], format=SIMBENCH_TIME_FORMAT)
    index = pd.date_range(time.iloc[0], periods=len(time), freq="15min")
    out: dict[tuple[str, str], pd.DataFrame] = {}
    for (element, variable), df in frames.items():
        if element in ("load", "sgen", "gen") and df.shape[1] and len(df) == len(index):
            out[(element, variable)] = pd.DataFrame(df.to_numpy(dtype=float), index=index,
                                                    columns=[int(c) for c in df.columns])
    return ProfileSource(kind="simbench", frames=out, field="network.profiles")


def reduce_network(net: Any, poi_bus: int, reduce: ReduceSpec, keep: set[int],
                   boundary: list[int] | None = None) -> Any:
    """Replace the network outside the study area by a ``grid_equivalents`` equivalent.

    Parameters
    ----------
    net : pandapowerNet
        The network; not modified.
    poi_bus : int
        The POI bus.
    reduce : ReduceSpec
        Method and study area.
    keep : set of int
        Buses that must stay (the site file attaches to them).
    boundary : list of int, optional
        Resolved ``reduce.boundary_buses``.

    Returns
    -------
    pandapowerNet
        The reduced net: the internal buses and elements keep their indices and names; the external
        network becomes ward injections and impedances (``ward``) or radial equivalent buses
        (``rei``) computed at the base-case operating point of the full network.
    """

    if boundary is None:
        assert reduce.radius is not None
        dist = buses_within(net, poi_bus, reduce.radius)
        internal = sorted(b for b, d in dist.items() if d < reduce.radius)
        boundary = sorted(b for b, d in dist.items() if d == reduce.radius)
        if not boundary:  # no bus that far from the POI: the area is the whole network
            raise SiteError([Problem("network.reduce.radius", "the study area covers the whole network "
                                     f"(no bus lies {reduce.radius} branches from the POI); nothing to reduce",
                                     reduce.radius)])
    else:
        internal = [poi_bus]
    try:
        pp.runpp(net, calculate_voltage_angles=True)
    except pp.LoadflowNotConverged:
        raise SiteError([Problem("network.reduce", "the full network's power flow does not converge; "
                                 "an equivalent needs its operating point", reduce.method)]) from None
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eq = get_equivalent(net, reduce.method, boundary_buses=boundary, internal_buses=internal)
    finally:
        logging.disable(logging.NOTSET)
    if eq is None:
        raise SiteError([Problem("network.reduce", "the study area covers the whole network; nothing to reduce",
                                 reduce.radius if reduce.radius is not None else reduce.boundary_buses)])
    lost = sorted(b for b in keep if b not in eq.bus.index)
    if lost:
        raise SiteError([Problem("network.reduce", "buses the site attaches to lie outside the study area",
                                 [str(net.bus.at[b, "name"]) for b in lost])])
    for key in ("bus_lookups",):
        if key in eq:
            del eq[key]
    return eq


def prepare_network(spec: SiteSpec) -> NetworkBase:
    """Load, give a slack to, and reduce the network of ``spec``; resolve its bus references.

    Raises :class:`SiteError` with every problem found.
    """
    ns = spec.network
    assert ns is not None
    if ns.path is not None:
        net = read_network(ns.path, ns.format, f_hz=spec.f_hz)
    else:
        net = network_from_ref(case=ns.case, simbench=ns.simbench)
    problems: list[Problem] = []
    _slack(net, ns.slack, problems)
    profiles = None
    if ns.profiles == "simbench":
        profiles = _simbench_profiles(net, str(ns.simbench))
    elif ns.profiles is not None:
        profiles = ProfileSource(kind="file", path=Path(ns.profiles), field="network.profiles")
        if not profiles.path or not profiles.path.exists():
            problems.append(Problem("network.profiles", "file not found", ns.profiles))
    for key in _SIMBENCH_EXTRAS:
        if key in net:
            del net[key]
    site_names = {b.name for b in spec.buses}
    refs: dict[str | int, int] = {}
    for path, ref in _bus_refs(spec):
        if isinstance(ref, str) and ref in site_names:
            continue
        idx, why = _network_bus(net, ref)
        if idx is None:
            problems.append(Problem(path, why, ref))
        else:
            refs[ref] = idx
    for i, b in enumerate(spec.buses):
        if (net.bus.name.astype(str) == b.name).any():
            problems.append(Problem(f"buses[{i}].name", "a network bus has the same name", b.name))
    boundary = None
    if ns.reduce is not None:
        if spec.poi not in refs:
            problems.append(Problem("network.reduce", "reduction needs the POI to be a network bus", spec.poi))
        if ns.reduce.boundary_buses:
            boundary = []
            for i, ref in enumerate(ns.reduce.boundary_buses):
                idx, why = _network_bus(net, ref)
                if idx is None:
                    problems.append(Problem(f"network.reduce.boundary_buses[{i}]", why, ref))
                else:
                    boundary.append(idx)
    if problems:
        raise SiteError(problems)
    if ns.reduce is not None:
        net = reduce_network(net, refs[spec.poi], ns.reduce, set(refs.values()), boundary)
        if profiles is not None and profiles.frames is not None:
            kept = {}
            for (element, variable), df in profiles.frames.items():
                cols = [c for c in df.columns if c in net[element].index]
                kept[(element, variable)] = df[cols]
            profiles = ProfileSource(kind="simbench", frames=kept, field=profiles.field)
    # the net keeps its own f_hz (SimBench and pandapower cases carry theirs; the converters were
    # given spec.f_hz where the format has none): line susceptances depend on it
    net.name = spec.name
    return NetworkBase(net=net, refs=refs, network_buses={int(b) for b in net.bus.index}, profiles=profiles)


def _branch_buses(net: Any, table: str) -> dict[int, tuple[int, int]]:
    """``{branch index: (from/hv bus, to/lv bus)}`` of a line or trafo table."""
    a, b = ("from_bus", "to_bus") if table == "line" else ("hv_bus", "lv_bus")
    df = net[table]
    return {int(i): (int(x), int(y)) for i, x, y in
            zip(df.index, df[a].to_numpy(dtype=int), df[b].to_numpy(dtype=int), strict=True)}


def _selected_branches(net: Any, poi: int, within: int | None, vn_kv: list[float] | None) -> list[tuple[str, int]]:
    near = set(buses_within(net, poi, within)) if within is not None else None
    out = []
    for table in ("line", "trafo"):
        for idx, ends in _branch_buses(net, table).items():
            if near is not None and not any(e in near for e in ends):
                continue
            if vn_kv is not None and not any(
                math.isclose(float(net.bus.at[e, "vn_kv"]), v, rel_tol=1e-6) for e in ends for v in vn_kv
            ):
                continue
            out.append((table, int(idx)))
    return out


def _resolve_branches(net: pp.pandapowerNet, refs: list[Any], path: str,
                      problems: list[Problem]) -> list[tuple[str, int]]:
    """The branches ``refs`` name, as ``(table, index)``; what cannot be resolved goes to
    ``problems`` at ``path[i]``."""
    out: list[tuple[str, int]] = []
    for i, ref in enumerate(refs):
        got, prob = resolve_branch(net, ref, f"{path}[{i}]")
        if prob is not None:
            problems.append(prob)
        elif got is not None:
            out.append(got)
    return out


def finish_network_site(site: Site, spec: SiteSpec, base: NetworkBase) -> Site:
    """Set the contingencies, monitored elements and profile source of a network site."""
    ns = spec.network
    assert ns is not None
    net, poi = site.net, site.poi_bus
    problems: list[Problem] = []
    cs: ContingencySpec = ns.contingencies
    chosen = _resolve_branches(net, cs.elements, "network.contingencies.elements", problems)
    if cs.within_buses is not None or cs.vn_kv is not None:
        chosen += _selected_branches(net, poi, cs.within_buses, cs.vn_kv)
    if cs.elements or cs.within_buses is not None or cs.vn_kv is not None:
        site.contingencies = sorted(set(chosen))
    ms: MonitorSpec = ns.monitor
    added = sorted(int(b) for b in net.bus.index if int(b) not in base.network_buses)
    if ms.buses or ms.branches or ms.within_buses is not None or ms.vn_kv is not None:
        buses = set(added) | {poi}
        for i, bref in enumerate(ms.buses):
            idx, why = _network_bus(net, bref)
            if idx is None:
                problems.append(Problem(f"network.monitor.buses[{i}]", why, bref))
            else:
                buses.add(idx)
        branches = set(_resolve_branches(net, ms.branches, "network.monitor.branches", problems))
        if ms.within_buses is not None or ms.vn_kv is not None:
            near = buses_within(net, poi, ms.within_buses) if ms.within_buses is not None else None
            for b in net.bus.index:
                if near is not None and int(b) not in near:
                    continue
                if ms.vn_kv is not None and not any(math.isclose(float(net.bus.at[b, "vn_kv"]), v, rel_tol=1e-6)
                                                    for v in ms.vn_kv):
                    continue
                buses.add(int(b))
            branches |= set(_selected_branches(net, poi, ms.within_buses, ms.vn_kv))
        for table in ("line", "trafo"):
            branches |= {(table, i) for i, (x, y) in _branch_buses(net, table).items() if x in added or y in added}
        site.monitored_buses = sorted(buses)
        site.monitored_branches = sorted(branches)
    if problems:
        raise SiteError(problems, source=spec.name)
    site.profiles = base.profiles
    return site
