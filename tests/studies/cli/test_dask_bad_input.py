"""Bad Dask options of ``run`` and ``sweep``: a worker count below 1 is bad input (exit 2), a
scheduler that does not answer is the environment (exit 3); either way the message names the
option or the address, and nothing is written."""

from __future__ import annotations

import socket

import pytest

import gridstudy.studies.cluster as cluster

STUDY = """
[study]
name = "tiny"
site = "memphis-161kv"
duration = "1min"
seed = 1
[sag]
enabled = false
[fluctuation]
enabled = false
[sweep.parameters]
"battery.soc_min_percent" = [5.0, 10.0]
"""


def _study(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(STUDY)
    return f


@pytest.mark.parametrize("command", ["run", "sweep"])
@pytest.mark.parametrize("n", [0, -2])
def test_zero_or_negative_dask_workers_exit_2(tmp_path, cli, command, n):
    out = tmp_path / "out"
    code, _, err = cli(command, _study(tmp_path), "--out", out, "--dask-local", n, "--quiet")
    assert code == 2, err
    assert "--dask-local" in err and str(n) in err and "at least 1" in err
    assert "Traceback" not in err
    assert not out.exists()


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, read and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_unreachable_scheduler_exits_3_naming_it_and_writes_nothing(tmp_path, cli, monkeypatch, command):
    pytest.importorskip("distributed")
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)  # a refused port: no need to wait 5 s
    address = f"tcp://127.0.0.1:{_closed_port()}"
    out = tmp_path / "out"
    code, _, err = cli(command, _study(tmp_path), "--out", out, "--scheduler", address, "--quiet")
    assert code == 3, err
    assert address in err and "cannot reach the Dask scheduler" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_a_run_without_n1_starts_no_dask_client(tmp_path, cli, monkeypatch):
    # --no-contingencies: nothing would go to Dask, so no cluster is started (one that would be is
    # refused here) and the run says so
    import gridstudy.studies.cli.run_study as run_study

    def refuse(*args, **kwargs):
        raise AssertionError("a Dask client was started for a run without N-1")

    monkeypatch.setattr(run_study, "dask_client", refuse)
    out = tmp_path / "out"
    code, text, err = cli("run", _study(tmp_path), "--out", out, "--dask-local", 2, "--no-contingencies",
                          "--no-report")
    assert code in (0, 1), err  # 1: a failing verdict, written
    assert "N-1 is not run: no Dask client started" in text
    assert (out / "summary.json").is_file()
