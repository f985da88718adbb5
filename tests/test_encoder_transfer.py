"""Starting from another encoder: a saved model's (transfer), your own module, frozen or fine-tuned."""

import pickle
import re
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from torch import nn
from torch_geometric.nn import global_mean_pool

from skmatgp import CrystalGraphTransformer, GNNGPRegressor
from tests.conftest import TINY


@pytest.fixture(scope="module")
def source_model(small_graphs, tmp_path_factory):
    """A model trained on half of the structures (the "source task"), saved to a file."""
    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY).fit(graphs[:30], y[:30])
    path = tmp_path_factory.mktemp("pretrained") / "source.pt"
    model.save(path)
    return model, path


def test_frozen_pretrained_encoder_keeps_its_weights(source_model, small_graphs):
    source, path = source_model
    graphs, y = small_graphs
    target = GNNGPRegressor(**{**TINY, "epochs": 0}, encoder=path).fit(graphs[30:], y[30:])
    assert target.n_epochs_ == 0
    for key, value in source.encoder_.state_dict().items():
        assert torch.equal(value, target.encoder_.state_dict()[key])
    np.testing.assert_allclose(
        target._encoder_outputs(graphs[:10]), source._encoder_outputs(graphs[:10]), rtol=1e-6
    )
    mean, std = target.predict(graphs[:10], return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)


def test_an_encoder_only_file_starts_models_alike_and_is_not_a_model(source_model, small_graphs, tmp_path):
    from skmatgp import load

    source, path = source_model
    graphs, y = small_graphs
    slim = tmp_path / "encoder.pt"
    source.save(slim, encoder_only=True)
    contents = torch.load(slim, weights_only=True)
    assert contents["encoder_only"] and not {"L", "Z", "kernel"} & contents.keys()
    frozen = {**TINY, "epochs": 0}
    from_slim = GNNGPRegressor(**frozen, encoder=slim).fit(graphs[30:], y[30:])
    from_full = GNNGPRegressor(**frozen, encoder=path).fit(graphs[30:], y[30:])
    np.testing.assert_array_equal(from_slim.predict(graphs[:10]), from_full.predict(graphs[:10]))
    with pytest.raises(ValueError, match=r"only an encoder .* GNNGPRegressor\(encoder="):
        load(slim)


def test_fine_tuning_starts_from_the_pretrained_weights(source_model, small_graphs):
    source, path = source_model
    graphs, y = small_graphs
    before = {k: v.clone() for k, v in source.encoder_.state_dict().items()}
    tuned = GNNGPRegressor(**TINY, encoder=path).fit(graphs[30:], y[30:])
    assert tuned.n_epochs_ > 0
    changed = [k for k, v in tuned.encoder_.state_dict().items() if not torch.equal(v, before[k])]
    assert "head.weight" in changed
    for key, value in source.encoder_.state_dict().items():  # the source is left alone
        assert torch.equal(value, before[key])


def test_pretrained_encoder_refuses_graphs_built_otherwise(source_model, small):
    _, path = source_model
    graphs = CrystalGraphTransformer(radius=6.0).fit_transform(small[0][:20])
    with pytest.raises(ValueError, match="pretrained model"):
        GNNGPRegressor(**{**TINY, "epochs": 0}, encoder=path).fit(graphs, small[1][:20])


def test_saved_transfer_model_round_trips(source_model, small_graphs, tmp_path):
    from skmatgp import load

    _, path = source_model
    graphs, y = small_graphs
    model = GNNGPRegressor(**{**TINY, "epochs": 0}, encoder=path).fit(graphs[30:], y[30:])
    model.save(tmp_path / "target.pt")
    loaded = load(tmp_path / "target.pt")
    np.testing.assert_allclose(loaded.predict(graphs[:10]), model.predict(graphs[:10]))
    assert loaded.encoder == str(path)


def test_a_file_from_before_encoder_config_starts_a_model_of_another_architecture(
    source_model, small_graphs, tmp_path
):
    source, path = source_model
    graphs, y = small_graphs
    old = torch.load(path, weights_only=True)
    del old["encoder_config"]  # what files saved before it held
    torch.save(old, tmp_path / "old.pt")
    model = GNNGPRegressor(epochs=0, gp_iterations=5, encoder=tmp_path / "old.pt", device="cpu")
    model.fit(graphs[30:], y[30:])
    assert model.encoder_.config == source.encoder_.config
    assert model.encoder_.config["hidden_channels"] == TINY["hidden_channels"] != model.hidden_channels
    for key, value in source.encoder_.state_dict().items():
        assert torch.equal(value, model.encoder_.state_dict()[key])


def test_warm_start_keeps_track_of_the_encoder_file(source_model, small_graphs):
    _, path = source_model
    graphs, y = small_graphs
    model = GNNGPRegressor(**{**TINY, "epochs": 1}, encoder=Path(path), warm_start=True).fit(
        graphs[30:], y[30:]
    )
    model.set_params(encoder=str(path)).fit(graphs[30:], y[30:])  # the same file, written as a str
    assert model.encoder_origin_ == repr(str(path))
    with pytest.raises(ValueError, match="encoder is now"):
        model.set_params(encoder=str(path) + ".other").fit(graphs[30:], y[30:])
    assert model.encoder_origin_ == repr(str(path))  # a refused fit changes nothing


def test_a_failed_fit_leaves_the_model_unfitted(source_model, small_graphs):
    """Before, a cold refit that failed on a missing encoder file had already replaced the
    targets' mean and scale: the old encoder and GP went on predicting, shifted by the new
    targets' mean. Now the model is unfitted and says so."""
    _, path = source_model
    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY, encoder=path).fit(graphs[30:], y[30:])
    with pytest.raises(FileNotFoundError):
        model.set_params(encoder="missing.pt").fit(graphs[30:], y[30:] + 10.0)
    assert not hasattr(model, "y_mean_") and not hasattr(model, "encoder_")
    with pytest.raises(NotFittedError):
        model.predict(graphs[:5])
    model.set_params(encoder=path, warm_start=True).fit(graphs[30:], y[30:])  # starts over from the file
    assert model.encoder_origin_ == repr(str(path))


class MeanElementEncoder(nn.Module):
    """A deliberately simple custom encoder: a learned embedding per element, averaged."""

    def __init__(self, dim=6):
        super().__init__()
        self.atoms = nn.Embedding(101, dim)
        self.head = nn.Linear(dim, 1)

    def embed(self, batch):
        return global_mean_pool(self.atoms(batch.z), batch.batch, size=batch.num_graphs)

    def forward(self, batch):
        return self.head(self.embed(batch)).squeeze(-1)


def test_custom_module_encoder(small_graphs, tmp_path):
    graphs, y = small_graphs
    template = MeanElementEncoder()
    before = template.atoms.weight.detach().clone()
    model = GNNGPRegressor(**TINY, encoder=template).fit(graphs[:40], y[:40])
    assert torch.equal(template.atoms.weight, before)  # the template is copied, not trained
    assert model.embed(graphs[40:]).shape == (20, 6)
    mean, std = model.predict(graphs[40:], return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)
    with pytest.raises(TypeError, match="joblib"):
        model.save(tmp_path / "custom.pt")
    joblib.dump(model, tmp_path / "custom.joblib")
    np.testing.assert_allclose(joblib.load(tmp_path / "custom.joblib").predict(graphs[40:]), mean)


def test_encoder_without_embed_is_refused(small_graphs):
    graphs, y = small_graphs
    with pytest.raises(TypeError, match="embed"):
        GNNGPRegressor(**TINY, encoder=nn.Linear(3, 1)).fit(graphs[:20], y[:20])
    with pytest.raises(TypeError, match="encoder must be None"):
        GNNGPRegressor(**TINY, encoder=3).fit(graphs[:20], y[:20])


@pytest.mark.parametrize(
    "content, says",
    [(b"", "is empty"), (pickle.dumps({"a": 1}), "never unpickles"), (b"\x50\x4b\x03\x04 cut", "")],
    ids=["empty", "pickle", "truncated"],
)
def test_an_encoder_file_is_read_as_model_files_are(tmp_path, small_graphs, content, says):
    """GNNGPRegressor(encoder=path) refuses what skmatgp.load refuses, naming the path, and
    never asks for an unpickling load."""
    graphs, y = small_graphs
    path = tmp_path / "encoder.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(str(path))) as caught:
        GNNGPRegressor(encoder=str(path), **TINY).fit(graphs[:10], y[:10])
    assert says in str(caught.value) and "weights_only=False" not in str(caught.value)
