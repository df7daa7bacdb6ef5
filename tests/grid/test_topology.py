"""Topology: islands, POI connectivity, missing buses, paths and the N-1 outage list."""

import pandapower as pp
import pytest

from gridstudy.grid import SiteError, load_site, single_outages, source_paths, validate_topology
from gridstudy.grid.topology import missing_bus_problems


def meshed_net():
    """Source - A - B - C ring with a radial spur C - D (the POI at B).

        S --L0-- A --L1-- B
                 |        |
                 L3       L2
                 |        |
                 +-- C ---+
                     |
                     L4
                     D
    """
    net = pp.create_empty_network()
    s, a, b, c, d = (pp.create_bus(net, 110, name=n) for n in "SABCD")
    pp.create_ext_grid(net, s)
    lines = [(s, a), (a, b), (b, c), (a, c), (c, d)]
    for k, (f, t) in enumerate(lines):
        pp.create_line(net, f, t, 5.0, "149-AL1/24-ST1A 110.0", name=f"L{k}")
    pp.create_load(net, b, 10.0)
    return net, b


def test_n1_list_on_a_small_meshed_network():
    net, poi = meshed_net()
    credible, lost = single_outages(net, poi)
    # Only L0 (the single tie to the source) islands the POI; the ring lines and the spur L4 do not.
    assert sorted(o.name for o in credible) == ["L1", "L2", "L3", "L4"]
    assert [o.name for o in lost] == ["L0"]


def test_paths_from_source_to_poi():
    net, poi = meshed_net()
    names = [[net.bus.at[b, "name"] for b in p] for p in source_paths(net, poi)]
    assert names == [["S", "A", "B"], ["S", "A", "C", "B"]]


def test_radial_feeder_outages_are_loss_of_supply():
    site = load_site("feeder-34.5kv")
    credible, lost = single_outages(site.net, site.poi_bus)
    # the substation transformer and every feeder section are in series with the POI
    assert credible == []
    assert sorted(o.name for o in lost) == ["Feeder section 1", "Feeder section 2", "Feeder section 3",
                                            "Feeder section 4", "Substation T 138/34.5kV 50MVA"]


def test_memphis_single_outages_keep_the_poi_supplied():
    site = load_site("memphis-161kv")
    credible, lost = single_outages(site.net, site.poi_bus)
    assert lost == []
    assert len(credible) == 2 + 3 + 3  # two circuits, three campus and three battery transformers


def test_islanded_poi_is_rejected():
    net, poi = meshed_net()
    for k in ("L1", "L2", "L3"):
        net.line.loc[net.line.name == k, "in_service"] = False
    with pytest.raises(SiteError) as exc:
        validate_topology(net, poi)
    assert "poi" in exc.value.fields
    assert any("island without a source" in str(p) for p in exc.value.problems)


def test_island_without_source_is_rejected():
    net, poi = meshed_net()
    e = pp.create_bus(net, 110, name="E")
    f = pp.create_bus(net, 110, name="F")
    pp.create_line(net, e, f, 1.0, "149-AL1/24-ST1A 110.0", name="L-EF")
    with pytest.raises(SiteError) as exc:
        validate_topology(net, poi)
    (p,) = exc.value.problems
    assert p.path == "buses" and p.value == ["E", "F"]


def test_elements_on_missing_buses_are_named():
    net, poi = meshed_net()
    net.load.at[0, "bus"] = 99
    net.line.at[4, "to_bus"] = 42
    probs = missing_bus_problems(net)
    assert sorted((p.path, p.value) for p in probs) == [("line[4].to_bus", 42), ("load[0].bus", 99)]
    with pytest.raises(SiteError) as exc:
        validate_topology(net, poi)
    assert sorted(exc.value.fields) == ["line[4].to_bus", "load[0].bus"]
