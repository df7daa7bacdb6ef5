"""``gridstudy qsts STUDY.toml --out DIR [--engine fast|reference] [--quiet]``.

A thin client of :class:`gridstudy.studies.study.Study` (:meth:`~gridstudy.studies.study.Study.qsts`):
the study's site as every command builds it (taps settled, storage rated to the plant), then the
quasi-static time series of each scenario, on one engine:

``without_battery``
    the campus profile with the battery idle;
``with_battery``
    the campus profile with the battery dispatched by the study's strategy
    (:func:`gridstudy.models.dispatch.dispatch`, battery P and Q as profiles); a ``volt_var`` reactive mode
    is resolved inside the engine (``Controls.volt_var``) because it depends on the voltage.

Writes ``DIR/<scenario>/`` (:meth:`gridstudy.studies.qsts.results.QSTSResult.save`) and ``DIR/qsts.json``
into a staging folder that replaces ``DIR`` whole once every scenario has run (``DIR`` locked meanwhile;
:mod:`gridstudy.studies.output.folder`). Horizons longer than a day keep 1-minute min/max envelopes of
the per-step series instead of the full series; those over :data:`gridstudy.studies.spec.limits.STREAM_MIN_STEPS`
steps stream on the fast engine and are judged on the way
(:class:`gridstudy.studies.judge.streamed.StreamJudge`: convergence, bus bands, thermal, grid-side
variation, POI power factor), printed and written to ``qsts.json``. Exit 0; 1 when a step did not converge (a finding,
the results are written); 2 on bad input (every problem listed, nothing written).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gridstudy.studies.errors import EXIT_NONCONVERGED
from gridstudy.studies.io import write_json
from gridstudy.studies.output.folder import output_folder
from gridstudy.studies.qsts.inputs import RecordSpec
from gridstudy.studies.spec.limits import FULL_SERIES_MAX_STEPS
from gridstudy.studies.study import Study

__all__ = ["register"]



def _cmd_qsts(args: argparse.Namespace) -> int:

    study = Study.from_file(args.study)
    assert study.index is not None  # Study refuses a study without a horizon
    n = len(study.index)
    record = RecordSpec(envelope_freq=None if n <= FULL_SERIES_MAX_STEPS else "1min")
    with output_folder(args.out, "qsts") as out:  # locked now; moved into place complete
        code = _qsts(study, args, record, out)
    print(f"wrote {args.out}")
    return code


def _qsts(study: Study, args: argparse.Namespace, record: RecordSpec, out: Path) -> int:
    site = study.build_site()
    summary: dict[str, dict[str, Any]] = {}
    nonconverged = False
    # each scenario saved as it finishes and dropped: one scenario's results held at a time
    for name, res in study.qsts_each(args.engine, quiet=args.quiet, record=record, site=site):
        res.save(out / name)
        bs = res.bus_summary
        poi = site.poi_bus
        summary[name] = {
            "steps": len(res.index), "nonconverged_steps": res.nonconverged_steps,
            "poi_vm_min_pu": bs.at[poi, "vm_min_pu"], "poi_vm_max_pu": bs.at[poi, "vm_max_pu"],
            "vm_min_pu": bs["vm_min_pu"].min(), "vm_max_pu": bs["vm_max_pu"].max(),
            "loading_max_percent": res.branch_summary["loading_max_percent"].max() if len(res.branch_summary) else None,
            "tap_operations": {str(k): int(v) for k, v in res.tap_operations.items()},
            "wall_s": res.summary.get("wall_s"),
        }
        nonconverged = nonconverged or bool(res.nonconverged_steps)
        s = summary[name]
        print(f"{name}: {s['steps']} steps, POI {s['poi_vm_min_pu']:.4f}-{s['poi_vm_max_pu']:.4f} pu, "
              f"buses {s['vm_min_pu']:.4f}-{s['vm_max_pu']:.4f} pu, tap moves {sum(s['tap_operations'].values())}, "
              f"non-converged steps {s['nonconverged_steps']}")
        if "criteria" in res.summary:  # a streamed run was judged on the way
            s["criteria"] = res.summary["criteria"]
            for crit, v in s["criteria"].items():
                print(f"  {'PASS' if v['passed'] else 'FAIL'}  {crit}: worst {v['worst_value']:.4g} {v['unit']}")
        del res
    write_json(out / "qsts.json", {"study": str(args.study), "engine": args.engine, "scenarios": summary})
    return EXIT_NONCONVERGED if nonconverged else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``qsts`` sub-command to the ``gridstudy`` parser."""
    p = sub.add_parser("qsts", help="quasi-static time series of a study, without and with battery")
    p.add_argument("study", help="study TOML file")
    p.add_argument("--out", required=True, help="output folder (one sub-folder per scenario)")
    p.add_argument("--engine", choices=("fast", "reference"), default="fast", help="QSTS engine (default: fast)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_qsts, streams=True)  # long horizons stream (Study.qsts): estimated so
