"""Every example runs in smoke mode and saves its figure, so none rots."""

import runpy
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
pytestmark = pytest.mark.slow  # every example: the slow tier (python -m pytest -m slow)

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("SKMATGP_SMOKE", "1")
    monkeypatch.chdir(tmp_path)
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        plt.close("all")
    assert any(tmp_path.glob("*.png"))
