"""``gridstudy profile STUDY.toml --out DIR``: the campus and battery series of a study.

Writes ``DIR/profiles.parquet`` (columns of :data:`gridstudy.models.dispatch.OUTPUT_COLUMNS` on the study's
time index) and ``DIR/profiles.json`` (energy, peaks, largest grid-side swing per minute and per
5 s, saturated steps), each atomically, and only after the whole study has validated and run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["register", "make_profiles", "profile_summary"]


def make_profiles(resolved) -> pd.DataFrame:
    """Campus load (model or trace) and battery dispatch of a resolved study.

    Parameters
    ----------
    resolved : studies.spec.ResolvedStudy
        Output of :func:`gridstudy.studies.spec.resolve_study`.

    Returns
    -------
    pandas.DataFrame
        :data:`gridstudy.models.dispatch.OUTPUT_COLUMNS` on ``resolved.index`` (battery columns zero and SOC
        NaN without a plant).
    """
    from gridstudy.models.campus import campus_load
    from gridstudy.models.dispatch import OUTPUT_COLUMNS, dispatch

    if resolved.trace is not None:
        campus = resolved.trace[["campus_p_mw", "campus_q_mvar"]]
    else:
        campus = campus_load(resolved.index, resolved.campus_params)[["campus_p_mw", "campus_q_mvar"]]
    if resolved.strategy is not None:
        return dispatch(campus, strategy=resolved.strategy)
    n = len(campus)
    out = pd.DataFrame({
        "campus_p_mw": campus["campus_p_mw"].to_numpy(), "campus_q_mvar": campus["campus_q_mvar"].to_numpy(),
        "battery_p_mw": np.zeros(n), "battery_q_mvar": np.zeros(n), "soc_percent": np.full(n, np.nan),
        "e_mwh": np.full(n, np.nan), "grid_p_mw": campus["campus_p_mw"].to_numpy(),
        "grid_q_mvar": campus["campus_q_mvar"].to_numpy(), "saturated": np.zeros(n, dtype=bool),
    }, index=campus.index)[list(OUTPUT_COLUMNS)]
    out.attrs.update({"step_s": (campus.index[1] - campus.index[0]).total_seconds() if n > 1 else float("nan"),
                      "e0_mwh": float("nan"), "saturated_steps": 0, "strategy": "no battery"})
    return out


def profile_summary(resolved, profiles: pd.DataFrame) -> dict:
    """The JSON summary of a profile run."""
    from gridstudy.models.dispatch import summarize

    st = resolved.spec.study
    plant = resolved.plant
    return {
        "study": st.name, "site": st.site, "start": profiles.index[0], "step_s": st.step_s,
        "horizon_s": st.horizon_s, "seed": st.seed,
        "campus": {"source": "trace" if resolved.trace is not None else "model",
                   "gpus": getattr(resolved.campus_params, "gpus", None)},
        "battery": None if plant is None else {
            "model": plant.model, "units": plant.units, "p_mw": plant.p_max_mw, "e_mwh": plant.e_max_mwh,
            "s_mva": plant.s_max_mva, **{k: v for k, v in profiles.attrs.items() if k not in ("step_s",)}},
        "summary": summarize(profiles),
    }


def _cmd_profile(args) -> int:
    from gridstudy.studies.io import write_json, write_parquet
    from gridstudy.studies.spec import load_study, resolve_study

    path = Path(args.study)
    spec = load_study(path)
    resolved = resolve_study(spec, base_dir=path.parent, source=str(path))
    profiles = make_profiles(resolved)
    summary = profile_summary(resolved, profiles)
    out = Path(args.out)
    table = profiles.copy()
    table.index.name = "timestamp"
    table.attrs = {}
    write_parquet(out / "profiles.parquet", table)
    write_json(out / "profiles.json", summary)
    s = summary["summary"]
    print(f"{spec.study.name}: {s['steps']} steps of {s['step_s']:g} s; campus {s['campus_energy_mwh']:.1f} MWh, "
          f"peak {s['campus_peak_mw']:.1f} MW; grid peak {s['grid_peak_mw']:.1f} MW, "
          f"max swing {s['grid_ramp_max_mw_per_min']:.2f} MW/min, {s['grid_ramp_max_mw_per_5s']:.2f} MW/5 s; "
          f"saturated steps {s['saturated_steps']}")
    print(f"wrote {out / 'profiles.parquet'} and {out / 'profiles.json'}")
    return 0


def register(sub) -> None:
    """Add the ``profile`` sub-command to the ``gridstudy`` parser."""
    p = sub.add_parser("profile", help="campus load and battery dispatch series of a study file")
    p.add_argument("study", help="study TOML file")
    p.add_argument("--out", required=True, help="output folder (profiles.parquet, profiles.json)")
    p.set_defaults(func=_cmd_profile)
