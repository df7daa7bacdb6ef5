"""Every numeric field of a study file and a site file, fed non-finite, negative, zero and huge values
(issue 23, item 2): the command line either refuses the value as bad input (exit 2, naming the field,
nothing written) or runs cleanly (exit 0, no NaN in its verdicts); never a verdict from bad input
(exit 1), never an internal error (exit 4), never a traceback.

The fields are not listed by hand: they are read from the pydantic schemas of the files
(:class:`~gridstudy.studies.spec.sections.StudySpec`, whose ``[campus]`` and ``[battery]`` sections are
derived from the models' parameter classes; :class:`~gridstudy.studies.spec.interconnection.InterconnectionSpec`;
the ``[sizing]``/``[sweep]`` sections of :mod:`gridstudy.studies.spec.scale`;
:class:`~gridstudy.grid.spec.SiteSpec`), so that a field or section added to them is covered without
touching this file. A field is numeric when its type, ``None`` aside, is ``int`` or ``float`` (a number
that may also be a bus name, such as ``poi``, is an identifier and left out), or a list of them.

Two parts:

- exhaustive (marked slow: minutes): each numeric field x each of {inf, -inf, nan, -1, 0, 1e12} once, one field changed
  from a valid file. Study-file fields run ``gridstudy run`` on a 10-step horizon without N-1, sag
  and sub-second windows (their sections are validated all the same); site fields run
  ``gridstudy check`` (one power flow and the fault levels). Exit 2 must name the field.
- property: hypothesis draws several study and site fields at once with values from the same
  classes (any non-finite, negative, zero or huge number) and runs ``gridstudy run``.

Everything runs in-process through :func:`gridstudy.studies.cli.main.main`.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from gridstudy.grid.reference import reference_sites
from gridstudy.grid.spec import SiteSpec
from gridstudy.studies.cli.main import main
from gridstudy.studies.spec.interconnection import DEFAULT_SAG_EVENTS, InterconnectionSpec
from gridstudy.studies.spec.scale import OWN_SECTIONS, STRATEGY_PARAMETERS, SizingSection, SweepSection
from gridstudy.studies.spec.sections import STRATEGY_TABLES, StudySpec

# -- the numeric fields, read from the schemas ---------------------------------------------------------

#: The schemas of a study file: (keys of the section, schema). The top-level sections of StudySpec
#: and InterconnectionSpec are their fields; [sizing] and [sweep] are the scale module's own.
STUDY_SCHEMAS: tuple[tuple[tuple[str, ...], type[BaseModel]], ...] = (
    ((), StudySpec), ((), InterconnectionSpec), (("sizing",), SizingSection), (("sweep",), SweepSection))
SITE_SCHEMAS: tuple[tuple[tuple[str, ...], type[BaseModel]], ...] = (((), SiteSpec),)


@dataclass(frozen=True)
class NumericField:
    """A numeric field of an input file: its keys (an ``int`` is the first item of a list of tables),
    its type, whether it is a number inside a list of numbers, and its schema default (``element``:
    the list whose first item is changed when the file does not give one)."""

    file: str
    keys: tuple[str | int, ...]
    kind: type
    element: bool = False
    default: Any = None

    @property
    def name(self) -> str:
        """The field's path as the error messages write it (``sag.events[0].at_s``)."""
        out = ""
        for k in self.keys:
            out += f"[{k}]" if isinstance(k, int) else ("." if out else "") + k
        return out

    def __str__(self) -> str:
        return f"{self.file}:{self.name}"


def _members(ann: Any) -> list[Any]:
    """The types of an annotation, ``None`` left out (``float | None`` -> ``[float]``)."""
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(ann) if a is not type(None)]
    return [ann]


def _is_number(t: Any) -> bool:
    return t in (int, float)


def numeric_fields(file: str, model: type[BaseModel], keys: tuple[str | int, ...] = ()) -> list[NumericField]:
    """Every numeric field of ``model`` and of the sections and lists of tables inside it."""
    out: list[NumericField] = []
    for name, info in model.model_fields.items():
        at = (*keys, name)
        members = _members(info.annotation)
        if members and all(_is_number(m) for m in members):
            out.append(NumericField(file, at, float if float in members else int))
            continue
        for m in members:
            if isinstance(m, type) and issubclass(m, BaseModel):
                out += numeric_fields(file, m, at)
            elif typing.get_origin(m) is list:
                (item,) = typing.get_args(m)
                items = _members(item)
                if isinstance(item, type) and issubclass(item, BaseModel):
                    out += numeric_fields(file, item, (*at, 0))
                elif items and all(_is_number(i) for i in items):
                    out.append(NumericField(file, at, float if float in items else int, element=True,
                                            default=info.get_default(call_default_factory=True)))
    return out


STUDY_FIELDS = [f for keys, schema in STUDY_SCHEMAS for f in numeric_fields("study", schema, keys)]
SITE_FIELDS = [f for keys, schema in SITE_SCHEMAS for f in numeric_fields("site", schema, keys)]


def test_the_schemas_listed_are_the_whole_study_file():
    # a top-level section added to the study file without a schema listed here would go untested
    covered = {k for keys, schema in STUDY_SCHEMAS for k in (keys[:1] or tuple(schema.model_fields))}
    assert covered == set(StudySpec.model_fields) | set(InterconnectionSpec.model_fields) | set(OWN_SECTIONS)


def test_the_enumeration_finds_the_fields_of_every_kind():
    # fields known from the schemas' source, one of each kind the walk must reach: a section's field,
    # a field derived from a model's parameter class, a nested derived table, a list of numbers, a
    # field of a list of tables, an own section's field, a site file's nested and listed fields
    names = {str(f) for f in STUDY_FIELDS + SITE_FIELDS}
    for expected in ("study:study.step_s", "study:campus.gpu_tdp_w", "study:battery.ramp_limit.window_mw",
                     "study:campus.smoothing.ramp_up_w_per_s", "study:battery.reactive.v_pu",
                     "study:sag.events[0].at_s", "study:sizing.cost_per_mw_usd", "study:sizing.strategy.tau_s",
                     "site:source.s_sc_min_mva", "site:lines[0].length_km", "site:campus.halls[0].p_mw",
                     "site:battery.units", "site:network.reduce.radius"):
        assert expected in names, expected
    assert "site:poi" not in names  # a bus name or index: an identifier, not a quantity


# -- the valid files each case starts from ---------------------------------------------------------

START = "2025-07-01T00:00:00"
STEPS = 10  # the horizon: 10 steps of 1 s, enough for the engines, cheap to run

#: A valid study file: every section present so that one changed field is the file's only problem;
#: N-1, sag events and sub-second windows off (their sections are still validated).
BASE_STUDY: dict[str, Any] = {
    "study": {"name": "numeric fields", "site": "site.toml", "start": START, "duration_s": float(STEPS),
              "step_s": 1.0},
    "battery": {"strategy": "ramp_limit"},
    "contingencies": {"enabled": False},
    "sag": {"enabled": False, "events": [dict(DEFAULT_SAG_EVENTS[2])]},  # the recloser shots: every field
    "fluctuation": {"enabled": False},
}

#: Sections that have required fields: where a changed field lies inside one the file lacks, it
#: starts from this valid one (the trace file is written beside the study).
STUDY_SECTION_BASES: dict[tuple[str, ...], dict[str, Any]] = {
    ("campus", "trace"): {"path": "trace.csv"},
    # a meter's table needs its averaging
    ("criteria", "meters", "ramp_rate"): {"averaging": "block"},
    ("criteria", "meters", "peak_to_peak"): {"averaging": "rolling"},
    ("criteria", "meters", "power_factor"): {"averaging": "block"},
}
SITE_SECTION_BASES: dict[tuple[str, ...], dict[str, Any]] = {
    ("battery", "transformer"): {"vn_lv_kv": 13.8},  # a 13.8 kV collector under the 34.5 kV POI
}


def _base_site() -> dict[str, Any]:
    return tomllib.loads(reference_sites()["feeder-34.5kv"].read_text(encoding="utf-8"))


#: The site of the network fields: a pandapower case with every network table given.
NETWORK_SITE: dict[str, Any] = {
    "name": "network fields", "poi": 4,
    "network": {"case": "case9", "contingencies": {"within_buses": 2, "vn_kv": [345.0]},
                "monitor": {"within_buses": 2, "vn_kv": [345.0]}, "reduce": {"method": "ward", "radius": 2}},
    "campus": {"halls": [{"name": "hall", "bus": "4", "p_mw": 20.0}]},
    "battery": {"model": "megapack2xl-2h", "units": 4, "bus": "4"},
}


def _context(field: NumericField, study: dict[str, Any]) -> None:
    """Settings under which ``field`` takes effect: its strategy chosen, the reactive mode that
    reads it, the campus voltage response in the time series."""
    keys = field.keys
    if keys[0] == "battery" and len(keys) > 2 and keys[1] in STRATEGY_TABLES:
        study["battery"]["strategy"] = next(s for s, t in STRATEGY_TABLES.items() if t == keys[1])
    if keys[:2] == ("sizing", "strategy") and keys[2] in STRATEGY_PARAMETERS:
        study["battery"]["strategy"] = STRATEGY_PARAMETERS[str(keys[2])][0]
    if keys[:2] == ("campus", "smoothing"):  # GPU smoothing on hardware that has it (docs/sources/load.md §7)
        study.setdefault("campus", {})["gpu_model"] = "gb300"
    if keys[:2] == ("battery", "reactive"):
        study["battery"].setdefault("reactive", {})["mode"] = "fixed_pf" if str(keys[2]).startswith("pf") else "volt_var"
    if keys[:2] == ("campus", "voltage_response"):
        study.setdefault("campus", {}).setdefault("voltage_response", {})["time_series"] = True


def set_field(raw: dict[str, Any], field: NumericField, value: Any, bases: dict[tuple[str, ...], dict[str, Any]]) -> None:
    """Set ``field`` to ``value`` in the mapping of a file, making the tables on the way (from
    ``bases`` where a table has required fields)."""
    d: Any = raw
    for i, k in enumerate(field.keys[:-1]):
        if isinstance(k, int):
            assert isinstance(d, list) and len(d) > k, f"{field}: the valid file must hold a first item of {field.keys[:i]}"
            d = d[k]
            continue
        if k not in d:
            d[k] = dict(bases.get(tuple(str(x) for x in field.keys[:i + 1]), {}))
        d = d[k]
    last = field.keys[-1]
    if field.element:  # the first number of the list (the file's, else the schema's default list)
        items = list(d.get(last) or field.default or [0.0])
        items[0] = value
        d[last] = items
    else:
        d[last] = value


# -- writing the files ---------------------------------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_value(v: Any) -> str:
    """``v`` written as a TOML value (tables inline; floats as Python writes them: inf, nan, 1e+300)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def toml_key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k)


def write_toml(path: Path, raw: dict[str, Any]) -> None:
    text = "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in raw.items())
    path.write_text(text, encoding="utf-8")
    back = tomllib.loads(text)  # the file holds what was meant (NaN compared as its text)
    assert json.dumps(back, sort_keys=True) == json.dumps(raw, sort_keys=True)


def write_trace(d: Path) -> None:
    """A measured trace of 20 MW with a 1-MW step, covering the horizon at the study step."""
    rows = [f"2025-07-01 00:00:{s:02d},{20.0 + (s >= STEPS // 2):.1f}" for s in range(STEPS + 1)]
    (d / "trace.csv").write_text("timestamp,p_mw\n" + "\n".join(rows) + "\n", encoding="utf-8")


# -- running a case --------------------------------------------------------------------------------

ALLOWED = {0, 2}


def run_cli(*argv: Any) -> tuple[int, str]:
    """The command line, in-process; (exit code, what it printed)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, err.getvalue() + out.getvalue()


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def verdict_problems(out: Path, command: str) -> list[str]:
    """What makes a written output a verdict from bad input: a NaN or missing voltage or verdict."""
    bad: list[str] = []
    if command == "check":
        res = json.loads((out / "check.json").read_text())
        for k in ("poi_vm_pu", "min_vm_pu", "max_vm_pu", "campus_p_mw"):
            if not _finite(res.get(k)):
                bad.append(f"check.{k} = {res.get(k)!r}")
        if res.get("converged") is not True:
            bad.append(f"check.converged = {res.get('converged')!r}")
        return bad
    summary = json.loads((out / "summary.json").read_text())
    for name, s in summary["scenarios"].items():
        if not isinstance(s.get("pass"), bool):
            bad.append(f"{name}.pass = {s.get('pass')!r}")
        for k in ("poi_vm_pu_min", "poi_vm_pu_max"):
            if not _finite(s.get(k)):
                bad.append(f"{name}.{k} = {s.get(k)!r}")
        for c in s.get("criteria", []):
            if not isinstance(c.get("pass"), bool) or (isinstance(c.get("worst_value"), float)
                                                       and math.isnan(c["worst_value"])):
                bad.append(f"{name}.{c.get('id')}: pass {c.get('pass')!r}, worst {c.get('worst_value')!r}")
    return bad


def run_case(d: Path, study: dict[str, Any] | None, site: dict[str, Any]) -> tuple[int, str, list[str]]:
    """Write the files into ``d`` and run ``run`` on the study (``check`` on the site without one);
    (exit code, printed text, problems of the output written on exit 0)."""
    write_trace(d)
    write_toml(d / "site.toml", site)
    out = d / "out"
    if study is None:
        command = "check"
        code, text = run_cli("check", d / "site.toml", "--json", out / "check.json")
    else:
        command = "run"
        write_toml(d / "study.toml", study)
        code, text = run_cli("run", d / "study.toml", "--out", out, "--no-report", "--quiet")
    bad = verdict_problems(out, command) if code == 0 else []
    if code == 2:
        assert not out.exists(), f"bad input, yet {out} was written:\n{text}"
        assert not list(d.glob(".out*")), "no lock or staging file may be left"
    return code, text, bad


def describe(code: int, text: str, bad: list[str]) -> str:
    return f"exit {code}; " + ("; ".join(bad) if bad else "") + "\n" + text[-3000:]


# -- exhaustive: each field x each value class -----------------------------------------------------

FLOAT_VALUES = (math.inf, -math.inf, math.nan, -1.0, 0.0, 1e12)
INT_VALUES = (math.inf, -math.inf, math.nan, -1, 0, 10**12)


def _cases(fields: list[NumericField]) -> list[Any]:
    return [pytest.param(f, v, id=f"{f}={v!r}") for f in fields
            for v in (FLOAT_VALUES if f.kind is float else INT_VALUES)]


def _study_for(field: NumericField, value: Any) -> dict[str, Any]:
    study = json.loads(json.dumps(BASE_STUDY))
    _context(field, study)
    set_field(study, field, value, STUDY_SECTION_BASES)
    if field.keys[0] == "sweep":  # a [sweep] needs its parameters
        study["sweep"].setdefault("parameters", {"battery.units": [8]})
    return study


def names_field(text: str, field: NumericField) -> bool:
    """Whether a refusal names ``field``: at its path (``lines[0].length_km: ...``), or, for a check of
    several fields of one table together, in a problem of that table that names the field
    (``transformers[0]: vn_lv_kv (...) must be below vn_hv_kv``, ``campus: nominal peak (gpus x TDP
    ...) ..., got {'gpu_tdp_w': ...}``, ``battery.soc_min_percent: must be below soc_max_percent``)."""
    if field.name in text:
        return True
    table = NumericField(field.file, field.keys[:-1], field.kind).name
    return bool(table) and any(table in line and str(field.keys[-1]) in line for line in text.splitlines())


def _assert_clean(fields: list[NumericField], code: int, text: str, bad: list[str]) -> None:
    assert code in ALLOWED, describe(code, text, bad)
    assert "Traceback" not in text, text
    assert not bad, describe(code, text, bad)
    if code == 2:
        assert any(names_field(text, f) for f in fields), (
            f"exit 2 without naming {[str(f) for f in fields]} (a new table with required fields: give a valid "
            f"one in STUDY_SECTION_BASES or SITE_SECTION_BASES):\n{text}")


def test_the_valid_files_the_cases_start_from_run_cleanly(tmp_path):
    # the control of every case: each refusal is the changed field's, not the starting file's
    study = json.loads(json.dumps(BASE_STUDY))
    study["campus"] = {"trace": dict(STUDY_SECTION_BASES[("campus", "trace")])}
    site = _base_site()
    for keys, table in SITE_SECTION_BASES.items():
        at = site
        for k in keys[:-1]:
            at = at.setdefault(k, {})
        at[keys[-1]] = dict(table)
    for k, (s, w) in enumerate(((study, site), (None, site), (None, json.loads(json.dumps(NETWORK_SITE))))):
        d = tmp_path / str(k)
        d.mkdir()
        code, text, bad = run_case(d, s, w)
        assert code == 0 and not bad, describe(code, text, bad)


# minutes: a value the file accepts runs the whole short study (about 2 s each on a quiet core)
@pytest.mark.slow
@pytest.mark.parametrize("field, value", _cases(STUDY_FIELDS))
def test_each_study_field_with_each_value_class(tmp_path, field, value):
    code, text, bad = run_case(tmp_path, _study_for(field, value), _base_site())
    _assert_clean([field], code, text, bad)


def _site_for(field: NumericField, value: Any) -> dict[str, Any]:
    site = json.loads(json.dumps(NETWORK_SITE)) if field.keys[0] == "network" else _base_site()
    set_field(site, field, value, SITE_SECTION_BASES)
    return site


@pytest.mark.slow  # minutes: a value the file accepts solves the site's power flow and fault levels
@pytest.mark.parametrize("field, value", _cases(SITE_FIELDS))
def test_each_site_field_with_each_value_class(tmp_path, field, value):
    code, text, bad = run_case(tmp_path, None, _site_for(field, value))
    _assert_clean([field], code, text, bad)


# -- property: several fields at once, values drawn from the same classes ----------------------------

def _values(kind: type) -> st.SearchStrategy[Any]:
    """A value of one of the classes: non-finite, zero, negative (down to -1, and beyond -1e12) or
    huge (beyond 1e12). Moderate values are left out on purpose: a moderate value the bounds admit
    may make a study fail for good reasons (a 90-GW load on a feeder collapses it: a finding)."""
    if kind is float:
        return st.one_of(st.sampled_from([math.inf, -math.inf, math.nan, 0.0, -0.0]),
                         st.floats(min_value=-1.0, max_value=-5e-324), st.floats(min_value=-1e300, max_value=-1e12),
                         st.floats(min_value=1e12, max_value=1e300))
    return st.one_of(st.sampled_from([math.inf, -math.inf, math.nan, 0]), st.integers(min_value=-10**18, max_value=-1),
                     st.integers(min_value=10**12, max_value=10**18))


@st.composite
def _changes(draw: st.DrawFn) -> tuple[list[tuple[NumericField, Any]], list[tuple[NumericField, Any]]]:
    study = draw(st.lists(st.sampled_from([f for f in STUDY_FIELDS if f.keys[0] != "sweep"]), min_size=1, max_size=2,
                          unique_by=lambda f: f.keys))
    site = draw(st.lists(st.sampled_from([f for f in SITE_FIELDS if f.keys[0] != "network"]), max_size=1,
                         unique_by=lambda f: f.keys))
    return [(f, draw(_values(f.kind))) for f in study], [(f, draw(_values(f.kind))) for f in site]


@settings(max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=_changes())
def test_any_numeric_values_end_in_a_refusal_or_a_clean_run(tmp_path_factory, changes):
    study_changes, site_changes = changes
    study = json.loads(json.dumps(BASE_STUDY))
    for f, _ in study_changes:
        _context(f, study)
    for f, v in study_changes:
        set_field(study, f, v, STUDY_SECTION_BASES)
    site = _base_site()
    for f, v in site_changes:
        set_field(site, f, v, SITE_SECTION_BASES)
    d = tmp_path_factory.mktemp("case")
    code, text, bad = run_case(d, study, site)
    _assert_clean([f for f, _ in study_changes + site_changes], code, text, bad)
