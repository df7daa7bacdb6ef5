"""Figures of the interconnection report, each returned as a small inline SVG string.

Every figure has a title, axis labels with units and its limit lines drawn and labelled. Long
series are reduced to the minimum and maximum of each plotting bucket before drawing
(:func:`envelope`), so a day at 1 s stays a few hundred kB of SVG while every peak stays visible.
Text is kept as SVG text (``svg.fonttype = none``), which keeps files small and the PDF searchable.
"""

from __future__ import annotations

import io
import re
from itertools import pairwise
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["envelope", "to_svg", "poi_voltage", "poi_voltage_zoom", "bus_envelopes", "voltage_duration",
           "grid_power", "grid_variation", "battery", "taps", "loading_ranges", "flicker_pst", "sag_event",
           "sizing_frontier", "SCENARIO_STYLE", "MAX_POINTS"]

MAX_POINTS = 1500  # plotting buckets across a figure's width
SCENARIO_STYLE = {"without_battery": dict(color="#c0392b", label="without battery"),
                  "with_battery": dict(color="#1f5fa8", label="with battery")}
_EXTRA_COLORS = ["#2e8b57", "#8e44ad", "#d35400", "#7f8c8d"]

plt.rcParams.update({
    "font.family": "DejaVu Sans", "font.size": 8.5, "axes.titlesize": 9.5, "axes.labelsize": 8.5,
    "legend.fontsize": 7.5, "xtick.labelsize": 7.5, "ytick.labelsize": 7.5, "axes.grid": True,
    "grid.alpha": 0.3, "grid.linewidth": 0.5, "svg.fonttype": "none", "svg.hashsalt": "gridstudy",
    "lines.linewidth": 0.9, "figure.dpi": 100,
})


def style(scenario: str, k: int = 0) -> dict[str, Any]:
    """Colour and legend label of a scenario."""
    if scenario in SCENARIO_STYLE:
        return dict(SCENARIO_STYLE[scenario])
    return dict(color=_EXTRA_COLORS[k % len(_EXTRA_COLORS)], label=scenario.replace("_", " "))


def to_svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no fixed pixel size); closes it."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    s = buf.getvalue()
    s = s[s.index("<svg"):]
    # let CSS size the figure: keep the viewBox, drop the fixed width/height of the root element
    head, rest = s.split(">", 1)
    head = re.sub(r'\s(width|height)="[^"]*"', "", head, count=2)
    return head + ' width="100%" preserveAspectRatio="xMidYMid meet">' + rest


def envelope(s: pd.Series, max_points: int = MAX_POINTS) -> pd.Series:
    """Reduce a long series to the min and max of each of ``max_points`` buckets (in time order).

    Parameters
    ----------
    s : pandas.Series
        Series on a time index. [any unit]
    max_points : int
        Number of buckets. [-]

    Returns
    -------
    pandas.Series
        The series itself when short enough, else two points per bucket (its min and max, at their
        own times), so peaks survive the reduction.
    """
    s = s.dropna() if s.isna().all() else s
    n = len(s)
    if n <= 2 * max_points:
        return s
    v = s.to_numpy(dtype=float)
    edges = np.linspace(0, n, max_points + 1).astype(int)
    keep = []
    for a, b in pairwise(edges):
        if b <= a:
            continue
        seg = v[a:b]
        if np.isnan(seg).all():
            keep.append(a)
            continue
        i, j = a + int(np.nanargmin(seg)), a + int(np.nanargmax(seg))
        keep.extend(sorted({i, j}))
    return s.iloc[keep]


def _time_axis(ax: Axes, index: pd.Index) -> None:  # a DatetimeIndex (pandas types a Series index as Index)
    span = index[-1] - index[0] if len(index) > 1 else pd.Timedelta(0)
    ax.set_xlabel(f"time from {index[0]:%Y-%m-%d %H:%M:%S}" if len(index) else "time")
    loc = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S" if span <= pd.Timedelta("2h") else "%H:%M"))
    if len(index) > 1:
        ax.set_xlim(index[0], index[-1])


def _hline(ax: Axes, y: float, text: str, color: str = "0.25", ls: str = "--", where: str = "right") -> None:
    ax.axhline(y, color=color, ls=ls, lw=0.9, zorder=1)
    x = 0.995 if where == "right" else 0.005
    ax.annotate(text, xy=(x, y), xycoords=("axes fraction", "data"), ha="right" if where == "right" else "left",
                va="bottom", fontsize=7, color=color, bbox=dict(fc="white", ec="none", alpha=0.75, pad=0.5))


def _fig(h: float = 3.0, w: float = 7.2, nrows: int = 1, sharex: bool = True) -> tuple[Figure, np.ndarray]:
    fig, ax = plt.subplots(nrows, 1, figsize=(w, h), sharex=sharex, squeeze=False)
    return fig, ax[:, 0]


def _band_lines(ax: Axes, band: tuple[float, float] | None, name: str) -> None:
    if band:
        _hline(ax, band[1], f"{name} max {band[1]:.3g} pu")
        _hline(ax, band[0], f"{name} min {band[0]:.3g} pu")


def poi_voltage(series: dict[str, pd.Series], band: tuple[float, float] | None, title: str) -> str:
    """POI voltage over the horizon per scenario, with the N-0 band."""
    fig, (ax,) = _fig()
    for k, (scen, s) in enumerate(series.items()):
        e = envelope(s)
        ax.plot(e.index, e.to_numpy(), **style(scen, k))
    _band_lines(ax, band, "N-0")
    ax.set_ylabel("POI voltage [pu]")
    ax.set_title(title)
    idx = next(iter(series.values())).index
    _time_axis(ax, idx)
    lo = min(float(s.min()) for s in series.values())
    hi = max(float(s.max()) for s in series.values())
    if band:
        lo, hi = min(lo, band[0]), max(hi, band[1])
    pad = 0.08 * (hi - lo) + 0.002
    ax.set_ylim(lo - pad, hi + pad)
    _legend_below(ax, ncol=3)
    return to_svg(fig)


def worst_minutes(s: pd.Series, minutes: float = 5.0) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The window of ``minutes`` with the largest voltage range (max - min) of ``s``. [time]"""
    idx = s.index
    if len(idx) < 3:
        return idx[0], idx[-1]
    step = idx[1] - idx[0]
    w = max(2, int(pd.Timedelta(minutes=minutes) / step))
    if w >= len(s):
        return idx[0], idx[-1]
    r = s.rolling(w, min_periods=1)
    rng = (r.max() - r.min()).to_numpy()
    end = int(np.nanargmax(rng)) if np.isfinite(rng).any() else w - 1
    end = max(end, w - 1)
    return idx[end - w + 1], idx[end]


def poi_voltage_zoom(series: dict[str, pd.Series], band: tuple[float, float] | None, t0: pd.Timestamp,
                     t1: pd.Timestamp, title: str) -> str:
    """POI voltage at full resolution over the worst minutes."""
    fig, (ax,) = _fig(h=2.8)
    for k, (scen, s) in enumerate(series.items()):
        z = s.loc[t0:t1]
        ax.step(z.index, z.to_numpy(), where="post", **style(scen, k))
    z_all = pd.concat([s.loc[t0:t1] for s in series.values()])
    lo, hi = float(z_all.min()), float(z_all.max())
    if band and lo < band[0] + 0.01:
        _hline(ax, band[0], f"N-0 min {band[0]:.3g} pu")
    if band and hi > band[1] - 0.01:
        _hline(ax, band[1], f"N-0 max {band[1]:.3g} pu")
    ax.set_ylabel("POI voltage [pu]")
    ax.set_title(title)
    _time_axis(ax, next(iter(series.values())).loc[t0:t1].index)
    _legend_below(ax, ncol=3)
    return to_svg(fig)


#: The tallest range-bar figure: one page of the report with its caption and the page's margins. [in]
RANGE_BARS_MAX_HEIGHT_IN = 7.5


def _range_bars(frames: dict[str, pd.DataFrame], lo_col: str, hi_col: str,
                row_in: float) -> tuple[Figure, Axes, list[str]]:
    """A figure of horizontal min-to-max bars: one row per entry of the frames' ``name`` column,
    one bar per scenario in each row; ``row_in``: figure height per row [in]. Returns
    ``(fig, ax, names)``."""
    names = list(next(iter(frames.values()))["name"])
    n, m = len(names), len(frames)
    # at most 7.5 in high: the figure and its caption stay on one page however many rows and scenarios
    fig, ax = plt.subplots(figsize=(7.2, min(RANGE_BARS_MAX_HEIGHT_IN, 0.9 + row_in * n * max(1, m) / 1.4)))
    h = 0.8 / max(m, 1)
    for k, (scen, df) in enumerate(frames.items()):
        st = style(scen, k)
        y = np.arange(n) + (k - (m - 1) / 2) * h
        lo, hi = df[lo_col].to_numpy(float), df[hi_col].to_numpy(float)
        ax.barh(y, hi - lo, left=lo, height=h * 0.85, color=st["color"], alpha=0.85, label=st["label"])
    return fig, ax, names


def bus_envelopes(bus: dict[str, pd.DataFrame], bands: dict[str, tuple[float, float]], title: str) -> str:
    """Per-bus min-max voltage ranges per scenario (horizontal bars), with each bus's band."""
    fig, ax, names = _range_bars(bus, "vm_min_pu", "vm_max_pu", row_in=0.42)
    n = len(names)
    for i, nm in enumerate(names):
        b = bands.get(nm)
        if b:
            for v in b:
                ax.plot([v, v], [i - 0.45, i + 0.45], color="0.2", ls="--", lw=0.9)
    ax.plot([], [], color="0.2", ls="--", lw=0.9, label="N-0 band of the bus")
    ax.set_yticks(np.arange(n), names)
    ax.invert_yaxis()
    ax.set_xlabel("voltage [pu] (bar: minimum to maximum over the horizon)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7)
    return to_svg(fig)


def _duration_curve(row: pd.Series, total_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Voltage-duration curve from a histogram row (seconds per voltage bin, bins as column names)."""
    lows, highs, secs = [], [], []
    for col, sec in row.items():
        c = str(col)
        if c.startswith("<"):
            lo, hi = float(c[1:]) - 0.005, float(c[1:])
        elif c.startswith(">="):
            lo, hi = float(c[2:]), float(c[2:]) + 0.005
        else:
            lo, hi = (float(x) for x in c.split("-"))
        lows.append(lo)
        highs.append(hi)
        secs.append(float(sec))
    order = np.argsort(highs)[::-1]
    hi_v, lo_v, sec_v = np.array(highs)[order], np.array(lows)[order], np.array(secs)[order]
    cum = np.cumsum(sec_v) / max(total_s, 1e-9) * 100.0
    xs, ys = [0.0], [hi_v[sec_v > 0][0] if (sec_v > 0).any() else np.nan]
    for lo, c, s in zip(lo_v, cum, sec_v, strict=True):
        if s > 0:
            xs += [c]
            ys += [lo]
    return np.array(xs), np.array(ys)


def voltage_duration(hist: dict[str, pd.DataFrame], names: dict[int, str], band: tuple[float, float] | None,
                     total_s: float, title: str) -> str:
    """Voltage-duration curves of each bus, one panel per scenario (from the binned histograms)."""
    m = len(hist)
    # at most three panels a row, so that panel titles and tick labels keep their room
    ncol = min(m, 3)
    nrow = -(-m // ncol) if m else 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(7.2, 0.6 + 2.1 * nrow), sharey=True, sharex=True, squeeze=False)
    cmap = plt.get_cmap("tab10")
    flat = list(axes.ravel())
    handles: dict[str, Any] = {}
    for ax, (scen, h) in zip(flat, hist.items(), strict=False):
        for k, (b, row) in enumerate(h.iterrows()):
            if b not in names:
                continue
            x, y = _duration_curve(row, total_s)
            (line,) = ax.plot(x, y, drawstyle="steps-post", color=cmap(k % 10), label=names[b], lw=1.1)
            handles.setdefault(names[b], line)
        if band:
            for v in band:
                (bl,) = ax.plot([0, 100], [v, v], color="0.25", ls="--", lw=0.8)
            handles.setdefault(f"N-0 band {band[0]:.3g}-{band[1]:.3g} pu", bl)
        ax.set_xlim(0, 100)
        ax.set_title(style(scen)["label"] if scen in SCENARIO_STYLE else scen.replace("_", " "), fontsize=8)
    for ax in flat[m:]:
        ax.set_visible(False)
    for r in range(nrow):
        axes[r][0].set_ylabel("voltage [pu]\n(5-mpu bins)")
    # one axis label, under the middle panel of the bottom row (each panel's own would overprint)
    axes[nrow - 1][ncol // 2].set_xlabel("time at or above the voltage [% of the horizon]")
    fig.suptitle(title, fontsize=9.5)
    # the legend below the panels, never over a curve
    fig.legend(list(handles.values()), list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(len(handles), 3), fontsize=7, frameon=False)
    fig.tight_layout()
    return to_svg(fig)


def _legend_below(ax: Axes, ncol: int, fontsize: float = 7.5, of: Axes | None = None) -> None:
    """The legend of ``of`` (default ``ax``) under ``ax`` (below its time-axis label), so that it
    covers no data; none where nothing is labelled."""
    handles, labels = (of or ax).get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.26), ncol=ncol, fontsize=fontsize,
                  frameon=False)


def grid_power(series: dict[str, pd.Series], campus: pd.Series | None, title: str) -> str:
    """Grid-side active power per scenario and the campus demand."""
    fig, (ax,) = _fig()
    if campus is not None:
        e = envelope(campus)
        ax.plot(e.index, e.to_numpy(), color="0.6", lw=0.6, label="campus demand")
    for k, (scen, s) in enumerate(series.items()):
        e = envelope(s)
        ax.plot(e.index, e.to_numpy(), **style(scen, k))
    ax.set_ylabel("active power at the POI [MW]\n(import positive)")
    ax.set_title(title)
    _time_axis(ax, next(iter(series.values())).index)
    _legend_below(ax, ncol=4)
    return to_svg(fig)


def grid_variation(metrics: dict[str, pd.Series], limit_mw: float, limit_name: str, ylabel: str, title: str,
                   signed: bool) -> str:
    """A grid-side variation metric over time (change over a window or peak-to-peak) against its limit."""
    fig, (ax,) = _fig(h=2.7)
    for k, (scen, s) in enumerate(metrics.items()):
        e = envelope(s.dropna()) if s.notna().any() else s
        ax.plot(e.index, e.to_numpy(), **style(scen, k))
    _hline(ax, limit_mw, f"limit {limit_mw:g} MW", color="#b00020")
    if signed:
        _hline(ax, -limit_mw, f"limit -{limit_mw:g} MW", color="#b00020")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _time_axis(ax, next(iter(metrics.values())).index)
    _legend_below(ax, ncol=3)
    return to_svg(fig)


def battery(p: dict[str, pd.Series], soc: dict[str, pd.Series], p_max_mw: float | None,
            soc_limits: tuple[float, float] | None, title: str) -> str:
    """Battery active power (charging positive) and state of charge per battery scenario."""
    fig, (a1, a2) = _fig(h=4.2, nrows=2)
    for k, (scen, s) in enumerate(p.items()):
        e = envelope(s)
        a1.plot(e.index, e.to_numpy(), **style(scen, k))
    if p_max_mw:
        _hline(a1, p_max_mw, f"rating {p_max_mw:.0f} MW", color="0.3")
        _hline(a1, -p_max_mw, f"rating -{p_max_mw:.0f} MW", color="0.3")
    a1.set_ylabel("battery power [MW]\n(charging positive)")
    a1.set_title(title)
    for k, (scen, s) in enumerate(soc.items()):
        e = envelope(s)
        a2.plot(e.index, e.to_numpy(), **style(scen, k))
    if soc_limits:
        _hline(a2, soc_limits[0], f"min SOC {soc_limits[0]:g} %", color="0.3")
        _hline(a2, soc_limits[1], f"max SOC {soc_limits[1]:g} %", color="0.3")
    a2.set_ylabel("state of charge [%]")
    _time_axis(a2, next(iter(p.values())).index)
    _legend_below(a2, ncol=3, of=a1)  # the same scenarios in both panels: one legend, under them
    return to_svg(fig)


def taps(tap: dict[str, dict[str, pd.Series]], title: str) -> str:
    """Tap position of each regulating transformer over time per scenario (steps)."""
    fig, (ax,) = _fig(h=2.7)
    lss = ["-", "--", ":", "-."]
    idx = None
    for k, (scen, cols) in enumerate(tap.items()):
        st = style(scen, k)
        for j, (name, s) in enumerate(cols.items()):
            e = s if len(s) <= 4 * MAX_POINTS else s.iloc[np.unique(np.r_[0, np.flatnonzero(np.diff(s.to_numpy())) + 1, len(s) - 1])]
            ax.step(e.index, e.to_numpy() + 0.04 * (j - (len(cols) - 1) / 2), where="post", color=st["color"],
                    ls=lss[j % 4], label=f"{st['label']}: {name}")
            idx = s.index
    ax.set_ylabel("tap position [step]\n(parallel units offset slightly)")
    ax.set_title(title)
    if idx is not None:
        _time_axis(ax, idx)
    ax.yaxis.get_major_locator().set_params(integer=True)
    _legend_below(ax, ncol=2, fontsize=6.5)
    return to_svg(fig)


def loading_ranges(branch: dict[str, pd.DataFrame], limit_percent: float, title: str) -> str:
    """Loading range (min to max over the horizon) of each branch per scenario, against the rating."""
    fig, ax, names = _range_bars(branch, "loading_min_percent", "loading_max_percent", row_in=0.36)
    n = len(names)
    ax.axvline(limit_percent, color="#b00020", ls="--", lw=0.9)
    ax.annotate(f"normal rating {limit_percent:g} %", xy=(limit_percent, 1.0), xycoords=("data", "axes fraction"),
                ha="right", va="bottom", fontsize=7, color="#b00020")
    ax.set_yticks(np.arange(n), names)
    ax.invert_yaxis()
    top = max(limit_percent * 1.08, max(float(df["loading_max_percent"].max()) for df in branch.values()) * 1.05)
    ax.set_xlim(0, top)
    ax.set_xlabel("loading [% of rating] (bar: minimum to maximum over the horizon)")
    ax.set_title(title, pad=12)
    ax.legend(loc="lower right", fontsize=7)
    return to_svg(fig)


def flicker_pst(pst: dict[str, pd.Series], level: float | None, title: str) -> str:
    """Pst per 10-minute window per scenario (bars), with the planning level."""
    fig, (ax,) = _fig(h=2.7)
    m = len(pst)
    idx = next(iter(pst.values())).index
    x = np.arange(len(idx))
    w = 0.8 / max(m, 1)
    for k, (scen, s) in enumerate(pst.items()):
        st = style(scen, k)
        ax.bar(x + (k - (m - 1) / 2) * w, s.reindex(idx).to_numpy(float), width=w, color=st["color"], label=st["label"])
    if level is not None:
        _hline(ax, level, f"Pst planning level {level:g}", color="#b00020")
    ax.set_xlim(-0.6, max(len(idx), 6) - 0.4)
    step = max(1, len(idx) // 12)
    ax.set_xticks(x[::step], [f"{t:%H:%M}" for t in idx[::step]])
    ax.set_xlabel(f"start of the 10-minute window ({idx[0]:%Y-%m-%d})" if len(idx) else "10-minute window")
    ax.set_ylabel("Pst [-]")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return to_svg(fig)


def sag_event(df: pd.DataFrame, title: str) -> str:
    """One sag event: POI and source voltage, and grid-side power, without and with the battery."""
    fig, (a1, a2) = _fig(h=3.4, nrows=2)
    src_done = False
    for k, (scen, g) in enumerate(df.groupby("scenario", sort=False)):
        st = style(str(scen), k)
        a1.plot(g["t_s"], g["poi_vm_pu"], **st)
        if not src_done and "source_vm_pu" in g:
            a1.plot(g["t_s"], g["source_vm_pu"], color="0.55", lw=0.8, ls=":", label="utility source")
            src_done = True
        a2.plot(g["t_s"], g["grid_p_mw"], **st)
    _hline(a1, 0.9, "ride-through continuous min 0.9 pu", color="#b00020")
    a1.set_ylabel("voltage [pu]")
    a1.set_title(title)
    a2.set_ylabel("grid-side power [MW]\n(import positive)")
    a2.set_xlabel("time from the start of the event window [s]")
    _legend_below(a2, ncol=3, of=a1)
    return to_svg(fig)


def sizing_frontier(frontier: list[dict[str, Any]], evaluations: list[dict[str, Any]], chosen: dict[str, Any] | None,
                    title: str) -> str:
    """Cost against energy of the evaluated battery designs; pass/fail marked, frontier and choice drawn."""
    fig, (ax,) = _fig(h=3.2)
    ev = pd.DataFrame(evaluations or [])
    if len(ev) and {"e_mwh", "cost_usd"} <= set(ev.columns):
        ok = ev.get("pass", pd.Series(False, index=ev.index)).astype(bool)
        ax.scatter(ev.loc[~ok, "e_mwh"], ev.loc[~ok, "cost_usd"] / 1e6, marker="x", color="#b00020", s=18,
                   label="evaluated, fails")
        ax.scatter(ev.loc[ok, "e_mwh"], ev.loc[ok, "cost_usd"] / 1e6, marker="o", facecolor="none",
                   edgecolor="#1f5fa8", s=18, label="evaluated, passes")
    fr = pd.DataFrame(frontier or [])
    if len(fr) and {"e_mwh", "cost_usd"} <= set(fr.columns):
        fr = fr.sort_values("e_mwh")
        ax.plot(fr["e_mwh"], fr["cost_usd"] / 1e6, "-o", color="0.3", ms=3, lw=1, label="frontier")
    if chosen and chosen.get("e_mwh") is not None and chosen.get("cost_usd") is not None:
        ax.scatter([chosen["e_mwh"]], [chosen["cost_usd"] / 1e6], marker="*", s=120, color="#2e8b57", zorder=5,
                   label=f"chosen: {chosen.get('units', '?')} units")
    ax.set_xlabel("battery energy [MWh]")
    ax.set_ylabel("cost [million USD]")
    ax.set_title(title)
    ax.legend(loc="best")
    return to_svg(fig)


def fluctuation_window(frames: dict[str, pd.DataFrame], title: str, zoom_s: float = 30.0) -> str:
    """POI voltage and grid-side power at the sub-second step over ``zoom_s`` of a judged window
    around its largest change of grid-side power (of the first scenario), per scenario. [pu], [MW]"""
    fig, (a1, a2) = _fig(h=3.4, nrows=2)
    first = next((g[g["judged"]] for g in frames.values() if g["judged"].any()), None)
    t_from = 0.0
    if first is not None and len(first) > 1:
        tt = (pd.DatetimeIndex(first["time"]) - pd.Timestamp(first["time"].iloc[0])).total_seconds()
        jump = np.abs(np.diff(first["grid_p_mw"].to_numpy()))
        t_from = max(0.0, min(float(tt[int(jump.argmax())]) - zoom_s / 3, float(tt[-1]) - zoom_s))
    for k, (scen, g) in enumerate(frames.items()):
        g = g[g["judged"]]
        if not len(g):
            continue
        t = (pd.DatetimeIndex(g["time"]) - pd.Timestamp(g["time"].iloc[0])).total_seconds()
        keep = (t >= t_from) & (t <= t_from + zoom_s)
        st = style(scen, k)
        a1.plot(t[keep], g["poi_vm_pu"].to_numpy()[keep], lw=0.8, **st)
        a2.plot(t[keep], g["grid_p_mw"].to_numpy()[keep], lw=0.8, **st)
    a1.set_ylabel("POI voltage [pu]")
    a1.set_title(title)
    a2.set_ylabel("grid-side power [MW]\n(import positive)")
    a2.set_xlabel(f"time from the start of the judged window [s] ({zoom_s:g} s around its largest change)")
    _legend_below(a2, ncol=3, of=a1)  # under both panels, over neither
    return to_svg(fig)


def oscillation_spectrum(spectra: dict[str, pd.DataFrame], cap_mw: float | None, band_hz: tuple[float, float],
                         sensitive: list[tuple[str, float, float]], title: str) -> str:
    """Amplitude spectrum of grid-side power per scenario (largest over its windows), the cap and
    the sensitive bands shaded. [MW] against [Hz]"""
    fig, (ax,) = _fig(h=3.0)
    shades = ("#e8eef7", "#f3ece2", "#eaf3e6")
    for k, (name, a, b) in enumerate(sensitive):
        ax.axvspan(a, b, color=shades[k % len(shades)], zorder=0)
        ax.text((a * b) ** 0.5, 1.0, name, transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=6.5,
                color="0.35")
    for k, (scen, g) in enumerate(spectra.items()):
        env = g.groupby("frequency_hz")["amplitude_mw"].max()
        env = env[(env.index >= band_hz[0] / 2) & (env.index <= band_hz[1] * 1.2)]
        ax.plot(env.index, env.to_numpy(), lw=0.8, **style(scen, k))
    if cap_mw is not None:
        _hline(ax, cap_mw, f"cap {cap_mw:.0f} MW", color="#b00020")
    ax.set_xscale("log")
    ax.set_xlim(band_hz[0] / 2, band_hz[1] * 1.2)
    ax.set_xlabel("frequency [Hz]")
    ax.set_ylabel("amplitude [MW]")
    ax.set_title(title)
    _legend_below(ax, ncol=3, fontsize=7)
    return to_svg(fig)
