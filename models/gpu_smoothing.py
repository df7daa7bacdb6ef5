"""GPU-side power smoothing: the per-GPU ramp limits, power floor and ramp-down hysteresis of
current NVIDIA data-center GPUs (the NVML power-smoothing profile of GB200/GB300,
``docs/sources/load.md §7``), applied to the campus model's GPU power.

The smoothed power ``y(t)`` of one GPU (all GPUs of a synchronous job move together) follows the
target ``v(t) = max(x(t), floor)``, ``x`` being the power the workload asks for:

- while ``y < v`` it rises at most at ``ramp_up_w_per_s`` (the GPU is held below what the workload
  asks: the rise is slowed);
- once ``v`` falls below ``y``, ``y`` holds for ``ramp_down_hysteresis_ms``, then falls at most at
  ``ramp_down_w_per_s`` (the GPU burns the difference); the wait is armed again only when the
  target rises back to or above ``y``, so a slow fall is waited for once, not at every instant;
- never below ``floor_percent`` of TDP.

The input is piecewise linear in time (the campus model's segments); so is the output, and the
kernel solves it exactly: it splits segments where ``x`` crosses the floor and where a ramp meets
the target, so every later integral (energy, the cooling lag) stays exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Real
from typing import Any

import numba
import numpy as np

from gridstudy.models.errors import ModelError, Problem, finite_parameters

__all__ = ["GpuSmoothing", "smooth_segments"]


def _real(v: object) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


@finite_parameters
@dataclass(frozen=True)
class GpuSmoothing:
    """Per-GPU power smoothing (NVIDIA GB200/GB300 NVML power-smoothing profile).

    Defaults are this package's assumptions (``docs/sources/load.md §8``); NVIDIA documents the
    settings and their units, not values for a given site: set them from the GPUs' profile.

    Parameters
    ----------
    ramp_up_w_per_s : float or None
        Largest rise of one GPU's power per second; ``None``: no limit. [W/s]
    ramp_down_w_per_s : float or None
        Largest fall of one GPU's power per second; ``None``: no limit (only the floor and the
        hysteresis act). [W/s]
    floor_percent : float
        Power floor of one GPU, in % of its TDP; the GPU burns power to stay above it. [%]
    ramp_down_hysteresis_ms : float
        Time the power holds after the workload's power falls, before the ramp-down starts. [ms]
    scope : {'gpu', 'rack'}
        What is smoothed: ``gpu``, the GPUs alone, the rest of each node (CPUs, memory, network)
        still following the training phases (the conservative reading); ``rack``, the rack's whole
        draw, as rack-level energy storage in the power shelves (NVIDIA GB300 NVL72) smooths what
        the rack takes from the grid behind the same limits (``docs/sources/load.md §8``). [-]
    """

    ramp_up_w_per_s: float | None = 2000.0
    ramp_down_w_per_s: float | None = 200.0
    floor_percent: float = 50.0
    ramp_down_hysteresis_ms: float = 2000.0
    scope: str = "gpu"

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ModelError(problems)

    def problems(self, prefix: str = "campus.smoothing") -> list[Problem]:
        """Every problem of the parameter set, each with its field path (NaN refused)."""
        p: list[Problem] = []
        for name in ("ramp_up_w_per_s", "ramp_down_w_per_s"):
            v = getattr(self, name)
            if v is not None and not (_real(v) and 0.0 < float(v) < math.inf):
                p.append(Problem(f"{prefix}.{name}", "must be > 0 and finite, or None for no limit", v))
        v = self.floor_percent
        if not (_real(v) and 0.0 <= float(v) <= 100.0):
            p.append(Problem(f"{prefix}.floor_percent", "must lie in [0, 100] % of TDP", v))
        v = self.ramp_down_hysteresis_ms
        if not (_real(v) and 0.0 <= float(v) < math.inf):
            p.append(Problem(f"{prefix}.ramp_down_hysteresis_ms", "must be >= 0 and finite", v))
        if self.scope not in ("gpu", "rack"):
            p.append(Problem(f"{prefix}.scope", "must be 'gpu' or 'rack'", self.scope))
        return p

    def replace(self, **changes: Any) -> GpuSmoothing:
        """A copy with ``changes`` applied (validated again)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(changes)
        return GpuSmoothing(**d)

    def per_unit(self, tdp_w: float) -> tuple[float, float, float, float]:
        """``(ramp_up, ramp_down, floor, hysteresis_s)`` in per unit of TDP (rates per second;
        ``inf`` for no limit) and seconds, as :func:`smooth_segments` takes them."""
        up = math.inf if self.ramp_up_w_per_s is None else self.ramp_up_w_per_s / tdp_w
        dn = math.inf if self.ramp_down_w_per_s is None else self.ramp_down_w_per_s / tdp_w
        return up, dn, self.floor_percent / 100.0, self.ramp_down_hysteresis_ms / 1000.0


@numba.njit(cache=True)
def _emit(t: float, y: float, x: float, out_t: np.ndarray, out_y: np.ndarray, out_x: np.ndarray, n_out: int) -> int:
    out_t[n_out] = t
    out_y[n_out] = y
    out_x[n_out] = x
    return n_out + 1


@numba.njit(cache=True)
def _piece(t_a: float, t_b: float, x_a: float, m: float, floor: float, up: float, dn: float, hyst: float,
           st: np.ndarray, out_t: np.ndarray, out_y: np.ndarray, out_x: np.ndarray, n_out: int) -> int:
    """Advance the state ``st = [y, wait_s]`` over ``[t_a, t_b]`` where the workload's power is
    ``x_a + m (t - t_a)`` and lies on one side of the floor; append the kinks strictly inside."""
    y, wait = st[0], st[1]
    t = t_a
    eps = 1e-12
    above = x_a + m * 0.5 * (t_b - t_a) >= floor  # the piece's side of the floor (it never crosses)
    mv = m if above else 0.0
    for _ in range(64):  # at most 4 kinks are possible; the bound only guards against a stall
        if t >= t_b:
            break
        x = x_a + m * (t - t_a)
        v = x if above else floor
        d = y - v
        t_n = t_b
        if d < -eps:  # below the target: rise at the ramp-up limit until meeting it
            wait = 0.0
            if up == math.inf:  # a jump: two points at the same instant
                n_out = _emit(t, y, x, out_t, out_y, out_x, n_out)
                y = v
                n_out = _emit(t, y, x, out_t, out_y, out_x, n_out)
                continue
            meet = False
            if up > mv:
                tm = t + (-d) / (up - mv)
                if tm < t_b:
                    t_n, meet = tm, True
            y = v + mv * (t_n - t) if meet else y + up * (t_n - t)
        elif d > eps:  # above the target: hold for the hysteresis, then fall at the ramp-down limit
            if wait < hyst:
                meet = False
                t_h = t + (hyst - wait)
                if t_h < t_n:
                    t_n = t_h
                if mv > 0.0:
                    tm = t + d / mv
                    if tm < t_n:
                        t_n, meet = tm, True
                if t_n == t_h and not meet:
                    wait = hyst
                else:
                    wait += t_n - t
            else:
                if dn == math.inf:  # a jump: two points at the same instant
                    n_out = _emit(t, y, x, out_t, out_y, out_x, n_out)
                    y = v
                    n_out = _emit(t, y, x, out_t, out_y, out_x, n_out)
                    continue
                meet = False
                if mv > -dn:
                    tm = t + d / (mv + dn)
                    if tm < t_b:
                        t_n, meet = tm, True
                y = v + mv * (t_n - t) if meet else y - dn * (t_n - t)
        else:  # on the target
            y = v
            if mv > up:  # the target outruns the ramp-up limit
                wait = 0.0
                y = y + up * (t_n - t)
            elif mv >= 0.0:
                wait = 0.0
                y = v + mv * (t_n - t)
            elif wait < hyst:  # the target starts to fall: hold
                t_h = t + (hyst - wait)
                if t_h < t_n:
                    t_n = t_h
                    wait = hyst
                else:
                    wait += t_n - t
            elif mv >= -dn:  # falling slower than the ramp-down limit: follow
                y = v + mv * (t_n - t)
            else:
                y = y - dn * (t_n - t)
        t = t_n
        if t < t_b:
            n_out = _emit(t, y, x_a + m * (t - t_a), out_t, out_y, out_x, n_out)
    st[0], st[1] = y, wait
    return n_out


@numba.njit(cache=True)
def smooth_segments(t0: np.ndarray, h: np.ndarray, x0: np.ndarray, x1: np.ndarray, floor: float, up: float,
                    dn: float, hyst: float, st: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smooth a piecewise-linear per-GPU power, exactly.

    Parameters
    ----------
    t0, h : numpy.ndarray
        Start and length of each segment, contiguous (``t0[k] + h[k]`` is the next start). [s]
    x0, x1 : numpy.ndarray
        The workload's power at the start and end of each segment (linear in between), per unit
        of TDP. [-]
    floor, up, dn, hyst : float
        Floor [-], ramp-up and ramp-down limits [1/s] (``inf``: none), hysteresis [s].
    st : numpy.ndarray
        State ``[y, wait_s, started]``, updated in place; ``started == 0`` starts the smoothed
        power at its target (steady state).

    Returns
    -------
    (t, y, x) : tuple of numpy.ndarray
        Breakpoints (every segment start, the kinks of ``y`` and the floor crossings, and the end),
        the smoothed power ``y`` and the workload's power ``x`` there; both are linear between
        consecutive breakpoints. A jump (of ``x`` at a segment start, or of ``y`` under an
        unlimited ramp) is two points at the same instant: drop the zero-length pieces. [s], [-], [-]
    """
    n = t0.shape[0]
    cap = 24 * n + 16
    out_t = np.empty(cap)
    out_y = np.empty(cap)
    out_x = np.empty(cap)
    k_out = 0
    if st[2] == 0.0 and n > 0:
        st[0] = max(x0[0], floor)
        st[1] = 0.0
        st[2] = 1.0
    for k in range(n):
        a, hk = t0[k], h[k]
        b = a + hk
        xa, xb = x0[k], x1[k]
        m = (xb - xa) / hk
        # the segment's start, on its exact label; the workload's power may jump there (a phase
        # edge), so the previous segment's end is a point of its own (a zero-length piece between)
        if k > 0:
            k_out = _emit(a, st[0], x1[k - 1], out_t, out_y, out_x, k_out)
        k_out = _emit(a, st[0], xa, out_t, out_y, out_x, k_out)
        # split where the workload's power crosses the floor
        tc = b
        if (xa - floor) * (xb - floor) < 0.0:
            tc = a + (floor - xa) / m
        if tc < b:
            k_out = _piece(a, tc, xa, m, floor, up, dn, hyst, st, out_t, out_y, out_x, k_out)
            k_out = _emit(tc, st[0], floor, out_t, out_y, out_x, k_out)
            k_out = _piece(tc, b, floor, m, floor, up, dn, hyst, st, out_t, out_y, out_x, k_out)
        else:
            k_out = _piece(a, b, xa, m, floor, up, dn, hyst, st, out_t, out_y, out_x, k_out)
    if n > 0:
        k_out = _emit(t0[n - 1] + h[n - 1], st[0], x1[n - 1], out_t, out_y, out_x, k_out)
    return out_t[:k_out], out_y[:k_out], out_x[:k_out]
