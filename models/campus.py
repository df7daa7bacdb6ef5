"""The AI training campus: grid draw of synchronous GPU training plus its facility load.

What the model reproduces (sources in ``docs/sources/load.md §1-§5``; defaults in §6):

- Synchronous training iterations: a compute phase near GPU TDP and a communication phase near idle,
  repeating every 1-2 s, so that the swing sits at 0.2-3 Hz; the gap between low and high can exceed
  100 % of the low value (Choukse et al., "Power Stabilization for AI Training Datacenters",
  arXiv:2508.14318; Uptime Institute, "Electrical considerations with large AI compute").
- Checkpoints pull power down to near idle for a while (Meta Llama 3, 24k H100: swings of tens of
  MW at checkpoints, collectives and job start/stop).
- Job start and stop ramp between idle (about 10 % of nominal, Vertiv) and full; a training site can
  change its loading by 35-70 MW or more within a minute, and a 50 MW block ramped at 1.9 pu/s for
  about 250 ms (NERC Large Loads Task Force white paper, July 2025).
- Job interruptions: Llama 3 logged 419 unexpected interruptions in a 54-day snapshot on 16,384
  H100 GPUs (Llama Team, Meta, "The Llama 3 Herd of Models", arXiv:2407.21783, 2024), about
  4.74e-4 per GPU-day; one synchronous job fails when any of its GPUs does, so the rate scales with
  the job's GPU count (``failure_rate_per_gpu_day`` x ``gpus``).
- Hardware: H100 and H200 SXM 700 W TDP; an 8-GPU DGX node is rated 10.2 kW and measured at about
  8.4 kW, i.e. about 0.5 W of node overhead per W of GPU (arXiv:2412.08602, arXiv:2506.14551).
- Facility overhead: PUE 1.55-1.59 industry average, 1.3 or better on new large sites; cooling
  follows the heat with a time constant of minutes *(check)*.
- A scripted trip: the campus transfers to backup and its grid draw falls to zero, then returns
  (Virginia, 10 July 2024; a data center fell from about 450 MW to 40 MW in 36 s and ramped back
  over a few minutes, NERC).

Every value is a parameter of :class:`CampusLoadParams` with the figure above as its default.

Energy-correct averaging: the grid draw is a piecewise-linear function of time between
breakpoints (iteration phase edges, ramp corners, step boundaries); the model integrates it exactly
on those segments (the facility load by the exact response of a first-order lag to a linear input)
and returns the average over each step. A 1-h series therefore carries the energy of the 1-s series
it summarises. The only approximation is at the rare segment where two overlapping envelope ramps
cross (checkpoint, interruption, job start/stop, trip recovery), a second-order error on a
sub-second segment.

Sign: pandapower's consumer view, the campus draw is positive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any

import numba
import numpy as np
import pandas as pd

from gridstudy.grid.bounds import MAX_CAMPUS_MW, MAX_GPUS
from gridstudy.models.errors import ModelError, Problem, finite_parameters
from gridstudy.models.gpu_smoothing import GpuSmoothing, smooth_segments
from gridstudy.models.timeindex import Horizon, make_index, step_seconds

__all__ = ["GpuModel", "GPU_MODELS", "CampusLoadParams", "campus_load", "campus_chunks", "campus_window", "change_severity",
           "expected_mean_p_mw",
           "nominal_peak_p_mw", "swing_amplitude_p_mw", "start_activity", "job_start_fraction", "nominal_idle_p_mw", "gpus_for_peak", "campus_for_peak"]


#: Most random job interruptions a day the model accepts: one a minute, far above any published
#: failure rate (docs/sources/load.md §3: ~100 a day for 220,000 GPUs). [1/day]
MAX_INTERRUPTIONS_PER_DAY = 1440.0
#: Largest failure rate accepted: a GPU failing every 100 days, about 20 times the Llama 3 rate
#: (docs/sources/load.md §3). [1/GPU-day]
MAX_FAILURE_RATE_PER_GPU_DAY = 0.01

@dataclass(frozen=True)
class GpuModel:
    """A GPU preset.

    Parameters
    ----------
    key : str
        Preset name used in study files.
    tdp_w : float
        Thermal design power of one GPU. [W]
    description : str
        Readable name.
    uncertain : bool
        True where the TDP is an unconfirmed default *(check)*.
    smoothing_scopes : tuple of str
        The GPU-side power smoothing the hardware has (``docs/sources/load.md §7``): ``"gpu"``, the
        NVML power-smoothing profile (Blackwell: GB200, GB300); ``"rack"``, the energy storage of
        the GB300 NVL72 power shelf as well. Empty: none (Hopper: H100, H200).
    """

    key: str
    tdp_w: float
    description: str
    uncertain: bool = False
    smoothing_scopes: tuple[str, ...] = ()


#: GPU presets: H100/H200 SXM 700 W (docs/sources/load.md §4); GB200 per-GPU 1200 W and GB300
#: per-GPU 1400 W are not confirmed from a primary document and are defaults to check *(check)*.
#: Power smoothing: NVML's profile on Blackwell (GB200, GB300), the power shelf's storage on the
#: GB300 NVL72 (docs/sources/load.md §7); none on Hopper.
GPU_MODELS: dict[str, GpuModel] = {
    g.key: g
    for g in (
        GpuModel("h100", 700.0, "NVIDIA H100 SXM"),
        GpuModel("h200", 700.0, "NVIDIA H200 SXM"),
        GpuModel("gb200", 1200.0, "NVIDIA GB200 (per B200 GPU)", uncertain=True, smoothing_scopes=("gpu",)),
        GpuModel("gb300", 1400.0, "NVIDIA GB300 NVL72 (per B300 GPU)", uncertain=True,
                 smoothing_scopes=("gpu", "rack")),
    )
}


@finite_parameters
@dataclass(frozen=True)
class CampusLoadParams:
    """Parameters of the AI training campus load.

    Parameters
    ----------
    gpus : int
        Number of GPUs. [-]
    gpu_model : str
        Key of :data:`GPU_MODELS`.
    gpu_tdp_w : float or None
        Override of the preset's TDP. [W]
    compute_fraction : float
        GPU draw in the compute phase as a fraction of TDP ("near TDP"). [-]
    swing_depth : float
        Drop from the compute to the communication phase as a fraction of the compute level;
        0.6 makes the high level 2.5 x the low, a gap of 150 % of the low value (Choukse et al.). [-]
    idle_fraction : float
        GPU draw at idle (no job, checkpoint, restart) as a fraction of TDP, about 10 % (Vertiv). [-]
    node_overhead : float
        Non-GPU server power per unit of GPU power; 0.5 from 8.4 kW measured per 8 x 700 W node. [-]
    node_swing_fraction : float
        Share of the non-GPU node power (``node_overhead``) that swings with the GPUs' compute and
        communication phases; the rest follows the job (idle, checkpoints, start and stop) at the
        iteration's mean level. 1: the whole node swings (the conservative bound, the default
        *(assumption)*); 0: CPUs, memory, network and fans constant through an iteration. [-]
    pue : float
        Power usage effectiveness: facility load = (pue - 1) x IT load in steady state. [-]
    pf : float
        Lagging power factor of the campus grid draw. [-]
    period_s : float
        Mean training iteration period, 1-2 s. [s]
    duty : float
        Fraction of each iteration in the compute phase. [-]
    jitter : float
        Relative standard deviation of the iteration period. [-]
    checkpoint_interval_s : float or None
        Time between checkpoints (first at one interval after the series start); ``None`` or 0:
        no checkpoints *(check)*. [s]
    checkpoint_duration_s : float
        Time spent at idle for each checkpoint. [s]
    transition_pu_per_s : float
        Rate of the fast transitions (checkpoint dips and returns, interruptions), in per unit of
        the idle-to-full swing per second; 1.9 pu/s measured by NERC. [1/s]
    job_start_s : float or None
        Time after the series start at which the job starts from idle; ``None``: running from the
        start. [s]
    job_stop_s : float or None
        Time after the series start at which the job stops to idle; ``None``: never. [s]
    start_ramp_s : float
        Duration of the ramp from idle to full at job start and after a restart: the one job-start
        definition of the package (the day's series and the sag events' job start,
        :func:`job_start_fraction`). [s]
    stop_ramp_s : float
        Duration of the ramp from full to idle at job stop. [s]
    interruptions_per_day : float or None
        Mean rate of random job interruptions (Poisson); ``None``: derived, ``failure_rate_per_gpu_day``
        x ``gpus`` (:attr:`interruption_rate_per_day`). [1/day]
    failure_rate_per_gpu_day : float
        Unexpected interruptions of a synchronous training job per GPU and day: 419 in 54 days on
        16,384 H100 GPUs (Llama 3, arXiv:2407.21783) is 4.74e-4. [1/(GPU day)]
    restart_s : float
        Time at idle after an interruption before the restart ramp. [s]
    cooling_tau_s : float
        Time constant of the facility (cooling) load following the IT heat *(check)*. [s]
    trip_at_s : float or None
        Time after the series start at which the campus transfers to backup; ``None``: no trip. [s]
    trip_duration_s : float
        Time on backup (grid draw zero). [s]
    trip_drop_s : float
        Duration of the fall to zero; 0 is a sudden transfer. [s]
    trip_recovery_s : float
        Duration of the ramp back to the pre-trip draw ("a few minutes", NERC). [s]
    seed : int
        Seed of the random parts (iteration jitter, interruptions). [-]
    smoothing : GpuSmoothing or None
        GPU-side power smoothing (per-GPU ramp limits, floor, ramp-down hysteresis); ``None``: off,
        the default. It acts on each GPU's power, before the node overhead and the facility
        (cooling) split: see :func:`campus_load`.
    """

    gpus: int = 100_000
    gpu_model: str = "h100"
    gpu_tdp_w: float | None = None
    compute_fraction: float = 1.0
    swing_depth: float = 0.6
    idle_fraction: float = 0.10
    node_overhead: float = 0.5
    node_swing_fraction: float = 1.0
    pue: float = 1.3
    pf: float = 0.98
    period_s: float = 1.5
    duty: float = 0.7
    jitter: float = 0.05
    checkpoint_interval_s: float | None = 1800.0
    checkpoint_duration_s: float = 20.0
    transition_pu_per_s: float = 1.9
    job_start_s: float | None = None
    job_stop_s: float | None = None
    start_ramp_s: float = 60.0
    stop_ramp_s: float = 10.0
    interruptions_per_day: float | None = None
    failure_rate_per_gpu_day: float = 4.74e-4
    restart_s: float = 300.0
    cooling_tau_s: float = 300.0
    trip_at_s: float | None = None
    trip_duration_s: float = 60.0
    trip_drop_s: float = 0.0
    trip_recovery_s: float = 180.0
    seed: int = 0
    smoothing: GpuSmoothing | None = None

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ModelError(problems)

    def problems(self, prefix: str = "campus") -> list[Problem]:
        """Every problem of the parameter set, each with its field path."""
        p: list[Problem] = []

        def need(name: str, ok: bool, msg: str) -> None:
            if not ok:
                p.append(Problem(f"{prefix}.{name}", msg, getattr(self, name)))

        integer = isinstance(self.gpus, (int, np.integer)) and not isinstance(self.gpus, bool)
        need("gpus", integer and self.gpus > 0, "must be an integer > 0")
        if integer and self.gpus > MAX_GPUS:
            need("gpus", False, f"must be <= {MAX_GPUS:,} (gridstudy.grid.bounds)")
        need("gpu_model", self.gpu_model in GPU_MODELS, f"unknown GPU model; known: {', '.join(GPU_MODELS)}")
        need("gpu_tdp_w", self.gpu_tdp_w is None or self.gpu_tdp_w > 0, "must be > 0")
        need("compute_fraction", 0 < self.compute_fraction <= 1.5, "must lie in (0, 1.5]")
        need("swing_depth", 0 <= self.swing_depth <= 1, "must lie in [0, 1]")
        need("idle_fraction", 0 <= self.idle_fraction <= self.compute_fraction, "must lie in [0, compute_fraction]")
        need("node_overhead", self.node_overhead >= 0, "must be >= 0")
        need("node_swing_fraction", 0 <= self.node_swing_fraction <= 1, "must lie in [0, 1]")
        need("pue", 1 <= self.pue <= 3, "must lie in [1, 3]")
        need("pf", 0 < self.pf <= 1, "must lie in (0, 1]")
        need("period_s", self.period_s > 0, "must be > 0")
        need("duty", 0 < self.duty < 1, "must lie in (0, 1)")
        need("jitter", 0 <= self.jitter <= 0.5, "must lie in [0, 0.5]")
        need("checkpoint_interval_s", self.checkpoint_interval_s is None or self.checkpoint_interval_s >= 0, "must be >= 0")
        ckpt_on = bool(self.checkpoint_interval_s)
        need("checkpoint_duration_s", self.checkpoint_duration_s >= 0 and (
            not ckpt_on or self.checkpoint_duration_s + 2 / max(self.transition_pu_per_s, 1e-9) < (self.checkpoint_interval_s or 0.0)),
            "must be >= 0 and leave room in checkpoint_interval_s")
        need("transition_pu_per_s", self.transition_pu_per_s > 0, "must be > 0")
        need("job_start_s", self.job_start_s is None or self.job_start_s >= 0, "must be >= 0")
        need("job_stop_s", self.job_stop_s is None or self.job_stop_s >= (self.job_start_s or 0) + self.start_ramp_s,
             "must be >= job_start_s + start_ramp_s")
        need("start_ramp_s", self.start_ramp_s > 0, "must be > 0")
        need("stop_ramp_s", self.stop_ramp_s > 0, "must be > 0")
        need("interruptions_per_day", self.interruptions_per_day is None
             or 0 <= self.interruptions_per_day <= MAX_INTERRUPTIONS_PER_DAY,
             f"must lie in [0, {MAX_INTERRUPTIONS_PER_DAY:g}] (or absent: derived from failure_rate_per_gpu_day x gpus)")
        need("failure_rate_per_gpu_day", 0 <= self.failure_rate_per_gpu_day <= MAX_FAILURE_RATE_PER_GPU_DAY,
             f"must lie in [0, {MAX_FAILURE_RATE_PER_GPU_DAY:g}] per GPU-day")
        need("restart_s", self.restart_s >= 0, "must be >= 0")
        need("cooling_tau_s", self.cooling_tau_s > 0, "must be > 0")
        need("trip_at_s", self.trip_at_s is None or self.trip_at_s >= 0, "must be >= 0")
        need("trip_duration_s", self.trip_duration_s >= 0, "must be >= 0")
        need("trip_drop_s", self.trip_drop_s >= 0, "must be >= 0")
        need("trip_recovery_s", self.trip_recovery_s > 0, "must be > 0")
        factors = ("gpus", "gpu_tdp_w", "node_overhead", "compute_fraction", "pue")
        if not p and all(math.isfinite(getattr(self, k) or 0.0) for k in factors) and not nominal_peak_p_mw(self) <= MAX_CAMPUS_MW:
            # each factor valid (a non-finite one is the finiteness rule's), their product too large
            p.append(Problem(prefix, f"nominal peak (gpus x TDP x compute_fraction x (1 + node_overhead) x pue, the "
                                     "node's non-swinging share at the iteration's mean) of "
                                     f"{nominal_peak_p_mw(self):.6g} MW is more than the {MAX_CAMPUS_MW:,.0f} MW a "
                                     "campus may draw (gridstudy.grid.bounds)", {k: getattr(self, k) for k in factors}))
        if self.smoothing is not None:
            if isinstance(self.smoothing, GpuSmoothing):
                p += self.smoothing.problems(f"{prefix}.smoothing")
                gm = GPU_MODELS.get(self.gpu_model)
                if gm is not None and self.smoothing.scope in ("gpu", "rack") and \
                        self.smoothing.scope not in gm.smoothing_scopes:
                    has = [k for k, g in GPU_MODELS.items() if self.smoothing.scope in g.smoothing_scopes]
                    p.append(Problem(f"{prefix}.smoothing.scope",
                                     f"the campus's GPUs ({gm.description}, gpu_model = {self.gpu_model!r}) have no "
                                     + ("rack-level power smoothing (power-shelf energy storage)"
                                        if self.smoothing.scope == "rack" else "GPU power-smoothing feature")
                                     + " (docs/sources/load.md §7); GPU models that have it: " + ", ".join(has),
                                     self.smoothing.scope))
            else:
                need("smoothing", False, "must be a GpuSmoothing or None")
        return p

    @property
    def tdp_w(self) -> float:
        """TDP of one GPU. [W]"""
        return self.gpu_tdp_w if self.gpu_tdp_w is not None else GPU_MODELS[self.gpu_model].tdp_w

    @property
    def interruption_rate_per_day(self) -> float:
        """Mean rate of random job interruptions: ``interruptions_per_day``, or where that is
        ``None`` the GPUs' failure rate times the job's GPU count (every GPU of the campus is in
        the one synchronous job the model trains). [1/day]"""
        if self.interruptions_per_day is not None:
            return float(self.interruptions_per_day)
        return float(self.failure_rate_per_gpu_day) * float(self.gpus)

    @property
    def it_scale_mw(self) -> float:
        """IT power of the campus per unit of GPU TDP fraction: gpus x TDP x (1 + overhead). [MW]"""
        return self.gpus * self.tdp_w * (1.0 + self.node_overhead) / 1e6

    def replace(self, **changes: Any) -> CampusLoadParams:
        """A copy with ``changes`` applied (validated again)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(changes)
        return CampusLoadParams(**d)

    def as_dict(self) -> dict[str, Any]:
        """The parameters as a plain dict (field name to value), with the interruption rate the
        model uses (``interruption_rate_per_day``, derived where ``interruptions_per_day`` is
        ``None``)."""
        return {**asdict(self), "interruption_rate_per_day": self.interruption_rate_per_day}


def expected_mean_p_mw(params: CampusLoadParams) -> float:
    """Mean grid draw while training steadily: GPUs x mean GPU power x (1 + overhead) x PUE. [MW]"""
    hi = params.compute_fraction
    lo = hi * (1.0 - params.swing_depth)
    return params.it_scale_mw * (params.duty * hi + (1 - params.duty) * lo) * params.pue


def nominal_peak_p_mw(params: CampusLoadParams) -> float:
    """Grid draw with every GPU in the compute phase and cooling at the same level: the node's
    swinging share (``node_swing_fraction``) at the compute level with the GPUs, the rest at the
    iteration's mean. [MW]"""
    hi, lo, _, scale = _levels(params)
    mean = params.duty * hi + (1.0 - params.duty) * lo
    return scale * (hi + _steady_share(params) * (mean - hi)) * params.pue


def swing_amplitude_p_mw(params: CampusLoadParams) -> float:
    """Step of the campus's IT draw between the compute and the communication phase while training
    (cooling does not follow a 1-2 s swing): GPUs x TDP x (compute - communication level) x
    (1 + node_overhead x node_swing_fraction). [MW]"""
    hi, lo, _, _ = _levels(params)
    gpu_mw = params.gpus * params.tdp_w / 1e6
    return gpu_mw * (hi - lo) * (1.0 + params.node_overhead * params.node_swing_fraction)


def start_activity(t_s: np.ndarray, params: CampusLoadParams) -> np.ndarray:
    """Training activity ``t_s`` seconds after a job starts (or a restart ramp begins): 0 (idle)
    to 1 (training) along the start ramp, linear over ``start_ramp_s``. The one job-start
    definition of the package: the day's envelope and the sag events' job start use it. [-]"""
    return np.clip(np.asarray(t_s, dtype=float) / float(params.start_ramp_s), 0.0, 1.0)


def job_start_fraction(t_s: np.ndarray, params: CampusLoadParams) -> np.ndarray:
    """Grid draw ``t_s`` seconds after a job start as a fraction of :func:`nominal_peak_p_mw`:
    the idle level (:func:`nominal_idle_p_mw`) before, the peak after the start ramp
    (:func:`start_activity`), linear between (the envelope of the day's series without the
    iteration swing; the sag events' ``job_start``). [-]"""
    idle = nominal_idle_p_mw(params) / nominal_peak_p_mw(params)
    return idle + start_activity(t_s, params) * (1.0 - idle)


def nominal_idle_p_mw(params: CampusLoadParams) -> float:
    """Grid draw with every GPU idle (no job, ``idle_fraction`` of TDP) and cooling settled at the
    same level: the sustained draw of a connected campus that runs no job. [MW]"""
    return params.it_scale_mw * params.idle_fraction * params.pue


def gpus_for_peak(peak_p_mw: float, params: CampusLoadParams) -> int:
    """Number of GPUs whose :func:`nominal_peak_p_mw` is ``peak_p_mw`` (rounded). [-]"""
    one = params.replace(gpus=1)
    return max(1, int(round(peak_p_mw / nominal_peak_p_mw(one))))


def campus_for_peak(peak_p_mw: float, **params: Any) -> CampusLoadParams:
    """The campus of ``params`` (:class:`CampusLoadParams` fields but ``gpus``) whose GPU count
    makes its :func:`nominal_peak_p_mw` the site's campus peak ``peak_p_mw`` [MW]
    (:func:`gpus_for_peak`)."""
    one = CampusLoadParams(gpus=1, **params)
    return one.replace(gpus=gpus_for_peak(peak_p_mw, one))


# ---------------------------------------------------------------------------------------------
# the time-domain pieces, all in seconds after the series start


#: Periods drawn at a time for the iteration edges (the edges do not depend on it). [-]
_EDGE_BLOCK = 1 << 20


def _edge_blocks(params: CampusLoadParams, horizon_s: float, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """The phase edges [s] of :func:`_iteration_edges`, one block of draws after the other (the
    last block may end with edges at or past the realization's end, which the caller drops)."""
    # The generator's stream and the sequential cumulative sum do not depend on the block size, so
    # the edges are those of one draw of the whole horizon.
    limit = horizon_s + params.period_s
    t = 0.0
    while True:
        x = rng.standard_normal(_EDGE_BLOCK)
        x *= params.jitter
        x += 1.0
        np.clip(x, 0.2, None, out=x)
        x *= params.period_s  # the periods [s]
        st = np.cumsum(np.concatenate([[t], x]))  # period starts; the last one starts the next block
        k = int(np.searchsorted(st[:-1], limit, side="left"))
        x *= params.duty
        x += st[:-1]  # the starts of the communication phases
        out = np.empty(2 * k)
        out[0::2] = st[:k]
        out[1::2] = x[:k]
        yield out
        if k < _EDGE_BLOCK:
            return
        t = float(st[-1])


def _iteration_edges(params: CampusLoadParams, horizon_s: float, rng: np.random.Generator) -> np.ndarray:
    """Phase edges [s]: even entries start a compute phase, odd entries start a communication phase."""
    # Drawn a block at a time (a year holds 42 M edges; its periods and starts are never held
    # whole besides the edges themselves).
    limit = horizon_s + params.period_s
    edges = np.concatenate(list(_edge_blocks(params, horizon_s, rng)))
    return edges[:int(np.searchsorted(edges, limit, side="left"))]


class _EdgeStream:
    """The phase edges of :func:`_iteration_edges` made block by block as a reader walks forward
    through the horizon, holding only the edges near the part being read (a year at a 1.5-s
    period holds 42 M edges, 336 MB; a part of 65 536 s about 90 000).

    :meth:`around` gives the edges a part ``[a, b]`` needs and the position of the first of them
    among all edges, so that the phase parity (even: compute) is that of the whole draw."""

    def __init__(self, params: CampusLoadParams, horizon_s: float, seed_rng: Callable[[], np.random.Generator]) -> None:
        self.params, self.horizon_s, self.seed_rng = params, float(horizon_s), seed_rng
        self._restart()

    def _restart(self) -> None:
        self._blocks = _edge_blocks(self.params, self.horizon_s, self.seed_rng())
        self._buf = np.empty(0)
        self._off = 0  # position of _buf[0] among all edges
        self._done = False

    def around(self, a: float, b: float) -> tuple[np.ndarray, int]:
        """Every edge in ``(a, b]``, preceded by the last edge at or before ``a`` (when there is
        one), and the position of the first returned edge among all edges. [s], [-]"""
        if len(self._buf) and a < self._buf[0]:
            self._restart()  # a reader that goes back starts the draw again
        while not self._done and (not len(self._buf) or self._buf[-1] <= b):
            nxt = next(self._blocks, None)
            if nxt is None:
                self._done = True
            else:
                self._buf = np.concatenate([self._buf, nxt])
        j0 = max(int(np.searchsorted(self._buf, a, side="right")) - 1, 0)
        if j0:  # a view: the block it lies in is freed once the reader has passed it
            self._buf, self._off = self._buf[j0:], self._off + j0
        return self._buf, self._off


def _interruptions(params: CampusLoadParams, horizon_s: float, rng: np.random.Generator) -> np.ndarray:
    """Start times of non-overlapping interruptions [s] (a failure during a restart is folded in)."""
    rate = params.interruption_rate_per_day
    if rate <= 0:
        return np.empty(0)
    rate_per_s = rate / 86400.0
    n = rng.poisson(rate_per_s * horizon_s)
    times = np.sort(rng.uniform(0.0, horizon_s, n))
    window = 1.0 / params.transition_pu_per_s + params.restart_s + params.start_ramp_s
    kept, last_end = [], -np.inf
    for t in times:
        if t >= last_end:
            kept.append(t)
            last_end = t + window
    return np.asarray(kept, dtype=float)


#: Distance from an envelope transition beyond which the activity is taken as exactly 1 without
#: evaluating it: far above the rounding of times up to a year (about 4e-9 s) and below any
#: ramp or phase of the model. [s]
_ACTIVE_MARGIN_S = 1e-3


class _Envelope:
    """Training activity a(t) in [0, 1] (0 idle, 1 training) and trip factor g(t) in [0, 1]."""

    def __init__(self, params: CampusLoadParams, horizon_s: float, intr: np.ndarray) -> None:
        self.p = params
        self.horizon_s = horizon_s
        self.intr = intr
        self.tr = 1.0 / params.transition_pu_per_s
        self.ckpt = params.checkpoint_interval_s or 0.0

    # -- breakpoints in [a, b)
    def breakpoints(self, a: float, b: float) -> np.ndarray:
        p = self.p
        pts: list[float | np.ndarray] = []
        if p.job_start_s is not None:
            pts += [p.job_start_s, p.job_start_s + p.start_ramp_s]
        if p.job_stop_s is not None:
            pts += [p.job_stop_s, p.job_stop_s + p.stop_ramp_s]
        if self.ckpt > 0:
            k0, k1 = max(1, int(math.floor(a / self.ckpt))), int(math.ceil(b / self.ckpt)) + 1
            k = np.arange(k0, k1 + 1, dtype=float) * self.ckpt
            d = p.checkpoint_duration_s
            pts.append(np.concatenate([k, k + self.tr, k + self.tr + d, k + 2 * self.tr + d]))
        i0, i1 = np.searchsorted(self.intr, [a - 1e9, b])
        t = self.intr[i0:i1]
        if len(t):
            pts.append(np.concatenate([t, t + self.tr, t + self.tr + p.restart_s, t + self.tr + p.restart_s + p.start_ramp_s]))
        if p.trip_at_s is not None:
            t0 = p.trip_at_s
            pts += [t0, t0 + p.trip_drop_s, t0 + p.trip_drop_s + p.trip_duration_s,
                    t0 + p.trip_drop_s + p.trip_duration_s + p.trip_recovery_s]
        if not pts:
            return np.empty(0)
        arr = np.concatenate([np.atleast_1d(np.asarray(x, dtype=float)) for x in pts])
        return arr[(arr > a) & (arr < b)]

    def activity(self, t: np.ndarray) -> np.ndarray:
        p = self.p
        a = np.ones_like(t)
        if p.job_start_s is not None:
            a = np.minimum(a, start_activity(t - p.job_start_s, p))
        if p.job_stop_s is not None:
            a = np.minimum(a, np.clip(1.0 - (t - p.job_stop_s) / p.stop_ramp_s, 0.0, 1.0))
        if self.ckpt > 0:
            # phase inside the current checkpoint cycle; the first checkpoint is at one interval
            ph = np.where(t >= self.ckpt, np.mod(t, self.ckpt), np.inf)
            d = p.checkpoint_duration_s
            down = np.clip(1.0 - ph / self.tr, 0.0, 1.0)
            up = np.clip((ph - self.tr - d) / self.tr, 0.0, 1.0)
            a = np.minimum(a, np.where(ph < self.tr + d, down, up))
        if len(self.intr):
            j = np.searchsorted(self.intr, t, side="right") - 1
            has = j >= 0
            s = np.where(has, t - self.intr[np.clip(j, 0, None)], np.inf)
            down = np.clip(1.0 - s / self.tr, 0.0, 1.0)
            up = start_activity(s - self.tr - p.restart_s, p)
            a = np.minimum(a, np.where(s < self.tr + p.restart_s, down, up))
        return a

    def activity_sorted(self, t: np.ndarray) -> np.ndarray:
        """:meth:`activity` of ascending times ``t`` [s], evaluated only near the envelope's
        transitions (job start and stop, checkpoints, interruptions): away from them, by more than
        :data:`_ACTIVE_MARGIN_S`, every term of the activity is exactly 1. The same values as
        :meth:`activity` (element by element); times that do not ascend are evaluated whole."""
        n = len(t)
        if n < 2 or not bool((t[1:] >= t[:-1]).all()):
            return self.activity(t)
        p, m = self.p, _ACTIVE_MARGIN_S
        lo_t, hi_t = float(t[0]), float(t[-1])
        starts: list[np.ndarray] = []
        ends: list[np.ndarray] = []
        if p.job_start_s is not None:  # below 1 before the start ramp ends
            starts.append(np.array([-np.inf]))
            ends.append(np.array([p.job_start_s + p.start_ramp_s + m]))
        if p.job_stop_s is not None:  # below 1 from the stop on
            starts.append(np.array([p.job_stop_s - m]))
            ends.append(np.array([np.inf]))
        if self.ckpt > 0:  # below 1 from each checkpoint (the first at one interval) to its ramp back
            k0, k1 = max(1, int(math.floor(lo_t / self.ckpt)) - 1), int(math.ceil(hi_t / self.ckpt)) + 1
            k = np.arange(k0, k1 + 1, dtype=float) * self.ckpt
            starts.append(k - m)
            ends.append(k + 2.0 * self.tr + p.checkpoint_duration_s + m)
        if len(self.intr):  # below 1 from each interruption to the end of its restart ramp
            w = self.tr + p.restart_s + p.start_ramp_s
            i0, i1 = np.searchsorted(self.intr, [lo_t - w - m, hi_t + m])
            x = self.intr[int(i0):int(i1)]
            starts.append(x - m)
            ends.append(x + w + m)
        out = np.ones_like(t)
        if not starts:
            return out
        cover = np.zeros(n + 1, dtype=np.int64)
        np.add.at(cover, np.searchsorted(t, np.concatenate(starts), side="left"), 1)
        np.add.at(cover, np.searchsorted(t, np.concatenate(ends), side="right"), -1)
        near = np.cumsum(cover[:-1]) > 0
        if near.any():
            out[near] = self.activity(t[near])
        return out

    def trip_factor(self, t: np.ndarray) -> np.ndarray:
        p = self.p
        if p.trip_at_s is None:
            return np.ones_like(t)
        s = t - p.trip_at_s
        if p.trip_drop_s > 0:
            down = np.clip(1.0 - s / p.trip_drop_s, 0.0, 1.0)
        else:
            down = np.where(s < 0, 1.0, 0.0)
        t_back = p.trip_drop_s + p.trip_duration_s
        up = np.clip((s - t_back) / p.trip_recovery_s, 0.0, 1.0)
        return np.where(s < t_back, down, up)


def _realization(params: CampusLoadParams, horizon_s: float) -> tuple[np.ndarray, _Envelope]:
    """The random parts of one realization of ``horizon_s``: iteration edges and the envelope
    (interruptions), from the seed; the same for every step and every part of the horizon."""
    rng_iter, rng_intr = _realization_rngs(params)
    edges = _iteration_edges(params, horizon_s, rng_iter)
    return edges, _Envelope(params, horizon_s, _interruptions(params, horizon_s, rng_intr))


def _realization_rngs(params: CampusLoadParams) -> tuple[np.random.Generator, np.random.Generator]:
    """The generators of the iteration edges and of the interruptions, from the seed."""
    ss = np.random.SeedSequence(int(params.seed))
    rng_iter, rng_intr = (np.random.default_rng(s) for s in ss.spawn(2))
    return rng_iter, rng_intr


def _streamed_realization(params: CampusLoadParams, horizon_s: float) -> tuple[_EdgeStream, _Envelope]:
    """:func:`_realization` with the iteration edges made as the parts walk through the horizon
    (:class:`_EdgeStream`): the same edges, never all held."""
    return (_EdgeStream(params, horizon_s, lambda: _realization_rngs(params)[0]),
            _Envelope(params, horizon_s, _interruptions(params, horizon_s, _realization_rngs(params)[1])))


def _steady_share(params: CampusLoadParams) -> float:
    """Share of the campus's IT draw (GPUs and nodes, per unit of ``it_scale_mw``) that does not
    swing with the iteration: the non-swinging node power, ``node_overhead x (1 -
    node_swing_fraction) / (1 + node_overhead)`` (0 when the whole node swings). [-]"""
    return params.node_overhead * (1.0 - params.node_swing_fraction) / (1.0 + params.node_overhead)


def _levels(params: CampusLoadParams) -> tuple[float, float, float, float]:
    """``(compute, communication, idle)`` GPU levels as fractions of TDP and the IT scale. [-], [MW]"""
    hi = params.compute_fraction
    return hi, hi * (1.0 - params.swing_depth), params.idle_fraction, params.it_scale_mw


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    """``np.unique(x)`` for a concatenation of a few sorted runs (step bounds, phase edges,
    envelope breakpoints): a stable sort merges the runs in linear time."""
    s = np.sort(x, kind="stable")
    if len(s) < 2:
        return s
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


@numba.njit(cache=True)
def _lag_segments(h: np.ndarray, u0: np.ndarray, u1: np.ndarray, tau: float, y0: float,
                  out_avg: np.ndarray) -> float:
    """Exact first-order lag ``tau y' = u - y`` for an input linear on each segment.

    Writes the average of ``y`` over each segment into ``out_avg`` and returns the final ``y``.
    """
    y = y0
    for k in range(h.shape[0]):
        hk = h[k]
        m = (u1[k] - u0[k]) / hk
        e = math.exp(-hk / tau)
        c = y - u0[k] + m * tau
        # integral of y over the segment: (u0 - m tau) h + m h^2 / 2 + c tau (1 - e)
        out_avg[k] = (u0[k] - m * tau) + 0.5 * m * hk + c * tau * (1.0 - e) / hk
        y = u0[k] + m * hk - m * tau + c * e
    return y


def campus_load(index: pd.DatetimeIndex, params: CampusLoadParams, *, chunk_steps: int = 1 << 18,
                origin: pd.Timestamp | None = None, horizon_s: float | None = None,
                cooling0_mw: float | None = None, smoothing0: tuple[float, float] | None = None,
                realization: tuple[np.ndarray | _EdgeStream, _Envelope] | None = None) -> pd.DataFrame:
    """Grid draw of the AI training campus on ``index``, averaged over each step.

    GPU-side smoothing (``params.smoothing``) acts on each GPU's power, where the GPU sets it:
    before the node overhead (CPUs, memory and network do not burn to hold a floor) and before the
    facility split (the power a GPU burns is heat the cooling must remove, so the facility load
    follows the smoothed IT load). The series without smoothing is computed beside it, from the
    same state, so that the extra energy it burns is reported exactly.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Fixed-step time axis, 10 ms .. 1 h; each label starts its step.
    params : CampusLoadParams
        Model parameters (seed included).
    chunk_steps : int
        Steps generated at a time (bounds memory for a year at 1 s). [-]
    origin : pandas.Timestamp, optional
        Start of the realization that ``index`` is a part of (default ``index[0]``): a window of a
        longer series (e.g. a sub-second window of a day at 1 s) is the same realization (same
        iterations, checkpoints, interruptions) when it names the longer series' start here. [-]
    horizon_s : float, optional
        Length of that realization (default: from ``origin`` to the end of ``index``). [s]
    cooling0_mw : float, optional
        Facility (cooling) load at ``index[0]`` (default: steady state at the realization's start,
        right only when ``index`` starts there); the value a previous part returned in
        ``attrs["cooling_end_mw"]`` continues the realization exactly. [MW]
    smoothing0 : tuple of float, optional
        State of the GPU smoothing at ``index[0]``: the smoothed per-GPU power [per unit of TDP] and
        the time it has waited to ramp down [s], as a previous part returned in
        ``attrs["smoothing_end"]`` (default: steady state, the power at its target). The series
        without smoothing that the extra energy is measured against starts from the same facility
        load.
    realization : tuple, optional
        The realization's random parts (``_realization(params, horizon_s)``, or
        ``_streamed_realization`` for parts read in order), when a caller runs many parts of one
        horizon (:func:`campus_chunks`); default: drawn from the seed.

    Returns
    -------
    pandas.DataFrame
        ``campus_p_mw`` [MW] and ``campus_q_mvar`` [Mvar] (consumer sign, the grid draw: zero while
        tripped to backup), ``it_p_mw`` and ``facility_p_mw`` [MW] (IT and cooling/facility load,
        whatever supplies it); ``attrs["cooling_end_mw"]``: the facility load's state at the end
        [MW]. ``attrs["smoothing_extra_mwh"]``: the extra grid energy GPU smoothing draws over the
        series (0 without smoothing; negative where slowed rises save more than the floor and the
        slow ramp-downs burn) [MWh]. With smoothing, also the column ``smoothing_extra_p_mw`` (grid
        draw with minus without smoothing, per step) [MW] and ``attrs["smoothing_end"]`` (the state
        for ``smoothing0``). Same seed and parameters give the same bytes.
    """
    step_s = step_seconds(index)
    n = len(index)
    offset_s = 0.0 if origin is None else float((index[0] - pd.Timestamp(origin)).total_seconds())
    if offset_s < 0:
        raise ModelError([Problem("index", "starts before the realization's origin", str(index[0]))])
    horizon_s = offset_s + n * step_s if horizon_s is None else float(horizon_s)
    all_edges, env = _realization(params, horizon_s) if realization is None else realization
    hi, lo, idle, scale = _levels(params)
    mean_wave = params.duty * hi + (1 - params.duty) * lo
    steady = _steady_share(params)
    fac = params.pue - 1.0
    # cooling starts in steady state with the IT level at the series start (mean over an iteration)
    a_start = float(env.activity(np.array([0.0]))[0])
    y = fac * scale * (idle + a_start * (params.duty * hi + (1 - params.duty) * lo - idle))
    if cooling0_mw is not None:
        y = float(cooling0_mw)
    sm = params.smoothing
    sm_pu = sm.per_unit(params.tdp_w) if sm is not None else None
    sm_state = np.zeros(3) if smoothing0 is None else np.array([smoothing0[0], smoothing0[1], 1.0], dtype=float)
    gpu_scale = params.gpus * params.tdp_w / 1e6  # MW per unit of TDP, GPUs alone
    y_s = y

    it = np.empty(n)
    fc = np.empty(n)
    grid = np.empty(n)
    it_s = np.empty(n if sm_pu is not None else 0)
    fc_s = np.empty_like(it_s)
    grid_s = np.empty_like(it_s)
    for c0 in range(0, n, chunk_steps):
        c1 = min(n, c0 + chunk_steps)
        a_s, b_s = offset_s + c0 * step_s, offset_s + c1 * step_s
        bins = offset_s + np.arange(c0, c1 + 1, dtype=float) * step_s
        # the edges near the chunk, and the position of the first among all (its phase parity)
        edges, e0 = all_edges.around(a_s, b_s) if isinstance(all_edges, _EdgeStream) else (all_edges, 0)
        i0, i1 = np.searchsorted(edges, [a_s, b_s], side="right")
        pts = np.concatenate([bins, edges[i0:i1], env.breakpoints(a_s, b_s)])
        pts = _sorted_unique(pts[(pts >= a_s) & (pts <= b_s)])
        h = np.diff(pts)
        keep = h > 0
        t0, h = pts[:-1][keep], h[keep]
        t1 = t0 + h
        mid = t0 + 0.5 * h
        phase = e0 + np.searchsorted(edges, mid, side="right") - 1
        wave = np.where(phase % 2 == 0, hi, lo)
        a0, a1 = env.activity_sorted(t0), env.activity_sorted(t1)
        gpu0 = idle + a0 * (wave - idle)
        gpu1 = idle + a1 * (wave - idle)
        # IT draw per unit of it_scale: the node's non-swinging share at the iteration's mean
        x0, x1 = gpu0, gpu1
        if steady:
            x0 = gpu0 + steady * (idle + a0 * (mean_wave - idle) - gpu0)
            x1 = gpu1 + steady * (idle + a1 * (mean_wave - idle) - gpu1)
        it_seg = scale * 0.5 * (x0 + x1)            # exact average of a linear segment
        fc_seg = np.empty_like(h)
        y = _lag_segments(h, fac * scale * x0, fac * scale * x1, float(params.cooling_tau_s), y, fc_seg)
        g = env.trip_factor(mid)
        starts = np.searchsorted(t0, bins[:-1], side="left")
        it[c0:c1] = np.add.reduceat(it_seg * h, starts) / step_s
        fc[c0:c1] = np.add.reduceat(fc_seg * h, starts) / step_s
        grid[c0:c1] = np.add.reduceat(g * (it_seg + fc_seg) * h, starts) / step_s
        if sm_pu is not None:
            # the smoothed GPU power, exact and piecewise linear on finer segments (kinks added)
            ts, ys, xs = smooth_segments(t0, h, gpu0, gpu1, sm_pu[2], sm_pu[0], sm_pu[1], sm_pu[3], sm_state)
            hs = np.diff(ts)
            keep = hs > 0
            t0s, hs = ts[:-1][keep], hs[keep]
            # the rest of the node follows the workload (scope "gpu") or the smoothed draw ("rack");
            # its non-swinging share follows the job at the iteration's mean, unsmoothed
            rest = ys if sm is not None and sm.scope == "rack" else xs
            if params.node_swing_fraction != 1.0:
                f = params.node_swing_fraction
                rest = f * rest + (1.0 - f) * (idle + env.activity_sorted(ts) * (mean_wave - idle))
            it0 = gpu_scale * (ys[:-1] + params.node_overhead * rest[:-1])[keep]
            it1 = gpu_scale * (ys[1:] + params.node_overhead * rest[1:])[keep]
            its_seg = 0.5 * (it0 + it1)
            fcs_seg = np.empty_like(hs)
            y_s = _lag_segments(hs, fac * it0, fac * it1, float(params.cooling_tau_s), y_s, fcs_seg)
            gs = env.trip_factor(t0s + 0.5 * hs)
            starts_s = np.searchsorted(t0s, bins[:-1], side="left")
            it_s[c0:c1] = np.add.reduceat(its_seg * hs, starts_s) / step_s
            fc_s[c0:c1] = np.add.reduceat(fcs_seg * hs, starts_s) / step_s
            grid_s[c0:c1] = np.add.reduceat(gs * (its_seg + fcs_seg) * hs, starts_s) / step_s
    tan_phi = math.tan(math.acos(params.pf))
    if sm_pu is None:
        out = pd.DataFrame(
            {"campus_p_mw": grid, "campus_q_mvar": grid * tan_phi, "it_p_mw": it, "facility_p_mw": fc},
            index=index,
        )
        out.attrs["cooling_end_mw"] = float(y)
        out.attrs["smoothing_extra_mwh"] = 0.0
        return out
    extra = grid_s - grid
    out = pd.DataFrame(
        {"campus_p_mw": grid_s, "campus_q_mvar": grid_s * tan_phi, "it_p_mw": it_s, "facility_p_mw": fc_s,
         "smoothing_extra_p_mw": extra},
        index=index,
    )
    out.attrs["cooling_end_mw"] = float(y_s)
    out.attrs["smoothing_extra_mwh"] = float(extra.sum() * step_s / 3600.0)
    out.attrs["smoothing_end"] = (float(sm_state[0]), float(sm_state[1]))
    return out


def campus_chunks(index: Horizon, params: CampusLoadParams, chunk_steps: int = 1 << 16
                  ) -> Iterator[pd.DataFrame]:
    """:func:`campus_load` on ``index`` in consecutive parts of ``chunk_steps`` steps, in order.

    The parts are the same realization, carried exactly from one to the next (the random parts are
    drawn once; the facility load and the GPU smoothing state continue): concatenated they equal
    ``campus_load(index, params)`` (bit for bit at a whole-second step; within rounding of the step
    times otherwise). Memory holds one part at a time and the iteration edges near it (made as the
    parts go, :class:`_EdgeStream`), whatever the horizon.

    Parameters
    ----------
    index : pandas.DatetimeIndex or FixedHorizon
        The whole horizon, fixed step (a :class:`~gridstudy.models.timeindex.FixedHorizon`: each
        part's labels made as it goes).
    params : CampusLoadParams
        Model parameters (seed included).
    chunk_steps : int
        Steps per part. [-]

    Yields
    ------
    pandas.DataFrame
        As :func:`campus_load`, on ``index[c0:c1]``; ``attrs["smoothing_extra_mwh"]`` is that part's.
    """
    step_s = step_seconds(index)
    horizon_s = len(index) * step_s
    real = _streamed_realization(params, horizon_s)
    cooling0: float | None = None
    smoothing0: tuple[float, float] | None = None
    for c0 in range(0, len(index), max(1, int(chunk_steps))):
        part = index[c0:c0 + chunk_steps]
        part.freq = index.freq  # type: ignore[misc]  # a slice of a fixed-step index keeps its step
        out = campus_load(part, params, chunk_steps=max(1, int(chunk_steps)), origin=index[0], horizon_s=horizon_s,
                          cooling0_mw=cooling0, smoothing0=smoothing0, realization=real)
        cooling0 = out.attrs["cooling_end_mw"]
        smoothing0 = out.attrs.get("smoothing_end")
        yield out


def campus_window(index: pd.DatetimeIndex, params: CampusLoadParams, start: pd.Timestamp, stop: pd.Timestamp,
                  step_s: float) -> pd.DataFrame:
    """A window ``[start, stop)`` of the campus series on ``index``, at a finer step: the same
    realization, made by the model at ``step_s`` (never interpolated from the coarser series).

    The facility load's state at ``start`` comes from the model run at the series' own step up to
    ``start`` (exact: the lag is integrated exactly on each segment whatever the step), so the
    window's averages over each coarse step equal the coarse series there.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        The whole series' time axis (its start is the realization's origin).
    params : CampusLoadParams
        Model parameters.
    start, stop : pandas.Timestamp
        The window, inside the series' horizon.
    step_s : float
        The window's step, a divisor of ``stop - start``. [s]

    Returns
    -------
    pandas.DataFrame
        As :func:`campus_load`, on the window's fine index.
    """

    coarse = step_seconds(index)
    horizon_s = len(index) * coarse
    start, stop = pd.Timestamp(start), pd.Timestamp(stop)
    if start < index[0] or (stop - index[0]).total_seconds() > horizon_s + 1e-9 or stop <= start:
        raise ModelError([Problem("window", "must lie inside the series' horizon", f"{start} .. {stop}")])
    k = int(round((start - index[0]).total_seconds() / coarse))
    cooling0 = smoothing0 = None
    if k > 0:
        before = campus_load(index[:k], params, origin=index[0], horizon_s=horizon_s)
        cooling0 = before.attrs["cooling_end_mw"]
        smoothing0 = before.attrs.get("smoothing_end") if params.smoothing is not None else None
    fine = make_index(start, (stop - start).total_seconds(), step_s)
    return campus_load(fine, params, origin=index[0], horizon_s=horizon_s, cooling0_mw=cooling0,
                       smoothing0=smoothing0)


def change_severity(index: pd.DatetimeIndex, params: CampusLoadParams, window_s: float = 600.0) -> pd.Series:
    """Flicker severity of the campus's own fine-resolution power changes, per window of the horizon.

    The model knows every change of its draw exactly: each iteration's compute/communication edge
    moves the IT draw by ``it_scale x (hi - lo) x activity x trip``, and each envelope transition
    (checkpoint, interruption, job start/stop, trip) moves it between its levels. The IEC 61000-3-7
    analytical flicker method sums ``d_i^3.2`` over the changes of an interval (Pst^3.2 is
    proportional to that sum for changes of one shape), and a change of grid draw ΔP moves the POI
    voltage by about ``ΔP x dV/dP``, the same factor for every change at one site; so
    ``Σ |ΔP_i|^3.2`` per window ranks the windows as their flicker would, from the model's own
    changes, not from step averages that fold a 1.5-s swing. GPU-side smoothing is not applied
    to the ranking (it scales every swing alike). [MW^3.2]

    Parameters
    ----------
    index : pandas.DatetimeIndex
        The study's time axis (its start is the realization's origin).
    params : CampusLoadParams
        Model parameters.
    window_s : float
        Window length. [s]

    Returns
    -------
    pandas.Series
        Severity per window, indexed by the window's start.
    """
    step_s = step_seconds(index)
    horizon_s = len(index) * step_s
    edges, env = _realization(params, horizon_s)
    hi, lo, idle, scale = _levels(params)
    t = edges[(edges > 0) & (edges < horizon_s)]
    amp = scale * (1.0 - _steady_share(params)) * (hi - lo) * env.activity(t) * env.trip_factor(t)
    bp = np.unique(env.breakpoints(0.0, horizon_s))
    if len(bp) > 1:
        mean_wave = params.duty * hi + (1.0 - params.duty) * lo
        level = scale * (idle + env.activity(bp) * (mean_wave - idle)) * env.trip_factor(bp)
        t = np.concatenate([t, bp[1:]])
        amp = np.concatenate([amp, np.abs(np.diff(level))])
    n_win = max(1, int(math.ceil(horizon_s / window_s - 1e-9)))
    k = np.minimum((t // window_s).astype(np.int64), n_win - 1)
    sev = np.bincount(k, weights=np.abs(amp) ** 3.2, minlength=n_win)
    starts = index[0] + pd.to_timedelta(np.arange(n_win) * window_s, unit="s")
    return pd.Series(sev, index=pd.DatetimeIndex(starts), name="severity_mw3_2")
