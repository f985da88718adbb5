"""GNNGPRegressor in parts (encoder trainer, GP head, graph layer, encoder sources): the split
kept its numbers and its files.

``tests/data/gnngp_before_split/`` was written by the code before the split (skmatgp at
a83caa7, torch 2.13 on an AVX512 CPU, one thread): ``pinned_fits.json`` holds the predictions
of three tiny fits on real structures, and ``exact.pt``, ``sparse.pt`` and
``encoder_only.pt`` are files its ``save`` wrote (the three schema versions), with their
predictions in ``predictions.json``. Float32 training sums in another order on another CPU
or torch build, so the fits are compared to 1e-12 where the build matches and skipped
elsewhere; loaded files predict from saved factors, so they are compared everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from skmatgp import GNNGPRegressor, load
from tests.conftest import TINY

DATA = Path(__file__).parent / "data" / "gnngp_before_split"
FITS = {  # the fits of pinned_fits.json, each on the first 40 of small_graphs
    "exact": {},
    "validation": {"validation_fraction": 0.25, "epochs": 6, "patience": 1},  # early stopping
    "sparse": {"gp_head": "sparse", "n_inducing": 8},
}


def _build() -> dict:
    return {"torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability()}


@pytest.fixture
def one_thread():
    torch.set_num_threads(1)  # conftest puts the count back: other counts sum in other orders


def _fit(name, graphs, y):
    return GNNGPRegressor(**{**TINY, **FITS[name]}).fit(graphs[:40], y[:40])


def _record(name, model, graphs, y) -> dict:
    mean, std = model.predict(graphs[40:], return_std=True)
    record = {
        "mean": mean.tolist(),
        "std": std.tolist(),
        "std_scale": model.std_scale_,
        "n_epochs": model.n_epochs_,
        "validation_indices": model.validation_indices_.tolist(),
        "validation_predictions": model.validation_predictions_.tolist(),
        "validation_std": model.validation_std_.tolist(),
        "lml": model.log_marginal_likelihood_value_,
    }
    if name == "exact":
        model.update(graphs[40:45], y[40:45])
        record["after_update"] = [part.tolist() for part in model.predict(graphs[45:], return_std=True)]
    return record


@pytest.mark.parametrize("name", FITS)
def test_fits_predict_what_they_did_before_the_split(name, small_graphs, one_thread):
    pinned = json.loads((DATA / "pinned_fits.json").read_text())
    if pinned["build"] != _build():
        pytest.skip(f"pinned on {pinned['build']}; this is {_build()}: float32 sums differ")
    graphs, y = small_graphs
    got = _record(name, _fit(name, graphs, y), graphs, y)
    for key, value in pinned[name].items():
        np.testing.assert_allclose(
            np.asarray(got[key], float), np.asarray(value, float), rtol=1e-12, err_msg=key
        )


@pytest.mark.parametrize("name", ["exact", "sparse"])
def test_files_saved_before_the_split_load_and_predict_alike(name, small_graphs, one_thread, tmp_path):
    graphs, _ = small_graphs
    expected = json.loads((DATA / "predictions.json").read_text())[name]
    model = load(DATA / f"{name}.pt")
    assert model.gp_head_ == name
    mean, std = model.predict(graphs[40:], return_std=True)
    np.testing.assert_allclose(mean, expected["mean"], rtol=1e-12)
    np.testing.assert_allclose(std, expected["std"], rtol=1e-12)
    np.testing.assert_allclose(model.log_marginal_likelihood_value_, expected["lml"], rtol=1e-12)
    # saved again, the file has the same form: the same keys, version and graph settings
    model.save(tmp_path / "again.pt")
    old = torch.load(DATA / f"{name}.pt", weights_only=True)
    new = torch.load(tmp_path / "again.pt", weights_only=True)
    assert set(new) == set(old) and set(new["scalars"]) == set(old["scalars"])
    assert (new["format"], new["version"], new["graph_settings"]) == (
        old["format"],
        old["version"],
        old["graph_settings"],
    )
    assert isinstance(new["graph_settings"], str)


def test_an_encoder_file_saved_before_the_split_starts_a_model(small_graphs, one_thread):
    graphs, y = small_graphs
    expected = json.loads((DATA / "predictions.json").read_text())["encoder_only"]
    model = GNNGPRegressor(**{**TINY, "epochs": 0}, encoder=DATA / "encoder_only.pt").fit(graphs[:40], y[:40])
    before = load(DATA / "exact.pt")
    for key, value in before.encoder_.state_dict().items():
        assert torch.equal(model.encoder_.state_dict()[key], value)
    # the saved encoder's raw embeddings, scaled by this fit's range instead of the saved one
    raw = np.asarray(expected["embedding"]) * before.embedding_range_.numpy() + before.embedding_min_.numpy()
    again = model.embed(graphs[40:]) * model.embedding_range_.numpy() + model.embedding_min_.numpy()
    np.testing.assert_allclose(again, raw, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="holds only an encoder"):
        load(DATA / "encoder_only.pt")


def write_reference(graphs, y) -> None:  # pragma: no cover - run by hand, see the docstring
    """Write pinned_fits.json from this code (only where the code was checked to be right)."""
    torch.set_num_threads(1)
    pinned = {"build": _build(), **{name: _record(name, _fit(name, graphs, y), graphs, y) for name in FITS}}
    (DATA / "pinned_fits.json").write_text(json.dumps(pinned, indent=1) + "\n")
