"""The command line keeps freed memory in the process: a featurizer's batches reuse the heap
instead of faulting every page of their tensors in afresh."""

import os
import subprocess
import sys

import pytest

from skmatgp._memory import _glibc, keep_freed_memory

# a featurizer's batches in small: tensors above glibc's largest mmap threshold (32 MiB),
# allocated together and freed together, three times after a first batch; prints the page
# faults of those three batches
BATCHES = """
import resource, torch
from skmatgp._memory import keep_freed_memory
set_ = keep_freed_memory()
sizes = (6_000_000, 7_000_000, 8_000_000, 500_000)  # float64: 46, 53, 61 and 4 MiB
batch = [torch.ones(n, dtype=torch.float64) for n in sizes]
del batch
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    batch = [torch.ones(n, dtype=torch.float64) for n in sizes]
    del batch
print(set_, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _run(extra_env: dict) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run(
        [sys.executable, "-c", BATCHES], env={**env, **extra_env}, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    was_set, faults = out.stdout.split()
    return was_set, int(faults)


@pytest.mark.skipif(not _glibc(), reason="the setting is glibc's (Linux); elsewhere it changes nothing")
def test_freed_batches_are_reused_instead_of_faulted_in_again():
    was_set, kept = _run({})
    assert was_set == "True"
    # glibc's own thresholds (a malloc variable set: the user's settings win): every batch
    # maps its tensors afresh and faults in all their pages
    was_set, returned = _run({"MALLOC_ARENA_MAX": "8"})
    assert was_set == "False"
    assert returned > 3 * 160 * 2**20 / 4096 * 0.9  # about all the pages of three batches
    assert kept < 0.5 * returned


def test_the_users_malloc_settings_win():
    assert keep_freed_memory({"MALLOC_TRIM_THRESHOLD_": "0"}) is False
    assert keep_freed_memory({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=4096"}) is False
