"""Hand the C heap's free pages back to the system during a long streamed run.

A year at 1 s makes and drops hundreds of thousands of mid-sized arrays (profile parts, blocks,
judged stretches) in three threads. glibc's allocator serves arrays below its mmap threshold, a
threshold that rises to the largest array freed so far, from its heaps, and keeps the pages of
what was freed in the middle of a heap: the resident memory of the process creeps up by the
fragments (about 100 MB over a year). ``malloc_trim(0)`` releases every whole free page of every
heap; called once per judged stretch (about 260,000 steps), it costs a fraction of a second of
system time over a year.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

__all__ = ["release_free_heap"]


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        fn = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim with
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


_TRIM = _malloc_trim()


def release_free_heap() -> bool:
    """Return the heaps' free pages to the system (glibc's ``malloc_trim``); ``False`` where the
    C library has no such call (memory is then only what the allocator keeps, results the same)."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
