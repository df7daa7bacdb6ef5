"""Study-file sections of battery sizing and scenario sweeps: ``[sizing]`` and ``[sweep]``.

They sit beside the sections of :mod:`gridstudy.studies.spec.sections` and :mod:`gridstudy.studies.spec.interconnection`;
:func:`load_scale_study` strips them from the file, validates the rest with
:func:`gridstudy.studies.spec.interconnection.parse_interconnection`, validates them with the models below,
and raises one :class:`gridstudy.studies.errors.StudyError` that lists every problem of every section.

Sections::

    [sizing]            units_min, units_max, models (Megapack presets to compare), n1,
                        cost_per_mw_usd, cost_per_mwh_usd, verify_above, engine
    [sizing.strategy]   grids of the strategy's parameters: ramp_mw_per_min, window_mw, window_s,
                        target_tau_s (ramp_limit); tau_s (smoothing); cap_mw (import_cap)
    [sweep]             workers, scenarios (run per point), metric (plotted), engine
    [sweep.parameters]  "dotted.path" = [values...]; the Cartesian product is the scenario set.
                        Paths that start with ``study``/``campus``/``battery`` set keys of the
                        study file; ``site.<path>`` or a top-level site key (``source.*``,
                        ``lines``...) set keys of the site description; ``site.campus.p_mw``
                        scales the site's halls to a campus peak. [MW]

Cost defaults (``docs/sources/megapack.md §5, §6``): the seed's estimate for xAI Colossus 2 is about $585 M for
about 600 Megapacks = 2.31 GWh, i.e. about $250 k/MWh at Tesla list prices; Lazard's LCOS 2024
puts a 100 MW plant at $38-80 M for 2 h (200 MWh) and $76-157 M for 4 h (400 MWh): the
difference of the midpoints, $57.5 M per 200 MWh, gives about $290 k/MWh, and what is left of
the 2-h midpoint, $1.5 M per 100 MW, about $15 k/MW. Defaults: $250 k/MWh (the seed's figure)
and $15 k/MW (Lazard's split, *(check)*); both are parameters.
"""

from __future__ import annotations

import copy
import itertools
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

import pandas as pd
from pydantic import Field, ValidationError, field_validator, model_validator

from gridstudy.grid.bounds import MAX_BATTERY_UNITS
from gridstudy.grid.errors import (
    InputError,
    Problem,
    parse_toml_text,
    problems_from_pydantic,
    read_text,
)
from gridstudy.grid.megapack import MEGAPACK_MODELS
from gridstudy.grid.reference import reference_sites
from gridstudy.grid.spec import parse_site_spec, site_spec_from_raw
from gridstudy.studies.errors import StudyError
from gridstudy.studies.spec.interconnection import InterconnectionSpec, parse_interconnection
from gridstudy.studies.spec.limits import budget_problems, outside_problem
from gridstudy.studies.spec.sections import ResolvedStudy, Section, StudySpec, make_battery, resolve_study, site_file

__all__ = ["METRICS", "SizingSection", "StrategyGrid", "SweepSection", "StudyFile", "load_scale_study",
           "parse_scale_study", "site_raw_of", "STRATEGY_PARAMETERS", "COST_PER_MW_USD",
           "COST_PER_MWH_USD", "OWN_SECTIONS", "STUDY_SECTIONS"]

#: Cost of the plant's power rating (inverters, transformers): Lazard LCOS 2024 split of a 100 MW
#: plant, 2 h $38-80 M vs 4 h $76-157 M (docs/sources/megapack.md §6) *(check)*. [USD/MW]
COST_PER_MW_USD = 15_000.0
#: Cost of the plant's energy: about $585 M for about 2.31 GWh of Megapacks (Colossus 2 estimate at
#: Tesla list prices, docs/sources/megapack.md §5/§6). [USD/MWh]
COST_PER_MWH_USD = 250_000.0

#: Key metrics of a scenario kept in each sweep row (the names a ``[sweep]`` ``pass_if`` may use) (see :func:`gridstudy.studies.judge.findings.scenario_summary`).
METRICS = ("poi_vm_pu_min", "poi_vm_pu_max", "seconds_outside_n0_band", "rvc_events", "pst_max", "plt_max",
           "max_ramp_mw_per_min", "max_p2p_mw_5s", "nonconverged_steps", "ride_through_trips",
           "tap_operations", "battery_saturated_steps")

OWN_SECTIONS = ("sizing", "sweep")
STUDY_SECTIONS = ("study", "campus", "battery")

#: Strategy parameters a sizing may search: parameter -> (strategy, table of ``[battery]``).
STRATEGY_PARAMETERS = {
    "ramp_mw_per_min": ("ramp_limit", "ramp_limit"),
    "window_mw": ("ramp_limit", "ramp_limit"),
    "window_s": ("ramp_limit", "ramp_limit"),
    "target_tau_s": ("ramp_limit", "ramp_limit"),
    "tau_s": ("smoothing", "smoothing"),
    "cap_mw": ("import_cap", "import_cap"),
}


def _positive_list(v: list[float] | None) -> list[float] | None:
    if v is not None:
        if not v:
            raise ValueError("give at least one value")
        if any(x <= 0 for x in v):
            raise ValueError("every value must be > 0")
        if len(set(v)) != len(v):
            raise ValueError("values must be distinct")
    return v


class StrategyGrid(Section):
    """``[sizing.strategy]``: values of the dispatch strategy's parameters to search.

    Each key is a list; the sizing searches the units for every combination.
    """

    ramp_mw_per_min: list[float] | None = Field(None, description="grid-side ramp limit [MW/min]")
    window_mw: list[float] | None = Field(None, description="peak-to-peak limit in the window [MW]")
    window_s: list[float] | None = Field(None, description="peak-to-peak window [s]")
    target_tau_s: list[float] | None = Field(None, description="target tracking time constant [s]")
    tau_s: list[float] | None = Field(None, description="smoothing time constant [s]")
    cap_mw: list[float] | None = Field(None, description="grid import cap [MW]")

    @field_validator("*")
    @classmethod
    def _check(cls, v: list[float] | None) -> list[float] | None:
        return _positive_list(v)

    def given(self) -> dict[str, list[float]]:
        """The parameters given, in declaration order."""
        return {k: v for k, v in self.model_dump().items() if v is not None}

    def combinations(self) -> list[dict[str, float]]:
        """Every combination of the given values (one empty combination when none is given)."""
        g = self.given()
        return [dict(zip(g, vals, strict=True)) for vals in itertools.product(*g.values())] if g else [{}]


class SizingSection(Section):
    """``[sizing]``: the search range, what must pass, and the cost model.

    Parameters
    ----------
    units_min, units_max : int
        Range of Megapack units searched. [-]
    models : list of str or None
        Megapack presets compared (default: the study's model). [-]
    n1 : bool
        Also require every credible single outage to pass over the worst window.
    cost_per_mw_usd : float
        Cost of the power rating. [USD/MW]
    cost_per_mwh_usd : float
        Cost of the energy rating. [USD/MWh]
    verify_above : int
        Further designs evaluated above the chosen one to check monotonicity. [-]
    engine : {'fast', 'reference'}
        QSTS engine of each evaluation.
    """

    units_min: int = Field(1, ge=1, description="[-]")
    units_max: int = Field(64, ge=1, le=MAX_BATTERY_UNITS, description="[-]")
    models: list[str] | None = None
    n1: bool = False
    cost_per_mw_usd: float = Field(COST_PER_MW_USD, ge=0, description="[USD/MW]")
    cost_per_mwh_usd: float = Field(COST_PER_MWH_USD, ge=0, description="[USD/MWh]")
    verify_above: int = Field(1, ge=0, le=10, description="[-]")
    engine: Literal["fast", "reference"] = "fast"
    strategy: StrategyGrid = Field(default_factory=StrategyGrid)

    @field_validator("models")
    @classmethod
    def _models(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if not v:
                raise ValueError("give at least one Megapack model")
            bad = [m for m in v if m not in MEGAPACK_MODELS]
            if bad:
                raise ValueError(f"unknown Megapack model(s) {', '.join(bad)}; known: {', '.join(MEGAPACK_MODELS)}")
        return v

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.units_min > self.units_max:
            raise ValueError(f"units_min ({self.units_min}) must not exceed units_max ({self.units_max})")
        return self


_SweepScenario = Literal["with_battery", "without_battery"]


def _with_battery_only() -> list[_SweepScenario]:
    return ["with_battery"]


class SweepSection(Section):
    """``[sweep]``: the swept parameters and how each point is run.

    Parameters
    ----------
    parameters : dict
        ``dotted.path -> list of values``; the Cartesian product is the scenario set.
    workers : int
        Processes of the local pool (the CLI's ``--workers`` overrides it). [-]
    scenarios : list of str
        Scenarios run per point; ``pass`` of a row is that of ``with_battery`` when run, else of
        the first listed.
    metric : str
        Column plotted in the summary figure.
    engine : {'fast', 'reference'}
        QSTS engine.
    max_scenarios : int
        Refuse larger products (a guard against a typo that explodes the set). [-]
    """

    parameters: dict[str, list[Any]]
    workers: int = Field(2, ge=1, le=256, description="[-]")
    scenarios: list[_SweepScenario] = Field(default_factory=_with_battery_only)
    metric: str = "pst_max"
    engine: Literal["fast", "reference"] = "fast"
    max_scenarios: int = Field(10_000, ge=1)

    @field_validator("parameters")
    @classmethod
    def _params(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if not v:
            raise ValueError("declare at least one swept parameter")
        for k, vals in v.items():
            if not vals:
                raise ValueError(f"{k}: give at least one value")
            if any(isinstance(x, (dict, list)) for x in vals):
                raise ValueError(f"{k}: values must be scalars (number, string, boolean)")
            if len({repr(x) for x in vals}) != len(vals):
                raise ValueError(f"{k}: values must be distinct")
        return v

    @field_validator("scenarios")
    @classmethod
    def _scen(cls, v: list[_SweepScenario]) -> list[_SweepScenario]:
        if not v:
            raise ValueError("give at least one scenario")
        return list(dict.fromkeys(v))

    def size(self) -> int:
        """Number of scenarios of the product. [-]"""
        n = 1
        for vals in self.parameters.values():
            n *= len(vals)
        return n


@dataclass
class StudyFile:
    """A study file, read and validated once: every section, and (on first use, once) resolved
    into the objects a study runs (:attr:`resolved`, :meth:`scenario`, :meth:`design`).

    ``study_raw`` is the file's mapping without ``[sizing]``/``[sweep]`` (what
    :func:`gridstudy.studies.spec.interconnection.parse_interconnection` accepts); ``site_raw`` is the
    site description the study names, as a mapping, read from ``site_path``; ``spec`` and ``ic`` are
    its validated sections, ``scenario_specs`` the study file of each alternative scenario.
    """

    path: Path
    text: str
    study_raw: dict[str, Any]
    site_raw: dict[str, Any] | None
    sizing: SizingSection | None
    sweep: SweepSection | None
    spec: StudySpec
    ic: InterconnectionSpec
    scenario_specs: dict[str, StudySpec] = field(default_factory=dict)
    site_path: Path | None = None
    _resolved: dict[str, ResolvedStudy] = field(default_factory=dict, init=False, repr=False)
    _site_spec: list[Any] = field(default_factory=list, init=False, repr=False)

    @classmethod
    def from_raw(cls, path: Path, study_raw: dict[str, Any], site_raw: dict[str, Any] | None = None,
                 site_path: Path | None = None, text: str = "") -> StudyFile:
        """A study file given as mappings (a sweep's scenario), validated like a file."""
        spec, ic, scen = parse_interconnection(study_raw, source=str(path))
        if site_raw is None:
            site_raw, site_path = site_raw_of(study_raw, path.parent)
        return cls(path=path, text=text, study_raw=study_raw, site_raw=site_raw, sizing=None, sweep=None, spec=spec,
                   ic=ic, scenario_specs=scen, site_path=site_path)

    @property
    def base_dir(self) -> Path:
        """The study file's folder: paths in the file are relative to it."""
        return self.path.parent

    @property
    def site_spec(self) -> Any:
        """The site, validated from the mapping read with the file (``None`` when that mapping is
        missing or invalid: :attr:`resolved` then reads the file and reports its problems)."""
        if not self._site_spec:
            spec = None
            if self.site_raw is not None and self.site_path is not None:
                try:
                    spec = site_spec_from_raw(self.site_raw, self.site_path)
                except InputError:
                    spec = None
            self._site_spec.append(spec)
        return self._site_spec[0]

    def _resolve(self, key: str, spec: StudySpec) -> ResolvedStudy:
        if key not in self._resolved:
            self._resolved[key] = resolve_study(spec, base_dir=self.base_dir, source=str(self.path),
                                                site_spec=self.site_spec)
        return self._resolved[key]

    @property
    def resolved(self) -> ResolvedStudy:
        """The study's site, campus, horizon, plant and strategy (resolved once)."""
        return self._resolve("", self.spec)

    def scenario(self, name: str) -> ResolvedStudy:
        """An alternative scenario's own study file, resolved (once) on the study's site."""
        return self._resolve(f"scenario:{name}", self.scenario_specs[name])

    def design(self, battery: dict[str, Any]) -> tuple[Any, Any]:
        """The plant and strategy of the study's ``[battery]`` with ``battery`` changed (``units``,
        ``model``, plant fields, or a strategy parameter of :data:`STRATEGY_PARAMETERS`), without
        reading or parsing the file again; :class:`StudyError` names what the models refuse."""
        bs = self.spec.battery
        update: dict[str, Any] = {}
        for k, v in battery.items():
            if k in STRATEGY_PARAMETERS:
                table = STRATEGY_PARAMETERS[k][1]
                update[table] = update.get(table, getattr(bs, table)).model_copy(update={k: v})
            elif k not in ("units", "model"):
                update[k] = v
        bs = bs.model_copy(update=update)
        site = self.resolved.site_spec
        site_bat = site.battery if site is not None else None
        units = battery.get("units", bs.units if bs.units is not None else (site_bat.units if site_bat else None))
        model = battery.get("model", bs.model or (site_bat.model if site_bat else "megapack2xl-2h"))
        soc0 = bs.soc_init_percent if bs.soc_init_percent is not None else (site_bat.soc_percent if site_bat else 50.0)
        if units is None:
            raise StudyError([Problem("battery.units", "required: the site has no battery", None, has_value=False)],
                             source=str(self.path))
        plant, strategy, problems = make_battery(bs, int(units), model, soc0,
                                                 cap_default_mw=site.campus.p_mw if site is not None else None,
                                                 poi_vn_kv=site.poi_vn_kv if site is not None else None)
        if problems:
            raise StudyError(problems, source=str(self.path))
        return plant, strategy


def site_raw_of(study_raw: dict[str, Any], base_dir: Path) -> tuple[dict[str, Any] | None, Path | None]:
    """The site description named by ``study.site`` as a mapping, and its file (or ``None``)."""
    site = (study_raw.get("study") or {}).get("site")
    if not isinstance(site, str):
        return None, None
    p = site_file(site, base_dir)
    if isinstance(p, Problem):
        return None, None
    try:
        return tomllib.loads(p.read_text(encoding="utf-8")), p
    except (OSError, ValueError, RecursionError):  # bad TOML, not UTF-8: the study's own check names it
        return None, None


def _get(d: Any, parts: list[str]) -> tuple[bool, Any]:
    for part in parts:
        if isinstance(d, dict) and part in d:
            d = d[part]
        else:
            return False, None
    return True, d


def _study_path_ok(parts: list[str]) -> bool:
    """Whether ``parts`` names a field of the study schema (:class:`gridstudy.studies.spec.sections.StudySpec`)."""

    model: Any = StudySpec
    for part in parts:
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        ann = fields[part].annotation
        args = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type)]
        model = ann if isinstance(ann, type) else next((a for a in args if hasattr(a, "model_fields")), None)
    return True


def sweep_target(path: str, site_raw: dict[str, Any] | None) -> tuple[str, list[str]] | str:
    """Where a swept parameter goes: ``('study'|'site'|'site_campus_p_mw', parts)`` or a problem text."""
    parts = path.split(".")
    if parts[0] == "site":
        rest = parts[1:]
        if rest == ["campus", "p_mw"]:
            return "site_campus_p_mw", rest
        if not rest:
            return "name a key of the site description after 'site.'"
        found, _ = _get(site_raw, rest)
        return ("site", rest) if found else f"no key {'.'.join(rest)} in the site description"
    if parts == ["study", "site"]:  # each scenario runs on the study's site description, with its keys set
        return "the site is not swept by name: sweep keys of its description (site.<key>, e.g. source.s_sc_min_mva)"
    if parts[0] in STUDY_SECTIONS:
        return ("study", parts) if _study_path_ok(parts) else "not a field of the study file"
    found, _ = _get(site_raw, parts)
    if found:
        return "site", parts
    return ("unknown parameter: neither a study field (study./campus./battery.) nor a key of the "
            "site description (site.<key>, e.g. source.s_sc_min_mva)")


def _set(d: dict[str, Any], parts: list[str], value: Any) -> None:
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def apply_sweep_value(study: dict[str, Any], site: dict[str, Any] | None, path: str, value: Any) -> None:
    """Set the swept parameter ``path`` to ``value`` in a scenario's study and site mappings
    (:func:`sweep_target` says where it lands)."""
    target = sweep_target(path, site)
    assert not isinstance(target, str), target  # parse_scale_study refuses what has no target
    kind, parts = target
    if kind == "study":
        _set(study, parts, value)
        return
    assert site is not None, f"{path}: the study names no site description to apply it to"
    if kind == "site":
        _set(site, parts, value)
    else:  # site_campus_p_mw: scale every hall to the campus peak
        halls = site["campus"]["halls"]
        total = sum(float(h["p_mw"]) for h in halls)
        for h in halls:
            h["p_mw"] = float(h["p_mw"]) * float(value) / total if total > 0 else float(value) / len(halls)


def path_problems(raw: dict[str, Any], root: Path) -> list[Problem]:
    """Files the study names (``study.site``, ``campus.trace``) that lie outside its folder tree
    (:func:`gridstudy.studies.spec.limits.outside_problem`), before any of them is read."""

    named: list[tuple[str, Any]] = []
    st = raw.get("study")
    site = st.get("site") if isinstance(st, dict) else None
    if isinstance(site, str) and site not in reference_sites():
        named.append(("study.site", site))
    campus = raw.get("campus")
    trace = campus.get("trace") if isinstance(campus, dict) else None
    if isinstance(trace, dict):
        named.append(("campus.trace.path", trace.get("path")))
    elif isinstance(trace, str):
        named.append(("campus.trace", trace))
    out = []
    for name, value in named:
        if isinstance(value, str) and value:
            p = outside_problem(value, root, name)
            if p is not None:
                out.append(p)
    return out


def sweep_problems(sweep: SweepSection, site_raw: dict[str, Any] | None) -> list[Problem]:
    """Swept parameters that set one setting twice (``source.x`` and ``site.source.x``; a table and a
    key inside it) and a metric that no row has."""

    out = []
    seen: dict[tuple[str, ...], str] = {}
    for k in sweep.parameters:
        t = sweep_target(k, site_raw)
        if isinstance(t, str):
            continue
        kind, parts = t
        key = ("site", "campus", "halls") if kind == "site_campus_p_mw" else (kind, *parts)
        if key[:2] == ("site", "battery") and key[2:3] in (("units",), ("model",), ("soc_percent",)):
            # the study's battery.units/model/soc_init_percent replace the site's: one setting
            key = ("study", "battery", {"soc_percent": "soc_init_percent"}.get(key[2], key[2]))
        for other_key, other in seen.items():
            n = min(len(key), len(other_key))
            if key[:n] == other_key[:n]:
                out.append(Problem(f"sweep.parameters.{k}", f"sets the same setting as {other!r}", k))
                break
        seen[key] = k
    known = {*METRICS, "campus_peak_mw", "battery_p_mw", "battery_e_mwh", "runtime_s"}
    primary = "with_battery" if "with_battery" in sweep.scenarios else sweep.scenarios[0]
    known |= {f"{s}|{m}" for s in sweep.scenarios if s != primary for m in METRICS}
    if sweep.metric not in known:
        out.append(Problem("sweep.metric", f"not a column of the sweep table; known: {', '.join(sorted(known))}",
                           sweep.metric))
    return out


def sweep_value_problems(sweep: SweepSection, study_raw: dict[str, Any], site_raw: dict[str, Any] | None) -> list[Problem]:
    """Every swept value validated as the field it sets is validated in a file, before anything runs.

    For each parameter and each of its values, the study file (or the site description) with that
    one value applied goes through the same validation as the file itself (the study through
    :func:`gridstudy.studies.interconnection_spec.parse_interconnection`: schema, models, sizes;
    the site through :func:`gridstudy.grid.spec.parse_site_spec`); each problem comes back as
    ``sweep.parameters.<parameter>`` with the value, naming the field it concerns where that is
    another one (``battery.soc_min_percent`` when ``battery.soc_max_percent`` is swept below it).
    The rest of the study file is valid when this runs, and the site's own problems are reported
    as the site's, so every other problem is the value's. Values that are each valid but not
    together are the scenario's error (:mod:`gridstudy.studies.scale.sweep`).
    """

    out: list[Problem] = []
    if site_raw is not None:
        try:
            parse_site_spec(site_raw)
        except InputError as exc:  # the site's own problems, named as the study names them, not a value's
            return [Problem(f"study.site: {q.path}", q.message, q.value, q.has_value) for q in exc.problems]
    for k, values in sweep.parameters.items():
        t = sweep_target(k, site_raw)
        if isinstance(t, str):  # named by parse_scale_study
            continue
        kind, parts = t
        where = k if kind == "study" else ".".join(parts)
        if kind != "study" and site_raw is None:
            out.append(Problem(f"sweep.parameters.{k}", "the study's site is not a site description a sweep can set", k))
            continue
        for v in values:
            study, site = copy.deepcopy(study_raw), copy.deepcopy(site_raw)
            try:
                apply_sweep_value(study, site, k, v)
                if kind == "study":
                    parse_interconnection(study)
                else:
                    parse_site_spec(site or {})
            except InputError as exc:
                out += [Problem(f"sweep.parameters.{k}", q.message if q.path == where else f"{q.path}: {q.message}", v)
                        for q in exc.problems]
            except (TypeError, ValueError):  # site.campus.p_mw scales the halls by the value
                out.append(Problem(f"sweep.parameters.{k}", "must be a number [MW]", v))
    return out


def sweep_combination_problems(sweep: SweepSection, study_raw: dict[str, Any],
                               site_raw: dict[str, Any] | None) -> list[Problem]:
    """Values each valid (:func:`sweep_value_problems`) that are not valid together: every scenario
    of the product validated as :func:`sweep_value_problems` validates one value, before anything
    runs (a fraction of a millisecond each); the first scenario of each problem is named, with the
    number of scenarios that have it."""

    if len(sweep.parameters) < 2:
        return []
    kinds = set()
    for k in sweep.parameters:
        t = sweep_target(k, site_raw)
        kinds.add("invalid" if isinstance(t, str) else t[0])
    found: dict[str, tuple[Problem, dict[str, Any], int]] = {}
    for values in itertools.product(*sweep.parameters.values()):
        combination = dict(zip(sweep.parameters, values, strict=True))
        study, site = copy.deepcopy(study_raw), copy.deepcopy(site_raw)
        problems: list[Problem] = []
        for k, v in combination.items():
            apply_sweep_value(study, site, k, v)
        if "study" in kinds:
            try:
                parse_interconnection(study)
            except InputError as exc:
                problems += exc.problems
        if kinds - {"study"} and site is not None:
            try:
                parse_site_spec(site)
            except InputError as exc:
                problems += [Problem(f"site.{q.path}", q.message, q.value, q.has_value) for q in exc.problems]
        for q in problems:
            first, first_combination, n = found.get(q.path, (q, combination, 0))
            found[q.path] = (first, first_combination, n + 1)
    n_all = sweep.size()
    return [Problem("sweep.parameters", f"{q.path}: {q.message} (the values are each valid, not together: "
                                        f"{n} of {n_all} scenarios; the first)", c)
            for q, c, n in found.values()]


def study_budget(spec: Any, ic: Any, site_raw: dict[str, Any] | None, runs: int = 1) -> list[Problem]:
    """The study's estimated memory and run time against the limits
    (:func:`gridstudy.studies.spec.limits.budget_problems`): its steps, scenarios, buses, N-1 outages over
    the worst window, sub-second windows and sag events."""

    st = spec.study
    steps = st.horizon_s / st.step_s
    scenarios = 2 + len(ic.scenarios)
    site = site_raw or {}
    buses = len(site.get("buses") or []) or 100  # a network file: its size is not known before it is read
    extra = 0.0
    cs = ic.contingencies
    if cs.enabled:
        window_s = st.horizon_s if cs.window == "all" else min(st.horizon_s, pd_seconds(cs.window))
        outages = sum(int(r.get("circuits", 1)) if isinstance(r, dict) else 1 for r in (site.get("lines") or [])) \
            + len(site.get("transformers") or []) or buses
        extra += window_s / st.step_s * outages * len(cs.scenarios)
    fl = getattr(ic, "fluctuation", None)
    if fl is not None and getattr(fl, "enabled", False):
        windows = fl.worst_windows + len(fl.windows) + 3 + len(fl.latencies_s)
        extra += windows * (fl.window_s + fl.warmup_s) / fl.step_s * scenarios
    if ic.sag.enabled:
        extra += len(ic.sag.events) * ic.sag.duration_s / ic.sag.step_s * scenarios
    value = st.duration if st.duration is not None else st.duration_s
    field = "study.duration" if st.duration is not None else "study.duration_s"
    return budget_problems(steps, scenarios, buses, field, value, extra_pf=extra, runs=runs)


def pd_seconds(text: str) -> float:
    """A pandas duration string in seconds. [s]"""

    return float(pd.Timedelta(text).total_seconds())


def parse_scale_study(raw: dict[str, Any], path: Path, text: str = "") -> StudyFile:
    """Validate a whole study file with its ``[sizing]``/``[sweep]``; every problem at once."""

    problems: list[Problem] = path_problems(raw, path.parent)
    if problems:  # nothing outside the study's folder is read
        raise StudyError(problems, source=str(path))
    study_raw = {k: copy.deepcopy(v) for k, v in raw.items() if k not in OWN_SECTIONS}
    study_spec = ic = None
    scen: dict[str, StudySpec] = {}
    try:
        study_spec, ic, scen = parse_interconnection(study_raw, source=str(path))
    except InputError as exc:
        problems += exc.problems
    sizing = sweep = None
    if "sizing" in raw:
        try:
            sizing = SizingSection.model_validate(raw["sizing"])
        except ValidationError as exc:
            problems += problems_from_pydantic(exc, prefix="sizing")
    if "sweep" in raw:
        try:
            sweep = SweepSection.model_validate(raw["sweep"])
        except ValidationError as exc:
            problems += problems_from_pydantic(exc, prefix="sweep")
    site_raw, site_path = site_raw_of(study_raw, path.parent)
    if sizing is not None and study_spec is not None:
        strategy = study_spec.battery.strategy
        for k in sizing.strategy.given():
            if STRATEGY_PARAMETERS[k][0] != strategy:
                problems.append(Problem(f"sizing.strategy.{k}", f"applies to strategy {STRATEGY_PARAMETERS[k][0]}, "
                                                                f"the study's battery.strategy is {strategy!r}", k))
        if strategy == "none":
            problems.append(Problem("battery.strategy", "sizing needs a battery strategy (the battery is idle with 'none')",
                                    strategy))
    if sweep is not None:
        for k in sweep.parameters:
            t = sweep_target(k, site_raw)
            if isinstance(t, str):
                problems.append(Problem(f"sweep.parameters.{k}", t, k))
        if sweep.size() > sweep.max_scenarios:
            problems.append(Problem("sweep.parameters", f"the product has {sweep.size()} scenarios, more than "
                                                       f"max_scenarios ({sweep.max_scenarios})", sweep.size()))
        problems += sweep_problems(sweep, site_raw)
        if not problems:  # the file itself is valid: what is wrong now is a swept value's
            problems += sweep_value_problems(sweep, study_raw, site_raw)
    if study_spec is not None and ic is not None and not problems:
        runs = 1 if sweep is None else math.ceil(sweep.size() / max(1, min(sweep.workers, sweep.size())))
        problems += study_budget(study_spec, ic, site_raw, runs)
    if sweep is not None and not problems:  # a product the budget admits: each scenario's values together
        problems += sweep_combination_problems(sweep, study_raw, site_raw)
    if problems:
        raise StudyError(problems, source=str(path))
    assert study_spec is not None and ic is not None  # parse_interconnection raised otherwise
    return StudyFile(path=path, text=text, study_raw=study_raw, site_raw=site_raw, sizing=sizing, sweep=sweep,
                     spec=study_spec, ic=ic, scenario_specs=scen, site_path=site_path)


def load_scale_study(path: str | Path, need: str | None = None) -> StudyFile:
    """Read and validate a study file for ``gridstudy size``/``sweep``.

    Parameters
    ----------
    path : str or Path
        Study TOML file.
    need : {'sizing', 'sweep'} or None
        Section that must be present (``[sizing]`` may be absent: its defaults apply).

    Raises
    ------
    StudyError
        Every problem of every section, each with its field path.
    """
    path = Path(path)
    text = read_text(path, StudyError, "study")
    raw = parse_toml_text(text, str(path), StudyError, "study")
    problems = []
    if need == "sweep" and "sweep" not in raw:
        problems.append(Problem("sweep", "required: a [sweep] section with [sweep.parameters]", None, has_value=False))
    try:
        out = parse_scale_study(raw, path, text)
    except StudyError as exc:
        raise StudyError(problems + exc.problems, source=str(path)) from None
    if problems:
        raise StudyError(problems, source=str(path))
    if need == "sizing" and out.sizing is None:
        out.sizing = SizingSection()
    return out
