"""``run_study(path, out_dir)``: the interconnection study of a file, saved with its report.

A thin client of :class:`gridstudy.studies.study.Study`: the file is validated whole first (every
problem at once, nothing written on bad input), the output folder is locked, the study runs
(scenarios side by side, N-1 over the worst window, sag events), the results and the report
rendered from them are written into a staging folder, which replaces the output folder whole with
its completion marker (:mod:`gridstudy.studies.output.folder`).
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path
from typing import Any

from gridstudy.grid.errors import InputError
from gridstudy.studies.cluster import dask_client, dask_target_problems
from gridstudy.studies.export.case import export_case, write_files
from gridstudy.studies.io import to_jsonable
from gridstudy.studies.output.folder import fault_point, output_folder
from gridstudy.studies.spec.scale import load_scale_study
from gridstudy.studies.stages.dynamics import require_andes
from gridstudy.studies.study import Study

__all__ = ["run_study", "summary_line"]


def run_study(path: str | Path, out_dir: str | Path, engine: str = "fast", contingencies: bool = True,
              sag: bool = True, quiet: bool = False, report: bool = True, *, scheduler: str | None = None,
              dask_local: int | None = None) -> dict[str, Any]:
    """Run the whole study of ``path`` into ``out_dir``; return the summary (also ``summary.json``).

    ``scheduler`` (an existing Dask scheduler's address) or ``dask_local`` (a ``LocalCluster`` of
    that many workers) runs the N-1 tasks on Dask (:mod:`gridstudy.studies.cluster`); the client is
    connected before anything is written (an unreachable scheduler: ``SchedulerUnreachable``)."""

    problems = dask_target_problems(scheduler, dask_local)
    if problems:
        raise InputError(problems)
    sf = load_scale_study(path)  # raises StudyError before anything is written
    study = Study.from_study_file(sf)
    ex = sf.ic.export
    if sf.ic.dynamics.enabled:  # exit 3 naming the extra, before anything is written
        require_andes()
    say = None if quiet else (lambda line: print(line, flush=True))
    on_dask = scheduler is not None or dask_local is not None
    runs_n1 = contingencies and sf.ic.contingencies.enabled
    if on_dask and not runs_n1 and say is not None:
        say("N-1 is not run: no Dask client started")
    dask: AbstractContextManager[tuple[Any, str] | None] = (
        dask_client(scheduler, dask_local) if on_dask and runs_n1 else nullcontext())
    # the scheduler reached (or the cluster started) before the output folder is touched, and let go
    # once the study has run (not held through the writing and the report); the folder locked before
    # the computation; results and report staged, moved into place together
    with ExitStack() as on_cluster:
        where = on_cluster.enter_context(dask)
        with output_folder(out_dir, "run") as stage:
            if where is not None and say is not None:
                say(f"N-1 tasks on {where[1]}")
            result = study.run(engine, contingencies=contingencies, sag=sag, quiet=quiet, say=say,
                               client=where[0] if where is not None else None)
            on_cluster.close()
            result.write(stage)
            if ex.enabled:  # the case for another tool, beside the results ([export])
                write_files(export_case(study, at=ex.at, scenario=ex.scenario, engine=engine, field="export.at"),
                            stage / "export")
            fault_point("results")
            if report:
                try:
                    from gridstudy.studies.report.render import render_report  # the optional report extra
                except ModuleNotFoundError:  # the report extra is not installed
                    pass
                else:
                    render_report(stage)
    summary: dict[str, Any] = to_jsonable(result.summary)  # a dict of Any matches every overload: Any
    return summary


def summary_line(summary: dict[str, Any]) -> str:
    """The verdicts of a summary, one line per scenario, then N-1 and the run time."""
    parts = []
    for name, s in summary["scenarios"].items():
        verdict = "PASS" if s["pass"] else "FAIL (" + ", ".join(s["failed"]) + ")"
        parts.append(f"  {name}: {verdict}")
    n1 = summary.get("contingencies", [])
    if n1:
        bad = [c for c in n1 if not c["pass"]]
        parts.append(f"  N-1: {len(n1) - len(bad)}/{len(n1)} outage cases pass")
    cap = (summary.get("plant_capability") or {}).get("corners") or []
    if cap:
        ok = sum(bool(r["pass"]) for r in cap)
        parts.append(f"  plant full capability: {ok}/{len(cap)} corner states pass"
                     + ("" if ok == len(cap) else " (fails the overall verdict)"))
    rt = summary.get("runtime_s")
    return "\n".join(parts) + (f"\n  runtime {rt:.1f} s" if isinstance(rt, (int, float)) and math.isfinite(rt) else "")
