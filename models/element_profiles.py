"""Per-element profiles of the rest of the network: loads, static generators and generators.

One entry point, :func:`element_profiles` ``(site, index)``, gives the study layer the
:class:`ElementProfiles` of a site whose site file names them (``[network] profiles``), or
``None``. The QSTS engines take it as ``QSTSInputs.elements`` and map it onto each block of steps
(:meth:`ElementProfiles.block`), so a long horizon at a fine step never holds every element's
series at that step in memory.

Sources
-------
A CSV or Parquet file
    The first column (CSV) or the index (Parquet) is the time of each row, on a fixed step; each
    other column is ``<element>:<name or index>:<variable>`` with ``element`` one of ``load``,
    ``sgen``, ``gen`` and ``variable`` ``p_mw`` or ``q_mvar`` (``gen``: ``p_mw`` only, its Q
    follows from its voltage set point). A key names an element by its ``name``; a key of digits
    that names none is its index. Times are absolute: the file must cover the study horizon.
SimBench
    ``simbench.get_absolute_values`` of the grid (15-min values of 2016), aligned by position in
    the year: a study step at time *t* takes the profile at the same offset from 1 January,
    wrapping at the end of the profile year.

Conventions
-----------
- Signs are pandapower's, per element table: ``load`` consumes positive; ``sgen`` and ``gen``
  *produce* positive (their own convention, kept here at the line where it matters).
- A row is the mean over its step (``[t, t + step)``), as SimBench's 15-min values are. A study
  step takes the time average of the rows it overlaps: a coarse step averages, a fine step holds
  the value of its row, never samples.
- Without a ``q_mvar`` column, a load's or static generator's Q follows its P at the base case's
  ratio ``q_mvar / p_mw`` (constant power factor); where the base ``p_mw`` is 0, Q keeps its base
  value.
- The campus loads and the battery storages are driven by the study's own profiles: a column
  naming one is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridstudy.grid.errors import Problem
from gridstudy.grid.site import ProfileSource, Site
from gridstudy.models.errors import ModelError
from gridstudy.models.timeindex import Horizon

__all__ = ["ElementProfiles", "element_profiles", "read_element_table", "ELEMENT_TABLES"]

#: pandapower tables whose elements may follow a profile, and their variables. [-]
ELEMENT_TABLES = {"load": ("p_mw", "q_mvar"), "sgen": ("p_mw", "q_mvar"), "gen": ("p_mw",)}


@dataclass(frozen=True)
class ElementProfiles:
    """P and Q per element on the source's own fixed-step time base.

    Attributes
    ----------
    p_mw : DataFrame
        Columns: a ``MultiIndex`` ``(element, index)`` (``element`` in :data:`ELEMENT_TABLES`,
        ``index`` the row in that pandapower table); rows: a fixed-step ``DatetimeIndex``, each
        row the mean over its step. [MW]
    q_mvar : DataFrame
        The same rows; the ``load`` and ``sgen`` columns of ``p_mw``. [Mvar]
    align : {'absolute', 'year'}
        How a study time finds its row: the same time, or the same offset from 1 January.
    source : str
        Where the profiles came from (named in errors).
    """

    p_mw: pd.DataFrame
    q_mvar: pd.DataFrame
    align: str = "absolute"
    source: str = "network.profiles"

    @property
    def step_ns(self) -> int:
        """The rows' step. [ns]"""
        index = pd.DatetimeIndex(self.p_mw.index)
        return int(pd.Timedelta(index.freq).value) if index.freq is not None else int(np.diff(index.asi8[:2])[0])  # type: ignore[arg-type]

    def indices(self, element: str) -> np.ndarray:
        """The table indices of ``element`` that have a profile, in column order. [-]"""
        cols: list[tuple[str, int]] = [(str(c[0]), int(c[1])) for c in self.p_mw.columns.to_list()]
        return np.asarray([int(i) for e, i in cols if e == element], dtype=np.int64)

    def coverage_problems(self, index: Horizon, path: str = "elements") -> list[Problem]:
        """Problems if ``index`` (fixed step) reaches outside the rows (``align='absolute'``)."""
        if self.align == "year" or len(index) == 0:
            return []
        step = pd.Timedelta(index.freq) if index.freq is not None else pd.Timedelta(0)  # type: ignore[arg-type]
        start, stop = self.p_mw.index[0], self.p_mw.index[-1] + pd.Timedelta(self.step_ns)
        if index[0] < start or index[-1] + step > stop:
            return [Problem(path, f"profiles cover {start} .. {stop}, the study runs {index[0]} .. {index[-1] + step}",
                            self.source)]
        return []

    def _positions_ns(self, t_ns: np.ndarray) -> np.ndarray:
        """Study times -> offsets from the first row. [ns]"""
        t0 = int(self.p_mw.index[0].value)
        if self.align == "year":
            years = pd.DatetimeIndex(t_ns).year.to_numpy()
            jan1 = pd.to_datetime({"year": years, "month": 1, "day": 1}).to_numpy().astype("datetime64[ns]").astype(np.int64)
            p0 = pd.Timestamp(year=self.p_mw.index[0].year, month=1, day=1).value
            out: np.ndarray = np.asarray(t_ns - jan1 + (p0 - t0), dtype=np.int64)
            return out
        rel: np.ndarray = np.asarray(t_ns - t0, dtype=np.int64)
        return rel

    def _average(self, frame: pd.DataFrame, a_ns: np.ndarray, b_ns: np.ndarray) -> np.ndarray:
        """Time average of the piecewise-constant rows over ``[a, b)`` (offsets [ns]); periodic
        beyond the last row (``align='year'``)."""
        v = frame.to_numpy(dtype=float)
        n, s = v.shape[0], float(self.step_ns)
        cum = np.vstack([np.zeros((1, v.shape[1])), np.cumsum(v, axis=0)]) * s  # integral at row edges
        span = n * s

        def integral(x: np.ndarray) -> np.ndarray:
            k = np.floor(x / span)
            r = x - k * span
            j = np.clip((r // s).astype(np.int64), 0, n - 1)
            frac = (r - j * s)[:, None]
            res: np.ndarray = k[:, None] * cum[-1][None, :] + cum[j] + frac * v[j]
            return res

        a, b = a_ns.astype(float), b_ns.astype(float)
        out: np.ndarray = (integral(b) - integral(a)) / (b - a)[:, None]
        # a step inside one row takes that row's value exactly (no round-off of the integral)
        ra, rb = np.floor_divide(a_ns, int(s)), np.floor_divide(b_ns - 1, int(s))
        one = ra == rb
        if one.any():
            out[one] = v[np.mod(ra[one], n)]
        return out

    def block(self, index: pd.DatetimeIndex, step_ns: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """The values of the steps ``index`` (each ``step_ns`` long): ``{element: (indices,
        p_mw [steps, k], q_mvar [steps, k] or None)}`` [MW, Mvar], generators' Q ``None``."""
        a = self._positions_ns(index.asi8)
        b = a + int(step_ns)
        p = self._average(self.p_mw, a, b)
        q = self._average(self.q_mvar, a, b) if self.q_mvar.shape[1] else np.zeros((len(index), 0))
        out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
        pcols: list[tuple[str, int]] = [(str(c[0]), int(c[1])) for c in self.p_mw.columns.to_list()]
        qcols: dict[tuple[str, int], int] = {(str(c[0]), int(c[1])): j for j, c in enumerate(self.q_mvar.columns.to_list())}
        for element in ELEMENT_TABLES:
            js = [j for j, (e, _) in enumerate(pcols) if e == element]
            if not js:
                continue
            idx = np.asarray([int(pcols[j][1]) for j in js], dtype=np.int64)
            qq = None if element == "gen" else q[:, [qcols[pcols[j]] for j in js]]
            out[element] = (idx, p[:, js], qq)
        return out


def _resolve(net: Any, element: str, key: str) -> tuple[int | None, str]:
    df = net[element]
    hits = df.index[df.name.astype(str) == key] if "name" in df else []
    if len(hits) == 1:
        return int(hits[0]), ""
    if len(hits) > 1:
        return None, f"{element} name is not unique"
    if key.isdigit() and int(key) in df.index:
        return int(key), ""
    return None, f"no {element} of that name or index"


def _fixed_index(index: pd.Index, path: str) -> tuple[pd.DatetimeIndex | None, list[Problem]]:
    if not isinstance(index, pd.DatetimeIndex):
        try:
            index = pd.DatetimeIndex(pd.to_datetime(index))
        except (ValueError, TypeError):
            return None, [Problem(path, "the first column must hold times", str(index[:1].tolist()))]
    if len(index) < 2:
        return None, [Problem(path, "needs at least two rows (the step is read from the times)", len(index))]
    d = np.diff(index.asi8)
    if not (d == d[0]).all() or d[0] <= 0:
        return None, [Problem(path, "times must be increasing on a fixed step", f"{pd.Timedelta(int(d.min()))} .. {pd.Timedelta(int(d.max()))}")]
    return pd.DatetimeIndex(index, freq=pd.tseries.frequencies.to_offset(pd.Timedelta(int(d[0])))), []


def _assemble(site: Site, index: pd.DatetimeIndex, p: dict[tuple[str, int], np.ndarray],
              q: dict[tuple[str, int], np.ndarray], align: str, source: str) -> ElementProfiles:
    """Complete Q by the constant-power-factor rule and build the frames."""
    net = site.net
    keys = sorted(set(p) | set(q))
    pcols, qcols = {}, {}
    n = len(index)
    for element, i in keys:
        p0 = float(net[element].at[i, "p_mw"])
        pp_ = p.get((element, i), np.full(n, p0))
        pcols[(element, i)] = pp_
        if element == "gen":
            continue
        if (element, i) in q:
            qcols[(element, i)] = q[(element, i)]
        else:
            q0 = float(net[element].at[i, "q_mvar"])
            qcols[(element, i)] = pp_ * (q0 / p0) if p0 != 0 else np.full(n, q0)
    def mk(cols: dict[tuple[str, int], np.ndarray]) -> pd.DataFrame:
        return pd.DataFrame(
            np.column_stack(list(cols.values())) if cols else np.zeros((n, 0)), index=index,
            columns=pd.MultiIndex.from_tuples(list(cols), names=["element", "index"]))
    return ElementProfiles(p_mw=mk(pcols), q_mvar=mk(qcols), align=align, source=source)


def read_element_table(site: Site, path: str | Path, field: str = "network.profiles") -> ElementProfiles:
    """Read a CSV/Parquet of per-element columns (see the module docstring) for ``site``.

    Raises :class:`gridstudy.models.errors.ModelError` listing every bad column, value and time.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError([Problem(field, "file not found", str(path))])
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path)
            if not isinstance(df.index, pd.DatetimeIndex):
                df = df.set_index(df.columns[0])
        else:
            df = pd.read_csv(path, index_col=0)
    except Exception as exc:  # the readers' own messages say what is wrong
        raise ModelError([Problem(field, f"cannot read the file ({exc})", str(path))]) from None
    problems: list[Problem] = []
    index, probs = _fixed_index(df.index, f"{field}.time")
    problems += probs
    net = site.net
    driven = {("load", int(i)) for i in site.campus_loads}
    p: dict[tuple[str, int], np.ndarray] = {}
    q: dict[tuple[str, int], np.ndarray] = {}
    for col in df.columns:
        where = f"{field}[{col!r}]"
        element, _, rest = str(col).partition(":")
        key, _, variable = rest.rpartition(":")
        if element not in ELEMENT_TABLES or not key or variable not in ELEMENT_TABLES[element]:
            problems.append(Problem(where, "expected <load|sgen|gen>:<name or index>:<p_mw|q_mvar> "
                                    "(gen: p_mw only)", col))
            continue
        idx, why = _resolve(net, element, key)
        if idx is None:
            problems.append(Problem(where, why, key))
            continue
        if (element, idx) in driven:
            problems.append(Problem(where, "a campus load follows the campus profile, not this file", key))
            continue
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(values).all():
            problems.append(Problem(where, "contains empty, non-numeric or infinite values",
                                    int((~np.isfinite(values)).sum())))
            continue
        target = p if variable == "p_mw" else q
        if (element, idx) in target:
            problems.append(Problem(where, "a second column for the same element and variable", col))
            continue
        target[(element, idx)] = values
    if problems:
        raise ModelError(problems, source=str(path))
    assert index is not None
    return _assemble(site, index, p, q, "absolute", str(path))


def _from_simbench(site: Site, src: ProfileSource) -> ElementProfiles:
    frames = src.frames or {}
    driven = {("load", int(i)) for i in site.campus_loads}
    p: dict[tuple[str, int], np.ndarray] = {}
    q: dict[tuple[str, int], np.ndarray] = {}
    index = None
    for (element, variable), df in frames.items():
        if element not in ELEMENT_TABLES or variable not in ELEMENT_TABLES[element]:
            continue
        index = df.index
        target = p if variable == "p_mw" else q
        for c in df.columns:
            if (element, int(c)) not in driven and int(c) in site.net[element].index:
                target[(element, int(c))] = df[c].to_numpy(dtype=float)
    if index is None:
        raise ModelError([Problem(src.field, "the SimBench grid has no load or generation profiles", "simbench")])
    return _assemble(site, pd.DatetimeIndex(index), p, q, "year", src.field)


def element_profiles(site: Site, index: Horizon) -> ElementProfiles | None:
    """The per-element profiles of ``site`` for a study on ``index``, or ``None`` if it has none.

    Parameters
    ----------
    site : Site
        A site built from a site file with ``[network] profiles`` (``site.profiles``).
    index : DatetimeIndex
        The study's fixed-step time index; a file's rows must cover it.

    Returns
    -------
    ElementProfiles or None
        Pass it as ``QSTSInputs(..., elements=...)``.
    """
    src = site.profiles
    if src is None:
        return None
    if src.kind == "simbench":
        out = _from_simbench(site, src)
    else:
        out = read_element_table(site, src.path or Path(), src.field)
    problems = out.coverage_problems(index, src.field)
    if problems:
        raise ModelError(problems)
    return out
