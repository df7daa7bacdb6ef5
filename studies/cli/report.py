"""``gridstudy report DIR``: re-render ``report.html`` and ``report.pdf`` from a saved output folder
alone (the optional ``report`` extra). Exit codes: 0 done, 2 the folder is not a complete output
or its files are invalid.
"""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _cmd_report(args: argparse.Namespace) -> int:
    from gridstudy.studies.report.render import report  # the optional report extra

    html, pdf = report(args.dir, pdf=not args.no_pdf)
    print(f"wrote {html}" + (f" and {pdf}" if pdf else ""))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` subcommand to ``sub``."""
    p = sub.add_parser("report", help="re-render report.html and report.pdf from saved results")
    p.add_argument("dir", help="output folder of a previous `gridstudy run`")
    p.add_argument("--no-pdf", action="store_true")
    p.set_defaults(func=_cmd_report)
