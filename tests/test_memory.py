"""The command line keeps freed memory in the process: a featurizer's large tensors come from
the heap, which keeps them for the next batch, instead of each being mapped and faulted in
afresh."""

import os
import subprocess
import sys

import pytest

from skmatgp._memory import _mallopt, keep_freed_memory

# a featurizer's batch in small: three tensors above glibc's default mmap threshold, alive
# together; prints the threshold set and how many blocks glibc mapped apart for them
# (mallinfo2's hblks), which page-fault counts would show less reliably (huge pages)
BATCH = """
import ctypes, torch
from skmatgp._memory import keep_freed_memory
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]
mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = Info
threshold = keep_freed_memory()
before = mallinfo2().hblks
batch = [torch.ones(n, dtype=torch.float64) for n in (2_000_000, 3_000_000, 3_500_000)]  # 15-27 MiB
print(threshold, mallinfo2().hblks - before)
"""


def _run(extra_env: dict) -> tuple[int, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run(
        [sys.executable, "-c", BATCH], env={**env, **extra_env}, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    threshold, mapped_apart = out.stdout.split()
    return int(threshold), int(mapped_apart)


@pytest.mark.skipif(
    _mallopt() is None or not hasattr(__import__("ctypes").CDLL(None), "mallinfo2"),
    reason="the setting is glibc's (mallinfo2 from glibc 2.33); elsewhere it changes nothing",
)
def test_a_batchs_tensors_come_from_the_heap_instead_of_their_own_mappings():
    threshold, mapped_apart = _run({})
    assert threshold >= 32 << 20
    assert mapped_apart == 0
    # glibc's defaults (GLIBC_TUNABLES=, documented as the way to keep them): each is mapped
    threshold, mapped_apart = _run({"GLIBC_TUNABLES": ""})
    assert threshold == 0
    assert mapped_apart == 3


def test_the_users_malloc_settings_win():
    assert keep_freed_memory({"MALLOC_TRIM_THRESHOLD_": "0"}) == 0
    assert keep_freed_memory({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=4096"}) == 0
    assert keep_freed_memory({"GLIBC_TUNABLES": ""}) == 0
