"""Bounds on what a study file may ask for, checked before any computation.

A study file is input from anyone: it may name a horizon whose arrays do not fit in memory, a plant
of a billion units, or a site file anywhere on the machine. This module holds the one definition
of each bound and the checks that apply them, so that every command refuses such a file (exit 2,
the estimate and the limit named) before it computes or writes anything:

- :class:`RunPolicy`: what the person running the command allows beyond the defaults
  (``--force``, ``--max-memory-gb``, ``--allow-outside-paths``), set for one command by the CLI
  (:func:`use_policy`);
- hard limits that no option lifts (:data:`MAX_STEPS`, and the sizes of :mod:`gridstudy.grid.bounds`,
  :data:`MAX_GPUS` and :data:`MAX_BATTERY_UNITS`, which site files, study files, sweeps and sizing share);
- :func:`estimate_resources` and :func:`budget_problems`: memory and run time of a study from its
  steps, scenarios and buses, against this machine's memory and :data:`MAX_HOURS`; a command that
  streams long horizons (``qsts`` on the fast engine: profiles made part by part, the series kept
  as 1-minute envelopes) is estimated as it runs, not as whole frames;
- :func:`outside_problem`: a path named by a study file must lie in the study file's folder tree;
- :func:`plant_warnings`: a plant far larger than its campus or its grid (a judgement: warned in
  ``summary.json`` and the report, not refused);
- :func:`check_first_block`: a study whose base case does not converge stops at once with a
  verdict (voltage collapse) instead of solving every step of the horizon.

The rates of the estimate are measured, not derived (the fast engine on the reference sites:
about 1e5 power flows per second on small sites, about 1 microsecond per step for the campus
model; a whole ``gridstudy run`` of ``examples/demo.toml``, 86 400 steps, two scenarios, N-1
and sag events: 21 s and 580 MB peak; a streamed year at 1 s, one scenario: under 1.1 GB peak on
each reference site); they are meant to be right within a factor of a few.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridstudy.grid.bounds import MAX_BATTERY_UNITS, MAX_GPUS
from gridstudy.grid.errors import Problem

__all__ = ["RunPolicy", "policy", "use_policy", "MAX_GPUS", "MAX_BATTERY_UNITS", "MAX_STEPS", "MAX_HOURS",
           "MAX_SCENARIO_NAME", "machine_memory_bytes", "estimate_resources", "budget_problems",
           "outside_problem", "plant_warnings", "FIRST_BLOCK_STEPS"]

#: Most steps of a horizon, whatever the memory (a year at 100 ms is 3.2e8). [-]
MAX_STEPS = 400_000_000
#: Longest estimated run time accepted without ``--force``. [h]
MAX_HOURS = 24.0
#: Longest scenario name (it names a folder of the output). [characters]
MAX_SCENARIO_NAME = 64
#: Steps per part when profiles are streamed to the engine
#: (:meth:`gridstudy.studies.setup.StudySetup.profile_stream`, the streamed N-1 windows). [-]
STREAM_PART_STEPS = 1 << 16
#: Horizons longer than this run the fast engine on streamed profiles by default
#: (:meth:`gridstudy.studies.study.Study.qsts`). [-]
STREAM_MIN_STEPS = 1 << 20
#: Runs up to this many steps keep their per-step series in full (``gridstudy qsts``, an N-1
#: window); longer ones keep 1-minute envelopes and are judged on the way. [-]
FULL_SERIES_MAX_STEPS = 86_400

#: Steps of the first block probed for convergence before a study runs. [-]
FIRST_BLOCK_STEPS = 8

#: Memory held per step and scenario (profiles, recorded series, aggregates) and per bus. [bytes]
_BYTES_PER_STEP = 2_500.0
_BYTES_PER_STEP_BUS = 64.0
#: Memory of the interpreter with pandapower and the study loaded. [bytes]
_BYTES_BASE = 400e6
#: A streamed run (:meth:`gridstudy.studies.study.Study.qsts` over ``STREAM_MIN_STEPS``): besides the
#: interpreter, the parts and blocks in flight, the compiled engine and the aggregates. [bytes]
_BYTES_STREAMED = 400e6
#: A streamed run, per step: the horizon's time index (8 B), and per scenario its 1-minute envelopes
#: and convergence record (about 4 B a step at 1 s, less at finer steps). [bytes]
_BYTES_PER_STEP_STREAMED = 8.0
_BYTES_PER_STEP_SCENARIO_STREAMED = 8.0
#: Run time per step and scenario: the fast engine's power flow per bus, the rest per step. [s]
_S_PER_STEP = {"fast": 1.2e-4, "reference": 5e-3}
_S_PER_STEP_BUS = {"fast": 1e-6, "reference": 1e-4}


@dataclass(frozen=True)
class RunPolicy:
    """What the person running a command allows beyond the defaults.

    Attributes
    ----------
    force : bool
        Run even where the estimate exceeds the machine's memory or :data:`MAX_HOURS`.
    max_memory_gb : float or None
        Memory a study may use; ``None``: 80 % of this machine's memory. [GB]
    allow_outside_paths : bool
        Let a study file name files outside its own folder tree.
    engine : str
        The QSTS engine the command runs (for the time estimate).
    streams : bool
        The command streams horizons over ``STREAM_MIN_STEPS`` steps on the fast engine (``qsts``):
        their memory is estimated as streamed.
    """

    force: bool = False
    max_memory_gb: float | None = None
    allow_outside_paths: bool = False
    engine: str = "fast"
    streams: bool = False


_POLICY = [RunPolicy()]


def policy() -> RunPolicy:
    """The policy in force (the defaults outside :func:`use_policy`)."""
    return _POLICY[-1]


@contextlib.contextmanager
def use_policy(p: RunPolicy) -> Iterator[RunPolicy]:
    """Apply ``p`` for the duration of a ``with`` block (one command)."""
    _POLICY.append(p)
    try:
        yield p
    finally:
        _POLICY.pop()


def machine_memory_bytes() -> int | None:
    """Physical memory of this machine, or ``None`` where the system does not say. [bytes]"""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _gb(b: float) -> str:
    return f"{b / 1e9:.3g} GB"


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 86400 * 3:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.3g} days"


def estimate_resources(steps: float, scenarios: int, buses: int, engine: str = "fast",
                       extra_pf: float = 0.0, streamed: bool = False) -> tuple[float, float]:
    """Memory [bytes] and run time [s] of a study: ``steps`` per scenario, ``scenarios`` scenarios
    run one after the other, ``buses`` buses, plus ``extra_pf`` further power flows (N-1);
    ``streamed``: the profiles made part by part and the series kept as envelopes (memory then
    grows with the steps only by the time index and the envelopes, not with the buses)."""
    eng = engine if engine in _S_PER_STEP else "fast"
    if streamed:
        mem = _BYTES_BASE + _BYTES_STREAMED + steps * (_BYTES_PER_STEP_STREAMED
                                                        + scenarios * _BYTES_PER_STEP_SCENARIO_STREAMED)
    else:
        mem = _BYTES_BASE + steps * scenarios * (_BYTES_PER_STEP + _BYTES_PER_STEP_BUS * buses)
    per = _S_PER_STEP[eng] + _S_PER_STEP_BUS[eng] * buses
    return mem, (steps * scenarios + extra_pf) * per


def budget_problems(steps: float, scenarios: int, buses: int, field: str, value: Any,
                    extra_pf: float = 0.0, runs: int = 1) -> list[Problem]:
    """The horizon's problems: beyond :data:`MAX_STEPS`, or (unless the policy forces it) an
    estimate beyond the memory limit or :data:`MAX_HOURS` (``runs`` studies one after the other)."""
    if not math.isfinite(steps) or steps > MAX_STEPS:
        return [Problem(field, f"{steps:.3g} steps, more than the {MAX_STEPS:.3g} a study may have "
                               "(shorten the horizon or lengthen the step)", value)]

    pol = policy()
    streamed = pol.streams and pol.engine == "fast" and steps > STREAM_MIN_STEPS
    mem, secs = estimate_resources(steps, scenarios, buses, pol.engine, extra_pf, streamed=streamed)
    secs *= runs
    if pol.force:
        return []
    out = []
    machine = machine_memory_bytes()
    limit = pol.max_memory_gb * 1e9 if pol.max_memory_gb is not None else (0.8 * machine if machine else None)
    if limit is not None and mem > limit:
        src = "--max-memory-gb" if pol.max_memory_gb is not None else "80 % of this machine's memory"
        how = "streamed" if streamed else f"x {buses} buses"
        hint = ("; `gridstudy qsts` streams this horizon on the fast engine in bounded memory and judges it on "
                "the way" if not streamed and steps > STREAM_MIN_STEPS else "")
        out.append(Problem(field, f"{steps:.3g} steps x {scenarios} scenarios {how} need about "
                                  f"{_gb(mem)} of memory, more than the limit of {_gb(limit)} ({src}); shorten "
                                  "the horizon, lengthen the step, or pass --force / --max-memory-gb" + hint, value))
    if secs > MAX_HOURS * 3600:
        out.append(Problem(field, f"{steps:.3g} steps x {scenarios} scenarios x {buses} buses"
                                  + (f" x {runs} runs" if runs > 1 else "")
                                  + f" would take about {_duration(secs)} on the {pol.engine} engine, more than the "
                                  f"limit of {MAX_HOURS:g} h; shorten the horizon, lengthen the step, or pass --force",
                           value))
    return out


def outside_problem(path: str, root: Path, field: str) -> Problem | None:
    """A problem when ``path`` (relative to ``root``, the study file's folder) resolves outside
    ``root``'s tree and the policy does not allow it; ``None`` otherwise."""
    if policy().allow_outside_paths:
        return None
    p = Path(path)
    p = p if p.is_absolute() else root / p
    try:
        p.resolve().relative_to(root.resolve())
    except ValueError:
        return Problem(field, "names a file outside the study file's folder; move it beside the study file or "
                              "pass --allow-outside-paths", path)
    except (OSError, RuntimeError):  # a symlink loop
        return Problem(field, "cannot be resolved", path)
    return None


def plant_warnings(plant_p_mw: float, campus_peak_mw: float, s_sc_min_mva: float | None,
                   ratio: float = 10.0) -> list[str]:
    """Warnings for a plant whose rating is out of proportion: above ``ratio`` times the campus
    peak, or above the site's minimum fault level (its short-circuit capacity).

    Parameters
    ----------
    plant_p_mw : float
        Plant rating. [MW]
    campus_peak_mw : float
        The site's campus peak. [MW]
    s_sc_min_mva : float or None
        Minimum fault level of the source (``None``: unknown). [MVA]
    ratio : float
        Multiple of the campus peak above which a plant is out of proportion. [-]
    """
    out = []
    if campus_peak_mw > 0 and plant_p_mw > ratio * campus_peak_mw:
        out.append(f"battery plant rating {plant_p_mw:.4g} MW is more than {ratio:g} times the campus peak "
                   f"({campus_peak_mw:.4g} MW): check battery.units")
    if s_sc_min_mva is not None and math.isfinite(s_sc_min_mva) and s_sc_min_mva > 0 and plant_p_mw > s_sc_min_mva:
        out.append(f"battery plant rating {plant_p_mw:.4g} MW exceeds the site's minimum short-circuit capacity "
                   f"({s_sc_min_mva:.4g} MVA): the grid cannot carry it; check battery.units")
    return out
