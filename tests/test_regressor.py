import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks as checks
from sklearn.utils import get_tags

from skmatgp import CrystalGraphTransformer, GNNGPRegressor, LogTargetRegressor
from tests.conftest import TINY

DATA_FREE_CHECKS = [
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_get_params_invariance",
    "check_set_params",
    "check_parameters_default_constructible",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_mixin_order",
    "check_valid_tag_types",
    "check_estimator_tags_renamed",
]


@pytest.mark.parametrize(
    "estimator", [CrystalGraphTransformer(), GNNGPRegressor(), LogTargetRegressor()], ids=repr
)
@pytest.mark.parametrize("check_name", DATA_FREE_CHECKS)
def test_data_free_sklearn_checks(estimator, check_name):
    check = getattr(checks, check_name, None)
    if check is None:
        pytest.skip(f"{check_name} is not in this scikit-learn")
    check(type(estimator).__name__, clone(estimator))


@checks.parametrize_with_checks([CrystalGraphTransformer(), GNNGPRegressor(), LogTargetRegressor()])
def test_parametrize_with_checks(estimator, check):
    check(estimator)


def test_tags_say_input_is_not_a_2d_array():
    for estimator in (CrystalGraphTransformer(), GNNGPRegressor()):
        assert estimator.__sklearn_tags__().input_tags.two_d_array is False


def test_pipeline_predicts_mean_and_std(small):
    X, y = small
    pipe = make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY))
    pipe.fit(X[:45], y[:45])
    mean = pipe.predict(X[45:])
    assert mean.shape == (15,)
    mean2, std = pipe.predict(X[45:], return_std=True)
    assert np.allclose(mean, mean2) and std.shape == (15,)
    assert np.all(std > 0) and np.all(np.isfinite(mean))


def test_clone_and_params():
    model = GNNGPRegressor(n_conv=2, random_state=3)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    copy.set_params(n_conv=1)
    assert copy.n_conv == 1 and model.n_conv == 2


def test_not_fitted_error(small_graphs):
    graphs, _ = small_graphs
    with pytest.raises(NotFittedError):
        GNNGPRegressor().predict(graphs)


def test_non_deterministic_tag_says_where_a_seed_does_not_fix_the_numbers():
    """scikit-learn's tag: False on the CPU (bit for bit, tested below), True on CUDA."""
    assert not get_tags(GNNGPRegressor(device="cpu")).non_deterministic
    assert get_tags(GNNGPRegressor(device="cuda:0")).non_deterministic  # even with no GPU here
    assert get_tags(GNNGPRegressor()).non_deterministic == torch.cuda.is_available()  # "auto"
    assert not get_tags(GNNGPRegressor(device="no such device")).non_deterministic  # fit says why


def test_seed_reproduces_and_leaves_global_rng_alone(small_graphs):
    graphs, y = small_graphs
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = GNNGPRegressor(**TINY).fit(graphs[:40], y[:40]).predict(graphs[40:], return_std=True)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = GNNGPRegressor(**TINY).fit(graphs[:40], y[:40]).predict(graphs[40:], return_std=True)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    other = {**TINY, "random_state": 1}
    c = GNNGPRegressor(**other).fit(graphs[:40], y[:40]).predict(graphs[40:])
    assert not np.array_equal(a[0], c)


def test_second_fit_starts_over_and_warm_start_continues(small_graphs):
    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY).fit(graphs[:40], y[:40])
    first = model.predict(graphs[40:])
    model.fit(graphs[:40], y[:40])
    assert np.array_equal(model.predict(graphs[40:]), first)  # same seed, started over
    warm = GNNGPRegressor(**TINY, warm_start=True).fit(graphs[:40], y[:40])
    encoder = warm.encoder_
    warm.fit(graphs[:40], y[:40])
    assert warm.encoder_ is encoder  # kept and trained further
    assert not np.array_equal(warm.predict(graphs[40:]), first)
    warm.set_params(n_conv=TINY["n_conv"] + 1, device="cpu:0")
    with pytest.raises(ValueError, match="n_conv=.*warm_start=False"):
        warm.fit(graphs[:40], y[:40])
    assert str(warm.device_) == "cpu"  # refused before the model changed
    other = clone(warm).fit(graphs[:40], y[:40]).set_params(encoder="other.pt")
    with pytest.raises(ValueError, match="started from new weights .* encoder is now 'other.pt'"):
        other.fit(graphs[:40], y[:40])
    warm.set_params(warm_start=False).fit(graphs[:40], y[:40])  # starts over with the new depth
    assert len(warm.encoder_.convs) == TINY["n_conv"] + 1


def test_pickle_and_joblib_round_trips(small_graphs, tmp_path):
    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY).fit(graphs[:40], y[:40])
    mean, std = model.predict(graphs[40:], return_std=True)
    restored = pickle.loads(pickle.dumps(model))
    assert np.array_equal(restored.predict(graphs[40:]), mean)
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    mean2, std2 = loaded.predict(graphs[40:], return_std=True)
    assert np.array_equal(mean2, mean) and np.array_equal(std2, std)


@pytest.mark.slow  # worker processes that import torch
def test_grid_search_over_encoder_parameter_in_parallel(small):
    X, y = small
    pipe = make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY))
    search = GridSearchCV(
        pipe,
        {"gnngpregressor__hidden_channels": [4, 8]},
        cv=KFold(2, shuffle=True, random_state=0),
        scoring="neg_mean_absolute_error",
        n_jobs=2,
    )
    search.fit(X, y)
    assert search.best_params_["gnngpregressor__hidden_channels"] in (4, 8)
    _mean, std = search.best_estimator_.predict(X[:5], return_std=True)
    assert std.shape == (5,)


def test_cross_val_score(small):
    X, y = small
    pipe = make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY))
    scores = cross_val_score(pipe, X, y, cv=3, scoring="neg_mean_absolute_error")
    assert scores.shape == (3,) and np.all(np.isfinite(scores)) and np.all(scores < 0)


def test_learns_better_than_the_mean(elastic):
    """A small but real model on 400 real structures beats predicting the training mean."""
    X, y = elastic.structures[:500], elastic.target[:500]
    graphs = CrystalGraphTransformer().fit_transform(X)
    model = GNNGPRegressor(
        hidden_channels=16, n_conv=2, embedding_dim=8, epochs=15, gp_iterations=50, random_state=0
    )
    model.fit(graphs[:400], y[:400])
    mean, std = model.predict(graphs[400:], return_std=True)
    mae = np.abs(mean - y[400:]).mean()
    assert mae < 0.8 * np.abs(y[:400].mean() - y[400:]).mean()
    coverage = np.mean(np.abs(mean - y[400:]) <= 1.96 * std)
    assert 0.75 <= coverage <= 1.0
    # the validation split's held-out predictions: 10% of the training set, from a GP
    # conditioned on the other 90%; the final GP, which has seen them, predicts them closer
    val = model.validation_indices_
    assert len(val) == 40 and len(np.unique(val)) == 40 and val.max() < 400
    held_out_mae = np.abs(model.validation_predictions_ - y[val]).mean()
    assert held_out_mae > np.abs(model.predict(graphs[val]) - y[val]).mean()
    assert held_out_mae < 0.8 * np.abs(y[:400].mean() - y[val]).mean()
    # their std comes from the same held-out GP; std_scale_ was chosen to make their
    # z-scores' root mean square one
    z_scores = (y[val] - model.validation_predictions_) / model.validation_std_
    assert model.validation_std_.shape == (40,) and np.all(model.validation_std_ > 0)
    assert np.sqrt(np.mean(z_scores**2)) == pytest.approx(1.0, rel=1e-6)


def test_update_conditions_without_retraining(small_graphs):
    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY).fit(graphs[:40], y[:40])
    state = {k: v.clone() for k, v in model.encoder_.state_dict().items()}
    _, std_before = model.predict(graphs[40:45], return_std=True)
    model.update(graphs[40:45], y[40:45])
    _, std_after = model.predict(graphs[40:45], return_std=True)
    assert np.all(std_after < std_before)
    assert len(model.posterior_.y) == 45
    for key, value in model.encoder_.state_dict().items():
        assert torch.equal(value, state[key])


def test_input_errors_are_clear(small, small_graphs):
    structures, _ = small
    graphs, y = small_graphs
    with pytest.raises(TypeError, match="CrystalGraphTransformer"):
        GNNGPRegressor(**TINY).fit(structures[:10], y[:10])
    with pytest.raises(ValueError, match="10 items but y has 9"):
        GNNGPRegressor(**TINY).fit(graphs[:10], y[:9])
    bad = y[:10].copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="index 3"):
        GNNGPRegressor(**TINY).fit(graphs[:10], bad)
    with pytest.raises(ValueError, match="empty"):
        GNNGPRegressor(**TINY).fit([], [])
    with pytest.raises(ValueError, match="atom_features"):
        GNNGPRegressor(atom_features="onehot").fit(graphs[:10], y[:10])
    with pytest.raises(ValueError, match=r"validation_fraction must be in \[0, 1\), got None"):
        GNNGPRegressor(validation_fraction=None).fit(graphs[:10], y[:10])


def test_numpy_numbers_are_valid_parameters(small, tmp_path):
    """Values from a numpy grid (np.float32, np.int64) are numbers like any other."""
    from skmatgp import load

    structures, y = small
    params = {
        **TINY,
        "learning_rate": np.float32(0.01),
        "validation_fraction": np.float64(0.2),
        "epochs": np.int64(3),
    }
    pipeline = make_pipeline(CrystalGraphTransformer(radius=np.float32(6.0)), GNNGPRegressor(**params))
    assert np.all(np.isfinite(pipeline.fit(structures[:30], y[:30]).predict(structures[30:])))
    pipeline[-1].save(tmp_path / "model.pt")  # the parameters are written as JSON
    assert load(tmp_path / "model.pt").learning_rate == pytest.approx(0.01)


def test_graphs_with_other_settings_are_refused(small, small_graphs):
    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY).fit(graphs[:40], y[:40])
    other = CrystalGraphTransformer(radius=6.0).fit_transform(small[0][40:])
    with pytest.raises(ValueError, match="radius=6.0.*radius=8.0"):
        model.predict(other)


def test_learned_element_embedding_option(small_graphs):
    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY, atom_features="embedding").fit(graphs[:40], y[:40])
    assert np.all(np.isfinite(model.predict(graphs[40:])))


def test_duplicate_structures_do_not_crash(small_graphs):
    graphs, y = small_graphs
    repeated = np.concatenate([graphs[:10]] * 4)
    model = GNNGPRegressor(**TINY).fit(repeated, np.tile(y[:10], 4))
    mean, std = model.predict(graphs[:10], return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)


def test_save_and_load_without_pickle(small, small_graphs, tmp_path):
    from skmatgp import load

    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY).fit(graphs[:40], y[:40])
    model.update(graphs[40:43], y[40:43])  # the saved GP includes conditioned points
    mean, std = model.predict(graphs[43:], return_std=True)
    path = tmp_path / "model.pt"
    model.save(path)
    # the file is tensors and plain data only: the safe loader reads it
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "skmatgp.GNNGPRegressor"
    loaded = load(path)
    assert loaded.get_params() == {**model.get_params(), "device": "cpu"}
    mean2, std2 = loaded.predict(graphs[43:], return_std=True)
    assert np.allclose(mean2, mean, atol=1e-10) and np.allclose(std2, std, atol=1e-10)
    held_out = (loaded.validation_indices_, loaded.validation_predictions_, loaded.validation_std_)
    assert all(a.size == 0 for a in held_out)  # not saved
    loaded.update(graphs[43:45], y[43:45])  # and it keeps working as a model
    with pytest.raises(ValueError, match="radius=6.0"):  # the graph settings were saved too
        loaded.predict(CrystalGraphTransformer(radius=6.0).fit_transform(small[0][:3]))


def test_load_refuses_other_files(tmp_path):
    from skmatgp import load

    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a model saved"):
        load(tmp_path / "other.pt")
    with pytest.raises(NotFittedError):
        GNNGPRegressor().save(tmp_path / "unfitted.pt")


def test_return_cov_is_the_joint_predictive(small):
    X, y = small
    pipe = make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY)).fit(X[:45], y[:45])
    mean, std = pipe.predict(X[45:], return_std=True)
    same_mean, covariance = pipe.predict(X[45:], return_cov=True)
    assert covariance.shape == (15, 15) and np.allclose(covariance, covariance.T)
    assert np.allclose(same_mean, mean) and np.allclose(np.sqrt(np.diag(covariance)), std)
    assert np.linalg.eigvalsh(covariance).min() > 0
    # two copies of one structure: their latent values are one, so they covary fully but
    # for the noise
    _, pair = pipe.predict(X[[45, 45]], return_cov=True)
    noise = pipe[-1].posterior_.noise * (pipe[-1].std_scale_ * pipe[-1].y_scale_) ** 2
    assert np.isclose(pair[0, 0] - pair[0, 1], noise)
    with pytest.raises(RuntimeError, match="At most one of return_std or return_cov"):
        pipe.predict(X[45:], return_std=True, return_cov=True)


def test_sample_y_and_log_marginal_likelihood(small_graphs):
    """scikit-learn's GaussianProcessRegressor habits on the GNN model: joint draws of y with
    the predictive mean and covariance, and the LML of the exact head, kept by update."""
    from skmatgp._gp_head import log_marginal_likelihood

    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY).fit(graphs[:40], y[:40])
    draws = model.sample_y(graphs[40:45], n_samples=4000, random_state=0)
    mean, cov = model.predict(graphs[40:45], return_cov=True)
    assert draws.shape == (5, 4000) and np.array_equal(draws, model.sample_y(graphs[40:45], 4000, 0))
    assert np.allclose(draws.mean(1), mean, atol=4 * np.sqrt(np.diag(cov) / 4000).max())
    assert np.allclose(np.cov(draws), cov, atol=0.15 * np.abs(cov).max())
    assert model.sample_y(graphs[40:41]).shape == (1, 1)
    before = model.log_marginal_likelihood_value_
    assert np.isfinite(before) and before == log_marginal_likelihood(model.posterior_)
    model.update(graphs[40:45], y[40:45])
    assert model.log_marginal_likelihood_value_ == log_marginal_likelihood(model.posterior_) != before
    sparse = GNNGPRegressor(**TINY, gp_head="sparse", n_inducing=8).fit(graphs[:40], y[:40])
    assert np.isnan(sparse.log_marginal_likelihood_value_)
    assert np.all(np.isfinite(sparse.sample_y(graphs[40:45], n_samples=3)))


def test_the_notebook_repr_links_to_the_api_page():
    from sklearn.utils import estimator_html_repr

    url = "https://skmatgp.readthedocs.io/en/latest/generated/skmatgp.GNNGPRegressor.html"
    assert GNNGPRegressor()._get_doc_link() == url and url in estimator_html_repr(GNNGPRegressor())
    assert not hasattr(GNNGPRegressor(), "n_features_in_")  # structures in: no feature count
