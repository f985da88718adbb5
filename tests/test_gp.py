import gpytorch
import pytest
import torch

from skmatgp._gp import ExactGPPosterior, fit_gp_hyperparameters, stable_cholesky


def _data(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    Z = torch.rand(n, 3, generator=g, dtype=torch.float64)
    y = torch.sin(6 * Z[:, 0]) + 0.05 * torch.randn(n, generator=g, dtype=torch.float64)
    return Z, y


def test_incremental_update_equals_refactorisation():
    Z, y = _data(60)
    kernel, mean, noise = fit_gp_hyperparameters(Z[:40], y[:40], nu=0.5, iterations=30, lr=0.1)
    incremental = ExactGPPosterior(kernel, mean, noise, Z[:40], y[:40])
    incremental.add_points(Z[40:], y[40:])
    scratch = ExactGPPosterior(kernel, mean, noise, Z, y)
    Zs, _ = _data(25, seed=1)
    m1, v1 = incremental.predict_latent(Zs)
    m2, v2 = scratch.predict_latent(Zs)
    assert torch.allclose(m1, m2, atol=1e-8) and torch.allclose(v1, v2, atol=1e-8)
    assert torch.allclose(incremental.L, scratch.L, atol=1e-8)


def test_fit_learns_noise_and_predicts():
    Z, y = _data(200)
    kernel, mean, noise = fit_gp_hyperparameters(Z, y, nu=1.5, iterations=100, lr=0.1)
    posterior = ExactGPPosterior(kernel, mean, noise, Z, y)
    Zs, ys = _data(100, seed=2)
    m, v = posterior.predict_latent(Zs)
    assert (m - ys).abs().mean() < 0.1
    assert 1e-4 < noise < 0.05
    assert (v > 0).all()


def test_singular_kernel_gets_jitter_not_a_crash(caplog):
    K = torch.ones(5, 5, dtype=torch.float64)  # rank one: duplicate points, no noise
    L = stable_cholesky(K)
    assert torch.isfinite(L).all()
    assert "jitter" in caplog.text


def test_duplicate_embeddings_survive():
    Z = torch.zeros(10, 2, dtype=torch.float64)
    y = torch.arange(10, dtype=torch.float64)
    kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.MaternKernel(nu=0.5)).double()
    posterior = ExactGPPosterior(kernel, 0.0, 1e-9, Z, y)
    m, _v = posterior.predict_latent(Z[:1])
    assert m.item() == pytest.approx(4.5, abs=0.1)


def test_rows_from_the_pool_tracker_equal_a_triangular_solve():
    from skmatgp._gp import PoolVariance

    Z, y = _data(70)
    kernel, mean, noise = fit_gp_hyperparameters(Z[:40], y[:40], nu=0.5, iterations=20, lr=0.1)
    fast = ExactGPPosterior(kernel, mean, noise, Z[:40], y[:40])
    tracker = PoolVariance(fast, Z[40:])
    tracker.condition_on(5)  # as a greedy query does, before the label arrives
    fast.add_pool_points(tracker, [5, 9, 2], y[40:][[5, 9, 2]])  # 9 and 2: conditioned here
    slow = ExactGPPosterior(kernel, mean, noise, Z[:40], y[:40])
    slow.add_points(Z[40:][[5, 9, 2]], y[40:][[5, 9, 2]])
    assert torch.allclose(fast.L, slow.L, atol=1e-10)
    assert torch.allclose(fast.alpha, slow.alpha, atol=1e-8)
    assert tracker.n_rows == fast.n == 43


def test_pool_rows_must_be_added_in_conditioning_order():
    from skmatgp._gp import PoolVariance

    Z, y = _data(50)
    kernel, mean, noise = fit_gp_hyperparameters(Z[:30], y[:30], nu=0.5, iterations=5, lr=0.1)
    posterior = ExactGPPosterior(kernel, mean, noise, Z[:30], y[:30])
    tracker = PoolVariance(posterior, Z[30:])
    tracker.condition_on(5)
    with pytest.raises(ValueError, match="order"):
        posterior.add_pool_points(tracker, [9], y[30:][[9]])


def test_latent_covariance_is_gpytorchs_exact_posterior():
    """The joint posterior over test points, against GPyTorch's own exact GP prediction with
    the same kernel, mean and noise."""
    Z, y = _data(50)
    kernel, mean, noise = fit_gp_hyperparameters(Z[:40], y[:40], nu=1.5, iterations=20, lr=0.1)
    posterior = ExactGPPosterior(kernel, mean, noise, Z[:40], y[:40])
    Zs = Z[40:]

    class Reference(gpytorch.models.ExactGP):
        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(
                torch.full((len(x),), mean, dtype=x.dtype), kernel(x)
            )

    likelihood = gpytorch.likelihoods.GaussianLikelihood(
        noise_constraint=gpytorch.constraints.GreaterThan(1e-12)
    ).double()
    likelihood.noise = noise
    reference = Reference(Z[:40], y[:40], likelihood).double().eval()
    with torch.no_grad(), gpytorch.settings.fast_pred_var(False), gpytorch.settings.max_cholesky_size(10**6):
        expected = reference(Zs)
        expected_mean, expected_covariance = expected.mean, expected.covariance_matrix
    covariance = posterior.latent_covariance(Zs)
    assert torch.allclose(covariance, expected_covariance, atol=1e-6)
    assert torch.allclose(posterior.predict_latent(Zs)[0], expected_mean, atol=1e-6)
    assert torch.allclose(covariance.diagonal(), posterior.predict_latent(Zs)[1], atol=1e-10)
    assert torch.allclose(posterior.predict_mean(Zs), posterior.predict_latent(Zs)[0], atol=1e-10)
