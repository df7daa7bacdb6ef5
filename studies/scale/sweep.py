"""Scenario sweeps: the Cartesian product of ``[sweep.parameters]``, run locally or on Dask.

``run_sweep(path, out_dir)`` expands the study file's ``[sweep]`` (:mod:`gridstudy.studies.spec.scale`)
into independent scenarios. Each scenario is a *task description*: the site description (a
mapping, as in a site TOML) and the study file (a mapping) with the swept values applied, plus
the engine and the scenarios to run; never a pickled network. :func:`run_scenario` turns one into
a compact result row (pass, key metrics, ``error``) wherever it runs:

- a local process pool (:mod:`concurrent.futures`, the default; ``workers = 1`` runs in this
  process),
- an existing Dask ``distributed`` cluster (``scheduler = "tcp://host:8786"``), or
- a Dask ``LocalCluster`` of ``dask_local`` worker processes started for the sweep
  (both through :func:`gridstudy.studies.cluster.dask_client`, connected before anything is
  written).

Dask does the scheduling, retries (``retries`` per task, for lost workers) and data movement;
this module only builds the task list and stores what comes back. The workers need this package
installed and, for studies that read files (a trace, a site TOML given by path), the same paths.

A scenario that fails (bad parameter values, solver trouble) is a row with its ``error``; the
others finish. Each result is written as ``DIR/scenarios/<sha256>.json`` (atomically) as soon as
it arrives, where the hash is that of the task description (site, study, engine, scenarios, the
evaluation version): a re-run skips every scenario whose file exists with the same hash, so an
interrupted sweep resumes where it stopped. ``DIR/sweep.parquet`` (one row per scenario, in
product order), ``DIR/sweep.json`` (counts, backend, timing) and ``DIR/sweep.png`` follow: they are
staged and move into place together with the completion marker ``complete.json``, the store
pruned to this sweep's scenarios (:mod:`gridstudy.studies.output.folder`; ``DIR`` is locked while the
sweep runs). Local pool workers end with the sweep (:mod:`gridstudy.studies.workers`).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import as_completed
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from gridstudy.grid.errors import InputError, Problem
from gridstudy.studies.cluster import dask_client, dask_target_problems
from gridstudy.studies.errors import StudyError
from gridstudy.studies.io import text_sha256, to_jsonable, write_json, write_parquet
from gridstudy.studies.output.figure import pyplot, save_png
from gridstudy.studies.output.folder import fault_point, output_folder
from gridstudy.studies.scale.sizing import StudyEvaluator
from gridstudy.studies.spec.scale import METRICS, StudyFile, apply_sweep_value, load_scale_study
from gridstudy.studies.study import Study
from gridstudy.studies.workers import in_worker, worker_pool

if TYPE_CHECKING:  # the optional extra [distributed]: imported where a sweep runs on Dask
    from distributed import Client

__all__ = ["scenario_tasks", "run_scenario", "run_sweep", "value_problems", "scenario_hash", "dumps_toml", "METRICS",
           "EVALUATION_VERSION"]

#: Bumped when what a scenario evaluates changes, so that stored results are not reused.
EVALUATION_VERSION = 1



# -- task descriptions -------------------------------------------------------------------------

def scenario_hash(task: dict[str, Any]) -> str:
    """SHA-256 of a task's content (site, study, engine, scenarios, evaluation version)."""
    content = {k: task[k] for k in ("site", "study", "engine", "scenarios")}
    content["version"] = EVALUATION_VERSION
    trace = ((task["study"].get("campus") or {}).get("trace"))
    if trace:  # a measured trace: its content is part of the scenario
        p = Path(trace if isinstance(trace, str) else trace.get("path", ""))
        p = p if p.is_absolute() else Path(task["base_dir"]) / p
        content["trace_sha256"] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
    return text_sha256(json.dumps(content, sort_keys=True, default=str))


def scenario_tasks(scale: StudyFile) -> list[dict[str, Any]]:
    """One task description per point of the sweep's product, in product order.

    Parameters
    ----------
    scale : StudyFile
        A validated study file with a ``[sweep]`` section.

    Returns
    -------
    list of dict
        ``params`` (path -> value), ``site`` and ``study`` mappings with the values applied,
        ``base_dir``, ``engine``, ``scenarios`` and ``hash``.
    """
    sw = scale.sweep
    assert sw is not None, "needs a [sweep] section (load_scale_study(need='sweep'))"
    names = list(sw.parameters)
    tasks = []
    for values in itertools.product(*sw.parameters.values()):
        study = copy.deepcopy(scale.study_raw)
        site = copy.deepcopy(scale.site_raw)
        params = dict(zip(names, values, strict=True))
        for path, value in params.items():
            apply_sweep_value(study, site, path, value)
        task = {"params": params, "site": site, "study": study, "base_dir": str(scale.path.parent.resolve()),
                "engine": sw.engine, "scenarios": list(sw.scenarios)}
        task["hash"] = scenario_hash(task)
        tasks.append(task)
    return tasks


# -- one scenario, wherever it runs -------------------------------------------------------------

def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        if isinstance(v, float) and not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dumps_toml(d: dict[str, Any], prefix: str = "") -> str:
    """Write a mapping of TOML types (tables, arrays of tables, scalars, arrays) as TOML text."""
    scalars, tables, arrays = [], [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((k, v))
        else:
            scalars.append(f"{_toml_key(k)} = {_toml_value(v)}")
    out = "\n".join(scalars) + ("\n" if scalars else "")
    for k, v in tables:
        name = f"{prefix}{_toml_key(k)}"
        out += f"\n[{name}]\n" + dumps_toml(v, name + ".")
    for k, items in arrays:
        name = f"{prefix}{_toml_key(k)}"
        for item in items:
            out += f"\n[[{name}]]\n" + dumps_toml(item, name + ".")
    return out


_TMP_PREFIX = "gridstudy-scenario-"


def remove_stale_scenario_dirs() -> int:
    """Remove the scenario folders in the temporary folder whose process is gone; return how many."""
    n = 0
    for d in Path(tempfile.gettempdir()).glob(f"{_TMP_PREFIX}*-*"):
        pid = d.name[len(_TMP_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not d.is_dir() or _alive(int(pid)):
            continue
        shutil.rmtree(d, ignore_errors=True)
        n += 1
    return n


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _scenario_scale(task: dict[str, Any], td: str) -> StudyFile:
    """The study file of a scenario, its site description written to ``td`` (a folder that lives as
    long as the scenario)."""
    study = copy.deepcopy(task["study"])
    site_raw = task["site"]
    if site_raw is not None:
        site_path = Path(td) / "site.toml"
        site_path.write_text(dumps_toml(site_raw))
        study.setdefault("study", {})["site"] = str(site_path)
    return StudyFile.from_raw(Path(task["base_dir"]) / "scenario.toml", study, site_raw,
                              site_path if site_raw is not None else None)


def value_problems(scale: StudyFile) -> list[Problem]:
    """Each swept value resolved as its scenarios will resolve it, before any runs: the study file
    with that one value applied (and its site description) through
    :meth:`gridstudy.studies.study.Study.from_study_file`, which also resolves the site, the campus
    sized to it, the plant and the trace (what :func:`gridstudy.studies.scale_spec.parse_scale_study`
    validates of every value and scenario is the files' schema and models). One resolution per
    value, not per scenario. Each problem is ``sweep.parameters.<parameter>`` with the value."""

    sw = scale.sweep
    assert sw is not None, "run_sweep passes a study with [sweep]"
    out: list[Problem] = []
    for k, values in sw.parameters.items():
        for v in values:
            study, site = copy.deepcopy(scale.study_raw), copy.deepcopy(scale.site_raw)
            apply_sweep_value(study, site, k, v)
            task = {"study": study, "site": site, "base_dir": str(scale.path.parent.resolve())}
            with tempfile.TemporaryDirectory(prefix=f"{_TMP_PREFIX}{os.getpid()}-") as td:
                try:
                    Study.from_study_file(_scenario_scale(task, td))
                except InputError as exc:
                    out += [Problem(f"sweep.parameters.{k}", f"{q.path}: {q.message}", v) for q in exc.problems]
    return out


def _evaluate(task: dict[str, Any]) -> dict[str, Any]:

    row: dict[str, Any] = {}
    # named after this process, so that a folder a killed process left can be told and removed
    with tempfile.TemporaryDirectory(prefix=f"{_TMP_PREFIX}{os.getpid()}-") as td:
        fault_point("scenario-running")
        scale = _scenario_scale(task, td)
        ev = StudyEvaluator(scale, engine=task["engine"])
        primary = "with_battery" if "with_battery" in task["scenarios"] else task["scenarios"][0]
        row["campus_peak_mw"] = float(ev.campus["campus_p_mw"].max())
        plant = ev.plant
        row["battery_p_mw"] = float(plant.p_max_mw) if plant is not None else 0.0
        row["battery_e_mwh"] = float(plant.e_max_mwh) if plant is not None else 0.0
        for name in task["scenarios"]:
            summ = ev.scenario(name)
            pre = "" if name == primary else f"{name}|"
            row[f"{pre}pass"] = bool(summ["pass"])
            row.update({f"{pre}{m}": summ[m] for m in METRICS})
            row[f"{pre}failed"] = "; ".join(summ["failed"])
    return row


def run_scenario(task: dict[str, Any]) -> dict[str, Any]:
    """Run one scenario description; never raises on bad parameters or solver trouble.

    Parameters
    ----------
    task : dict
        A description from :func:`scenario_tasks`.

    Returns
    -------
    dict
        ``hash``, the parameters, ``pass``, the key metrics (:data:`METRICS`), ``failed``
        criteria, ``error`` (empty when the run completed) and ``runtime_s``. [s]
    """
    t0 = time.perf_counter()
    row: dict[str, Any] = {"hash": task["hash"], **task["params"]}
    try:
        row.update(_evaluate(task))
        row["error"] = ""
    except Exception as exc:  # a failed scenario is a row of the table, not a crash of the sweep
        row["pass"] = False
        row["error"] = f"{type(exc).__name__}: " + " | ".join(str(exc).splitlines())
    row["runtime_s"] = time.perf_counter() - t0
    return row


# -- execution backends ---------------------------------------------------------------------------

def _local(tasks: list[dict[str, Any]], workers: int) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
    if workers <= 1 or len(tasks) <= 1:
        for t in tasks:
            yield t, run_scenario(t)
        return


    # workers end with this process: killed, interrupted or failing, it leaves no orphan behind
    with worker_pool(min(workers, len(tasks))) as pool:
        futs = {pool.submit(in_worker, run_scenario, t): t for t in tasks}
        fault_point("sweep-running")
        for f in as_completed(futs):
            t = futs[f]
            try:
                yield t, f.result()
            except Exception as exc:  # a worker process died: reported, not stored
                yield t, _lost(t, exc)


def _lost(task: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    return {"hash": task["hash"], **task["params"], "pass": False,
            "error": f"task lost: {type(exc).__name__}: {exc}", "runtime_s": math.nan, "_lost": True}


def _dask(tasks: list[dict[str, Any]], client: Client,
          retries: int) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
    from distributed import as_completed

    keys = [f"gridstudy-scenario-{t['hash'][:20]}" for t in tasks]
    futs = client.map(run_scenario, tasks, key=keys, retries=retries, pure=False)
    by_key = {f.key: t for f, t in zip(futs, tasks, strict=True)}
    for f in as_completed(futs):
        t = by_key[f.key]
        try:
            yield t, f.result()
        except Exception as exc:
            yield t, _lost(t, exc)


# -- the sweep ---------------------------------------------------------------------------------

def _stored(path: Path, h: str) -> dict[str, Any] | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) and d.get("hash") == h and "row" in d else None


def run_sweep(path: str | Path, out_dir: str | Path, *, workers: int | None = None, scheduler: str | None = None,
              dask_local: int | None = None, client: Client | None = None, retries: int = 1,
              retry_failed: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Run every scenario of a study file's ``[sweep]`` and write the table and figure.

    Parameters
    ----------
    path : str or Path
        Study TOML with a ``[sweep]`` section.
    out_dir : str or Path
        Output folder (``sweep.parquet``, ``sweep.json``, ``sweep.png``, ``scenarios/``).
    workers : int, optional
        Processes of the local pool (default: ``[sweep] workers``); 1 runs in this process. [-]
    scheduler : str, optional
        Address of an existing Dask scheduler.
    dask_local : int, optional
        Start a Dask ``LocalCluster`` of this many worker processes. [-]
    client : distributed.Client, optional
        An existing Dask client (takes precedence over ``scheduler``/``dask_local``).
    retries : int
        Dask retries of a task whose worker was lost. [-]
    retry_failed : bool
        Re-run stored scenarios whose row has an error.
    quiet : bool
        No progress lines.

    Returns
    -------
    dict
        ``scenarios``, ``evaluated``, ``reused``, ``failed`` (rows with an error), ``passed``,
        ``backend``, ``runtime_s`` [s] and ``table`` (the rows).

    Raises
    ------
    StudyError
        Bad input, every problem listed; nothing is written.
    OutputFolderError
        ``out_dir`` is locked by another run, not writable, or holds other files (before any scenario runs).
    """

    t0 = time.perf_counter()

    bad = dask_target_problems(scheduler if client is None else None, dask_local if client is None else None, workers)
    if bad:
        raise StudyError(bad, source=str(path))
    scale = load_scale_study(path, need="sweep")  # every swept value validated with the file
    sw = scale.sweep
    assert sw is not None, "load_scale_study(need='sweep') refuses a file without [sweep]"
    Study.from_study_file(scale)  # the file's own site, trace and horizon resolved: refused before any scenario runs
    problems = value_problems(scale)
    if problems:
        raise StudyError(problems, source=str(path))
    tasks = scenario_tasks(scale)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    remove_stale_scenario_dirs()  # what a killed in-process sweep left in the temporary folder
    dask: AbstractContextManager[tuple[Client, str] | None] = nullcontext()
    if client is not None:
        dask = nullcontext((client, f"dask ({getattr(client, 'scheduler', None) and client.scheduler.address})"))  # type: ignore[union-attr]  # guarded: scheduler is set
    elif scheduler is not None or dask_local is not None:
        dask = dask_client(scheduler, dask_local)
    # the scheduler reached (or the cluster started) before anything is written; locked now;
    # sweep.parquet/json/png are staged and move into place with the marker; the resumable
    # scenarios/ store is written into the output folder as results arrive
    with dask as where, output_folder(out_dir, "sweep") as stage:
        return _sweep(scale, tasks, Path(out_dir), stage, t0, say, workers=workers, where=where,
                      retries=retries, retry_failed=retry_failed)


def _sweep(scale: StudyFile, tasks: list[dict[str, Any]], out: Path, stage: Path, t0: float,
           say: Callable[..., None], *, workers: int | None, where: tuple[Client, str] | None, retries: int,
           retry_failed: bool) -> dict[str, Any]:
    sw = scale.sweep
    assert sw is not None, "run_sweep passes a study with [sweep]"
    store = out / "scenarios"
    rows: dict[str, dict[str, Any]] = {}
    pending = []
    for t in tasks:
        d = _stored(store / f"{t['hash']}.json", t["hash"])
        if d is not None and not (retry_failed and d["row"].get("error")):
            rows[t["hash"]] = d["row"]
        else:
            pending.append(t)
    reused = len(rows)
    client = where[0] if where is not None else None
    if where is not None:
        backend = where[1]
    else:
        n = workers if workers is not None else sw.workers
        backend = f"local pool ({n} workers)" if n > 1 else "in process"
    say(f"sweep: {len(tasks)} scenarios ({reused} stored, {len(pending)} to run) on {backend}")
    evaluated = 0
    t_run = time.perf_counter()
    it: Any = None
    try:
        it = _dask(pending, client, retries) if client is not None else _local(
            pending, workers if workers is not None else sw.workers)
        for t, row in it:
            evaluated += 1
            lost = row.pop("_lost", False)
            rows[t["hash"]] = row
            if not lost:
                write_json(store / f"{t['hash']}.json", {"hash": t["hash"], "params": t["params"], "row": row})
                fault_point("sweep-stored")
            say(f"  [{evaluated}/{len(pending)}] " + ", ".join(f"{k}={v}" for k, v in t["params"].items())
                + (": PASS" if row.get("pass") else ": FAIL") + (f" (error: {row['error']})" if row.get("error") else ""))
    finally:
        if it is not None:
            it.close()  # now, not when the traceback goes: stops the pool's workers on an exception
    run_s = time.perf_counter() - t_run
    table = pd.DataFrame([{**{k: rows[t["hash"]].get(k, t["params"][k]) for k in t["params"]},
                           **{k: v for k, v in rows[t["hash"]].items() if k not in t["params"]}} for t in tasks])
    cols = list(sw.parameters) + ["pass", "error"] + [c for c in table.columns
                                                      if c not in sw.parameters and c not in ("pass", "error")]
    table = table[[c for c in cols if c in table.columns]]
    table["error"] = table["error"].fillna("").astype(str)
    table["pass"] = table["pass"].fillna(False).astype(bool)
    summary = {
        "study": scale.study_raw.get("study", {}).get("name"), "input_sha256": text_sha256(scale.text),
        "parameters": sw.parameters, "scenarios": len(tasks), "evaluated": evaluated, "reused": reused,
        "failed": int((table["error"] != "").sum()), "passed": int(table["pass"].sum()), "backend": backend,
        "run_s": run_s, "runtime_s": time.perf_counter() - t0,
    }
    _carry_store(store, stage / "scenarios", [t["hash"] for t in tasks])
    write_parquet(stage / "sweep.parquet", table)
    _figure(stage / "sweep.png", table, list(sw.parameters), sw.metric)
    write_json(stage / "sweep.json", summary)
    say(f"sweep: {summary['passed']}/{len(tasks)} pass, {summary['failed']} errors; written to {out}")
    return {**to_jsonable(summary), "table": table}


def _carry_store(store: Path, dest: Path, hashes: list[str]) -> None:
    """Link this sweep's stored scenarios into the staged folder (others, of earlier sweeps, are left out)."""
    dest.mkdir(parents=True, exist_ok=True)
    for h in hashes:
        src = store / f"{h}.json"
        if src.is_file() and not (dest / src.name).exists():
            try:
                os.link(src, dest / src.name)
            except OSError:  # a file system without hard links
                shutil.copy2(src, dest / src.name)


def _figure(path: Path, table: pd.DataFrame, params: list[str], metric: str) -> None:
    plt = pyplot()
    if plt is None:
        return

    y = pd.to_numeric(table[metric], errors="coerce") if metric in table else pd.Series(math.nan, index=table.index)
    fig, axes = plt.subplots(1, len(params), figsize=(3.6 * len(params) + 0.6, 3.6), squeeze=False, sharey=True)
    for ax, p in zip(axes[0], params, strict=True):
        cats = list(dict.fromkeys(table[p].tolist()))
        x = table[p].map({c: k for k, c in enumerate(cats)}).astype(float)
        err = table["error"] != ""
        ok = table["pass"] & ~err
        for mask, color, label in ((ok, "tab:green", "pass"), (~ok & ~err, "tab:red", "fail")):
            ax.scatter(x[mask], y[mask], c=color, label=label, zorder=3)
        if err.any():
            lo = float(y.min()) if y.notna().any() else 0.0
            ax.scatter(x[err], [lo] * int(err.sum()), c="grey", marker="x", label="error", zorder=3)
        ax.set_xticks(range(len(cats)), [f"{c:g}" if isinstance(c, float) else str(c) for c in cats], rotation=30)
        ax.set_xlabel(p)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(metric)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"Sweep: {metric} per scenario (with battery)", fontsize=10)
    fig.tight_layout()
    save_png(fig, path)
