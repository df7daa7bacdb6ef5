"""Worker processes that end with their parent.

:func:`worker_pool` is a :class:`concurrent.futures.ProcessPoolExecutor` whose workers cannot
outlive the process that started them:

- each worker asks the kernel for SIGTERM when its parent ends (Linux ``prctl(PR_SET_PDEATHSIG)``),
  which covers a parent killed with SIGKILL, and leaves at once if the parent is already gone;
- on any exception in the parent (``KeyboardInterrupt`` for SIGINT, ``SystemExit`` for SIGTERM
  under :func:`gridstudy.studies.output.folder.stop_on_signals`) the pool is not waited for: its queued
  tasks are cancelled and its workers terminated (then killed if they do not leave);
- a worker that receives SIGTERM inside a task unwinds it (its ``finally`` blocks and
  ``TemporaryDirectory`` contexts run) and exits; SIGINT is ignored in workers (a Ctrl-C reaches
  the whole process group; the parent decides).

Submit tasks wrapped by :func:`in_worker` (``pool.submit(in_worker, fn, *args)``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["worker_pool", "in_worker", "stop_pool", "die_with_parent"]

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1
_in_task = False


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent ends (Linux); False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        ok: bool = ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
        return ok
    except (OSError, AttributeError):
        return False


def _stop(signum: int, frame: Any) -> None:
    if _in_task:
        raise SystemExit(128 + signum)  # unwind the task, then in_worker leaves
    os._exit(128 + signum)


def _init_worker(parent_pid: int) -> None:
    die_with_parent(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getppid() != parent_pid:  # the parent ended before the kernel could be told
        os._exit(1)


def in_worker(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a pool worker; a SIGTERM during it unwinds it and ends the worker."""
    global _in_task
    try:
        _in_task = True
        try:
            return fn(*args)
        finally:
            _in_task = False
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 1)


def stop_pool(pool: ProcessPoolExecutor, grace_s: float = 5.0) -> None:
    """Cancel what is queued and end every worker now (SIGTERM, then SIGKILL after ``grace_s``)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    if not _ended(procs, grace_s):
        for p in procs:
            if p.is_alive():
                p.kill()
        _ended(procs, grace_s)
    # the executor's manager thread marks the futures of the ended workers (BrokenProcessPool) and
    # exits; waiting for it means every future is settled when this returns, not some time later
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None and manager.is_alive():
        manager.join(grace_s)
    _ended(procs, grace_s)


def _ended(procs: list[Any], timeout_s: float) -> bool:
    """Wait until no process of ``procs`` runs (True), or ``timeout_s`` has passed (False).

    Polls ``is_alive`` rather than calling ``join``: the executor's manager thread reaps the same
    children, and a ``join`` whose ``waitpid`` loses that race returns at once while the process
    still reads as running until the reaping thread has stored its exit code.
    """
    deadline = time.monotonic() + timeout_s
    while any(p.is_alive() for p in procs):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


@contextmanager
def worker_pool(max_workers: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers end with this process (see the module docstring)."""
    pool = ProcessPoolExecutor(max_workers=max_workers, initializer=_init_worker, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown(wait=True)
