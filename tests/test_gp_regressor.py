"""GPRegressor: the GP head alone, on real feature matrices (descriptors of real structures)."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import skmatgp
from skmatgp import GNNGPRegressor, GPRegressor, LogTargetRegressor, StructureDescriptors, score_pool
from skmatgp._gp import ExactGPPosterior
from skmatgp.active import ActiveLearner, batch_entropy_sampling, max_entropy_sampling
from tests.conftest import FAST


@parametrize_with_checks([GPRegressor(**FAST)])
def test_scikit_learn_contract(estimator, check):
    """Unlike GNNGPRegressor (structures in), GPRegressor takes a 2-D array, so every one of
    scikit-learn's estimator checks applies."""
    check(estimator)


@pytest.fixture(scope="module")
def features(small):
    structures, y = small
    return StructureDescriptors().fit_transform(structures), y


@pytest.fixture(scope="module")
def fitted(features):
    X, y = features
    return GPRegressor(**FAST).fit(X[:45], y[:45])


def test_std_and_cov_agree_and_the_mean_is_the_posterior_mean(fitted, features):
    X, y = features
    mean, std = fitted.predict(X[45:], return_std=True)
    mean_c, cov = fitted.predict(X[45:], return_cov=True)
    assert np.allclose(mean, mean_c)
    assert np.allclose(np.sqrt(np.diag(cov)), std)
    assert np.all(std > 0) and np.all(np.isfinite(mean))
    # better than predicting the training mean on these held-out structures
    assert np.mean(np.abs(mean - y[45:])) < np.mean(np.abs(y[:45].mean() - y[45:]))


def test_log_marginal_likelihood_is_that_of_the_standardised_targets(fitted, features):
    X, y = features
    post = fitted.posterior_
    Z = torch.as_tensor(fitted.embed(X[:45]))
    K = post.kernel(Z, Z).to_dense().numpy() + post.noise * np.eye(45)
    y_std = (y[:45] - fitted.y_mean_) / fitted.y_scale_
    expected = multivariate_normal(mean=np.full(45, post.mean), cov=K).logpdf(y_std)
    assert fitted.log_marginal_likelihood_value_ == pytest.approx(expected, rel=1e-8)


def test_update_equals_conditioning_on_all_points_with_the_same_hyperparameters(fitted, features):
    X, y = features
    model = clone(fitted).fit(X[:40], y[:40])
    model.update(X[40:45], y[40:45])
    post = model.posterior_
    y_std = (y[:45] - model.y_mean_) / model.y_scale_
    direct = ExactGPPosterior(
        post.kernel, post.mean, post.noise, torch.as_tensor(model.embed(X[:45])), torch.as_tensor(y_std)
    )
    mean, variance = direct.predict_latent(torch.as_tensor(model.embed(X[45:])))
    got_mean, got_std = model.predict(X[45:], return_std=True)
    assert np.allclose(got_mean, mean.numpy() * model.y_scale_ + model.y_mean_, rtol=1e-9, atol=1e-9)
    expected_std = np.sqrt(variance.numpy() + post.noise) * model.y_scale_
    assert np.allclose(got_std, expected_std, rtol=1e-8)


def test_hyperparameters_on_a_subset_posterior_on_all(features):
    X, y = features
    full = GPRegressor(**FAST, max_hyperparameter_samples=None).fit(X[:45], y[:45])
    subset = GPRegressor(**FAST, max_hyperparameter_samples=10).fit(X[:45], y[:45])
    assert subset.posterior_.n == full.posterior_.n == 45
    assert not torch.equal(subset.posterior_.kernel.outputscale, full.posterior_.kernel.outputscale)


def test_same_seed_same_numbers_and_the_global_rng_untouched(features):
    X, y = features
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = GPRegressor(**FAST, calibrate_std=True).fit(X[:45], y[:45]).predict(X[45:], return_std=True)
    assert torch.equal(torch.rand(3), before)
    b = GPRegressor(**FAST, calibrate_std=True).fit(X[:45], y[:45]).predict(X[45:], return_std=True)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_calibration_scales_the_std_by_the_held_out_z_scores(features):
    X, y = features
    model = GPRegressor(**FAST, calibrate_std=True, validation_fraction=0.2).fit(X[:45], y[:45])
    assert len(model.validation_indices_) == 9
    z = (y[:45][model.validation_indices_] - model.validation_predictions_) / model.validation_std_
    assert np.sqrt(np.mean(z**2)) == pytest.approx(1.0)
    assert model.std_scale_ != 1.0


def test_save_and_load_give_the_same_predictions(fitted, features, small_graphs, tmp_path):
    X, _ = features
    path = tmp_path / "gp.pt"
    fitted.save(path)
    loaded = skmatgp.load(path)
    assert isinstance(loaded, GPRegressor) and loaded.get_params() == fitted.get_params()
    for a, b in zip(loaded.predict(X[45:], return_std=True), fitted.predict(X[45:], return_std=True)):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="holds a GPRegressor"):
        GNNGPRegressor(encoder=path, device="cpu").fit(small_graphs[0][:10], small_graphs[1][:10])


def test_sparse_head_on_features(features):
    X, y = features
    model = GPRegressor(**FAST, gp_head="sparse", n_inducing=8).fit(X[:45], y[:45])
    _, std = model.predict(X[45:], return_std=True)
    assert model.gp_head_ == "sparse" and np.all(std > 0) and np.isnan(model.log_marginal_likelihood_value_)
    with pytest.raises(NotImplementedError):
        model.update(X[45:], y[45:])


def test_sample_y_draws_from_the_joint_predictive(fitted, features):
    X, _ = features
    draws = fitted.sample_y(X[45:50], n_samples=4000, random_state=0)
    mean, cov = fitted.predict(X[45:50], return_cov=True)
    assert draws.shape == (5, 4000)
    assert np.allclose(draws.mean(1), mean, atol=4 * np.sqrt(np.diag(cov) / 4000).max())
    assert np.allclose(np.cov(draws), cov, atol=0.15 * np.abs(cov).max())


def test_strategies_and_modal_learner_through_a_pipeline_on_structures(small):
    structures, y = small
    pipe = make_pipeline(StructureDescriptors(), GPRegressor(**FAST))
    learner = ActiveLearner(
        estimator=pipe, query_strategy=batch_entropy_sampling, X_training=structures[:30], y_training=y[:30]
    )
    chosen, _ = learner.query(structures[30:], n_instances=4)
    assert len(set(chosen.tolist())) == 4
    before = learner.estimator[-1].posterior_.n
    learner.teach(structures[30:][chosen], y[30:][chosen], only_new=True)  # a GP update, no refit
    assert learner.estimator[-1].posterior_.n == before + 4
    top, _ = max_entropy_sampling(learner, structures[30:], n_instances=3)
    _, std = pipe.predict(structures[30:], return_std=True)
    assert set(top.tolist()) == set(np.argsort(-std)[:3].tolist())


@pytest.mark.slow  # worker processes that import torch
def test_log_target_and_pool_scoring_and_grid_search(small):
    structures, y = small
    pipe = make_pipeline(StructureDescriptors(), GPRegressor(**FAST))
    log_model = LogTargetRegressor(pipe).fit(structures[:45], 10 ** y[:45])
    median, std = log_model.predict(structures[45:], return_std=True)
    mean_pool, std_pool = score_pool(log_model, iter(structures[45:]), chunk_size=4)
    assert np.allclose(mean_pool, median) and np.allclose(std_pool, std)
    search = GridSearchCV(pipe, {"gpregressor__nu": [0.5, 2.5]}, cv=3, n_jobs=2).fit(structures, y)
    assert search.best_params_["gpregressor__nu"] in (0.5, 2.5)


def test_bad_parameters_are_named(features):
    X, y = features
    for params, name in [({"nu": 1.0}, "nu"), ({"feature_scaling": "robust"}, "feature_scaling")]:
        with pytest.raises(ValueError, match=name):
            GPRegressor(**{**FAST, **params}).fit(X, y)
    with pytest.raises(ValueError, match="max_hyperparameter_samples"):
        GPRegressor(**FAST, max_hyperparameter_samples=2).fit(X, y)


def test_update_keeps_the_log_marginal_likelihood_current(features):
    X, y = features
    model = GPRegressor(**FAST).fit(X[:40], y[:40])
    before = model.log_marginal_likelihood_value_
    model.update(X[40:45], y[40:45])
    refit_free = GPRegressor(**FAST).fit(X[:40], y[:40])
    refit_free.posterior_.add_points(
        torch.as_tensor(refit_free.embed(X[40:45])),
        torch.as_tensor((y[40:45] - refit_free.y_mean_) / refit_free.y_scale_),
    )
    from skmatgp._gp_head import log_marginal_likelihood

    assert model.log_marginal_likelihood_value_ != before
    assert model.log_marginal_likelihood_value_ == pytest.approx(
        log_marginal_likelihood(refit_free.posterior_)
    )


def test_calibration_with_too_few_points_warns(features):
    X, y = features
    with pytest.warns(UserWarning, match="calibrate_std=True needs at least 5 held-out points"):
        model = GPRegressor(**FAST, calibrate_std=True).fit(X[:20], y[:20])
    assert model.std_scale_ == 1.0


def test_the_sparse_head_fits_on_all_points_whatever_the_cap(features, monkeypatch):
    from skmatgp import _gp_head

    seen = []
    real = _gp_head.fit_sparse_gp_hyperparameters
    monkeypatch.setattr(
        _gp_head, "fit_sparse_gp_hyperparameters", lambda Z, y, **kw: seen.append(len(y)) or real(Z, y, **kw)
    )
    X, y = features
    GPRegressor(**FAST, gp_head="sparse", n_inducing=8, max_hyperparameter_samples=10).fit(X[:45], y[:45])
    assert seen == [45]


def test_n_features_in_and_the_notebook_repr_link(features):
    from pathlib import Path

    from sklearn.utils import estimator_html_repr

    X, y = features
    model = GPRegressor(**FAST)
    assert not hasattr(model, "n_features_in_")
    assert model.fit(X[:45], y[:45]).n_features_in_ == X.shape[1] == len(model.feature_scale_)
    with pytest.raises(ValueError, match=f"expecting {X.shape[1]} features"):
        model.predict(X[45:, :-1])
    url = "https://skmatgp.readthedocs.io/en/latest/generated/skmatgp.GPRegressor.html"
    assert model._get_doc_link() == url and url in estimator_html_repr(model)
    api = (Path(__file__).resolve().parents[1] / "docs" / "api.rst").read_text()
    for name in ("GPRegressor", "GNNGPRegressor", "LogTargetRegressor", "ActiveLearner"):
        assert f"\n   {name}\n" in api  # autosummary writes generated/<module>.<name>.html


def test_a_save_that_fails_leaves_the_old_file_whole(tmp_path, monkeypatch):
    X = np.random.default_rng(0).normal(size=(20, 3))
    model = GPRegressor(random_state=0).fit(X, X[:, 0])
    path = tmp_path / "model.pt"
    path.write_bytes(b"the old model")

    def broken_save(obj, f):
        f.write(b"half a mod")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == b"the old model" and sorted(tmp_path.iterdir()) == [path]
