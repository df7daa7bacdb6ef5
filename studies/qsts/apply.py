"""Map the profiles of :class:`gridstudy.studies.qsts.inputs.QSTSInputs` onto pandapower element values.

Both engines call :func:`element_series` so that they drive exactly the same element values:

- campus ``p_mw`` is split over the site's campus loads in proportion to their base ``p_mw``;
  ``q_mvar`` likewise when ``campus_q_mvar`` is given, else each hall keeps its base power factor;
- battery set points are split over the storages in proportion to their ``max_e_mwh``;
- ``other_load_scale`` multiplies every other load's base ``p_mw`` and ``q_mvar``;
- ``source_vm_pu`` sets the ``ext_grid`` voltage (all in-service ext_grids);
- ``inputs.elements`` (per-element profiles) sets loads, static generators (``sgen``, production
  positive, pandapower's own sign for that table) and generators' ``p_mw``; a profiled load is
  multiplied by ``other_load_scale`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd

from gridstudy.studies.qsts.inputs import QSTSInputs

__all__ = ["ElementSeries", "element_series"]


@dataclass
class ElementSeries:
    """Per-step values (rows = steps) for the elements that change; columns follow the index lists."""

    load_index: np.ndarray      # net.load indices that change
    load_p_mw: np.ndarray       # [steps, len(load_index)]
    load_q_mvar: np.ndarray
    storage_index: np.ndarray   # net.storage indices driven by profiles (empty with a controller)
    storage_p_mw: np.ndarray    # [steps, len(storage_index)], charging positive
    storage_q_mvar: np.ndarray
    ext_grid_index: np.ndarray
    ext_grid_vm_pu: np.ndarray  # [steps, len(ext_grid_index)]
    sgen_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sgen_p_mw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # [steps, k], production positive
    sgen_q_mvar: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    gen_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    gen_p_mw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))    # [steps, k], production positive


def _split(total: np.ndarray, weights: np.ndarray) -> np.ndarray:
    w = weights / weights.sum()
    split: np.ndarray = np.asarray(total, dtype=float)[:, None] * w[None, :]
    return split


def element_series(inputs: QSTSInputs, start: int = 0, stop: int | None = None) -> ElementSeries:
    """The element values of steps ``start .. stop-1`` (default: all steps); the index lists do
    not depend on the steps, so a long horizon can be mapped block by block."""
    site = inputs.site
    prof = inputs.profiles.iloc[start:stop]
    net = site.net
    n = len(prof)
    campus = np.asarray(site.campus_loads, dtype=np.int64)
    base_p = net.load.loc[campus, "p_mw"].to_numpy(dtype=float)
    base_q = net.load.loc[campus, "q_mvar"].to_numpy(dtype=float)
    p = _split(prof["campus_p_mw"].to_numpy(dtype=float), base_p)
    if "campus_q_mvar" in prof:
        q = _split(prof["campus_q_mvar"].to_numpy(dtype=float), base_p)
    else:
        q = p * np.where(base_p != 0, base_q / np.where(base_p != 0, base_p, 1.0), 0.0)[None, :]
    load_index, load_p, load_q = [campus], [p], [q]
    blocks = {}
    if inputs.elements is not None:
        freq = cast(pd.DatetimeIndex, inputs.profiles.index).freq  # QSTSInputs checked: a fixed step, a Tick
        step_ns = int(pd.Timedelta(cast(pd.offsets.Tick, freq)).value)
        blocks = inputs.elements.block(pd.DatetimeIndex(prof.index), step_ns)
    scale = prof["other_load_scale"].to_numpy(dtype=float)[:, None] if "other_load_scale" in prof else None
    profiled = np.zeros(0, dtype=np.int64)
    if "load" in blocks:  # per-element profiles, times other_load_scale where given
        profiled, lp, lq = blocks["load"]
        assert lq is not None  # Q is None only for generators
        load_index.append(profiled)
        load_p.append(lp if scale is None else scale * lp)
        load_q.append(lq if scale is None else scale * lq)
    if scale is not None:
        others = net.load.index.difference(campus).difference(profiled).to_numpy(dtype=np.int64)
        if len(others):
            load_index.append(others)
            load_p.append(scale * net.load.loc[others, "p_mw"].to_numpy(dtype=float)[None, :])
            load_q.append(scale * net.load.loc[others, "q_mvar"].to_numpy(dtype=float)[None, :])

    storages = np.asarray(site.storages, dtype=np.int64)
    if inputs.controls.battery_controller is not None or not len(storages) or not (
        "battery_p_mw" in prof or "battery_q_mvar" in prof
    ):
        st_idx = np.zeros(0, dtype=np.int64)
        sp = sq = np.zeros((n, 0))
    else:
        st_idx = storages
        e = net.storage.loc[storages, "max_e_mwh"].to_numpy(dtype=float)
        zero = np.zeros(n)
        sp = _split(prof["battery_p_mw"].to_numpy(dtype=float) if "battery_p_mw" in prof else zero, e)
        sq = _split(prof["battery_q_mvar"].to_numpy(dtype=float) if "battery_q_mvar" in prof else zero, e)

    eg = net.ext_grid.index[net.ext_grid.in_service].to_numpy(dtype=np.int64)
    if "source_vm_pu" in prof:
        vm = np.repeat(prof["source_vm_pu"].to_numpy(dtype=float)[:, None], len(eg), axis=1)
    else:
        vm = np.repeat(net.ext_grid.loc[eg, "vm_pu"].to_numpy(dtype=float)[None, :], n, axis=0)

    return ElementSeries(
        load_index=np.concatenate(load_index), load_p_mw=np.hstack(load_p), load_q_mvar=np.hstack(load_q),
        storage_index=st_idx, storage_p_mw=sp, storage_q_mvar=sq, ext_grid_index=eg, ext_grid_vm_pu=vm,
        sgen_index=blocks["sgen"][0] if "sgen" in blocks else np.zeros(0, dtype=np.int64),
        sgen_p_mw=blocks["sgen"][1] if "sgen" in blocks else np.zeros((n, 0)),
        sgen_q_mvar=cast(np.ndarray, blocks["sgen"][2]) if "sgen" in blocks else np.zeros((n, 0)),  # None only for gen
        gen_index=blocks["gen"][0] if "gen" in blocks else np.zeros(0, dtype=np.int64),
        gen_p_mw=blocks["gen"][1] if "gen" in blocks else np.zeros((n, 0)),
    )
