"""What every stage of a study takes: the :class:`StudySetup`.

A setup is the study's inputs made ready to run: the site (built fresh per run, taps settled at
the first step's load, storage rated to the plant), the campus of each scenario, the battery and
its strategies, the horizon, the engine controls, and the engine inputs of each scenario. The
stages (:mod:`gridstudy.studies.stages`) and the scale tools take a setup; the
:class:`~gridstudy.studies.study.Study` is a setup with its named steps.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandapower as pp
import pandas as pd
from pydantic import ValidationError

from gridstudy.grid.basecase import is_divergence, settle_taps, short_circuit_mva_at, solve_idle_battery
from gridstudy.grid.build import rate_storage
from gridstudy.grid.errors import InputError, Problem
from gridstudy.grid.reference import site_from_spec
from gridstudy.grid.site import BatteryPlant, Site
from gridstudy.grid.spec import GridEquivalentSpec, SiteSpec, load_site_spec
from gridstudy.models.campus import CampusLoadParams, campus_chunks, campus_for_peak, campus_load
from gridstudy.models.dispatch import OUTPUT_COLUMNS, default_volt_var, dispatch, dispatch_chunks
from gridstudy.models.element_profiles import element_profiles
from gridstudy.models.grid_forming import GridFormingControl, loop_spectral_radius, synchronizing_coefficient
from gridstudy.models.plant_control import PlantControl
from gridstudy.models.plant_response import PlantResponse
from gridstudy.models.timeindex import FixedHorizon, Horizon, as_index, step_seconds
from gridstudy.studies.criteria.presets import CriteriaPreset, get_preset
from gridstudy.studies.errors import NotConvergedError, StudyError
from gridstudy.studies.io import text_sha256
from gridstudy.studies.qsts.fast import unsupported_features
from gridstudy.studies.qsts.inputs import Controls, ProfileStream, QSTSInputs, RecordSpec, check_index
from gridstudy.studies.spec.interconnection import (
    ContingencySection,
    DynamicsSection,
    FluctuationSection,
    SagSection,
    fluctuation_window_problems,
    unknown_scenario_problems,
)
from gridstudy.studies.spec.limits import STREAM_PART_STEPS, plant_warnings
from gridstudy.studies.spec.sections import site_file

if TYPE_CHECKING:
    from gridstudy.grid.site import BatteryPlant, Site
    from gridstudy.grid.spec import SiteSpec
    from gridstudy.models.battery import MegapackPlant
    from gridstudy.models.dispatch import Strategy
    from gridstudy.studies.criteria.presets import CriteriaPreset
    from gridstudy.studies.qsts.inputs import Controls, ProfileStream, QSTSInputs, RecordSpec

__all__ = ["StudySetup", "ENGINE_COLUMNS"]

#: The profile columns a scenario hands to the engine.
ENGINE_COLUMNS = ("campus_p_mw", "campus_q_mvar", "battery_p_mw", "battery_q_mvar")


def _preset_of(criteria: Any) -> CriteriaPreset:

    if isinstance(criteria, CriteriaPreset):
        return criteria
    if isinstance(criteria, str):
        return get_preset(criteria)
    raise StudyError([Problem("criteria", "must be a preset name or a CriteriaPreset", type(criteria).__name__)])


def _site_spec_of(site: Any, base_dir: Path) -> tuple[SiteSpec | None, Site | None]:
    """A site argument as ``(SiteSpec, None)`` or, for a built site, ``(None, Site)``."""

    if isinstance(site, Site):
        return None, site
    if isinstance(site, SiteSpec):
        return site, None
    if isinstance(site, (str, Path)):
        try:
            where = site_file(str(site), base_dir)
            if isinstance(where, Problem):
                raise StudyError([where])
            return load_site_spec(where), None
        except InputError as exc:
            if isinstance(exc, StudyError):
                raise
            raise StudyError([Problem(f"study.site: {q.path}", q.message, q.value, q.has_value)
                              for q in exc.problems]) from None
    raise StudyError([Problem("site", "must be a reference site name, a site TOML path, a SiteSpec or a Site",
                              type(site).__name__)])



#: Longest step at which a grid-forming plant's power loop is advanced step by step; at longer
#: steps (the study step of a day, 1 s) the loop settles within the step (tens to a few hundred
#: milliseconds, docs/sources/megapack.md §9) and the plant delivers its set-point. [s]
GFM_LOOP_MAX_STEP_S = 0.1
#: The loop is stable when its spectral radius is below this at every synchronizing coefficient
#: of ``GFM_K_RANGE`` × the site's estimate (a radius near 1 from a slow mode is a slow settling,
#: not an instability, so the margin is on K, not on the radius). [-]
GFM_MAX_RADIUS = 1.0
#: Range of the synchronizing coefficient checked, as factors of the estimate from the short-circuit
#: level (the estimate neglects the operating point: 2.57 against 2.38 pu/rad measured on memphis). [-]
GFM_K_RANGE = (0.5, 1.25)


@dataclass
class StudySetup:
    """The inputs of one interconnection study, validated and ready to run.

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
    index : pandas.DatetimeIndex or FixedHorizon
        The horizon, fixed step (default: the campus series' index); a
        :class:`~gridstudy.models.timeindex.FixedHorizon` (what a study file gives) holds no labels:
        :attr:`horizon` makes them for the stages that take whole frames, a streamed run makes
        each part's as it goes (:attr:`steps`).
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
    dynamics : DynamicsSection or mapping
        The RMS check of the worst moments (off by default; :mod:`gridstudy.studies.stages.dynamics`).
    """

    site: Any
    campus: Any = None
    battery: MegapackPlant | None = None
    strategy: Strategy | None = None
    criteria: Any = "generic-utility"
    index: pd.DatetimeIndex | FixedHorizon | None = None
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
    dynamics: Any = field(default_factory=DynamicsSection)
    #: ``(index, its labels)``: the labels :attr:`horizon` made of a FixedHorizon ``index``
    _labels: tuple[Any, pd.DatetimeIndex] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        self.site_spec, self._site = _site_spec_of(self.site, Path(self.base_dir))
        self.preset = _preset_of(self.criteria)
        if isinstance(self.contingencies, Mapping):
            self.contingencies = ContingencySection.model_validate(dict(self.contingencies))
        if isinstance(self.sag, Mapping):
            self.sag = SagSection.model_validate(dict(self.sag))
        if isinstance(self.fluctuation, Mapping):
            self.fluctuation = FluctuationSection.model_validate(dict(self.fluctuation))
        if isinstance(self.dynamics, Mapping):
            self.dynamics = DynamicsSection.model_validate(dict(self.dynamics))
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
        check_index(self.steps, "index")
        if self.campus is None:
            self.campus = campus_for_peak(self.campus_peak_mw)
        if not self.campus_description:
            self.campus_description = (self.campus.as_dict() if isinstance(self.campus, CampusLoadParams)
                                       else {"trace": "given as a series"})
        problems += fluctuation_window_problems(self.fluctuation, self.steps[0], self.step_s, len(self.steps))
        problems += self._machine_problems()
        problems += unknown_scenario_problems(list(self.contingencies.scenarios),
                                              {"without_battery", "with_battery", *self.scenarios})
        if problems:
            raise StudyError(problems, source=str(self.path) if self.path else None)


    def _machine_problems(self) -> list[Problem]:
        """``[dynamics] machine`` naming another model than the site's: the site's ``[dynamics.grid]``
        parameters must lie in that model's valid range (GENROU's reactance and time-constant order)."""
        dy = self.dynamics
        if not dy.enabled or dy.machine == "site" or self.site_spec is None:
            return []
        g = self.site_spec.dynamics.grid
        try:
            GridEquivalentSpec.model_validate({**g.model_dump(), "model": dy.machine})
        except ValidationError as exc:
            why = "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors())
            return [Problem("dynamics.machine", f"the site's [dynamics.grid] parameters are outside the "
                                                f"{dy.machine} model's valid range: {why}", dy.machine)]
        return []

    # -- the parts ----------------------------------------------------------------------------
    @property
    def campus_peak_mw(self) -> float:
        """The site's campus peak (the SCR denominator). [MW]"""
        if self.site_spec is not None:
            return float(self.site_spec.campus.p_mw)
        assert self._site is not None  # _site_spec_of gives a built Site where it gives no spec
        return float(self._site.campus_p_mw)

    @property
    def horizon(self) -> pd.DatetimeIndex:
        """Every label of ``index``, which ``__post_init__`` fills in or refuses to go without (a
        FixedHorizon's made once, on the first call: what the stages of whole frames take)."""
        index = self.index
        assert index is not None
        if isinstance(index, pd.DatetimeIndex):
            return index
        if self._labels is None or self._labels[0] is not index:
            self._labels = (index, as_index(index))
        return self._labels[1]

    @property
    def steps(self) -> Horizon:
        """``index`` as given: a streamed run reads it part by part (no labels made for a FixedHorizon)."""
        assert self.index is not None
        return self.index

    @property
    def step_s(self) -> float:
        """Study step. [s]"""
        return step_seconds(self.steps)

    @property
    def sha256(self) -> str:
        """SHA-256 of the study file's text (empty text for a study made of objects)."""
        return text_sha256(self.text)

    def campus_for(self, scenario: str | None = None) -> Any:
        """The campus of a scenario: its own (``scenario_campus``, e.g. with GPU-side smoothing) or
        the study's."""
        return self.scenario_campus.get(scenario, self.campus) if scenario is not None else self.campus

    def campus_profile(self, index: pd.DatetimeIndex | None = None, scenario: str | None = None) -> pd.DataFrame:
        """Campus ``campus_p_mw`` [MW] and ``campus_q_mvar`` [Mvar] on the horizon (or ``index``), of
        the study or of ``scenario``; ``attrs["smoothing_extra_mwh"]``: energy GPU-side smoothing
        burns (0 without). [MWh]"""

        index = self.horizon if index is None else index
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

        if self.site_spec is not None:
            site = site_from_spec(self.site_spec)
        else:
            assert self._site is not None  # _site_spec_of gives a built Site where it gives no spec
            site = copy.deepcopy(self._site)
        first = float(self.campus_profile(self.steps[:2])["campus_p_mw"].iloc[0])
        settle_taps(site, first)
        if self.battery is not None:
            rate_storage(site, self.plant_ratings(self.battery))
        return site

    @staticmethod
    def plant_ratings(plant: MegapackPlant) -> BatteryPlant:
        """The grid-layer ratings of a models-layer plant."""

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

    def profile_parts(self, scenario: str, chunk_steps: int = STREAM_PART_STEPS) -> Iterator[pd.DataFrame]:
        """The profiles of ``scenario`` (as :meth:`profiles` gives them) in consecutive parts of
        ``chunk_steps`` steps: the campus model (:func:`gridstudy.models.campus.campus_chunks`) and
        the dispatch (:func:`gridstudy.models.dispatch.dispatch_chunks`) of one part after the
        other, each carrying its state exactly; concatenated, the parts equal :meth:`profiles`."""

        campus = self.campus_for(scenario)
        if isinstance(campus, pd.DataFrame):  # a measured series: held whole already
            whole = self.campus_profile(self.horizon, scenario)
            parts: Iterator[pd.DataFrame] = (whole.iloc[c0:c0 + chunk_steps] for c0 in range(0, len(whole), chunk_steps))
        else:
            parts = (c[["campus_p_mw", "campus_q_mvar"]] for c in campus_chunks(self.steps, campus, chunk_steps))
        strat = self.strategies()[scenario]
        if strat is None:
            for c in parts:
                yield _idle_profile(c)[list(OUTPUT_COLUMNS)]
            return
        yield from dispatch_chunks(parts, copy.deepcopy(strat))  # a copy: the study's strategy keeps its state

    def profile_stream(self, scenario: str, chunk_steps: int = STREAM_PART_STEPS, prefetch: int = 0,
                       process: bool = False) -> ProfileStream:
        """The engine profiles of ``scenario`` made part by part (:class:`~gridstudy.studies.qsts.inputs.ProfileStream`):
        bounded memory whatever the horizon; ``prefetch`` parts made ahead [-] in a second thread, or
        with ``process`` in a child process (the second core without this process's interpreter lock)."""

        parts = _EngineParts(self, scenario, int(chunk_steps), self.controls(scenario).volt_var is not None)
        return ProfileStream(self.steps, ENGINE_COLUMNS, parts, prefetch=prefetch, process=process)

    def controls(self, scenario: str) -> Controls:
        """The engine controls of a scenario (volt-var when its strategy asks for it)."""

        strat = self.strategies()[scenario]
        cv = self.campus_voltage if self.campus_voltage_time_series else None
        gfm = strat.grid_forming if strat is not None else None
        if gfm is not None:  # the plant's reactive power follows its Q-V droop
            # at a step its power loop settles within (longer than GFM_LOOP_MAX_STEP_S) the plant
            # delivers its set-point over the step: the profile, as a grid-following plant's
            return Controls(campus_voltage=cv, grid_forming=gfm if self.step_s <= GFM_LOOP_MAX_STEP_S else None)
        if strat is not None and strat.reactive.mode == "volt_var":
            return Controls(volt_var=strat.reactive.curve, campus_voltage=cv)
        return Controls(campus_voltage=cv)

    def grid_forming_problems(self, site: Site) -> list[Problem]:
        """Every sub-second step at which a grid-forming plant of the study would run its power loop
        unstably: the loop is advanced once per step (:func:`gridstudy.models.grid_forming.loop_step`),
        so its linearised spectral radius (:func:`~gridstudy.models.grid_forming.loop_spectral_radius`)
        at the synchronizing coefficient of the site (from the short-circuit level at the plant's
        terminals, over :data:`GFM_K_RANGE` of it) must stay below :data:`GFM_MAX_RADIUS`."""
        gfms: dict[str, GridFormingControl] = {}
        for name, strat in self.strategies().items():
            if strat is not None and strat.grid_forming is not None:
                gfms[name] = strat.grid_forming
        fl = self.fluctuation
        st = self.strategy
        if fl.enabled and fl.control_modes and st is not None and st.name != "none":
            base = st.control.grid_forming if st.control is not None else GridFormingControl()
            for loop in ("droop", "vsm"):
                for x in fl.virtual_reactances_pu:
                    gfms[f"control-mode sensitivity ({loop}, {x:g} pu)"] = base.replace(loop=loop, x_pu=x)
        stores = [int(i) for i in site.storages if bool(site.net.storage.at[i, "in_service"])]
        if not gfms or not stores:
            return []
        bus = int(site.net.storage.at[stores[0], "bus"])
        x_net = float(site.net.storage.loc[stores, "sn_mva"].sum()) / short_circuit_mva_at(site, bus)
        steps = []
        if self.step_s <= GFM_LOOP_MAX_STEP_S:
            steps.append(("study.step_s", self.step_s))
        if fl.enabled:
            steps.append(("fluctuation.step_s", fl.step_s))
        if self.sag.enabled:
            steps.append(("sag.step_s", self.sag.step_s))
        out = []
        for path, dt in steps:
            for name, g in gfms.items():
                k0 = synchronizing_coefficient(g, x_net)
                rho, k = max((loop_spectral_radius(g, f * k0, dt), f * k0) for f in GFM_K_RANGE)
                if not rho < GFM_MAX_RADIUS:
                    out.append(Problem(path, f"the grid-forming power loop of {name} ({g.loop}, x_pu {g.x_pu:g}, mp "
                                             f"{g.mp:g}) is not stable when advanced at this step (spectral radius "
                                             f"{rho:.2f} at K = {k:.2f} pu/rad); use a shorter step, or a larger "
                                             "virtual reactance or a smaller droop", dt))
                    break
        return out

    def qsts_inputs(self, site: Site, scenario: str, profiles: pd.DataFrame | ProfileStream,
                    record: RecordSpec | None = None) -> QSTSInputs:
        """The engine inputs of one scenario on ``site`` (``profiles``: a frame or :meth:`profile_stream`)."""

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
        # a base case that does not converge stops here (voltage collapse), before every step is solved
        check_first_block(site, float(self.campus_profile(self.steps[:2])["campus_p_mw"].iloc[0]))
        if engine != "fast":
            return

        idx = self.steps[:2]
        probe = QSTSInputs(site, pd.DataFrame({"campus_p_mw": [0.0] * len(idx)}, index=idx))
        problems = unsupported_features(probe)
        if problems:
            raise StudyError(problems, source=str(self.path) if self.path else None)


    def warnings(self, site_summary: dict[str, Any]) -> list[str]:
        """The warnings of a run (:func:`~gridstudy.studies.spec.limits.plant_warnings` of the plant,
        the campus peak and the fault level of ``site_summary``), for ``summary.json`` and the report."""
        if self.battery is None:
            return []
        sc = site_summary.get("skss_min_mva")
        return plant_warnings(float(self.battery.p_max_mw), float(self.campus_peak_mw),
                              float(sc) if isinstance(sc, (int, float)) else None)

    def event_plant(self) -> tuple[PlantResponse, PlantControl | None]:
        """The plant of the events (sag, job start, trip): the study's response chain and control
        mode, the same plant as the sub-second windows (the Megapack defaults when the study's
        battery is idle)."""
        s = self.strategy
        if s is None or s.name == "none":
            return PlantResponse(), None
        return (s.response if s.response is not None else PlantResponse.instantaneous()), s.control

    def event_strategy(self) -> tuple[str, dict[str, Any], Any]:
        """The battery strategy of the sag events: the study's own with its parameters, or load-loss
        absorption when the study's battery is idle; and the volt-var curve they use."""

        s = self.strategy
        default = default_volt_var(self.poi_vn_kv)
        if s is None or s.name == "none":
            return "load_loss_absorption", {}, default
        curve = s.reactive.curve if s.reactive.mode == "volt_var" else default
        return s.name, {**s.params(), "recovery": s.recovery}, curve

    @property
    def poi_vn_kv(self) -> float | None:
        """Nominal voltage of the site's POI (``None`` where the site file does not give it). [kV]"""
        if self.site_spec is not None:
            return self.site_spec.poi_vn_kv
        return float(self._site.poi_vn_kv) if self._site is not None else None



@dataclass(frozen=True)
class _EngineParts:
    """The engine columns of :meth:`Study.profile_parts`, a fresh pass per call (picklable, so a
    stream can go to a worker process)."""

    study: StudySetup
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


def check_first_block(site: Any, campus_p_mw: float) -> None:
    """Refuse to run a horizon whose base case does not converge.

    The base case is the site at the campus draw of the first step with the battery idle (the
    state the time series starts from). When pandapower's Newton-Raphson does not converge there,
    every step of the horizon would be solved to the iteration limit (about 0.13 s a step on the
    fast engine, hours for a day) for one answer: voltage collapse.

    Raises
    ------
    gridstudy.studies.errors.NotConvergedError
        The base case does not converge (exit code 1: a finding, nothing run).
    """


    try:
        solve_idle_battery(site, regulate=False, campus_p_mw=campus_p_mw, max_iteration=50)
    except Exception as exc:
        if not (isinstance(exc, pp.LoadflowNotConverged) or is_divergence(exc)):
            raise
        raise NotConvergedError(
            f"voltage collapse: the base case (campus at {campus_p_mw:.4g} MW, the first step, battery idle) "
            f"does not converge on {site.name}; no step of the horizon was run") from None
