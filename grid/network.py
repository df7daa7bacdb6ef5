"""Read a utility's network model into a pandapower net, whatever format it comes in.

Formats (``format`` of a site file's ``[network]`` table, or inferred from the file suffix):

``pandapower`` (``.json``)
    ``pandapower.from_json``.
``matpower`` (``.m``, ``.mat``)
    pandapower's converter ``pandapower.converter.matpower.from_mpc`` (``.m`` needs the
    ``matpowercaseframes`` package, as pandapower itself requires).
``cgmes`` (``.zip``, ``.xml``; a zip or a list of profile files)
    pandapower's converter ``pandapower.converter.cim.cim2pp.from_cim`` (CGMES 2.4.15). A file
    without a designated slack needs ``slack`` (the generator made the ``ext_grid``).
``psse`` (``.raw``: PSS/E RAW v33 and v35), ``ucte`` (``.uct``)
    read by pypowsybl (``pypowsybl.network.load``), written by pypowsybl as a MATPOWER case and
    converted by pandapower's ``from_mpc``; bus names are the pypowsybl bus-view ids (for a RAW
    file ``VL<number>_0``, from the PSS/E bus number).

Why this route for PSS/E. pypowsybl (LF Energy, maintained by RTE and others, wheels on PyPI) is
the maintained open reader of RAW v33 and v35 (and RAWX, UCTE, CGMES); pandapower has no RAW
reader of its own. pandapower 3.5 ships ``pandapower.converter.pypowsybl.from_pypowsybl``, which
reads pypowsybl's XIIDM, but it omits shunt compensators, makes the slack a ``gen`` (which the
fast engine does not take) and writes a JSON file beside its input; on IEEE 14 its power flow
is 0.053 pu away from pypowsybl's own load flow. pypowsybl's MATPOWER export keeps shunts,
transformer ratios and the reference bus, and pandapower's ``from_mpc`` (the converter its own
test suite validates) turns it into a net whose power flow agrees with pypowsybl's load flow to
about 1e-8 pu (tests/grid/test_network_formats.py). What MATPOWER cannot carry is lost: element
names (loads and generators are named after their bus), switches (merged), ratings other than
``RATE_A``.

Every net read here carries pandapower's current tap model (:func:`current_tap_model`).

Every problem is raised as :class:`gridstudy.grid.errors.SiteError` naming the field and value.
"""

from __future__ import annotations

import importlib
import json
import logging
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
from pandapower.converter.cim.cim2pp.from_cim import from_cim
from pandapower.converter.matpower.from_mpc import from_mpc

from gridstudy.grid.errors import Problem, SiteError, parse_json_object, read_text

__all__ = ["FORMATS", "SUFFIX_FORMATS", "infer_format", "read_network", "network_from_ref", "ALLOWED_MODULES",
           "check_net_json", "net_from_json_text", "read_net_json", "current_tap_model",
           "TAP_MODEL_WARNING", "pandapower_case"]

#: Formats a network file may have. [-]
FORMATS = ("pandapower", "matpower", "cgmes", "psse", "ucte")

#: File suffix -> format, where ``format`` is not given. [-]
SUFFIX_FORMATS = {".json": "pandapower", ".m": "matpower", ".mat": "matpower", ".zip": "cgmes",
                  ".xml": "cgmes", ".raw": "psse", ".rawx": "psse", ".uct": "ucte"}

_LOG = logging.getLogger(__name__)

#: What a pandapower JSON file holds, as the messages about one say.
_PANDAPOWER_JSON = "a pandapower net written by pandapower.to_json (a JSON object)"

#: Modules whose classes a pandapower JSON file may name (``"_module"``): pandapower's own, the
#: pandas and numpy types of its tables, and this package's. pandapower imports the module a file
#: names before it judges it; a file naming any other module is refused before pandapower reads it.
ALLOWED_MODULES = ("pandapower", "pandas", "numpy", "gridstudy")


#: Transformer tables that carry a tap model. [-]
TRAFO_TABLES = ("trafo", "trafo3w")

#: How pandapower's DeprecationWarning for a transformer table without ``tap_dependency_table``
#: (the pre-3.0 tap model) begins. [-]
TAP_MODEL_WARNING = "tap_dependency_table is missing in net"


def _old_phase_shifter_to_type(df: pd.DataFrame, t: str) -> pd.Series:
    """``tap{t}_changer_type`` of a table that has only pandapower 2's ``tap{t}_phase_shifter``
    flag, as pandapower 2's power flow (the deprecated path of pandapower 3's ``build_branch``)
    reads that flag: an ideal phase shifter where it is set, a ratio (complex) tap where a step
    and a position are given, no tap otherwise."""
    ideal = df[f"tap{t}_phase_shifter"].astype(object).where(df[f"tap{t}_phase_shifter"].notna(), False).astype(bool)
    step = pd.to_numeric(df[f"tap{t}_step_percent"], errors="coerce") if f"tap{t}_step_percent" in df else None
    pos = pd.to_numeric(df[f"tap{t}_pos"], errors="coerce") if f"tap{t}_pos" in df else None
    ratio = (np.isfinite(step.to_numpy(dtype=float)) & np.isfinite(pos.to_numpy(dtype=float))
             if step is not None and pos is not None else np.zeros(len(df), dtype=bool))
    out = pd.Series(None, index=df.index, dtype=object)
    out[ratio & ~ideal.to_numpy()] = "Ratio"
    out[ideal.to_numpy()] = "Ideal"
    return out


def current_tap_model(net: Any, field: str = "network") -> Any:
    """Give the transformer tables of ``net`` pandapower's current tap model, in place; return ``net``.

    Since pandapower 3.0 a transformer's tap is described by ``tap_changer_type`` (``"Ratio"``,
    ``"Symmetrical"``, ``"Ideal"`` or none), which replaced the ``tap_phase_shifter`` flag, and a
    tap-dependent ratio or impedance by ``tap_dependency_table`` with ``id_characteristic_table``
    (rows of ``net.trafo_characteristic_table``), which replaced the spline characteristics
    (``tap_dependent_impedance``, ``net.characteristic``). A net without ``tap_dependency_table`` —
    pandapower's own stored ``pandapower.networks`` cases (case14, case118, case300,
    mv_oberrhein, ...) among them — goes down pandapower's deprecated path, with a
    DeprecationWarning at every power flow. pandapower offers no converter for this:
    ``convert_format`` converts by format version, and those cases already carry the current one.

    Added where missing is what pandapower's ``create_transformer*`` write by default:
    ``tap_dependency_table`` False and ``id_characteristic_table`` <NA> (and ``tap_changer_type``
    none, as ``convert_format`` adds it to a trafo table: a table without it and without
    ``tap_phase_shifter`` has its taps ignored by pandapower either way). The power flow does not
    change: without a spline characteristic in use, the deprecated path takes the rated
    ``vk_percent``/``vkr_percent`` and the same ratio, as the current path does with no table.
    A ``tap_phase_shifter`` column beside ``tap_changer_type`` (pandapower reads the latter) is
    dropped. Without ``tap_changer_type`` (a table in the pandapower 2 form, which pandapower
    3.5's own deprecated path fails on) the flag becomes the type it meant
    (:func:`_old_phase_shifter_to_type`) — not what pandapower's ``convert_trafo_pst_logic``
    makes of it: that one classifies by the step values, so an ideal shifter with a percent step
    would become a ratio tap.

    Raises
    ------
    SiteError
        When spline characteristics are in use (``tap_dependent_impedance`` set on a transformer
        of a table without ``tap_dependency_table``): they cannot be carried over without a
        ``trafo_characteristic_table``, and dropping them would change the power flow.
    """
    for table in TRAFO_TABLES:
        if table not in net:
            continue
        df = net[table]
        if "tap_dependency_table" not in df and "tap_dependent_impedance" in df:
            used = df["tap_dependent_impedance"].astype(object).where(df["tap_dependent_impedance"].notna(), False)
            if used.astype(bool).any():
                names = [str(n) for n in df.loc[used.astype(bool).to_numpy(), "name"]] if "name" in df else []
                raise SiteError([Problem(f"{field}.{table}.tap_dependent_impedance",
                                         "spline tap characteristics (pandapower < 3.0) are not supported; "
                                         "give the transformers a trafo_characteristic_table "
                                         "(tap_dependency_table, id_characteristic_table)", names[:5])])
        for t in ("", "2"):
            old = f"tap{t}_phase_shifter"
            if old not in df:
                continue
            if f"tap{t}_changer_type" not in df:
                df[f"tap{t}_changer_type"] = _old_phase_shifter_to_type(df, t)
            df = df.drop(columns=old)
        if "tap_changer_type" not in df:  # as pandapower's convert_format adds it: no tap model
            df["tap_changer_type"] = pd.Series(None, index=df.index, dtype=object)
        if "tap_dependency_table" not in df:
            df["tap_dependency_table"] = False
        if "id_characteristic_table" not in df:
            df["id_characteristic_table"] = pd.Series(pd.NA, index=df.index, dtype="Int64")
        net[table] = df
    return net


def pandapower_case(fn: Callable[[], Any], field: str = "network") -> Any:
    """The net a ``pandapower.networks`` function builds, in the current tap model.

    Several of those functions (``mv_oberrhein``, ...) run power flows of their own on
    pandapower's stored case data, which is in the old tap model; the deprecation warning those
    runs raise (:data:`TAP_MODEL_WARNING`, that one only) is held back, and the net they return
    is converted (:func:`current_tap_model`) before anything of this package solves it.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=TAP_MODEL_WARNING, category=DeprecationWarning)
        net = fn()
    return current_tap_model(net, field)


def _walk_refs(obj: Any, depth: int, found: list[str]) -> None:
    if depth > 64:
        found.append("<nested too deeply>")
        return
    if isinstance(obj, dict):
        mod = obj.get("_module")
        if mod is not None:
            found.append(mod if isinstance(mod, str) else repr(mod))
        for v in obj.values():
            _walk_refs(v, depth + 1, found)
    elif isinstance(obj, list):
        for v in obj:
            _walk_refs(v, depth + 1, found)
    elif isinstance(obj, str) and obj[:1] in ("{", "[") and "_module" in obj:
        try:  # pandapower nests objects as JSON text ("_object" of a controller)
            inner = json.loads(obj)
        except (ValueError, RecursionError):
            return
        _walk_refs(inner, depth + 1, found)


def check_net_json(text: str, field: str = "network", source: str | None = None) -> Any:
    """Refuse a pandapower JSON text that names a module outside :data:`ALLOWED_MODULES`, before
    pandapower deserialises it (and imports what it names); return the parsed JSON.

    Raises
    ------
    SiteError
        Not JSON, nested too deeply, not an object at its top level, or naming another module (the
        first few named).
    """
    parsed = parse_json_object(text, str(source), SiteError, field, _PANDAPOWER_JSON)
    found: list[str] = []
    _walk_refs(parsed, 0, found)
    bad = sorted({m for m in found if not any(m == a or m.startswith(a + ".") for a in ALLOWED_MODULES)})
    if bad:
        raise SiteError([Problem(field, f"names modules outside pandapower, pandas and numpy ({', '.join(bad[:5])}); "
                                        "refused before reading", source)]) from None
    return parsed


def net_from_json_text(text: str, field: str = "network", source: str | None = None) -> Any:
    """A pandapower net from its JSON text, its module references checked first (:func:`check_net_json`)."""
    check_net_json(text, field, source)
    try:
        net = _quiet(pp.from_json_string, text)
    except Exception as exc:
        raise SiteError([Problem(field, f"not a pandapower JSON file ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})",
                                 source)]) from None
    if not isinstance(net, pp.pandapowerNet):  # a JSON object pandapower reads as something else
        raise SiteError([Problem(field, f"pandapower reads it as {type(net).__name__}, not a net; expected "
                                        f"{_PANDAPOWER_JSON}", source)])
    return current_tap_model(net, field)


def read_net_json(path: str | Path, field: str = "network") -> Any:
    """:func:`net_from_json_text` of a file (UTF-8; a missing or unreadable file names ``field``)."""

    text = read_text(path, SiteError, field)
    return net_from_json_text(text, field, str(path))


def infer_format(path: Path, fmt: str | None, field: str = "network.format") -> str:
    """The format of ``path``: ``fmt`` when given, else from the suffix."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise SiteError([Problem(field, f"unknown network format; known: {', '.join(FORMATS)}", fmt)])
        return fmt
    got = SUFFIX_FORMATS.get(path.suffix.lower())
    if got is None:
        raise SiteError([Problem(field, "cannot tell the format from the file suffix "
                                 f"({', '.join(SUFFIX_FORMATS)}); give network.format", str(path))])
    return got


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a converter with its logging and warnings held back (they are its own diagnostics)."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    finally:
        logging.disable(logging.NOTSET)


def _via_pypowsybl(path: Path, fmt: str, f_hz: float, field: str) -> Any:
    """Read ``path`` with pypowsybl, write it as MATPOWER, convert with pandapower (see module)."""
    try:
        pn = importlib.import_module("pypowsybl.network")
    except ImportError:
        raise SiteError([Problem(field, f"{fmt} files need the 'pypowsybl' package "
                                 "(pip install 'gridstudy[networks]')", str(path))]) from None

    try:
        pnet = _quiet(pn.load, str(path))
    except Exception as exc:  # pypowsybl raises its own PyPowsyblError with the parser's message
        raise SiteError([Problem(field, f"pypowsybl cannot read it as {fmt} ({str(exc).splitlines()[0]})", str(path))]) from None
    buses = pnet.get_buses()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "case"
        _quiet(pnet.save, str(target), format="MATPOWER")
        net = _quiet(from_mpc, str(target.with_suffix(".mat")), f_hz=f_hz)
    # pypowsybl numbers the MATPOWER buses 1..N in the order of its bus view (get_buses); check
    # that order on the nominal voltages before naming the buses after it
    vl = pnet.get_voltage_levels()
    vn = vl.nominal_v.reindex(buses.voltage_level_id).to_numpy(dtype=float)
    if len(buses) != len(net.bus) or abs(net.bus.vn_kv.to_numpy(dtype=float) - vn).max(initial=0.0) > 1e-6:
        raise SiteError([Problem(field, "the converted case's buses do not match pypowsybl's bus view "
                                 "(cannot name them)", str(path))])
    net.bus["name"] = [str(b) for b in buses.index]
    for table in ("load", "gen", "sgen", "shunt", "ext_grid"):
        df = net[table]
        if len(df):
            names = net.bus.name.reindex(df.bus).to_numpy()
            df["name"] = [f"{table} at {b}" + (f" #{k}" if k else "") for b, k in
                          zip(names, df.groupby("bus").cumcount().to_numpy(), strict=True)]
    for table in ("line", "trafo"):
        df = net[table]
        if len(df):
            fb, tb = ("from_bus", "to_bus") if table == "line" else ("hv_bus", "lv_bus")
            a = net.bus.name.reindex(df[fb]).to_numpy()
            b = net.bus.name.reindex(df[tb]).to_numpy()
            df["name"] = [f"{x}-{y}" for x, y in zip(a, b, strict=True)]
            dup = df.groupby("name").cumcount().to_numpy()
            df["name"] = [n if k == 0 else f"{n} #{k + 1}" for n, k in zip(df["name"], dup, strict=True)]
    net.name = path.stem
    return net


def _cgmes(path: Path, f_hz: float, field: str) -> Any:
    files = [str(p) for p in sorted(path.iterdir())] if path.is_dir() else [str(path)]
    try:
        net = _quiet(from_cim, file_list=files, cgmes_version="2.4.15")
    except Exception as exc:
        raise SiteError([Problem(field, f"pandapower's CGMES converter cannot read it ({exc})", str(path))]) from None
    net.f_hz = f_hz
    return net


def read_network(path: str | Path, fmt: str | None = None, f_hz: float = 50.0,
                 field: str = "network.path") -> Any:
    """Read a network file into a pandapower net.

    Parameters
    ----------
    path : str or Path
        The file (a folder of CGMES profile files for ``cgmes``).
    fmt : str, optional
        One of :data:`FORMATS`; default: from the suffix (:data:`SUFFIX_FORMATS`).
    f_hz : float
        System frequency written into the net where the format does not carry it. [Hz]
    field : str
        Field path named in errors.

    Returns
    -------
    pandapowerNet
    """
    path = Path(path)
    kind = infer_format(path, fmt, field.rsplit(".", 1)[0] + ".format")
    if not path.exists():
        raise SiteError([Problem(field, "file not found", str(path))])
    if kind == "pandapower":
        return read_net_json(path, field)
    if kind == "matpower":
        try:
            net = _quiet(from_mpc, str(path), f_hz=f_hz)
        except Exception as exc:
            raise SiteError([Problem(field, f"not a MATPOWER case pandapower can read ({exc})", str(path))]) from None
        net.name = path.stem
    elif kind == "cgmes":
        net = _cgmes(path, f_hz, field)
    else:
        net = _via_pypowsybl(path, kind, f_hz, field)
    return current_tap_model(net, field)


def network_from_ref(case: str | None = None, simbench: str | None = None, field: str = "network") -> Any:
    """A ``pandapower.networks`` case by name, or a SimBench grid by code (with its profiles), in
    pandapower's current tap model (:func:`current_tap_model`)."""
    if simbench is not None:
        try:
            sb = importlib.import_module("simbench")
        except ImportError:
            raise SiteError([Problem(f"{field}.simbench", "SimBench codes need the 'simbench' package "
                                     "(pip install 'gridstudy[networks]')", simbench)]) from None
        try:
            net = _quiet(sb.get_simbench_net, simbench)
        except Exception as exc:  # simbench raises bare errors for unknown codes
            raise SiteError([Problem(f"{field}.simbench", f"unknown SimBench code ({exc})", simbench)]) from None
        return current_tap_model(net, f"{field}.simbench")

    fn = getattr(pn, str(case), None)
    if not callable(fn) or str(case).startswith("_"):
        raise SiteError([Problem(f"{field}.case", "not a pandapower.networks case", case)])
    return pandapower_case(fn, f"{field}.case")
