"""The sparse variational GP head, on embeddings of real structures."""

import pickle

import numpy as np
import pytest
import torch

from skmatgp import CrystalGraphTransformer, GNNGPRegressor, load
from skmatgp._gp import ExactGPPosterior, PoolVariance, fit_gp_hyperparameters
from skmatgp._sparse_gp import SparseGPPosterior, fit_sparse_gp_hyperparameters
from tests.conftest import TINY


@pytest.fixture(scope="module")
def embeddings(elastic):
    """Scaled embeddings of 400 real elastic structures from a small fitted model, and the
    standardised targets: train on the first 300, predict the last 100."""
    sizes = np.array([len(s) for s in elastic.structures])
    idx = np.argsort(sizes, kind="stable")[:400]
    idx = idx[np.random.default_rng(0).permutation(len(idx))]
    graphs = CrystalGraphTransformer().fit_transform(elastic.structures[idx])
    y = elastic.target[idx]
    model = GNNGPRegressor(**{**TINY, "embedding_dim": 6}).fit(graphs[:100], y[:100])
    Z = torch.as_tensor(model.embed(graphs))
    y = torch.as_tensor((y - y.mean()) / y.std())
    return Z, y


@pytest.fixture(scope="module")
def exact(embeddings):
    Z, y = embeddings
    kernel, mean, noise = fit_gp_hyperparameters(Z[:300], y[:300], nu=0.5, iterations=40, lr=0.1)
    return kernel, mean, noise, ExactGPPosterior(kernel, mean, noise, Z[:300], y[:300])


def test_all_points_as_inducing_points_is_the_exact_gp(embeddings, exact):
    Z, y = embeddings
    kernel, mean, noise, posterior = exact
    sparse = SparseGPPosterior(kernel, mean, noise, Z[:300], Z[:300], y[:300], chunk=64)
    m1, v1 = posterior.predict_latent(Z[300:])
    m2, v2 = sparse.predict_latent(Z[300:], chunk=7)
    assert torch.allclose(m1, m2, atol=1e-5)
    assert torch.allclose(v1, v2, atol=1e-5, rtol=1e-4)


def test_sparse_fit_predicts_close_to_the_exact_gp(embeddings, exact):
    Z, y = embeddings
    _, _, noise, posterior = exact
    kernel, mean, sparse_noise, inducing = fit_sparse_gp_hyperparameters(
        Z[:300], y[:300], nu=0.5, n_inducing=64, steps=60, lr=0.05, batch_size=128, seed=0
    )
    assert inducing.shape == (64, Z.shape[1])
    sparse = SparseGPPosterior(kernel, mean, sparse_noise, inducing, Z[:300], y[:300])
    m_exact, v_exact = posterior.predict_latent(Z[300:])
    m_sparse, v_sparse = sparse.predict_latent(Z[300:])
    assert (v_sparse > 0).all() and torch.isfinite(m_sparse).all()
    # the two means differ by much less than the spread of the targets ...
    assert (m_sparse - m_exact).abs().mean() < 0.25 * y.std()
    mae_exact = (m_exact - y[300:]).abs().mean()
    mae_sparse = (m_sparse - y[300:]).abs().mean()
    assert mae_sparse < 1.25 * mae_exact
    # ... and the predictive std (noise included) agrees within a factor of 1.5
    ratio = torch.sqrt(v_sparse + sparse_noise) / torch.sqrt(v_exact + noise)
    assert 1 / 1.5 < ratio.median() < 1.5


def test_same_seed_same_sparse_fit(embeddings):
    Z, y = embeddings
    fits = [
        fit_sparse_gp_hyperparameters(
            Z[:300], y[:300], nu=0.5, n_inducing=32, steps=3, seed=3, init_iterations=2
        )
        for _ in range(2)
    ]
    assert fits[0][1:3] == fits[1][1:3]
    assert torch.equal(fits[0][3], fits[1][3])
    other = fit_sparse_gp_hyperparameters(
        Z[:300], y[:300], nu=0.5, n_inducing=32, steps=3, seed=4, init_iterations=2
    )
    assert not torch.equal(fits[0][3], other[3])


def test_sparse_posterior_has_no_rank_one_updates(embeddings, exact):
    Z, y = embeddings
    kernel, mean, noise, _ = exact
    sparse = SparseGPPosterior(kernel, mean, noise, Z[:20], Z[:300], y[:300])
    with pytest.raises(NotImplementedError, match="gp_head='exact'"):
        sparse.add_points(Z[300:302], y[300:302])
    with pytest.raises(TypeError, match="gp_head='exact'"):
        PoolVariance(sparse, Z[300:])


# ------------------------------------------------------------------ GNNGPRegressor(gp_head=...)
SPARSE = {**TINY, "gp_head": "sparse", "n_inducing": 16}


@pytest.fixture(scope="module")
def sparse_model(small_graphs):
    graphs, y = small_graphs
    return GNNGPRegressor(**SPARSE).fit(graphs, y)  # 60: enough for a validation split


def test_regressor_with_the_sparse_head(sparse_model, small_graphs):
    graphs, y = small_graphs
    assert sparse_model.gp_head_ == "sparse"
    assert isinstance(sparse_model.posterior_, SparseGPPosterior)
    mean, std = sparse_model.predict(graphs[45:], return_std=True)
    assert mean.shape == std.shape == (15,)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)
    assert sparse_model.std_scale_ != 1.0  # calibrated on the validation split, as the exact head
    again = GNNGPRegressor(**SPARSE).fit(graphs, y)
    assert np.array_equal(again.predict(graphs[45:]), mean)
    assert np.array_equal(sparse_model.predict(graphs[45:], return_cov=True)[0], mean)  # predict_mean


def test_auto_head_switches_above_the_documented_size(small_graphs, monkeypatch):
    from skmatgp import _gp_head

    graphs, y = small_graphs
    assert GNNGPRegressor(**{**TINY, "epochs": 1}).fit(graphs, y).gp_head_ == "exact"
    monkeypatch.setattr(_gp_head, "SPARSE_ABOVE", 50)
    assert GNNGPRegressor(**{**TINY, "epochs": 1, "n_inducing": 8}).fit(graphs, y).gp_head_ == "sparse"
    assert _gp_head.SPARSE_ABOVE == 50
    monkeypatch.undo()
    assert _gp_head.SPARSE_ABOVE == 10_000


def test_sparse_head_refuses_update_and_active_learning(sparse_model, small_graphs, small):
    from skmatgp.active import batch_entropy_sampling, kcenter_greedy_sampling, max_entropy_sampling

    graphs, y = small_graphs
    with pytest.raises(NotImplementedError, match="gp_head='exact'"):
        sparse_model.update(graphs[45:47], y[45:47])
    with pytest.raises(TypeError, match="gp_head='exact'"):
        batch_entropy_sampling(sparse_model, graphs[45:], n_instances=2)
    with pytest.raises(TypeError, match="gp_head='exact'"):
        kcenter_greedy_sampling(sparse_model, graphs[45:], n_instances=2)
    chosen, _ = max_entropy_sampling(sparse_model, graphs[45:], n_instances=2)  # needs only the std
    assert len(chosen) == 2


def test_sparse_head_saves_loads_and_pickles(sparse_model, small_graphs, tmp_path):
    graphs, _ = small_graphs
    mean, std = sparse_model.predict(graphs[45:], return_std=True)
    sparse_model.save(tmp_path / "model.pt")
    loaded = load(tmp_path / "model.pt")
    assert loaded.gp_head_ == "sparse"
    mean2, std2 = loaded.predict(graphs[45:], return_std=True)
    assert np.allclose(mean, mean2, atol=1e-10) and np.allclose(std, std2, atol=1e-10)
    unpickled = pickle.loads(pickle.dumps(sparse_model))
    assert np.array_equal(unpickled.predict(graphs[45:]), mean)


def test_bad_head_parameters(small_graphs):
    graphs, y = small_graphs
    with pytest.raises(ValueError, match="gp_head"):
        GNNGPRegressor(gp_head="approximate").fit(graphs, y)
    with pytest.raises(ValueError, match="n_inducing"):
        GNNGPRegressor(gp_head="sparse", n_inducing=0).fit(graphs, y)


def test_sparse_latent_covariance(embeddings, exact):
    """With every training point as an inducing point it is the exact GP's; its diagonal is
    predict_latent's variance."""
    Z, y = embeddings
    kernel, mean, noise, posterior = exact
    sparse = SparseGPPosterior(kernel, mean, noise, Z[:300], Z[:300], y[:300], chunk=64)
    covariance = sparse.latent_covariance(Z[300:320])
    assert torch.allclose(covariance, posterior.latent_covariance(Z[300:320]), atol=1e-5)
    assert torch.allclose(covariance.diagonal(), sparse.predict_latent(Z[300:320])[1], atol=1e-10)


def test_sparse_predict_mean_is_predict_latents_mean(embeddings, exact):
    """The mean alone (what the strategies and return_cov need) with 40 inducing points,
    in chunks that do not divide the points."""
    Z, y = embeddings
    kernel, mean, noise, _ = exact
    sparse = SparseGPPosterior(kernel, mean, noise, Z[:40], Z[:300], y[:300], chunk=64)
    expected, _ = sparse.predict_latent(Z[300:])
    assert torch.allclose(sparse.predict_mean(Z[300:], chunk=7), expected, atol=1e-12)
