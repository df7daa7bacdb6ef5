"""Output folders are complete or absent; workers end with their parent; same inputs, same bytes.

The folder mechanics (lock, staging, marker, move into place) are driven directly with
:func:`~gridstudy.studies.output.folder.output_folder`; an interruption at an exact point is a forked child
that the ``GRIDSTUDY_FAULT_AFTER`` hook kills with SIGKILL there (no cleanup runs, as for a real
kill). The command-level kills of ``run`` and ``sweep`` are in ``test_faults.py``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from gridstudy.studies.output import folder as outdir
from gridstudy.studies.output.folder import (
    MARKER,
    IncompleteOutputError,
    OutputBusyError,
    OutputFolderError,
    check_complete,
    locked,
    output_folder,
)

# a 10-s study of the feeder site (no sub-second windows): saved and reported in a few seconds
STUDY = """[study]
name = "output folder"
site = "feeder-34.5kv"
duration = "10s"
seed = 5
[battery]
strategy = "smoothing"
[fluctuation]
enabled = false
"""


def _tree(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _write(stage: Path, tag: str) -> None:
    (stage / "scenarios" / tag).mkdir(parents=True)
    (stage / "scenarios" / tag / "a.parquet").write_text(tag)
    (stage / "summary.json").write_text(json.dumps({"tag": tag}))


def _previous(out: Path) -> dict[str, bytes]:
    with output_folder(out, "run") as stage:
        _write(stage, "old")
    return _tree(out)


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


# ---------------------------------------------------------------------------------------- item 5
def test_a_new_run_replaces_the_folder_whole_and_marks_it_complete(tmp_path):
    out = tmp_path / "out"
    _previous(out)
    with output_folder(out, "run") as stage:
        assert stage.parent == out.parent and stage != out  # staged beside the target, same file system
        assert json.loads((out / "summary.json").read_text()) == {"tag": "old"}  # untouched meanwhile
        _write(stage, "new")
    assert sorted(_tree(out)) == [MARKER, "scenarios/new/a.parquet", "summary.json"]  # old scenario gone
    marker = check_complete(out, "run")
    assert marker["files"] == ["scenarios/new/a.parquet", "summary.json"]
    assert _siblings(out) == []  # no staging, old folder or lock file left beside it


def test_an_exception_leaves_the_previous_folder_and_no_staging(tmp_path):
    out = tmp_path / "out"
    before = _previous(out)
    with pytest.raises(RuntimeError), output_folder(out, "run") as stage:
        _write(stage, "new")
        raise RuntimeError("solver trouble")
    assert _tree(out) == before and _siblings(out) == []


@pytest.mark.parametrize("point, exchange", [("locked", True), ("staged", True), ("marked", True),
                                             ("swapped", True), ("moved-old", False)])
def test_a_kill_at_any_point_leaves_the_previous_or_the_new_folder(tmp_path, monkeypatch, point, exchange):
    # the child is killed with SIGKILL at the named point: nothing of its cleanup runs
    out = tmp_path / "out"
    before = _previous(out)
    if not exchange:  # a file system without renameat2(RENAME_EXCHANGE): rename old away, then new in
        monkeypatch.setattr(outdir, "_exchange", lambda a, b: False)
    monkeypatch.setenv("GRIDSTUDY_FAULT_AFTER", point)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            with output_folder(out, "run") as stage:
                _write(stage, "new")
        finally:
            os._exit(0)  # not reached when the hook fires
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    if point == "moved-old":  # between the two renames: no folder at all, never a mixed one
        assert not out.exists()
    else:
        after = _tree(out)
        assert after == before or json.loads(after["summary.json"]) == {"tag": "new"}
        assert (after == before) == (point != "swapped")
        check_complete(out, "run")
    # whatever was left beside it is hidden, readers ignore it, and the next run removes it
    assert all(n.startswith(f".{out.name}.") for n in _siblings(out))
    monkeypatch.delenv("GRIDSTUDY_FAULT_AFTER")
    with output_folder(out, "run") as stage:
        assert point == "swapped" or _tree(out) == before  # a previous folder left aside is put back first
        _write(stage, "third")
    assert _siblings(out) == [] and json.loads((out / "summary.json").read_text()) == {"tag": "third"}


def test_a_second_writer_is_refused_at_once(tmp_path):
    out = tmp_path / "out"
    with locked(out):
        t0 = time.monotonic()
        with pytest.raises(OutputBusyError, match="in use by another gridstudy run"), output_folder(out, "run"):
            pytest.fail("the second writer must not get the folder")
        assert time.monotonic() - t0 < 1.0  # not waited for
    with output_folder(out, "run") as stage:  # free again once released
        _write(stage, "x")
    assert check_complete(out)


def test_a_folder_of_other_files_is_never_replaced(tmp_path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "thesis.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match="no gridstudy command wrote"), output_folder(out, "run"):
        pytest.fail("must be refused before anything runs")
    assert _tree(out) == {"thesis.txt": b"mine"}


def test_cli_exit_codes_of_a_locked_and_of_an_incomplete_folder(tmp_path, cli):
    study = tmp_path / "study.toml"
    study.write_text(STUDY)
    out = tmp_path / "out"
    with locked(out):
        code, _, err = cli("profile", study, "--out", out)
    assert code == 3 and "in use by another gridstudy run" in err and "Traceback" not in err
    assert not out.exists()

    code, _, err = cli("profile", study, "--out", out)
    assert code == 0 and check_complete(out, "profile")["files"] == ["profiles.json", "profiles.parquet"]
    code, _, err = cli("report", out)  # a profile folder is no study result
    assert code == 2 and "not by `gridstudy run`" in err

    half = tmp_path / "half"
    half.mkdir()
    (half / "summary.json").write_text("{}")  # what an interrupted run of an old version left
    code, _, err = cli("report", half)
    assert code == 2 and f"no {MARKER}" in err and "Traceback" not in err
    assert not (half / "report.html").exists()


def test_report_refuses_a_marker_whose_files_are_missing(tmp_path):
    from gridstudy.studies.report.render import report
    from gridstudy.studies.study import Study

    (tmp_path / "study.toml").write_text(STUDY)
    out = tmp_path / "out"
    Study.from_file(tmp_path / "study.toml").run(contingencies=False, sag=False).save(out)
    assert "summary.json" in check_complete(out, "run")["files"]
    (out / "series.parquet").unlink()
    with pytest.raises(IncompleteOutputError, match=r"series\.parquet"):
        report(out, pdf=False)
    assert not (out / "report.html").exists()


# ---------------------------------------------------------------------------------------- item 6
def _sleep_in_tmp(folder: str) -> str:
    import tempfile

    with tempfile.TemporaryDirectory(dir=folder):
        time.sleep(60)
    return "done"


def test_an_interrupted_pool_ends_its_workers_and_their_temporary_folders(tmp_path):
    from gridstudy.studies.workers import in_worker, worker_pool

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt), worker_pool(2) as pool:
        futs = [pool.submit(in_worker, _sleep_in_tmp, str(tmp_path)) for _ in range(2)]
        while len(list(tmp_path.iterdir())) < 2:  # both tasks running
            time.sleep(0.05)
        procs = list(pool._processes.values())
        raise KeyboardInterrupt  # Ctrl-C in the parent
    assert time.monotonic() - t0 < 20  # not waited for (each task sleeps 60 s)
    assert len(procs) == 2 and not any(p.is_alive() for p in procs)
    assert list(tmp_path.iterdir()) == []  # each task unwound its TemporaryDirectory
    assert all(f.cancelled() or f.done() for f in futs)


def test_workers_end_when_their_parent_is_killed(tmp_path):
    # a parent that vanishes (SIGKILL: no handler runs) takes its pool workers with it
    import subprocess
    import sys

    code = """
import os, sys, time
from gridstudy.studies.workers import in_worker, worker_pool
with worker_pool(2) as pool:
    futs = [pool.submit(in_worker, time.sleep, 60) for _ in range(2)]
    time.sleep(0.5)
    print(" ".join(str(p) for p in pool._processes), flush=True)
    time.sleep(60)
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2 and all(Path(f"/proc/{p}").exists() for p in pids)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(p) for p in pids)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_killed_in_process_sweep_leaves_no_temporary_folder_behind(tmp_path, monkeypatch):
    import subprocess

    import gridstudy.studies.scale.sweep as sweep_mod

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()  # a process id that no longer runs
    stale = tmp_path / f"gridstudy-scenario-{dead.pid}-abc"
    live = tmp_path / f"gridstudy-scenario-{os.getpid()}-def"
    for d in (stale, live):
        (d / "site.toml").parent.mkdir()
        (d / "site.toml").write_text("")
    assert sweep_mod.remove_stale_scenario_dirs() == 1
    assert not stale.exists() and live.exists()


# ---------------------------------------------------------------------------------------- item 7
@pytest.mark.slow  # two runs with their PDF (about 10 s each)
def test_two_runs_give_the_same_bytes_but_for_the_run_time(tmp_path, monkeypatch):
    from gridstudy.studies.cli.run_study import run_study

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    (tmp_path / "study.toml").write_text(STUDY)
    trees = []
    for name in ("a", "b"):
        run_study(tmp_path / "study.toml", tmp_path / name, contingencies=False, sag=False, quiet=True)
        trees.append(_tree(tmp_path / name))
    a, b = trees
    assert sorted(a) == sorted(b) and "report.pdf" in a and MARKER in a
    sa, sb = json.loads(a["summary.json"]), json.loads(b["summary.json"])
    same_day = sa["run_date"] == sb["run_date"]  # two runs either side of midnight UTC differ by their date
    if same_day:
        assert a["report.pdf"] == b["report.pdf"]  # byte for byte
    # only the run-time fields differ: the study's runtime_s, each engine run's wall_s (and the run date)
    differ = sorted(k for k in a if a[k] != b[k] and (same_day or not k.startswith("report")))
    assert differ and all(k.endswith("summary.json") for k in differ), differ
    for k in differ:
        ka, kb = json.loads(a[k]), json.loads(b[k])
        assert {f for f in ka if ka[f] != kb[f]} <= {"runtime_s", "wall_s", "run_date"}, k
    # the PDF is dated by the run's date (SOURCE_DATE_EPOCH's when set), not by the clock of the rendering
    from pypdf import PdfReader

    info = PdfReader(tmp_path / "a" / "report.pdf").metadata
    assert info["/CreationDate"].startswith(f"D:{sa['run_date'].replace('-', '')}")
    assert info["/ModDate"] == info["/CreationDate"]


def test_report_date_comes_from_the_inputs(monkeypatch):
    from gridstudy.studies.report.render import report_datetime

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert f"{report_datetime({'start': '2025-07-15T06:30:00'}):%Y-%m-%d %H:%M}" == "2025-07-15 00:00"
    # the run's date where the folder saved it, before the study's start
    assert f"{report_datetime({'start': '2025-07-15T06:30:00', 'run_date': '2026-01-02'}):%Y-%m-%d}" == "2026-01-02"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    assert f"{report_datetime({'start': '2025-07-15T06:30:00'}):%Y-%m-%d %H:%M:%S}" == "2023-11-14 22:13:20"
