"""``gridstudy size STUDY.toml --out DIR``: the least-cost battery that passes the study.

Exit codes: 0 a passing design was found; 1 no design in the search range passes (the search is
written); 2 bad input (every problem listed, nothing written).
"""

from __future__ import annotations

import argparse

from gridstudy.studies.scale.sizing import size_battery

__all__ = ["register"]


def _cmd_size(args: argparse.Namespace) -> int:

    res = size_battery(args.study, args.out, quiet=args.quiet)
    ch = res["chosen"]
    print(f"{res['study']} on {res['site']}: {res['evaluations']} designs evaluated; written to {args.out}")
    for v in res["monotonicity"]["violations"]:
        print(f"warning: monotonicity violated: {v['combination']}: {v['criterion']} passes at "
              f"{v['passes_at_units']} units, fails at {v['fails_at_units']}")
    if ch is None:
        print("no design in the search range passes every criterion")
        return 1
    params = "".join(f", {k} = {v:g}" for k, v in ch["strategy_parameters"].items())
    print(f"chosen: {ch['units']} x {ch['model']} = {ch['p_mw']:.1f} MW / {ch['e_mwh']:.1f} MWh, "
          f"${ch['cost_usd'] / 1e6:.2f} M ({ch['strategy']}{params})")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``size`` subcommand to ``sub``."""
    s = sub.add_parser("size", help="least-cost battery (units, model, strategy settings) that passes the study")
    s.add_argument("study", help="study TOML (optional [sizing] section)")
    s.add_argument("--out", required=True, help="output folder (sizing.json, sizing.parquet, sizing.png)")
    s.add_argument("--quiet", action="store_true", help="no progress output")
    s.set_defaults(func=_cmd_size)
