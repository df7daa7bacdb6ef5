"""Base-case checks of a site: a power flow at peak campus load with the battery idle, and the
short-circuit strength at the POI (pandapower ``calc_sc``, IEC 60909, max and min cases).

SCR (short-circuit ratio) = fault MVA at the POI / campus MW; this package uses the *minimum*
fault level (the weak case a planner must pass), and calls a site weak below SCR 5 and strong
above 10 (docs/sources/network.md §2: below 3 is weak by the common definition; 3–5 is the range this
package's weak reference site sits in).

The IEC 60909 minimum case raises line resistance to the conductor temperature at the end of the
fault; lines without ``endtemp_degree`` get :data:`LINE_ENDTEMP_DEGREE` (80 °C, a common value
for overhead conductors; an assumption, set the column to override).

Breaker duty at the POI is reported without and with the battery's inverters. IEC 60909 models a
full-converter unit as a current source of ``k`` times its rated current in the maximum case;
pandapower's ``calc_sc`` has no short-circuit model of ``storage``, so each in-service storage is
handed to it as a current-source static generator of the same ``sn_mva`` at its bus, with
``k =`` :data:`BATTERY_SC_K` (docs/sources/network.md §5). Current sources do not enter the
minimum case (the SCR stays the grid's own).

Reported base-case losses are those of the network (lines, transformers, impedances); the loss in
the fictitious Thevenin source impedance is reported apart (``source_losses_mw``), so that
``slack_p_mw = load_p_mw + losses_mw + source_losses_mw``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandapower as pp
import pandapower.shortcircuit as sc
from pandapower.control import DiscreteTapControl

from gridstudy.grid.site import Site

__all__ = ["PowerFlowSummary", "ShortCircuitSummary", "base_case", "short_circuit", "check_site",
           "strength_class", "internal_buses", "add_tap_controllers", "settle_taps", "LINE_ENDTEMP_DEGREE",
           "BATTERY_SC_K", "is_divergence", "solve_idle_battery"]

#: Conductor temperature at the end of a fault for the IEC 60909 min case, where unset. [degC]
LINE_ENDTEMP_DEGREE = 80.0

#: Short-circuit current of the battery's inverters per unit of their rated current (IEC 60909
#: ``k`` of a full-converter unit), for breaker duty: the top of the 1.1-1.5 range of
#: docs/sources/network.md §5, since a higher current is the conservative side of a breaker duty. [-]
BATTERY_SC_K = 1.5


@dataclass(frozen=True)
class PowerFlowSummary:
    """The base-case power flow of a site in figures: convergence, voltages, loadings, slack and load power."""

    converged: bool
    poi_vm_pu: float
    min_vm_pu: float
    max_vm_pu: float
    min_vm_bus: str
    max_vm_bus: str
    max_loading_percent: float
    max_loading_element: str
    slack_p_mw: float
    slack_q_mvar: float
    load_p_mw: float
    #: losses of the network: lines, transformers and impedances other than the source's [MW]
    losses_mw: float
    message: str = ""
    tap_pos: dict[str, int] = field(default_factory=dict)
    #: loss in the fictitious Thevenin source impedance (not a network loss) [MW]
    source_losses_mw: float = math.nan


@dataclass(frozen=True)
class ShortCircuitSummary:
    """Three-phase fault at the POI (IEC 60909).

    ``skss_*_mva`` [MVA], ``rx``/``xr`` [-] and ``scr`` [-] are the grid's own (battery left out);
    breaker duty at the POI, maximum case: initial symmetrical current ``ikss_max_ka`` [kA] and
    peak current ``ip_max_ka`` [kA] without the battery, and ``*_with_battery_*`` with its
    inverters as current sources of ``battery_sc_k`` [-] times their rating ``battery_s_mva`` [MVA].
    """

    skss_max_mva: float
    skss_min_mva: float
    rx: float
    xr: float
    scr: float
    strength: str
    ikss_max_ka: float = math.nan
    ip_max_ka: float = math.nan
    skss_max_with_battery_mva: float = math.nan
    ikss_max_with_battery_ka: float = math.nan
    ip_max_with_battery_ka: float = math.nan
    battery_sc_k: float = math.nan
    battery_s_mva: float = 0.0


def strength_class(scr: float) -> str:
    """``weak`` below SCR 5, ``strong`` above 10, ``moderate`` between. [-]"""
    if scr < 5:
        return "weak"
    if scr > 10:
        return "strong"
    return "moderate"


def internal_buses(site: Site) -> list[int]:
    """Buses that exist only inside the model (the Thevenin source bus)."""
    if site.source_impedance is None:
        return []
    return [int(site.net.impedance.at[site.source_impedance, "from_bus"])]


def _nan_summary(message: str) -> PowerFlowSummary:
    n = math.nan
    return PowerFlowSummary(False, n, n, n, "", "", n, "", n, n, n, n, message)


def add_tap_controllers(site: Site, net: pp.pandapowerNet | None = None) -> list[Any]:
    """pandapower ``DiscreteTapControl`` for each regulating transformer of ``site``.

    The band is ``vm_set_pu ± deadband_pu`` at the LV bus, from the trafo table columns written
    by :func:`gridstudy.grid.build.build_site`.
    """

    net = site.net if net is None else net
    out = []
    for t in site.regulating_trafos:
        vm_set = float(net.trafo.at[t, "vm_set_pu"]) if "vm_set_pu" in net.trafo else 1.0
        band = float(net.trafo.at[t, "deadband_pu"]) if "deadband_pu" in net.trafo else 0.01
        out.append(DiscreteTapControl(net, t, vm_lower_pu=vm_set - band, vm_upper_pu=vm_set + band, side="lv"))
    return out


def is_divergence(exc: Exception) -> bool:
    """pandapower's own divergence error, or its controller loop's (which raises its own)."""
    return isinstance(exc, pp.LoadflowNotConverged) or "converge" in str(exc).lower()


def solve_idle_battery(site: Site, regulate: bool, campus_p_mw: float | None = None,
                       **runpp_kwargs: Any) -> pp.pandapowerNet:
    """A solved copy of the net with the battery idle, the campus at ``campus_p_mw`` (default its
    peak) and, with ``regulate``, the OLTCs moved into their bands. Raises on divergence."""
    net = copy.deepcopy(site.net)
    net.storage.loc[site.storages, ["p_mw", "q_mvar"]] = 0.0
    if campus_p_mw is not None and site.campus_p_mw > 0:
        net.load.loc[site.campus_loads, ["p_mw", "q_mvar"]] *= campus_p_mw / site.campus_p_mw
    if regulate:
        add_tap_controllers(site, net)
    pp.runpp(net, calculate_voltage_angles=True, run_control=regulate and bool(site.regulating_trafos), **runpp_kwargs)
    return net


def settle_taps(site: Site, campus_p_mw: float | None = None) -> dict[int, int]:
    """Move the regulating transformers' taps to their steady-state positions at a campus load
    (default its peak; battery idle), in place; return ``{trafo: tap_pos}``.

    Time series start from here, as a real network would after its OLTCs have acted; a run that
    started from the neutral tap would begin with an unregulated voltage the OLTC never sees.
    Leaves the taps unchanged when the power flow does not converge.
    """
    if not site.regulating_trafos:
        return {}
    try:
        # pandapower's own numba path compiles its kernels afresh in every process (it caches none),
        # seconds per run for a few-bus site; only the integer positions are kept from this solve
        net = solve_idle_battery(site, regulate=True, campus_p_mw=campus_p_mw, numba=False)
    except Exception as exc:
        if not is_divergence(exc):
            raise
        return {t: int(site.net.trafo.at[t, "tap_pos"]) for t in site.regulating_trafos}
    out = {}
    for t in site.regulating_trafos:
        site.net.trafo.at[t, "tap_pos"] = net.trafo.at[t, "tap_pos"]
        out[t] = int(net.trafo.at[t, "tap_pos"])
    return out


def base_case(site: Site, regulate: bool = True, **runpp_kwargs: Any) -> PowerFlowSummary:
    """Run the power flow at the campus's peak with the battery idle; never raises on divergence.

    With ``regulate`` the on-load tap changers move (pandapower ``DiscreteTapControl``) until
    their bus is inside its band, as they would in steady state.
    """
    try:
        net = solve_idle_battery(site, regulate=regulate, **runpp_kwargs)
    except pp.LoadflowNotConverged:
        return _nan_summary("power flow did not converge at peak campus load (voltage collapse?)")
    except Exception as exc:
        if not is_divergence(exc):
            raise
        return _nan_summary(f"power flow did not converge at peak campus load ({exc})")
    real = net.bus.index.difference(internal_buses(site))
    vm = net.res_bus.vm_pu.loc[real].dropna()
    loading = []
    for table in ("line", "trafo"):
        res = net[f"res_{table}"]
        for idx, val in res.loading_percent.dropna().items():
            loading.append((float(val), str(net[table].at[idx, "name"])))
    max_loading = max(loading) if loading else (math.nan, "")
    losses = sum(float(net[f"res_{t}"].pl_mw.sum()) for t in ("line", "trafo", "impedance") if len(net[t]))
    # the source impedance is the Thevenin equivalent of the grid, not a branch of the network
    source_losses = float(net.res_impedance.pl_mw.at[site.source_impedance]) if site.source_impedance is not None else 0.0
    load_p = float(net.res_load.p_mw.sum()) + float(net.res_storage.p_mw.sum() if len(net.storage) else 0.0)
    load_p += float(net.res_shunt.p_mw.sum()) if len(net.shunt) else 0.0
    taps = {str(net.trafo.at[t, "name"]): int(net.trafo.at[t, "tap_pos"]) for t in site.regulating_trafos}
    return PowerFlowSummary(
        converged=True,
        poi_vm_pu=float(net.res_bus.vm_pu.at[site.poi_bus]),
        min_vm_pu=float(vm.min()), max_vm_pu=float(vm.max()),
        min_vm_bus=str(net.bus.at[vm.idxmin(), "name"]), max_vm_bus=str(net.bus.at[vm.idxmax(), "name"]),
        max_loading_percent=max_loading[0], max_loading_element=max_loading[1],
        slack_p_mw=float(net.res_ext_grid.p_mw.sum()), slack_q_mvar=float(net.res_ext_grid.q_mvar.sum()),
        load_p_mw=load_p, losses_mw=losses - source_losses, tap_pos=taps, source_losses_mw=source_losses,
    )


def _sc_net(site: Site, battery_k: float | None = None) -> pp.pandapowerNet:
    """A copy of the net for ``calc_sc``: source data on the source bus; the battery left out, or
    with ``battery_k`` [-] its in-service storages as current-source sgens of their ``sn_mva``."""
    net = copy.deepcopy(site.net)
    if site.source_impedance is not None:
        net.impedance.at[site.source_impedance, "in_service"] = False
        net.ext_grid.at[site.ext_grid, "bus"] = site.source_bus
    net.storage["in_service"] = False
    if len(net.line):
        if "endtemp_degree" not in net.line:
            net.line["endtemp_degree"] = LINE_ENDTEMP_DEGREE
        net.line["endtemp_degree"] = net.line["endtemp_degree"].fillna(LINE_ENDTEMP_DEGREE)
    if len(net.sgen):
        net.sgen["in_service"] = False
    if battery_k is not None:
        st = site.net.storage
        for i in site.storages:
            if bool(st.at[i, "in_service"]) and np.isfinite(float(st.at[i, "sn_mva"])):
                pp.create_sgen(net, int(st.at[i, "bus"]), p_mw=0.0, sn_mva=float(st.at[i, "sn_mva"]), k=battery_k,
                               current_source=True, name=f"{st.at[i, 'name']} (fault current source)")
    return net


def _battery_s_mva(site: Site) -> float:
    """Rated apparent power of the site's in-service storages. [MVA]"""
    st = site.net.storage.loc[list(site.storages)] if site.storages else site.net.storage.iloc[:0]
    st = st[st.in_service.astype(bool)]
    return float(np.nansum(st.sn_mva.to_numpy(dtype=float)))


def short_circuit(site: Site, battery_k: float = BATTERY_SC_K) -> ShortCircuitSummary:
    """Three-phase fault at the POI, max and min cases (IEC 60909 via pandapower), and the breaker
    duty of the max case without and with the battery's inverters.

    Parameters
    ----------
    site : Site
        The site (not modified).
    battery_k : float
        Short-circuit current of the battery's inverters per unit of their rated current. [-]

    Raises ``ValueError`` if the source has no fault-level data (``s_sc_max_mva``/``s_sc_min_mva``).
    """
    missing, gen_missing = _missing_fault_data(site)
    if missing:
        raise ValueError(f"ext_grid lacks fault-level data: {', '.join(missing)}")
    if gen_missing:
        raise ValueError(f"generators lack short-circuit data: {', '.join(gen_missing)}")
    res: dict[str, tuple[float, float, float, float, float]] = {}  # case -> skss, rk, xk, ikss, ip
    s_bat = _battery_s_mva(site)
    for case, k in (("max", None), ("min", None), ("max_with_battery", battery_k)):
        if k is not None and s_bat <= 0:
            res[case] = res["max"]
            continue
        net = _sc_net(site, k)
        sc.calc_sc(net, bus=site.poi_bus, case=case[:3], fault="3ph", ip=True)
        row = net.res_bus_sc.loc[site.poi_bus]
        res[case] = (float(row.skss_mw), float(row.rk_ohm), float(row.xk_ohm), float(row.ikss_ka), float(row.ip_ka))
    skss_max, rk, xk, ikss, ip = res["max"]
    skss_min = res["min"][0]
    scr = skss_min / site.campus_p_mw
    skss_b, _, _, ikss_b, ip_b = res["max_with_battery"]
    return ShortCircuitSummary(
        skss_max_mva=skss_max, skss_min_mva=skss_min, rx=rk / xk, xr=xk / rk if rk else math.inf,
        scr=scr, strength=strength_class(scr), ikss_max_ka=ikss, ip_max_ka=ip, skss_max_with_battery_mva=skss_b,
        ikss_max_with_battery_ka=ikss_b, ip_max_with_battery_ka=ip_b, battery_sc_k=float(battery_k),
        battery_s_mva=s_bat,
    )


def short_circuit_mva_at(site: Site, bus: int) -> float:
    """Three-phase short-circuit power at ``bus`` (IEC 60909 max case via pandapower, the battery
    left out): the network's strength seen from there. [MVA]"""
    net = _sc_net(site)
    sc.calc_sc(net, bus=bus, case="max", fault="3ph")
    return float(net.res_bus_sc.at[bus, "skss_mw"])


#: Reactive power injected at a bus to read its voltage sensitivity (:func:`sensitivity_strength_mva_at`). [Mvar]
SENSITIVITY_DQ_MVAR = 10.0


def has_fault_data(site: Site) -> bool:
    """Whether the site's sources and generators carry the data of an IEC 60909 calculation
    (``s_sc_max_mva``, ``s_sc_min_mva``, ``rx_max``, ``rx_min`` on every in-service ``ext_grid``;
    subtransient data on every in-service generator): an imported planning case often has none."""
    missing, gen_missing = _missing_fault_data(site)
    return not missing and not gen_missing


def _missing_fault_data(site: Site) -> tuple[list[str], list[str]]:
    """The IEC 60909 columns absent or not finite on the in-service ``ext_grid`` rows, and on the
    in-service generators (none where there are no generators)."""
    egs = site.net.ext_grid[site.net.ext_grid.in_service]
    missing = [c for c in ("s_sc_max_mva", "s_sc_min_mva", "rx_max", "rx_min")
               if c not in egs or not np.isfinite(egs[c].astype(float)).all()]
    gens = site.net.gen[site.net.gen.in_service] if len(site.net.gen) else site.net.gen
    gen_missing = [c for c in ("vn_kv", "xdss_pu", "rdss_ohm", "cos_phi", "sn_mva")
                   if len(gens) and (c not in gens or not np.isfinite(gens[c].astype(float)).all())]
    return missing, gen_missing


def sensitivity_strength_mva_at(site: Site, bus: int, dq_mvar: float = SENSITIVITY_DQ_MVAR) -> float:
    """The network's strength at ``bus`` from its power flow, for a network without fault data:
    ``dQ / dV``, the reactive power that moves the bus voltage by 1 pu, read from two power flows
    (the site as it is, then with ``dq_mvar`` injected at ``bus``; the battery left out). With the
    Thevenin impedance of the network at the bus largely reactive, ``dV ≈ dQ · X_th / V²``, so
    ``dQ / dV ≈ V² / X_th``: the short-circuit power at the operating point, sources behind their
    power-flow models (an ``ext_grid`` a stiff source, generators voltage-controlled) rather than
    behind subtransient reactances. It ranks the outages of one network; it is not an IEC 60909
    fault level. [MVA]"""
    net = copy.deepcopy(site.net)
    net.storage["in_service"] = False
    pp.runpp(net, numba=False)
    v0 = float(net.res_bus.at[bus, "vm_pu"])
    pp.create_sgen(net, bus, p_mw=0.0, q_mvar=dq_mvar, name="strength probe")
    pp.runpp(net, numba=False)
    dv = float(net.res_bus.at[bus, "vm_pu"]) - v0
    return dq_mvar / dv if dv > 0 else math.inf


def check_site(site: Site) -> dict[str, Any]:
    """The ``gridstudy check`` summary: base-case power flow plus short circuit at the POI."""
    pf = base_case(site)
    out = {
        "site": site.name,
        "poi_bus": site.poi_name,
        "poi_vn_kv": site.poi_vn_kv,
        "campus_p_mw": site.campus_p_mw,
        "battery_p_mw": site.battery.p_mw if site.battery else 0.0,
        "battery_e_mwh": site.battery.e_mwh if site.battery else 0.0,
        **asdict(pf),
    }
    try:
        s = short_circuit(site)
        out.update(asdict(s))
        out["sc_message"] = ""
    except ValueError as exc:
        nan = math.nan
        out.update(skss_max_mva=nan, skss_min_mva=nan, rx=nan, xr=nan, scr=nan, strength="unknown",
                   ikss_max_ka=nan, ip_max_ka=nan, skss_max_with_battery_mva=nan, ikss_max_with_battery_ka=nan,
                   ip_max_with_battery_ka=nan, battery_sc_k=nan, battery_s_mva=nan, sc_message=str(exc))
    return out
