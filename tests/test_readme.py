"""Every command the README shows works as written, on a short horizon.

The README's shell lines (``.venv/bin/...``) and its Python example are read from the file itself,
so a command that changes there is tested as changed. Each runs in a scratch folder holding copies
of ``examples/``, ``benchmarks/`` and ``grid/sites/`` whose study horizons are cut to a few minutes
(and sag events to 4 s, benchmark sizes to a few hundred steps; scripted campus events move
into the short horizon, which must hold them): the command lines are the
README's, only the amount of work is smaller.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from short_studies import shorten

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent

#: Smaller sizes for the benchmark scripts (same options, less work): steps, days and hours of a day.
BENCH_OPTIONS = {"--steps": "400", "--pp-steps": "20", "--days": "0.01", "--hours": "1"}
#: Options added to a benchmark script's line: n1_scale.py on its smallest case only (every case
#: runs the same stage; the PEGASE case's study is the README's own ``run`` of its example).
BENCH_EXTRA = {"n1_scale.py": ["--cases", "memphis-161kv"]}


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def readme_commands() -> list[str]:
    """The README's shell command lines (without their trailing comments)."""
    out = []
    for block in _blocks("sh"):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith(".venv/bin/"):
                out.append(line)
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", d / "examples")
    shutil.copytree(ROOT / "benchmarks", d / "benchmarks")
    shutil.copytree(ROOT / "grid" / "sites", d / "grid" / "sites")
    # the files the README runs with pandapower's time series (``--engine reference``)
    reference = {Path(shlex.split(c)[2]).name for c in readme_commands() if "--engine reference" in c}
    for p in (d / "examples").glob("*.toml"):
        text = p.read_text(encoding="utf-8")
        if text.lstrip().startswith("[study]") or "\n[study]" in text:
            p.write_text(shorten(text, reference_engine=p.name in reference), encoding="utf-8")
    return d


def _argv(line: str) -> list[str]:
    argv = shlex.split(line)
    exe = argv[0].replace(".venv/bin/", "")
    argv[0] = str(BIN / exe)
    for k, v in BENCH_OPTIONS.items():
        if k in argv:
            argv[argv.index(k) + 1] = v
    if len(argv) > 1:
        argv += BENCH_EXTRA.get(Path(argv[1]).name, [])
    return argv


def test_readme_lists_every_command():
    cmds = readme_commands()
    names = {shlex.split(c)[1] if "gridstudy" in c else Path(shlex.split(c)[1]).name for c in cmds}
    # every sub-command a user reads about, and both benchmarks
    assert {"run", "report", "profile", "qsts", "size", "sweep", "sites", "check", "qsts_speed.py",
            "qsts_year.py"} <= names, names


def _report_source(line: str) -> str | None:
    """The README's ``run ... --out DIR`` whose folder the ``report DIR`` line re-renders, if any."""
    if " report " not in f" {line} ":
        return None
    out = shlex.split(line)[-1]
    return next(c for c in readme_commands() if " run " in c and c.split("--out")[1].split()[0] == out)


def _params() -> list:
    # a `report DIR` line and the `run` that writes DIR go to one worker (pytest-xdist's loadgroup),
    # in the README's order, so the report re-renders the folder that run wrote rather than
    # running the study a second time
    pairs = {src: line for line in readme_commands() if (src := _report_source(line))}
    groups = {**{src: src for src in pairs}, **{rep: src for src, rep in pairs.items()}}
    return [pytest.param(line, marks=pytest.mark.xdist_group(groups[line])) if line in groups else line
            for line in readme_commands()]


@pytest.mark.slow
@pytest.mark.parametrize("line", _params())
def test_readme_command_runs(line, workdir):
    run = _report_source(line)
    if run is not None and not (workdir / shlex.split(line)[-1] / "summary.json").is_file():
        # `report DIR` re-renders a run's folder: the README's own `run ... --out DIR` comes first
        # (when the run's own test has not written it on this worker already)
        first = subprocess.run(_argv(run) + ["--quiet"], cwd=workdir, capture_output=True, text=True, timeout=600)
        assert first.returncode == 0, first.stdout + first.stderr
    proc = subprocess.run(_argv(line), cwd=workdir, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{line}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_readme_python_example_runs(workdir):
    block = next(b for b in _blocks("python") if "gridstudy.Study" in b)
    proc = subprocess.run([sys.executable, "-c", block], cwd=workdir, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = workdir / "out" / "demo"
    # the example saves the result and renders the report from the saved folder
    for name in ("summary.json", "findings.parquet", "site.json", "report.html"):
        assert (out / name).is_file(), name
