"""Battery sizing: the least-cost Megapack plant (units, model, strategy settings) that passes.

``size_battery(path, out_dir)`` reads a study file with an optional ``[sizing]`` section
(:mod:`gridstudy.studies.spec.scale`) and searches, for every Megapack model and every combination of the
strategy parameters listed, the least number of units whose ``with_battery`` scenario passes every
criterion of the study (N-0; and N-1 over the worst window when ``n1 = true``, each outage starting
from the design's own N-0 state at the window start: :func:`gridstudy.studies.stages.contingency.window_start_site`).

Search. The cost of a design is ``p_mw · cost_per_mw_usd + e_mwh · cost_per_mwh_usd`` (defaults
and their sources in :mod:`gridstudy.studies.spec.scale`), increasing in the units. More units never make a
criterion worse — a larger plant saturates less often and holds the same dispatch target — so the
pass/fail of a criterion is assumed monotone in the units: the search gallops from ``units_min``
(doubling) to the first passing size, then bisects between the last failing and the first passing
size: about ``2·log2(n)`` evaluations instead of ``n``. A combination whose least possible cost is
not below the best found so far is not searched (pruned), and its range is cut to the sizes
cheaper than the best. The assumption is also *checked*: ``verify_above`` sizes above the chosen
one are evaluated, and over every combination's evaluated designs any criterion that passes at a
size and fails at a larger one is reported in ``monotonicity.violations``.

Each evaluation reuses the site's network and the campus load (the battery changes neither) and
runs one QSTS of the ``with_battery`` scenario without a report, contingencies or sag events
unless ``n1`` asks for N-1.

Outputs (staged, then moved into place together with the completion marker ``complete.json``,
:mod:`gridstudy.studies.output.folder`): ``sizing.json`` (``chosen``, ``evaluations``, ``frontier``,
``combinations``, ``monotonicity``, the cost model), ``sizing.parquet`` (one row per design tried)
and ``sizing.png`` (cost against units, pass/fail).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from gridstudy.grid.build import rate_storage
from gridstudy.grid.megapack import megapack
from gridstudy.grid.topology import site_outages
from gridstudy.studies.io import text_sha256, to_jsonable, write_json, write_parquet
from gridstudy.studies.judge.findings import scenario_findings, scenario_summary
from gridstudy.studies.output.figure import pyplot, save_png
from gridstudy.studies.output.folder import output_folder
from gridstudy.studies.qsts.inputs import Controls, RecordSpec
from gridstudy.studies.qsts.results import QSTSResult
from gridstudy.studies.qsts.run import run_qsts
from gridstudy.studies.spec.scale import SizingSection, StudyFile, load_scale_study
from gridstudy.studies.stages.contingency import run_contingencies, window_start_site, worst_window
from gridstudy.studies.study import Study

if TYPE_CHECKING:
    from gridstudy.grid.topology import Outage
    from gridstudy.models.battery import MegapackPlant

__all__ = ["StudyEvaluator", "finding_margin", "least_passing_units", "SearchTrace", "size_battery",
           "design_cost_usd", "monotonicity_violations"]


def design_cost_usd(p_mw: float, e_mwh: float, cost_per_mw_usd: float, cost_per_mwh_usd: float) -> float:
    """Capital cost of a plant.

    Parameters
    ----------
    p_mw : float
        Rated active power of the plant. [MW]
    e_mwh : float
        Usable energy of the plant. [MWh]
    cost_per_mw_usd : float
        Cost of the power rating. [USD/MW]
    cost_per_mwh_usd : float
        Cost of the energy rating. [USD/MWh]

    Returns
    -------
    float
        Cost. [USD]
    """
    return p_mw * cost_per_mw_usd + e_mwh * cost_per_mwh_usd


def finding_margin(finding: dict[str, Any]) -> float | None:
    """Signed relative distance of a finding's worst value to its nearest limit.

    ``|worst - limit| / |limit|`` (absolute distance where the limit is 0), positive when the
    criterion passes and negative when it fails; ``None`` without a worst value or limit.

    Parameters
    ----------
    finding : dict
        A finding as :meth:`gridstudy.studies.criteria.Finding.to_dict` returns it.

    Returns
    -------
    float or None
        Margin. [-]
    """
    w = finding.get("worst_value")
    if w is None or not math.isfinite(float(w)):
        return None
    vals: list[float] = []
    for lim in finding.get("limits", []):
        v = lim.get("value")
        for x in (v if isinstance(v, list) else [v]):
            if isinstance(x, (int, float)) and math.isfinite(float(x)):
                vals.append(float(x))
    if not vals:
        return None
    d = min(abs(float(w) - v) / abs(v) if v != 0 else abs(float(w) - v) for v in vals)
    return d if finding.get("pass") else -d


class StudyEvaluator:
    """Evaluate battery designs on one study: the site and the campus load are built once.

    Parameters
    ----------
    scale : StudyFile
        The validated study file.
    engine : {'fast', 'reference'}
        QSTS engine.
    n1 : bool
        Also run every credible single outage over the worst window.
    cost_per_mw_usd, cost_per_mwh_usd : float
        Cost model. [USD/MW], [USD/MWh]
    """

    def __init__(self, scale: StudyFile, engine: str = "fast", n1: bool = False,
                 cost_per_mw_usd: float = 0.0, cost_per_mwh_usd: float = 0.0) -> None:

        self.scale = scale
        self.engine = engine
        self.n1 = n1
        self.cost_per_mw_usd = cost_per_mw_usd
        self.cost_per_mwh_usd = cost_per_mwh_usd
        self.base_dir = scale.path.parent
        self.study = Study.from_study_file(scale)
        self.spec = scale.spec
        self.ic = self.study.contingencies
        self.preset = self.study.preset
        self.plant = self.study.battery
        self.site = self.study.build_site()
        self.campus = self.study.campus_profile()
        self.calls = 0
        self._window: slice | None = None  # set by _prepare_n1 when n1
        self._outages: list[Outage] | None = None
        if n1:
            self._prepare_n1()

    def _run(self, name: str, study: Study) -> tuple[QSTSResult, pd.DataFrame, Controls]:

        prof = study.profiles(self.campus, only=name)[name]
        inputs = study.qsts_inputs(self.site, name, prof, RecordSpec(worst_windows=0))
        res = run_qsts(inputs, engine=self.engine, quiet=True)
        return res, prof, inputs.controls

    def _prepare_n1(self) -> None:

        res, _, _ = self._run("without_battery", self.study)
        self._window = worst_window(res.series["poi_vm_pu"], self.ic.window)
        self._outages, _ = site_outages(self.site)

    def _size_storage(self, plant: MegapackPlant) -> None:

        rate_storage(self.site, self.study.plant_ratings(plant))

    def scenario(self, name: str) -> dict[str, Any]:
        """Run one scenario of the study as the file gives it (``without_battery``/``with_battery``).

        Returns
        -------
        dict
            :func:`gridstudy.studies.judge.findings.scenario_summary` of the run.
        """

        if self.plant is not None:
            self._size_storage(self.plant)
        res, prof, _ = self._run(name, self.study)
        fs = scenario_findings(self.site, res, self.preset, prof)
        return scenario_summary(self.site, res, fs, prof, self.preset)

    def evaluate(self, model: str, units: int, params: dict[str, float] | None = None) -> dict[str, Any]:
        """Run the ``with_battery`` scenario of one design and judge it.

        Parameters
        ----------
        model : str
            Megapack preset.
        units : int
            Megapack units. [-]
        params : dict, optional
            Strategy parameters (``tau_s``, ``ramp_mw_per_min``...), each in its unit.

        Returns
        -------
        dict
            ``units``, ``model``, the parameters, ``p_mw`` [MW], ``e_mwh`` [MWh], ``cost_usd``
            [USD], ``pass``, ``failed`` (criteria), ``margins`` (criterion -> margin [-]), key
            metrics and ``runtime_s`` [s].
        """

        t0 = time.perf_counter()
        self.calls += 1
        params = dict(params or {})
        plant, strategy = self.scale.design({"units": int(units), "model": model, **params})
        self._size_storage(plant)
        res, prof, ctrl = self._run("with_battery", self.study.with_battery(plant, strategy))
        fs = scenario_findings(self.site, res, self.preset, prof)
        summ = scenario_summary(self.site, res, fs, prof, self.preset)
        crit = [f.to_dict() for f in fs]
        counted = [c for c in crit if c["standing"] == "binding"]  # references and n/a do not decide
        failed = [c["criterion"] for c in counted if not c["pass"]]
        passed = {c["id"]: bool(c["pass"]) for c in counted}
        if self.n1:
            assert self._window is not None and self._outages is not None, "_prepare_n1 runs in __init__ when n1"
            sl = self._window
            start = window_start_site(self.site, res, sl.start, prof)  # the N-0 state at the window start
            rows = run_contingencies(self.site, self._outages, {"with_battery": (prof.iloc[sl], ctrl)}, self.preset,
                                     self.engine, self.ic.workers, start_sites={"with_battery": start})
            for r in rows:
                key = f"N-1 {r['outage']}"
                passed[key] = bool(r["pass"])
                if not r["pass"]:
                    failed.append(f"{key}: " + ", ".join(r.get("violations", [])))
        cost = design_cost_usd(plant.p_max_mw, plant.e_max_mwh, self.cost_per_mw_usd, self.cost_per_mwh_usd)
        return {
            "model": model, "units": int(units), **params,
            "p_mw": float(plant.p_max_mw), "e_mwh": float(plant.e_max_mwh), "cost_usd": float(cost),
            "pass": not failed, "failed": failed, "criteria_pass": passed,
            "margins": {c["id"]: finding_margin(c) for c in crit},
            "poi_vm_pu_min": summ["poi_vm_pu_min"], "pst_max": summ["pst_max"],
            "max_ramp_mw_per_min": summ["max_ramp_mw_per_min"], "max_p2p_mw_5s": summ["max_p2p_mw_5s"],
            "battery_saturated_steps": summ["battery_saturated_steps"],
            "runtime_s": time.perf_counter() - t0,
        }


@dataclass
class SearchTrace:
    """What one units search did: ``tried`` maps units to pass/fail in the order evaluated."""

    tried: dict[int, bool] = field(default_factory=dict)
    least: int | None = None


def least_passing_units(passes: Callable[[int], bool], lo: int, hi: int, hi_first: bool = False) -> SearchTrace:
    """Least ``n`` in ``[lo, hi]`` with ``passes(n)``, assuming pass/fail monotone in ``n``.

    Gallops from ``lo`` (``lo``, then doubling) to the first passing size, then bisects between
    the last failing and the first passing size.

    Parameters
    ----------
    passes : callable
        ``n -> bool``; called at most once per ``n``.
    lo, hi : int
        Search range, inclusive. [-]
    hi_first : bool
        Evaluate ``hi`` first and stop if it fails (nothing smaller can pass): the cheap test of a
        range cut below the best design of another combination.

    Returns
    -------
    SearchTrace
        ``least`` is ``None`` when even ``hi`` fails (or the range is empty).
    """
    tr = SearchTrace()

    def ev(n: int) -> bool:
        if n not in tr.tried:
            tr.tried[n] = bool(passes(n))
        return tr.tried[n]

    if hi < lo or (hi_first and not ev(hi)):
        return tr
    if ev(lo):
        tr.least = lo
        return tr
    fail, n = lo, lo
    while True:
        n = min(hi, max(n + 1, 2 * n))
        if ev(n):
            break
        fail = n
        if n == hi:
            return tr
    ok = n
    while ok - fail > 1:
        mid = (ok + fail) // 2
        if ev(mid):
            ok = mid
        else:
            fail = mid
    tr.least = ok
    return tr


def monotonicity_violations(designs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Criteria that pass at a size and fail at a larger one, per model and strategy setting.

    Parameters
    ----------
    designs : list of dict
        Evaluated designs (:meth:`StudyEvaluator.evaluate`), each with ``combination`` (a label
        of model and parameters), ``units`` and ``criteria_pass``.

    Returns
    -------
    list of dict
        ``combination``, ``criterion``, ``passes_at_units``, ``fails_at_units``.
    """
    out = []
    by: dict[str, list[dict[str, Any]]] = {}
    for d in designs:
        by.setdefault(d["combination"], []).append(d)
    for comb, ds in by.items():
        ds = sorted(ds, key=lambda d: d["units"])
        crits = dict.fromkeys(c for d in ds for c in d["criteria_pass"])
        for c in ["all criteria", *crits]:
            lowest_pass = None
            for d in ds:
                ok = d["pass"] if c == "all criteria" else d["criteria_pass"].get(c)
                if ok is None:
                    continue
                if ok and lowest_pass is None:
                    lowest_pass = d["units"]
                elif not ok and lowest_pass is not None:
                    out.append({"combination": comb, "criterion": c, "passes_at_units": lowest_pass,
                                "fails_at_units": d["units"]})
                    break
    return out


def _label(model: str, params: dict[str, float]) -> str:
    return model + "".join(f", {k}={v:g}" for k, v in params.items())


def size_battery(path: str | Path, out_dir: str | Path, *, quiet: bool = False,
                 evaluator: StudyEvaluator | None = None) -> dict[str, Any]:
    """Search the least-cost passing battery of a study file and write the results.

    Parameters
    ----------
    path : str or Path
        Study TOML with an optional ``[sizing]`` section.
    out_dir : str or Path
        Folder of ``sizing.json``, ``sizing.parquet`` and ``sizing.png``.
    quiet : bool
        No progress lines.
    evaluator : StudyEvaluator, optional
        A prepared evaluator (tests); by default one is built from the file.

    Returns
    -------
    dict
        The content of ``sizing.json``.

    Raises
    ------
    StudyError
        Bad input, every problem listed; nothing is written.
    OutputFolderError
        ``out_dir`` is locked by another run, not writable, or holds other files (before the search).
    """

    scale = load_scale_study(path, need="sizing")  # bad input: refused before the folder is touched
    # locked now; the files are staged and replace out_dir whole once the search ends
    with output_folder(out_dir, "size") as stage:
        return _size_battery(scale, stage, quiet=quiet, evaluator=evaluator)


def _size_battery(scale: StudyFile, out_dir: Path, *, quiet: bool, evaluator: StudyEvaluator | None) -> dict[str, Any]:

    t0 = time.perf_counter()
    assert scale.sizing is not None, "load_scale_study(need='sizing') refuses a file without [sizing]"
    sz: SizingSection = scale.sizing
    ev = evaluator or StudyEvaluator(scale, sz.engine, sz.n1)
    ev.cost_per_mw_usd, ev.cost_per_mwh_usd = sz.cost_per_mw_usd, sz.cost_per_mwh_usd
    say: Callable[..., None] = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    # parse_scale_study refuses sizing with battery.strategy 'none', so the study has a plant
    models = sz.models or [cast("MegapackPlant", ev.plant).model]
    combos = [(m, p) for m in models for p in sz.strategy.combinations()]
    designs: list[dict[str, Any]] = []
    seen: dict[tuple[str, int, tuple[tuple[str, float], ...]], dict[str, Any]] = {}

    def evaluate(model: str, units: int, params: dict[str, float]) -> dict[str, Any]:
        key = (model, int(units), tuple(sorted(params.items())))
        if key not in seen:
            d = ev.evaluate(model, units, params)
            d["combination"] = _label(model, params)
            seen[key] = d
            designs.append(d)
            say(f"  {d['combination']}, {units} units ({d['p_mw']:.1f} MW / {d['e_mwh']:.1f} MWh, "
                f"${d['cost_usd'] / 1e6:.1f} M): {'PASS' if d['pass'] else 'FAIL ' + '; '.join(d['failed'])}")
        return seen[key]

    best: dict[str, Any] | None = None
    comb_rows = []
    for model, params in combos:
        unit = megapack(model)
        unit_cost = design_cost_usd(unit.p_mw, unit.e_mwh, sz.cost_per_mw_usd, sz.cost_per_mwh_usd)
        hi = sz.units_max
        if best is not None and unit_cost > 0:
            # only sizes strictly cheaper than the best design can improve on it
            hi = min(hi, math.ceil(best["cost_usd"] / unit_cost) - 1)
            while hi >= sz.units_min and unit_cost * hi >= best["cost_usd"]:
                hi -= 1
        label = _label(model, params)
        if hi < sz.units_min:
            assert best is not None, "units_min <= units_max (SizingSection), so only a cut range is empty"
            comb_rows.append({"combination": label, "model": model, **params, "least_units": None,
                              "evaluations": 0, "pruned": True})
            say(f"{label}: pruned (cannot be cheaper than {best['combination']}, {best['units']} units)")
            continue
        say(f"{label}: searching {sz.units_min}..{hi} units")

        # least_passing_units calls ``passes`` only before it returns, within this iteration; the
        # defaults bind this iteration's model and params all the same (ruff B023).
        def passes(n: int, model: str = model, params: dict[str, float] = params) -> bool:
            return bool(evaluate(model, n, params)["pass"])

        tr = least_passing_units(passes, sz.units_min, hi, hi_first=best is not None)
        comb_rows.append({"combination": label, "model": model, **params, "least_units": tr.least,
                          "evaluations": len(tr.tried), "pruned": False})
        if tr.least is not None:
            d = seen[(model, tr.least, tuple(sorted(params.items())))]
            if best is None or d["cost_usd"] < best["cost_usd"]:
                best = d
    if best is not None:
        params = {k: best[k] for k in sz.strategy.given()}
        for k in range(1, sz.verify_above + 1):
            if best["units"] + k <= sz.units_max:
                evaluate(best["model"], best["units"] + k, params)
    violations = monotonicity_violations(designs)
    for v in violations:
        say(f"monotonicity violated: {v['combination']}: {v['criterion']} passes at {v['passes_at_units']} "
            f"units but fails at {v['fails_at_units']}")

    frontier = sorted(designs, key=lambda d: (d["cost_usd"], d["combination"]))
    chosen = None
    if best is not None:
        chosen = {k: best[k] for k in ("units", "model", "p_mw", "e_mwh", "cost_usd", "pass", "margins",
                                       "poi_vm_pu_min", "pst_max", "max_ramp_mw_per_min", "max_p2p_mw_5s",
                                       "battery_saturated_steps")}
        chosen["strategy"] = ev.spec.battery.strategy
        chosen["strategy_parameters"] = {k: best[k] for k in sz.strategy.given()}
        chosen["min_margin"] = min((m for c, m in best["margins"].items()
                                    if m is not None and not c.startswith("convergence")), default=None)
    result = {
        "study": ev.spec.study.name, "site": ev.site.name, "input_sha256": text_sha256(scale.text),
        "criteria_preset": ev.preset.name, "n1": sz.n1, "engine": sz.engine,
        "search": {"units_min": sz.units_min, "units_max": sz.units_max, "models": models,
                   "strategy": ev.spec.battery.strategy, "strategy_grid": sz.strategy.given(),
                   "method": "galloping then bisection on units per model and strategy setting; "
                             "combinations that cannot be cheaper than the best are pruned"},
        "cost_model": {"cost_per_mw_usd": sz.cost_per_mw_usd, "cost_per_mwh_usd": sz.cost_per_mwh_usd,
                       "source": "defaults: ~$585 M for ~2.31 GWh (Colossus 2 estimate at Tesla list prices, "
                                 "~$250k/MWh); Lazard LCOS 2024 100 MW plant $38-80 M (2 h), $76-157 M (4 h) "
                                 "-> ~$15k/MW (check)"},
        "chosen": chosen,
        "evaluations": len(designs),
        "combinations": comb_rows,
        "frontier": [{k: d[k] for k in ("combination", "model", "units", "p_mw", "e_mwh", "cost_usd", "pass",
                                        "failed", "margins", *sz.strategy.given())} for d in frontier],
        "monotonicity": {"assumed": True, "checked_above_chosen": sz.verify_above, "violations": violations},
        "runtime_s": time.perf_counter() - t0,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for d in frontier:
        r = {k: v for k, v in d.items() if k not in ("margins", "criteria_pass", "failed")}
        r["failed"] = "; ".join(d["failed"])
        r.update({f"margin|{c}": m for c, m in d["margins"].items()})
        rows.append(r)
    write_parquet(out / "sizing.parquet", pd.DataFrame(rows))
    _figure(out / "sizing.png", frontier, chosen)
    write_json(out / "sizing.json", result)
    return to_jsonable(result)


def _figure(path: Path, frontier: list[dict[str, Any]], chosen: dict[str, Any] | None) -> None:
    plt = pyplot()
    if plt is None:
        return

    fig, ax = plt.subplots(figsize=(7, 4.2))
    combs = list(dict.fromkeys(d["combination"] for d in frontier))
    markers = "osD^v<>ph*"
    for k, c in enumerate(combs):
        ds = sorted((d for d in frontier if d["combination"] == c), key=lambda d: d["units"])
        x = [d["units"] for d in ds]
        y = [d["cost_usd"] / 1e6 for d in ds]
        col = ["tab:green" if d["pass"] else "tab:red" for d in ds]
        ax.scatter(x, y, c=col, marker=markers[k % len(markers)], label=c, zorder=3)
    if chosen is not None:
        ax.scatter([chosen["units"]], [chosen["cost_usd"] / 1e6], s=220, facecolors="none", edgecolors="k",
                   zorder=4, label=f"chosen: {chosen['units']} units, {chosen['p_mw']:.1f} MW / {chosen['e_mwh']:.0f} MWh")
    ax.set_xlabel("Megapack units [-]")
    ax.set_ylabel("cost [M USD]")
    ax.set_title("Designs tried (green pass, red fail)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    save_png(fig, path)
