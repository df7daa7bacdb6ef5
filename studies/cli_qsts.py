"""``gridstudy qsts STUDY.toml --out DIR [--engine fast|reference] [--quiet]``.

Runs the study's quasi-static time series twice, on one engine:

``without_battery``
    the campus profile with the battery idle;
``with_battery``
    the campus profile with the battery dispatched by the study's strategy
    (:func:`gridstudy.models.dispatch.dispatch`, battery P and Q as profiles); a ``volt_var`` reactive mode
    is resolved inside the engine (``Controls.volt_var``) because it depends on the voltage.

Writes ``DIR/<scenario>/`` (:meth:`gridstudy.studies.qsts.results.QSTSResult.save`) and ``DIR/qsts.json``,
only after every scenario has run. Horizons longer than a day keep 1-minute min/max envelopes of
the per-step series instead of the full series. Exit 0; 1 when a step did not converge (a finding,
the results are written); 2 on bad input (every problem listed, nothing written).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["register", "build_scenarios"]

#: Longest horizon for which the per-step series are kept in full. [steps]
FULL_SERIES_MAX_STEPS = 86_400


def build_scenarios(path: str | Path):
    """Validate the study file and build the inputs of each scenario.

    Returns
    -------
    dict of str to QSTSInputs
        ``without_battery`` and, when the study has a battery plant, ``with_battery``.

    Raises
    ------
    StudyError
        Every problem of the study file, its site and the combination, at once.
    """
    from gridstudy.grid.errors import Problem
    from gridstudy.grid.reference import site_from_spec
    from gridstudy.studies.cli_profile import make_profiles
    from gridstudy.studies.errors import StudyError
    from gridstudy.studies.qsts.inputs import Controls, QSTSInputs, RecordSpec, VoltVarCurve
    from gridstudy.studies.spec import load_study, resolve_study

    path = Path(path)
    spec = load_study(path)
    resolved = resolve_study(spec, base_dir=path.parent, source=str(path))
    site = site_from_spec(resolved.site_spec, source=spec.study.site)
    prof = make_profiles(resolved)
    n = len(prof)
    record = RecordSpec(envelope_freq=None if n <= FULL_SERIES_MAX_STEPS else "1min")
    campus = prof[["campus_p_mw", "campus_q_mvar"]].copy()
    campus.attrs = {}
    zero = pd.DataFrame({"battery_p_mw": np.zeros(n), "battery_q_mvar": np.zeros(n)}, index=prof.index)
    scenarios = {"without_battery": QSTSInputs(site, campus.join(zero) if site.storages else campus.copy(),
                                               Controls(), record)}
    plant = resolved.plant
    if plant is not None:
        if not site.storages:
            raise StudyError([Problem("battery", "the study has a battery plant but the site has no storage "
                                      "element to attach it to", spec.study.site)], source=str(path))
        net = site.net
        st = list(site.storages)
        w = net.storage.loc[st, "max_e_mwh"].to_numpy(dtype=float)
        w = w / w.sum()
        # the study may resize the plant: the storages carry its ratings (volt-var uses sn_mva)
        net.storage.loc[st, "sn_mva"] = plant.s_max_mva * w
        net.storage.loc[st, "max_e_mwh"] = plant.e_max_mwh * w
        net.storage.loc[st, "max_p_mw"] = plant.p_max_mw * w
        net.storage.loc[st, "min_p_mw"] = -plant.p_max_mw * w
        rq = spec.battery.reactive
        volt_var = VoltVarCurve(tuple(rq.v_pu), tuple(rq.q_pu)) if rq.mode == "volt_var" else None
        with_b = campus.copy()
        with_b["battery_p_mw"] = prof["battery_p_mw"].to_numpy()
        with_b["battery_q_mvar"] = 0.0 if volt_var is not None else prof["battery_q_mvar"].to_numpy()
        scenarios["with_battery"] = QSTSInputs(site, with_b, Controls(volt_var=volt_var), record)
    return scenarios


def _cmd_qsts(args) -> int:
    from gridstudy.studies.io import write_json
    from gridstudy.studies.qsts.run import run_qsts

    scenarios = build_scenarios(args.study)
    if args.engine == "fast":
        from gridstudy.grid.errors import Problem
        from gridstudy.studies.errors import StudyError

        try:
            from gridstudy.studies.qsts.fast import unsupported_features
        except ImportError:
            unsupported_features = None
        if unsupported_features is not None:
            problems = [Problem(f"{name}: {p.path}", p.message, p.value, p.has_value)
                        for name, inp in scenarios.items() for p in unsupported_features(inp)]
            if problems:
                raise StudyError(problems, source=str(args.study))
    results = {name: run_qsts(inp, engine=args.engine, quiet=args.quiet) for name, inp in scenarios.items()}
    out = Path(args.out)
    summary = {}
    for name, res in results.items():
        res.save(out / name)
        bs = res.bus_summary
        poi = scenarios[name].site.poi_bus
        summary[name] = {
            "steps": len(res.index), "nonconverged_steps": res.nonconverged_steps,
            "poi_vm_min_pu": bs.at[poi, "vm_min_pu"], "poi_vm_max_pu": bs.at[poi, "vm_max_pu"],
            "vm_min_pu": bs["vm_min_pu"].min(), "vm_max_pu": bs["vm_max_pu"].max(),
            "loading_max_percent": res.branch_summary["loading_max_percent"].max() if len(res.branch_summary) else None,
            "tap_operations": {str(k): int(v) for k, v in res.tap_operations.items()},
            "wall_s": res.summary.get("wall_s"),
        }
        s = summary[name]
        print(f"{name}: {s['steps']} steps, POI {s['poi_vm_min_pu']:.4f}-{s['poi_vm_max_pu']:.4f} pu, "
              f"buses {s['vm_min_pu']:.4f}-{s['vm_max_pu']:.4f} pu, tap moves {sum(s['tap_operations'].values())}, "
              f"non-converged steps {s['nonconverged_steps']}")
    write_json(out / "qsts.json", {"study": str(args.study), "engine": args.engine, "scenarios": summary})
    print(f"wrote {out}")
    return 1 if any(r.nonconverged_steps for r in results.values()) else 0


def register(sub) -> None:
    """Add the ``qsts`` sub-command to the ``gridstudy`` parser."""
    p = sub.add_parser("qsts", help="quasi-static time series of a study, without and with battery")
    p.add_argument("study", help="study TOML file")
    p.add_argument("--out", required=True, help="output folder (one sub-folder per scenario)")
    p.add_argument("--engine", choices=("fast", "reference"), default="fast", help="QSTS engine (default: fast)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_qsts)
