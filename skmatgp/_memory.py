"""Keep freed memory in the process instead of handing it back to the system.

glibc's malloc serves every block above a threshold (at most 32 MiB) with its own ``mmap``
and returns it with ``munmap`` when it is freed, and it trims the top of the heap back to the
system as soon as a small amount is free there. A featurizer's forward passes allocate and free
the same large tensors batch after batch, so each batch faults every page of them in afresh,
and the kernel zeroes each one: ``benchmarks/main_job_time.py`` measures the main job with and
without this setting. So the command line, before torch allocates anything, raises both
thresholds to ``KEEP_BYTES``: blocks up to that size come from the heap and stay there for
the next batch. The price is that the process keeps its peak heap until it exits.

Settings the user made win: with any of glibc's malloc variables set (``MALLOC_*_`` or
``GLIBC_TUNABLES``; an empty ``GLIBC_TUNABLES=`` keeps glibc's defaults) nothing is changed,
and nothing is changed outside glibc (musl, macOS, Windows).
"""

from __future__ import annotations

import ctypes
import os

KEEP_BYTES = 1 << 30
_M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(environ=os.environ) -> bool:
    """Raise glibc's mmap and trim thresholds to ``KEEP_BYTES``; True if they were set."""
    if any(name.startswith("MALLOC_") or name == "GLIBC_TUNABLES" for name in environ):
        return False
    if not _glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, KEEP_BYTES))


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # not a POSIX system, or not glibc
        return False
