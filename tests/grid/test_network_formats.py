"""Network files in every supported format, read into pandapower and checked against a power
flow from outside the code under test: pandapower's own case (its ``runpp``), or pypowsybl's
load flow of the same file.

Tolerance 1e-6 pu on bus voltages unless stated: both solvers converge to ~1e-8 MVA mismatch, so
two exact conversions agree to ~1e-8 pu (measured 3e-9 pu on IEEE 14); 1e-6 pu leaves room for
the digits the text formats round (RAW writes impedances to 5-6 significant digits) and is four
orders below anything a study judges.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from gridstudy.grid.network import TAP_MODEL_WARNING, read_network

TOL_PU = 1e-6

pypowsybl = pytest.importorskip("pypowsybl")


def _vm(net):
    pp.runpp(net, calculate_voltage_angles=True)
    return net.res_bus.vm_pu.to_numpy()


def _case_vm(name):
    """Bus voltages of pandapower's own ``pandapower.networks`` case by its own ``runpp``: the
    reference from outside the code under test, so solved as pandapower ships it (in the old tap
    model, whose deprecation warning is let pass here and only here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=TAP_MODEL_WARNING, category=DeprecationWarning)
        return _vm(getattr(pn, name)())


def test_pandapower_json(tmp_path):
    ref = pn.case30()
    pp.to_json(ref, str(tmp_path / "case30.json"))
    net = read_network(tmp_path / "case30.json")
    np.testing.assert_allclose(_vm(net), _case_vm("case30"), rtol=0, atol=1e-10)  # same net, same solver


def test_matpower_mat(tmp_path):
    from pandapower.converter.matpower.to_mpc import to_mpc

    ref = pn.case30()
    to_mpc(ref, str(tmp_path / "case30.mat"), init="flat")
    net = read_network(tmp_path / "case30.mat")
    np.testing.assert_allclose(_vm(net), _case_vm("case30"), rtol=0, atol=TOL_PU)


def _ieee14_raw_v35(tmp_path):
    import pypowsybl.network as ppn

    path = tmp_path / "ieee14.raw"
    ppn.create_ieee14().save(str(path), format="PSS/E")
    text = path.read_text()
    assert text.splitlines()[0].split(",")[2].strip() == "35"  # pypowsybl writes RAW v35
    return path


def _v35_to_v33(text: str) -> str:
    """IEEE 14 RAW v35 (as pypowsybl writes it) rewritten as RAW v33, record by record, by the
    PSS/E 33 and 35 format manuals: no system-wide data block; loads drop DGENP, DGENQ, DGENF,
    LOADTYPE; generators drop NREG and BASLOD; branches drop NAME and RATE4..RATE12;
    transformers drop ZCOD and their windings RATE4..RATE12 and NODE; no switching-device and
    substation blocks; the file ends with ``Q``."""
    lines = text.splitlines()
    out: list[str] = []
    out.append(re.sub(r"^(\s*\d+\s*,\s*[\d.]+\s*,\s*)35", r"\g<1>33", lines[0]))
    out += lines[1:3]
    i = 3
    while lines[i].startswith("@") or "END OF SYSTEM-WIDE DATA" not in lines[i]:
        i += 1
    i += 1
    # v33: the bus records follow the two title lines directly
    section = "bus"
    tw = 0
    while i < len(lines):
        ln = lines[i]
        i += 1
        if ln.strip().startswith("0 /") or ln.strip() == "0":
            m = re.search(r"BEGIN (.*) DATA", ln)
            nxt = m.group(1).lower() if m else ""
            if "switching device" in nxt:  # v35 only: skip the block entirely
                while not lines[i].strip().startswith("0 /"):
                    i += 1
                ln = lines[i]
                i += 1
                m = re.search(r"BEGIN (.*) DATA", ln)
                nxt = m.group(1).lower() if m else ""
            if "substation" in nxt:  # v35 only; v33 ends after the induction machine block
                out += ["0 / END OF INDUCTION MACHINE DATA", "Q"]
                break
            out.append(ln)
            section = nxt
            continue
        f = [x.strip() for x in ln.split(",")]
        if section == "load":
            f = f[:14]
        elif section == "generator":
            f = f[:8] + f[9:19] + f[20:]
        elif section == "branch" or section == "non-transformer branch":
            f = f[:6] + f[7:10] + f[19:]
        elif section == "transformer":
            tw += 1
            k = (tw - 1) % 4  # two-winding transformers: 4 records
            if k == 0:
                f = f[:-1]  # ZCOD
            elif k == 2:
                f = f[:6] + f[15:17] + f[18:]
        out.append(",".join(f))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("version", [35, 33])
def test_psse_raw(tmp_path, version):
    """IEEE 14 as RAW v35 (pypowsybl's writer) and v33 (rewritten from it): the converted net's
    power flow equals pandapower's own case14 (both carry the IEEE common-format data)."""
    path = _ieee14_raw_v35(tmp_path)
    if version == 33:
        v33 = tmp_path / "ieee14_v33.raw"
        v33.write_text(_v35_to_v33(path.read_text()))
        path = v33
    net = read_network(path)
    assert len(net.bus) == 14 and len(net.shunt) == 1 and len(net.ext_grid) == 1
    assert net.bus.name.iloc[0] == "VL1_0"
    np.testing.assert_allclose(_vm(net), _case_vm("case14"), rtol=0, atol=TOL_PU)


def test_cgmes_against_pypowsybl_loadflow(tmp_path):
    """IEEE 9 written as CGMES by pypowsybl, read by pandapower's CIM converter: the voltages
    equal pypowsybl's own AC load flow (no reactive limits, no distributed slack, as runpp)."""
    import pypowsybl.loadflow as lf
    import pypowsybl.network as ppn

    n = ppn.create_ieee9()
    lf.run_ac(n, lf.Parameters(use_reactive_limits=False, distributed_slack=False))
    buses, vl = n.get_buses(), n.get_voltage_levels()
    expected = (buses.v_mag / vl.nominal_v.reindex(buses.voltage_level_id).to_numpy()).to_numpy()
    folder = tmp_path / "cgmes"
    folder.mkdir()
    n.save(str(folder / "ieee9"), format="CGMES")
    gen_name = None
    net = read_network(folder, "cgmes")
    assert len(net.ext_grid) == 0 and len(net.gen) == 3  # the export designates no slack
    from gridstudy.grid.network_site import _slack

    problems: list = []
    gen_name = str(net.gen.name.iloc[0])
    _slack(net, gen_name, problems)
    assert not problems and len(net.ext_grid) == 1
    np.testing.assert_allclose(_vm(net)[: len(expected)], expected, rtol=0, atol=TOL_PU)
