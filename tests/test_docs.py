"""The documentation builds with warnings as errors, and the gallery runs every example.

The docs tree (docs/, examples/ and the benchmark results it includes) is copied into a
temporary folder first, so that sphinx-gallery's generated pages land there and not in the
checkout. SKMATGP_SMOKE=1 makes every example run in its smoke mode (seconds each).
"""

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
GENERATED = ("_build", "auto_examples", "generated", "sg_execution_times.rst")


@pytest.mark.slow  # the whole site with every example: the slow tier
def test_docs_build(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns(*GENERATED))
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("*.png"))
    (tmp_path / "benchmarks").mkdir()
    for name in ("RESULTS.md", "RESULTS-appendix.md"):
        shutil.copy(ROOT / "benchmarks" / name, tmp_path / "benchmarks")
    shutil.copytree(ROOT / "benchmarks" / "results", tmp_path / "benchmarks" / "results")
    env = {
        **os.environ,
        "SKMATGP_SMOKE": "1",
        "MPLBACKEND": "Agg",
        # document (and run the examples against) this checkout's skmatgp
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    html = tmp_path / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(html)]
    result = subprocess.run(
        cmd, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout[-5000:]}\n{result.stderr[-10000:]}"

    for page in ("index", "getting-started", "user-guide", "paper-reproduction", "benchmarks", "api"):
        assert (html / f"{page}.html").is_file(), page
    assert (html / "generated" / "skmatgp.GNNGPRegressor.html").is_file()
    images = {p.name for p in (html / "_images").iterdir()}
    assert "al_mp_oxides.png" in images  # the paper reproduction's learning curves
    assert EXAMPLES
    for example in EXAMPLES:
        assert (html / "auto_examples" / f"{example.stem}.html").is_file(), example.name
        assert f"sphx_glr_{example.stem}_001.png" in images, f"{example.name} drew no figure"


def test_api_reference_lists_every_public_name():
    """A name added to a module's ``__all__`` must be added to docs/api.rst too."""
    api = (ROOT / "docs" / "api.rst").read_text()
    listed = {
        (module, name)
        for module, block in re.findall(
            r"\.\. currentmodule:: (\S+)\n(.*?)(?=\.\. currentmodule::|\Z)", api, re.DOTALL
        )
        for name in re.findall(r"^   (\w+)$", block, re.MULTILINE)
    }
    for module in ("skmatgp", "skmatgp.active", "skmatgp.datasets"):
        missing = [n for n in importlib.import_module(module).__all__ if (module, n) not in listed]
        assert not missing, f"docs/api.rst lacks {module}: {missing}"
