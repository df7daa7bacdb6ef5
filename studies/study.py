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
import datetime as _dt
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from gridstudy.grid.basecase import check_site
from gridstudy.studies.criteria import RAMP_PRESETS, Finding, custom_preset, get_preset
from gridstudy.studies.criteria.meter import Meter
from gridstudy.studies.criteria.presets import DEFAULT_METERS
from gridstudy.studies.criteria.voltage import voltage_class
from gridstudy.studies.errors import StudyError
from gridstudy.studies.judge.findings import bus_band, scenario_findings, scenario_summary, with_standing
from gridstudy.studies.judge.streamed import StreamJudge
from gridstudy.studies.output.result import StudyResult
from gridstudy.studies.qsts.fast import run_fast
from gridstudy.studies.qsts.inputs import RecordSpec
from gridstudy.studies.qsts.results import ResultRecorder
from gridstudy.studies.qsts.run import run_qsts
from gridstudy.studies.setup import StudySetup
from gridstudy.studies.spec.limits import STREAM_MIN_STEPS
from gridstudy.studies.spec.scale import StudyFile, load_scale_study
from gridstudy.studies.stages.capability import capability_stage
from gridstudy.studies.stages.contingency import ContingencyOutcome, contingency_stage
from gridstudy.studies.stages.dynamics import DynamicsOutcome, dynamics_stage
from gridstudy.studies.stages.fluctuation import (
    Assessment,
    assess,
    spectra_table,
    summary_block,
    summary_keys,
    windows_table,
)
from gridstudy.studies.stages.load_loss import largest_load_loss, load_loss_verdict_finding
from gridstudy.studies.stages.sag import campus_event_stage, sag_rvc_findings, sag_stage

if TYPE_CHECKING:
    from distributed import Client

    from gridstudy.grid.site import Site
    from gridstudy.models.battery import MegapackPlant
    from gridstudy.models.dispatch import Strategy
    from gridstudy.studies.qsts.inputs import RecordSpec
    from gridstudy.studies.qsts.results import QSTSResult


QUASI_STATIC_NOTE = ("Quasi-static time series: one phasor power flow per step with constant-power loads; not an "
                     "electromagnetic-transient or dynamic simulation.")


def run_date() -> str:
    """The date of the run, ``YYYY-MM-DD`` (UTC): ``SOURCE_DATE_EPOCH``'s (seconds since 1970, the
    reproducible-builds convention) when set, else today's."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    when = _dt.datetime.fromtimestamp(int(epoch), tz=_dt.UTC) if epoch.isdigit() else _dt.datetime.now(tz=_dt.UTC)
    return f"{when:%Y-%m-%d}"


@dataclass
class Study(StudySetup):
    """One interconnection study: a :class:`~gridstudy.studies.setup.StudySetup` (its inputs, ready
    to run) with its named steps (:meth:`run`)."""

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> Study:
        """Read, validate and resolve a study file (every problem listed in one :class:`StudyError`).

        Every section is validated, ``[sizing]`` and ``[sweep]`` included, so one file serves every
        command; the file is read and parsed once (:func:`~gridstudy.studies.spec.scale.load_scale_study`).
        """
        return cls.from_study_file(load_scale_study(path))

    @classmethod
    def from_study_file(cls, sf: StudyFile) -> Study:
        """A study from a validated file (:class:`~gridstudy.studies.spec.scale.StudyFile`), which it
        resolves once (its site, campus, plant and strategies, and each alternative scenario's)."""
        spec, ic = sf.spec, sf.ic
        resolved = sf.resolved
        alternatives: dict[str, Strategy | None] = {}
        scenario_campus: dict[str, Any] = {}
        for sc in ic.scenarios:
            alt = sf.scenario(sc.name)
            alternatives[sc.name] = alt.strategy
            if sc.campus and alt.campus_params is not None:
                scenario_campus[sc.name] = alt.campus_params
        preset = get_preset(ic.criteria.preset)
        if ic.criteria.ramp is not None:
            preset = custom_preset(f"{preset.name}+{ic.criteria.ramp}", preset, ramps=RAMP_PRESETS[ic.criteria.ramp])
        if ic.criteria.status:
            preset = custom_preset(preset.name, preset, status=dict(ic.criteria.status))
        if ic.criteria.region is not None:
            preset = custom_preset(preset.name, preset, region=ic.criteria.region)
        if ic.criteria.meters is not None:
            set_m = {k: Meter(DEFAULT_METERS[k].quantity, DEFAULT_METERS[k].point, v["averaging"], v.get("window_s"),
                              f"study file [criteria.meters.{k}]")
                     for k, v in ic.criteria.meters.model_dump(exclude_none=True).items()}
            preset = custom_preset(preset.name, preset, meters=set_m)
        if ic.criteria.disturbance_counter is not None:
            set_ = ic.criteria.disturbance_counter.model_dump(exclude_none=True)
            preset = custom_preset(preset.name, preset,
                                   disturbance_counter=dataclasses.replace(preset.disturbance_counter, **set_))
        campus: Any = resolved.trace[["campus_p_mw", "campus_q_mvar"]] if resolved.trace is not None \
            else resolved.campus_params
        vr = spec.campus.voltage_response
        cv = vr.model() if vr is not None else None
        cv_ts = bool(vr.time_series) if vr is not None else False
        trace = spec.campus.trace
        desc = (resolved.campus_params.as_dict() if resolved.campus_params is not None
                else {"trace": trace.path if trace is not None else None})
        return cls(site=resolved.site_spec, campus=campus, battery=resolved.plant, strategy=resolved.strategy,
                   criteria=preset, index=resolved.index, scenarios=alternatives, scenario_campus=scenario_campus,
                   contingencies=ic.contingencies, sag=ic.sag, fluctuation=ic.fluctuation, campus_voltage=cv,
                   campus_voltage_time_series=cv_ts, name=spec.study.name, text=sf.text, path=sf.path,
                   campus_description=desc, base_dir=sf.base_dir, page_size=ic.report.page_size,
                   dynamics=ic.dynamics)

    def with_battery(self, battery: MegapackPlant | None, strategy: Strategy | None) -> Study:
        """A copy of this study with another plant and strategy (same site, campus, horizon, criteria)."""
        new = copy.copy(self)
        new.battery, new.strategy = battery, strategy
        new.scenarios = {}
        return new


    # -- running ------------------------------------------------------------------------------
    def qsts(self, engine: str = "fast", *, quiet: bool = True, record: RecordSpec | None = None,
             site: Site | None = None, stream: bool | None = None, prefetch: int = 1,
             process: bool = False) -> dict[str, QSTSResult]:
        """The quasi-static time series of every scenario (:meth:`qsts_each`, gathered)."""
        return dict(self.qsts_each(engine, quiet=quiet, record=record, site=site, stream=stream, prefetch=prefetch,
                                   process=process))

    def qsts_each(self, engine: str = "fast", *, quiet: bool = True, record: RecordSpec | None = None,
                  site: Site | None = None, stream: bool | None = None,
                  prefetch: int = 1, process: bool = False) -> Iterator[tuple[str, QSTSResult]]:
        """The quasi-static time series of each scenario, ``(name, result)`` as each finishes (a
        caller that saves and drops each holds one scenario's results at a time).

        ``stream``: hand the engine the profiles part by part (:meth:`profile_stream`, bounded
        memory, the same results) instead of whole frames; default: on the fast engine for horizons
        over :data:`STREAM_MIN_STEPS`. ``prefetch``: parts a second thread makes ahead [-] (``process``:
        a forked child process instead, which holds neither this interpreter's lock nor its
        memory but counts the interpreter and the libraries a second time).
        ``record``: what to record; default: every series in full, or on a streamed run 1-minute
        envelopes of them (a streamed run asks for the full series by passing ``record``).
        A streamed run is judged on the way (:class:`gridstudy.studies.judge.streamed.StreamJudge`:
        convergence, bus bands, thermal, grid-side variation, POI power factor): each result's
        ``summary["criteria"]`` holds ``criterion -> {passed, worst_value, unit}``. A run of whole
        frames is not judged here (:meth:`run` judges a study).
        """

        site = self.build_site() if site is None else site
        self.check_engine(site, engine)
        if stream is None:
            stream = engine == "fast" and len(self.steps) > STREAM_MIN_STEPS
        if not stream:
            for name, prof in self.profiles().items():
                yield name, run_qsts(self.qsts_inputs(site, name, prof, record), engine=engine, quiet=quiet)
            return

        record = RecordSpec(envelope_freq="1min") if record is None else record
        for name in self.strategies():
            # parts made ahead in a thread: a forked child would count the interpreter, the libraries
            # and the parent's memory again in the run's total (benchmarks/qsts_year.py does the same)
            ps = self.profile_stream(name, prefetch=prefetch, process=process)
            inputs = self.qsts_inputs(site, name, ps, record)
            judge = StreamJudge(ResultRecorder(site, ps.index, record, engine="fast"), site, self.preset)
            ps.start()  # the prefetching begins here (a child process forks here, before the engine's threads)
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
            capability: bool = True, quiet: bool = True,
            say: Callable[[str], None] | None = None, client: Client | None = None) -> StudyResult:
        """Run the whole study, one named step after the other (like pvlib's ``ModelChain.run_model``):

        1. :meth:`build_site` and :meth:`check_engine` — the site, refused before anything runs when
           the base case does not converge or the engine cannot model it;
        2. :meth:`time_series` — every scenario's QSTS at the study step, judged;
        3. :func:`~gridstudy.studies.stages.fluctuation.assess` — the sub-second windows (flicker,
           rapid voltage change, short-window variation, oscillation), replacing their study-step
           findings;
        4. :func:`~gridstudy.studies.stages.contingency.contingency_stage` — N-1 over the worst window;
        5. :func:`~gridstudy.studies.stages.sag.sag_stage` — the sag-mitigation events at 20 ms, and
           :func:`~gridstudy.studies.stages.sag.campus_event_stage` — the campus's own events (trip,
           return from backup, job start) for every scenario with its own plant, as rapid voltage changes;
        6. :func:`~gridstudy.studies.stages.capability.capability_stage` — the plant's full
           capability: the two corners it can create (campus at peak with the plant charging at its
           rating, campus idle with the plant exporting at it), intact and after every credible
           outage; a failing corner fails the overall verdict;
        7. :func:`~gridstudy.studies.stages.dynamics.dynamics_stage` — the RMS check of the worst
           moments with ANDES (when ``[dynamics]`` enables it);
        8. :func:`~gridstudy.studies.stages.load_loss.largest_load_loss` — POI voltage rise and
           frequency screen;
        9. :meth:`summarize` — ``summary.json`` and the tables (``plant_capability`` added;
           :meth:`add_dynamics`: the RMS check's).

        Parameters
        ----------
        engine : {'fast', 'reference'}
            QSTS engine.
        contingencies, sag, fluctuation : bool
            Run N-1 over time / the sag events / the sub-second assessment (when the study enables them).
        capability : bool
            Run the plant's full-capability corners (``summary["plant_capability"]``; ``None`` when off).
        quiet : bool
            No progress bars.
        say : callable, optional
            Receives one line per stage (progress for a command line).
        client : distributed.Client, optional
            Run the N-1 tasks on this Dask client's workers (default: local processes).

        Returns
        -------
        StudyResult
            Held in memory; :meth:`StudyResult.save` writes it.
        """
        say = say or (lambda line: None)
        t_start = time.perf_counter()
        site = self.build_site()
        self.check_engine(site, engine)
        gfm_problems = self.grid_forming_problems(site)
        if gfm_problems:
            raise StudyError(gfm_problems, source=str(self.path) if self.path else None)
        campus = self.campus_profile()
        profs = self.profiles(campus)
        site_summary = check_site(site)
        results, findings = self.time_series(site, profs, engine, quiet=quiet, say=say)
        fluct = assess(self, site, results, profs, engine, say) if fluctuation else None
        cont = contingency_stage(self, site, results, profs, engine, say, client=client) if contingencies \
            else ContingencyOutcome()
        sag_rows, sag_series = sag_stage(self, site, engine, say) if sag else ([], pd.DataFrame())
        events = campus_event_stage(self, site, engine, say) if sag else {}
        cap = capability_stage(self, site, say) if capability else None
        dyn = dynamics_stage(self, site, results, profs, campus, fluct, sag_series, say)
        result = self.add_dynamics(self.summarize(site, site_summary, campus, engine, profs, results, findings, fluct,
                                                  cont, sag_rows, sag_series, t_start, say, events), dyn)
        result.summary["plant_capability"] = None
        if cap is not None:
            cap.add_to(result)  # the block, the overall verdict and the table
        return result

    def time_series(self, site: Site, profs: dict[str, pd.DataFrame], engine: str, *, quiet: bool = True,
                    say: Callable[[str], None] | None = None) -> tuple[dict[str, QSTSResult], dict[str, list[Finding]]]:
        """Step 2 of :meth:`run`: the QSTS of every scenario at the study step and its findings."""
        say = say or (lambda line: None)
        results: dict[str, QSTSResult] = {}
        findings: dict[str, list[Finding]] = {}
        for name, prof in profs.items():
            say(f"QSTS {name}: {len(prof)} steps of {self.step_s:g} s on {site.name} ({engine} engine)")
            res = run_qsts(self.qsts_inputs(site, name, prof), engine=engine, quiet=quiet)
            results[name] = res
            findings[name] = scenario_findings(site, res, self.preset, prof)
        return results, findings

    def summarize(self, site: Site, site_summary: dict[str, Any], campus: pd.DataFrame, engine: str, profs: dict[str, pd.DataFrame],
                  results: dict[str, QSTSResult], findings: dict[str, list[Finding]], fluct: Assessment | None,
                  cont: ContingencyOutcome, sag_rows: list[dict[str, Any]], sag_series: pd.DataFrame, t_start: float,
                  say: Callable[[str], None], events: dict[str, list[dict[str, Any]]] | None = None) -> StudyResult:
        """The last steps of :meth:`run`: the sub-second findings in place of their study-step
        counterparts, the largest credible load loss, ``summary.json`` and the tables (``events``:
        the campus's own events per scenario, :func:`~gridstudy.studies.stages.sag.campus_event_stage`)."""
        events = events or {}
        scen_summary: dict[str, dict[str, Any]] = {}
        for name in profs:
            if fluct is not None:  # the sub-second findings replace their study-step counterparts
                findings[name] = [f for f in findings[name] if f.id not in fluct.replaced_ids] + fluct.findings[name]
        say("largest credible load loss: POI voltage rise and frequency screen")
        lll = largest_load_loss(site, campus, self.preset, {n: {"criteria": [f.to_dict() for f in fs]}
                                                             for n, fs in findings.items()},
                                cont.loss_rows, sag_rows, plant=self.battery, profiles=profs)
        cls = voltage_class(site.poi_vn_kv)
        sag_rvc = sag_rvc_findings(events, self.preset.rvc_limits(cls))
        for name, prof in profs.items():
            # the site-level checks each scenario's verdict includes: the campus's own events as rapid
            # voltage changes (each scenario's own 20-ms runs) and the largest credible load loss
            # (its trip and return judged on those runs' steps where the scenario has a plant)
            site_level = [sag_rvc[name]] if name in sag_rvc else []
            has_plant = self.plant_keys(name, fluct)["plant_mode"] != "idle"
            site_level.append(load_loss_verdict_finding(lll, self.preset, has_plant, cls, events.get(name)))
            findings[name] = [with_standing(f, self.preset, self.step_s) for f in findings[name] + site_level]
            scen_summary[name] = scenario_summary(site, results[name], findings[name], prof, self.preset)
            scen_summary[name]["strategy"] = prof.attrs.get("strategy", "battery idle")
            scen_summary[name]["gpu_smoothing_extra_mwh"] = float(prof.attrs.get("smoothing_extra_mwh", 0.0))
            if fluct is not None:
                scen_summary[name].update(summary_keys(fluct, name, scen_summary[name]["max_p2p_mw_5s"]))
            scen_summary[name].update(self.plant_keys(name, fluct))
        summary = self._summary(site, campus, engine, site_summary, scen_summary, cont.window_note, cont.rows,
                                cont.loss_rows, sag_rows)
        summary["largest_load_loss"] = lll
        summary["campus_event_rvc"] = events
        summary["warnings"] = self.warnings(site_summary)
        summary["fluctuation"] = summary_block(self, fluct)
        summary["latency_sensitivity"] = fluct.latency_sensitivity if fluct is not None else []
        summary["control_mode_sensitivity"] = fluct.control_mode_sensitivity if fluct is not None else []
        summary["swing_period_sensitivity"] = fluct.swing_period_sensitivity if fluct is not None else []
        summary["runtime_s"] = time.perf_counter() - t_start
        summary["run_date"] = run_date()
        tables: dict[str, pd.DataFrame] = {}
        if fluct is not None:
            tables = {"fluctuation_windows": windows_table(fluct), "fluctuation_spectra": spectra_table(fluct)}
        return StudyResult(summary=summary, scenarios=results, findings=findings, profiles=profs,
                           contingencies=cont.rows, sag_series=sag_series, site=site, study_text=self.text,
                           tables=tables)

    @staticmethod
    def add_dynamics(result: StudyResult, dyn: DynamicsOutcome | None) -> StudyResult:
        """The RMS check in a result: ``summary["dynamics"]`` (``{"enabled": false}`` when not run)
        and the ``dynamics`` table (``dynamics.parquet``)."""
        result.summary["dynamics"] = dyn.block if dyn is not None else {"enabled": False}
        if dyn is not None:
            result.tables["dynamics"] = dyn.table
        return result

    def plant_keys(self, scenario: str, fluct: Assessment | None) -> dict[str, Any]:
        """The plant of a scenario in ``summary.json``: ``plant_mode``, ``plant_total_latency_s`` (the
        chain the dispatch runs; 0 for a grid-forming plant, which answers within the step),
        ``plant_setpoint_latency_s`` (the chain of the set-point), and for a grid-forming plant ``plant_virtual_impedance_pu`` and ``plant_first_step_share`` (its share of
        the largest campus edge of its worst sub-second window)."""
        strat = self.strategies().get(scenario)
        if strat is None or strat.name == "none":
            return {"plant_mode": "idle", "plant_total_latency_s": None}
        chain = strat.chain
        lat = chain.total_latency_s if chain is not None else 0.0
        g = strat.grid_forming
        out: dict[str, Any] = {"plant_mode": strat.mode,
                               # a grid-forming plant answers within the step; its set-point is slower
                               "plant_total_latency_s": 0.0 if g is not None else lat,
                               "plant_setpoint_latency_s": lat,
                               "plant_control": strat.control.describe() if strat.control is not None
                               else {"mode": "grid_following", "follow_filter": False}}
        if g is not None:
            out["plant_virtual_impedance_pu"] = [g.r_pu, g.x_pu]
            out["plant_first_step_share"] = fluct.first_step_share.get(scenario) if fluct is not None else None
        return out

    def _summary(self, site: Site, campus: pd.DataFrame, engine: str, site_summary: dict[str, Any],
                 scen_summary: dict[str, dict[str, Any]], window_note: str, cont_rows: list[dict[str, Any]],
                 loss_rows: list[dict[str, Any]], sag_rows: list[dict[str, Any]]) -> dict[str, Any]:
        plant, strat = self.battery, self.strategy
        bands: dict[str, list[float]] = {}
        for b, row in site.net.bus.iterrows():
            vb = bus_band(site, self.preset, b, "n-0")
            bands[str(row["name"])] = [vb.vmin_pu, vb.vmax_pu]
        return {
            "study": self.name, "site": site.name, "site_description": site.description,
            "steps": len(campus), "step_s": self.step_s, "start": campus.index[0], "end": campus.index[-1],
            "engine": engine, "criteria_preset": self.preset.name, "criteria_region": self.preset.region,
            "input_sha256": self.sha256,
            "site_summary": site_summary,
            "battery": None if plant is None else {
                "model": plant.model, "units": plant.units, "p_mw": plant.p_max_mw, "e_mwh": plant.e_max_mwh,
                "s_mva": plant.s_max_mva, "soc_min_percent": plant.soc_min_percent,
                "soc_max_percent": plant.soc_max_percent,
                "strategy": strat.name if strat is not None else "none",
                "reactive": strat.reactive.mode if strat is not None else "none",
                # the curve of the volt-var runs (the daily run's when it runs volt-var, the sag events')
                "volt_var_curve": dataclasses.asdict(self.event_strategy()[2]),
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

