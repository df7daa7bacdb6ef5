"""Bring your own network: load a pandapower net and attach a campus and a battery at a bus.

Sources: a pandapower JSON file, a ``pandapower.networks`` case name (``case30``,
``mv_oberrhein``, ...) or a SimBench code (``1-MV-rural--0-sw``; needs the ``simbench`` package).
Every net, whether loaded here or given to :func:`attach`, is brought to pandapower's current tap model
(:func:`gridstudy.grid.network.current_tap_model`). The net's ``ext_grid`` stays a stiff source in the power flow; its ``s_sc_max_mva`` /
``s_sc_min_mva`` / ``rx_max`` / ``rx_min`` (if present) are used for the short circuit.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pandapower as pp
import pandapower.networks as pn

from gridstudy.grid.bounds import MAX_BATTERY_UNITS, MAX_CAMPUS_MW
from gridstudy.grid.build import add_battery, add_campus
from gridstudy.grid.errors import Problem, SiteError, non_finite_problems
from gridstudy.grid.megapack import MEGAPACK_MODELS
from gridstudy.grid.network import current_tap_model, pandapower_case, read_net_json
from gridstudy.grid.site import BatteryPlant, Site
from gridstudy.grid.topology import validate_topology

__all__ = ["load_network", "resolve_bus", "attach"]


def load_network(ref: str) -> pp.pandapowerNet:
    """Load a net from ``path.json``, ``case:NAME`` / a ``pandapower.networks`` name, or ``simbench:CODE``,
    in pandapower's current tap model (:func:`gridstudy.grid.network.current_tap_model`)."""
    if ref.startswith("simbench:"):
        try:
            sb = importlib.import_module("simbench")
        except ImportError:
            raise SiteError([Problem("network", "SimBench codes need the 'simbench' package (pip install simbench)", ref)]) from None
        code = ref.split(":", 1)[1]
        try:
            net = sb.get_simbench_net(code)
        except Exception as exc:  # simbench raises bare errors for unknown codes
            raise SiteError([Problem("network", f"unknown SimBench code ({exc})", code)]) from None
        return current_tap_model(net)
    name = ref.split(":", 1)[1] if ref.startswith("case:") else ref
    path = Path(ref)
    if path.suffix == ".json":
        return read_net_json(path, "network")

    fn = getattr(pn, name, None)
    if not callable(fn):
        raise SiteError([Problem("network", "not a JSON file, a pandapower.networks case or simbench:CODE", ref)])
    return pandapower_case(fn)


def resolve_bus(net: pp.pandapowerNet, bus: int | str, path: str = "bus") -> int:
    """A bus index from an index or a unique name."""
    if isinstance(bus, str) and not bus.lstrip("-").isdigit():
        hits = net.bus.index[net.bus.name.astype(str) == bus]
        if len(hits) != 1:
            raise SiteError([Problem(path, "no bus of that name" if len(hits) == 0 else "bus name is not unique", bus)])
        return int(hits[0])
    idx = int(bus)
    if idx not in net.bus.index:
        raise SiteError([Problem(path, "bus does not exist", idx)])
    return idx


def attach(net: pp.pandapowerNet, poi: int | str, campus_p_mw: float, campus_pf: float = 0.98,
           battery_model: str | None = None, battery_units: int = 0, soc_percent: float = 50.0,
           name: str | None = None, halls: int = 1) -> Site:
    """Attach a campus (``halls`` equal halls, total ``campus_p_mw``) and a battery at ``poi``.

    Parameters
    ----------
    net : pandapowerNet
        The network; modified in place (also brought to pandapower's current tap model).
    poi : int or str
        POI bus index or name.
    campus_p_mw : float
        Peak grid draw of the campus. [MW]
    campus_pf : float
        Lagging power factor of the campus. [-]
    battery_model, battery_units
        Megapack preset and number of units; no battery when ``battery_units`` is 0.
    soc_percent : float
        Initial state of charge. [%]
    """
    problems = non_finite_problems({"campus_p_mw": campus_p_mw, "campus_pf": campus_pf, "soc_percent": soc_percent})
    bad = {q.path for q in problems}
    if "campus_p_mw" not in bad and not 0 < campus_p_mw <= MAX_CAMPUS_MW:
        problems.append(Problem("campus_p_mw", f"must be > 0 and <= {MAX_CAMPUS_MW:,.0f}", campus_p_mw))
    if "campus_pf" not in bad and not 0 < campus_pf <= 1:
        problems.append(Problem("campus_pf", "must be in (0, 1]", campus_pf))
    if "soc_percent" not in bad and not 0 <= soc_percent <= 100:
        problems.append(Problem("soc_percent", "must lie in [0, 100]", soc_percent))
    if not (isinstance(halls, int) and halls >= 1):
        problems.append(Problem("halls", "must be an integer >= 1", halls))
    if not 0 <= battery_units <= MAX_BATTERY_UNITS:
        problems.append(Problem("battery.units", f"must be >= 0 and <= {MAX_BATTERY_UNITS:,}", battery_units))
    if battery_units and battery_model not in MEGAPACK_MODELS:
        problems.append(Problem("battery.model", f"unknown Megapack model; known: {', '.join(MEGAPACK_MODELS)}", battery_model))
    if len(net.ext_grid) == 0:
        problems.append(Problem("ext_grid", "the net must have an ext_grid (slack source)", 0))
    try:
        poi_bus = resolve_bus(net, poi, "poi")
    except SiteError as exc:
        problems += exc.problems
        poi_bus = None
    if problems:
        raise SiteError(problems, source=name)
    assert poi_bus is not None  # a bus that did not resolve is one of the problems above
    current_tap_model(net)  # a net built by the caller may be in the old one (no-op for load_network's)
    validate_topology(net, poi_bus, source=name)
    campus = add_campus(net, [(f"Data hall {k + 1}", poi_bus, campus_p_mw / halls, campus_pf) for k in range(halls)])
    storages: list[int] = []
    plant: BatteryPlant | None = None
    if battery_units:
        assert battery_model is not None  # checked against MEGAPACK_MODELS above
        s, plant = add_battery(net, poi_bus, battery_model, battery_units, soc_percent)
        storages.append(s)
    eg = int(net.ext_grid.index[0])
    regulating = []
    if len(net.trafo) and "oltc" in net.trafo:
        regulating = [int(i) for i in net.trafo.index[net.trafo.oltc.eq(True).to_numpy()]]
        for col, default in (("vm_set_pu", 1.0), ("deadband_pu", 0.01), ("delay_s", 30.0)):
            if col not in net.trafo:
                net.trafo[col] = default
            net.trafo[col] = net.trafo[col].fillna(default)
    return Site(
        name=name or str(net.name or "network"), net=net, poi_bus=poi_bus,
        source_bus=int(net.ext_grid.at[eg, "bus"]), ext_grid=eg, source_impedance=None,
        campus_loads=campus, storages=storages, regulating_trafos=regulating,
        campus_p_mw=campus_p_mw, battery=plant,
    )
