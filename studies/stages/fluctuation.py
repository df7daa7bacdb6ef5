"""Fluctuations at sub-second resolution: the multi-rate part of a study.

The horizon runs at the study step (e.g. 1 s) for slow phenomena (taps, state of charge, voltage
bands, MW/min, thermal). A training swing of 1.5 s period is folded by 1-s averages to a slower,
smaller swing, so the fluctuation criteria — flicker, rapid voltage change, grid-side variation
over windows of fewer than :data:`MIN_STEPS` study steps, and the oscillation screen — are judged
on **sub-second windows** (default 20 ms):

- chosen by screening the whole horizon with the campus model's own changes
  (:func:`gridstudy.models.campus.change_severity`, not the step averages): the worst
  ``worst_windows``, a window centred on the worst occurrence (the largest step) of each kind of
  discrete campus event (checkpoint, interruption and restart, job start, job stop, trip;
  :func:`gridstudy.models.campus_events.worst_occurrences`) and the windows the study names;
- each made by the campus model at the fine step (:func:`gridstudy.models.campus.campus_window`,
  the same realization, never interpolated), dispatched by the scenario's strategy behind its
  plant response (:class:`gridstudy.models.plant_response.PlantResponse`), and run through the
  study's engine from the state of the study-step run at the window's start: tap positions and
  state of charge (:func:`gridstudy.studies.stages.contingency.window_start_site`); the strategy's filters
  and the plant's delay lines start from the window's first sample and settle during
  ``warmup_s``, which is run but not judged;
- judged with the IEC 61000-4-15 flickermeter (:mod:`gridstudy.studies.criteria.flickermeter`),
  the rapid-voltage-change and grid-side variation criteria of the preset, and the spectrum of the
  grid-side active power at the POI against the preset's oscillation cap;
- rapid voltage changes of every discrete campus event of the horizon counted by rolling hour and
  day against the table by frequency of changes (:func:`rvc_count_finding`): the POI step of each
  kind of change measured on the sub-second windows (the study-step series folds the 1.5-s swing
  into aliased 1-s averages that blur a step and break the steady states an RVC is measured
  between), the number of changes from the campus model's schedule (the windows hold minutes of
  the day; the schedule holds every change);
- flicker and rapid voltage change again in the weakest N-1 state (:func:`n1_assessment`: the
  credible outage with the lowest short-circuit power at the POI), for the scenarios of
  ``contingencies.scenarios``.

When the study step is longer than half the shortest modelled period (the training iteration),
the study-step series is aliased: :func:`aliased` says so, the summary and report carry the note,
and the flicker finding and the short-window grid-side findings of the study-step run are replaced
by their sub-second counterparts.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.models.campus import CampusLoadParams, campus_window, change_severity
from gridstudy.models.campus_events import campus_changes, worst_occurrences
from gridstudy.models.dispatch import dispatch
from gridstudy.models.grid_forming import GridFormingControl
from gridstudy.models.plant_control import PlantControl
from gridstudy.studies.criteria import Finding, max_p2p_mw, ramp_finding, rvc_finding, voltage_class
from gridstudy.studies.criteria.flickermeter import (
    LOOKAHEAD_STEPS,
    emission_finding,
    flickermeter,
    flickermeter_finding,
    plt_from_pst,
)
from gridstudy.studies.criteria.oscillation import METHOD as OSC_METHOD
from gridstudy.studies.criteria.oscillation import worst_line
from gridstudy.studies.criteria.rvc import RVCLimits, count_finding
from gridstudy.studies.errors import StudyError
from gridstudy.studies.judge.findings import slug
from gridstudy.studies.qsts.inputs import RecordSpec
from gridstudy.studies.qsts.run import run_qsts
from gridstudy.studies.spec.interconnection import fluctuation_window_end, fluctuation_window_problems
from gridstudy.studies.stages.contingency import outage_site, strength_method, weakest_outage, window_start_site

if TYPE_CHECKING:
    from gridstudy.grid.site import Site
    from gridstudy.grid.topology import Outage
    from gridstudy.models.dispatch import Strategy
    from gridstudy.studies.criteria.flicker import FlickerLevels
    from gridstudy.studies.criteria.presets import CriteriaPreset, OscillationLimit
    from gridstudy.studies.qsts.results import QSTSResult
    from gridstudy.studies.setup import StudySetup
    from gridstudy.studies.spec.interconnection import FluctuationSection

__all__ = ["summary_keys", "summary_block", "Window", "WindowRun", "MIN_STEPS", "aliased", "shortest_period_s", "choose_windows", "run_window",
           "oscillation_spectrum", "oscillation_finding", "assess", "swing_period_sensitivity"]

#: Shortest window a flickermeter Pst is given for (its ``min_interval_s``). [s]
MIN_WINDOW_S = 60.0

#: Plt (IEC 61000-4-15): the cubic mean of this many consecutive Pst of :data:`PST_INTERVAL_S`. [-], [s]
PLT_N_PST = 12
PST_INTERVAL_S = 600.0

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
        """Readable name of the window: its start and why it was chosen."""
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
    #: a grid-forming plant's set-point of the run (the dispatch's, consumer sign) [MW]
    battery_set_p_mw: pd.Series | None = None


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


def choose_windows(study: StudySetup, settings: FluctuationSection,
                   changes: pd.DataFrame | None = None) -> list[Window]:
    """The windows of the sub-second assessment (see the module docstring); every problem of a
    named window (outside the horizon) raised at once. ``changes``: the horizon's discrete campus
    changes (:func:`campus_changes`) where the caller has them already."""

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
        # the worst occurrence of each kind of discrete event, centred on its span (or on its
        # largest change where the span is longer than the window)
        for ev in worst_occurrences(campus_changes(idx, p) if changes is None else changes):
            span = ev.stop_s - ev.start_s
            mid = 0.5 * (ev.start_s + ev.stop_s) if span <= w.total_seconds() else ev.worst_at_s
            start = clip(t0 + pd.Timedelta(seconds=mid) - w / 2)
            out.append(Window(start, start + w, f"worst {ev.family} ({ev.worst_step_mw:+.0f} MW)"))
    if settings.worst_windows:
        sev = change_severity(idx, p, w.total_seconds())
        sev = sev[pd.DatetimeIndex(sev.index) + w <= end]
        for start in sev.sort_values(ascending=False, kind="stable").index[: settings.worst_windows]:
            out.append(Window(pd.Timestamp(start), pd.Timestamp(start) + w, "screened: largest campus changes"))
    uniq: dict[pd.Timestamp, Window] = {}
    for win in out:
        uniq.setdefault(win.start, win)
    return sorted(uniq.values(), key=lambda x: x.start)


def plt_window(study: StudySetup, settings: FluctuationSection) -> Window | None:
    """The 2-hour window of the Plt: the clock-aligned 2 h (from the horizon's start) with the
    largest campus changes (:func:`gridstudy.models.campus.change_severity` over 2-h windows, the
    screen of the 10-min windows), moved back to end the flickermeter's look-ahead before the
    horizon's end where it would not fit. ``None`` where the horizon holds no 2 h (no Plt) or the
    campus is a measured series."""
    if not isinstance(study.campus, CampusLoadParams):
        return None
    idx = study.horizon
    t0 = idx[0]
    span = pd.Timedelta(seconds=PLT_N_PST * PST_INTERVAL_S)
    end = fluctuation_window_end(settings, t0, study.step_s, len(idx))
    if t0 + span > end:
        return None
    sev = change_severity(idx, study.campus, span.total_seconds())
    start = pd.Timestamp(sev.sort_values(ascending=False, kind="stable").index[0])
    if start + span > end:
        start = t0 + pd.Timedelta(seconds=math.floor((end - span - t0).total_seconds() / study.step_s) * study.step_s)
    return Window(start, start + span, "Plt: the 2 h with the largest campus changes")


def plt_finding(run: WindowRun, levels: FlickerLevels, lamp: str, settings: FluctuationSection) -> Finding:
    """The standard's Plt of one scenario: the IEC 61000-4-15 flickermeter over ``run`` (the
    :func:`plt_window` at the sub-second step), 12 consecutive 10-min Pst, and
    ``Plt = (sum Pst^3 / 12)^(1/3)`` against the Plt planning level."""
    fm = flickermeter(run.poi_vm_pu, lamp=lamp, settle_s=run.judged.start * settings.step_s,
                      interval_s=PST_INTERVAL_S)
    iv = fm.intervals[~fm.intervals["partial"]].iloc[:PLT_N_PST]
    if len(iv) < PLT_N_PST:  # the window is 12 intervals long by construction
        raise StudyError([Problem("fluctuation", f"the Plt window holds {len(iv)} full 10-min Pst, not "
                                                 f"{PLT_N_PST}", run.window.label)])
    lt = plt_from_pst(iv["pst"], PLT_N_PST)
    value = float(lt["plt"].iloc[0])
    lim = levels.limits()[1]
    meter = (f"POI voltage magnitude at the sub-second step of {1000 * settings.step_s:g} ms through the IEC "
             f"61000-4-15 flickermeter: {PLT_N_PST} consecutive {PST_INTERVAL_S / 60:g}-min Pst, cubic mean")
    return Finding(
        criterion=f"flicker Plt ({levels.voltage_class}, IEC 61000-4-15, 2 h)", passed=value <= levels.plt,
        worst_value=value, worst_unit="Plt", when=run.window.start, seconds_outside=math.nan,
        events=int(value > levels.plt), limits=(dataclasses.replace(lim, meter=meter),),
        note=(f"Plt = (sum of Pst^3 / {PLT_N_PST})^(1/3) over the {PLT_N_PST} consecutive {PST_INTERVAL_S / 60:g}-min "
              f"Pst of the IEC 61000-4-15 flickermeter ({lamp} lamp) on the POI voltage at "
              f"{1000 * settings.step_s:g} ms, run over the 2 h from {run.window.start:%Y-%m-%d %H:%M:%S}: "
              + ", ".join(f"{p:.3f}" for p in iv["pst"]) + "."),
        details={"plt": value, "pst": [float(p) for p in iv["pst"]], "window": run.window.label,
                 "window_start": run.window.start, "method": "iec61000-4-15", "fluctuation_step_s": settings.step_s,
                 "plt_complete": True},
        id="flicker_plt", group="flicker_plt")


def plt_not_applicable(levels: FlickerLevels, study: StudySetup) -> Finding:
    """The Plt finding of a horizon that holds no 2 h: not applicable, with the reason."""
    hours = len(study.horizon) * study.step_s / 3600.0
    return Finding(
        criterion=f"flicker Plt ({levels.voltage_class}, IEC 61000-4-15, 2 h)", passed=True, worst_value=math.nan,
        worst_unit="Plt", when=None, seconds_outside=math.nan, events=0, limits=(levels.limits()[1],),
        note=(f"Not applicable: the Plt is the cubic mean of {PLT_N_PST} consecutive {PST_INTERVAL_S / 60:g}-min Pst "
              f"(2 h) and the horizon holds {hours:.2g} h (with the flickermeter's look-ahead)."),
        details={"method": "iec61000-4-15", "plt_complete": False}, id="flicker_plt", group="flicker_plt",
        standing="not applicable")


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
    gfm = grid_forming_of(strategy)
    inputs = replace(inputs, controls=replace(inputs.controls, grid_forming=gfm,
                                              volt_var=None if gfm is not None else inputs.controls.volt_var))
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
                     battery_q_mvar=(ser["battery_q_mvar"] if "battery_q_mvar" in ser else prof["battery_q_mvar"]).astype(float),
                     battery_set_p_mw=prof["battery_p_mw"].astype(float) if inputs.controls.grid_forming is not None else None)


def grid_forming_of(strategy: Strategy | None) -> GridFormingControl | None:
    """The grid-forming parameters of a strategy's plant (``None``: not grid-forming)."""
    return strategy.grid_forming if strategy is not None else None


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


def oscillation_finding(series: dict[str, pd.Series], rating_mw: float, limit: OscillationLimit) -> Finding:
    """The worst oscillation amplitude of the grid-side power in the band over sliding windows of
    several lengths (:func:`gridstudy.studies.criteria.oscillation.worst_line`) in every judged
    window (``label -> series``), against the cap."""
    lo, hi = limit.band_hz
    worst, when, peak_hz, length, start = 0.0, None, math.nan, math.nan, None
    by_length: dict[str, dict[str, Any]] = {}
    bands: dict[str, dict[str, float]] = {}
    for label, p in series.items():
        w, per = worst_line(p, (lo, hi), limit.windows_s)
        if w.amplitude_mw >= worst:
            worst, when, peak_hz, length, start = w.amplitude_mw, label, w.peak_hz, w.window_s, w.start
        for lw, r in per.items():
            cur = by_length.get(f"{lw:g}")
            if cur is None or r.amplitude_mw > cur["amplitude_mw"]:
                by_length[f"{lw:g}"] = {**r.to_dict(), "window": label}
        for name, a, b in limit.SENSITIVE_BANDS:
            sw, _ = worst_line(p, (a, b), limit.windows_s)
            cur_b = bands.setdefault(name, {"peak_mw": 0.0, "peak_hz": math.nan})
            if sw.amplitude_mw >= cur_b["peak_mw"]:
                cur_b.update(peak_mw=sw.amplitude_mw, peak_hz=sw.peak_hz)
    limit_mw = limit.cap_percent / 100.0 * rating_mw
    method = OSC_METHOD.format(lengths=", ".join(f"{w:g}" for w in limit.windows_s))
    return Finding(
        criterion=f"oscillation {lo:g}-{hi:g} Hz (grid-side power)", passed=worst <= limit_mw,
        worst_value=100.0 * worst / rating_mw if rating_mw > 0 else math.nan, worst_unit="% of campus rating",
        when=start, seconds_outside=math.nan, events=int(worst > limit_mw),
        limits=(dataclasses.replace(limit.limit(), meter=f"grid-side active power at the POI, {method}"),),
        note=(f"Worst oscillation of the grid-side active power at the POI in {lo:g}-{hi:g} Hz: {worst:.2f} MW at "
              f"{peak_hz:.2f} Hz on a {length:g}-s window of {when}. Method: {method}."),
        details={"band_hz": [lo, hi], "peak_mw": worst, "peak_hz": peak_hz, "limit_mw": limit_mw,
                 "pass": worst <= limit_mw, "window": when, "bands": bands, "window_s": length,
                 "by_window_length": by_length, "method": method})


#: The POI voltage before and after a campus change is the mean of the sub-second samples over
#: this time each side (two 1.5-s training iterations: the swing, judged as flicker, averages out
#: and the step of the mean level stays). [s]
RVC_MEAN_S = 3.0

#: The steady-state rule of a rapid voltage change (:func:`gridstudy.studies.criteria.rvc.rvc_events`'s
#: defaults): a voltage that moves less than the band ``2 x tol_pct`` [%] within ``min_steady_s`` [s]
#: stays in steady states, so a change slower than this rate is a slow variation, not a rapid
#: change (a 60-s job-start ramp of 2 % moves 0.04 %/s). [%/s]
RVC_RATE_PCT_PER_S = 2.0 * 0.5 / 1.0


def event_voltage_steps(run: WindowRun, changes: pd.DataFrame, t0: pd.Timestamp,
                        mean_s: float = RVC_MEAN_S) -> pd.DataFrame:
    """The POI voltage step of every campus change inside the judged part of a window run.

    A change of ``changes`` (:func:`gridstudy.models.campus_events.campus_changes`, seconds after
    ``t0``) from ``start`` to ``end`` steps the POI voltage by the difference of the means of the
    sub-second samples over ``mean_s`` before ``start`` and over ``mean_s`` after ``end`` [%]
    (unsigned); it is a rapid change when that step, spread over the change's duration, moves
    faster than :data:`RVC_RATE_PCT_PER_S`, else its step counts 0. Where the plant takes the
    change, the voltage after ``end`` has barely moved and the step is small. A change whose
    means do not both lie inside the judged part is left out.

    Returns
    -------
    pandas.DataFrame
        The rows of ``changes`` measured, with ``dv_pct`` [%] and ``sensitivity_pct_per_mw``
        (``dv_pct / |step_mw|``) [%/MW].
    """
    v = run.poi_vm_pu.iloc[run.judged]
    if len(v) < 2 or not len(changes):
        return changes.iloc[:0].assign(dv_pct=[], sensitivity_pct_per_mw=[])
    t = (pd.DatetimeIndex(v.index) - t0).total_seconds().to_numpy()
    x = v.to_numpy(dtype=float)
    step = float(t[1] - t[0])
    end = changes["start_s"] + changes["duration_s"]
    inside = changes[(changes["start_s"] - mean_s >= t[0] - 1e-9) & (end + mean_s <= t[-1] + step + 1e-9)]
    dv = []
    for s0, d in zip(inside["start_s"].to_numpy(), inside["duration_s"].to_numpy(), strict=True):
        before = x[(t >= s0 - mean_s) & (t < s0)].mean()
        after = x[(t >= s0 + d) & (t < s0 + d + mean_s)].mean()
        step_pct = 100.0 * abs(after - before)
        dv.append(step_pct if step_pct / max(d, step) > RVC_RATE_PCT_PER_S else 0.0)
    out = inside.assign(dv_pct=dv)
    res: pd.DataFrame = out.assign(sensitivity_pct_per_mw=out["dv_pct"] / out["step_mw"].abs())
    return res


def rvc_count_finding(runs: list[WindowRun], changes: pd.DataFrame, t0: pd.Timestamp, limits: RVCLimits,
                      case: str = "N-0") -> Finding | None:
    """Rapid voltage changes of every discrete campus event of the horizon, counted by rolling
    hour and day against the table by frequency of changes (the cap included).

    Each kind of change (checkpoint drop and return, interruption, restart, job start and stop,
    trip and its return) takes its POI step from the sub-second runs that hold one
    (:func:`event_voltage_steps`): the largest step per MW of campus change of that kind; every
    occurrence of the horizon then steps the POI by that sensitivity times its own campus change
    (the POI voltage moves by about ``dV/dP x ΔP``, one factor per site and plant response). A kind
    no run holds is listed in ``details["kinds_not_measured"]`` and not counted. ``None`` without
    any campus change in the horizon.
    """
    if not len(changes):
        return None
    measured = pd.concat([event_voltage_steps(r, changes, t0) for r in runs], ignore_index=True) if runs else \
        changes.iloc[:0].assign(dv_pct=[], sensitivity_pct_per_mw=[])
    sens = measured.groupby("kind")["sensitivity_pct_per_mw"].max() if len(measured) else pd.Series(dtype=float)
    kinds = [k for k in dict.fromkeys(changes["kind"]) if k not in sens.index]
    counted = changes[changes["kind"].isin(sens.index)]
    dv = counted["step_mw"].abs().to_numpy() * sens.reindex(counted["kind"]).to_numpy()
    rapid = dv > 0.0
    times = pd.DatetimeIndex(t0 + pd.to_timedelta(counted["start_s"].to_numpy()[rapid], unit="s"))
    f = count_finding(times, dv[rapid], limits)
    by_kind = {k: {"changes": int((counted["kind"] == k).sum()),
                   "pct_per_mw": float(sens[k]),
                   "largest_step_pct": float(dv[(counted["kind"] == k).to_numpy()].max(initial=0.0)),
                   "measured_pct": float(measured.loc[measured["kind"] == k, "dv_pct"].max())}
               for k in sens.index}
    where = "" if case == "N-0" else f" ({case})"
    note = (f"Every discrete campus event of the horizon (checkpoints, interruptions and restarts, job start and stop, "
            f"trip){where}: the POI step of each kind measured on the sub-second windows (means of the POI voltage "
            f"over {RVC_MEAN_S:g} s before and after the change; a change slower than {RVC_RATE_PCT_PER_S:g} %/s "
            f"is a slow variation, not counted), per MW of campus change, times each occurrence's own change; "
            f"counted over rolling hours and days against the table by frequency of changes.")
    if kinds:
        note += " Not measured on any window (not counted): " + ", ".join(kinds) + "."
    return replace(f, criterion=f"rapid voltage change ({limits.voltage_class}, campus events{where})", note=note,
                   details={**f.details, "by_kind": by_kind, "kinds_not_measured": kinds,
                            "meter": f"POI voltage, {RVC_MEAN_S:g}-s means of the sub-second samples before and "
                                     "after each campus change",
                            "case": case})


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
    #: flicker and rapid voltage change in the weakest N-1 state (``None``: not run)
    n1: dict[str, Any] | None = None
    #: :func:`swing_period_sensitivity`'s rows
    swing_period_sensitivity: list[dict[str, Any]] = field(default_factory=list)
    #: the 2-h window of the Plt (:func:`plt_window`; ``None``: the horizon holds no 2 h)
    plt_window: Window | None = None


def too_short(study: StudySetup) -> bool:
    """True when the horizon cannot hold one Pst: a minute plus the flickermeter's look-ahead."""
    fl = study.fluctuation
    lookahead_s = math.ceil((LOOKAHEAD_STEPS + 1) * fl.step_s / study.step_s) * study.step_s
    return bool(len(study.horizon) * study.step_s < MIN_WINDOW_S + lookahead_s)


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
    changes = campus_changes(study.horizon, study.campus)
    windows = choose_windows(study, settings, changes)
    is_aliased = aliased(study)
    cls = voltage_class(site.poi_vn_kv)
    short = [r for r in preset.ramps if r.window_s < MIN_STEPS * study.step_s]
    # the flickermeter replaces the analytical estimate always; the short windows' grid-side
    # findings of the study-step run are replaced where that run is aliased, else judged beside
    replaced = {"flicker"} | ({f"grid_variation.{slug(r.name)}" for r in short} if is_aliased else set())
    ramp_suffix = "" if is_aliased else ".sub-second"
    strategies = study.strategies()
    idx0 = study.horizon[0]
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
            ev_rvc = rvc_count_finding(rs, changes, idx0, preset.rvc_limits(cls))
            if ev_rvc is not None:
                fs.append(replace_id(ev_rvc, "rapid_voltage_change.events", "rapid_voltage_change"))
            for lim in short:
                per = [ramp_finding(r.grid_p_mw.iloc[r.judged], lim, preset.meter_for(lim)) for r in rs]
                wf = max(per, key=lambda f: f.worst_value)
                fs.append(Finding(
                    criterion=f"grid-side variation: {lim.name} (sub-second)", passed=all(f.passed for f in per),
                    worst_value=wf.worst_value, worst_unit=wf.worst_unit, when=wf.when,
                    seconds_outside=sum(f.seconds_outside for f in per), events=sum(f.events for f in per),
                    limits=wf.limits, note=wf.note + f" Judged at {settings.step_s * 1000:g} ms on the sub-second windows.",
                    details={**dict(wf.details), "max_p2p_mw_5s": max(p2p_5s(r.grid_p_mw.iloc[r.judged], preset)
                                                                      for r in rs)},
                    id=f"grid_variation.{slug(lim.name)}{ramp_suffix}", group="grid_variation"))
            for r in rs:
                r.spectrum = oscillation_spectrum(r.grid_p_mw.iloc[r.judged])
            fs.append(replace_id(oscillation_finding({r.window.label: r.grid_p_mw.iloc[r.judged] for r in rs}, rating,
                                                     preset.oscillation), "oscillation", "oscillation"))
        findings[name] = fs
    worst_by = {}
    for name, fs in findings.items():
        fl = next((f for f in fs if f.group == "flicker"), None)
        if fl is not None:
            worst_by[name] = next((r.window for r in runs[name] if r.window.start == fl.when), runs[name][0].window)
    pw = plt_window(study, settings)
    for name, strat in strategies.items():
        if not findings[name]:
            continue
        if pw is None:
            findings[name].append(plt_not_applicable(preset.flicker_levels(cls), study))
            continue
        say(f"Plt window {name}: {pw.label}, {PLT_N_PST} x {PST_INTERVAL_S:g} s at {settings.step_s * 1000:g} ms")
        r = run_window(study, site, name, strat, results[name], profiles[name], pw, settings, engine)
        findings[name].append(plt_finding(r, preset.flicker_levels(cls), preset.flicker_lamp, settings))
    n1 = n1_assessment(study, site, results, profiles, worst_by, windows, changes, engine, say) if windows else None
    if n1 is not None:
        for name, extra in n1.findings.items():
            findings[name] += extra
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
    periods = swing_period_sensitivity(study, site, results, profiles, worst_by, settings, engine, say, runs) \
        if windows and settings.periods_s else []
    return Assessment(windows, runs, findings, replaced, is_aliased, settings.step_s, sens, note, modes, shares,
                      n1.summary() if n1 is not None else None, periods, pw)


@dataclass
class N1Assessment:
    """Flicker and rapid voltage change in the weakest N-1 state: the outage, its POI strength,
    the runs and the findings per scenario."""

    outage: Outage
    sk_mva: float
    sk_intact_mva: float
    runs: dict[str, list[WindowRun]]
    findings: dict[str, list[Finding]]
    #: how the POI's strength was measured (:func:`~gridstudy.studies.stages.contingency.strength_method`)
    strength_method: str = "iec60909"

    @property
    def strength_text(self) -> str:
        """The strength figures in words, with the measure they come from."""
        return strength_text(self.strength_method, self.sk_mva, self.sk_intact_mva)

    def summary(self) -> dict[str, Any]:
        """The ``fluctuation.n1`` block of ``summary.json``."""
        return {"outage": self.outage.label, "poi_sk_mva": self.sk_mva, "poi_sk_intact_mva": self.sk_intact_mva,
                "strength_method": self.strength_method, "strength_text": self.strength_text,
                "scenarios": {n: [r.window.label for r in rs] for n, rs in self.runs.items()}}


def strength_text(method: str, sk_mva: float, sk_intact_mva: float) -> str:
    """The POI's strength with an outage and intact, in words, with the measure they come from
    (``method``: :func:`~gridstudy.studies.stages.contingency.strength_method`). [MVA]"""
    what = ("short-circuit power" if method == "iec60909" else
            "strength from the power flow's dQ/dV at the POI (the site has no fault data)")
    return f"{what} {sk_mva:.0f} MVA against {sk_intact_mva:.0f} MVA intact"


def n1_assessment(study: StudySetup, site: Site, results: dict[str, QSTSResult], profiles: dict[str, pd.DataFrame],
                  worst_flicker: dict[str, Window], windows: list[Window], changes: pd.DataFrame, engine: str,
                  say: Any) -> N1Assessment | None:
    """Flicker and rapid voltage change in the weakest N-1 state (:func:`weakest_outage`: the
    lowest short-circuit power at the POI), for each scenario of ``contingencies.scenarios``: its
    worst flicker window and the windows of the worst discrete events run at the sub-second step
    with that outage applied, each from the N-0 state at its start (taps, state of charge), as the
    N-1 stage does. ``None`` where the study runs no contingencies or the site has no credible outage."""
    cs = study.contingencies
    if not cs.enabled:
        return None
    weak = weakest_outage(site)
    if weak is None:
        return None
    outage, sk, sk0 = weak
    method = strength_method(site)
    strength = strength_text(method, sk, sk0)
    out_site = outage_site(site, outage)
    settings, preset = study.fluctuation, study.preset
    cls = voltage_class(site.poi_vn_kv)
    case = f"N-1: {outage.label}"
    events = [w for w in windows if w.reason.startswith("worst ")]
    runs: dict[str, list[WindowRun]] = {}
    found: dict[str, list[Finding]] = {}
    for name, strat in study.strategies().items():
        if name not in cs.scenarios or name not in worst_flicker:
            continue
        chosen = list({w.start: w for w in [worst_flicker[name], *events]}.values())
        say(f"sub-second windows {name} in the weakest N-1 state ({outage.label}): {len(chosen)} windows")
        rs = [run_window(study, out_site, name, strat, results[name], profiles[name], w, settings, engine)
              for w in chosen]
        runs[name] = rs
        r = rs[0]
        f = flickermeter_finding(r.poi_vm_pu, preset.flicker_levels(cls), lamp=preset.flicker_lamp,
                                 settle_s=settings.warmup_s if r.judged.start else 0.0, interval_s=settings.window_s)
        fs = [replace(f, criterion=f"flicker ({cls}, IEC 61000-4-15, sub-second, {case})", when=r.window.start,
                      note=(f"IEC 61000-4-15 flickermeter ({preset.flicker_lamp} lamp) on the POI voltage at "
                            f"{settings.step_s * 1000:g} ms in the worst flicker window ({r.window.label}) with "
                            f"{outage.label} out of service: the weakest POI of the credible outages "
                            f"({strength})."),
                      details={**dict(f.details), "method": "iec61000-4-15", "fluctuation_step_s": settings.step_s,
                               "outage": outage.label, "window": r.window.label},
                      id="flicker.n-1", group="flicker")]
        ev = rvc_count_finding(rs, changes, study.horizon[0], preset.rvc_limits(cls), case=case)
        if ev is not None:
            fs.append(replace(ev, id="rapid_voltage_change.n-1", group="rapid_voltage_change",
                              details={**ev.details, "outage": outage.label}))
        found[name] = fs
    return N1Assessment(outage, sk, sk0, runs, found, method) if runs else None


def p2p_5s(p_mw: pd.Series, preset: CriteriaPreset) -> float:
    """The largest 5-s peak-to-peak of grid-side power as the preset's peak-to-peak meter reads it
    (1-s RMS by default), the meter of the 5-s criterion and of the summary's figure. [MW]"""
    read = preset.meters["peak_to_peak"].apply(p_mw)
    return float(max_p2p_mw(read, 5.0)) if read is not None and len(read) > 1 else 0.0


def replace_id(f: Finding, fid: str, group: str) -> Finding:
    return replace(f, id=fid, group=group)


def latency_sensitivity(study: StudySetup, site: Site, results: dict[str, QSTSResult], profiles: dict[str, pd.DataFrame],
                        worst_windows: dict[str, Window], settings: FluctuationSection, engine: str,
                        say: Any) -> list[dict[str, Any]]:
    """Pst and 5-s peak-to-peak of each battery scenario's worst flicker window
    (``worst_windows``) against the total battery latency (:data:`FluctuationSection.latencies_s`)."""

    out = []
    for name, strat in study.strategies().items():
        # the central chain scaled: a grid-following plant's (the other modes are in the control-mode table)
        if strat is None or strat.name == "none" or name not in worst_windows or strat.mode != "grid_following":
            continue
        say(f"latency sensitivity {name}: {len(settings.latencies_s)} latencies on the worst window")
        worst = (worst_windows[name], None)
        for lat in settings.latencies_s:
            s = strat.with_total_latency(lat)
            r = run_window(study, site, name, s, results[name], profiles[name], worst[0], settings, engine)
            fm = flickermeter(r.poi_vm_pu, lamp=study.preset.flicker_lamp,
                              settle_s=settings.warmup_s if r.judged.start else 0.0, interval_s=settings.window_s)
            out.append({"latency_s": lat, "scenario": name, "window": worst[0].label, "pst_max": fm.pst_max,
                        "max_p2p_mw_5s": p2p_5s(r.grid_p_mw.iloc[r.judged], study.preset)})
    return out


#: The scenarios of the swing-period sensitivity: the campus alone and with the study's plant.
PERIOD_SCENARIOS = ("without_battery", "with_battery")


def swing_period_sensitivity(study: StudySetup, site: Site, results: dict[str, QSTSResult],
                             profiles: dict[str, pd.DataFrame], worst_windows: dict[str, Window],
                             settings: FluctuationSection, engine: str, say: Any,
                             runs: dict[str, list[WindowRun]] | None = None) -> list[dict[str, Any]]:
    """Pst, 5-s peak-to-peak and the oscillation screen's peak of the ``without_battery`` and
    ``with_battery`` scenarios on their worst flicker window, with the campus's training
    iteration period set to each of :data:`FluctuationSection.periods_s` (the same realization
    otherwise: the same jitter draws scaled to the period, the same checkpoints and
    interruptions; the window starts from the study-step run's state). ``runs``: the assessment's
    own window runs, reused at the campus's own period (the same run)."""
    out: list[dict[str, Any]] = []
    strategies = study.strategies()
    osc = study.preset.oscillation
    for name in PERIOD_SCENARIOS:
        campus = study.campus_for(name)
        if name not in strategies or name not in worst_windows or not isinstance(campus, CampusLoadParams):
            continue
        win = worst_windows[name]
        say(f"swing-period sensitivity {name}: {len(settings.periods_s)} periods on the worst window")
        own = next((r for r in (runs or {}).get(name, []) if r.window == win), None)
        for period in settings.periods_s:
            if own is not None and float(period) == campus.period_s:
                r = own  # the campus at its own period: the assessment ran this window already
            else:
                variant = copy.copy(study)  # the same study with this scenario's campus at another period
                variant.scenario_campus = {**study.scenario_campus, name: campus.replace(period_s=float(period))}
                r = run_window(variant, site, name, strategies[name], results[name], profiles[name], win, settings,
                               engine)
            fm = flickermeter(r.poi_vm_pu, lamp=study.preset.flicker_lamp,
                              settle_s=settings.warmup_s if r.judged.start else 0.0, interval_s=settings.window_s)
            line, _ = worst_line(r.grid_p_mw.iloc[r.judged], osc.band_hz, osc.windows_s)
            out.append({"period_s": float(period), "scenario": name, "window": win.label, "pst_max": fm.pst_max,
                        "max_p2p_mw_5s": p2p_5s(r.grid_p_mw.iloc[r.judged], study.preset),
                        "oscillation_peak_mw": float(line.amplitude_mw), "oscillation_peak_hz": float(line.peak_hz),
                        "nonconverged_steps": r.nonconverged_steps})
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
            c = base.replace(mode="grid_forming", follow_filter=None,
                             grid_forming=base.grid_forming.replace(loop=loop, x_pu=x))
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
    osc = study.preset.oscillation
    out = []
    for keys, s in variants:
        r = run_window(study, site, name, s, results[name], profiles[name], win, settings, engine)
        fm = flickermeter(r.poi_vm_pu, lamp=study.preset.flicker_lamp,
                          settle_s=settings.warmup_s if r.judged.start else 0.0, interval_s=settings.window_s)
        # the oscillation screen's own meter (worst line over its sliding windows), as the findings
        line, _ = worst_line(r.grid_p_mw.iloc[r.judged], osc.band_hz, osc.windows_s)
        out.append({**keys, "scenario": name, "window": win.label, "pst_max": fm.pst_max,
                    "max_p2p_mw_5s": p2p_5s(r.grid_p_mw.iloc[r.judged], study.preset),
                    "oscillation_peak_mw": float(line.amplitude_mw),
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
    fs: dict[str, Finding] = {}
    for f in fluct.findings[name]:  # the first of each group: the N-0 finding (the N-1 ones follow)
        fs.setdefault(f.group, f)
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
        out["pst_by_window"] = dict(flick.details.get("pst_by_window", {}))
    # Plt is the cubic mean of 12 consecutive 10-min Pst (2 h): from the Plt window's run alone
    lt = fs.get("flicker_plt")
    out["plt_max"] = float(lt.worst_value) if lt is not None and lt.counts else float("nan")
    if lt is not None:
        out["plt"] = {"value": out["plt_max"], "pst": list(lt.details.get("pst", [])),
                      "window": lt.details.get("window"), "pass": lt.passed if lt.counts else None,
                      "standing": lt.standing, "limit": lt.limits[0].value if lt.limits else None}
    em = fs.get("flicker_emission")
    if em is not None:
        out["flicker_emission"] = {k: em.details[k] for k in ("emission_pst", "emission_limit_pst", "total_pst",
                                                               "planning_pst", "share", "background_pst")}
        out["flicker_emission"]["pass"] = em.passed
    if osc is not None:
        d = osc.details
        out["oscillation"] = {k: d[k] for k in ("band_hz", "peak_mw", "peak_hz", "limit_mw", "pass", "window", "bands",
                                                "window_s", "by_window_length", "method")}
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
    return {**base, "assessed": True, "note": fluct.note, "n1": fluct.n1,
            "windows": [{"start": w.start, "stop": w.stop, "reason": w.reason, "label": w.label} for w in fluct.windows],
            "plt_window": ({"start": fluct.plt_window.start, "stop": fluct.plt_window.stop,
                            "label": fluct.plt_window.label} if fluct.plt_window is not None else None),
            "replaced_study_step_findings": sorted(fluct.replaced_ids)}
