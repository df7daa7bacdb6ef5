"""A year at 1 s through the fast QSTS engine: battery dispatch, OLTC and streamed results.

Usage::

    python benchmarks/qsts_year.py --site memphis-161kv            # 365 days at 1 s
    python benchmarks/qsts_year.py --site feeder-34.5kv --days 30

The study is ``examples/demo.toml`` (campus model, ramp-limit dispatch with SOC recovery, unity
power factor at the grid side) moved to ``--site`` and stretched to ``--days`` days at 1 s. Only
its ``with_battery`` scenario runs: the campus profile with the dispatched battery, the OLTC
controller of every regulating transformer, and the result recorder streaming per-bus and
per-branch extremes, band times, histograms, the worst POI windows and 1-minute min/max envelopes
of the per-step series (what ``gridstudy qsts`` keeps for horizons over a day).

Nothing is held for the whole horizon, not even its labels (the study's horizon is a
``FixedHorizon``: first label, step and length; each part's labels are made as it goes): the campus model and
the dispatch make the profiles part by part (``Study.profile_stream``; the campus model makes its
iteration edges as it goes) while the engine solves, the convergence record is kept per envelope
interval, and the criteria that need the per-step series are judged on the stream
(:mod:`gridstudy.studies.judge.streamed`). ``--threads 2`` uses the second core: the next profile
parts are made in a second thread (``--profiles-in process``: a forked child process) and the next
block is solved in a third; ``--threads 1`` runs everything in one thread. The default keeps one
process: a forked child's resident memory counts the interpreter and the libraries it shares with
its parent a second time, which the all-in memory target cannot afford (``gridstudy qsts`` makes
the parts ahead in a thread too).

Prints one JSON line: setup (study, site), the streamed run and the total wall time, the CPU time
(user + system, children included) with the load average and the cores it ran on, the peak
resident memory of each process and their sum (each process's own high-water mark, ``VmHWM``),
both against :data:`TARGET_S` and :data:`TARGET_MB`, what the run found (non-converged steps, tap
operations, POI voltage range) and the criteria's verdicts. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore", category=FutureWarning)

#: What a year at 1 s on memphis-161kv should take, all in: wall time [s] and the sum of the peak
#: resident memory of every process the run uses [MB] (1.0 GB: 1000 MB).
TARGET_S, TARGET_MB = 20.0, 1000.0

#: Sections of a full study file that the QSTS-only study schema does not take.
STUDY_ONLY = ("[criteria", "[contingencies", "[sag", "[[scenarios")


def study_file(template: Path, site: str, days: float, folder: Path) -> Path:
    """``template`` with its site and duration replaced and the study-only sections dropped."""
    out, skip = [], False
    for line in template.read_text().splitlines():
        s = line.strip()
        if s.startswith("["):
            skip = s.startswith(STUDY_ONLY)
        if skip:
            continue
        if s.startswith("site ="):
            line = f'site = "{site}"'
        elif s.startswith("duration ="):
            line = f'duration = "{days:g}D"'
        out.append(line)
    path = folder / "year.toml"
    path.write_text("\n".join(out) + "\n")
    return path


def _status_kb(pid: int | str, field: str) -> int | None:
    """A ``kB`` field of ``/proc/<pid>/status`` (Linux); ``None`` once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def _children(pid: int) -> list[int]:
    """The live descendants of ``pid`` (``/proc/<pid>/task/*/children``, recursively)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for k in kids:
            out += [k, *_children(k)]
    return out


class RssSampler(threading.Thread):
    """Peak resident memory of this process and of every child it starts, each process's own
    high-water mark (``VmHWM``; a forked child counts the pages it shares with this process too,
    as the sum of peaks is meant to), read every ``dt`` seconds and once more at :meth:`finish`. [MB]"""

    def __init__(self, dt: float = 0.1):
        super().__init__(daemon=True)
        self.dt, self.stop = dt, threading.Event()
        self.peaks_kb: dict[int, int] = {}
        self.sample()

    def sample(self) -> None:
        for pid in [os.getpid(), *_children(os.getpid())]:
            kb = _status_kb(pid, "VmHWM")
            if kb is not None:
                self.peaks_kb[pid] = max(self.peaks_kb.get(pid, 0), kb)

    def run(self):
        while not self.stop.wait(self.dt):
            self.sample()

    def finish(self) -> None:
        self.stop.set()
        self.join()
        self.sample()

    @property
    def main_mb(self) -> float:
        return self.peaks_kb.get(os.getpid(), 0) / 1024.0

    @property
    def children_mb(self) -> list[float]:
        return [kb / 1024.0 for pid, kb in self.peaks_kb.items() if pid != os.getpid()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--site", default="memphis-161kv", help="reference site name")
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--study", default=str(ROOT / "examples" / "demo.toml"), help="study template")
    ap.add_argument("--block-steps", type=int, default=16384)
    ap.add_argument("--chunk-steps", type=int, default=1 << 16, help="steps per streamed profile part")
    ap.add_argument("--threads", type=int, choices=(1, 2), default=2,
                    help="1: everything in one thread; 2: the next profile parts are made and the next block "
                         "is solved in a second thread")
    ap.add_argument("--profiles-in", choices=("process", "thread"), default="thread",
                    help="with --threads 2: where the profile parts are made ahead")
    args = ap.parse_args(argv)

    from gridstudy.studies.cli.qsts import FULL_SERIES_MAX_STEPS
    from gridstudy.studies.judge.streamed import StreamJudge
    from gridstudy.studies.qsts.fast import run_fast
    from gridstudy.studies.qsts.inputs import RecordSpec
    from gridstudy.studies.qsts.results import ResultRecorder
    from gridstudy.studies.spec.limits import RunPolicy, use_policy
    from gridstudy.studies.study import Study

    two = args.threads == 2
    sampler = RssSampler()
    sampler.start()
    t0 = time.perf_counter()
    # the file check estimates the run as `gridstudy qsts` makes it: streamed
    with tempfile.TemporaryDirectory() as tmp, use_policy(RunPolicy(streams=True)):
        study = Study.from_file(study_file(Path(args.study), args.site, args.days, Path(tmp)))
    site = study.build_site()
    n = len(study.index)
    record = RecordSpec(envelope_freq=None if n <= FULL_SERIES_MAX_STEPS else "1min")
    stream = study.profile_stream("with_battery", chunk_steps=args.chunk_steps, prefetch=2 if two else 0,
                                  process=two and args.profiles_in == "process")
    inputs = study.qsts_inputs(site, "with_battery", stream, record)
    judge = StreamJudge(ResultRecorder(site, stream.index, record, engine="fast"), site, study.preset)
    stream.start()  # a profile process forks here, from the main thread
    t_setup = time.perf_counter() - t0
    try:
        res = run_fast(inputs, quiet=True, block_steps=args.block_steps, recorder=judge, pipeline=two)
    finally:
        sampler.sample()  # the profile process's last peak, before it ends
        stream.close()
    t_run = time.perf_counter() - t0 - t_setup
    criteria = judge.summary(res)
    total = time.perf_counter() - t0
    sampler.finish()
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    # every process's own peak, summed (a forked child's shared pages counted in both)
    peak_mb = sampler.main_mb
    total_mb = peak_mb + sum(sampler.children_mb)
    bs = res.bus_summary
    poi = site.poi_bus
    out = {
        "site": site.name,
        "buses": int(len(site.net.bus)),
        "steps": n,
        "days": args.days,
        "threads": args.threads,
        "setup_s": round(t_setup, 1),
        "run_s": round(t_run, 1),
        "total_s": round(total, 1),
        "pf_per_s_all_in": round(n / total),
        "profile_wait_s": round(stream.wait_s, 1),
        "cpu_s": round(cpu_s, 1),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
        "peak_rss_mb": round(peak_mb),
        "child_peak_rss_mb": [round(m) for m in sampler.children_mb],
        "peak_rss_mb_all_processes": round(total_mb),
        "targets": {"total_s": TARGET_S, "peak_rss_mb_all_processes": TARGET_MB,
                    "total_s_met": total <= TARGET_S, "peak_rss_met": total_mb <= TARGET_MB},
        "nonconverged_steps": int(res.nonconverged_steps),
        "tap_operations": {str(k): int(v) for k, v in res.tap_operations.items()},
        "poi_vm_min_pu": float(bs.at[poi, "vm_min_pu"]),
        "poi_vm_max_pu": float(bs.at[poi, "vm_max_pu"]),
        "factorisations": res.summary.get("factorisations"),
        "criteria_stretches": judge.stretches,
        "criteria": criteria,
        "note": "with_battery scenario of the study, all in: study and site, the campus model and the dispatch "
                "streamed part by part into the fast engine (OLTC, 1-minute envelopes, streamed aggregates), "
                "the criteria judged on the stream (gridstudy.studies.judge.streamed); run_s is the "
                "streamed run (profiles + QSTS + recording + series criteria), profile_wait_s the time the "
                "engine waited for profile parts",
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
