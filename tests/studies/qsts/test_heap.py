"""The free pages of the C heap go back to the system on a long streamed run."""

import platform
import sys

import numpy as np
import pytest

from gridstudy.studies.qsts.heap import release_free_heap


def _rss_anon_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="malloc_trim is glibc's")
def test_release_free_heap_returns_fragmented_pages():
    # 1,600 arrays of 64 KiB (below glibc's mmap threshold: served from the heap), every tenth
    # kept so that the freed ones are fragments between live blocks, which free() cannot return
    # at the heap's top; about 90 MiB are free in the middle of the heap afterwards
    arrays = [np.ones(8192) for _ in range(1600)]
    kept = arrays[::10]
    del arrays
    before = _rss_anon_kb()
    assert release_free_heap() is True
    after = _rss_anon_kb()
    # at least half of the ~90 MiB of whole free pages returned (the rest: page-straddling
    # chunks and what other tests left in the heap's fragments do not matter here)
    assert before - after > 45 * 1024, (before, after)
    assert all(float(a.sum()) == 8192.0 for a in kept)  # the live arrays are untouched
