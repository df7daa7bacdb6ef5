"""The oscillation screen: the amplitude of the largest oscillation of grid-side power in a band,
the worst over sliding windows of several lengths (``docs/sources/criteria.md §9``).

Why not one spectrum. A training swing is a *jittered* line: each iteration's period varies by a
few per cent, so its phase wanders and its power spreads over a band of frequencies around the
mean. A long window resolves that band into many bins, and the largest bin of one Hann spectrum of
10 minutes shows a fraction of the line (31 MW where a 15-30-s window shows 61-71 MW for the same
swing); a short window sees the line whole. A verdict must not depend on the window chosen.

The method (amplitude-correct for any window length):

1. every window of each length (:data:`DEFAULT_WINDOWS_S`: 10, 30, 120 and 600 s), sliding by half
   its length over the series;
2. in each: mean and linear trend removed, Hann taper, FFT zero-padded to :data:`PAD` times the
   length (the peak's frequency to a fraction of a bin);
3. the line: the largest spectral peak in the band; its amplitude from the power of every bin
   within ``±max(LINE_HALF_WIDTH x f_peak, LINE_MIN_BINS / T)`` of it (T the window length), by
   Parseval: ``A = sqrt(4 sum |X_k|^2 / (M sum w^2))`` for an FFT of ``M`` points and a taper
   ``w``. A sinusoid of amplitude A reads A whatever its frequency against the bins (no scalloping
   loss) and a jittered line reads the amplitude of its power, however finely it is resolved;
4. the screen's value is the worst over every window of every length.

A square wave of peak-to-peak S has a fundamental of amplitude ``2 S / pi``; its odd harmonics
(3 f0, 5 f0...) lie outside the line's half-width and are lines of their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.studies.criteria._base import CriteriaError, as_values

__all__ = ["DEFAULT_WINDOWS_S", "PAD", "LINE_HALF_WIDTH", "LINE_MIN_BINS", "LineReading", "line_amplitude",
           "worst_line", "METHOD"]

#: Window lengths of the screen. [s]
DEFAULT_WINDOWS_S = (10.0, 30.0, 120.0, 600.0)
#: Zero padding of each window's FFT (peak frequency to 1/PAD of a bin). [-]
PAD = 8
#: Half-width of a line, relative to its frequency: takes the spread of an iteration period with a
#: relative jitter of a few per cent (its phase random walk). [-]
LINE_HALF_WIDTH = 0.25
#: Least half-width of a line in bins of the window (1/T): the Hann main lobe is +/-2 bins. [-]
LINE_MIN_BINS = 3.0

METHOD = ("worst amplitude over sliding windows of {lengths} s (half-overlapping): in each window mean and "
          "trend removed, Hann taper, zero-padded FFT; the largest line in the band, its amplitude from the "
          "power within +/-max(25 % of its frequency, 3 bins) of its peak (Parseval), so that a sinusoid of "
          "amplitude A reads A for any window length and a jittered line reads the amplitude of its power")


@dataclass(frozen=True)
class LineReading:
    """The largest line of one window or of a screen."""

    amplitude_mw: float
    peak_hz: float
    start: pd.Timestamp | None
    window_s: float

    def to_dict(self) -> dict[str, Any]:
        """The line as a JSON-ready mapping."""
        return {"amplitude_mw": self.amplitude_mw, "peak_hz": self.peak_hz, "window_s": self.window_s,
                "start": None if self.start is None else self.start.isoformat()}


def line_amplitude(x: np.ndarray, dt: float, band_hz: tuple[float, float]) -> tuple[float, float]:
    """Amplitude [MW] and frequency [Hz] of the largest line of ``x`` (one window, step ``dt`` [s])
    whose peak lies in ``band_hz`` (see the module docstring); ``(0, nan)`` without a bin in the band."""
    n = len(x)
    if n < 4:
        return 0.0, math.nan
    t = np.arange(n, dtype=float)
    y = x - np.polyval(np.polyfit(t, x, 1), t)
    w = np.hanning(n)
    m = PAD * n
    spec = np.abs(np.fft.rfft(y * w, m)) ** 2
    f = np.fft.rfftfreq(m, dt)
    lo, hi = band_hz
    inband = (f >= lo) & (f <= hi)
    if not inband.any():
        return 0.0, math.nan
    k = int(np.flatnonzero(inband)[np.argmax(spec[inband])])
    fp = float(f[k])
    hw = max(LINE_HALF_WIDTH * fp, LINE_MIN_BINS / (n * dt))
    sel = (f >= fp - hw) & (f <= fp + hw) & (f > 0)
    power = float(spec[sel].sum())
    # the power of the padded spectrum counts each unpadded bin PAD times: Parseval over M points
    amp = math.sqrt(4.0 * power / (m * float(np.sum(w * w))))
    return amp, fp


def worst_line(p_mw: pd.Series, band_hz: tuple[float, float],
               windows_s: tuple[float, ...] = DEFAULT_WINDOWS_S) -> tuple[LineReading, dict[float, LineReading]]:
    """The worst line of ``p_mw`` over sliding windows of each length (the module's method).

    Parameters
    ----------
    p_mw : pandas.Series
        Grid-side active power on a fixed-step index. [MW]
    band_hz : tuple of float
        The band the line's peak must lie in. [Hz]
    windows_s : tuple of float
        Window lengths; a length longer than the series is judged on the whole series. [s]

    Returns
    -------
    worst : LineReading
        The largest over every window of every length.
    by_length : dict
        ``window length -> LineReading``, the worst of each length.
    """
    values, idx, dt = as_values(p_mw, "p_mw", frame_ok=False)
    if not windows_s or any(not (w > 0) or not math.isfinite(w) for w in windows_s):
        raise CriteriaError([Problem("oscillation.windows_s", "must be finite lengths > 0 s", list(windows_s))])
    v = values[:, 0]
    by_length: dict[float, LineReading] = {}
    for length in windows_s:
        n = min(len(v), max(4, int(round(length / dt))))
        hop = max(1, n // 2)
        starts = list(range(0, len(v) - n + 1, hop))
        if starts[-1] != len(v) - n:  # the last window ends with the series
            starts.append(len(v) - n)
        best = LineReading(0.0, math.nan, None, n * dt)
        for s in starts:
            amp, fp = line_amplitude(v[s:s + n], dt, band_hz)
            if amp > best.amplitude_mw:
                best = LineReading(amp, fp, pd.Timestamp(idx[s]), n * dt)
        by_length[float(length)] = best
    worst = max(by_length.values(), key=lambda r: r.amplitude_mw)
    return worst, by_length
