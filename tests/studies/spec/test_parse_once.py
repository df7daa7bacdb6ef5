"""The study file is read, parsed and resolved once per command (``gridstudy run`` on the demo,
``gridstudy size`` on the sizing example), whatever the stages after it do.

Counted by wrapping every reference the loaded modules hold to the readers and parsers (so an
import under another name is counted too): ``tomllib.loads`` (every TOML text parsed: the study
file and its site file), ``parse_interconnection`` (the whole study file validated),
``parse_study`` and ``resolve_study`` (one study description: the file's own and one per
alternative ``[[scenarios]]`` entry, each a different description), and the site readers.
"""

from __future__ import annotations

import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from short_studies import shorten

from gridstudy.grid import spec as grid_spec
from gridstudy.studies.cli.main import main
from gridstudy.studies.spec import interconnection, sections

ROOT = Path(__file__).resolve().parents[3]


def _count(monkeypatch) -> Counter:
    counts: Counter = Counter()
    targets = {"tomllib.loads": tomllib.loads, "parse_interconnection": interconnection.parse_interconnection,
               "parse_study": sections.parse_study, "resolve_study": sections.resolve_study,
               "load_site_spec": grid_spec.load_site_spec, "site_spec_from_raw": grid_spec.site_spec_from_raw}
    for label, fn in targets.items():
        def wrapper(*a, __fn=fn, __label=label, **kw):
            counts[__label] += 1
            return __fn(*a, **kw)
        for mod in list(sys.modules.values()):
            d = getattr(mod, "__dict__", None)
            if not isinstance(d, dict) or not (mod.__name__.startswith("gridstudy") or mod is tomllib):
                continue
            for attr, val in list(d.items()):
                if val is fn:
                    monkeypatch.setattr(mod, attr, wrapper)
    return counts


def _scenarios(path: Path) -> int:
    return len(tomllib.loads(path.read_text()).get("scenarios", []))


@pytest.mark.slow  # the demo study, on a short horizon, with its report (tens of seconds)
def test_run_on_the_demo_parses_the_file_once(tmp_path, monkeypatch):
    # the demo's every section and scenario, on a short horizon: what is counted is how often the
    # file is read and parsed, which does not depend on how much the study computes
    demo = tmp_path / "demo.toml"
    demo.write_text(shorten((ROOT / "examples" / "demo.toml").read_text(encoding="utf-8")), encoding="utf-8")
    n_alt = _scenarios(demo)
    assert n_alt >= 1  # the demo has alternatives: each is one more study description
    counts = _count(monkeypatch)
    assert main(["run", str(demo), "--out", str(tmp_path / "out")]) in (0, 1)  # 1: a failing verdict, written
    assert (tmp_path / "out" / "summary.json").is_file()
    # the study file and its site file, once each; and the report's one read of the copy saved in the
    # output folder (the report is rendered from the saved folder alone, for its parameter tables)
    assert counts["tomllib.loads"] == 3
    assert counts["parse_interconnection"] == 1
    assert counts["parse_study"] == 1 + n_alt
    assert counts["resolve_study"] == 1 + n_alt
    assert counts["site_spec_from_raw"] == 1 and counts["load_site_spec"] == 0  # the site read with the file


@pytest.mark.slow  # a sizing search (tens of seconds)
def test_size_parses_the_file_once(tmp_path, monkeypatch):
    example = ROOT / "examples" / "sizing.toml"
    counts = _count(monkeypatch)
    assert main(["size", str(example), "--out", str(tmp_path / "out")]) in (0, 1)
    assert (tmp_path / "out" / "sizing.json").is_file()
    assert counts["tomllib.loads"] == 2
    assert counts["parse_interconnection"] == 1
    assert counts["parse_study"] == 1 + _scenarios(example)
    assert counts["resolve_study"] == 1 + _scenarios(example)  # every design is made from the parsed [battery]
    assert counts["site_spec_from_raw"] == 1 and counts["load_site_spec"] == 0
