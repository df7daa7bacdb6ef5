"""Killing ``gridstudy run`` and ``gridstudy sweep``: the folder is complete or absent, no process survives.

Each case runs ``.venv/bin/gridstudy`` as a subprocess on a short study in its own scratch folder
and stops it at a known point: after its N-1 (or sweep) workers have started (observed in the
process table), or at an exact point named by the ``GRIDSTUDY_FAULT_AFTER`` hook
(:func:`gridstudy.studies.output.folder.fault_point`). Then:

- the output folder is exactly the previous complete result (same files, same bytes), or, for a
  first run, absent; a hidden staging folder may stay beside it, never a mixed folder, and the
  completion marker appears only together with the files it lists (the report among them);
- no process whose command line names the scratch folder survives the killed one (a ``/proc``
  scan: the pool workers are forks of the command and carry its command line).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gridstudy.studies.output.folder import MARKER, check_complete

pytestmark = pytest.mark.slow  # about ten runs of the command line, a few seconds each

BIN = Path(sys.executable).parent / "gridstudy"

# 30 s on the reference 161 kV site; N-1 (8 outages x 2 scenarios) over 10 s in two worker processes
RUN_STUDY = """[study]
name = "fault test"
site = "memphis-161kv"
duration = "30s"
step_s = 1.0
seed = 3

[battery]
strategy = "smoothing"

[battery.smoothing]
tau_s = 60.0

[contingencies]
window = "10s"
workers = 2

[fluctuation]
enabled = false
"""

# two 30-s scenarios on the feeder site
SWEEP_STUDY = """[study]
name = "fault sweep"
site = "feeder-34.5kv"
duration = "30s"
step_s = 1.0
seed = 3

[battery]
units = 3
strategy = "smoothing"

[fluctuation]
enabled = false

[sweep]
workers = 2
scenarios = ["with_battery"]

[sweep.parameters]
"campus.swing_depth" = [0.3, 0.6]
"""


def _start(args: list, cwd: Path, fault: str | None = None, **env: str) -> subprocess.Popen:
    e = {**os.environ, **env}
    e.pop("GRIDSTUDY_FAULT_AFTER", None)
    if fault:
        e["GRIDSTUDY_FAULT_AFTER"] = fault
    return subprocess.Popen([str(BIN), *map(str, args)], cwd=cwd, env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def _naming(text: str) -> list[int]:
    """Live processes (zombies excepted) whose command line contains ``text``."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found.append(int(d.name))
    return found


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
        except OSError:
            continue
    return out


def _wait_for(cond, timeout: float = 90.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _none_survive(folder: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while _naming(str(folder)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _naming(str(folder)) == [], "processes of the killed command survive it"


def _tree(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _leftovers(out: Path) -> list[Path]:
    return [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.staging-")]


def _consistent(out: Path) -> None:
    """The marker is there exactly with every file it lists; a leftover beside it has no marker."""
    if out.exists():
        check_complete(out)
    for p in _leftovers(out):
        assert not (p / MARKER).exists() or (p / "report.pdf").exists()


@pytest.fixture(scope="module")
def previous(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    """A scratch folder with the study and a previous complete result in ``out`` (no N-1, no report)."""
    d = tmp_path_factory.mktemp("faults")
    (d / "study.toml").write_text(RUN_STUDY)
    code, text = _finish(_start(["run", d / "study.toml", "--out", d / "out", "--quiet", "--no-sag",
                                 "--no-contingencies", "--no-report"], d))
    assert code == 0, text
    (d / "out" / "scenarios" / "stale").mkdir()  # not of this study: no run may keep it beside its own
    check_complete(d / "out", "run")
    return d, _tree(d / "out")


def _rerun(d: Path, fault: str | None = None, *args: str) -> subprocess.Popen:
    # absolute paths: the command lines (the workers' too) name the scratch folder
    return _start(["run", d / "study.toml", "--out", d / "out", "--quiet", "--no-sag", *args], d, fault)


def test_sigkill_of_run_during_n1_kills_its_workers_and_keeps_the_previous_result(previous):
    d, before = previous
    proc = _rerun(d)
    _wait_for(lambda: len(_children(proc.pid)) >= 2 or proc.poll() is not None, what="the N-1 workers")
    assert proc.poll() is None, _finish(proc)[1]
    proc.kill()  # no handler runs: the workers must notice on their own
    proc.wait()
    _none_survive(d)
    assert _tree(d / "out") == before
    _consistent(d / "out")


def test_sigterm_of_run_while_a_second_run_is_refused(previous):
    d, before = previous
    first = _rerun(d)
    _wait_for(lambda: len(_children(first.pid)) >= 2 or first.poll() is not None, what="the N-1 workers")
    assert first.poll() is None, _finish(first)[1]
    os.kill(first.pid, signal.SIGSTOP)  # holds the lock while the second one tries
    try:
        code, text = _finish(_start(["run", d / "study.toml", "--out", d / "out", "--quiet"], d), timeout=60)
    finally:
        os.kill(first.pid, signal.SIGTERM)
        os.kill(first.pid, signal.SIGCONT)
    assert code == 3 and "in use by another gridstudy run" in text and "Traceback" not in text
    code, text = _finish(first)
    assert code == 128 + signal.SIGTERM, text
    _none_survive(d)
    assert _leftovers(d / "out") == []  # SIGTERM unwinds: the staging folder is removed
    assert _tree(d / "out") == before


def test_sigkill_of_run_after_its_summary_is_written(previous):
    # the case: summary.json written, report not yet; the folder must not look finished
    d, before = previous
    code, _ = _finish(_rerun(d, "results", "--no-contingencies"))
    assert code == -signal.SIGKILL
    _none_survive(d)
    assert _tree(d / "out") == before
    staged = [p for p in _leftovers(d / "out") if (p / "summary.json").exists()]
    assert staged and not any((p / MARKER).exists() or (p / "report.pdf").exists() for p in staged)
    _consistent(d / "out")


@pytest.fixture
def sweep_dir(tmp_path) -> Path:
    (tmp_path / "sweep.toml").write_text(SWEEP_STUDY)
    (tmp_path / "tmp").mkdir()
    return tmp_path


def _sweep(d: Path, *args: str) -> list:
    return ["sweep", d / "sweep.toml", "--out", d / "out", *args]


def test_sigkill_of_sweep_kills_both_workers(sweep_dir):
    code, text = _finish(_start(_sweep(sweep_dir, "--workers", "2", "--quiet"), sweep_dir, fault="sweep-running"))
    assert code == -signal.SIGKILL, text
    _none_survive(sweep_dir)
    out = sweep_dir / "out"
    assert not (out / MARKER).exists() and not (out / "sweep.parquet").exists()


def test_killed_sweep_resumes_and_completes_atomically(sweep_dir):
    out = sweep_dir / "out"
    code, _ = _finish(_start(_sweep(sweep_dir, "--workers", "1", "--quiet"), sweep_dir, fault="sweep-stored"))
    assert code == -signal.SIGKILL
    assert len(list((out / "scenarios").glob("*.json"))) == 1  # the resumable store keeps what finished
    assert not (out / MARKER).exists() and not list(out.glob("sweep.*"))  # no final file without the marker
    assert _leftovers(out)

    code, text = _finish(_start(_sweep(sweep_dir, "--workers", "1"), sweep_dir))
    assert code == 0, text
    assert "1 run, 1 reused" in text
    files = check_complete(out, "sweep")["files"]
    assert {"sweep.parquet", "sweep.json"} <= set(files) and len([f for f in files if f.startswith("scenarios/")]) == 2
    assert _leftovers(out) == []  # what the killed run left beside it is gone


def test_sigterm_of_in_process_sweep_removes_its_temporary_folder(sweep_dir):
    tmp = sweep_dir / "tmp"
    code, text = _finish(_start(_sweep(sweep_dir, "--workers", "1", "--quiet"), sweep_dir,
                                fault="scenario-running:TERM", TMPDIR=str(tmp)))
    assert code == 128 + signal.SIGTERM, text
    assert list(tmp.glob("gridstudy-scenario-*")) == []
    assert _leftovers(sweep_dir / "out") == []
    _none_survive(sweep_dir)
    assert not (sweep_dir / "out" / MARKER).exists()
