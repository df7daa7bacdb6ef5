"""``gridstudy sweep STUDY.toml --out DIR``: the scenarios of the study's ``[sweep]``, on a local
pool or a Dask cluster.

Exit codes: 0 at least one scenario ran to its result; 1 every scenario ended in an error (the
table is written, each row's ``error`` says why); 2 bad input (every problem listed, nothing
written; the sweep's values are validated with the file, before any scenario runs).
"""

from __future__ import annotations

import argparse
import sys

from gridstudy.studies.scale.sweep import run_sweep

__all__ = ["register"]


def _cmd_sweep(args: argparse.Namespace) -> int:
    res = run_sweep(args.study, args.out, workers=args.workers, scheduler=args.scheduler,
                    dask_local=args.dask_local, retry_failed=args.retry_failed, quiet=args.quiet)
    print(f"{res['scenarios']} scenarios: {res['evaluated']} run, {res['reused']} reused from {args.out}/scenarios; "
          f"{res['passed']} pass, {res['failed']} with errors; {res['runtime_s']:.1f} s")
    if res["scenarios"] and res["failed"] == res["scenarios"]:  # no result at all: not a success
        print(f"error: every scenario ended in an error; the error column of {args.out}/sweep.parquet says why",
              file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``sweep`` subcommand to ``sub``."""
    w = sub.add_parser("sweep", help="run the scenarios of the study's [sweep] (local pool or Dask)")
    w.add_argument("study", help="study TOML with a [sweep] section")
    w.add_argument("--out", required=True, help="output folder (sweep.parquet, sweep.png, scenarios/)")
    where = w.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask scheduler (tcp://host:8786)")
    where.add_argument("--dask-local", type=int, metavar="N", help="run on a Dask LocalCluster of N workers")
    w.add_argument("--workers", type=int, help="processes of the local pool (default: [sweep] workers)")
    w.add_argument("--retry-failed", action="store_true", help="re-run stored scenarios that ended in an error")
    w.add_argument("--quiet", action="store_true", help="no progress output")
    w.set_defaults(func=_cmd_sweep)
