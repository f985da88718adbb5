"""skmatgp installs beside skorch >= 1.0, and modAL's own learner drives its strategies.

modAL-python 0.4.2.1 (the newest) pins skorch==0.9.0, which current Python cannot import, for
its ``modAL.dropout`` alone; so modAL is the optional extra ``skmatgp[modal]``.
"""

import importlib
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import modAL.models
import numpy as np
import pytest

from skmatgp import GPRegressor, StructureDescriptors
from skmatgp.active import batch_entropy_sampling, max_entropy_sampling

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("strategy", [max_entropy_sampling, batch_entropy_sampling])
def test_modals_own_learner_drives_the_strategies(small, strategy):
    X, y = small
    features = StructureDescriptors().transform(X)
    learner = modAL.models.ActiveLearner(
        GPRegressor(random_state=0), strategy, X_training=features[:20], y_training=y[:20]
    )
    pool = features[20:]
    idx, rows = learner.query(pool, n_instances=3)
    np.testing.assert_array_equal(idx, strategy(learner, pool, 3)[0])
    np.testing.assert_array_equal(rows, pool[idx])


def test_without_modal_the_learner_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "modAL.models", None)  # as if modAL were not installed
    monkeypatch.delitem(sys.modules, "skmatgp.active._learner", raising=False)
    with pytest.raises(
        ImportError, match=r"pip install 'skmatgp\[modal\]'.*pip install --no-deps modAL-python"
    ):
        importlib.import_module("skmatgp.active._learner")


@pytest.mark.slow  # a fresh interpreter that imports torch
def test_without_modal_campaigns_and_strategies_import():
    probe = """
import sys
sys.modules["modAL"] = None  # as if modAL were not installed
from skmatgp.active import Campaign, max_entropy_sampling, run_campaigns, update_estimator
"""
    subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)


def _pypi_answers(folder: Path) -> bool:
    """Whether pip reaches an index here (the test installs skorch >= 1.0 from it)."""
    download = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(folder), "skorch>=1.0"]
    return subprocess.run(download, check=False, capture_output=True, timeout=300).returncode == 0


@pytest.mark.slow
def test_pip_installs_skorch_1_beside_skmatgp_and_both_import(tmp_path):
    if not _pypi_answers(tmp_path / "probe"):
        pytest.skip("no package index reachable: cannot install skorch >= 1.0")
    # skmatgp's installable files, without the build folders an in-tree build would leave
    source = tmp_path / "skmatgp-src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "skmatgp", source / "skmatgp", ignore=shutil.ignore_patterns("__pycache__"))
    # a fresh environment that sees this one's packages behind its own (so only skorch and
    # skmatgp are installed, from the index and the source); modAL-python 0.4.2.1 is among
    # them, as after `pip install --no-deps modAL-python`
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    chain = f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
    (Path(purelib) / "_chain_to_outer_env.pth").write_text(chain)

    install = [python, "-m", "pip", "install", "--no-build-isolation", "skorch>=1.0", str(source)]
    result = subprocess.run(install, check=False, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    probe = f"""
import modAL.models, numpy as np, skorch, skmatgp
from skmatgp import GPRegressor, StructureDescriptors
from skmatgp.active import ActiveLearner, max_entropy_sampling
from skmatgp.datasets import load_dataset
assert int(skorch.__version__.split(".")[0]) >= 1, skorch.__version__
assert skorch.__file__.startswith({str(venv)!r}) and skmatgp.__file__.startswith({str(venv)!r})
data = load_dataset("elastic_tensor_2015")
X, y = StructureDescriptors().transform(data.structures[:40]), data.target[:40]
for learner_class in (modAL.models.ActiveLearner, ActiveLearner):
    learner = learner_class(GPRegressor(random_state=0), max_entropy_sampling, X_training=X[:20], y_training=y[:20])
    idx, _ = learner.query(X[20:], n_instances=2)
    assert len(set(idx)) == 2
print("ok", skorch.__version__)
"""
    result = subprocess.run(
        [python, "-c", probe], check=False, capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stdout + result.stderr[-3000:]
