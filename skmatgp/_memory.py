"""Keep freed memory in the process instead of handing it back to the system.

glibc's malloc serves every block above a threshold (at most 32 MiB) with its own ``mmap``
and returns it with ``munmap`` when it is freed, and it trims the top of the heap back to the
system as soon as a small amount is free there. A featurizer's forward passes allocate and free
the same large tensors batch after batch, so each batch faults every page of them in afresh,
and the kernel zeroes each one: ``benchmarks/main_job_time.py`` measures the main job with and
without this setting. So the command line, before torch allocates anything, raises both
thresholds to ``KEEP_BYTES``: blocks up to that size come from the heap and stay there for
the next batch. The price is that the process keeps its peak heap until it exits (and blocks
that threads other than the main one allocate above 64 MiB are still mapped apart). Older
glibc refuses an mmap threshold above 32 MiB (half its heap size); there it is 32 MiB.

Settings the user made win: with one of glibc's variables for these thresholds set
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_``,
``MALLOC_MMAP_MAX_``) or a ``GLIBC_TUNABLES`` that is empty (glibc's defaults) or names a
``glibc.malloc`` tunable, nothing is changed; nor outside glibc (musl, macOS, Windows).
"""

from __future__ import annotations

import ctypes
import os

KEEP_BYTES = 1 << 30
OLD_GLIBC_MMAP_LIMIT = 32 << 20  # HEAP_MAX_SIZE / 2 on 64-bit, the most older glibc takes
_M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def keep_freed_memory(environ=os.environ) -> int:
    """Raise glibc's mmap and trim thresholds; return the mmap threshold set (0: unchanged)."""
    tunables = environ.get("GLIBC_TUNABLES")
    if any(name in environ for name in _USER_SETTINGS) or (
        tunables is not None and (not tunables.strip() or "glibc.malloc." in tunables)
    ):
        return 0
    mallopt = _mallopt()
    if mallopt is None or not mallopt(_M_TRIM_THRESHOLD, KEEP_BYTES):
        return 0
    for threshold in (KEEP_BYTES, OLD_GLIBC_MMAP_LIMIT):
        if mallopt(_M_MMAP_THRESHOLD, threshold):
            return threshold
    return 0


def _mallopt():
    """glibc's ``mallopt``, or None where the C library is not glibc."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return None
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, ValueError, OSError):  # not a POSIX system, or not glibc
        return None
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt
