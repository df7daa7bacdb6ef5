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

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent

#: A short horizon for every study file, and a short run of each sag event. [TOML text]
SHORT_DURATION = '"4min"'
SHORT_SAG = ('\n[sag]\nduration_s = 4.0\nevents = [{ name = "sag to 0.85 pu for 0.5 s", kind = "source_sag", '
             'vm_pu = 0.85, duration_s = 0.5 }]\n')
#: One short sub-second window (one minute at 100 ms, no sensitivity): the reference engine runs it
#: too. A file with a grid-forming scenario runs it at 20 ms: its power loop is refused at steps it
#: cannot be advanced at (the demo's at 45 ms and above, studies/setup.py grid_forming_problems).
SHORT_FLUCT = ("[fluctuation]\nstep_s = {step}\nwindow_s = 60.0\nwarmup_s = 5.0\nworst_windows = 1\nevents = false\n"
               "latencies_s = []\ncontrol_modes = false\nperiods_s = []\n\n")
#: Smaller sizes for the benchmark scripts (same options, less work).
BENCH_OPTIONS = {"--steps": "400", "--pp-steps": "20", "--days": "0.01"}


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


def _shorten(text: str) -> str:
    text = re.sub(r'(?m)^duration = ".*"$', f"duration = {SHORT_DURATION}", text)
    text = re.sub(r"(?m)^duration_s = .*$", "duration_s = 240", text)
    text = re.sub(r'(?m)^window = ".*"$', 'window = "all"', text)  # N-1 over the whole short horizon
    text = re.sub(r"(?m)^(job_start_s|trip_at_s) = .*$", r"\1 = 30.0", text)
    text = re.sub(r"(?m)^job_stop_s = .*$", "job_stop_s = 150.0", text)
    text = re.sub(r'(?m)^window = ".*"$', 'window = "1min"', text)  # [contingencies] window
    fluct = SHORT_FLUCT.format(step=0.02 if "grid_forming" in text else 0.1)
    if re.search(r"(?m)^\[fluctuation\]", text):
        text = re.sub(r"(?ms)^\[fluctuation\]\n.*?(?=^\[|\Z)", fluct, text)
    else:
        text = text + "\n" + fluct
    if re.search(r"(?m)^\[sag\]", text):
        return re.sub(r"(?m)^\[sag\]$", SHORT_SAG.strip(), text)
    return text + SHORT_SAG


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", d / "examples")
    shutil.copytree(ROOT / "benchmarks", d / "benchmarks")
    shutil.copytree(ROOT / "grid" / "sites", d / "grid" / "sites")
    for p in (d / "examples").glob("*.toml"):
        text = p.read_text(encoding="utf-8")
        if text.lstrip().startswith("[study]") or "\n[study]" in text:
            p.write_text(_shorten(text), encoding="utf-8")
    return d


def _argv(line: str) -> list[str]:
    argv = shlex.split(line)
    exe = argv[0].replace(".venv/bin/", "")
    argv[0] = str(BIN / exe)
    for k, v in BENCH_OPTIONS.items():
        if k in argv:
            argv[argv.index(k) + 1] = v
    return argv


def test_readme_lists_every_command():
    cmds = readme_commands()
    names = {shlex.split(c)[1] if "gridstudy" in c else Path(shlex.split(c)[1]).name for c in cmds}
    # every sub-command a user reads about, and both benchmarks
    assert {"run", "report", "profile", "qsts", "size", "sweep", "sites", "check", "qsts_speed.py",
            "qsts_year.py"} <= names, names


@pytest.mark.slow
@pytest.mark.parametrize("line", readme_commands())
def test_readme_command_runs(line, workdir):
    if " report " in f" {line} ":
        # `report DIR` re-renders a run's folder: the README's own `run ... --out DIR` comes first
        out = shlex.split(line)[-1]
        run = next(c for c in readme_commands() if " run " in c and c.split("--out")[1].split()[0] == out)
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
