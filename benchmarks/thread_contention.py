"""The README's main job alone and beside CPU-bound neighbours, with skmatgp's thread and
memory settings and with the libraries' defaults.

    python benchmarks/thread_contention.py          # about 30 minutes on 2 idle cores
    python benchmarks/thread_contention.py --quick  # a check of the script: a small campaign

Each run is ``skmatgp campaign`` in a subprocess with an empty feature cache, as in
main_job_time.py, run with nothing else on the machine, after a quick warm-up campaign. The
neighbours are as many single-threaded busy loops as the machine has cores (a load of 2 on 2
cores: two other jobs). Settings: ``skmatgp`` (the command line's own: sleeping OpenMP
threads, as many as the process's cores, and freed memory kept for reuse; ``SKMATGP_THREADS``
and glibc's malloc variables unset) against ``library defaults`` (``SKMATGP_THREADS=off`` and
``GLIBC_TUNABLES=``: torch's spinning OpenMP threads and glibc's malloc thresholds), with every
OMP_/MKL_/MALLOC_ variable removed from the environment.

A slowdown moves by 10% from one run to the next on these machines, so skmatgp's settings run
``REPEATS`` pairs (alone, then beside the neighbours, each pair after a run of the control),
and the verdict is the median pair's; the library defaults, several times over their bound,
run one pair.

The share bound. Linux's scheduler shares cores between runnable threads. A job with k
runnable threads (k <= C cores) runs them on k cores alone; beside n always-busy threads (k +
n >= C) it gets C k / (k + n) cores, so that stretch slows by (k + n) / C if nothing of its
CPU time is wasted. Averaged over the job, k is the cores it uses alone, ``cpu_per_s_alone``
(its CPU seconds over its wall seconds), so a job that only loses its share of the CPU slows
by at most ``(cpu_per_s_alone + n) / C``: 1.5 for a single-threaded job beside two loops on
two cores, 2 for one that keeps both cores busy. A control checks this rule on the machine: a
fixed single-threaded busy loop, alone and beside the neighbours (its bound is 1.5 on 2 cores).
The bound a job with all its threads always busy would have, ``cpu_per_s_alone / (C threads
/ (threads + n))``, is recorded too (``bound_if_all_threads_busy``); it is below the share
bound whenever the job has single-threaded stretches, which get a third of the machine beside
two loops, not half.

Writes ``benchmarks/results/thread_contention.json``: per run the wall and CPU seconds; per
pair the slowdown beside the neighbours, the bound its share of the CPU sets, and the CPU
seconds it spent for the same work (spinning shows as more CPU time); per setting the median
pair's figures and in how many pairs the bound was met.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from protocol import QUICK_CAMPAIGN, RESULTS, machine_state, run_campaign, timed, write_result

SETTINGS = {"skmatgp": {}, "library defaults": {"SKMATGP_THREADS": "off", "GLIBC_TUNABLES": ""}}
REPEATS = {"skmatgp": 3, "library defaults": 1}
QUICK_REPEATS = {"skmatgp": 2, "library defaults": 1}
OURS = ("OMP_", "MKL_", "MALLOC_", "GLIBC_TUNABLES", "SKMATGP_THREADS")


def run_job(skmatgp: str, extra: list[str], env_extra: dict, neighbours: int) -> dict:
    """Wall and CPU figures of one main job."""
    return run_campaign(skmatgp, extra, env_extra, drop=OURS, neighbours=neighbours)[0]


def run_control(neighbours: int, seconds: float = 20.0) -> dict:
    """Wall and CPU seconds of a fixed single-threaded busy loop (about ``seconds`` alone)."""
    work = f"import time\nn = 0\nwhile n < {int(seconds * 2.5e7)}: n += 1"
    result, code = timed([sys.executable, "-c", work], neighbours)
    if code != 0:
        raise SystemExit(f"the control loop failed ({code})")
    return result


def summarise(alone: dict, busy: dict, cores: int, neighbours: int, threads: int) -> dict:
    """Slowdown beside the neighbours against the bound set by the job's share of the CPU."""
    cpu_per_s_alone = alone["cpu_s"] / alone["wall_s"]
    all_busy_share = min(cpu_per_s_alone, cores * threads / (threads + neighbours))
    return {
        "slowdown": round(busy["wall_s"] / alone["wall_s"], 2),
        "share_bound": round(max(1.0, (cpu_per_s_alone + neighbours) / cores), 2),
        "bound_if_all_threads_busy": round(cpu_per_s_alone / all_busy_share, 2),
        "cpu_per_s_alone": round(cpu_per_s_alone, 2),
        "cpu_per_s_busy": round(busy["cpu_s"] / busy["wall_s"], 2),
        "cpu_s_busy_over_alone": round(busy["cpu_s"] / alone["cpu_s"], 2),
    }


def median_pair(pairs: list[dict]) -> dict:
    """The pair whose slowdown over its bound is the median (the lower middle one of an even
    count), with every pair's figures and the count of pairs within their bound."""
    ranked = sorted(pairs, key=lambda pair: pair["slowdown"] / pair["share_bound"])
    return {
        **ranked[(len(ranked) - 1) // 2],
        "met_in": sum(pair["slowdown"] <= pair["share_bound"] for pair in pairs),
        "pairs": pairs,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    skmatgp = shutil.which("skmatgp")
    if skmatgp is None:
        parser.error("the skmatgp command is not on PATH: pip install the project first")
    extra, repeats = (QUICK_CAMPAIGN, QUICK_REPEATS) if args.quick else ([], REPEATS)
    cores = len(os.sched_getaffinity(0))
    before = machine_state()
    # a first run after an install or a code change pays for compiling and reading files from
    # disk (about 40 s more in one such run): a quick campaign first, not recorded
    run_job(skmatgp, QUICK_CAMPAIGN, {}, 0)
    runs = {name: [] for name in SETTINGS}
    control_runs = []
    for name, env_extra in SETTINGS.items():
        for _ in range(repeats[name]):
            if name == "skmatgp":  # the control beside each of skmatgp's pairs
                control_runs.append([run_control(n, 2.0 if args.quick else 10.0) for n in (0, cores)])
                print(f"control (one busy thread) alone, beside: {control_runs[-1]}", flush=True)
            pair = [run_job(skmatgp, extra, env_extra, n) for n in (0, cores)]  # alone, then beside
            runs[name].append({"alone": pair[0], "beside": pair[1]})
            print(f"{name} alone, beside {cores} busy loops: {pair}", flush=True)
    settings = {
        name: median_pair([summarise(pair["alone"], pair["beside"], cores, cores, cores) for pair in pairs])
        for name, pairs in runs.items()
    }
    control = median_pair([summarise(alone, beside, cores, cores, 1) for alone, beside in control_runs])
    out = {
        "what": "`skmatgp campaign` (the README's main job; empty feature cache) alone and beside "
        "as many single-threaded busy loops as cores, with skmatgp's thread and memory settings "
        "and with the libraries' defaults (SKMATGP_THREADS=off GLIBC_TUNABLES=)",
        "command": " ".join(["skmatgp", "campaign", *extra]),
        "cores": cores,
        "repeats": repeats,
        "runs": runs,
        "settings": settings,
        "control": {
            "what": "a fixed single-threaded busy loop alone and beside the same neighbours, "
            "before each of skmatgp's pairs: checks the share rule on this machine",
            "runs": control_runs,
            **control,
        },
        "busy_slowdown_defaults_over_skmatgp": round(
            settings["library defaults"]["slowdown"] / settings["skmatgp"]["slowdown"], 2
        ),
    }
    suffix = "_quick" if args.quick else ""
    write_result(
        out,
        args.results_dir / f"thread_contention{suffix}.json",
        before,
        note="run with nothing else on the machine",
    )


if __name__ == "__main__":
    main()
