"""Build a pandapower net from a :class:`gridstudy.grid.spec.SiteSpec`.

The utility source is modelled as a stiff voltage (``ext_grid``) on an internal bus behind a
series impedance sized for the *minimum* fault level, so the power flow sees the voltage drop
across the grid's Thevenin impedance: ``Z = c_min · U_n² / S_sc,min`` with ``c_min = 1.0``
(IEC 60909), split into R and X by the given R/X. The ``ext_grid`` also carries the fault-level
data (``s_sc_max_mva``, ``s_sc_min_mva``, ``rx_max``, ``rx_min``) that pandapower's ``calc_sc``
uses; :func:`gridstudy.grid.basecase.short_circuit` moves it onto the source bus for that calculation.
"""

from __future__ import annotations

import math

import pandapower as pp

from gridstudy.grid.megapack import megapack
from gridstudy.grid.network_site import finish_network_site, prepare_network
from gridstudy.grid.site import BatteryPlant, Site
from gridstudy.grid.spec import SiteSpec

__all__ = ["build_site", "thevenin_impedance_pu", "add_source", "add_campus", "add_battery", "rate_storage"]

#: System base used for the source impedance element. [MVA]
SOURCE_SN_MVA = 100.0


def thevenin_impedance_pu(s_sc_mva: float, rx: float, sn_mva: float = SOURCE_SN_MVA) -> tuple[float, float]:
    """Source impedance ``(r_pu, x_pu)`` on ``sn_mva`` for a fault level (c = 1.0).

    ``|Z| = sn_mva / s_sc_mva`` [pu]; ``X = |Z| / sqrt(1 + (R/X)^2)``, ``R = (R/X) · X``.
    """
    z = sn_mva / s_sc_mva
    x = z / math.sqrt(1.0 + rx * rx)
    return rx * x, x


def add_source(net: pp.pandapowerNet, bus: int, vm_pu: float, s_sc_max_mva: float, s_sc_min_mva: float,
               rx_max: float, rx_min: float, name: str) -> tuple[int, int]:
    """Add the utility Thevenin equivalent behind ``bus``; return ``(ext_grid, impedance)``."""
    vn = net.bus.at[bus, "vn_kv"]
    inner = pp.create_bus(net, vn_kv=vn, name=f"{name} (Thevenin source)", type="b")
    eg = pp.create_ext_grid(
        net, inner, vm_pu=vm_pu, name=name, s_sc_max_mva=s_sc_max_mva,
        s_sc_min_mva=s_sc_min_mva, rx_max=rx_max, rx_min=rx_min,
    )
    r, x = thevenin_impedance_pu(s_sc_min_mva, rx_min)
    imp = pp.create_impedance(
        net, inner, bus, rft_pu=r, xft_pu=x, sn_mva=SOURCE_SN_MVA,
        name=f"{name} source impedance (S_sc,min {s_sc_min_mva:g} MVA)",
    )
    return eg, imp


def add_campus(net: pp.pandapowerNet, halls: list[tuple[str, int, float, float]]) -> list[int]:
    """Add data halls ``(name, bus, p_mw, pf)`` as constant-power loads; return their indices."""
    out = []
    for name, bus, p_mw, pf in halls:
        q = p_mw * math.tan(math.acos(pf))
        out.append(pp.create_load(net, bus, p_mw=p_mw, q_mvar=q, name=name, type="datacenter"))
    return out


def add_battery(net: pp.pandapowerNet, bus: int, model: str, units: int, soc_percent: float = 50.0,
                name: str = "Megapack plant") -> tuple[int, BatteryPlant]:
    """Add a Megapack plant as an idle pandapower ``storage`` (charging positive)."""
    m = megapack(model)
    plant = BatteryPlant(
        model=model, units=units, p_mw=units * m.p_mw, e_mwh=units * m.e_mwh,
        s_mva=units * m.inverter_mva, round_trip_efficiency=m.round_trip_efficiency,
        soc_percent=soc_percent,
    )
    idx = pp.create_storage(
        net, bus, p_mw=0.0, max_e_mwh=plant.e_mwh, sn_mva=plant.s_mva, soc_percent=soc_percent,
        min_e_mwh=0.0, name=name, type=model, max_p_mw=plant.p_mw, min_p_mw=-plant.p_mw,
        max_q_mvar=plant.s_mva, min_q_mvar=-plant.s_mva, controllable=False, units=units,
    )
    return idx, plant


def build_site(spec: SiteSpec) -> Site:
    """Build the pandapower net of ``spec`` and return it with its handles.

    With a ``[network]`` the net starts as the utility's network (loaded, reduced and with its bus
    references resolved by :func:`gridstudy.grid.network_site.prepare_network`); the site's own
    buses, lines, transformers, campus and battery are added to it, and a ``[source]`` replaces
    the network's ext_grids by one Thevenin source.
    """
    bus: dict[str | int, int] = {}
    base = None
    if spec.network is not None:
        base = prepare_network(spec)
        net = base.net
        bus.update(base.refs)
    else:
        net = pp.create_empty_network(name=spec.name, f_hz=spec.f_hz)
    for bs in spec.buses:
        bus[bs.name] = pp.create_bus(net, vn_kv=bs.vn_kv, name=bs.name, zone=bs.zone, type="b")

    src = spec.source
    imp: int | None = None
    if src is not None:
        if base is not None:  # the Thevenin source replaces the network's own slack(s)
            net.ext_grid["in_service"] = False
        eg, imp = add_source(
            net, bus[src.bus], src.vm_pu, src.s_sc_max_mva, src.s_sc_min_mva, src.rx_max, src.rx_min,
            name=f"Utility source at {src.bus}",
        )
        source_bus = bus[src.bus]
    else:
        eg = int(net.ext_grid.index[net.ext_grid.in_service.astype(bool)][0])
        source_bus = int(net.ext_grid.at[eg, "bus"])

    for ln in spec.lines:
        for k in range(ln.circuits):
            name = ln.name if ln.circuits == 1 else f"{ln.name} #{k + 1}"
            fb, tb = bus[ln.from_bus], bus[ln.to_bus]
            if ln.std_type is not None:
                idx = pp.create_line(net, fb, tb, ln.length_km, ln.std_type, name=name)
            else:
                idx = pp.create_line_from_parameters(
                    net, fb, tb, ln.length_km, ln.r_ohm_per_km, ln.x_ohm_per_km, ln.c_nf_per_km,
                    ln.max_i_ka, name=name,
                )
            net.line.at[idx, "emergency_factor"] = ln.emergency_factor

    regulating: list[int] = []
    if base is not None and len(net.trafo) and "oltc" in net.trafo:  # the network's own OLTCs, as attach() does
        regulating = [int(i) for i in net.trafo.index[net.trafo.oltc.eq(True).to_numpy()]]
        for col, default in (("vm_set_pu", 1.0), ("deadband_pu", 0.01), ("delay_s", 30.0)):
            net.trafo[col] = net.trafo[col].fillna(default) if col in net.trafo else default
    for t in spec.transformers:
        for k in range(t.parallel):
            name = t.name if t.parallel == 1 else f"{t.name} #{k + 1}"
            idx = pp.create_transformer_from_parameters(
                net, bus[t.hv_bus], bus[t.lv_bus], sn_mva=t.sn_mva, vn_hv_kv=t.vn_hv_kv,
                vn_lv_kv=t.vn_lv_kv, vkr_percent=t.vkr_percent, vk_percent=t.vk_percent,
                pfe_kw=t.pfe_kw, i0_percent=t.i0_percent, tap_side=t.tap_side,
                tap_neutral=t.tap_neutral, tap_max=t.tap_max, tap_min=t.tap_min,
                tap_step_percent=t.tap_step_percent, tap_pos=t.tap_pos, tap_changer_type="Ratio",
                oltc=t.oltc, name=name,
            )
            net.trafo.at[idx, "emergency_factor"] = t.emergency_factor
            net.trafo.at[idx, "vm_set_pu"] = t.vm_set_pu
            net.trafo.at[idx, "deadband_pu"] = t.deadband_pu
            net.trafo.at[idx, "delay_s"] = t.delay_s
            if t.oltc:
                regulating.append(idx)

    for ld in spec.loads:
        pp.create_load(net, bus[ld.bus], p_mw=ld.p_mw, q_mvar=ld.q_mvar, name=ld.name, type="customer")
    for sh in spec.shunts:
        pp.create_shunt(net, bus[sh.bus], q_mvar=sh.q_mvar, name=sh.name)

    campus = add_campus(net, [(h.name, bus[h.bus], h.p_mw, h.pf) for h in spec.campus.halls])

    storages, plant = [], None
    if spec.battery is not None:
        b = spec.battery
        at = bus[b.bus]
        if b.transformer is not None:
            tr = b.transformer
            plant_bus = pp.create_bus(net, vn_kv=tr.vn_lv_kv, name=f"{b.name} collector", type="b")
            sn = tr.sn_mva if tr.sn_mva is not None else b.s_mva
            pp.create_transformer_from_parameters(
                net, at, plant_bus, sn_mva=sn, vn_hv_kv=net.bus.at[at, "vn_kv"],
                vn_lv_kv=tr.vn_lv_kv, vkr_percent=tr.vkr_percent, vk_percent=tr.vk_percent,
                pfe_kw=0.0, i0_percent=0.0, name=f"{b.name} step-up",
            )
            at = plant_bus
        s, plant = add_battery(net, at, b.model, b.units, b.soc_percent, name=b.name)
        storages.append(s)

    site = Site(
        name=spec.name, net=net, poi_bus=bus[spec.poi], source_bus=source_bus, ext_grid=eg,
        source_impedance=imp, campus_loads=campus, storages=storages,
        regulating_trafos=regulating, campus_p_mw=spec.campus.p_mw, battery=plant,
        description=spec.description, strength=spec.strength, meta={"spec": spec},
    )
    if base is not None:
        finish_network_site(site, spec, base)
    return site


def rate_storage(site: Site, plant: BatteryPlant) -> Site:
    """Rate the site's storage elements to ``plant``, in place; add one at the POI if it has none.

    The plant's ratings are split over the storages in proportion to their present
    ``max_e_mwh`` (equally where that is zero); ``site.battery`` becomes ``plant``, so the site's
    own description stays true after a study re-rates it.

    Parameters
    ----------
    site : Site
        The site, changed in place.
    plant : BatteryPlant
        Ratings of the whole plant: ``p_mw`` [MW], ``e_mwh`` [MWh], ``s_mva`` [MVA] and the
        initial ``soc_percent`` [%].

    Returns
    -------
    Site
        ``site``.
    """
    net = site.net
    if not site.storages:
        s, _ = add_battery(net, site.poi_bus, plant.model, plant.units, plant.soc_percent)
        site.storages = [s]
    st = list(site.storages)
    e = net.storage.loc[st, "max_e_mwh"].to_numpy(dtype=float)
    w = e / e.sum() if e.sum() > 0 else [1.0 / len(st)] * len(st)
    for s, share in zip(st, w, strict=True):
        net.storage.at[s, "sn_mva"] = plant.s_mva * share
        net.storage.at[s, "max_e_mwh"] = plant.e_mwh * share
        net.storage.at[s, "max_p_mw"] = plant.p_mw * share
        net.storage.at[s, "min_p_mw"] = -plant.p_mw * share
        net.storage.at[s, "max_q_mvar"] = plant.s_mva * share
        net.storage.at[s, "min_q_mvar"] = -plant.s_mva * share
        net.storage.at[s, "soc_percent"] = plant.soc_percent
        if "units" in net.storage:
            net.storage.at[s, "units"] = plant.units * share
        net.storage.at[s, "type"] = plant.model
    site.battery = plant
    return site
