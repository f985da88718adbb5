"""``ruff check`` is part of the test tier: a finding in the code fails the suite."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["skmatgp", "tests", "benchmarks", "examples"]


def test_ruff_finds_nothing():
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", *PATHS]
    result = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"`ruff check {' '.join(PATHS)}` (ruff is in the test extra) found:\n{result.stdout}{result.stderr}"
    )
