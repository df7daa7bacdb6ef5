"""A study's case at one operating point, written as PSS/E RAW v33 + DYR with its campus series.

``gridstudy export STUDY --format psse --out DIR [--at TIME]`` and the ``[export]`` option of
``run`` write one folder, whole or not at all (:func:`gridstudy.studies.output.folder.output_folder`)::

    DIR/case.raw        the network at the operating point (:mod:`gridstudy.studies.export.raw`)
    DIR/case.dyr        the grid equivalent and the battery plant (:mod:`gridstudy.studies.export.dyr`)
    DIR/campus.csv      the campus (and battery) series of the window from the operating point on
    DIR/buses.csv       RAW bus numbers, full names, nominal kV and the role of each bus
    DIR/README.md       what the files hold and what the campus's dynamic representation is
    DIR/complete.json   the completion marker

The **operating point** is a step of one scenario's quasi-static time series: by default the start
of the study's worst sub-second window (the screen of the campus model's own changes,
:func:`gridstudy.studies.stages.fluctuation.choose_windows`), or a named time. The net there has
the campus and battery P/Q of that step and the transformer taps as the time series had them
(:func:`gridstudy.studies.stages.contingency.window_start_site`): the series is run up to that step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.grid.site import Site
from gridstudy.grid.spec import GridEquivalentSpec
from gridstudy.models.campus import CampusLoadParams, campus_window
from gridstudy.studies.export.dyr import (
    grid_forming_andes,
    grid_records,
    plant_records,
    plant_time_constants,
    regfm_parameters,
)
from gridstudy.studies.export.raw import ExportError, RawCase, raw_case
from gridstudy.studies.io import atomic_write
from gridstudy.studies.output.folder import output_folder
from gridstudy.studies.qsts.apply import element_series
from gridstudy.studies.qsts.inputs import RecordSpec
from gridstudy.studies.qsts.run import run_qsts
from gridstudy.studies.stages.contingency import window_start_site
from gridstudy.studies.stages.fluctuation import choose_windows

if TYPE_CHECKING:
    from gridstudy.studies.setup import StudySetup

__all__ = ["OperatingPoint", "operating_point", "ExportedCase", "export_case", "write_export", "grid_equivalent",
           "FORMATS"]

#: Formats ``gridstudy export`` writes.
FORMATS = ("psse",)


@dataclass
class OperatingPoint:
    """One step of one scenario: the site at that step and its profiles over the horizon."""

    site: Site
    scenario: str
    time: pd.Timestamp
    step: int
    reason: str
    profiles: pd.DataFrame


def grid_equivalent(study: StudySetup) -> GridEquivalentSpec:
    """The site's ``[dynamics.grid]`` (defaults for a site given as a built net)."""
    spec = study.site_spec
    return spec.dynamics.grid if spec is not None else GridEquivalentSpec()


def _scenario(study: StudySetup, scenario: str | None) -> str:
    known = study.strategies()
    if scenario is None:
        return "with_battery" if "with_battery" in known else "without_battery"
    if scenario not in known:
        raise ExportError([Problem("--scenario", f"unknown scenario; known: {', '.join(known)}", scenario)])
    return scenario


def _step_of(study: StudySetup, at: Any, field: str) -> int:
    idx = study.horizon
    try:
        t = pd.Timestamp(at)
    except (ValueError, TypeError):
        raise ExportError([Problem(field, "not a timestamp such as '2025-07-15T03:00:00'", at)]) from None
    if t.tzinfo is not None and idx.tz is None:
        raise ExportError([Problem(field, "the horizon has no time zone; give a time without one", at)])
    end = idx[0] + pd.Timedelta(seconds=len(idx) * study.step_s)
    if not (idx[0] <= t < end):
        raise ExportError([Problem(field, f"outside the horizon {idx[0]} .. {end}", at)])
    return int(math.floor((t - idx[0]).total_seconds() / study.step_s + 1e-9))


def check_time(study: StudySetup, at: Any, field: str = "--at") -> None:
    """Refuse a time outside the study's horizon (:class:`ExportError`, nothing run)."""
    _step_of(study, at, field)


def operating_point(study: StudySetup, at: Any = None, scenario: str | None = None, engine: str = "fast",
                    field: str = "--at") -> OperatingPoint:
    """The site at the operating point (see the module docstring).

    Parameters
    ----------
    study : StudySetup
        The study.
    at : str or pandas.Timestamp, optional
        The time; default: the start of the worst screened sub-second window (the horizon's start
        when the campus is a measured series).
    scenario : str, optional
        Default: ``with_battery`` (``without_battery`` when the study has no battery).
    engine : {'fast', 'reference'}
        QSTS engine of the run up to the operating point.
    """
    name = _scenario(study, scenario)
    if at is not None:
        k, reason = _step_of(study, at, field), "named time"
    else:
        wins = choose_windows(study, study.fluctuation) if isinstance(study.campus, CampusLoadParams) else []
        screened = [w for w in wins if w.reason.startswith("screened")]
        pick = screened[0] if screened else (wins[0] if wins else None)
        if pick is None:
            k, reason = 0, "horizon start (no sub-second window to choose from)"
        else:
            k, reason = _step_of(study, pick.start, "window"), f"start of the window {pick.label}"
    site = study.build_site()
    prof = study.profiles(only=name)[name]
    res = run_qsts(study.qsts_inputs(site, name, prof.iloc[: k + 1], RecordSpec(worst_windows=0)), engine=engine,
                   quiet=True)
    op = window_start_site(site, res, k, prof)
    inputs = study.qsts_inputs(op, name, prof.iloc[k: k + 1])
    es = element_series(inputs)
    net = op.net
    net.load.loc[es.load_index, "p_mw"] = es.load_p_mw[0]
    net.load.loc[es.load_index, "q_mvar"] = es.load_q_mvar[0]
    if len(es.storage_index):
        net.storage.loc[es.storage_index, "p_mw"] = es.storage_p_mw[0]
        q = es.storage_q_mvar[0]
        if "battery_q_mvar" in res.series and study.controls(name).volt_var is not None:
            total = float(res.series["battery_q_mvar"].iloc[k])  # decided by the engine's volt-var control
            w = net.storage.loc[es.storage_index, "max_e_mwh"].to_numpy(dtype=float)
            q = total * w / w.sum()
        net.storage.loc[es.storage_index, "q_mvar"] = q
    net.ext_grid.loc[es.ext_grid_index, "vm_pu"] = es.ext_grid_vm_pu[0]
    for i, p in zip(es.sgen_index, es.sgen_p_mw[0] if len(es.sgen_index) else [], strict=True):
        net.sgen.at[i, "p_mw"] = p
        if len(es.sgen_q_mvar):
            net.sgen.at[i, "q_mvar"] = es.sgen_q_mvar[0][list(es.sgen_index).index(i)]
    for i, p in zip(es.gen_index, es.gen_p_mw[0] if len(es.gen_index) else [], strict=True):
        net.gen.at[i, "p_mw"] = p
    return OperatingPoint(site=op, scenario=name, time=study.horizon[k], step=k, reason=reason, profiles=prof)


@dataclass
class ExportedCase:
    """What :func:`export_case` made: the texts of the files and the case's numbering."""

    raw: RawCase
    dyr: str
    campus: pd.DataFrame
    buses: pd.DataFrame
    readme: str
    point: OperatingPoint


def _window_series(study: StudySetup, op: OperatingPoint) -> pd.DataFrame:
    """The campus (and battery) series of the window from the operating point on: at the
    sub-second step from the campus model where the study has one, else the study-step series."""
    idx = study.horizon
    fl = study.fluctuation
    start = op.time
    end = idx[0] + pd.Timedelta(seconds=len(idx) * study.step_s)
    stop = min(start + pd.Timedelta(seconds=fl.window_s), end)
    campus = study.campus_for(op.scenario)
    if isinstance(campus, CampusLoadParams):
        df = campus_window(idx, campus, start, stop, fl.step_s)[["campus_p_mw", "campus_q_mvar"]]
    else:
        df = op.profiles.loc[(op.profiles.index >= start) & (op.profiles.index < stop), ["campus_p_mw", "campus_q_mvar"]]
    out = pd.DataFrame({"time_s": (pd.DatetimeIndex(df.index) - start).total_seconds(),
                        "timestamp": pd.DatetimeIndex(df.index).strftime("%Y-%m-%dT%H:%M:%S.%f"),
                        "campus_p_mw": df["campus_p_mw"].to_numpy(), "campus_q_mvar": df["campus_q_mvar"].to_numpy()})
    return out


def export_case(study: StudySetup, at: Any = None, scenario: str | None = None, engine: str = "fast",
                field: str = "--at") -> ExportedCase:
    """The PSS/E case of a study at its operating point (:func:`operating_point`), in memory."""
    g = grid_equivalent(study)
    op = operating_point(study, at, scenario, engine, field)
    plant = study.battery
    mva = float(plant.s_max_mva) if plant is not None else None
    rc = raw_case(op.site, title=f"{study.name} at {op.time} ({op.scenario})",
                  swing_mva=g.mva_base, swing_x_pu=g.xd1_pu if g.model == "GENCLS" else g.xd2_pu,
                  swing_r_pu=g.ra_pu, plant_mva=mva)
    strat = study.strategies().get(op.scenario)
    response = strat.response if strat is not None else None
    records = [f"/ {study.name}: {op.scenario} at {op.time}", *grid_records(*rc.swing, g)]
    p_max = float(plant.p_max_mw) if plant is not None else 0.0
    forming = strat.grid_forming if strat is not None else None
    for b, gid in rc.plant if forming is None else []:  # a grid-forming plant: no sourced DYR record
        share = rc.plant_mva[(b, gid)] / mva if mva else 1.0
        records += plant_records(b, gid, rc.plant_mva[(b, gid)], p_max * share, response)
    dyr = "\n".join(records) + "\n"
    roles: dict[int, list[str]] = {}
    roles.setdefault(rc.poi_bus, []).append("POI")
    roles.setdefault(rc.swing[0], []).append(f"grid equivalent ({g.model}, machine '{rc.swing[1]}')")
    for b, lid in rc.campus:
        roles.setdefault(b, []).append(f"campus load '{lid}'")
    for b, gid in rc.plant:
        roles.setdefault(b, []).append(f"battery plant machine '{gid}'")
    kv = {n: float(op.site.net.bus.at[pb, "vn_kv"]) for pb, n in rc.bus_number.items()}
    buses = pd.DataFrame([{"bus": n, "name": rc.bus_names[n], "vn_kv": kv.get(n, math.nan),
                           "role": "; ".join(roles.get(n, []))} for n in sorted(rc.bus_names)])
    campus = _window_series(study, op)
    readme = _readme(study, op, rc, g, response, campus)
    return ExportedCase(raw=rc, dyr=dyr, campus=campus, buses=buses, readme=readme, point=op)


def _readme(study: StudySetup, op: OperatingPoint, rc: RawCase, g: GridEquivalentSpec, response: Any,
            campus: pd.DataFrame) -> str:
    plant = study.battery
    tc = plant_time_constants(response, float(plant.s_max_mva)) if plant is not None else None
    step = float(np.median(np.diff(campus["time_s"]))) if len(campus) > 1 else study.step_s
    lines = [
        f"# {study.name}: PSS/E case", "",
        f"Scenario `{op.scenario}` at {op.time} ({op.reason}); site `{op.site.name}`.", "",
        "| file | what it holds |", "| --- | --- |",
        "| `case.raw` | PSS/E v33 power-flow case at the operating point: buses, loads (constant power, at the power "
        "each drew), fixed shunts, generators (the grid equivalent as the swing machine, the battery plant producing "
        "positive), branches, two-winding transformers with the tap positions of the operating point (no automatic "
        "control). |",
        "| `case.dyr` | PSS/E dynamic records: the grid equivalent and the battery plant. |",
        f"| `campus.csv` | the campus's active and reactive power from the operating point on, every {step:g} s, for "
        f"{len(campus) * step:g} s (`time_s` from the operating point; MW, Mvar). |",
        "| `buses.csv` | RAW bus numbers, full names (the RAW file cuts names to 12 characters), nominal kV, role. |",
        "", "## Dynamic models", "",
        f"- **Grid equivalent** (bus {rc.swing[0]}, machine '{rc.swing[1]}'): `{g.model}`"
        + (" with exciter `SEXS` and governor `TGOV1`" if g.model == "GENROU" else "")
        + f", H = {g.h_s:g} s on {g.mva_base:g} MVA, X'd = {g.xd1_pu:g} pu. It stands behind the site's source "
          "impedance (a branch of the RAW case) for the interconnection; parameters from the site's "
          "`[dynamics.grid]`.",
    ]
    strat = study.strategies().get(op.scenario)
    forming = strat.grid_forming if strat is not None else None
    if plant is not None and forming is not None:
        model, regfm = regfm_parameters(forming)
        andes_model, andes_par = grid_forming_andes(forming, float(plant.s_max_mva))
        lines += [
            f"- **Battery plant** ({plant.units} x {plant.model}, {plant.s_max_mva:g} MVA): **grid-forming** "
            f"({forming.loop}), a voltage source behind a virtual impedance. `case.dyr` holds **no record** for it: the "
            f"PSS/E DYR layout of the WECC model `{model}` is not sourced in this package, and ANDES reads no "
            f"grid-forming record from a DYR file. Its `{model}` parameters by name (per unit on the plant's MVA; "
            "names as in the PowerWorld documentation of the model):", "",
            "| parameter | value |", "| --- | --- |",
            *[f"| {k} | {v:g} |" for k, v in regfm.items()], "",
            f"  The RMS check runs it as ANDES `{andes_model}` at an EMF node behind the virtual impedance (a branch of "
            "j" f"{forming.x_pu:g} pu on the plant's MVA from the EMF node to the plant's bus), with (system base 100 MVA):",
            "", "| parameter | value |", "| --- | --- |", *[f"| {k} | {v:g} |" for k, v in andes_par.items()], "",
        ]
    elif plant is not None and tc is not None:
        lines.append(
            f"- **Battery plant** ({plant.units} x {plant.model}, {plant.s_max_mva:g} MVA): grid-following WECC generic "
            "models `REGCA1` (REGC_A) + `REECA1` (REEC_A) + `REPCA1` (REPC_A). REEC_C, the storage variant, is not "
            "written: ANDES, the tool the package checks the files with, has no REEC_C; REEC_A has the same P and Q "
            "paths without the state-of-charge limits. The plant's delays map to the models' time constants: "
            f"Tg = {tc.tg:g} s (inverter current loop), Tp = {tc.tp:g} s (measurement filter), Tpord = Tiq = "
            f"{tc.tpord:g} s (measurement delay + half a control period + communication latency, as one lag), "
            f"dPmax = {'none' if tc.ramp_pu_per_s is None else f'{tc.ramp_pu_per_s:g} pu/s'}. Reactive power is "
            "held at the operating point's (QFLAG = VFLAG = 0); the plant controller answers no frequency (Fflag = 0).")
    lines += [
        "- **Campus**: no dynamic record. The campus is a **constant-power load** (P and Q of `campus.csv`), the "
        "representation the study's time series uses; replay `campus.csv` as the load's power. A PERC1 record (the "
        "power-electronic load model) is not written: PowerWorld documents its parameters, but its PSS/E DYR record "
        "layout was not found in the sources searched (docs/sources/megapack.md §10 of the package).",
        "", "## Check", "",
        "ANDES (the `dynamics` extra) loads `case.raw` + `case.dyr`; its power flow equals pandapower's at every "
        "bus to 1e-6 pu and a 10-s run without a disturbance stays flat (the package's tests).", "",
    ]
    return "\n".join(lines)


def write_export(exported: ExportedCase, out_dir: str | Path, command: str = "export") -> Path:
    """Write the files of :class:`ExportedCase` into ``out_dir``, whole or not at all."""
    with output_folder(out_dir, command) as stage:
        write_files(exported, stage)
    return Path(out_dir)


def write_files(exported: ExportedCase, folder: Path) -> None:
    """The files of an export, each atomically, into ``folder`` (a staging folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "case.raw", lambda p: p.write_text(exported.raw.text))
    atomic_write(folder / "case.dyr", lambda p: p.write_text(exported.dyr))
    atomic_write(folder / "campus.csv", lambda p: exported.campus.to_csv(p, index=False))
    atomic_write(folder / "buses.csv", lambda p: exported.buses.to_csv(p, index=False))
    atomic_write(folder / "README.md", lambda p: p.write_text(exported.readme))
