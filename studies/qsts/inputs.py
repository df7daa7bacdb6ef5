"""The one interface both QSTS engines take: a site, time series, controls, and what to record.

Time series live on one fixed-step ``DatetimeIndex``; integer steps exist only inside engines.
Signs are pandapower's consumer view: load and battery *charging* positive.

Columns of :attr:`QSTSInputs.profiles` (all optional except ``campus_p_mw``):

``campus_p_mw``, ``campus_q_mvar``
    Campus grid draw, split over the site's halls in proportion to their rated ``p_mw``. [MW, Mvar]
    Without ``campus_q_mvar`` the halls keep their power factor from the site.
``battery_p_mw``, ``battery_q_mvar``
    Battery plant set points (charging positive), split over the storages in proportion to their
    ``max_e_mwh``. Ignored when :attr:`Controls.battery_controller` is given. [MW, Mvar]
``other_load_scale``
    Multiplier on every non-campus load's base ``p_mw``/``q_mvar``. [-]
``source_vm_pu``
    Source voltage set point (``ext_grid.vm_pu``): sags are scripted here. [pu]

Per-element profiles of the rest of the network (loads, static generators, generators) come in
:attr:`QSTSInputs.elements` (:class:`gridstudy.models.element_profiles.ElementProfiles`), mapped
onto each block of steps by :func:`gridstudy.studies.qsts.apply.element_series`.

The further columns that :func:`gridstudy.models.dispatch.dispatch` returns
(:data:`DISPATCH_ONLY_COLUMNS`: state of charge, stored energy, grid-side sums, saturation) are
accepted, so its output can be handed over as it is, and set aside: the engine derives the grid
side from its own power flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.grid.site import Site
from gridstudy.models.campus_voltage import CampusVoltageResponse
from gridstudy.models.dispatch import VoltVarCurve  # the one curve of the models layer, re-exported here
from gridstudy.models.element_profiles import ElementProfiles
from gridstudy.studies.errors import StudyError

__all__ = ["KNOWN_COLUMNS", "DISPATCH_ONLY_COLUMNS", "TapControl", "VoltVarCurve", "Controls", "RecordSpec", "QSTSInputs",
           "check_index"]

KNOWN_COLUMNS = ("campus_p_mw", "campus_q_mvar", "battery_p_mw", "battery_q_mvar",
                 "other_load_scale", "source_vm_pu")
#: Columns of a dispatch result that the engines do not use (dropped from ``profiles``).
DISPATCH_ONLY_COLUMNS = ("soc_percent", "e_mwh", "grid_p_mw", "grid_q_mvar", "saturated")


@dataclass(frozen=True)
class TapControl:
    """OLTC of the site's regulating transformers: band ``vm_set_pu ± deadband_pu`` at the LV bus,
    one step per move after the voltage has stayed outside the band for ``delay_s``.

    Per-transformer ``vm_set_pu``, ``deadband_pu`` and ``delay_s`` come from the trafo table
    (written by :func:`gridstudy.grid.build.build_site`); the fields here override them when not ``None``.
    """

    enabled: bool = True
    vm_set_pu: float | None = None
    deadband_pu: float | None = None
    delay_s: float | None = None


@dataclass(frozen=True)
class Controls:
    """The controls in force during a QSTS run."""

    taps: TapControl = field(default_factory=TapControl)
    #: volt-var of the battery plant: the curve with its open-loop response time
    #: (``VoltVarCurve.response_time_s``; 0: the curve is met within each step); ``None``: off.
    volt_var: VoltVarCurve | None = None
    #: voltage dependence of the campus draw (:class:`gridstudy.models.campus_voltage.CampusVoltageResponse`),
    #: applied to the site's campus loads in both engines; ``None`` (the default of a time series):
    #: the campus draws its profile at any voltage (constant power). Sag events always set it.
    campus_voltage: CampusVoltageResponse | None = None
    #: a battery dispatch strategy applied step by step inside the engine (see
    #: ``studies.qsts.controller.BatteryController``); ``None``: battery follows the profile.
    battery_controller: Any = None


@dataclass(frozen=True)
class RecordSpec:
    """What to record besides the per-bus/branch streaming aggregates.

    ``series``: full-resolution series of the chosen quantities (POI voltage, campus and battery
    P/Q, grid import, tap positions); ``envelope_freq``: when set (e.g. ``"1min"``), those series
    are kept as min/max envelopes at that frequency instead; ``bands``: voltage bands for the
    time-outside counts; ``worst_windows``: number of full-resolution windows kept around the
    worst POI voltage events, each ``window_s`` long.
    """

    series: bool = True
    envelope_freq: str | None = None
    bands: dict[str, tuple[float, float]] = field(default_factory=lambda: {"n0": (0.95, 1.05), "range_b": (0.917, 1.058)})
    histogram_edges_pu: tuple[float, ...] = tuple(np.round(np.arange(0.80, 1.2001, 0.005), 3))
    worst_windows: int = 3
    window_s: float = 60.0


@dataclass
class QSTSInputs:
    site: Site
    profiles: pd.DataFrame
    controls: Controls = field(default_factory=Controls)
    record: RecordSpec = field(default_factory=RecordSpec)
    #: per-element P/Q of the rest of the network (loads, static generators, generators), from
    #: :func:`gridstudy.models.element_profiles.element_profiles`; ``other_load_scale`` multiplies
    #: the loads among them too. ``None``: those elements keep their base values.
    elements: ElementProfiles | None = None

    def __post_init__(self):
        check_index(self.profiles.index, "profiles.index")
        drop = [c for c in self.profiles.columns if c in DISPATCH_ONLY_COLUMNS]
        if drop:
            self.profiles = self.profiles.drop(columns=drop)
        problems = []
        for col in self.profiles.columns:
            if col not in KNOWN_COLUMNS:
                problems.append(Problem(f"profiles.{col}", f"unknown column; known: {', '.join(KNOWN_COLUMNS)}", col))
            elif not np.isfinite(self.profiles[col].to_numpy(dtype=float)).all():
                problems.append(Problem(f"profiles.{col}", "contains NaN or inf", int((~np.isfinite(self.profiles[col].to_numpy(dtype=float))).sum())))
        if "campus_p_mw" not in self.profiles:
            problems.append(Problem("profiles.campus_p_mw", "required column is missing", None, has_value=False))
        if self.elements is not None:
            problems += self._element_problems()
        if problems:
            raise StudyError(problems)

    def _element_problems(self) -> list[Problem]:
        """Elements that are not in the net, or that the study drives itself; horizon not covered."""
        el, net = self.elements, self.site.net
        assert el is not None  # called only with elements
        out = list(el.coverage_problems(cast(pd.DatetimeIndex, self.profiles.index)))  # check_index passed
        driven = {("load", int(i)) for i in self.site.campus_loads}
        for element, i in cast(pd.MultiIndex, el.p_mw.columns):  # (element table, index)
            if int(i) not in net[element].index:
                out.append(Problem(f"elements.{element}", "no element with that index in the site's net", int(i)))
            elif (element, int(i)) in driven:
                out.append(Problem(f"elements.{element}", "a campus load follows the campus profile", int(i)))
        return out

    @property
    def step_s(self) -> float:
        index = cast(pd.DatetimeIndex, self.profiles.index)  # check_index passed: a fixed step, a Tick
        return float(pd.Timedelta(cast(pd.offsets.Tick, index.freq)).total_seconds())


def check_index(index: pd.Index, path: str) -> None:
    """A fixed-step ``DatetimeIndex`` (step from ``index.freq``, or inferred and uniform)."""
    if not isinstance(index, pd.DatetimeIndex):
        raise StudyError([Problem(path, "must be a DatetimeIndex", type(index).__name__)])
    if len(index) < 1:
        raise StudyError([Problem(path, "is empty", 0)])
    if index.freq is None:
        if len(index) > 2:
            d = np.diff(index.asi8)
            if not (d == d[0]).all():
                raise StudyError([Problem(path, "steps are not uniform", f"{pd.Timedelta(int(d.min()))} .. {pd.Timedelta(int(d.max()))}")])
        freq = pd.infer_freq(index) if len(index) > 2 else None
        if freq is None:
            raise StudyError([Problem(path, "has no fixed frequency", None)])
        index.freq = freq  # type: ignore[misc, assignment]  # pandas sets it (from a str too); the stubs make it read-only
