"""The PSS/E export read back by another tool: ANDES loads case.raw + case.dyr, its power flow
equals pandapower's at every bus, and a run without a disturbance stays flat."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gridstudy.grid.reference import load_site
from gridstudy.grid.spec import GridEquivalentSpec
from gridstudy.models.plant_response import PlantResponse
from gridstudy.studies.export.dyr import grid_records, plant_records
from gridstudy.studies.export.raw import raw_case


def _operating_point():
    """memphis-161kv away from its base case: the plant discharging 80 MW and absorbing 25 Mvar,
    the campus OLTCs three steps off neutral, the campus at 70 % of its peak."""
    site = load_site("memphis-161kv")
    net = site.net
    net.storage.loc[site.storages, "p_mw"] = -80.0
    net.storage.loc[site.storages, "q_mvar"] = 25.0
    net.trafo.loc[site.regulating_trafos, "tap_pos"] = -3
    net.load.loc[site.campus_loads, ["p_mw", "q_mvar"]] *= 0.7
    return site


def _andes_case(tmp_path, site, g: GridEquivalentSpec):
    import andes

    rc = raw_case(site, swing_mva=g.mva_base, swing_x_pu=g.xd1_pu if g.model == "GENCLS" else g.xd2_pu)
    recs = grid_records(*rc.swing, g)
    for b, gid in rc.plant:
        recs += plant_records(b, gid, rc.plant_mva[(b, gid)], 587.4, PlantResponse())
    raw, dyr = tmp_path / "case.raw", tmp_path / "case.dyr"
    raw.write_text(rc.text)
    dyr.write_text("\n".join(recs) + "\n")
    andes.config_logger(stream_level=50, file=False, log_path=str(tmp_path))
    ss = andes.load(str(raw), addfile=str(dyr), setup=True, no_output=True, default_config=True)
    ss.PFlow.config.tol = 1e-12
    assert ss.PFlow.run()
    return rc, ss


@pytest.mark.parametrize("model", ["GENROU", "GENCLS"])
def test_andes_power_flow_and_flat_run(tmp_path, model):
    site = _operating_point()
    rc, ss = _andes_case(tmp_path, site, GridEquivalentSpec(model=model))
    res = site.net.res_bus  # pandapower's solution of the same operating point (raw_case solved it)
    # the operating point is not the flat base case: the POI voltage moved and the OLTCs are off neutral
    assert abs(float(res.at[site.poi_bus, "vm_pu"]) - 1.0) > 1e-3
    for pb, n in rc.bus_number.items():
        k = ss.Bus.idx2uid(n)
        # 1e-6 pu: the bound; the RAW numbers carry 10 significant digits and both solvers
        # converge to far below it (observed: a few 1e-8 pu)
        assert abs(float(res.at[pb, "vm_pu"]) - ss.Bus.v.v[k]) <= 1e-6, pb
        assert abs(math.radians(float(res.at[pb, "va_degree"])) - ss.Bus.a.v[k]) <= 1e-6, pb

    ss.TDS.config.tf = 10.0
    ss.TDS.config.tstep = 0.02
    ss.TDS.config.no_tqdm = 1
    assert ss.TDS.init() is not None and ss.TDS.initialized
    assert ss.TDS.run()
    ts = ss.dae.ts
    t = np.asarray(ts.t)
    assert t[-1] >= 10.0 - 1e-9 and len(t) >= 500  # the whole 10 s at 20 ms was integrated
    v = np.asarray(ts.y)[:, ss.Bus.v.a]
    x = np.asarray(ts.x)
    # no disturbance: every bus voltage and every state (machine speed and angle, exciter,
    # governor, the plant's filters and controllers) stays where the power flow put it (1e-6 pu)
    assert np.abs(v - v[0]).max() <= 1e-6
    assert np.abs(x - x[0]).max() <= 1e-6
    gen = ss.GENROU if model == "GENROU" else ss.GENCLS
    assert np.abs(np.asarray(ts.x)[:, gen.omega.a] - 1.0).max() <= 1e-6
    # the plant machine runs at the operating point's power (80 MW discharging on 100 MVA)
    assert ss.REGCA1.Pe.v[0] * ss.config.mva == pytest.approx(80.0, abs=1e-3)
