"""The interconnection study: scenarios side by side, N-1 over time, sag mitigation, outputs.

``run_study(path, out_dir)`` validates the whole study file first (every problem at once, nothing
written on bad input), then:

1. builds the site and sizes its battery element to the study's plant;
2. generates the campus load once (model or trace) and dispatches the battery per scenario:
   ``without_battery`` (battery idle), ``with_battery`` (the file's ``[battery]`` strategy) and any
   further ``[[scenarios]]``;
3. runs the QSTS of each scenario on the chosen engine and judges it (:mod:`gridstudy.studies.findings`);
4. runs N-1 over the worst window (:mod:`gridstudy.studies.contingency`) and the sag events
   (:mod:`gridstudy.studies.sag`);
5. writes ``summary.json``, Parquet tables of findings, key series, contingencies and sag events,
   and each scenario's QSTS results, every file atomically.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gridstudy.grid.site import Site
from gridstudy.studies.criteria import RAMP_PRESETS, custom_preset, get_preset
from gridstudy.studies.interconnection_spec import InterconnectionSpec, load_interconnection
from gridstudy.studies.io import atomic_write, to_jsonable, write_json, write_parquet
from gridstudy.studies.spec import ResolvedStudy, StudySpec, parse_study, resolve_study

__all__ = ["PreparedStudy", "prepare_study", "study_site", "scenario_cases", "run_study", "ENGINE_COLUMNS"]

ENGINE_COLUMNS = ("campus_p_mw", "campus_q_mvar", "battery_p_mw", "battery_q_mvar")


@dataclass
class PreparedStudy:
    path: Path
    raw: dict
    text: str
    spec: StudySpec
    ic: InterconnectionSpec
    resolved: ResolvedStudy
    alternatives: dict[str, ResolvedStudy]
    preset: object

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def prepare_study(path: str | Path) -> PreparedStudy:
    """Validate and resolve a study file; raises :class:`StudyError` listing every problem."""
    path = Path(path)
    raw, spec, ic = load_interconnection(path)
    resolved = resolve_study(spec, base_dir=path.parent, source=str(path))
    alternatives = {}
    for sc in ic.scenarios:
        merged = copy.deepcopy({k: v for k, v in raw.items() if k in ("study", "campus", "battery")})
        merged["battery"] = {**merged.get("battery", {}), **sc.battery}
        alternatives[sc.name] = resolve_study(parse_study(merged), base_dir=path.parent, source=str(path))
    preset = get_preset(ic.criteria.preset)
    if ic.criteria.ramp is not None:
        preset = custom_preset(f"{preset.name}+{ic.criteria.ramp}", preset, ramps=RAMP_PRESETS[ic.criteria.ramp])
    return PreparedStudy(path, raw, path.read_text(), spec, ic, resolved, alternatives, preset)


def study_site(resolved: ResolvedStudy) -> Site:
    """The site of a resolved study: its OLTC taps settled at the campus load of the first step
    (the steady state the time series starts from; :func:`gridstudy.grid.basecase.settle_taps`) and its
    storage element sized to the study's plant."""
    from gridstudy.grid.basecase import settle_taps
    from gridstudy.grid.build import add_battery
    from gridstudy.grid.reference import site_from_spec

    site = site_from_spec(resolved.site_spec)
    settle_taps(site, _first_campus_p_mw(resolved))
    plant = resolved.plant
    if plant is None:
        return site
    net = site.net
    if not site.storages:
        s, _ = add_battery(net, site.poi_bus, plant.model, plant.units, plant.soc_init_percent)
        site.storages = [s]
    for s in site.storages:
        net.storage.at[s, "sn_mva"] = plant.s_max_mva / len(site.storages)
        net.storage.at[s, "max_e_mwh"] = plant.e_max_mwh / len(site.storages)
        net.storage.at[s, "max_p_mw"] = plant.p_max_mw / len(site.storages)
        net.storage.at[s, "min_p_mw"] = -plant.p_max_mw / len(site.storages)
        net.storage.at[s, "max_q_mvar"] = plant.s_max_mva / len(site.storages)
        net.storage.at[s, "min_q_mvar"] = -plant.s_max_mva / len(site.storages)
    return site


def _first_campus_p_mw(resolved: ResolvedStudy) -> float:
    """Campus draw over the first step (the trace's, or the model's on a two-step index). [MW]"""
    from gridstudy.models.campus import campus_load

    if resolved.trace is not None:
        return float(resolved.trace["campus_p_mw"].iloc[0])
    return float(campus_load(resolved.index[:2], resolved.campus_params)["campus_p_mw"].iloc[0])


def _campus(resolved: ResolvedStudy) -> pd.DataFrame:
    from gridstudy.models.campus import campus_load

    if resolved.trace is not None:
        return resolved.trace[["campus_p_mw", "campus_q_mvar"]]
    return campus_load(resolved.index, resolved.campus_params)[["campus_p_mw", "campus_q_mvar"]]


def _controls(resolved: ResolvedStudy, with_battery: bool):
    from gridstudy.studies.qsts.inputs import Controls, VoltVarCurve

    rq = resolved.spec.battery.reactive
    if with_battery and rq.mode == "volt_var":
        return Controls(volt_var=VoltVarCurve(tuple(rq.v_pu), tuple(rq.q_pu)))
    return Controls()


def scenario_cases(prep: PreparedStudy, campus: pd.DataFrame | None = None) -> dict[str, tuple[pd.DataFrame, object]]:
    """``name -> (profiles, controls)`` of every scenario (dispatch done, Q of volt-var left to the engine)."""
    from gridstudy.models.dispatch import dispatch

    campus = _campus(prep.resolved) if campus is None else campus
    n = len(campus)
    idle = campus.copy()
    idle["battery_p_mw"] = 0.0
    idle["battery_q_mvar"] = 0.0
    idle["soc_percent"] = float("nan")
    idle["saturated"] = False
    cases = {"without_battery": (idle, _controls(prep.resolved, False))}
    for name, res in {"with_battery": prep.resolved, **prep.alternatives}.items():
        if res.strategy is None:
            continue
        d = dispatch(campus, strategy=res.strategy)
        assert len(d) == n
        cases[name] = (d, _controls(res, True))
    return cases


def _event_strategy(resolved: ResolvedStudy) -> tuple[str, dict]:
    """The battery strategy of the sag events: the study's own (its parameters from the file),
    or load-loss absorption when the study's battery is idle."""
    bs = resolved.spec.battery
    name = bs.strategy if bs.strategy != "none" else "load_loss_absorption"
    if name == "import_cap":
        cap = bs.import_cap.cap_mw
        return name, {"cap_mw": cap if cap is not None else 0.9 * resolved.site_spec.campus.p_mw}
    return name, getattr(bs, name).model_dump()


def _scenario_table(findings_by_scen: dict) -> pd.DataFrame:
    rows = []
    for scen, fs in findings_by_scen.items():
        for f in fs:
            d = f.to_dict()
            rows.append({
                "scenario": scen, "criterion": d["criterion"], "pass": d["pass"],
                "worst_value": d.get("worst_value"), "unit": d.get("worst_unit"), "when": d.get("when"),
                "seconds_outside": d.get("seconds_outside"), "events": d.get("events"),
                "limits": "; ".join(f"{lim['name']}: {lim['value']} {lim['unit']}" for lim in d.get("limits", [])),
                "source": "; ".join(sorted({lim["source"] for lim in d.get("limits", []) if lim.get("source")})),
                "note": d.get("note", ""),
            })
    df = pd.DataFrame(rows)
    if len(df):
        df["worst_value"] = pd.to_numeric(df["worst_value"], errors="coerce")
        df["seconds_outside"] = pd.to_numeric(df["seconds_outside"], errors="coerce")
        df["when"] = df["when"].astype(str)
    return df


def run_study(path: str | Path, out_dir: str | Path, engine: str = "fast", contingencies: bool = True,
              sag: bool = True, quiet: bool = False, report: bool = True) -> dict:
    """Run the whole study of ``path`` into ``out_dir``; return the summary (also ``summary.json``)."""
    from gridstudy.grid.basecase import check_site
    from gridstudy.grid.topology import single_outages
    from gridstudy.studies.contingency import run_contingencies, worst_window
    from gridstudy.studies.findings import scenario_findings, scenario_summary
    from gridstudy.studies.qsts.inputs import QSTSInputs, RecordSpec
    from gridstudy.studies.qsts.run import run_qsts
    from gridstudy.studies.sag import run_sag_events

    t_start = time.perf_counter()
    prep = prepare_study(path)  # raises StudyError before anything is written
    out = Path(out_dir)
    site = study_site(prep.resolved)
    res_st = prep.resolved
    campus = _campus(res_st)
    cases = scenario_cases(prep, campus)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))

    site_summary = check_site(site)
    scen_summary, findings_by, results = {}, {}, {}
    for name, (prof, ctrl) in cases.items():
        say(f"QSTS {name}: {len(prof)} steps of {res_st.spec.study.step_s:g} s on {site.name} ({engine} engine)")
        inputs = QSTSInputs(site, prof[list(ENGINE_COLUMNS)], ctrl, RecordSpec())
        res = run_qsts(inputs, engine=engine, quiet=quiet)
        results[name] = res
        fs = scenario_findings(site, res, prep.preset, prof)
        findings_by[name] = fs
        scen_summary[name] = scenario_summary(site, res, fs, prof, prep.preset)
        scen_summary[name]["strategy"] = prof.attrs.get("strategy", "none") if name != "without_battery" else "battery idle"

    # N-1 over time
    cont_rows, loss_rows, window_note = [], [], ""
    if contingencies and prep.ic.contingencies.enabled:
        credible, lost = single_outages(site.net, site.poi_bus)
        loss_rows = [{"outage": o.label, "element": o.element, "index": o.index, "result": "loss of supply (POI islanded): not run"} for o in lost]
        poi0 = results["without_battery"].series["poi_vm_pu"]
        sl = worst_window(poi0, prep.ic.contingencies.window)
        window_note = (f"{prep.ic.contingencies.window} window centred on the lowest N-0 POI voltage without battery: "
                       f"{poi0.index[sl.start]} to {poi0.index[sl.stop - 1]}")
        sel = {n: (cases[n][0].iloc[sl], cases[n][1]) for n in prep.ic.contingencies.scenarios if n in cases}
        say(f"N-1: {len(credible)} credible outages x {len(sel)} scenarios over {window_note}; {len(lost)} loss-of-supply outages")
        cont_rows = run_contingencies(site, credible, sel, prep.preset, engine, prep.ic.contingencies.workers)

    # sag mitigation
    sag_rows, sag_series = [], pd.DataFrame()
    if sag and prep.ic.sag.enabled:
        say(f"sag events: {len(prep.ic.sag.events)} at {prep.ic.sag.step_s:g} s step")
        name, kw = _event_strategy(res_st)
        sag_rows, sag_series = run_sag_events(site, prep.ic.sag, res_st.plant, prep.preset, engine, kw,
                                              strategy=name)

    st = res_st.spec.study
    summary = {
        "study": st.name, "site": site.name, "site_description": site.description,
        "steps": len(campus), "step_s": st.step_s, "start": campus.index[0], "end": campus.index[-1],
        "engine": engine, "criteria_preset": prep.preset.name, "input_sha256": prep.sha256,
        "site_summary": site_summary,
        "battery": None if res_st.plant is None else {
            "model": res_st.plant.model, "units": res_st.plant.units, "p_mw": res_st.plant.p_max_mw,
            "e_mwh": res_st.plant.e_max_mwh, "s_mva": res_st.plant.s_max_mva,
            "strategy": res_st.spec.battery.strategy, "reactive": res_st.spec.battery.reactive.mode,
        },
        "campus_model": (res_st.campus_params.as_dict() if res_st.campus_params is not None else {"trace": res_st.spec.campus.trace.path}),
        "scenarios": scen_summary,
        "contingency_window": window_note,
        "contingencies": [{k: v for k, v in r.items() if k != "criteria"} for r in cont_rows],
        "loss_of_supply": loss_rows,
        "sag_events": sag_rows,
        "pass": all(s["pass"] for s in scen_summary.values()),
        "runtime_s": time.perf_counter() - t_start,
        "quasi_static_note": ("Quasi-static time series: one phasor power flow per step with constant-power "
                              "loads; not an electromagnetic-transient or dynamic simulation."),
    }

    # outputs, each file atomic
    out.mkdir(parents=True, exist_ok=True)
    for name, res in results.items():
        res.save(out / "scenarios" / name)
    write_parquet(out / "findings.parquet", _scenario_table(findings_by))
    key = {}
    for name, (prof, _) in cases.items():
        s = results[name].series
        for col in ("poi_vm_pu", "battery_q_mvar", "grid_p_mw"):
            if col in s:
                key[f"{name}|engine_{col}" if col != "poi_vm_pu" else f"{name}|poi_vm_pu"] = s[col].to_numpy()
        for col in ("campus_p_mw", "campus_q_mvar", "battery_p_mw", "soc_percent", "saturated"):
            if col in prof:
                key[f"{name}|{col}"] = prof[col].to_numpy()
        key[f"{name}|grid_p_mw"] = (prof["campus_p_mw"] + prof["battery_p_mw"]).to_numpy()
        for col in s.columns:
            if str(col).startswith("tap_pos_"):
                key[f"{name}|{col}"] = s[col].to_numpy()
    write_parquet(out / "series.parquet", pd.DataFrame(key, index=campus.index))
    cont_df = pd.DataFrame([{k: (", ".join(v) if isinstance(v, list) else v) for k, v in r.items() if k != "criteria"} for r in cont_rows])
    write_parquet(out / "contingencies.parquet", cont_df)
    if len(sag_series):
        write_parquet(out / "sag_events.parquet", sag_series)
    atomic_write(out / "study.toml", lambda p: p.write_text(prep.text))
    write_json(out / "summary.json", summary)
    if report:
        try:
            from gridstudy.studies.report.render import render_report
        except ModuleNotFoundError:
            render_report = None
        if render_report is not None:
            render_report(out)
    return to_jsonable(summary)


def summary_line(summary: dict) -> str:
    parts = []
    for name, s in summary["scenarios"].items():
        verdict = "PASS" if s["pass"] else "FAIL (" + ", ".join(s["failed"]) + ")"
        parts.append(f"  {name}: {verdict}")
    n1 = summary.get("contingencies", [])
    if n1:
        bad = [c for c in n1 if not c["pass"]]
        parts.append(f"  N-1: {len(n1) - len(bad)}/{len(n1)} outage cases pass")
    return "\n".join(parts) + (f"\n  runtime {summary['runtime_s']:.1f} s" if math.isfinite(summary.get("runtime_s", math.nan)) else "")
