"""GNNGPRegressor in parts (encoder trainer, GP head, graph layer, encoder sources): the split
kept its numbers and its files.

``tests/model_parts_pins.py`` holds the predictions of four tiny fits on real structures from
the code before the split, and the form of the files its ``save`` wrote (the three schema
versions). Float32 sums run in another order on another CPU or torch build, so the fits are
compared to 1e-12 where the build matches and skipped elsewhere; files are written by today's
``save``, checked to have the form of the files before the split, and loaded back.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skmatgp import GNNGPRegressor, load
from tests.conftest import TINY
from tests.model_parts_pins import FILE_FORMS, FORMAT, GRAPH_SETTINGS, PINNED_FITS

FITS = {  # the pinned fits, each on the first 40 of small_graphs
    "exact": {},
    "validation": {"validation_fraction": 0.25, "epochs": 6, "patience": 1},  # std calibration
    "early_stopping": {"validation_fraction": 0.25, "epochs": 40, "patience": 2, "learning_rate": 0.05},
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
    if PINNED_FITS["build"] != _build():
        pytest.skip(f"pinned on {PINNED_FITS['build']}; this is {_build()}: float32 sums differ")
    graphs, y = small_graphs
    got = _record(name, _fit(name, graphs, y), graphs, y)
    for key, value in PINNED_FITS[name].items():
        np.testing.assert_allclose(
            np.asarray(got[key], float), np.asarray(value, float), rtol=1e-12, err_msg=key
        )


def _has_the_form(payload: dict, kind: str) -> None:
    form = FILE_FORMS[kind]
    # encoder_kind came with registered encoder kinds; older skmatgp read these files without it
    assert payload.pop("encoder_kind") == "crystal_graph"
    assert sorted(payload) == form["keys"]
    assert (payload["format"], payload["version"], payload["graph_settings"]) == (
        FORMAT,
        form["version"],
        GRAPH_SETTINGS,
    )
    if "scalars" in form:
        assert sorted(payload["scalars"]) == form["scalars"]
    if "sparse" in form:
        assert sorted(payload["sparse"]) == form["sparse"]


@pytest.mark.parametrize("name", ["exact", "sparse"])
def test_files_keep_the_form_they_had_before_the_split_and_load_alike(
    name, small_graphs, one_thread, tmp_path
):
    graphs, y = small_graphs
    model = _fit(name, graphs, y)
    model.save(tmp_path / "model.pt")
    _has_the_form(torch.load(tmp_path / "model.pt", weights_only=True), name)
    loaded = load(tmp_path / "model.pt")
    assert loaded.gp_head_ == name
    for got, expected in zip(
        loaded.predict(graphs[40:], return_std=True), model.predict(graphs[40:], return_std=True)
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(
        loaded.log_marginal_likelihood_value_, model.log_marginal_likelihood_value_, rtol=1e-12
    )


def test_an_encoder_file_keeps_its_form_and_starts_a_model(small_graphs, one_thread, tmp_path):
    graphs, y = small_graphs
    source = _fit("exact", graphs, y)
    source.save(tmp_path / "encoder.pt", encoder_only=True)
    _has_the_form(torch.load(tmp_path / "encoder.pt", weights_only=True), "encoder_only")
    model = GNNGPRegressor(**{**TINY, "epochs": 0}, encoder=tmp_path / "encoder.pt").fit(graphs[:40], y[:40])
    for key, value in source.encoder_.state_dict().items():
        assert torch.equal(model.encoder_.state_dict()[key], value)
    with pytest.raises(ValueError, match="holds only an encoder"):
        load(tmp_path / "encoder.pt")


# ---------------------------------------------------------------- the graph layer


def test_graph_settings_are_a_typed_value_with_a_stable_text_form(small):
    from skmatgp import CrystalGraphTransformer
    from skmatgp._graphs import GraphSettings

    settings = GraphSettings(np.float32(6.0), np.int64(12), 0.2)  # numpy numbers, as from a grid
    assert settings == GraphSettings(6.0, 12, 0.2) and hash(settings) == hash(GraphSettings(6, 12, 0.2))
    assert str(settings) == "radius=6.0,max_num_neighbors=12,step=0.2"
    assert GraphSettings.from_string(str(settings)) == settings == GraphSettings.of(str(settings))
    with pytest.raises(AttributeError):
        settings.radius = 8.0  # frozen: graphs share one instance
    graphs = CrystalGraphTransformer(radius=6.0).fit_transform(small[0][:3])
    assert all(graph.graph_settings == settings for graph in graphs)


def test_graphs_and_models_pickled_with_settings_as_text_still_work(small_graphs, tmp_path):
    """Before GraphSettings, graphs and a fitted model held the settings as text: a model
    still reads such graphs, refuses other settings by name, and saves the same text."""
    import copy

    from skmatgp._graphs import GraphSettings

    graphs, y = small_graphs
    old_graphs = np.empty(len(graphs), dtype=object)
    old_graphs[:] = [copy.copy(graph) for graph in graphs]
    for graph in old_graphs:
        graph.graph_settings = str(graph.graph_settings)
    model = GNNGPRegressor(**TINY).fit(old_graphs[:40], y[:40])
    assert model.graph_settings_ == GraphSettings(8.0, 12, 0.2)
    np.testing.assert_array_equal(model.predict(old_graphs[40:]), model.predict(graphs[40:]))
    model.graph_settings_ = str(model.graph_settings_)  # as an old pickle holds it
    np.testing.assert_array_equal(model.predict(graphs[40:]), model.predict(old_graphs[40:]))
    mixed = np.concatenate([graphs[40:45], old_graphs[45:50]])
    assert model.predict(mixed).shape == (10,)  # the same settings, written two ways
    other = copy.copy(graphs[40])
    other.graph_settings = GraphSettings(6.0, 12, 0.2)
    with pytest.raises(ValueError, match=r"built with radius=6.0,max_num_neighbors=12,step=0.2, but"):
        model.predict([other])
    model.save(tmp_path / "model.pt")
    assert torch.load(tmp_path / "model.pt", weights_only=True)["graph_settings"] == str(
        GraphSettings(8.0, 12, 0.2)
    )


@pytest.mark.slow  # fresh interpreters that import each module
def test_modules_that_read_graphs_need_not_import_the_regressor():
    """The graph helpers live in the graph layer: the pretrained-encoder transformer and the
    trainer reach them without importing GNNGPRegressor's module."""
    import subprocess
    import sys

    code = "import sys, skmatgp._pretrained, skmatgp._training; sys.exit('skmatgp._regressor' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ---------------------------------------------------------------- the encoder trainer


def test_the_trainer_alone_trains_the_encoder_the_regressor_trains(small_graphs):
    """EncoderTrainer is the regressor's training: the same encoder, seeds and data give the
    same weights, validation split and epoch count, without a GP."""
    from sklearn.utils import check_random_state

    from skmatgp import CrystalGraphEncoder
    from skmatgp._gp_head import seeded_torch
    from skmatgp._graph_batches import graph_settings_of
    from skmatgp._training import EncoderTrainer

    graphs, y = small_graphs
    params = {**TINY, "validation_fraction": 0.25, "epochs": 40, "patience": 2, "learning_rate": 0.05}
    model = GNNGPRegressor(**params).fit(graphs[:40], y[:40])

    trainer = EncoderTrainer(
        epochs=40, batch_size=16, learning_rate=0.05, weight_decay=1e-5, validation_fraction=0.25, patience=2
    )
    rng = check_random_state(0)
    y_std = (y[:40] - model.y_mean_) / model.y_scale_
    with seeded_torch(rng, torch.device("cpu")):
        architecture = {"hidden_channels": 8, "n_conv": 1, "embedding_dim": 4, "atom_features": "properties"}
        encoder = CrystalGraphEncoder.for_graphs(graph_settings_of(graphs), **architecture)
        validation, n_epochs = trainer.train(encoder, graphs[:40], y_std, rng, torch.device("cpu"))
    assert n_epochs == model.n_epochs_ < 40  # stopped early
    np.testing.assert_array_equal(validation, model.validation_indices_)
    for key, value in model.encoder_.state_dict().items():
        assert torch.equal(encoder.state_dict()[key], value), key
    assert not encoder.training


def test_the_trainer_checks_its_parameters_and_warns_without_a_split(caplog):
    from skmatgp._training import EncoderTrainer

    good = {"epochs": 1, "batch_size": 4, "learning_rate": 0.01, "weight_decay": 0.0, "patience": 1}
    with pytest.raises(ValueError, match=r"validation_fraction must be in \[0, 1\), got 1.0"):
        EncoderTrainer(**good, validation_fraction=1.0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        EncoderTrainer(**{**good, "batch_size": 0}, validation_fraction=0.1)
    trainer = EncoderTrainer(**good, validation_fraction=0.1)
    validation, training = trainer.split(40, np.random.RandomState(0))
    assert len(validation) == 0 and sorted(training) == list(range(40))
    assert "too few for a validation split of 5" in caplog.text
    validation, training = trainer.split(50, np.random.RandomState(0))
    assert len(validation) == 5 and len(set(validation) | set(training)) == 50


# ---------------------------------------------------------------- where the encoder comes from


def test_each_encoder_source_gives_the_encoder_a_fit_starts_from(small_graphs, tmp_path):
    from skmatgp import CrystalGraphEncoder
    from skmatgp._encoder_sources import encoder_origin, initial_encoder
    from skmatgp._graphs import GraphSettings

    graphs, y = small_graphs
    settings = GraphSettings(8.0, 12, 0.2)
    architecture = {"hidden_channels": 8, "n_conv": 2, "embedding_dim": 4, "atom_features": "embedding"}
    new = initial_encoder(None, settings, architecture)
    assert new.config == {"radius": 8.0, "gaussian_step": 0.2, **architecture}
    copied = initial_encoder(new, settings, {})
    assert copied is not new and encoder_origin(new) == "a CrystalGraphEncoder module"
    model = GNNGPRegressor(**TINY).fit(graphs[:40], y[:40])
    model.save(tmp_path / "model.pt")
    read = initial_encoder(tmp_path / "model.pt", settings, architecture)  # a file: its own architecture
    assert read.config == model.encoder_.config and encoder_origin(None) == "new weights (encoder=None)"
    for key, value in model.encoder_.state_dict().items():
        assert torch.equal(read.state_dict()[key], value)
    with pytest.raises(ValueError, match="radius 8.0 and Gaussian step 0.2, but these graphs were built"):
        initial_encoder(new, GraphSettings(6.0, 12, 0.2), {})
    with pytest.raises(ValueError, match="trained on graphs built with radius=8.0"):
        initial_encoder(tmp_path / "model.pt", GraphSettings(6.0, 12, 0.2), {})
    with pytest.raises(TypeError, match="encoder must be None, a torch.nn.Module"):
        initial_encoder(3, settings, architecture)
    assert isinstance(new, CrystalGraphEncoder)


# ---------------------------------------------------------------- the GP head's interface


def test_each_head_says_its_kind_and_round_trips_through_its_payload(small_graphs):
    """The regressors ask the head (its kind, whether it takes new points, its saved form)
    instead of testing its type."""
    from skmatgp._gp_head import head_from_payload, head_payload

    graphs, y = small_graphs
    for head, extra in (("exact", {}), ("sparse", {"n_inducing": 8})):
        model = GNNGPRegressor(**TINY, gp_head=head, **extra).fit(graphs[:40], y[:40])
        posterior = model.posterior_
        assert posterior.kind == model.gp_head_ == head
        again = head_from_payload(head_payload(posterior), model.gp_nu)
        assert type(again) is type(posterior)
        Z = torch.as_tensor(model.embed(graphs[40:]))
        for a, b in zip(again.predict_latent(Z), posterior.predict_latent(Z)):
            assert torch.equal(a, b)
        if head == "exact":
            posterior.check_updatable()
            assert np.isfinite(posterior.log_marginal_likelihood())
        else:
            with pytest.raises(NotImplementedError, match="gp_head='exact'"):
                posterior.check_updatable()
            assert np.isnan(posterior.log_marginal_likelihood())
