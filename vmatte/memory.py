"""glibc's allocator, set for what a live session does: the same few large frame buffers, freed and
asked for again every frame, with the compositing on the critical path.

By default glibc maps a large block fresh from the kernel when it is asked for and unmaps it when freed
(its threshold for that rises only after such a free, and falls back when memory is trimmed), so a
720p float picture (11 MB) can cost ~2,700 page faults each time it is made. On the 2-core machine the
compositing of a 720p blur-background frame took 6.9-13.0 ms that way (fresh processes: bimodal) and
5.6-6.9 ms with the blocks kept (benchmarks/allocator.py). So live mode fixes the threshold where
glibc's own adjustment would end up after freeing a 32 MB block (its largest allowed), from the start:
blocks up to 32 MB stay in the heap, and free memory goes back to the kernel past 64 MB. (Keeping up to
1 GB was no faster.) Batch conversion keeps glibc's defaults: there the compositing overlaps the
network on its own thread, and `vmatte convert` 720p was no faster with the settings (13.2 against
13.4 fps at 1000 frames) while its peak memory was 11% higher (1027 against 923 MB).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20  # bytes; glibc refuses more than half its 64 MB heap size
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # bytes: what glibc's own adjustment sets after freeing such a block
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "VMATTE_DEFAULT_MALLOC")
_done: bool | None = None


def tune_allocator() -> bool:
    """Apply the settings once per process (Linux with glibc; a user's own MALLOC_* settings, or
    VMATTE_DEFAULT_MALLOC=1, leave glibc as it is). Returns whether they are in force."""
    global _done
    if _done is None:
        _done = False
        if sys.platform.startswith("linux") and not any(os.environ.get(k) for k in USER_SETTINGS):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
                    bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
            except (OSError, AttributeError):  # not glibc (musl has no mallopt)
                _done = False
    return _done
