"""A grid-forming plant in the export and the RMS check: the mapping onto ANDES REGF1 / REGF2 and the
WECC REGFM_A1 / REGFM_B1 parameter names (docs/sources/megapack.md §10), and what the exported
case holds for it."""

from __future__ import annotations

import pytest

from gridstudy.models.grid_forming import GridFormingControl
from gridstudy.studies.cli.main import main
from gridstudy.studies.export.dyr import grid_forming_andes, regfm_parameters
from gridstudy.studies.export.raw import ExportError

#: The parameter names of the PowerWorld documentation of the WECC models ("Machine Model:
#: REGFM_A1", "Machine Model: REGFM_B1"; the lists of docs/sources/megapack.md §10).
REGFM_A1_NAMES = {"TPf", "TQf", "TVf", "Re", "Xe", "Imax", "Emax", "Emin", "Pmax", "Pmin", "Qmax", "Qmin", "Mp", "Mq",
                  "Kpv", "Kiv", "Kppmax", "Kipmax", "Kpqmax", "Kiqmax", "Vflag", "QVflag", "PQflag"}
REGFM_B1_NAMES = {"wFlag", "VdrpFlag", "QVflag", "PQflag", "FFlag", "ESFlag", "Re", "Xe", "mq", "kpv", "kiv", "mp",
                  "Dwmax", "Dwmin", "kpPLL", "kiPLL", "DwPLLmax", "DwPLLmin", "Tp", "H", "D1", "D2", "wD", "Issmax",
                  "Kf", "kI"}


def test_droop_maps_onto_regf1_on_the_system_base():
    """Hand: a 5 % droop on a 618-MVA plant is 0.05 × 100 / 618 per unit of the 100-MVA base."""
    c = GridFormingControl(loop="droop", mp=0.05, mq=0.04, tau_p_s=0.03, current_limit_pu=0.9)
    model, par = grid_forming_andes(c, 618.0)
    assert model == "REGF1"
    assert par["wdrp"] == pytest.approx(0.05 * 100.0 / 618.0, rel=1e-12)
    assert par["Qdrp"] == pytest.approx(0.04 * 100.0 / 618.0, rel=1e-12)
    assert par["Tr"] == 0.03 and par["Sn"] == 618.0
    assert par["Pmax"] == 0.9 and par["Pmin"] == -0.9
    name, regfm = regfm_parameters(c)
    assert name == "REGFM_A1" and set(regfm) <= REGFM_A1_NAMES
    assert regfm["Mp"] == 0.05 and regfm["Xe"] == c.x_pu and regfm["Vflag"] == 0.0


def test_vsm_maps_onto_regf2():
    """Hand: REGF2's ``mf·wdrp·dω/dt = wdrp (P_ref − P) − (ω − 1)`` on 100 MVA is ``2H dω/dt =
    ΔP − D (ω − 1)`` on the plant's MVA when ``mf = 2H · S_n / 100`` and ``wdrp = 100 / (D S_n)``:
    for H = 2 s, D = 100, S_n = 618 MVA, mf = 24.72 and wdrp = 1 / 618."""
    c = GridFormingControl(loop="vsm", h_s=2.0, d_pu=100.0)
    model, par = grid_forming_andes(c, 618.0)
    assert model == "REGF2"
    assert par["mf"] == pytest.approx(24.72, rel=1e-12)
    assert par["wdrp"] == pytest.approx(1.0 / 618.0, rel=1e-12)
    assert par["dd"] == 0.0
    name, regfm = regfm_parameters(c)
    assert name == "REGFM_B1" and set(regfm) <= REGFM_B1_NAMES
    assert regfm["H"] == 2.0 and regfm["D1"] == 100.0


def test_vsm_without_damping_is_refused_for_the_rms_model():
    with pytest.raises(ExportError) as e:
        grid_forming_andes(GridFormingControl(loop="vsm", d_pu=0.0), 618.0)
    assert any(p.path == "battery.control.d_pu" and p.value == 0.0 for p in e.value.problems)


STUDY = """
[study]
name = "export grid-forming"
site = "memphis-161kv"
start = "2025-07-15T00:00:00"
duration = "3min"
step_s = 1.0
seed = 7

[campus]
gpu_model = "h100"
job_start_s = 30.0
start_ramp_s = 30.0

[battery]
strategy = "ramp_limit"

[battery.control]
mode = "grid_forming"

[fluctuation]
window_s = 60.0
warmup_s = 0.0
"""


def test_export_of_a_grid_forming_plant(tmp_path):
    """No DYR record for the grid-forming plant (its PSS/E layout is not sourced); its REGFM_A1
    values by name in the README; the grid equivalent's records as for any plant."""
    (tmp_path / "study.toml").write_text(STUDY)
    out = tmp_path / "out"
    assert main(["export", str(tmp_path / "study.toml"), "--format", "psse", "--out", str(out),
                 "--at", "2025-07-15T00:01:00"]) == 0
    dyr = (out / "case.dyr").read_text()
    assert "'GENROU'" in dyr
    for model in ("REGCA1", "REECA1", "REPCA1"):
        assert f"'{model}'" not in dyr
    readme = (out / "README.md").read_text()
    assert "REGFM_A1" in readme and "| Mp | 0.05 |" in readme and "REGF1" in readme
    assert "PERC1" in readme
