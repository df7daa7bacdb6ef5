"""``gridstudy export STUDY --format psse --out DIR [--at TIME]``: the study's case for another tool.

Writes the network at the operating point as PSS/E RAW v33, the dynamic records of the grid
equivalent and the battery plant as DYR, the campus series of the window and a README
(:mod:`gridstudy.studies.export.case`). Exit codes as every command: 0 written, 2 bad input
(a time outside the horizon, an unknown scenario; nothing written).
"""

from __future__ import annotations

import argparse

from gridstudy.studies.export.case import FORMATS, export_case, write_export
from gridstudy.studies.study import Study

__all__ = ["register"]


def _cmd_export(args: argparse.Namespace) -> int:
    study = Study.from_file(args.study)  # raises StudyError before anything is written
    exported = export_case(study, at=args.at, scenario=args.scenario, engine=args.engine)
    write_export(exported, args.out)
    op = exported.point
    print(f"{study.name}: {op.scenario} at {op.time} ({op.reason}) written to {args.out} "
          f"(case.raw, case.dyr, campus.csv, buses.csv, README.md)")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``export`` command to the parser's subcommands."""
    e = sub.add_parser("export", help="write the study case at an operating point as PSS/E RAW v33 + DYR")
    e.add_argument("study", help="study TOML file")
    e.add_argument("--format", choices=FORMATS, default="psse", help="output format (PSS/E RAW v33 + DYR)")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--at", help="operating point: a time of the horizon (default: the worst window's start)")
    e.add_argument("--scenario", help="scenario of the operating point (default: with_battery)")
    e.add_argument("--engine", choices=("fast", "reference"), default="fast")
    e.set_defaults(func=_cmd_export)
