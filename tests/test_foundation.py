"""FoundationFeaturizer on real structures: CHGNet's own crystal features, SevenNet's rotation
invariance, the disk cache, refusals, and the scikit-learn contract."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from scipy.spatial.transform import Rotation
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_checks as checks

from skmatgp import FoundationFeaturizer, StructureDescriptors
from skmatgp import _foundation as foundation
from skmatgp._feature_cache import structure_key

pytest.importorskip("chgnet")
CPU = torch.device("cpu")


def chgnet_featurizer(**params):
    """CHGNet 0.3.0's last layer, mean-pooled unless said: what these tests check against CHGNet."""
    return FoundationFeaturizer(**{"model": "chgnet", "layer": -1, "pooling": "mean", **params})


@pytest.fixture(scope="module")
def tiny(small):
    """Six two-site structures from elastic_tensor_2015 (SiOs, Na, Li, Hf, Sb, Ag)."""
    return small[0][:6]


@pytest.fixture(scope="module")
def mixed(elastic):
    """Two structures of 4 to 6 sites and two or more elements."""
    picks = [s for s in elastic.structures if 4 <= len(s) <= 6 and len(s.composition) >= 2][:2]
    out = np.empty(2, dtype=object)
    out[:] = picks
    return out


@pytest.fixture(scope="module")
def chgnet():
    """The loaded CHGNet, loaded once for the module (the featurizers share it)."""
    return foundation._loaded("chgnet", CPU).model


@pytest.fixture(scope="module")
def chgnet_features(tiny, chgnet):
    """Every layer and statistic of the tiny structures, computed once without a cache."""
    return {layer: chgnet_featurizer(layer=layer, pooling="mean_max").transform(tiny) for layer in range(4)}


def test_last_layer_mean_is_chgnets_crystal_fea(mixed, tiny, chgnet):
    """CHGNet's crystal_fea is the sum over atoms of the last layer after the readout
    LayerNorm; the mean times the atom count is that sum."""
    structures = np.concatenate([mixed, tiny])
    features = chgnet_featurizer().fit_transform(structures)
    reference = chgnet.predict_structure(list(structures), task="e", return_crystal_feas=True)
    crystal_fea = np.array([r["crystal_fea"] for r in reference])
    n_atoms = np.array([len(s) for s in structures])[:, None]
    assert features.dtype == np.float64 and features.shape == (8, 64)
    np.testing.assert_allclose(features * n_atoms, crystal_fea, rtol=1e-5, atol=1e-5)


def test_layers_poolings_and_names(tiny, chgnet_features):
    mean_max = chgnet_features[3]
    assert mean_max.shape == (6, 128)
    mean = chgnet_featurizer(layer=-1).fit_transform(tiny)
    np.testing.assert_array_equal(mean, mean_max[:, :64])  # the same numbers, the first half
    assert np.all(mean_max[:, 64:] >= mean - 1e-6)
    mean_std = chgnet_featurizer(layer=0, pooling="mean_std").fit(tiny)
    assert mean_std.n_features_out_ == 128
    std = mean_std.transform(tiny)[:, 64:]
    assert np.all(std >= 0)
    assert not np.allclose(chgnet_features[0][:, :64], chgnet_features[3][:, :64])  # layers differ
    names = chgnet_featurizer(layer=-1, pooling="mean_max").get_feature_names_out()
    assert names[0] == "chgnet_l3_mean_0" and names[64] == "chgnet_l3_max_0" and len(names) == 128
    assert (
        FoundationFeaturizer(model="sevennet", layer=1, pooling="mean").get_feature_names_out()[-1]
        == "sevennet_l1_mean_127"
    )


def test_mean_and_max_do_not_depend_on_the_cell(mixed):
    """A 2x1x1 supercell holds the same atoms twice: the same mean and max per layer."""
    s = mixed[0]
    both = np.empty(2, dtype=object)
    both[:] = [s, s * (2, 1, 1)]
    rows = chgnet_featurizer(layer=1, pooling="mean_max").transform(both)
    np.testing.assert_allclose(rows[0], rows[1], atol=1e-5)


def test_cache_serves_every_layer_and_pooling(tmp_path, tiny, chgnet_features, monkeypatch):
    first = chgnet_featurizer(cache_dir=tmp_path, pooling="mean_max").transform(tiny)
    np.testing.assert_array_equal(first, chgnet_features[3])
    files = list(tmp_path.rglob("*.npy"))
    assert len(files) == 6 and all(f.parent.parent.name == foundation.model_id("chgnet") for f in files)
    assert not list(tmp_path.rglob("*.tmp"))

    def no_model(*args, **kwargs):
        raise AssertionError("the model ran although the cache holds every structure")

    monkeypatch.setattr(foundation, "_loaded", no_model)
    monkeypatch.setattr(foundation, "_convert", no_model)
    for layer in range(4):
        again = chgnet_featurizer(cache_dir=tmp_path, layer=layer, pooling="mean_max").transform(tiny)
        np.testing.assert_array_equal(again, chgnet_features[layer])
    std = chgnet_featurizer(cache_dir=tmp_path, layer=0, pooling="mean_std").transform(tiny)
    assert std.shape == (6, 128) and np.all(std[:, 64:] >= 0)
    # the same crystal with its sites in another order (and one wrapped) is the same entry
    s = tiny[0].copy()
    reordered = Structure(s.lattice, s.species[::-1], (s.frac_coords[::-1] + [[1, 0, 0], [0, 0, 0]]))
    assert structure_key(reordered) == structure_key(s)
    moved = s.copy()
    moved.translate_sites([0], [0.001, 0, 0])
    assert structure_key(moved) != structure_key(s)


def test_cache_fills_only_the_missing_structures(tmp_path, tiny, chgnet_features, monkeypatch):
    chgnet_featurizer(cache_dir=tmp_path).transform(tiny[:4])
    converted = []
    real = foundation._convert

    def counting(model, structures, n_jobs):
        converted.extend(structures)
        return real(model, structures, n_jobs)

    monkeypatch.setattr(foundation, "_convert", counting)
    out = chgnet_featurizer(cache_dir=tmp_path, layer=2, pooling="mean_max").transform(tiny[::-1])
    assert len(converted) == 2  # the two the first call did not see
    np.testing.assert_array_equal(out, chgnet_features[2][::-1])


def test_cache_dir_auto_is_the_cache_home_not_the_data_home(tmp_path, tiny, monkeypatch):
    monkeypatch.setenv("SKMATGP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SKMATGP_DATA", str(tmp_path / "data"))
    chgnet_featurizer(cache_dir="auto").transform(tiny[:1])
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1
    assert not (tmp_path / "data").exists()


def test_an_unwritable_cache_warns_once_and_still_gives_the_features(tmp_path, tiny, chgnet_features):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    with pytest.warns(UserWarning, match="Cannot write the feature cache") as caught:
        out = chgnet_featurizer(cache_dir=blocked).transform(tiny)
    assert len([w for w in caught if "feature cache" in str(w.message)]) == 1
    np.testing.assert_array_equal(out, chgnet_featurizer().transform(tiny))


def test_an_emptied_cache_file_is_computed_again(tmp_path, tiny, chgnet_features):
    """A cache write is not flushed to disk (a file per structure), so a crash may leave an empty
    file: it is a missing entry, computed again and replaced, not an error."""
    first = chgnet_featurizer(cache_dir=tmp_path).transform(tiny[:2])
    files = sorted(tmp_path.rglob("*.npy"))
    assert len(files) == 2 and not list(tmp_path.rglob("*.tmp"))
    files[0].write_bytes(b"")
    again = chgnet_featurizer(cache_dir=tmp_path).transform(tiny[:2])
    np.testing.assert_allclose(again, first, rtol=1e-4, atol=1e-6)  # float32 of a batch of one
    assert files[0].stat().st_size > 0


def test_elements_outside_training_are_refused_naming_the_index(tiny):
    americium = Structure(Lattice.cubic(3.5), ["Am"], [[0, 0, 0]])
    structures = np.empty(3, dtype=object)
    structures[:] = [tiny[0], americium, tiny[1]]
    with pytest.raises(ValueError, match=r"index 1 contains Am \(Z = 95\).*CHGNet"):
        chgnet_featurizer().transform(structures)
    with pytest.warns(UserWarning, match=r"indices \[1\]"):
        out = chgnet_featurizer(on_error="warn").transform(structures)
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()
    # polonium is in CHGNet's Z = 1 to 94 but not in SevenNet-0's checkpoint
    polonium = Structure(Lattice.cubic(3.36), ["Po"], [[0, 0, 0]])
    assert np.isfinite(chgnet_featurizer().transform([polonium])).all()
    with pytest.raises(ValueError, match=r"index 0 contains Po \(Z = 84\).*SevenNet-0"):
        FoundationFeaturizer(model="sevennet").transform([polonium])


def test_lone_atoms_and_disorder_are_refused(tiny):
    lone = Structure(Lattice.cubic(10.0), ["Cu"], [[0, 0, 0]])
    with pytest.raises(ValueError, match=r"index 0 has 1 atom\(s\) with no neighbour within 6 Å"):
        chgnet_featurizer().transform([lone])
    with pytest.raises(ValueError, match=r"within 5 Å"):
        FoundationFeaturizer(model="sevennet").transform([lone])
    alloy = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    with pytest.raises(ValueError, match="index 0 has a disordered site"):
        chgnet_featurizer().transform([alloy])


def test_sevennet_features_do_not_turn_with_the_structure(mixed):
    s = mixed[1]
    rotation = Rotation.from_euler("xyz", [0.3, 1.1, -0.7]).as_matrix()
    turned = Structure(Lattice(s.lattice.matrix @ rotation.T), s.species, s.frac_coords)
    both = np.empty(2, dtype=object)
    both[:] = [s, turned]
    for layer in (0, 2, -1):
        rows = FoundationFeaturizer(model="sevennet", layer=layer, pooling="mean_std").transform(both)
        assert rows.shape == (2, 256)
        np.testing.assert_allclose(rows[0], rows[1], atol=1e-5)


def test_union_with_descriptors_into_ridge(tmp_path, small):
    structures, y = small[0][:16], small[1][:16]
    features = make_union(chgnet_featurizer(cache_dir=tmp_path), StructureDescriptors())
    model = make_pipeline(features, StandardScaler(), Ridge(alpha=10.0)).fit(structures[:12], y[:12])
    assert model.predict(structures[12:]).shape == (4,)
    names = features.get_feature_names_out()
    assert names[0] == "foundationfeaturizer__chgnet_l3_mean_0" and len(names) == 64 + 132


@pytest.mark.slow  # worker processes that import torch and SevenNet
def test_grid_search_processes_share_the_cache(tmp_path, small):
    """Two worker processes fill one cache folder (atomic writes); the search over layers then
    reads every structure's features from it."""
    structures, y = small[0][:8], small[1][:8]
    pipe = make_pipeline(chgnet_featurizer(cache_dir=tmp_path), StandardScaler(), Ridge())
    search = GridSearchCV(pipe, {"foundationfeaturizer__layer": [0, -1]}, cv=2, n_jobs=2).fit(structures, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert len(list(tmp_path.rglob("*.npy"))) == 8 and not list(tmp_path.rglob("*.tmp"))


def test_verbose_shows_a_bar(tiny, capsys):
    chgnet_featurizer(verbose=1).transform(tiny[:2])
    assert "CHGNet 0.3.0 features" in capsys.readouterr().err


def test_pandas_output_names_the_columns(tiny):
    frame = chgnet_featurizer(layer=0).set_output(transform="pandas").fit_transform(tiny[:2])
    assert list(frame.columns[:2]) == ["chgnet_l0_mean_0", "chgnet_l0_mean_1"]


def test_clone_pickle_and_params(tiny, chgnet_features):
    featurizer = chgnet_featurizer(layer=2, pooling="mean_max", batch_size=4).fit(tiny)
    copy = pickle.loads(pickle.dumps(featurizer))
    np.testing.assert_array_equal(copy.transform(tiny), chgnet_features[2])  # batches of 4: same numbers
    assert len(pickle.dumps(featurizer)) < 2000  # the model is never pickled
    twin = clone(featurizer)
    assert twin.get_params() == featurizer.get_params() and not hasattr(twin, "n_features_out_")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"model": "mace"}, "model must be one of"),
        ({"model": "chgnet", "layer": 4}, "layer must be an integer from -4 to 3"),
        ({"model": "sevennet", "layer": -6}, "from -5 to 4"),
        ({"pooling": "sum"}, "pooling must be one of"),
        ({"on_error": "ignore"}, "on_error"),
        ({"batch_size": 0}, "batch_size"),
        ({"device": "gpu7"}, "device must be"),
    ],
)
def test_bad_parameters_are_refused_in_fit_or_transform(tiny, params, message):
    with pytest.raises(ValueError, match=message):
        FoundationFeaturizer(**params).fit(tiny[:1]).transform(tiny[:1])


@pytest.mark.parametrize(
    "check_name",
    [
        "check_no_attributes_set_in_init",
        "check_get_params_invariance",
        "check_set_params",
        "check_parameters_default_constructible",
        "check_do_not_raise_errors_in_init_or_set_params",
        "check_mixin_order",
    ],
)
def test_data_free_sklearn_checks(check_name):
    getattr(checks, check_name)("FoundationFeaturizer", FoundationFeaturizer())


def test_loading_leaves_torchs_random_state_alone(tiny, monkeypatch):
    monkeypatch.setattr(foundation, "_LOADED", {})  # force a fresh load
    state = torch.get_rng_state()
    chgnet_featurizer().transform(tiny[:1])
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpus_features(tiny, mixed):
    structures = np.concatenate([tiny, mixed])
    for model in ("chgnet", "sevennet"):
        cpu = chgnet_featurizer(model=model, pooling="mean_std").transform(structures)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            cuda = chgnet_featurizer(model=model, pooling="mean_std", device="cuda").transform(structures)
        np.testing.assert_allclose(cuda, cpu, rtol=1e-4, atol=1e-4)
