"""Thread settings that fit the cores this process actually gets.

Torch runs its CPU kernels on OpenMP threads, by default one per core it can see, and GNU
OpenMP keeps a thread that has finished its share of a kernel spinning on the core for a while
before it sleeps. Alone on a machine that costs nothing; beside other work, the spinning
threads take the cores that the job's own unfinished threads (and the neighbours) wait for.
A GP fit made of many small kernels then spends most of its CPU time spinning, and a job
slows far more than its share of the CPU shrinks (``benchmarks/thread_contention.py``
measures it). So the command line, before torch is imported, asks OpenMP to let waiting
threads sleep (``OMP_WAIT_POLICY=PASSIVE``) and to start as many threads as the process has
cores (its CPU affinity and its cgroup's CPU quota, not the machine's core count). numpy's and
scipy's OpenBLAS keeps a pool of its own, started when numpy is imported, so its count
(``OPENBLAS_NUM_THREADS``) is set by the same rule, and the command line imports numpy only
after this has run.

Settings the user made win: a variable already set in the environment is left alone.
``SKMATGP_THREADS=<n>`` asks for n threads, ``SKMATGP_THREADS=off`` leaves every setting to
the libraries' defaults.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

VARIABLE = "SKMATGP_THREADS"


def available_cpus() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cpus, math.ceil(quota))) if quota else max(1, cpus)


def _cgroup_quota() -> float | None:
    """CPUs' worth of time the cgroup may use (cgroup v2, then v1); None when unlimited."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def configure_threads(environ=os.environ) -> int | None:
    """Set the OpenMP, MKL and OpenBLAS thread variables for this process (before torch or
    numpy is imported); return the thread count asked for, or None when ``SKMATGP_THREADS=off``."""
    setting = environ.get(VARIABLE, "auto").strip().lower()
    if setting == "off":
        return None
    if setting == "auto":
        threads = available_cpus()
    else:
        try:
            threads = int(setting)
        except ValueError:
            threads = 0
        if threads < 1:
            raise ValueError(
                f"{VARIABLE}={environ[VARIABLE]!r}: use a positive number of threads, 'auto' "
                "(the cores this process gets) or 'off' (the libraries' own defaults)."
            )
    environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        environ.setdefault(name, str(threads))
    return threads
