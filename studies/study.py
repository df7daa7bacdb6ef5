"""The one :class:`Study`: a site, a campus, a battery and its strategy, criteria, a horizon.

Every command is a thin client of it: ``run`` (:meth:`Study.run`, then
:meth:`~gridstudy.studies.output.result.StudyResult.save` and the report), ``qsts`` (:meth:`Study.qsts`),
``profile`` (:meth:`Study.profiles`), ``size`` and ``sweep`` (:meth:`Study.with_battery` per
design). One function builds the site a study runs on (:meth:`Study.build_site`: OLTC taps
settled at the first step's load, storage rated to the study's plant, ``site.battery`` kept true).

A study comes from a file or from objects::

    import gridstudy
    result = gridstudy.Study.from_file("examples/demo.toml").run()

    from gridstudy.models import CampusLoadParams, MegapackPlant, make_strategy, make_index
    plant = MegapackPlant(units=600, model="megapack2xl-4h")
    study = gridstudy.Study(site="memphis-161kv", campus=CampusLoadParams(gpus=100_000),
                            strategy=make_strategy("ramp_limit", plant), criteria="ercot",
                            index=make_index("2025-07-01", 3600, 1.0))

Scenarios: ``without_battery`` (the battery idle), ``with_battery`` (the study's strategy) and
any further named alternatives (``scenarios``: name -> strategy), each a quasi-static time series
judged by the criteria registry (:mod:`gridstudy.studies.judge.findings`); then N-1 over the worst
window, each outage starting from the scenario's N-0 state at the window start
(:mod:`gridstudy.studies.stages.contingency`), and the sag events (:mod:`gridstudy.studies.stages.sag`).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.studies.errors import StudyError
from gridstudy.studies.spec.interconnection import ContingencySection, FluctuationSection, SagSection

if TYPE_CHECKING:
    from gridstudy.grid.site import BatteryPlant, Site
    from gridstudy.grid.spec import SiteSpec
    from gridstudy.models.battery import MegapackPlant
    from gridstudy.models.dispatch import Strategy
    from gridstudy.studies.criteria.presets import CriteriaPreset
    from gridstudy.studies.output.result import StudyResult
    from gridstudy.studies.qsts.inputs import Controls, ProfileStream, QSTSInputs, RecordSpec
    from gridstudy.studies.qsts.results import QSTSResult

__all__ = ["Study", "ENGINE_COLUMNS", "QUASI_STATIC_NOTE", "STREAM_CHUNK_STEPS", "STREAM_MIN_STEPS"]

#: The profile columns a scenario hands to the engine.
ENGINE_COLUMNS = ("campus_p_mw", "campus_q_mvar", "battery_p_mw", "battery_q_mvar")

#: Steps per part when profiles are streamed to the engine (:meth:`Study.profile_stream`). [-]
STREAM_CHUNK_STEPS = 1 << 16
#: Horizons longer than this run the fast engine on streamed profiles by default (:meth:`Study.qsts`). [-]
STREAM_MIN_STEPS = 1 << 20

QUASI_STATIC_NOTE = ("Quasi-static time series: one phasor power flow per step with constant-power loads; not an "
                     "electromagnetic-transient or dynamic simulation.")


def _preset_of(criteria: Any) -> CriteriaPreset:
    from gridstudy.studies.criteria.presets import CriteriaPreset, get_preset

    if isinstance(criteria, CriteriaPreset):
        return criteria
    if isinstance(criteria, str):
        return get_preset(criteria)
    raise StudyError([Problem("criteria", "must be a preset name or a CriteriaPreset", type(criteria).__name__)])


def _site_spec_of(site: Any, base_dir: Path) -> tuple[SiteSpec | None, Site | None]:
    """A site argument as ``(SiteSpec, None)`` or, for a built site, ``(None, Site)``."""
    from gridstudy.grid.errors import InputError
    from gridstudy.grid.reference import reference_site_path, reference_sites
    from gridstudy.grid.site import Site
    from gridstudy.grid.spec import SiteSpec, load_site_spec

    if isinstance(site, Site):
        return None, site
    if isinstance(site, SiteSpec):
        return site, None
    if isinstance(site, (str, Path)):
        s = str(site)
        try:
            if s in reference_sites():
                return load_site_spec(reference_site_path(s)), None
            p = Path(s)
            p = p if p.is_absolute() else base_dir / p
            if p.suffix != ".toml":
                raise StudyError([Problem("study.site", f"not a reference site ({', '.join(reference_sites())}) "
                                                        "nor a .toml site file", s)])
            return load_site_spec(p), None
        except StudyError:
            raise
        except InputError as exc:
            raise StudyError([Problem(f"study.site: {q.path}", q.message, q.value, q.has_value)
                              for q in exc.problems]) from None
    raise StudyError([Problem("site", "must be a reference site name, a site TOML path, a SiteSpec or a Site",
                              type(site).__name__)])


def _strategy_params(strategy: Strategy) -> dict[str, Any]:
    """The keyword parameters a strategy was made with (beyond plant, recovery and reactive)."""
    sig = inspect.signature(type(strategy).__init__)
    skip = {"self", "plant", "recovery", "reactive"}
    return {k: getattr(strategy, k) for k, p in sig.parameters.items()
            if k not in skip and p.kind is not p.VAR_KEYWORD and hasattr(strategy, k)}


@dataclass
class Study:
    """One interconnection study.

    Parameters
    ----------
    site : str, Path, SiteSpec or Site
        A reference site name, a site TOML, a validated site description, or a built site (copied
        before every run, never changed).
    campus : CampusLoadParams or pandas.DataFrame or None
        The campus load model, or a measured series with ``campus_p_mw`` [MW] (and optionally
        ``campus_q_mvar`` [Mvar]) on ``index``; ``None``: the default model sized to the site's
        campus peak.
    battery : MegapackPlant or None
        The battery plant; ``None`` takes ``strategy.plant`` (no battery without a strategy).
    strategy : Strategy or None
        Dispatch strategy of the ``with_battery`` scenario, bound to ``battery``.
    criteria : str or CriteriaPreset
        Criteria preset (``generic-utility``, ``ercot``, ``ieso``, ``southern``) or a preset.
    index : pandas.DatetimeIndex
        The horizon, fixed step (default: the campus series' index).
    scenarios : mapping of str to Strategy or None
        Further named alternatives beside ``without_battery`` and ``with_battery`` (``None``: the
        battery idle).
    scenario_campus : mapping of str to CampusLoadParams
        The campus of those alternatives that change it (e.g. GPU-side smoothing); the others run
        the study's.
    campus_voltage : CampusVoltageResponse or None
        How the campus draw depends on its voltage; the sag events always apply it (``None``: the
        model's defaults), the time series when ``campus_voltage_time_series``.
    campus_voltage_time_series : bool
        Apply ``campus_voltage`` in the time series too (default: constant power there).
    contingencies : ContingencySection or mapping
        N-1 over time: ``enabled``, ``window``, ``workers``, ``scenarios``.
    sag : SagSection or mapping
        Sag-mitigation events.
    name : str
        Study name, for the outputs.
    text : str
        The study file's text, kept with the results (empty for a study made of objects).
    path : Path or None
        The study file.
    campus_description : mapping
        How the campus was given, for the summary (filled in from ``campus`` when empty).
    page_size : {'Letter', 'A4'} or None
        PDF page size of the report, saved in the summary; ``None``: the criteria preset's.
    """

    site: Any
    campus: Any = None
    battery: MegapackPlant | None = None
    strategy: Strategy | None = None
    criteria: Any = "generic-utility"
    index: pd.DatetimeIndex | None = None
    scenarios: Mapping[str, Strategy | None] = field(default_factory=dict)
    scenario_campus: Mapping[str, Any] = field(default_factory=dict)
    contingencies: Any = field(default_factory=ContingencySection)
    sag: Any = field(default_factory=SagSection)
    fluctuation: Any = field(default_factory=FluctuationSection)
    campus_voltage: Any = None
    campus_voltage_time_series: bool = False
    name: str = "study"
    text: str = ""
    path: Path | None = None
    campus_description: Mapping[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path)
    page_size: str | None = None

    def __post_init__(self) -> None:
        from gridstudy.models.campus import CampusLoadParams, gpus_for_peak
        from gridstudy.studies.qsts.inputs import check_index

        problems: list[Problem] = []
        self.site_spec, self._site = _site_spec_of(self.site, Path(self.base_dir))
        self.preset = _preset_of(self.criteria)
        if isinstance(self.contingencies, Mapping):
            self.contingencies = ContingencySection.model_validate(dict(self.contingencies))
        if isinstance(self.sag, Mapping):
            self.sag = SagSection.model_validate(dict(self.sag))
        if isinstance(self.fluctuation, Mapping):
            self.fluctuation = FluctuationSection.model_validate(dict(self.fluctuation))
        if self.battery is None and self.strategy is not None:
            self.battery = self.strategy.plant
        if self.strategy is not None and self.strategy.plant is not self.battery:
            problems.append(Problem("strategy", "is bound to another plant than battery", self.strategy.name))
        if self.page_size not in (None, "Letter", "A4"):
            problems.append(Problem("page_size", "must be 'Letter' or 'A4'", self.page_size))
        if isinstance(self.campus, pd.DataFrame):
            if "campus_p_mw" not in self.campus:
                problems.append(Problem("campus.campus_p_mw", "required column is missing", None, has_value=False))
            if self.index is None:
                self.index = pd.DatetimeIndex(self.campus.index)
        if self.index is None:
            problems.append(Problem("index", "required (the study horizon, a fixed-step DatetimeIndex)", None,
                                    has_value=False))
        if problems:
            raise StudyError(problems, source=str(self.path) if self.path else None)
        check_index(self._horizon, "index")
        if self.campus is None:
            one = CampusLoadParams(gpus=1)
            self.campus = one.replace(gpus=gpus_for_peak(self.campus_peak_mw, one))
        if not self.campus_description:
            self.campus_description = (self.campus.as_dict() if isinstance(self.campus, CampusLoadParams)
                                       else {"trace": "given as a series"})
        fl = self.fluctuation
        for key, length in (("window_s", fl.window_s), ("warmup_s", fl.warmup_s)):
            n = length / fl.step_s
            if abs(n - round(n)) > 1e-6:
                problems.append(Problem(f"fluctuation.{key}", f"must be a whole number of sub-second steps "
                                                               f"({fl.step_s:g} s)", length))
        horizon = self._horizon
        end = horizon[0] + pd.Timedelta(seconds=len(horizon) * self.step_s)
        for k, w in enumerate(fl.windows):
            t = pd.Timestamp(w)
            if t < horizon[0] or t + pd.Timedelta(seconds=fl.window_s) > end:
                problems.append(Problem(f"fluctuation.windows[{k}]", f"the {fl.window_s:g}-s window must lie inside the "
                                                                    f"horizon {horizon[0]} .. {end}", w))
        known = {"without_battery", "with_battery", *self.scenarios}
        for k, n in enumerate(self.contingencies.scenarios):
            if n not in known:
                problems.append(Problem(f"contingencies.scenarios[{k}]",
                                        f"unknown scenario; known: {', '.join(sorted(known))}", n))
        if problems:
            raise StudyError(problems, source=str(self.path) if self.path else None)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> Study:
        """Read, validate and resolve a study file (every problem listed in one :class:`StudyError`).

        Every section is validated, ``[sizing]`` and ``[sweep]`` included, so one file serves every
        command.
        """
        from gridstudy.studies.spec.scale import load_scale_study

        return cls.from_scale(load_scale_study(path))

    @classmethod
    def from_scale(cls, scale: Any) -> Study:
        """A study from a validated file (:class:`~gridstudy.studies.spec.scale.ScaleStudy`)."""
        from gridstudy.studies.spec.interconnection import parse_interconnection

        spec, ic = parse_interconnection(scale.study_raw, source=str(scale.path))
        return cls.from_parts(scale.study_raw, spec, ic, base_dir=scale.path.parent, path=scale.path, text=scale.text)

    @classmethod
    def from_parts(cls, raw: Mapping[str, Any], spec: Any, ic: Any, *, base_dir: Path, path: Path | None = None,
                   text: str = "") -> Study:
        """A study from a validated file's sections (:func:`~gridstudy.studies.spec.interconnection.parse_interconnection`)."""
        from gridstudy.studies.criteria import RAMP_PRESETS, custom_preset, get_preset
        from gridstudy.studies.spec.sections import parse_study, resolve_study

        source = str(path) if path is not None else None
        resolved = resolve_study(spec, base_dir=base_dir, source=source)
        from gridstudy.studies.spec.interconnection import scenario_raw

        alternatives: dict[str, Strategy | None] = {}
        scenario_campus: dict[str, Any] = {}
        for sc in ic.scenarios:
            alt = resolve_study(parse_study(scenario_raw(dict(raw), sc.model_dump())), base_dir=base_dir, source=source)
            alternatives[sc.name] = alt.strategy
            if sc.campus and alt.campus_params is not None:
                scenario_campus[sc.name] = alt.campus_params
        preset = get_preset(ic.criteria.preset)
        if ic.criteria.ramp is not None:
            preset = custom_preset(f"{preset.name}+{ic.criteria.ramp}", preset, ramps=RAMP_PRESETS[ic.criteria.ramp])
        if ic.criteria.disturbance_counter is not None:
            import dataclasses

            set_ = ic.criteria.disturbance_counter.model_dump(exclude_none=True)
            preset = custom_preset(preset.name, preset,
                                   disturbance_counter=dataclasses.replace(preset.disturbance_counter, **set_))
        campus: Any = resolved.trace[["campus_p_mw", "campus_q_mvar"]] if resolved.trace is not None \
            else resolved.campus_params
        vr = spec.campus.voltage_response
        cv = vr.model() if vr is not None else None
        cv_ts = bool(vr.time_series) if vr is not None else False
        desc = (resolved.campus_params.as_dict() if resolved.campus_params is not None
                else {"trace": spec.campus.trace.path})
        return cls(site=resolved.site_spec, campus=campus, battery=resolved.plant, strategy=resolved.strategy,
                   criteria=preset, index=resolved.index, scenarios=alternatives, scenario_campus=scenario_campus, contingencies=ic.contingencies,
                   sag=ic.sag, fluctuation=ic.fluctuation, campus_voltage=cv, campus_voltage_time_series=cv_ts,
                   name=spec.study.name, text=text, path=path, campus_description=desc,
                   base_dir=base_dir, page_size=ic.report.page_size)

    def with_battery(self, battery: MegapackPlant | None, strategy: Strategy | None) -> Study:
        """A copy of this study with another plant and strategy (same site, campus, horizon, criteria)."""
        new = copy.copy(self)
        new.battery, new.strategy = battery, strategy
        new.scenarios = {}
        return new

    # -- the parts ----------------------------------------------------------------------------
    @property
    def campus_peak_mw(self) -> float:
        """The site's campus peak (the SCR denominator). [MW]"""
        if self.site_spec is not None:
            return float(self.site_spec.campus.p_mw)
        assert self._site is not None  # _site_spec_of gives a built Site where it gives no spec
        return float(self._site.campus_p_mw)

    @property
    def _horizon(self) -> pd.DatetimeIndex:
        """``index``, which ``__post_init__`` fills in or refuses to go without."""
        assert self.index is not None
        return self.index

    @property
    def step_s(self) -> float:
        """Study step. [s]"""
        return float(pd.Timedelta(cast(pd.offsets.Tick, self._horizon.freq)).total_seconds())  # fixed step: a Tick

    @property
    def sha256(self) -> str:
        """SHA-256 of the study file's text (empty text for a study made of objects)."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    def campus_for(self, scenario: str | None = None) -> Any:
        """The campus of a scenario: its own (``scenario_campus``, e.g. with GPU-side smoothing) or
        the study's."""
        return self.scenario_campus.get(scenario, self.campus) if scenario is not None else self.campus

    def campus_profile(self, index: pd.DatetimeIndex | None = None, scenario: str | None = None) -> pd.DataFrame:
        """Campus ``campus_p_mw`` [MW] and ``campus_q_mvar`` [Mvar] on the horizon (or ``index``), of
        the study or of ``scenario``; ``attrs["smoothing_extra_mwh"]``: energy GPU-side smoothing
        burns (0 without). [MWh]"""
        from gridstudy.models.campus import campus_load

        index = self._horizon if index is None else index
        campus = self.campus_for(scenario)
        if isinstance(campus, pd.DataFrame):
            df = campus.reindex(index)
            if "campus_q_mvar" not in df:
                df = df.assign(campus_q_mvar=0.0)
            return df[["campus_p_mw", "campus_q_mvar"]]
        full = campus_load(index, campus)
        out = full[["campus_p_mw", "campus_q_mvar"]]
        out.attrs["smoothing_extra_mwh"] = float(full.attrs.get("smoothing_extra_mwh", 0.0))
        return out

    def build_site(self) -> Site:
        """The site this study runs on: a fresh net, OLTC taps settled at the campus draw of the first
        step with the battery idle (:func:`gridstudy.grid.basecase.settle_taps`), storage rated to the
        study's plant (:func:`gridstudy.grid.build.rate_storage`, which keeps ``site.battery`` true)."""
        from gridstudy.grid.basecase import settle_taps
        from gridstudy.grid.build import rate_storage
        from gridstudy.grid.reference import site_from_spec

        if self.site_spec is not None:
            site = site_from_spec(self.site_spec)
        else:
            assert self._site is not None  # _site_spec_of gives a built Site where it gives no spec
            site = copy.deepcopy(self._site)
        first = float(self.campus_profile(self._horizon[:2])["campus_p_mw"].iloc[0])
        settle_taps(site, first)
        if self.battery is not None:
            rate_storage(site, self.plant_ratings(self.battery))
        return site

    @staticmethod
    def plant_ratings(plant: MegapackPlant) -> BatteryPlant:
        """The grid-layer ratings of a models-layer plant."""
        from gridstudy.grid.site import BatteryPlant

        return BatteryPlant(model=plant.model, units=int(plant.units), p_mw=float(plant.p_max_mw),
                            e_mwh=float(plant.e_max_mwh), s_mva=float(plant.s_max_mva),
                            round_trip_efficiency=float(plant.rte), soc_percent=float(plant.soc_init_percent))

    def strategies(self) -> dict[str, Strategy | None]:
        """``scenario -> strategy`` (``None``: battery idle), in run order."""
        out: dict[str, Strategy | None] = {"without_battery": None}
        if self.strategy is not None:
            out["with_battery"] = self.strategy
        out.update(self.scenarios)
        return out

    def profiles(self, campus: pd.DataFrame | None = None, only: str | None = None) -> dict[str, pd.DataFrame]:
        """Campus and battery series of every scenario (or of scenario ``only``), columns
        :data:`gridstudy.models.dispatch.OUTPUT_COLUMNS`."""
        from gridstudy.models.dispatch import OUTPUT_COLUMNS, dispatch

        base = self.campus_profile() if campus is None else campus
        out = {}
        for name, strat in self.strategies().items():
            if only is not None and name != only:
                continue
            campus = self.campus_profile(pd.DatetimeIndex(base.index), name) if name in self.scenario_campus else base
            if strat is None:
                idle = _idle_profile(campus)[list(OUTPUT_COLUMNS)]
                idle.attrs.update({"step_s": self.step_s, "e0_mwh": float("nan"), "saturated_steps": 0,
                                   "strategy": "battery idle"})
                out[name] = idle
            else:
                out[name] = dispatch(campus, strategy=strat)
            out[name].attrs["smoothing_extra_mwh"] = float(campus.attrs.get("smoothing_extra_mwh", 0.0))
            if name in self.scenario_campus and getattr(self.scenario_campus[name], "smoothing", None) is not None:
                out[name].attrs["strategy"] = f"{out[name].attrs.get('strategy', 'battery idle')} + GPU-side smoothing"
        return out

    def profile_parts(self, scenario: str, chunk_steps: int = STREAM_CHUNK_STEPS) -> Iterator[pd.DataFrame]:
        """The profiles of ``scenario`` (as :meth:`profiles` gives them) in consecutive parts of
        ``chunk_steps`` steps: the campus model (:func:`gridstudy.models.campus.campus_chunks`) and
        the dispatch (:func:`gridstudy.models.dispatch.dispatch_chunks`) of one part after the
        other, each carrying its state exactly; concatenated, the parts equal :meth:`profiles`."""
        from gridstudy.models.campus import campus_chunks
        from gridstudy.models.dispatch import OUTPUT_COLUMNS, dispatch_chunks

        campus = self.campus_for(scenario)
        index = self._horizon
        if isinstance(campus, pd.DataFrame):
            whole = self.campus_profile(index, scenario)
            parts: Iterator[pd.DataFrame] = (whole.iloc[c0:c0 + chunk_steps] for c0 in range(0, len(index), chunk_steps))
        else:
            parts = (c[["campus_p_mw", "campus_q_mvar"]] for c in campus_chunks(index, campus, chunk_steps))
        strat = self.strategies()[scenario]
        if strat is None:
            for c in parts:
                yield _idle_profile(c)[list(OUTPUT_COLUMNS)]
            return
        yield from dispatch_chunks(parts, copy.deepcopy(strat))  # a copy: the study's strategy keeps its state

    def profile_stream(self, scenario: str, chunk_steps: int = STREAM_CHUNK_STEPS, prefetch: int = 0,
                       process: bool = False) -> ProfileStream:
        """The engine profiles of ``scenario`` made part by part (:class:`~gridstudy.studies.qsts.inputs.ProfileStream`):
        bounded memory whatever the horizon; ``prefetch`` parts made ahead [-] in a second thread, or
        with ``process`` in a child process (the second core without this process's interpreter lock)."""
        from gridstudy.studies.qsts.inputs import ProfileStream

        parts = _EngineParts(self, scenario, int(chunk_steps), self.controls(scenario).volt_var is not None)
        return ProfileStream(self._horizon, ENGINE_COLUMNS, parts, prefetch=prefetch, process=process)

    def controls(self, scenario: str) -> Controls:
        """The engine controls of a scenario (volt-var when its strategy asks for it)."""
        from gridstudy.studies.qsts.inputs import Controls

        strat = self.strategies()[scenario]
        cv = self.campus_voltage if self.campus_voltage_time_series else None
        if strat is not None and strat.reactive.mode == "volt_var":
            return Controls(volt_var=strat.reactive.curve, campus_voltage=cv)
        return Controls(campus_voltage=cv)

    def qsts_inputs(self, site: Site, scenario: str, profiles: pd.DataFrame | ProfileStream,
                    record: RecordSpec | None = None) -> QSTSInputs:
        """The engine inputs of one scenario on ``site`` (``profiles``: a frame or :meth:`profile_stream`)."""
        from gridstudy.models.element_profiles import element_profiles
        from gridstudy.studies.qsts.inputs import ProfileStream, QSTSInputs, RecordSpec

        if isinstance(profiles, ProfileStream):
            return QSTSInputs(site, profiles, self.controls(scenario), record or RecordSpec(),
                              elements=element_profiles(site, profiles.index))
        prof = profiles[list(ENGINE_COLUMNS)].copy()
        prof.attrs = {}
        ctrl = self.controls(scenario)
        if ctrl.volt_var is not None:
            prof["battery_q_mvar"] = 0.0  # decided per step inside the engine
        return QSTSInputs(site, prof, ctrl, record or RecordSpec(), elements=element_profiles(site, cast(pd.DatetimeIndex, prof.index)))

    def check_engine(self, site: Site, engine: str) -> None:
        """Refuse, before any run, what the chosen engine cannot model (every problem listed)."""
        from gridstudy.studies.spec.limits import check_first_block

        # a base case that does not converge stops here (voltage collapse), before every step is solved
        check_first_block(site, float(self.campus_profile(self._horizon[:2])["campus_p_mw"].iloc[0]))
        if engine != "fast":
            return
        from gridstudy.studies.qsts.fast import unsupported_features
        from gridstudy.studies.qsts.inputs import QSTSInputs

        idx = self._horizon[:2]
        probe = QSTSInputs(site, pd.DataFrame({"campus_p_mw": [0.0] * len(idx)}, index=idx))
        problems = unsupported_features(probe)
        if problems:
            raise StudyError(problems, source=str(self.path) if self.path else None)

    # -- running ------------------------------------------------------------------------------
    def qsts(self, engine: str = "fast", *, quiet: bool = True, record: RecordSpec | None = None,
             site: Site | None = None, stream: bool | None = None, prefetch: int = 1) -> dict[str, QSTSResult]:
        """The quasi-static time series of every scenario (:meth:`qsts_each`, gathered)."""
        return dict(self.qsts_each(engine, quiet=quiet, record=record, site=site, stream=stream, prefetch=prefetch))

    def qsts_each(self, engine: str = "fast", *, quiet: bool = True, record: RecordSpec | None = None,
                  site: Site | None = None, stream: bool | None = None,
                  prefetch: int = 1) -> Iterator[tuple[str, QSTSResult]]:
        """The quasi-static time series of each scenario, ``(name, result)`` as each finishes (a
        caller that saves and drops each holds one scenario's results at a time).

        ``stream``: hand the engine the profiles part by part (:meth:`profile_stream`, bounded
        memory, the same results) instead of whole frames; default: on the fast engine for horizons
        over :data:`STREAM_MIN_STEPS`. ``prefetch``: parts a second thread makes ahead. [-]
        ``record``: what to record; default: every series in full, or on a streamed run 1-minute
        envelopes of them (a streamed run asks for the full series by passing ``record``).
        A streamed run is judged on the way (:class:`gridstudy.studies.judge.streamed.StreamJudge`:
        convergence, bus bands, thermal, grid-side variation, POI power factor): each result's
        ``summary["criteria"]`` holds ``criterion -> {passed, worst_value, unit}``. A run of whole
        frames is not judged here (:meth:`run` judges a study).
        """
        from gridstudy.studies.qsts.inputs import RecordSpec
        from gridstudy.studies.qsts.run import run_qsts

        site = self.build_site() if site is None else site
        self.check_engine(site, engine)
        if stream is None:
            stream = engine == "fast" and len(self._horizon) > STREAM_MIN_STEPS
        if not stream:
            for name, prof in self.profiles().items():
                yield name, run_qsts(self.qsts_inputs(site, name, prof, record), engine=engine, quiet=quiet)
            return
        from gridstudy.studies.judge.streamed import StreamJudge
        from gridstudy.studies.qsts.fast import run_fast
        from gridstudy.studies.qsts.results import ResultRecorder

        record = RecordSpec(envelope_freq="1min") if record is None else record
        for name in self.strategies():
            ps = self.profile_stream(name, prefetch=prefetch, process=prefetch > 0)
            inputs = self.qsts_inputs(site, name, ps, record)
            judge = StreamJudge(ResultRecorder(site, ps.index, record, engine="fast"), site, self.preset)
            ps.start()  # the child process forks here, before the engine starts its threads
            try:
                if engine != "fast":  # the reference engine takes the parts as one frame, unjudged
                    res = run_qsts(inputs, engine=engine, quiet=quiet)
                else:
                    res = run_fast(inputs, quiet=quiet, recorder=judge)
                    res.summary["criteria"] = judge.summary(res)
            finally:
                ps.close()
            yield name, res
            del res, judge, inputs, ps  # nothing of this scenario is held while the next one runs

    def run(self, engine: str = "fast", *, contingencies: bool = True, sag: bool = True, fluctuation: bool = True,
            quiet: bool = True,
            say: Callable[[str], None] | None = None) -> StudyResult:
        """Run the whole study: every scenario judged, N-1 over the worst window, sag events.

        Parameters
        ----------
        engine : {'fast', 'reference'}
            QSTS engine.
        contingencies, sag : bool
            Run N-1 over time / the sag events (when the study enables them).
        quiet : bool
            No progress bars.
        say : callable, optional
            Receives one line per stage (progress for a command line).

        Returns
        -------
        StudyResult
            Held in memory; :meth:`StudyResult.save` writes it.
        """
        from gridstudy.grid.basecase import check_site
        from gridstudy.grid.topology import site_outages
        from gridstudy.studies.judge.findings import scenario_findings, scenario_summary
        from gridstudy.studies.output.result import StudyResult
        from gridstudy.studies.qsts.run import run_qsts
        from gridstudy.studies.stages.contingency import run_contingencies, window_start_site, worst_window
        from gridstudy.studies.stages.sag import run_sag_events

        say = say or (lambda line: None)
        t_start = time.perf_counter()
        site = self.build_site()
        self.check_engine(site, engine)
        campus = self.campus_profile()
        profs = self.profiles(campus)
        site_summary = check_site(site)
        results: dict[str, QSTSResult] = {}
        findings: dict[str, list] = {}
        scen_summary: dict[str, dict] = {}
        for name, prof in profs.items():
            say(f"QSTS {name}: {len(prof)} steps of {self.step_s:g} s on {site.name} ({engine} engine)")
            res = run_qsts(self.qsts_inputs(site, name, prof), engine=engine, quiet=quiet)
            results[name] = res
            findings[name] = scenario_findings(site, res, self.preset, prof)

        from gridstudy.studies.stages.fluctuation import assess, summary_block, summary_keys

        fluct = assess(self, site, results, profs, engine, say) if fluctuation else None
        for name, prof in profs.items():
            if fluct is not None:  # the sub-second findings replace their study-step counterparts
                findings[name] = [f for f in findings[name] if f.id not in fluct.replaced_ids] + fluct.findings[name]
            scen_summary[name] = scenario_summary(site, results[name], findings[name], prof, self.preset)
            scen_summary[name]["strategy"] = prof.attrs.get("strategy", "battery idle")
            scen_summary[name]["gpu_smoothing_extra_mwh"] = float(prof.attrs.get("smoothing_extra_mwh", 0.0))
            if fluct is not None:
                scen_summary[name].update(summary_keys(fluct, name, scen_summary[name]["max_p2p_mw_5s"]))

        cont_rows: list[dict] = []
        loss_rows: list[dict] = []
        window_note = ""
        cs = self.contingencies
        if contingencies and cs.enabled:
            credible, lost = site_outages(site)
            loss_rows = [{"outage": o.label, "element": o.element, "index": o.index,
                          "result": "loss of supply (POI islanded): not run"} for o in lost]
            poi0 = results["without_battery"].series["poi_vm_pu"]
            sl = worst_window(poi0, cs.window)
            window_note = (f"{cs.window} window centred on the lowest N-0 POI voltage without battery: "
                           f"{poi0.index[sl.start]} to {poi0.index[sl.stop - 1]}")
            window_note += ("; each outage starts from the N-0 tap positions and state of charge at the window start "
                            "(tap-changer delay timers at zero)")
            from gridstudy.studies.stages.contingency import FULL_SERIES_MAX_STEPS

            whole = sl.start == 0 and sl.stop == len(poi0) and len(poi0) > FULL_SERIES_MAX_STEPS and engine == "fast"
            # the whole of a long horizon: each outage makes its own profiles part by part (streaming)
            sel = {n: (self.profile_stream(n) if whole else profs[n][list(ENGINE_COLUMNS)].iloc[sl], self.controls(n))
                   for n in cs.scenarios if n in profs}
            starts = {n: window_start_site(site, results[n], sl.start, profs[n]) for n in sel}
            say(f"N-1: {len(credible)} credible outages x {len(sel)} scenarios over {window_note}; "
                f"{len(lost)} loss-of-supply outages")
            cont_rows = run_contingencies(site, credible, sel, self.preset, engine, cs.workers, start_sites=starts)

        sag_rows: list[dict] = []
        sag_series = pd.DataFrame()
        if sag and self.sag.enabled:
            say(f"sag events: {len(self.sag.events)} at {self.sag.step_s:g} s step")
            name, kw, curve = self._event_strategy()
            sag_rows, sag_series = run_sag_events(site, self.sag, self.battery, self.preset, engine, kw,
                                                  curve=curve, strategy=name, campus_voltage=self.campus_voltage)

        from gridstudy.studies.stages.load_loss import largest_load_loss

        say("largest credible load loss: POI voltage rise and frequency screen")
        lll = largest_load_loss(site, campus, self.preset, scen_summary, loss_rows, sag_rows)
        summary = self._summary(site, campus, engine, site_summary, scen_summary, window_note, cont_rows,
                                loss_rows, sag_rows)
        summary["largest_load_loss"] = lll
        from gridstudy.studies.spec.limits import study_warnings

        summary["warnings"] = study_warnings(self, site_summary)
        summary["fluctuation"] = summary_block(self, fluct)
        summary["latency_sensitivity"] = fluct.latency_sensitivity if fluct is not None else []
        summary["runtime_s"] = time.perf_counter() - t_start
        tables: dict[str, pd.DataFrame] = {}
        if fluct is not None:
            from gridstudy.studies.stages.fluctuation import spectra_table, windows_table

            tables = {"fluctuation_windows": windows_table(fluct), "fluctuation_spectra": spectra_table(fluct)}
        return StudyResult(summary=summary, scenarios=results, findings=findings, profiles=profs,
                           contingencies=cont_rows, sag_series=sag_series, site=site, study_text=self.text,
                           tables=tables)

    def _event_strategy(self) -> tuple[str, dict[str, Any], Any]:
        """The battery strategy of the sag events: the study's own with its parameters, or load-loss
        absorption when the study's battery is idle; and the volt-var curve they use."""
        from gridstudy.studies.qsts.inputs import VoltVarCurve

        s = self.strategy
        if s is None or s.name == "none":
            return "load_loss_absorption", {}, VoltVarCurve()
        curve = s.reactive.curve if s.reactive.mode == "volt_var" else VoltVarCurve()
        return s.name, _strategy_params(s), curve

    def _summary(self, site: Site, campus: pd.DataFrame, engine: str, site_summary: dict, scen_summary: dict,
                 window_note: str, cont_rows: list[dict], loss_rows: list[dict], sag_rows: list[dict]) -> dict:
        from gridstudy.studies.criteria.voltage import voltage_class

        plant, strat = self.battery, self.strategy
        bands = {}
        for _, row in site.net.bus.iterrows():
            vb = self.preset.band(voltage_class(float(row["vn_kv"])), "n-0")
            bands[str(row["name"])] = [vb.vmin_pu, vb.vmax_pu]
        return {
            "study": self.name, "site": site.name, "site_description": site.description,
            "steps": len(campus), "step_s": self.step_s, "start": campus.index[0], "end": campus.index[-1],
            "engine": engine, "criteria_preset": self.preset.name, "input_sha256": self.sha256,
            "site_summary": site_summary,
            "battery": None if plant is None else {
                "model": plant.model, "units": plant.units, "p_mw": plant.p_max_mw, "e_mwh": plant.e_max_mwh,
                "s_mva": plant.s_max_mva, "soc_min_percent": plant.soc_min_percent,
                "soc_max_percent": plant.soc_max_percent,
                "strategy": strat.name if strat is not None else "none",
                "reactive": strat.reactive.mode if strat is not None else "none",
                "response": (dict(strat.response.describe(), total_latency_s=strat.response.total_latency_s)
                             if strat is not None and strat.response is not None else None),
            },
            "campus_model": dict(self.campus_description),
            "campus_voltage_model": {
                "time_series": "voltage-dependent" if self.campus_voltage_time_series else "constant power",
                "sag_events": "voltage-dependent",
                "parameters": dataclasses.asdict(self.campus_voltage) if self.campus_voltage is not None else "defaults",
            },
            "scenarios": scen_summary,
            "bus_bands_n0": bands,
            "contingency_window": window_note,
            "contingencies": [{k: v for k, v in r.items() if k != "criteria"} for r in cont_rows],
            "loss_of_supply": loss_rows,
            "sag_events": sag_rows,
            "pass": all(s["pass"] for s in scen_summary.values()),
            "quasi_static_note": QUASI_STATIC_NOTE,
            "page_size": self.page_size or self.preset.page_size,
        }


@dataclass(frozen=True)
class _EngineParts:
    """The engine columns of :meth:`Study.profile_parts`, a fresh pass per call (picklable, so a
    stream can go to a worker process)."""

    study: Study
    scenario: str
    chunk_steps: int
    volt_var: bool

    def __call__(self) -> Iterator[pd.DataFrame]:
        for p in self.study.profile_parts(self.scenario, self.chunk_steps):
            p = p[list(ENGINE_COLUMNS)]
            if self.volt_var:
                p = p.assign(battery_q_mvar=0.0)  # decided per step inside the engine
            yield p


def _idle_profile(campus: pd.DataFrame) -> pd.DataFrame:
    """The profiles of a scenario whose battery stays idle, on the campus series' index."""
    n = len(campus)
    return pd.DataFrame({
        "campus_p_mw": campus["campus_p_mw"].to_numpy(), "campus_q_mvar": campus["campus_q_mvar"].to_numpy(),
        "battery_p_mw": np.zeros(n), "battery_q_mvar": np.zeros(n), "soc_percent": np.full(n, np.nan),
        "e_mwh": np.full(n, np.nan), "grid_p_mw": campus["campus_p_mw"].to_numpy(),
        "grid_q_mvar": campus["campus_q_mvar"].to_numpy(), "saturated": np.zeros(n, dtype=bool),
    }, index=campus.index)

