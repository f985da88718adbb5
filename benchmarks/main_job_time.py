"""Wall time of the README's main job, ``skmatgp campaign``, as a new user runs it after installing.

    python benchmarks/main_job_time.py

Runs ``skmatgp campaign --out <temporary folder>`` in a subprocess with an empty feature cache
(``SKMATGP_CACHE`` pointed at a new temporary folder), so the time includes importing
skmatgp, loading the pretrained potential, featurizing the built-in dataset and the campaigns. Run it with
nothing else on the machine. Writes ``benchmarks/results/main_job_time.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from protocol import RESULTS, machine_state, write_result

COMMAND = ["skmatgp", "campaign"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more campaign options")
    args = parser.parse_args(argv)
    skmatgp = shutil.which("skmatgp")
    if skmatgp is None:
        parser.error("the skmatgp command is not on PATH: pip install the project first")
    before = machine_state()
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "SKMATGP_CACHE": str(Path(work) / "cache")}
        command = [skmatgp, "campaign", "--out", str(Path(work) / "out"), *args.extra]
        start = time.perf_counter()
        completed = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
        wall_s = time.perf_counter() - start
        printed = completed.stdout.strip().splitlines()
    if completed.returncode != 0:
        raise SystemExit(f"skmatgp campaign failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    out = {
        "what": "wall seconds of `skmatgp campaign` (the README's main job) in a subprocess, empty feature cache",
        "command": " ".join(COMMAND + args.extra),
        "wall_s": wall_s,
        "printed": printed,
    }
    write_result(
        out, args.results_dir / "main_job_time.json", before, note="run with nothing else on the machine"
    )


if __name__ == "__main__":
    main()
