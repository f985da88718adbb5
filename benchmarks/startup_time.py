"""Start-up time: ``import skmatgp`` and ``skmatgp --help``, each in a fresh interpreter.

    python benchmarks/startup_time.py                          # this checkout
    python benchmarks/startup_time.py --compare-with /path/to/an/older/checkout

Each command runs in a new subprocess (the operating system's file cache warm after a first,
untimed run), alternating between this checkout and, with ``--compare-with``, another one
(PYTHONPATH pointed at it), so that both see the same machine. Median of ``--repeats`` runs.
Writes ``benchmarks/results/startup_time.json``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from protocol import RESULTS, machine_state, write_result

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "import_s": [sys.executable, "-c", "import skmatgp"],
    "help_s": [
        sys.executable,
        "-c",
        "import sys; from skmatgp.cli import main; sys.argv[0] = 'skmatgp'; main(['--help'])",
    ],
}


def seconds(command, checkout: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True, cwd=checkout)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-with", type=Path, default=None, help="an older checkout to time beside")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    checkouts = {"this": ROOT, **({"compared": args.compare_with.resolve()} if args.compare_with else {})}
    before = machine_state()
    times: dict = {name: {key: [] for key in COMMANDS} for name in checkouts}
    for key, command in COMMANDS.items():
        for checkout in checkouts.values():
            seconds(command, checkout)  # warm the file cache, untimed
        for _ in range(args.repeats):
            for name, checkout in checkouts.items():
                times[name][key].append(seconds(command, checkout))
    out = {
        "what": "seconds to `import skmatgp` and to print `skmatgp --help`, fresh interpreter each",
        "repeats": args.repeats,
        "runs": times,
    }
    for name in checkouts:
        for key in COMMANDS:
            values = sorted(times[name][key])
            out[f"{name}_{key}"] = values[len(values) // 2]
    if args.compare_with:
        out["compared_checkout"] = str(args.compare_with)
        for key in COMMANDS:
            out[f"ratio_{key}"] = out[f"compared_{key}"] / out[f"this_{key}"]
    write_result(out, args.results_dir / "startup_time.json", before)


if __name__ == "__main__":
    main()
