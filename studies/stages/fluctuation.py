"""Fluctuations at sub-second resolution: the multi-rate part of a study.

The horizon runs at the study step (e.g. 1 s) for slow phenomena (taps, state of charge, voltage
bands, MW/min, thermal). A training swing of 1.5 s period is folded by 1-s averages to a slower,
smaller swing, so the fluctuation criteria — flicker, rapid voltage change, grid-side variation
over windows of fewer than :data:`MIN_STEPS` study steps, and the oscillation screen — are judged
on **sub-second windows** (default 20 ms):

- chosen by screening the whole horizon with the campus model's own changes
  (:func:`gridstudy.models.campus.change_severity`, not the step averages): the worst
  ``worst_windows``, a window at every scripted campus event (job start/stop, trip) and the windows
  the study names;
- each made by the campus model at the fine step (:func:`gridstudy.models.campus.campus_window`,
  the same realization, never interpolated), dispatched by the scenario's strategy behind its
  plant response (:class:`gridstudy.models.plant_response.PlantResponse`), and run through the
  study's engine from the state of the study-step run at the window's start: tap positions and
  state of charge (:func:`gridstudy.studies.stages.contingency.window_start_site`); the strategy's filters
  and the plant's delay lines start from the window's first sample and settle during
  ``warmup_s``, which is run but not judged;
- judged with the IEC 61000-4-15 flickermeter (:mod:`gridstudy.studies.criteria.flickermeter`),
  the rapid-voltage-change and grid-side variation criteria of the preset, and the spectrum of the
  grid-side active power at the POI against the preset's oscillation cap.

When the study step is longer than half the shortest modelled period (the training iteration),
the study-step series is aliased: :func:`aliased` says so, the summary and report carry the note,
and the flicker finding and the short-window grid-side findings of the study-step run are replaced
by their sub-second counterparts.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridstudy.models.campus import CampusLoadParams, campus_window, change_severity
from gridstudy.models.dispatch import dispatch
from gridstudy.models.grid_forming import GridFormingControl
from gridstudy.models.plant_control import PlantControl
from gridstudy.studies.criteria import Finding, max_p2p_mw, ramp_findings, rvc_finding, voltage_class
from gridstudy.studies.criteria.flickermeter import (
    LOOKAHEAD_STEPS,
    emission_finding,
    flickermeter,
    flickermeter_finding,
)
from gridstudy.studies.errors import StudyError
from gridstudy.studies.judge.findings import slug
from gridstudy.studies.qsts.inputs import RecordSpec
from gridstudy.studies.qsts.run import run_qsts
from gridstudy.studies.spec.interconnection import fluctuation_window_end, fluctuation_window_problems
from gridstudy.studies.stages.contingency import window_start_site

if TYPE_CHECKING:
    from gridstudy.grid.site import Site
    from gridstudy.models.dispatch import Strategy
    from gridstudy.studies.criteria.presets import OscillationLimit
    from gridstudy.studies.qsts.results import QSTSResult
    from gridstudy.studies.setup import StudySetup
    from gridstudy.studies.spec.interconnection import FluctuationSection

__all__ = ["summary_keys", "summary_block", "Window", "WindowRun", "MIN_STEPS", "aliased", "shortest_period_s", "choose_windows", "run_window",
           "oscillation_spectrum", "oscillation_finding", "assess"]

#: Shortest window a flickermeter Pst is given for (its ``min_interval_s``). [s]
MIN_WINDOW_S = 60.0

#: A criterion whose window holds fewer study steps than this is not judged on the study-step
#: series when it is aliased (10 steps: the issue's bound; a 5-s window at 1 s holds 6). [-]
MIN_STEPS = 10


@dataclass(frozen=True)
class Window:
    """A judged window ``[start, stop)`` and why it was chosen."""

    start: pd.Timestamp
    stop: pd.Timestamp
    reason: str

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M:%S} ({self.reason})"


@dataclass
class WindowRun:
    """One window of one scenario at the sub-second step."""

    window: Window
    scenario: str
    poi_vm_pu: pd.Series
    grid_p_mw: pd.Series
    judged: slice
    nonconverged_steps: int
    findings: list[Finding] = field(default_factory=list)
    spectrum: pd.Series | None = None
    #: the campus draw and the plant's delivered power of the run (consumer sign) [MW]
    campus_p_mw: pd.Series | None = None
    battery_p_mw: pd.Series | None = None
    #: the campus's and the plant's reactive power of the run (consumer sign) [Mvar]
    campus_q_mvar: pd.Series | None = None
    battery_q_mvar: pd.Series | None = None


def shortest_period_s(study: StudySetup) -> float | None:
    """The shortest period the campus model produces: its training iteration (``None`` for a
    measured trace, whose content the study cannot know). [s]"""

    if isinstance(study.campus, CampusLoadParams):
        return float(study.campus.period_s) * max(0.2, 1.0 - 3.0 * float(study.campus.jitter))
    return None


def aliased(study: StudySetup) -> bool:
    """True when the study step is longer than half the shortest modelled period."""
    p = shortest_period_s(study)
    return p is not None and study.step_s > 0.5 * p


def choose_windows(study: StudySetup, settings: FluctuationSection) -> list[Window]:
    """The windows of the sub-second assessment (see the module docstring); every problem of a
    named window (outside the horizon) raised at once."""

    idx = study.horizon
    t0 = idx[0]
    problems = fluctuation_window_problems(settings, t0, study.step_s, len(idx))
    if problems:
        raise StudyError(problems, source=str(study.path) if study.path else None)
    # a window leaves room for the flickermeter's look-ahead before the horizon ends
    end = fluctuation_window_end(settings, t0, study.step_s, len(idx))
    w = pd.Timedelta(seconds=settings.window_s)
    out = [Window(pd.Timestamp(s), pd.Timestamp(s) + w, "named in the study") for s in settings.windows]
    if not isinstance(study.campus, CampusLoadParams):
        return out

    def clip(start: pd.Timestamp) -> pd.Timestamp:
        start = max(t0, min(start, end - w))
        return t0 + pd.Timedelta(seconds=math.floor((start - t0).total_seconds() / study.step_s) * study.step_s)

    p = study.campus
    w = min(w, end - t0)  # a horizon shorter than a window is judged whole
    if settings.events:
        for name, at in (("job start", p.job_start_s), ("job stop", p.job_stop_s), ("campus trip", p.trip_at_s)):
            if at is not None and at < len(idx) * study.step_s:
                start = clip(t0 + pd.Timedelta(seconds=at - 0.25 * settings.window_s))
                out.append(Window(start, start + w, f"scripted {name}"))
    if settings.worst_windows:
        sev = change_severity(idx, p, w.total_seconds())
        sev = sev[pd.DatetimeIndex(sev.index) + w <= end]
        for start in sev.sort_values(ascending=False, kind="stable").index[: settings.worst_windows]:
            out.append(Window(pd.Timestamp(start), pd.Timestamp(start) + w, "screened: largest campus changes"))
    uniq: dict[pd.Timestamp, Window] = {}
    for win in out:
        uniq.setdefault(win.start, win)
    return sorted(uniq.values(), key=lambda x: x.start)


def run_window(study: StudySetup, site: Site, scenario: str, strategy: Strategy | None, n0: QSTSResult,
               profiles: pd.DataFrame, window: Window, settings: FluctuationSection, engine: str = "fast") -> WindowRun:
    """Run one window of one scenario at ``settings.step_s`` (see the module docstring).

    Parameters
    ----------
    study : Study
        The study.
    site : Site
        The site the study-step run ran on (not modified).
    scenario : str
        Scenario name (its controls: volt-var or not).
    strategy : Strategy or None
        The scenario's dispatch (``None``: battery idle).
    n0 : QSTSResult
        The scenario's study-step run (its tap series give the start state).
    profiles : pandas.DataFrame
        The scenario's study-step dispatch (its state of charge gives the start state).
    window : Window
        The judged window.
    settings : FluctuationSection
        Step, warm-up.
    engine : {'fast', 'reference'}
        QSTS engine.
    """

    idx = study.horizon
    step = study.step_s
    k_warm = max(0, int(math.floor(((window.start - idx[0]).total_seconds() - settings.warmup_s) / step)))
    warm = idx[0] + pd.Timedelta(seconds=k_warm * step)
    # the flickermeter's interpolator looks ahead: the run goes on past the window by that much
    end = idx[0] + pd.Timedelta(seconds=len(idx) * step)
    tail = pd.Timedelta(seconds=math.ceil((LOOKAHEAD_STEPS + 1) * settings.step_s / step) * step)
    stop = min(window.stop + tail, end)
    campus = campus_window(idx, study.campus_for(scenario), warm, stop, settings.step_s)[
        ["campus_p_mw", "campus_q_mvar"]]
    if strategy is None:
        prof = campus.assign(battery_p_mw=0.0, battery_q_mvar=0.0)
    else:
        s = copy.deepcopy(strategy)
        e0 = float(profiles["e_mwh"].iloc[k_warm - 1]) if k_warm > 0 else None
        s.reset(e0)
        prof = dispatch(campus, strategy=s, reset=False)
    start_site = window_start_site(site, n0, k_warm, profiles)
    inputs = study.qsts_inputs(start_site, scenario, prof, RecordSpec(worst_windows=0))
    # the plant of the strategy run here (a sensitivity's variant may differ from the scenario's)
    inputs = replace(inputs, controls=replace(inputs.controls, grid_forming=grid_forming_of(strategy)))
    res = run_qsts(inputs, engine=engine, quiet=True)
    ser = res.series
    grid = ser["poi_p_mw"] if "poi_p_mw" in ser else ser["grid_p_mw"]
    bat = ser["battery_p_mw"] if inputs.controls.grid_forming is not None else prof["battery_p_mw"]
    judged = slice(int(round((window.start - warm).total_seconds() / settings.step_s)),
                   int(round((window.stop - warm).total_seconds() / settings.step_s)))
    return WindowRun(window, scenario, ser["poi_vm_pu"].astype(float), grid.astype(float).rename("grid_p_mw"),
                     judged, int(res.nonconverged_steps), campus_p_mw=prof["campus_p_mw"].astype(float),
                     battery_p_mw=pd.Series(np.asarray(bat, dtype=float), index=prof.index, name="battery_p_mw"),
                     campus_q_mvar=prof["campus_q_mvar"].astype(float),
                     battery_q_mvar=(ser["battery_q_mvar"] if "battery_q_mvar" in ser else prof["battery_q_mvar"]).astype(float))


def grid_forming_of(strategy: Strategy | None) -> GridFormingControl | None:
    """The grid-forming parameters of a strategy's plant (``None``: not grid-forming)."""
    c = strategy.control if strategy is not None else None
    return c.grid_forming if c is not None and c.is_grid_forming else None


def first_step_share(run: WindowRun) -> float:
    """The plant's share of the largest campus edge of the judged part of ``run``, in the step of
    the edge: ``−Δbattery / Δcampus`` (1: the plant takes it all, 0: the grid does). [-]"""
    if run.campus_p_mw is None or run.battery_p_mw is None:
        return math.nan
    c = run.campus_p_mw.to_numpy()[run.judged]
    b = run.battery_p_mw.to_numpy()[run.judged]
    if len(c) < 2:
        return math.nan
    dc = np.diff(c)
    k = int(np.argmax(np.abs(dc)))
    return float(-(b[k + 1] - b[k]) / dc[k]) if dc[k] != 0.0 else math.nan


def oscillation_spectrum(p_mw: pd.Series) -> pd.Series:
    """Single-sided amplitude spectrum of a power series (Hann window, mean and trend removed),
    so a sinusoid of amplitude A MW at a bin frequency reads A. [MW] by frequency [Hz]"""
    x = p_mw.to_numpy(dtype=float)
    n = len(x)
    index = pd.DatetimeIndex(p_mw.index)
    dt = float(np.median(np.diff(index.asi8))) / 1e9 if len(index) > 1 else 1.0
    t = np.arange(n)
    x = x - np.polyval(np.polyfit(t, x, 1), t)
    w = np.hanning(n)
    amp = 2.0 * np.abs(np.fft.rfft(x * w)) / w.sum()
    return pd.Series(amp, index=np.fft.rfftfreq(n, dt), name="amplitude_mw")


def oscillation_finding(spectra: dict[str, pd.Series], rating_mw: float, limit: OscillationLimit) -> Finding:
    """The largest spectral amplitude in the band over the windows, against the cap."""
    lo, hi = limit.band_hz
    worst, when, peak_hz = 0.0, None, math.nan
    bands: dict[str, dict[str, float]] = {}
    for label, sp in spectra.items():
        band = sp[(sp.index >= lo) & (sp.index <= hi)]
        if len(band) and float(band.max()) >= worst:
            worst, when, peak_hz = float(band.max()), label, float(band.index[int(np.argmax(band.to_numpy()))])
        for name, a, b in limit.SENSITIVE_BANDS:
            part = sp[(sp.index >= a) & (sp.index < b)]
            if len(part):
                cur = bands.setdefault(name, {"peak_mw": 0.0, "peak_hz": math.nan})
                if float(part.max()) >= cur["peak_mw"]:
                    cur.update(peak_mw=float(part.max()), peak_hz=float(part.index[int(np.argmax(part.to_numpy()))]))
    limit_mw = limit.cap_percent / 100.0 * rating_mw
    return Finding(
        criterion=f"oscillation {lo:g}-{hi:g} Hz (grid-side power)", passed=worst <= limit_mw,
        worst_value=100.0 * worst / rating_mw if rating_mw > 0 else math.nan, worst_unit="% of campus rating",
        when=None, seconds_outside=math.nan, events=int(worst > limit_mw), limits=(limit.limit(),),
        note=(f"Largest single-sided amplitude of the grid-side active power at the POI in {lo:g}-{hi:g} Hz over the "
              f"sub-second windows: {worst:.2f} MW at {peak_hz:.2f} Hz (window {when})."),
        details={"band_hz": [lo, hi], "peak_mw": worst, "peak_hz": peak_hz, "limit_mw": limit_mw,
                 "pass": worst <= limit_mw, "window": when, "bands": bands})


@dataclass
class Assessment:
    """The sub-second assessment of a study: per scenario its findings and window runs."""

    windows: list[Window]
    runs: dict[str, list[WindowRun]]
    findings: dict[str, list[Finding]]
    replaced_ids: set[str]
    aliased: bool
    step_s: float
    latency_sensitivity: list[dict[str, Any]]
    note: str
    control_mode_sensitivity: list[dict[str, Any]] = field(default_factory=list)
    #: per scenario: the plant's share of the largest campus edge in its worst flicker window [-]
    first_step_share: dict[str, float] = field(default_factory=dict)


def too_short(study: StudySetup) -> bool:
    """True when the horizon cannot hold one Pst: a minute plus the flickermeter's look-ahead."""
    fl = study.fluctuation
    lookahead_s = math.ceil((LOOKAHEAD_STEPS + 1) * fl.step_s / study.step_s) * study.step_s
    return len(study.horizon) * study.step_s < MIN_WINDOW_S + lookahead_s


def assess(study: StudySetup, site: Site, results: dict[str, QSTSResult], profiles: dict[str, pd.DataFrame],
           engine: str = "fast", say: Any = None) -> Assessment | None:
    """The sub-second assessment of every scenario (``None`` when the study disables it or its
    campus is a measured trace coarser than the sub-second step)."""

    settings = study.fluctuation
    if not settings.enabled or not isinstance(study.campus, CampusLoadParams):
        return None
    if too_short(study):  # no Pst from less than a minute
        return None
    say = say or (lambda line: None)
    preset = study.preset
    windows = choose_windows(study, settings)
    is_aliased = aliased(study)
    cls = voltage_class(site.poi_vn_kv)
    short = [r for r in preset.ramps if r.window_s < MIN_STEPS * study.step_s]
    # the flickermeter replaces the analytical estimate always; the short windows' grid-side
    # findings of the study-step run are replaced where that run is aliased, else judged beside
    replaced = {"flicker"} | ({f"grid_variation.{slug(r.name)}" for r in short} if is_aliased else set())
    ramp_suffix = "" if is_aliased else ".sub-second"
    strategies = study.strategies()
    runs: dict[str, list[WindowRun]] = {}
    findings: dict[str, list[Finding]] = {}
    rating = study.campus_peak_mw
    for name, strat in strategies.items():
        say(f"sub-second windows {name}: {len(windows)} x {settings.window_s:g} s at {settings.step_s * 1000:g} ms")
        rs = [run_window(study, site, name, strat, results[name], profiles[name], w, settings, engine) for w in windows]
        runs[name] = rs
        fs: list[Finding] = []
        if rs:
            flick = []
            for r in rs:
                f = flickermeter_finding(r.poi_vm_pu, preset.flicker_levels(cls), lamp=preset.flicker_lamp,
                                         settle_s=settings.warmup_s if r.judged.start else 0.0,
                                         interval_s=settings.window_s)
                flick.append((r, f))
            worst_r, worst_f = max(flick, key=lambda rf: rf[1].worst_value)
            psts = {r.window.label: float(f.details["pst_max"]) for r, f in flick}
            fs.append(Finding(
                criterion=f"flicker ({cls}, IEC 61000-4-15, sub-second)", passed=all(f.passed for _, f in flick),
                worst_value=worst_f.worst_value, worst_unit="Pst", when=worst_r.window.start,
                seconds_outside=sum(f.seconds_outside for _, f in flick), events=sum(f.events for _, f in flick),
                limits=worst_f.limits,
                note=(f"IEC 61000-4-15 flickermeter ({preset.flicker_lamp} lamp) on the POI voltage at "
                      f"{settings.step_s * 1000:g} ms over {len(rs)} window(s) of {settings.window_s:g} s; worst "
                      f"{worst_r.window.label}."),
                details={**dict(worst_f.details), "pst_by_window": psts, "method": "iec61000-4-15",
                         "fluctuation_step_s": settings.step_s},
                id="flicker", group="flicker"))

            fs.append(replace_id(emission_finding(worst_f.worst_value, preset.flicker_levels(cls).pst,
                                                  preset.flicker_allocation, worst_r.window.start),
                                 "flicker_emission", "flicker_emission"))
            vm_all = [r.poi_vm_pu.iloc[r.judged] for r in rs]
            rvc = [rvc_finding(v, preset.rvc_limits(cls)) for v in vm_all]
            wr = max(rvc, key=lambda f: f.worst_value)
            fs.append(Finding(
                criterion=f"rapid voltage change ({cls}, sub-second windows)", passed=all(f.passed for f in rvc),
                worst_value=wr.worst_value, worst_unit=wr.worst_unit, when=wr.when,
                seconds_outside=sum(f.seconds_outside for f in rvc), events=sum(f.events for f in rvc),
                limits=wr.limits, note="Rapid voltage changes within the sub-second windows; the count per hour/day "
                                       "is judged on the whole horizon at the study step.",
                details=dict(wr.details), id="rapid_voltage_change.sub-second", group="rapid_voltage_change"))
            for lim in short:
                per = [ramp_findings(r.grid_p_mw.iloc[r.judged], [lim])[0] for r in rs]
                wf = max(per, key=lambda f: f.worst_value)
                fs.append(Finding(
                    criterion=f"grid-side variation: {lim.name} (sub-second)", passed=all(f.passed for f in per),
                    worst_value=wf.worst_value, worst_unit=wf.worst_unit, when=wf.when,
                    seconds_outside=sum(f.seconds_outside for f in per), events=sum(f.events for f in per),
                    limits=wf.limits, note=wf.note + f" Judged at {settings.step_s * 1000:g} ms on the sub-second windows.",
                    details={**dict(wf.details), "max_p2p_mw_5s": max(max_p2p_mw(r.grid_p_mw.iloc[r.judged], 5.0)
                                                                      for r in rs)},
                    id=f"grid_variation.{slug(lim.name)}{ramp_suffix}", group="grid_variation"))
            spectra = {}
            for r in rs:
                r.spectrum = oscillation_spectrum(r.grid_p_mw.iloc[r.judged])
                spectra[r.window.label] = r.spectrum
            fs.append(replace_id(oscillation_finding(spectra, rating, preset.oscillation), "oscillation", "oscillation"))
        findings[name] = fs
    worst_by = {}
    for name, fs in findings.items():
        fl = next((f for f in fs if f.group == "flicker"), None)
        if fl is not None:
            worst_by[name] = next((r.window for r in runs[name] if r.window.start == fl.when), runs[name][0].window)
    sens = latency_sensitivity(study, site, results, profiles, worst_by, settings, engine, say) if windows else []
    modes = control_mode_sensitivity(study, site, results, profiles, worst_by, settings, engine, say) \
        if windows and settings.control_modes else []
    shares = {name: first_step_share(next(r for r in runs[name] if r.window == w)) for name, w in worst_by.items()}
    note = (f"The study step ({study.step_s:g} s) is longer than half the campus's shortest modelled period "
            f"({shortest_period_s(study):.2f} s): the study-step series is aliased, so flicker and grid-side "
            f"variation over fewer than {MIN_STEPS} steps are judged on the sub-second windows only."
            if is_aliased else
            f"The study step ({study.step_s:g} s) resolves the campus's shortest modelled period; the sub-second "
            "windows are judged beside the study-step series.")
    return Assessment(windows, runs, findings, replaced, is_aliased, settings.step_s, sens, note, modes, shares)


def replace_id(f: Finding, fid: str, group: str) -> Finding:
    return replace(f, id=fid, group=group)


def latency_sensitivity(study: StudySetup, site: Site, results: dict[str, QSTSResult], profiles: dict[str, pd.DataFrame],
                        worst_windows: dict[str, Window], settings: FluctuationSection, engine: str,
                        say: Any) -> list[dict[str, Any]]:
    """Pst and 5-s peak-to-peak of each battery scenario's worst flicker window
    (``worst_windows``) against the total battery latency (:data:`FluctuationSection.latencies_s`)."""

    out = []
    for name, strat in study.strategies().items():
        if strat is None or strat.name == "none" or name not in worst_windows:
            continue
        say(f"latency sensitivity {name}: {len(settings.latencies_s)} latencies on the worst window")
        worst = (worst_windows[name], None)
        for lat in settings.latencies_s:
            s = strat.with_total_latency(lat)
            r = run_window(study, site, name, s, results[name], profiles[name], worst[0], settings, engine)
            fm = flickermeter(r.poi_vm_pu, lamp=study.preset.flicker_lamp,
                              settle_s=settings.warmup_s if r.judged.start else 0.0, interval_s=settings.window_s)
            out.append({"latency_s": lat, "scenario": name, "window": worst[0].label, "pst_max": fm.pst_max,
                        "max_p2p_mw_5s": max_p2p_mw(r.grid_p_mw.iloc[r.judged], 5.0)})
    return out


def control_mode_variants(strategy: Strategy, settings: FluctuationSection) -> list[tuple[dict[str, Any], Strategy]]:
    """The plants of the control-mode sensitivity, each ``(row keys, strategy)``: grid-following at
    every latency of ``settings.latencies_s`` without and with the latency-aware filter, local
    control at ``settings.local_latencies_s``, and grid-forming droop and VSM at each virtual
    reactance of ``settings.virtual_reactances_pu`` (the other parameters: the strategy's own
    grid-forming parameters, or the defaults)."""
    base = strategy.control if strategy.control is not None else PlantControl()
    out: list[tuple[dict[str, Any], Strategy]] = []
    for ff in (False, True):
        gfl = base.replace(mode="grid_following", follow_filter=ff)
        for lat in settings.latencies_s:
            s = strategy.with_control(gfl).with_total_latency(lat)
            out.append(({"mode": "grid_following", "follow_filter": ff, "latency_s": float(lat)}, s))
    for lat in settings.local_latencies_s:
        s = strategy.with_control(base.replace(mode="grid_following_local", local_latency_s=lat, follow_filter=False))
        out.append(({"mode": "grid_following_local", "follow_filter": False, "latency_s": float(lat)}, s))
    for loop in ("droop", "vsm"):
        for x in settings.virtual_reactances_pu:
            c = base.replace(mode="grid_forming", grid_forming=base.grid_forming.replace(loop=loop, x_pu=x))
            s = strategy.with_control(c)
            out.append(({"mode": "grid_forming", "loop": loop, "virtual_impedance_pu": float(x), "latency_s": 0.0,
                         "follow_filter": True}, s))
    return out


def control_mode_sensitivity(study: StudySetup, site: Site, results: dict[str, QSTSResult],
                             profiles: dict[str, pd.DataFrame], worst_windows: dict[str, Window],
                             settings: FluctuationSection, engine: str, say: Any) -> list[dict[str, Any]]:
    """Pst, 5-s peak-to-peak and the oscillation screen's peak of the plant alone (the study's
    ``with_battery`` scenario) on its worst flicker window, for every plant of
    :func:`control_mode_variants`."""
    name = "with_battery"
    strat = study.strategies().get(name)
    if strat is None or strat.name == "none" or name not in worst_windows:
        return []
    win = worst_windows[name]
    variants = control_mode_variants(strat, settings)
    say(f"control-mode sensitivity {name}: {len(variants)} plants on the worst window")
    lo, hi = study.preset.oscillation.band_hz
    out = []
    for keys, s in variants:
        r = run_window(study, site, name, s, results[name], profiles[name], win, settings, engine)
        fm = flickermeter(r.poi_vm_pu, lamp=study.preset.flicker_lamp,
                          settle_s=settings.warmup_s if r.judged.start else 0.0, interval_s=settings.window_s)
        sp = oscillation_spectrum(r.grid_p_mw.iloc[r.judged])
        band = sp[(sp.index >= lo) & (sp.index <= hi)]
        out.append({**keys, "scenario": name, "window": win.label, "pst_max": fm.pst_max,
                    "max_p2p_mw_5s": max_p2p_mw(r.grid_p_mw.iloc[r.judged], 5.0),
                    "oscillation_peak_mw": float(band.max()) if len(band) else math.nan,
                    "first_step_share": first_step_share(r), "nonconverged_steps": r.nonconverged_steps})
    return out


def windows_table(assessment: Assessment) -> pd.DataFrame:
    """The sub-second series of every window: ``scenario``, ``window``, ``time``, ``poi_vm_pu``,
    ``grid_p_mw``, ``judged`` (False in the warm-up)."""
    frames = []
    for name, rs in assessment.runs.items():
        for r in rs:
            judged = np.zeros(len(r.poi_vm_pu), dtype=bool)
            judged[r.judged] = True
            frames.append(pd.DataFrame({"scenario": name, "window": r.window.label, "time": r.poi_vm_pu.index,
                                        "poi_vm_pu": r.poi_vm_pu.to_numpy(), "grid_p_mw": r.grid_p_mw.to_numpy(),
                                        "judged": judged}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["scenario", "window", "time", "poi_vm_pu", "grid_p_mw", "judged"])


def spectra_table(assessment: Assessment) -> pd.DataFrame:
    """The spectrum of each window: ``scenario``, ``window``, ``frequency_hz``, ``amplitude_mw``."""
    frames = []
    for name, rs in assessment.runs.items():
        for r in rs:
            if r.spectrum is not None:
                sp = r.spectrum[(r.spectrum.index > 0) & (r.spectrum.index <= 25.0)]
                frames.append(pd.DataFrame({"scenario": name, "window": r.window.label, "frequency_hz": sp.index,
                                            "amplitude_mw": sp.to_numpy()}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["scenario", "window", "frequency_hz", "amplitude_mw"])


def summary_keys(fluct: Assessment, name: str, p2p_1s: float) -> dict[str, Any]:
    """The per-scenario keys of the sub-second assessment in ``summary.json``."""
    fs = {f.group: f for f in fluct.findings[name]}
    flick = fs.get("flicker")
    osc = fs.get("oscillation")
    sub = [f for f in fluct.findings[name] if f.group == "grid_variation"]
    p2p_sub = max((float(f.details.get("max_p2p_mw_5s", 0.0)) for f in sub), default=0.0)
    out: dict[str, Any] = {
        "flicker_method": "iec61000-4-15",
        "fluctuation_step_s": fluct.step_s,
        "max_p2p_mw_5s": max(p2p_1s, p2p_sub),
        "max_p2p_mw_5s_study_step": p2p_1s,
        "max_p2p_mw_5s_sub_second": p2p_sub,
    }
    if flick is not None:
        out["pst_max"] = float(flick.details.get("pst_max", flick.worst_value))
        out["plt_max"] = float(flick.details.get("plt_max", float("nan")))
        out["pst_by_window"] = dict(flick.details.get("pst_by_window", {}))
    em = fs.get("flicker_emission")
    if em is not None:
        out["flicker_emission"] = {k: em.details[k] for k in ("emission_pst", "emission_limit_pst", "total_pst",
                                                               "planning_pst", "share", "background_pst")}
        out["flicker_emission"]["pass"] = em.passed
    if osc is not None:
        d = osc.details
        out["oscillation"] = {k: d[k] for k in ("band_hz", "peak_mw", "peak_hz", "limit_mw", "pass", "window", "bands")}
    return out


def summary_block(study: StudySetup, fluct: Assessment | None) -> dict[str, Any]:
    """The top-level ``fluctuation`` block of ``summary.json``."""
    fl = study.fluctuation
    base = {"enabled": bool(fl.enabled), "step_s": fl.step_s, "window_s": fl.window_s, "warmup_s": fl.warmup_s,
            "aliased": aliased(study), "shortest_period_s": shortest_period_s(study)}
    if fluct is None:
        reason = ("disabled by the study" if not fl.enabled else
                  f"the horizon is shorter than the {MIN_WINDOW_S:g} s a Pst needs (and the flickermeter's look-ahead)"
                  if too_short(study) else
                  "the campus is a measured series: no sub-second model to run the windows with")
        return {**base, "assessed": False, "note": f"No sub-second assessment: {reason}.", "windows": []}
    return {**base, "assessed": True, "note": fluct.note,
            "windows": [{"start": w.start, "stop": w.stop, "reason": w.reason, "label": w.label} for w in fluct.windows],
            "replaced_study_step_findings": sorted(fluct.replaced_ids)}
