"""A solved pandapower net as a PSS/E v33 RAW case.

The case is written from the network pandapower solved (its internal branch model, ``net._ppc``,
after :func:`pandapower.runpp`), so that another tool's power flow on the file gives pandapower's
voltages:

- **buses**: one per pandapower power-flow bus (buses joined by closed bus-bus switches are one),
  numbered from 1; the ``ext_grid`` bus is the swing bus (type 3), a bus with a generator type 2;
  the solved voltage and angle are written as the initial values; names cut to PSS/E's 12
  characters (the full names are in :attr:`RawCase.bus_names`);
- **loads**: every in-service ``load`` at the power it drew in the solution, as constant power;
  a static generator (``sgen``) as a negative load;
- **fixed shunts**: every in-service ``shunt`` at its solved admittance;
- **generators**: the ``ext_grid`` (swing, rated ``MBASE`` and source reactance of the grid
  equivalent), each ``gen`` and each ``storage`` (the battery plant, producing positive) at its
  solved P and Q, holding its bus at the solved voltage (``VS``), so the power flow of the file has
  pandapower's solution;
- **branches**: lines and ``impedance`` elements with R, X, B on the 100 MVA system base;
- **two-winding transformers**: R, X on the system base (``CZ = 1``), the ratio as solved with the
  tap positions of the operating point in ``WINDV1`` (``CW = 1``, ``WINDV2 = 1``), the phase shift
  in ``ANG1``, magnetising admittance on the system base (``CM = 1``), no automatic control
  (``COD1 = 0``): the taps are those of the operating point.

Three-winding transformers, wards, DC lines and asymmetric impedances are refused
(:class:`ExportError`): the writer does not model them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandapower as pp
from pandapower.pypower.idx_brch import (
    BR_B,
    BR_G,
    BR_R,
    BR_R_ASYM,
    BR_STATUS,
    BR_X,
    BR_X_ASYM,
    F_BUS,
    SHIFT,
    T_BUS,
    TAP,
)
from pandapower.pypower.idx_bus import BASE_KV, BUS_TYPE, NONE, VA, VM

from gridstudy.grid.errors import InputError, Problem
from gridstudy.grid.site import Site

__all__ = ["ExportError", "RawCase", "raw_case", "SBASE_MVA"]

#: System base of the RAW file. [MVA]
SBASE_MVA = 100.0

#: Elements the writer does not model: refused when in service.
_UNSUPPORTED = ("trafo3w", "ward", "xward", "dcline", "svc", "tcsc", "ssc", "vsc")


class ExportError(InputError):
    """A case that cannot be exported as asked (an element the writer does not model, a time
    outside the horizon, a parameter outside its model's range)."""

    kind = "export"


@dataclass
class RawCase:
    """A RAW case and the numbers it gave the site's elements.

    Attributes
    ----------
    text : str
        The RAW file.
    bus_number : dict of int to int
        pandapower bus index -> RAW bus number.
    bus_names : dict of int to str
        RAW bus number -> full name.
    poi_bus : int
        RAW number of the POI bus.
    swing : tuple of (int, str)
        ``(bus, machine id)`` of the grid equivalent.
    plant : list of tuple of (int, str)
        ``(bus, machine id)`` of each storage of the battery plant.
    campus : list of tuple of (int, str)
        ``(bus, load id)`` of each campus load.
    plant_mva : dict of tuple to float
        ``MBASE`` of each plant machine. [MVA]
    """

    text: str
    bus_number: dict[int, int]
    bus_names: dict[int, str]
    poi_bus: int
    swing: tuple[int, str]
    plant: list[tuple[int, str]] = field(default_factory=list)
    campus: list[tuple[int, str]] = field(default_factory=list)
    plant_mva: dict[tuple[int, str], float] = field(default_factory=dict)
    loads: dict[int, tuple[int, str]] = field(default_factory=dict)


def _q(name: object, width: int) -> str:
    """A quoted PSS/E name, cut to ``width`` characters (quotes and commas removed)."""
    text = str(name).replace("'", "").replace('"', "").replace(",", " ")[:width]
    return f"'{text}'"


def _f(x: float) -> str:
    """A number as RAW writes it: enough digits for a 1e-8 pu round trip."""
    return f"{float(x):.10g}"


def _refuse(net: pp.pandapowerNet) -> list[Problem]:
    out = []
    for table in _UNSUPPORTED:
        if table in net and len(net[table]) and bool(net[table]["in_service"].astype(bool).any()):
            out.append(Problem(f"net.{table}", "in-service elements of this kind are not written by the PSS/E "
                                               "exporter", int(net[table]["in_service"].astype(bool).sum())))
    if int(net.ext_grid["in_service"].astype(bool).sum()) != 1:
        out.append(Problem("net.ext_grid", "the exporter needs exactly one in-service ext_grid (the swing bus)",
                           int(net.ext_grid["in_service"].astype(bool).sum())))
    return out


def raw_case(site: Site, *, title: str = "", swing_mva: float = SBASE_MVA, swing_x_pu: float = 0.3,
             swing_r_pu: float = 0.0, plant_mva: float | None = None) -> RawCase:
    """Write ``site.net`` (solved here as it stands: loads, storages, taps) as a PSS/E v33 RAW case.

    Parameters
    ----------
    site : Site
        The site at its operating point (not changed: pandapower's results are added to its net).
    title : str
        The case's first title line.
    swing_mva, swing_x_pu, swing_r_pu : float
        ``MBASE`` [MVA] and source impedance ``ZR``/``ZX`` [pu on MBASE] of the grid equivalent.
    plant_mva : float, optional
        ``MBASE`` of the battery plant (split over its storages as their ``sn_mva``); default: the
        storages' own ``sn_mva``. [MVA]

    Raises
    ------
    ExportError
        Elements the writer does not model.
    """

    net = site.net
    problems = _refuse(net)
    if problems:
        raise ExportError(problems)
    pp.runpp(net, calculate_voltage_angles=True, tolerance_mva=1e-10, max_iteration=50)
    ppc = net._ppc
    base = float(ppc["baseMVA"])
    bus_lookup = net._pd2ppc_lookups["bus"]
    ppc_bus = ppc["bus"]
    res_bus = net.res_bus

    def num(pp_bus: int) -> int:
        return int(bus_lookup[int(pp_bus)]) + 1

    eg = int(net.ext_grid.index[net.ext_grid["in_service"].astype(bool)][0])
    swing_bus = num(net.ext_grid.at[eg, "bus"])
    pv_buses = {swing_bus}
    gen_rows: list[str] = []
    bus_ids: dict[int, int] = defaultdict(int)

    def next_id(bus: int) -> str:
        bus_ids[bus] += 1
        return str(bus_ids[bus])

    def vs(bus: int) -> float:
        return float(np.real(ppc_bus[bus - 1, VM]))

    def gen_row(bus: int, gid: str, p: float, q: float, qt: float, qb: float, mbase: float, zr: float, zx: float,
                pt: float, pb: float) -> str:
        # I,ID,PG,QG,QT,QB,VS,IREG,MBASE,ZR,ZX,RT,XT,GTAP,STAT,RMPCT,PT,PB,O1,F1,O2,F2,O3,F3,O4,F4,WMOD,WPF
        return (f"{bus}, '{gid}', {_f(p)}, {_f(q)}, {_f(qt)}, {_f(qb)}, {_f(vs(bus))}, 0, {_f(mbase)}, {_f(zr)}, "
                f"{_f(zx)}, 0, 0, 1, 1, 100, {_f(pt)}, {_f(pb)}, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1")

    sw_id = next_id(swing_bus)
    p_eg, q_eg = float(net.res_ext_grid.at[eg, "p_mw"]), float(net.res_ext_grid.at[eg, "q_mvar"])
    gen_rows.append(gen_row(swing_bus, sw_id, p_eg, q_eg, 9999.0, -9999.0, swing_mva, swing_r_pu, swing_x_pu,
                            9999.0, -9999.0))
    for g in net.gen.index[net.gen["in_service"].astype(bool)]:
        b = num(net.gen.at[g, "bus"])
        pv_buses.add(b)
        sn = float(net.gen.at[g, "sn_mva"]) if np.isfinite(net.gen.at[g, "sn_mva"]) else SBASE_MVA
        gen_rows.append(gen_row(b, next_id(b), float(net.res_gen.at[g, "p_mw"]), float(net.res_gen.at[g, "q_mvar"]),
                                9999.0, -9999.0, sn, 0.0, 0.3, 9999.0, -9999.0))
    plant: list[tuple[int, str]] = []
    mva: dict[tuple[int, str], float] = {}
    storages = [s for s in site.storages if bool(net.storage.at[s, "in_service"])]
    total_sn = float(net.storage.loc[storages, "sn_mva"].sum()) if storages else 0.0
    for s in storages:
        b = num(net.storage.at[s, "bus"])
        pv_buses.add(b)
        sn = float(net.storage.at[s, "sn_mva"])
        if plant_mva is not None and total_sn > 0:
            sn = plant_mva * sn / total_sn
        gid = next_id(b)
        # storage: charging positive in pandapower; a generator produces positive
        p, q = -float(net.res_storage.at[s, "p_mw"]), -float(net.res_storage.at[s, "q_mvar"])
        gen_rows.append(gen_row(b, gid, p, q, sn, -sn, sn, 0.0, 1.0, sn, -sn))
        plant.append((b, gid))
        mva[(b, gid)] = sn

    # buses
    names: dict[int, str] = {}
    for pb in net.bus.index:
        n = num(pb)
        names.setdefault(n, str(net.bus.at[pb, "name"]))
    bus_rows = []
    for k in range(len(ppc_bus)):
        n = k + 1
        ide = 4 if int(np.real(ppc_bus[k, BUS_TYPE])) == NONE else (3 if n == swing_bus else 2 if n in pv_buses else 1)
        bus_rows.append(f"{n}, {_q(names.get(n, f'BUS {n}'), 12)}, {_f(np.real(ppc_bus[k, BASE_KV]))}, {ide}, 1, 1, 1, "
                        f"{_f(np.real(ppc_bus[k, VM]))}, {_f(np.real(ppc_bus[k, VA]))}, 1.1, 0.9, 1.1, 0.9")

    # loads: the power each drew in the solution, constant power
    load_rows = []
    loads: dict[int, tuple[int, str]] = {}
    campus: list[tuple[int, str]] = []
    load_ids: dict[int, int] = defaultdict(int)
    for ld in net.load.index[net.load["in_service"].astype(bool)]:
        b = num(net.load.at[ld, "bus"])
        load_ids[b] += 1
        lid = str(load_ids[b])
        p, q = float(net.res_load.at[ld, "p_mw"]), float(net.res_load.at[ld, "q_mvar"])
        load_rows.append(f"{b}, '{lid}', 1, 1, 1, {_f(p)}, {_f(q)}, 0, 0, 0, 0, 1, 1, 0")
        loads[int(ld)] = (b, lid)
        if int(ld) in site.campus_loads:
            campus.append((b, lid))
    for sg in net.sgen.index[net.sgen["in_service"].astype(bool)]:
        b = num(net.sgen.at[sg, "bus"])
        load_ids[b] += 1
        p, q = float(net.res_sgen.at[sg, "p_mw"]), float(net.res_sgen.at[sg, "q_mvar"])
        load_rows.append(f"{b}, '{load_ids[b]}', 1, 1, 1, {_f(-p)}, {_f(-q)}, 0, 0, 0, 0, 1, 1, 0")

    shunt_rows = []
    shunt_ids: dict[int, int] = defaultdict(int)
    for sh in net.shunt.index[net.shunt["in_service"].astype(bool)]:
        b = num(net.shunt.at[sh, "bus"])
        shunt_ids[b] += 1
        vm2 = float(res_bus.at[net.shunt.at[sh, "bus"], "vm_pu"]) ** 2
        gl = float(net.res_shunt.at[sh, "p_mw"]) / vm2
        bl = -float(net.res_shunt.at[sh, "q_mvar"]) / vm2  # RAW: Mvar injected at 1 pu
        shunt_rows.append(f"{b}, '{shunt_ids[b]}', 1, {_f(gl)}, {_f(bl)}")

    # branches and transformers from pandapower's own branch model
    br = ppc["branch"]
    lookup = net._pd2ppc_lookups["branch"]
    z = SBASE_MVA / base  # pu on baseMVA -> pu on SBASE
    branch_rows, trafo_rows = [], []
    ckt: dict[tuple[int, int], int] = defaultdict(int)
    problems = []
    for table, (a, b_) in lookup.items():
        if table not in ("line", "trafo", "impedance"):
            continue
        elements = net[table].index
        for k, row in enumerate(range(a, b_)):
            r = br[row]
            if int(np.real(r[BR_STATUS])) == 0:
                continue
            if table == "impedance" and (abs(np.real(r[BR_R_ASYM])) > 0 or abs(np.real(r[BR_X_ASYM])) > 0):
                problems.append(Problem(f"net.impedance[{elements[k]}]", "asymmetric impedances are not written",
                                        str(net.impedance.at[elements[k], "name"])))
                continue
            i, j = int(np.real(r[F_BUS])) + 1, int(np.real(r[T_BUS])) + 1
            key = (min(i, j), max(i, j))
            ckt[key] += 1
            rr, xx = float(np.real(r[BR_R])) * z, float(np.real(r[BR_X])) * z
            bb, gg = float(np.real(r[BR_B])) / z, float(np.real(r[BR_G])) / z
            if table == "trafo":
                t = elements[k]
                name = _q(net.trafo.at[t, "name"], 40)
                sn = float(net.trafo.at[t, "sn_mva"])
                # I,J,K,CKT,CW,CZ,CM,MAG1,MAG2,NMETR,'NAME',STAT,O1,F1,O2,F2,O3,F3,O4,F4,VECGRP
                trafo_rows.append(f"{i}, {j}, 0, '{ckt[key]}', 1, 1, 1, {_f(gg)}, {_f(bb)}, 2, {name}, 1, "
                                  "1, 1, 0, 1, 0, 1, 0, 1, ''")
                trafo_rows.append(f"{_f(rr)}, {_f(xx)}, {_f(sn)}")
                # WINDV1,NOMV1,ANG1,RATA1,RATB1,RATC1,COD1,CONT1,RMA1,RMI1,VMA1,VMI1,NTP1,TAB1,CR1,CX1,CNXA1
                trafo_rows.append(f"{_f(np.real(r[TAP]))}, 0, {_f(np.real(r[SHIFT]))}, {_f(sn)}, {_f(sn)}, {_f(sn)}, "
                                  "0, 0, 1.1, 0.9, 1.1, 0.9, 33, 0, 0, 0, 0")
                trafo_rows.append("1, 0")
            else:
                # I,J,CKT,R,X,B,RATEA,RATEB,RATEC,GI,BI,GJ,BJ,ST,MET,LEN,O1,F1,...,O4,F4
                branch_rows.append(f"{i}, {j}, '{ckt[key]}', {_f(rr)}, {_f(xx)}, {_f(bb)}, 0, 0, 0, {_f(gg / 2)}, 0, "
                                   f"{_f(gg / 2)}, 0, 1, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1")
    if problems:
        raise ExportError(problems)

    f_hz = float(net.f_hz) if "f_hz" in net and net.f_hz else 60.0
    lines = [f"0, {_f(SBASE_MVA)}, 33, 0, 0, {_f(f_hz)}     / PSS/E-33 RAW written by gridstudy",
             (title or site.name)[:60], f"site {site.name}"[:60]]
    sections = [("BUS", bus_rows), ("LOAD", load_rows), ("FIXED SHUNT", shunt_rows), ("GENERATOR", gen_rows),
                ("BRANCH", branch_rows), ("TRANSFORMER", trafo_rows)]
    for k, (label, rows) in enumerate(sections):
        lines += rows
        nxt = sections[k + 1][0] if k + 1 < len(sections) else "AREA"
        lines.append(f"0 / END OF {label} DATA, BEGIN {nxt} DATA")
    for label, nxt in (("AREA", "TWO-TERMINAL DC"), ("TWO-TERMINAL DC", "VSC DC LINE"),
                       ("VSC DC LINE", "IMPEDANCE CORRECTION"), ("IMPEDANCE CORRECTION", "MULTI-TERMINAL DC"),
                       ("MULTI-TERMINAL DC", "MULTI-SECTION LINE"), ("MULTI-SECTION LINE", "ZONE"),
                       ("ZONE", "INTER-AREA TRANSFER"), ("INTER-AREA TRANSFER", "OWNER"), ("OWNER", "FACTS DEVICE"),
                       ("FACTS DEVICE", "SWITCHED SHUNT"), ("SWITCHED SHUNT", "GNE DEVICE"),
                       ("GNE DEVICE", "INDUCTION MACHINE")):
        lines.append(f"0 / END OF {label} DATA, BEGIN {nxt} DATA")
    lines.append("0 / END OF INDUCTION MACHINE DATA")
    lines.append("Q")
    return RawCase(text="\n".join(lines) + "\n", bus_number={int(b): num(b) for b in net.bus.index},
                   bus_names=names, poi_bus=num(site.poi_bus), swing=(swing_bus, sw_id), plant=plant,
                   campus=campus, plant_mva=mva, loads=loads)
