import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "SKMATGP_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["SKMATGP_DATA"] = str(SHARED_DATA)
# FoundationFeaturizer(cache_dir="auto") (campaigns, the CLI) caches here, not in the user's home
os.environ.setdefault("SKMATGP_CACHE", tempfile.mkdtemp(prefix="skmatgp-test-cache-"))
# OpenMP threads that sleep when they wait, as the command line asks (skmatgp/_threads.py):
# spinning ones make the suite many times slower beside other work. Torch reads this when it
# loads, so nothing here imports torch at module level.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# device="cpu": the suite's exact-equality claims (same seed, same numbers; resumed campaigns
# choose alike) hold on the CPU only, as the user guide says; tests/test_gpu.py covers CUDA.
TINY = {
    "device": "cpu",
    "hidden_channels": 8,
    "n_conv": 1,
    "embedding_dim": 4,
    "epochs": 3,
    "batch_size": 16,
    "gp_iterations": 10,
    "random_state": 0,
}
# a GP regressor's fit in a few seconds on the CPU (GPRegressor, GNNGPRegressor's GP head)
FAST = {"gp_iterations": 20, "device": "cpu", "random_state": 0}


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """Put torch's thread count back after every test: the benchmarks' main()s set it for the
    whole process, and a test that inherits another count computes other last digits (the
    SIGKILL campaign test compares its result with a subprocess's)."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _keep_environment():
    """Put os.environ back after every test: ``skmatgp.cli.main`` sets thread variables for its
    process (OMP_WAIT_POLICY, MKL_NUM_THREADS), and a test that calls it in this process would
    hand them to later tests' subprocesses, whose numbers then differ in the last digits from
    this process's (the SIGKILL campaign test compares the two)."""
    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def elastic():
    from skmatgp.datasets import load_dataset

    return load_dataset("elastic_tensor_2015")


@pytest.fixture(scope="session")
def small(elastic):
    """60 real structures (the smallest ones, to keep tests fast) and their log10 G_VRH."""
    sizes = np.array([len(s) for s in elastic.structures])
    idx = np.argsort(sizes, kind="stable")[:60]
    return elastic.structures[idx], elastic.target[idx]


@pytest.fixture(scope="session")
def small_graphs(small):
    from skmatgp import CrystalGraphTransformer

    return CrystalGraphTransformer().fit_transform(small[0]), small[1]
