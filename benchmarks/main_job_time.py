"""Wall time of the README's main job, ``skmatgp campaign``, as a new user runs it after installing.

    python benchmarks/main_job_time.py

Runs ``skmatgp campaign --out <temporary folder>`` in a subprocess with an empty feature cache
(``SKMATGP_CACHE`` pointed at a new temporary folder), so the time includes importing
skmatgp, loading the pretrained potential, featurizing the built-in dataset and the campaigns.
After a quick warm-up campaign (the first run after an install pays for compiling and reading
files), the run; then, as its peer, the same run with glibc's own malloc thresholds
(``GLIBC_TUNABLES=``, which the command line leaves alone; ``skmatgp/_memory.py``), to
measure what keeping freed memory saves. Run it with nothing else on the machine. Writes
``benchmarks/results/main_job_time.json``: per run the wall, CPU (user and system) seconds,
minor page faults and peak memory.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from protocol import QUICK_CAMPAIGN, RESULTS, machine_state, run_campaign, write_result

COMMAND = ["skmatgp", "campaign"]


PEERS = {"skmatgp": {}, "glibc malloc defaults": {"GLIBC_TUNABLES": ""}}


def run_job(skmatgp: str, extra: list[str], env_extra: dict) -> dict:
    """Wall, CPU and page-fault figures of one main job, and the lines it printed."""
    figures, printed = run_campaign(skmatgp, extra, env_extra, drop=("MALLOC_", "GLIBC_TUNABLES"))
    return {**figures, "printed": printed}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more campaign options")
    args = parser.parse_args(argv)
    skmatgp = shutil.which("skmatgp")
    if skmatgp is None:
        parser.error("the skmatgp command is not on PATH: pip install the project first")
    before = machine_state()
    run_job(skmatgp, QUICK_CAMPAIGN, {})  # a warm-up, not recorded: the first run after an install pays more
    runs = {}
    for name, env_extra in PEERS.items():
        runs[name] = run = run_job(skmatgp, args.extra, env_extra)
        print(f"{name}: {run['wall_s']} s wall, {run['system_s']} s in the kernel", flush=True)
    out = {
        "what": "wall seconds of `skmatgp campaign` (the README's main job) in a subprocess, empty "
        "feature cache; its peer: the same with glibc's malloc defaults",
        "command": " ".join(COMMAND + args.extra),
        "wall_s": runs["skmatgp"]["wall_s"],
        "printed": runs["skmatgp"]["printed"],
        "runs": runs,
        "glibc_defaults_over_skmatgp_wall": round(
            runs["glibc malloc defaults"]["wall_s"] / runs["skmatgp"]["wall_s"], 2
        ),
    }
    write_result(
        out, args.results_dir / "main_job_time.json", before, note="run with nothing else on the machine"
    )


if __name__ == "__main__":
    main()
