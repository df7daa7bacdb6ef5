"""``gridstudy profile STUDY.toml --out DIR``: the campus and battery series of a study.

A thin client of :class:`gridstudy.studies.study.Study` (:meth:`~gridstudy.studies.study.Study.profiles`).

Writes ``DIR/profiles.parquet`` (columns of :data:`gridstudy.models.dispatch.OUTPUT_COLUMNS` on the study's
time index) and ``DIR/profiles.json`` (energy, peaks, largest grid-side swing per minute and per
5 s, saturated steps) into a staging folder that replaces ``DIR`` whole once the study has validated
and run (``DIR`` locked meanwhile; :mod:`gridstudy.studies.output.folder`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from gridstudy.models.campus import CampusLoadParams
from gridstudy.models.dispatch import summarize
from gridstudy.studies.io import write_json, write_parquet
from gridstudy.studies.output.folder import output_folder
from gridstudy.studies.study import Study

__all__ = ["register", "study_profile", "profile_summary"]


def profile_summary(study: Study, profiles: pd.DataFrame) -> dict[str, Any]:
    """The JSON summary of a profile run.

    Parameters
    ----------
    study : gridstudy.studies.study.Study
        The study.
    profiles : pandas.DataFrame
        Its profile (:meth:`~gridstudy.studies.study.Study.profiles`).
    """

    plant = study.battery
    model = isinstance(study.campus, CampusLoadParams)
    assert study.index is not None  # Study refuses a study without a horizon
    return {
        "study": study.name, "site": study.site_spec.name if study.site_spec is not None else str(study.site),
        "start": profiles.index[0], "step_s": study.step_s,
        "horizon_s": len(study.index) * study.step_s, "seed": study.campus.seed if model else None,
        "campus": {"source": "model" if model else "trace", "gpus": study.campus.gpus if model else None},
        "battery": None if plant is None else {
            "model": plant.model, "units": plant.units, "p_mw": plant.p_max_mw, "e_mwh": plant.e_max_mwh,
            "s_mva": plant.s_max_mva, **{k: v for k, v in profiles.attrs.items() if k not in ("step_s",)}},
        "summary": summarize(profiles),
    }


def study_profile(study: Study) -> pd.DataFrame:
    """The campus and battery series of a study: its ``with_battery`` scenario, or the campus alone
    (battery columns zero, SOC NaN) when it has no plant."""
    name = "with_battery" if "with_battery" in study.strategies() else "without_battery"
    prof = study.profiles(only=name)[name]
    if name == "without_battery":
        prof.attrs["strategy"] = "no battery"
    return prof


def _cmd_profile(args: argparse.Namespace) -> int:
    study = Study.from_file(args.study)
    with output_folder(args.out, "profile") as stage:  # locked now; moved into place complete
        profiles = study_profile(study)
        summary = profile_summary(study, profiles)
        table = profiles.copy()
        table.index.name = "timestamp"
        table.attrs = {}
        write_parquet(stage / "profiles.parquet", table)
        write_json(stage / "profiles.json", summary)
    out = Path(args.out)
    s = summary["summary"]
    print(f"{study.name}: {s['steps']} steps of {s['step_s']:g} s; campus {s['campus_energy_mwh']:.1f} MWh, "
          f"peak {s['campus_peak_mw']:.1f} MW; grid peak {s['grid_peak_mw']:.1f} MW, "
          f"max swing {s['grid_ramp_max_mw_per_min']:.2f} MW/min, {s['grid_ramp_max_mw_per_5s']:.2f} MW/5 s; "
          f"saturated steps {s['saturated_steps']}")
    print(f"wrote {out / 'profiles.parquet'} and {out / 'profiles.json'}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``profile`` sub-command to the ``gridstudy`` parser."""
    p = sub.add_parser("profile", help="campus load and battery dispatch series of a study file")
    p.add_argument("study", help="study TOML file")
    p.add_argument("--out", required=True, help="output folder (profiles.parquet, profiles.json)")
    p.set_defaults(func=_cmd_profile)
