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

Prints one JSON line: the time to build the profiles (campus model and dispatch), the QSTS time
(power flows, tap changers, output and streaming), power flows per second, peak resident memory of
the process and how much the QSTS run added to what the profiles already held (sampled every
0.2 s), and what the run found (non-converged steps, tap operations, POI voltage range).
Not a test.
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
    args = ap.parse_args(argv)

    from gridstudy.studies.cli_qsts import FULL_SERIES_MAX_STEPS
    from gridstudy.studies.qsts.fast import run_fast
    from gridstudy.studies.qsts.inputs import RecordSpec
    from gridstudy.studies.study import Study

    with tempfile.TemporaryDirectory() as tmp:
        path = study_file(Path(args.study), args.site, args.days, Path(tmp))
        t0 = time.perf_counter()
        study = Study.from_file(path)
        site = study.build_site()
        prof = study.profiles(only="with_battery")["with_battery"]
        record = RecordSpec(envelope_freq=None if len(prof) <= FULL_SERIES_MAX_STEPS else "1min")
        inputs = study.qsts_inputs(site, "with_battery", prof, record)
        del prof
        t_profiles = time.perf_counter() - t0
    n = len(inputs.profiles)
    before = rss_mb()
    sampler = RssSampler()
    sampler.start()
    t0 = time.perf_counter()
    res = run_fast(inputs, quiet=True, block_steps=args.block_steps)
    t_qsts = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB
    bs = res.bus_summary
    poi = inputs.site.poi_bus
    out = {
        "site": inputs.site.name,
        "buses": int(len(inputs.site.net.bus)),
        "steps": n,
        "days": args.days,
        "profiles_s": round(t_profiles, 1),
        "qsts_s": round(t_qsts, 1),
        "total_s": round(t_profiles + t_qsts, 1),
        "qsts_pf_per_s": round(n / t_qsts),
        "peak_rss_mb": round(peak_mb),
        "rss_before_qsts_mb": round(before),
        "qsts_added_rss_mb": round(max(sampler.peak, rss_mb()) - before),
        "nonconverged_steps": int(res.nonconverged_steps),
        "tap_operations": {str(k): int(v) for k, v in res.tap_operations.items()},
        "poi_vm_min_pu": float(bs.at[poi, "vm_min_pu"]),
        "poi_vm_max_pu": float(bs.at[poi, "vm_max_pu"]),
        "factorisations": res.summary.get("factorisations"),
        "retried_steps": res.summary.get("retried_steps"),
        "note": "with_battery scenario of the study; qsts_s includes tap changers, outputs and streaming "
                "(1-minute envelopes); profiles_s is the campus model and the battery dispatch",
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
