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

Nothing is held for the whole horizon but the step index (8 bytes a step): the campus model and
the dispatch make the profiles part by part (``Study.profile_stream``; the campus model makes its
iteration edges as it goes) while the engine solves, the convergence record is kept per envelope
interval, and the criteria that need the per-step series are judged on the stream
(:mod:`gridstudy.studies.judge.streamed`). ``--threads 2`` uses the second core: the next profile
parts are made in a child process (``--profiles-in thread``: a thread) and the next block is solved
in a second thread; ``--threads 1`` runs everything in one thread.

Prints one JSON line: setup (study, site), the streamed run and the total wall time, peak resident
memory of the process, what the run found (non-converged steps, tap operations, POI voltage range)
and the criteria's verdicts. Not a test.
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


def rss_mb() -> float:
    """Resident memory of this process now (Linux ``/proc/self/statm``). [MB]"""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler(threading.Thread):
    """Largest resident memory seen while running (sampled every ``dt`` seconds). [MB]"""

    def __init__(self, dt: float = 0.2):
        super().__init__(daemon=True)
        self.dt, self.peak, self.stop = dt, rss_mb(), threading.Event()

    def run(self):
        while not self.stop.wait(self.dt):
            self.peak = max(self.peak, rss_mb())


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
    ap.add_argument("--profiles-in", choices=("process", "thread"), default="process",
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
        stream.close()
    t_run = time.perf_counter() - t0 - t_setup
    criteria = judge.summary(res)
    total = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB
    # the profile process (forked: it shares this process's pages until either writes them)
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
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
        "peak_rss_mb": round(peak_mb),
        "profile_process_peak_rss_mb": round(child_mb) if two and args.profiles_in == "process" else None,
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
