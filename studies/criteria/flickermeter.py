"""IEC 61000-4-15 flickermeter on an RMS voltage series (sub-second quasi-static or measured).

A digital form of the flickermeter of IEC 61000-4-15:2010 (clause 4, blocks 1-5) that takes an
**RMS voltage series** on a fixed step of 5-100 ms (typically 20 ms from a sub-second QSTS window,
or half-cycle / one-cycle RMS values of a recorder) instead of the sampled waveform. Unlike the
analytical estimate of IEC 61000-3-7 in :mod:`~gridstudy.studies.criteria.flicker`, it weights every
fluctuation the series shows by the lamp-eye-brain response and classifies the result.

Chain (block numbers of the standard)
-------------------------------------
1. *Input adaptor.* The RMS ``v`` is scaled to the internal reference: ``v_ref`` is ``v`` through a
   first-order low-pass of 60 s time constant (the standard's 1-min reference level), started at
   the mean of the first minute.
2. *Squaring demodulator.* The standard squares the waveform ``u = sqrt(2) v(t) sin(w0 t)``
   normalised to ``sqrt(2) v_ref``; its output is ``(v/v_ref)^2 sin^2(w0 t)``. Block 3's band-pass
   removes the ``2 w0`` carrier term and the DC, leaving ``x = ((v/v_ref)^2 - 1) / 2``. That is
   what is computed here from the RMS series, so the RMS samples enter exactly as the low-pass part
   of the demodulator output. For ``v = v_ref (1 + m(t))``, ``x = m + m^2/2 ~ m``: **the factor
   between the RMS modulation received and the signal the weighting filter sees is 1**, to first
   order in ``m``. The tables' ``dV/V`` is peak-to-peak, so a sinusoidal or rectangular
   fluctuation of ``dV/V`` is ``m(t) = (dV/V)/2 * sin`` or ``(dV/V)/2 * sign(sin)``.
3. *Weighting filters.* First-order high-pass at 0.05 Hz; 6th-order Butterworth low-pass at 35 Hz
   (230-V lamp, 50-Hz systems) or 42 Hz (120-V lamp, 60-Hz systems); lamp-eye weighting

   ``F(s) = K w1 s / (s^2 + 2 lambda s + w1^2) * (1 + s/w2) / ((1 + s/w3)(1 + s/w4))``

   with the standard's two parameter sets (:data:`LAMPS`).
4. *Squaring and smoothing.* Squaring, first-order low-pass with 300 ms time constant, scaling so
   that the reference fluctuation (8.8 Hz sinusoidal, 0.250 % for the 230-V lamp, 0.321 % for the
   120-V lamp, Table 1) gives a maximum instantaneous flicker sensation ``P_inst = 1``. The scale
   is computed from the *analog* chain: for ``x = a sin(2 pi f t)``, after the filters
   ``P_inst = S a^2 |H(f)|^2 / 2 * (1 + |G(2f)| cos(...))``, so
   ``S = 2 / (a_ref^2 |H(f_ref)|^2 (1 + |G(2 f_ref)|))`` with ``H`` the block-3 filters and ``G``
   the 300 ms low-pass. The discretisation error is then what the tests measure.
5. *Statistical classifier.* Exact percentiles of ``P_inst`` over each observation interval
   (every internal sample weighted equally, i.e. time-weighted; no class quantisation, which is
   finer than the standard's minimum of classes): ``P_0.1``, ``P_1s = (P_0.7 + P_1 + P_1.5)/3``,
   ``P_3s = (P_2.2 + P_3 + P_4)/3``, ``P_10s = (P_6 + P_8 + P_10 + P_13 + P_17)/5``,
   ``P_50s = (P_30 + P_50 + P_80)/3`` (``P_x`` exceeded ``x`` % of the time), and
   ``Pst = sqrt(0.0314 P_0.1 + 0.0525 P_1s + 0.0657 P_3s + 0.28 P_10s + 0.08 P_50s)``.
   ``Plt = (sum Pst_i^3 / N)^(1/3)`` over ``N = 12`` consecutive intervals (2 h).

Discretisation
--------------
The filters are analog prototypes; at the series' own step they cannot be discretised well: at
20 ms (Nyquist 25 Hz) the bilinear transform moves 8.8 Hz to the analog response at 9.8 Hz, and
at 50 ms 8.8 Hz sits next to Nyquist; squaring doubles every frequency, so the squared signal
aliases whenever a component lies above a quarter of the sampling rate (8.8 Hz at 20 ms gives
17.6 Hz, fine; 15 Hz gives 30 Hz, folded to 20 Hz). The series is therefore **upsampled** by the
integer ``L = ceil(step / 1.25 ms)`` to an internal rate of at least 800 Hz with a linear-phase
interpolation FIR (``128 L + 1`` taps, Kaiser window, beta 8; pass band to 0.9 x the input
Nyquist, images suppressed from 1.1 x Nyquist), and the chain runs at that rate: bilinear
transform of the block-3 filters prewarped at 8.8 Hz (frequency error 0.3 % at 25 Hz, 1 % at
45 Hz), squaring without aliasing, the 300 ms low-pass, and the classifier on the internal
samples (the standard asks for at least 50 Hz). Cost: about 15 filter passes over ``L`` times the
series (a 10-min window at 20 ms is 480,000 internal samples, under 0.1 s), vectorised with
``scipy.signal``; long series run in 10-min chunks with the filter states carried over.

Sample convention (``sample``). A QSTS step of the project's campus model is a *step mean* (the
campus power is averaged over each step) and a recorder's RMS is a mean of ``v^2`` over its
window: ``sample="mean"`` (default) takes each value as the RMS over ``[t, t + step)``, which
multiplied the spectrum of ``v^2`` by ``sinc(f step)`` (0.95 at 8.8 Hz and 20 ms, i.e. -10 % in
``P_inst``); the interpolation FIR undoes it (gain ``1/sinc(f step)`` in the pass band).
``sample="point"`` takes the values as instantaneous values of the RMS envelope (no correction).
Fluctuations above 0.9 x Nyquist of the series (22.5 Hz at 20 ms, 9 Hz at 50 ms, 4.5 Hz at
100 ms) are not seen; what lies above Nyquist has folded into the series before it got here.

What a sampled RMS series cannot settle. A voltage *step* has content at all frequencies; in a
step-mean series it shows as ``0, 1 - phi, 1`` with ``phi`` where the step fell within its
window. No linear reconstruction is right for every ``phi``: the one used here (band-limited,
``1/sinc`` corrected) is unbiased on average over ``phi`` and exact for sinusoids, but an
isolated step that falls on a window boundary reads high and one in mid-window reads low. At
20 ms the Pst of the standard's 1 and 2 changes/min (isolated steps) spans -4 % .. +7 % over
``phi``; at 10 ms -1.5 % .. +1.2 %; at 50 ms -23 % .. +19 % (a 50-ms series cannot judge
isolated steps to the standard's tolerance). Trains of changes (7 changes/min and more) fall at
all phases and read within 0.5 % of each other.

Start and length. The filters start in steady state at the first value (as if the voltage had
stayed there). A series that starts in mid-fluctuation still shows a start transient (a 1-Hz
fluctuation cut at its peak: ``P_inst,max`` +4 % in the first seconds), so give a lead-in and
leave it out of the classification with ``settle_s`` (10-20 s is ample; the tests use 20-30 s).
The interpolation FIR looks ``128 / 2 = 64`` steps ahead (1.28 s at 20 ms): the last 64 steps are
not classified (``lookahead_s``; ``p_inst`` is NaN there), so a full 10-min Pst needs
``settle_s + 600 s + lookahead_s`` of series. Observation intervals are consecutive
``interval_s`` (600 s) from the end of the lead-in; a final remainder of at least
``min_interval_s`` (60 s) gets its own Pst over its own length, marked ``partial`` (a fluctuation
that lasts 1 min reads higher over a 1-min interval than over a 10-min one); a shorter remainder
is not judged (``unjudged_s``). A series with less than ``min_interval_s`` to classify is refused
(a Pst over less than a minute would rest on a handful of changes).

References
----------
IEC 61000-4-15:2010, *Flickermeter - Functional and design specifications*: clause 4 (blocks 1-5,
weighting-filter parameters of the 230-V and 120-V lamps, Pst and Plt formulas), Table 1
(sinusoidal fluctuations giving ``P_inst,max = 1``), Table 5 (rectangular fluctuations giving
``Pst = 1``, tolerance +-5 %). IEEE 1453-2022 adopts the same flickermeter with the 120-V lamp.
Planning levels, the analytical method it replaces as the verdict, and the Table 5 figures:
``docs/sources/criteria.md`` section 4. Scale cross-check: W. Mombauer, *Messung von
Spannungsschwankungen und Flickern mit dem IEC-Flickermeter* (VDE-Verlag) gives 1 238 400 for
this normalisation; :func:`analog_scale` gives 1 238 354 for the 230-V lamp.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import signal

from gridstudy.grid.errors import Problem
from gridstudy.studies.criteria._base import CriteriaError, Finding, Limit, as_values, positive
from gridstudy.studies.criteria.flicker import FLICKER_MV, FlickerLevels

__all__ = ["LOOKAHEAD_STEPS", "FlickerAllocation", "emission_finding", "LampWeighting", "LAMPS", "FlickermeterResult", "flickermeter", "pst_from_p_inst",
           "plt_from_pst", "flickermeter_finding", "analog_scale", "METHOD"]

METHOD = "iec61000-4-15"
_STD = "IEC 61000-4-15:2010"

Sample = Literal["mean", "point"]

#: Percentiles of the classifier [% of time exceeded] and Pst weights, IEC 61000-4-15 block 5.
_PERCENTS = (0.1, 0.7, 1.0, 1.5, 2.2, 3.0, 4.0, 6.0, 8.0, 10.0, 13.0, 17.0, 30.0, 50.0, 80.0)

_MIN_STEP_S = 0.005
_MAX_STEP_S = 0.100
_INTERNAL_STEP_S = 0.00125      # internal step at most this: >= 800 Hz
_FIR_HALF = 64                  # interpolation FIR half-length in input samples
#: Input steps the flickermeter's interpolation looks ahead: the last ones of a series are not
#: classified, so a series meant to be judged up to a time must run this much past it. [-]
LOOKAHEAD_STEPS = _FIR_HALF
_REF_TAU_S = 60.0               # block 1 reference level: 1-min first-order low-pass
_HP_HZ = 0.05                   # block 3 high-pass cut-off
_SMOOTH_TAU_S = 0.3             # block 4 sliding-mean time constant


@dataclass(frozen=True)
class LampWeighting:
    """The lamp-eye weighting of one reference lamp, IEC 61000-4-15:2010 clause 4 (block 3).

    Parameters
    ----------
    name : str
        ``"230V"`` or ``"120V"``.
    k : float
        Gain K. [-]
    lambda_hz : float
        Damping ``lambda / (2 pi)``. [Hz]
    f1_hz, f2_hz, f3_hz, f4_hz : float
        ``w1 .. w4 / (2 pi)``. [Hz]
    lowpass_hz : float
        Cut-off of the 6th-order Butterworth low-pass of block 3 (35 Hz with 50-Hz systems, 42 Hz
        with 60-Hz systems; the 230-V lamp goes with 50 Hz, the 120-V lamp with 60 Hz here). [Hz]
    ref_hz : float
        Frequency of the reference sinusoidal fluctuation. [Hz]
    ref_dvv_pct : float
        Its peak-to-peak relative voltage change giving ``P_inst,max = 1`` (Table 1). [%]
    """

    name: str
    k: float
    lambda_hz: float
    f1_hz: float
    f2_hz: float
    f3_hz: float
    f4_hz: float
    lowpass_hz: float
    ref_hz: float = 8.8
    ref_dvv_pct: float = 0.250

    def zpk(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Zeros, poles [rad/s] and gain of the analog weighting filter ``F(s)``."""
        w1, w2, w3, w4 = (2 * math.pi * f for f in (self.f1_hz, self.f2_hz, self.f3_hz, self.f4_hz))
        lam = 2 * math.pi * self.lambda_hz
        zeros = np.array([0.0, -w2])
        poles = np.concatenate((np.roots([1.0, 2 * lam, w1 * w1]), [-w3, -w4]))
        return zeros, poles, self.k * w1 * w3 * w4 / w2


#: The two lamps of IEC 61000-4-15:2010 (clause 4, block 3 parameters; Table 1 references).
LAMPS: Mapping[str, LampWeighting] = MappingProxyType({
    "230V": LampWeighting("230V", 1.74802, 4.05981, 9.15494, 2.27979, 1.22535, 21.9, 35.0, 8.8, 0.250),
    "120V": LampWeighting("120V", 1.6357, 4.167375, 9.077169, 2.939902, 1.394468, 17.31512, 42.0, 8.8, 0.321),
})


def _lamp(lamp: str | LampWeighting) -> LampWeighting:
    if isinstance(lamp, LampWeighting):
        return lamp
    if lamp not in LAMPS:
        raise CriteriaError([Problem("lamp", f"must be one of {', '.join(LAMPS)}", lamp)])
    return LAMPS[lamp]


@dataclass(frozen=True)
class _Chain:
    up: int
    fs_hz: float
    fir: np.ndarray          # interpolation (and step-mean correction) FIR, gain `up`
    sos_w: np.ndarray        # block 3: high-pass, Butterworth low-pass, weighting
    sos_s: np.ndarray        # block 4: 300 ms first-order low-pass
    scale: float             # block 4 scaling to P_inst


def _analog_block3(lamp: LampWeighting) -> tuple[np.ndarray, np.ndarray, float]:
    zh, ph, kh = signal.butter(1, 2 * math.pi * _HP_HZ, "highpass", analog=True, output="zpk")
    zb, pb, kb = signal.butter(6, 2 * math.pi * lamp.lowpass_hz, "lowpass", analog=True, output="zpk")
    zw, pw, kw = lamp.zpk()
    return np.concatenate((zh, zb, zw)), np.concatenate((ph, pb, pw)), float(kh * kb * kw)


def analog_scale(lamp: str | LampWeighting) -> float:
    """Block-4 scaling factor from the analog chain (see the module notes). [-]"""
    lw = _lamp(lamp)
    z, p, k = _analog_block3(lw)
    _, h = signal.freqs_zpk(z, p, k, worN=[2 * math.pi * lw.ref_hz])
    g2 = 1.0 / math.hypot(1.0, 2 * math.pi * 2 * lw.ref_hz * _SMOOTH_TAU_S)
    a = lw.ref_dvv_pct / 200.0  # amplitude of m = half the peak-to-peak dV/V
    return 2.0 / (a * a * float(abs(h[0])) ** 2 * (1.0 + g2))


@lru_cache(maxsize=32)
def _chain(lamp: LampWeighting, step_ns: int, sample: str) -> _Chain:
    step_s = step_ns / 1e9
    up = max(1, math.ceil(step_s / _INTERNAL_STEP_S - 1e-9))
    fs = up / step_s
    # interpolation FIR: gain 1 (point) or 1/sinc(f step) (mean) to 0.9 Nyquist, 0 from 1.1 Nyquist
    nyq_in = 0.5 / step_s
    f = np.linspace(0.0, fs / 2, 4097)
    gain = np.interp(f, [0.0, 0.9 * nyq_in, 1.1 * nyq_in, fs / 2], [1.0, 1.0, 0.0, 0.0])
    if sample == "mean":
        gain = gain / np.sinc(np.minimum(f, 0.9 * nyq_in) * step_s)
    fir = signal.firwin2(2 * _FIR_HALF * up + 1, f, gain, fs=fs, window=("kaiser", 8.0)) * up
    # block 3: bilinear transform prewarped at the reference frequency
    z, p, k = _analog_block3(lamp)
    fs_w = math.pi * lamp.ref_hz / math.tan(math.pi * lamp.ref_hz / fs)
    zd, pd_, kd = signal.bilinear_zpk(z, p, k, fs_w)
    sos_w = signal.zpk2sos(zd, pd_, kd)
    b, a = signal.bilinear([1.0], [_SMOOTH_TAU_S, 1.0], fs)
    sos_s = signal.tf2sos(b, a)
    return _Chain(up, fs, fir, sos_w, sos_s, analog_scale(lamp))


def pst_from_p_inst(p_inst: np.ndarray) -> tuple[float, dict[str, float]]:
    """Block 5: Pst from instantaneous flicker sensation samples (exact percentiles).

    Parameters
    ----------
    p_inst : numpy.ndarray
        ``P_inst`` sampled evenly over the observation interval. [-]

    Returns
    -------
    pst : float
        ``sqrt(0.0314 P0.1 + 0.0525 P1s + 0.0657 P3s + 0.28 P10s + 0.08 P50s)``. [-]
    levels : dict
        ``p0_1``, ``p1s``, ``p3s``, ``p10s``, ``p50s``. [-]
    """
    p = np.asarray(p_inst, dtype=float)
    q = np.quantile(p, [1.0 - x / 100.0 for x in _PERCENTS])
    v = dict(zip(_PERCENTS, q, strict=True))
    lv = {"p0_1": v[0.1],
          "p1s": (v[0.7] + v[1.0] + v[1.5]) / 3,
          "p3s": (v[2.2] + v[3.0] + v[4.0]) / 3,
          "p10s": (v[6.0] + v[8.0] + v[10.0] + v[13.0] + v[17.0]) / 5,
          "p50s": (v[30.0] + v[50.0] + v[80.0]) / 3}
    s = 0.0314 * lv["p0_1"] + 0.0525 * lv["p1s"] + 0.0657 * lv["p3s"] + 0.28 * lv["p10s"] + 0.08 * lv["p50s"]
    return math.sqrt(max(s, 0.0)), {k: float(x) for k, x in lv.items()}


def plt_from_pst(pst: pd.Series | np.ndarray, n: int = 12) -> pd.DataFrame:
    """Plt: cubic mean of ``n`` consecutive Pst values (IEC 61000-4-15, ``n = 12``: 2 h).

    Parameters
    ----------
    pst : pandas.Series or numpy.ndarray
        Consecutive Pst values (10-min intervals), in order. [-]
    n : int
        Pst values per Plt.

    Returns
    -------
    pandas.DataFrame
        One row per group of ``n`` (the last may hold fewer), indexed by the first Pst's label:
        ``plt = (sum Pst^3 / N)^(1/3)`` [-] over the ``N`` values it holds, ``n_pst`` (``N``) and
        ``complete`` (``N == n``). A group with ``N < n`` is the Plt the same fluctuation would
        give if it lasted the 2 h; it is marked, not divided by ``n``.
    """
    s = pst if isinstance(pst, pd.Series) else pd.Series(np.asarray(pst, dtype=float))
    if n < 1:
        raise CriteriaError([Problem("n", "must be >= 1", n)])
    v = s.to_numpy(dtype=float)
    g = np.arange(len(v)) // n
    cubes = np.bincount(g, weights=v ** 3) if len(v) else np.zeros(0)
    counts = np.bincount(g) if len(v) else np.zeros(0, dtype=int)
    out = pd.DataFrame({"plt": np.cbrt(cubes / np.maximum(counts, 1)), "n_pst": counts,
                        "complete": counts == n}, index=s.index[::n])
    return out


@dataclass(frozen=True)
class FlickermeterResult:
    """What the flickermeter found on one series.

    Attributes
    ----------
    intervals : pandas.DataFrame
        One row per observation interval, indexed by its start: ``pst`` [-], ``seconds`` [s],
        ``partial`` (shorter than ``interval_s``), ``p_inst_max`` [-] and the classifier levels
        ``p0_1``, ``p1s``, ``p3s``, ``p10s``, ``p50s`` [-].
    plt : pandas.DataFrame
        :func:`plt_from_pst` of the intervals' Pst.
    p_inst : pandas.Series
        Instantaneous flicker sensation on the input index: the largest internal sample within
        each step. [-]
    lamp : str
    step_s : float
        Step of the input series. [s]
    internal_step_s : float
        Step at which the chain runs. [s]
    sample : str
        ``"mean"`` or ``"point"``.
    settle_s : float
        Lead-in left out of the classification. [s]
    unjudged_s : float
        Remainder before the look-ahead too short for a Pst (below ``min_interval_s``). [s]
    lookahead_s : float
        End of the series not classified: the interpolation FIR needs this much of what follows
        (``p_inst`` is NaN there). [s]
    """

    intervals: pd.DataFrame
    plt: pd.DataFrame
    p_inst: pd.Series
    lamp: str
    step_s: float
    internal_step_s: float
    sample: str
    settle_s: float
    unjudged_s: float
    lookahead_s: float

    @property
    def pst(self) -> pd.Series:
        """Pst per interval. [-]"""
        return self.intervals["pst"]

    @property
    def pst_max(self) -> float:
        """Largest Pst. [-]"""
        return float(self.intervals["pst"].max())

    @property
    def plt_max(self) -> float:
        """Largest Plt. [-]"""
        return float(self.plt["plt"].max())

    @property
    def p_inst_max(self) -> float:
        """Largest ``P_inst`` over the classified part. [-]"""
        return float(self.intervals["p_inst_max"].max())

    @property
    def seen_hz(self) -> float:
        """Highest fluctuation frequency the series lets through (0.9 x its Nyquist). [Hz]"""
        return 0.45 / self.step_s


def _check(v: pd.Series, sample: str, settle_s: float, interval_s: float,
           min_interval_s: float) -> tuple[np.ndarray, pd.DatetimeIndex, float]:
    values, index, step_s = as_values(v, "vm", frame_ok=False)
    x = values[:, 0]
    problems: list[Problem] = []
    if not (_MIN_STEP_S - 1e-12 <= step_s <= _MAX_STEP_S + 1e-12):
        problems.append(Problem("vm.index", f"step must lie in {_MIN_STEP_S * 1e3:g} .. {_MAX_STEP_S * 1e3:g} ms "
                                "(a flickermeter needs the sub-second series)", f"{step_s * 1e3:g} ms"))
    if (x <= 0).any():
        problems.append(Problem("vm", "must be > 0 (an RMS voltage)", float(x.min())))
    if sample not in ("mean", "point"):
        problems.append(Problem("sample", "must be 'mean' or 'point'", sample))
    positive(problems, "settle_s", settle_s, allow_zero=True)
    positive(problems, "interval_s", interval_s)
    positive(problems, "min_interval_s", min_interval_s)
    if not problems and min_interval_s > interval_s:
        problems.append(Problem("min_interval_s", f"must be <= interval_s ({interval_s:g} s)", min_interval_s))
    if not problems:
        n_settle = int(round(settle_s / step_s))
        left_s = (len(x) - n_settle - _FIR_HALF) * step_s
        if left_s < min_interval_s - 1e-9:
            problems.append(Problem("vm", f"leaves {left_s:g} s to classify after settle_s and the "
                                    f"interpolator's look-ahead ({_FIR_HALF} steps); a Pst needs at least "
                                    f"min_interval_s = {min_interval_s:g} s", f"{len(x)} samples"))
    if problems:
        raise CriteriaError(problems)
    return x, index, step_s


def flickermeter(vm: pd.Series, *, lamp: str | LampWeighting = "230V", sample: Sample = "mean",
                 settle_s: float = 0.0, interval_s: float = 600.0,
                 min_interval_s: float = 60.0) -> FlickermeterResult:
    """Run the IEC 61000-4-15 flickermeter on an RMS voltage series.

    Parameters
    ----------
    vm : pandas.Series
        RMS voltage on a fixed step of 5-100 ms, in pu or volts (only ratios are used). [pu] or [V]
    lamp : str or LampWeighting
        ``"230V"`` or ``"120V"`` (:data:`LAMPS`).
    sample : {"mean", "point"}
        Each value is the RMS over ``[t, t + step)`` (QSTS step means, recorder RMS), or an
        instantaneous value of the RMS envelope. See the module notes.
    settle_s : float
        Lead-in left out of the classification (the filters run through it). [s]
    interval_s : float
        Observation interval of one Pst. [s]
    min_interval_s : float
        Shortest interval given a Pst (a shorter series is refused). [s]

    Returns
    -------
    FlickermeterResult

    Raises
    ------
    CriteriaError
        Index not fixed-step, step outside 5-100 ms, values not finite or not positive, unknown
        lamp or sample, or less than ``min_interval_s`` to classify.
    """
    lw = _lamp(lamp)
    x_v, index, step_s = _check(vm, sample, settle_s, interval_s, min_interval_s)
    ch = _chain(lw, int(round(step_s * 1e9)), sample)
    n = len(x_v)
    up = ch.up

    # block 1: reference level (1-min first-order low-pass of the RMS), block 2: demodulator
    n_min = max(1, min(n, int(round(_REF_TAU_S / step_s))))
    a = math.exp(-step_s / _REF_TAU_S)
    ref, _ = signal.lfilter([1 - a], [1.0, -a], x_v, zi=[a * float(x_v[:n_min].mean())])
    x = 0.5 * ((x_v / ref) ** 2 - 1.0)

    # chunks: the lead-in (<= interval-long pieces), then the observation intervals up to the
    # look-ahead the interpolation FIR needs (the last _FIR_HALF samples are not classified)
    n_set = int(round(settle_s / step_s))
    n_end = n - _FIR_HALF
    n_int = max(1, int(round(interval_s / step_s)))
    n_min_int = int(math.ceil(min_interval_s / step_s - 1e-9))
    bounds = sorted(set(list(range(0, n_set, n_int)) + list(range(n_set, n_end, n_int)) + [n_set, n_end]))
    pad = np.pad(x, (2 * _FIR_HALF, 2 * _FIR_HALF), mode="reflect", reflect_type="odd")
    off = (2 * _FIR_HALF) * up  # FIR delay (_FIR_HALF * up) + context (_FIR_HALF input samples)

    zi_w = signal.sosfilt_zi(ch.sos_w) * x[0]          # steady state at the first value
    zi_s = np.zeros((ch.sos_s.shape[0], 2))
    p_step = np.full(n, np.nan)
    rows: list[dict[str, Any]] = []
    starts: list[pd.Timestamp] = []
    unjudged = 0.0
    for a0, b0 in pairwise(bounds):
        seg = pad[a0 + _FIR_HALF: b0 + 3 * _FIR_HALF]  # chunk with _FIR_HALF samples each side
        y = signal.upfirdn(ch.fir, seg, up=up)[off: off + (b0 - a0) * up]
        y, zi_w = signal.sosfilt(ch.sos_w, y, zi=zi_w)
        p, zi_s = signal.sosfilt(ch.sos_s, y * y, zi=zi_s)
        p *= ch.scale
        p_step[a0:b0] = p.reshape(b0 - a0, up).max(axis=1)
        if a0 < n_set:
            continue
        if b0 - a0 < n_min_int:
            unjudged += (b0 - a0) * step_s
            continue
        pst, lv = pst_from_p_inst(p)
        rows.append({"pst": pst, "seconds": (b0 - a0) * step_s, "partial": b0 - a0 < n_int,
                     "p_inst_max": float(p.max()), **lv})
        starts.append(index[a0])

    intervals = pd.DataFrame(rows, index=pd.DatetimeIndex(starts, name="start"))
    return FlickermeterResult(
        intervals=intervals, plt=plt_from_pst(intervals["pst"]),
        p_inst=pd.Series(p_step, index=index, name="p_inst"), lamp=lw.name, step_s=step_s,
        internal_step_s=1.0 / ch.fs_hz, sample=sample, settle_s=n_set * step_s, unjudged_s=unjudged,
        lookahead_s=_FIR_HALF * step_s)


def flickermeter_finding(vm: pd.Series, levels: FlickerLevels = FLICKER_MV, *,
                         lamp: str | LampWeighting = "230V", sample: Sample = "mean",
                         settle_s: float = 0.0, interval_s: float = 600.0,
                         min_interval_s: float = 60.0) -> Finding:
    """Judge Pst and Plt of an RMS voltage series, measured by the IEC 61000-4-15 flickermeter.

    Parameters
    ----------
    vm : pandas.Series
        RMS voltage on a fixed step of 5-100 ms. [pu] or [V]
    levels : FlickerLevels
        Planning levels (:data:`~gridstudy.studies.criteria.flicker.FLICKER_MV`, ``FLICKER_HV``)
        or emission limits in the same form.
    lamp, sample, settle_s, interval_s, min_interval_s
        See :func:`flickermeter`.

    Returns
    -------
    Finding
        ``worst_value`` the largest Pst and ``when`` its interval start; ``seconds_outside`` the
        time of intervals with Pst above the level; ``events`` their number. ``passed`` when the
        largest Pst is within its level and, where the series holds 12 consecutive Pst (2 h), the
        largest Plt within its level; a Plt from fewer than 12 Pst (the cubic mean of those it has)
        is reported, not judged (the standard's Plt is the 2-h value), as ``details["plt_complete"]``
        says. ``details``: ``pst_max``, ``plt_max``, ``method``
        (``"iec61000-4-15"``), ``lamp``, ``step_s``, ``sample``, ``internal_step_s``,
        ``seen_hz``, ``p_inst_max``, ``pst_windows``, ``partial_windows``, ``plt_complete``,
        ``unjudged_s``, ``lookahead_s`` and ``pst`` (the list of interval Pst).
    """
    r = flickermeter(vm, lamp=lamp, sample=sample, settle_s=settle_s, interval_s=interval_s,
                     min_interval_s=min_interval_s)
    iv = r.intervals
    pv = iv["pst"].to_numpy()
    over = pv > levels.pst
    k = int(pv.argmax())
    plt_complete = bool(r.plt["complete"].all())
    n_partial = int(iv["partial"].sum())
    extra = []
    if n_partial:
        extra.append(f"{n_partial} interval(s) shorter than {interval_s:g} s, Pst over their own length")
    complete = r.plt[r.plt["complete"]]
    if not plt_complete:
        extra.append(f"Plt from {int(r.plt['n_pst'].min())} Pst value(s), not 12: reported, not judged")
    note = (f"Flickermeter of {_STD} ({_lamp_name(lamp)} lamp) on the RMS series at "
            f"{r.step_s * 1e3:g} ms ({sample} values, run at {r.internal_step_s * 1e3:g} ms); "
            f"fluctuations above {r.seen_hz:g} Hz are not seen. Judged on the largest Pst"
            + (" and the largest Plt of 12 consecutive Pst" if len(complete) else "")
            + (f"; {'; '.join(extra)}." if extra else "."))
    plt_judged = float(complete["plt"].max()) if len(complete) else math.nan
    return Finding(
        criterion=f"flicker ({levels.voltage_class}, {_STD} flickermeter)",
        passed=r.pst_max <= levels.pst and not plt_judged > levels.plt,
        worst_value=float(pv[k]),
        worst_unit="-",
        when=iv.index[k],
        seconds_outside=float(iv["seconds"].to_numpy()[over].sum()),
        events=int(over.sum()),
        limits=levels.limits() if len(complete) else levels.limits()[:1],
        note=note,
        details={
            "pst_max": r.pst_max,
            "plt_max": r.plt_max,
            "method": METHOD,
            "lamp": r.lamp,
            "step_s": r.step_s,
            "sample": r.sample,
            "internal_step_s": r.internal_step_s,
            "seen_hz": r.seen_hz,
            "p_inst_max": r.p_inst_max,
            "pst_windows": len(pv),
            "partial_windows": n_partial,
            "plt_complete": plt_complete,
            "plt_judged": plt_judged,
            "unjudged_s": r.unjudged_s,
            "lookahead_s": r.lookahead_s,
            "pst": [float(v) for v in pv],
        },
    )


def _lamp_name(lamp: str | LampWeighting) -> str:
    """Name of a lamp given by name or weighting."""
    return lamp.name if isinstance(lamp, LampWeighting) else str(lamp)


@dataclass(frozen=True)
class FlickerAllocation:
    """IEC 61000-3-7 emission allocation of flicker to one installation (Stage 2).

    The global contribution the loads of a system may add is
    ``G = (L_P^α - T^α · L_up^α)^(1/α)`` (the system's planning level less what is transferred
    from upstream), and one installation's share of it
    ``E_i = G · (S_i / S_t)^(1/α)``, with α = 3 for Pst. The total at the POI is the cubic sum of
    the installation's emission and the background: ``(E^α + B^α)^(1/α)``.
    (IEC TR 61000-3-7:2008, clause 8; ``docs/sources/criteria.md §4``.)

    Parameters
    ----------
    alpha : float
        Summation exponent for Pst (3 in IEC 61000-3-7). [-]
    upstream_pst : float
        Planning level of the upstream (EHV) system, L_up. [-]
    transfer_coefficient : float
        Share of the upstream flicker transferred to the studied system, T (0.8-1 typical
        between EHV and HV) *(check with the utility)*. [-]
    share : float
        The campus's agreed power over the total supply capacity of the system at the POI,
        S_i / S_t *(assumption, to be given by the utility)*. [-]
    background_pst : float
        Flicker already present at the POI without the campus *(assumption, to be measured)*. [-]
    """

    alpha: float = 3.0
    upstream_pst: float = 0.8
    transfer_coefficient: float = 0.8
    share: float = 0.5
    background_pst: float = 0.3
    source: str = ("IEC TR 61000-3-7:2008 clause 8 (allocation); transfer coefficient, share S_i/S_t and "
                   "background are assumptions to confirm with the utility (docs/sources/criteria.md §4)")

    def global_pst(self, planning_pst: float) -> float:
        """G: what all loads of the system may contribute. [-]"""
        a = self.alpha
        rest: float = planning_pst ** a - (self.transfer_coefficient * self.upstream_pst) ** a
        g: float = max(rest, 0.0) ** (1.0 / a)
        return g

    def emission_limit(self, planning_pst: float) -> float:
        """E_i: this installation's own limit. [-]"""
        e: float = self.global_pst(planning_pst) * self.share ** (1.0 / self.alpha)
        return e

    def total(self, emission_pst: float) -> float:
        """The POI's Pst with the background added (cubic sum). [-]"""
        a = self.alpha
        t: float = (emission_pst ** a + self.background_pst ** a) ** (1.0 / a)
        return t


def emission_finding(emission_pst: float, planning_pst: float, allocation: FlickerAllocation,
                     when: pd.Timestamp | None = None) -> Finding:
    """The campus's own Pst against its IEC 61000-3-7 allocation, and the total with the background
    against the planning level. ``emission_pst`` is the flickermeter's Pst at the POI with the
    campus as the only fluctuating load of the model (the study's network holds no other)."""
    limit = allocation.emission_limit(planning_pst)
    total = allocation.total(emission_pst)
    ok = emission_pst <= limit and total <= planning_pst
    return Finding(
        criterion="flicker emission (IEC 61000-3-7 allocation)", passed=ok, worst_value=float(emission_pst),
        worst_unit="Pst", when=when, seconds_outside=math.nan, events=int(not ok),
        limits=(Limit("Pst emission limit E_i", round(limit, 4), "-", allocation.source, True),
                Limit("Pst planning level (total with background)", planning_pst, "-", allocation.source, False)),
        note=(f"Campus emission Pst {emission_pst:.3f} against its own limit {limit:.3f} "
              f"(G = {allocation.global_pst(planning_pst):.3f}, S_i/S_t = {allocation.share:g}); with a background of "
              f"{allocation.background_pst:g} the POI totals {total:.3f} against the planning level {planning_pst:g}."),
        details={"emission_pst": float(emission_pst), "emission_limit_pst": limit, "total_pst": total,
                 "planning_pst": planning_pst, "global_pst": allocation.global_pst(planning_pst),
                 "share": allocation.share, "background_pst": allocation.background_pst,
                 "transfer_coefficient": allocation.transfer_coefficient, "upstream_pst": allocation.upstream_pst})
