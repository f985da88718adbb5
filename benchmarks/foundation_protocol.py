"""What the foundation-feature benchmarks share: datasets, their targets, the feature cache and
the models built from a chosen configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.pipeline import make_pipeline, make_union

from skmatgp import FoundationFeaturizer, GPRegressor, LogTargetRegressor, StructureDescriptors
from skmatgp.datasets import load_dataset

HERE = Path(__file__).parent
CACHE = HERE / "work" / "feature_cache"  # shared by every benchmark run on this machine
# dataset -> the Matbench task's target, and whether it is positive (a log scale can apply)
DATASETS = {
    "matbench_dielectric": {"target": "n", "positive": True},
    "elastic_tensor_2015": {"target": "log10_G_VRH", "positive": False},  # already a log
    "castelli_perovskites_7k": {"target": "e_form", "positive": False},
}
LAYERS = {"chgnet": (0, 1, 2, 3), "sevennet": (0, 1, 2, 3, 4)}
# what leaks: both potentials trained on MPtrj (Materials Project relaxations). Formation
# energies of MP structures leak; these three targets do not directly (castelli's e_form is a
# GLLB-SC/GPAW heat of formation of perovskites outside MP, not an MPtrj label)
LEAKS = {
    "matbench_dielectric": "no: refractive indices are not MPtrj labels",
    "elastic_tensor_2015": "no: elastic moduli are not MPtrj labels",
    "castelli_perovskites_7k": "partly: formation energies are close to MPtrj's energies, though "
    "Castelli's are from another code and functional on structures outside MP",
}


def load(name: str, quick: bool = False):
    """(structures, y) of a dataset's Matbench task (in quick mode a 300-row subset)."""
    data = load_dataset(name)
    structures, y = data.structures, np.asarray(data.target, dtype=float)
    if quick:
        keep = np.sort(np.random.default_rng(0).permutation(len(y))[:300])
        structures, y = structures[keep], y[keep]
    return structures, y


def featurizer(model: str, layer: int, pooling: str, descriptors: bool = False):
    """Structures to the features of one configuration, read from the shared cache."""
    features = FoundationFeaturizer(model=model, layer=layer, pooling=pooling, cache_dir=CACHE)
    return make_union(features, StructureDescriptors()) if descriptors else features


def gp_model(config: dict, seed: int):
    """The pipeline of one configuration: features, a GPRegressor, log(y) where chosen."""
    pipe = make_pipeline(
        featurizer(config["model"], config["layer"], config["pooling"], config.get("descriptors", False)),
        GPRegressor(nu=config["nu"], device="cpu", random_state=seed),
    )
    return LogTargetRegressor(pipe) if config.get("log_target") else pipe


def predict_with_interval(model, X) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mean, std, lower, upper) of the central 95% interval: a log-normal's for a log target
    (its median, delta-method std and exact quantiles), a Gaussian's otherwise."""
    if isinstance(model, LogTargetRegressor):
        median, std = model.predict(X, return_std=True)
        lower, upper = model.predict_interval(X, 0.95)
        return median, std, lower, upper
    mean, std = model.predict(X, return_std=True)
    return mean, std, mean - 1.959964 * std, mean + 1.959964 * std
