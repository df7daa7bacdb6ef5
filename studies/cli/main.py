"""The ``gridstudy`` command line.

Exit codes (one place, :func:`main`, maps what went wrong to them):

0
    success.
1
    a power flow did not converge (a finding, reported plainly: voltage collapse); the results
    are written where the study ran, or the study stopped at its base case with nothing run.
    Likewise a negative outcome of a search: ``size`` found no passing design, or every scenario
    of a ``sweep`` ended in an error (its table, written, holds each error).
2
    bad input: every problem listed, one per line, with its field path and value; no traceback,
    nothing written. This includes a folder given to ``report`` that is not a complete output or
    whose files are invalid, a study whose estimated memory or run time exceeds the limits
    (``--force``, ``--max-memory-gb`` lift them) and a study file naming files outside its folder
    (``--allow-outside-paths`` allows it).
3
    environment: the output folder is in use by another run, not writable, full, or holds other
    files; a file cannot be read or written for a reason of the system; one line, no traceback.
    The output folder is checked before the computation.
4
    an unexpected error inside the package (a bug): the traceback is printed.
130
    interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence

from gridstudy.grid.basecase import check_site
from gridstudy.grid.errors import InputError, Problem, non_finite_problems
from gridstudy.grid.reference import load_site, reference_sites
from gridstudy.grid.spec import SiteSpec, load_site_spec
from gridstudy.studies.errors import (
    EXIT_BAD_INPUT,
    EXIT_ENVIRONMENT,
    EXIT_INTERNAL,
    EXIT_NONCONVERGED,
    EXIT_OK,
    NotConvergedError,
)
from gridstudy.studies.io import write_json
from gridstudy.studies.output.folder import OutputFolderError
from gridstudy.studies.spec.limits import RunPolicy, use_policy

__all__ = ["main", "build_parser"]



def _cmd_sites(args: argparse.Namespace) -> int:

    sites = reference_sites()
    if args.names:
        print("\n".join(sites))
        return EXIT_OK
    rows = []
    for name, path in sites.items():
        spec = load_site_spec(path)
        bat = spec.battery
        rows.append((name, _poi_kv(spec), f"{spec.campus.p_mw:g}",
                     f"{bat.units} x {bat.model}" if bat else "-", spec.strength or "", spec.description))
    head = ("site", "POI", "campus MW", "battery", "strength", "description")
    _print_table(head, rows)
    return EXIT_OK


def _poi_kv(spec: SiteSpec) -> str:
    for b in spec.buses:
        if b.name == spec.poi:
            return f"{b.vn_kv:g} kV"
    return "?"


def _print_table(head: Sequence[object], rows: Sequence[Sequence[object]]) -> None:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths)))
    for r in rows:
        print(line.format(*map(str, r)))


def _fmt(v: object, spec: str = ".4f") -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else format(v, spec)
    return str(v)


def _cmd_check(args: argparse.Namespace) -> int:

    site = load_site(args.site, poi=args.poi, campus_p_mw=args.campus_mw,
                     battery_model=args.battery_model, battery_units=args.battery_units or 0) \
        if _is_network(args.site) else load_site(args.site)
    res = check_site(site)
    rows = [
        ("site", res["site"], ""),
        ("POI bus", f"{res['poi_bus']} ({res['poi_vn_kv']:g} kV)", ""),
        ("campus peak", _fmt(res["campus_p_mw"], ".1f"), "MW"),
        ("battery", f"{_fmt(res['battery_p_mw'], '.1f')} MW / {_fmt(res['battery_e_mwh'], '.0f')} MWh", ""),
        ("power flow converged", res["converged"], ""),
        ("POI voltage", _fmt(res["poi_vm_pu"]), "pu"),
        ("min bus voltage", f"{_fmt(res['min_vm_pu'])} ({res['min_vm_bus']})", "pu"),
        ("max bus voltage", f"{_fmt(res['max_vm_pu'])} ({res['max_vm_bus']})", "pu"),
        ("max branch loading", f"{_fmt(res['max_loading_percent'], '.1f')} ({res['max_loading_element']})", "%"),
        ("slack import", f"{_fmt(res['slack_p_mw'], '.2f')} MW, {_fmt(res['slack_q_mvar'], '.2f')} Mvar", ""),
        ("network losses (without the source impedance)", _fmt(res["losses_mw"], ".3f"), "MW"),
        ("fault level at POI (max/min)", f"{_fmt(res['skss_max_mva'], '.0f')} / {_fmt(res['skss_min_mva'], '.0f')}", "MVA"),
        ("breaker duty at POI I\"k max, without battery", _fmt(res.get("ikss_max_ka", math.nan), ".2f"), "kA"),
        (f"breaker duty at POI I\"k max, with battery (k = {_fmt(res.get('battery_sc_k', math.nan), '.2g')})",
         _fmt(res.get("ikss_max_with_battery_ka", math.nan), ".2f"), "kA"),
        ("peak current ip at POI, without / with battery",
         f"{_fmt(res.get('ip_max_ka', math.nan), '.2f')} / {_fmt(res.get('ip_max_with_battery_ka', math.nan), '.2f')}", "kA"),
        ("X/R at POI", _fmt(res["xr"], ".2f"), ""),
        ("SCR (min fault MVA / campus MW)", f"{_fmt(res['scr'], '.2f')} ({res['strength']})", ""),
    ]
    for name, pos in res.get("tap_pos", {}).items():
        rows.append((f"tap {name}", pos, "step"))
    _print_table(("quantity", "value", "unit"), rows)
    if res.get("sc_message"):
        print(f"short circuit not computed: {res['sc_message']}")
    if args.json:
        write_json(args.json, res)
    if not res["converged"]:
        print(f"error: {res['message']}", file=sys.stderr)
        return EXIT_NONCONVERGED
    return EXIT_OK


def _is_network(s: str) -> bool:
    return s.endswith(".json") or s.startswith(("case:", "simbench:"))


def build_parser() -> argparse.ArgumentParser:
    """The ``gridstudy`` argument parser with every subcommand."""
    p = argparse.ArgumentParser(prog="gridstudy", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sites", help="list the built-in reference sites")
    s.add_argument("--names", action="store_true", help="print only the names")
    s.set_defaults(func=_cmd_sites)

    c = sub.add_parser("check", help="base-case power flow and short circuit of a site")
    c.add_argument("site", help="reference site name, site TOML, pandapower JSON, case:NAME or simbench:CODE")
    c.add_argument("--json", help="write the summary to this JSON file")
    c.add_argument("--poi", help="POI bus (index or name) when SITE is a network")
    c.add_argument("--campus-mw", type=float, help="campus peak MW when SITE is a network")
    c.add_argument("--battery-model", default="megapack2xl-2h", help="Megapack preset when SITE is a network")
    c.add_argument("--battery-units", type=int, default=0, help="Megapack units when SITE is a network")
    c.set_defaults(func=_cmd_check)

    for register in _extra_commands():
        register(sub)
    _add_policy_options(sub)
    return p


def _extra_commands() -> list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]]:
    """Sub-commands defined by other modules of the study layer (each has ``register(sub)``)."""

    out = []
    for mod in ("gridstudy.studies.cli.profile", "gridstudy.studies.cli.qsts", "gridstudy.studies.cli.run",
                "gridstudy.studies.cli.report", "gridstudy.studies.cli.size", "gridstudy.studies.cli.sweep",
                "gridstudy.studies.cli.export"):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
            continue
        out.append(m.register)
    return out


def _add_policy_options(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``--force``, ``--max-memory-gb`` and ``--allow-outside-paths`` on every command that reads a
    study file (see :mod:`gridstudy.studies.spec.limits`)."""
    for p in sub.choices.values():
        if not any(a.dest == "study" for a in p._actions):
            continue
        p.add_argument("--force", action="store_true",
                       help="run even where the estimated memory or run time exceeds the limits")
        p.add_argument("--max-memory-gb", type=float, metavar="GB",
                       help="memory the study may use (default: 80%% of this machine's)")
        p.add_argument("--allow-outside-paths", action="store_true",
                       help="let the study file name files outside its own folder")


def _run(args: argparse.Namespace) -> int:
    gb = getattr(args, "max_memory_gb", None)
    if gb is not None:  # an option, judged as a file's field would be: finite and > 0
        bad = non_finite_problems({"--max-memory-gb": gb}) or ([] if gb > 0 else [Problem("--max-memory-gb", "must be > 0", gb)])
        if bad:
            raise InputError(bad)
    pol = RunPolicy(force=getattr(args, "force", False), max_memory_gb=getattr(args, "max_memory_gb", None),
                    allow_outside_paths=getattr(args, "allow_outside_paths", False),
                    engine=getattr(args, "engine", None) or "fast", streams=getattr(args, "streams", False))
    with use_policy(pol), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandapower/pandas internals
        func: Callable[[argparse.Namespace], int] = args.func  # the command's _cmd_* (set_defaults)
        return func(args)


def main(argv: list[str] | None = None) -> int:
    """Run one command; the one place that maps what went wrong to an exit code (module docstring)."""

    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NotConvergedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NONCONVERGED
    except OutputFolderError as exc:  # locked by another run, not writable, not an output folder: exit 3
        print(f"error: {exc.strerror or exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the environment: a disk full, a file gone or unreadable while running
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except MemoryError:
        print("error: out of memory; shorten the horizon or lengthen the step", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except Exception as exc:
        if type(exc).__name__ in ("LoadflowNotConverged", "ControllerNotConverged"):  # pandapower's own
            print(f"error: a power flow did not converge (voltage collapse): {str(exc).splitlines()[0]}",
                  file=sys.stderr)
            return EXIT_NONCONVERGED

        traceback.print_exc()
        print(f"internal error ({type(exc).__name__}): please report it with the input", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
