"""Where many independent tasks run on Dask: an existing scheduler or a ``LocalCluster`` started
for the run.

:func:`dask_client` is the one place that connects a command to Dask, for ``gridstudy sweep``
(:mod:`gridstudy.studies.scale.sweep`) and for the N-1 stage of ``gridstudy run``
(:mod:`gridstudy.studies.stages.contingency`):

- ``scheduler = "tcp://host:8786"``: a client of that scheduler, connected within
  ``connect_timeout_s``; a scheduler that cannot be reached is :class:`SchedulerUnreachable` (an
  :class:`OSError`: exit code 3, the environment), raised before anything is written;
- ``dask_local = N``: a ``LocalCluster`` of ``N`` worker processes of one thread each, closed with
  the client.

:func:`dask_target_problems` refuses zero or negative worker counts (bad input, exit code 2).
Dask does the scheduling and the data movement; a task whose worker is lost is run again on
another (the scheduler's own rule: ``distributed.scheduler.allowed-failures``), and ``retries``
re-runs a task that raised. The workers need this package installed and, for studies that read
files, the same paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from gridstudy.grid.errors import Problem

if TYPE_CHECKING:  # the optional extra [distributed]: imported where a run uses Dask
    from distributed import Client

__all__ = ["SchedulerUnreachable", "dask_client", "dask_target_problems", "CONNECT_TIMEOUT_S"]

#: How long a client waits for a scheduler that does not answer. [s]
CONNECT_TIMEOUT_S = 5.0


class SchedulerUnreachable(OSError):
    """The Dask scheduler named by the command cannot be reached (exit code 3, nothing written)."""

    def __init__(self, address: str, timeout_s: float, why: str) -> None:
        super().__init__(f"cannot reach the Dask scheduler at {address} within {timeout_s:g} s ({why})")
        self.address = address


def dask_target_problems(scheduler: str | None = None, dask_local: int | None = None,
                         workers: int | None = None) -> list[Problem]:
    """The problems of a command's Dask (and local pool) options: a worker count below 1, an empty
    scheduler address, both a scheduler and a local cluster."""
    out: list[Problem] = []
    if dask_local is not None and dask_local < 1:
        out.append(Problem("--dask-local", "the number of Dask workers must be at least 1", dask_local))
    if workers is not None and workers < 1:
        out.append(Problem("--workers", "the number of worker processes must be at least 1", workers))
    if scheduler is not None and not scheduler.strip():
        out.append(Problem("--scheduler", "an empty scheduler address", scheduler))
    if scheduler is not None and dask_local is not None:
        out.append(Problem("--scheduler", "give either a scheduler or --dask-local, not both", scheduler))
    return out


@contextmanager
def dask_client(scheduler: str | None = None, dask_local: int | None = None,
                connect_timeout_s: float | None = None) -> Iterator[tuple[Client, str]]:
    """A Dask client and the words that name it (``"dask scheduler tcp://..."``,
    ``"dask LocalCluster (2 workers)"``), closed (with the cluster it started) on leaving.

    Parameters
    ----------
    scheduler : str, optional
        Address of an existing scheduler.
    dask_local : int, optional
        Worker processes of a ``LocalCluster`` started here (one thread each). [-]
    connect_timeout_s : float, optional
        How long to wait for ``scheduler`` to answer (default :data:`CONNECT_TIMEOUT_S`). [s]

    Raises
    ------
    SchedulerUnreachable
        ``scheduler`` did not answer within ``connect_timeout_s``.
    """
    from distributed import Client, LocalCluster

    assert (scheduler is None) != (dask_local is None), "exactly one of scheduler and dask_local"
    if scheduler is not None:
        timeout = CONNECT_TIMEOUT_S if connect_timeout_s is None else connect_timeout_s
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as exc:  # refused, timed out, no route
            raise SchedulerUnreachable(scheduler, timeout, f"{type(exc).__name__}: {exc}") from None
        except Exception as exc:  # not an address, or something that does not speak Dask's protocol
            # (its first bytes read as a message length: distributed's MemoryError, for one)
            raise SchedulerUnreachable(scheduler, timeout, f"it did not answer as a Dask scheduler: "
                                                           f"{type(exc).__name__}: {exc}") from None
        try:
            yield client, f"dask scheduler {scheduler}"
        finally:
            client.close()
        return
    assert dask_local is not None  # the other of the two
    cluster = LocalCluster(n_workers=int(dask_local), threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        client = Client(cluster)
        try:
            yield client, f"dask LocalCluster ({dask_local} workers)"
        finally:
            client.close()
    finally:
        cluster.close()
