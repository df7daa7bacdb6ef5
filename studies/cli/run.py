"""``gridstudy run STUDY.toml --out DIR``: the whole interconnection study, its results and report.

``run`` is a thin client of :class:`gridstudy.studies.study.Study`. ``--dask-local N`` /
``--scheduler ADDRESS`` run the N-1 (outage x window x scenario) tasks on Dask, like ``sweep``.
Exit codes as every command: 0 done, 1 a power flow did not converge (the results are written),
2 bad input (a Dask worker count below 1 included), 3 the environment (a scheduler that cannot
be reached: named, nothing written).
"""

from __future__ import annotations

import argparse

from gridstudy.studies.cli.run_study import run_study, summary_line
from gridstudy.studies.errors import EXIT_NONCONVERGED

__all__ = ["register"]


def _cmd_run(args: argparse.Namespace) -> int:
    summary = run_study(args.study, args.out, engine=args.engine, contingencies=not args.no_contingencies,
                        sag=not args.no_sag, quiet=args.quiet, report=not args.no_report, scheduler=args.scheduler,
                        dask_local=args.dask_local)
    print(f"{summary['study']} on {summary['site']}: written to {args.out}")
    print(summary_line(summary))
    for w in summary.get("warnings") or []:
        print(f"warning: {w}")
    if any(s["nonconverged_steps"] for s in summary["scenarios"].values()):
        print("note: some power flows did not converge (voltage collapse); see summary.json")
        return EXIT_NONCONVERGED
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``run`` subcommand to ``sub``."""
    r = sub.add_parser("run", help="run the whole interconnection study and write results and report")
    r.add_argument("study", help="study TOML file")
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--engine", choices=("fast", "reference"), default="fast")
    r.add_argument("--no-contingencies", action="store_true", help="skip N-1 over time")
    where = r.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run the N-1 tasks on an existing Dask scheduler (tcp://host:8786)")
    where.add_argument("--dask-local", type=int, metavar="N", help="run the N-1 tasks on a Dask LocalCluster of N workers")
    r.add_argument("--no-sag", action="store_true", help="skip the sag-mitigation events")
    r.add_argument("--no-report", action="store_true", help="do not render the HTML/PDF report")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.set_defaults(func=_cmd_run)
