"""A sparse variational GP head for training sets too large for an exact GP.

Two stages:

1. **Hyperparameters and inducing points by minibatch ELBO.** A GPyTorch ``ApproximateGP``
   (``VariationalStrategy`` with learned inducing locations, ``CholeskyVariationalDistribution``,
   the same Matérn kernel and constant mean as the exact head, a Gaussian likelihood) is
   trained by Adam on the variational ELBO over minibatches (Hensman et al., 2013). The
   inducing points start at k-means centres of the embeddings. Memory per step is
   O(batch x m + m^2), whatever the number of training points n.
2. **The optimal q(u) in closed form.** For a Gaussian likelihood, the q(u) that maximises
   the ELBO for fixed hyperparameters and inducing points is known (Titsias, 2009):
   ``Sigma = (K_mm + K_mn K_nm / noise)^-1``. We compute it in float64 in one chunked pass
   over the data (O(n m^2) time, O(m^2) memory) instead of keeping the stochastic estimate
   that Adam left: predictions no longer depend on how far the variational parameters had
   converged, and the same hyperparameters can be conditioned on other data (the held-out
   calibration fit, then all points) without more optimisation.

:class:`SparseGPPosterior` predicts like :class:`~skmatgp._gp.ExactGPPosterior`
(``predict_latent(Z) -> (mean, var)``, ``predict_mean(Z)``, ``kernel``, ``mean``, ``noise``,
``to(device)``, ``kind``, ``payload()``), in chunks, so memory is bounded by the chunk. It has
no rank-1 updates (``check_updatable`` raises): active learning needs the exact head.
"""

from __future__ import annotations

import copy
import logging

import gpytorch
import torch

from ._gp import fit_gp_hyperparameters, kernel_matrix, make_kernel, saved_kernel, stable_cholesky

logger = logging.getLogger(__name__)

ACTIVE_LEARNING_MESSAGE = (
    "The sparse GP head (gp_head='sparse') has no cheap rank-1 updates, so it cannot be "
    "conditioned on new labels or drive a campaign or a GP query strategy. Use "
    "gp_head='exact' for active learning (or refit with fit on the enlarged training set)."
)


class _SVGPModel(gpytorch.models.ApproximateGP):
    def __init__(self, inducing: torch.Tensor, nu: float):
        distribution = gpytorch.variational.CholeskyVariationalDistribution(len(inducing))
        strategy = gpytorch.variational.VariationalStrategy(
            self, inducing, distribution, learn_inducing_locations=True
        )
        super().__init__(strategy)
        self.mean_module = gpytorch.means.ConstantMean()
        self.covar_module = make_kernel(nu, inducing.shape[1])

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


def kmeans_centres(
    Z: torch.Tensor, k: int, generator: torch.Generator, iterations: int = 15, max_points: int = 50_000
) -> torch.Tensor:
    """``k`` k-means (Lloyd) centres of ``Z`` started from a random subset of its rows.

    Runs on at most ``max_points`` random rows; distances are computed in blocks of 4,096
    rows, so memory is O(4096 k). A centre that loses all its points stays where it was.
    """
    n = len(Z)
    if n > max_points:
        Z = Z[torch.randperm(n, generator=generator)[:max_points].to(Z.device)]
        n = max_points
    centres = Z[torch.randperm(n, generator=generator)[:k].to(Z.device)].clone()
    for _ in range(iterations):
        assignment = torch.cat([torch.cdist(Z[s : s + 4096], centres).argmin(1) for s in range(0, n, 4096)])
        sums = torch.zeros_like(centres).index_add_(0, assignment, Z)
        counts = torch.bincount(assignment, minlength=k).to(Z.dtype)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return centres


def fit_sparse_gp_hyperparameters(
    Z: torch.Tensor,
    y: torch.Tensor,
    *,
    nu: float,
    n_inducing: int = 512,
    steps: int = 1000,
    lr: float = 0.02,
    batch_size: int = 1024,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    init_subset: int = 1000,
    init_iterations: int = 50,
    init_lr: float = 0.1,
) -> tuple[gpytorch.kernels.Kernel, float, float, torch.Tensor]:
    """Fit a sparse variational Matérn GP by minibatch ELBO (Adam).

    The ELBO starts near its optimum, so that a few hundred steps suffice: the kernel, mean
    and noise start from an exact GP fitted (``init_iterations`` Adam steps) on a random
    subset of ``init_subset`` points, the inducing points at k-means centres, and q(u) at its
    optimum for those (one chunked pass over the data, see :class:`SparseGPPosterior`).

    Parameters
    ----------
    Z, y : tensors of shape (n, d) and (n,)
    nu : Matérn smoothness
    n_inducing : number of inducing points (at most n; all points when n is smaller)
    steps : Adam steps, each on one minibatch of ``batch_size`` points
    lr : Adam learning rate for every parameter (kernel, mean, noise, q(u), inducing points)
    dtype : precision of the training (float32 is faster on a CPU; the posterior is float64)
    seed : seeds the k-means start, the minibatches and the variational initialisation

    Returns
    -------
    kernel (float64, frozen), mean, noise, inducing points (float64)
    """
    n = len(Z)
    m = min(n_inducing, n)
    generator = torch.Generator().manual_seed(seed)
    devices = [Z.device.index or 0] if Z.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        Zt, yt = Z.to(dtype), y.to(dtype)
        inducing = Zt.clone() if m == n else kmeans_centres(Zt, m, generator)
        model = _SVGPModel(inducing, nu).to(Zt)
        likelihood = gpytorch.likelihoods.GaussianLikelihood(
            noise_constraint=gpytorch.constraints.GreaterThan(1e-6)
        ).to(Zt)
        subset = torch.randperm(n, generator=generator)[:init_subset].to(Z.device)
        kernel, mean, noise = fit_gp_hyperparameters(
            Z[subset].double(), y[subset].double(), nu=nu, iterations=init_iterations, lr=init_lr
        )
        model.covar_module.load_state_dict(kernel.state_dict())
        model.mean_module.constant.data.fill_(mean)
        likelihood.noise = max(noise, 2e-6)
        start = SparseGPPosterior(kernel, mean, noise, inducing.double(), Z.double(), y.double())
        distribution = model.variational_strategy._variational_distribution
        distribution.variational_mean.data.copy_(start._b)
        S = torch.cholesky_inverse(start._LB)  # the optimal whitened covariance, B^-1
        distribution.chol_variational_covar.data.copy_(torch.linalg.cholesky(S))
        model.train()
        likelihood.train()
        elbo = gpytorch.mlls.VariationalELBO(likelihood, model, num_data=n)
        optimizer = torch.optim.Adam([*model.parameters(), *likelihood.parameters()], lr=lr)
        batch = min(batch_size, n)
        order = torch.randperm(n, generator=generator).to(Z.device)
        position = 0
        for _ in range(steps):
            if position + batch > n:
                order, position = torch.randperm(n, generator=generator).to(Z.device), 0
            idx = order[position : position + batch]
            position += batch
            optimizer.zero_grad()
            loss = -elbo(model(Zt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
    kernel = copy.deepcopy(model.covar_module).double().eval()
    for parameter in kernel.parameters():
        parameter.requires_grad_(False)
    inducing = model.variational_strategy.inducing_points.detach().double().clone()
    return kernel, float(model.mean_module.constant.detach()), float(likelihood.noise.detach()), inducing


class SparseGPPosterior:
    """The GP posterior through ``m`` inducing points, with the optimal q(u) (Titsias, 2009).

    With ``L_m`` the Cholesky factor of ``K_mm`` (plus jitter), ``A = L_m^-1 K_mn`` and
    ``B = I + A A^T / noise = L_B L_B^T``, the latent posterior at x is

        mean(x) = mean + a_x^T b,                     b = L_B^-T L_B^-1 A (y - mean) / noise
        var(x)  = k(x, x) - |a_x|^2 + |L_B^-1 a_x|^2,  a_x = L_m^-1 K_mx

    (the DTC/SGPR predictive). Building it costs O(n m^2) in chunks of the training data;
    predicting O(m^2) per point, in chunks of ``chunk`` points.

    Parameters
    ----------
    kernel : gpytorch kernel (float64)
    mean, noise : float
    inducing : tensor of shape (m, d)
    Z, y : training embeddings and standardised targets, shapes (n, d) and (n,)
    """

    kind = "sparse"

    def __init__(
        self,
        kernel,
        mean: float,
        noise: float,
        inducing: torch.Tensor,
        Z: torch.Tensor,
        y: torch.Tensor,
        chunk: int = 4096,
    ):
        self.kernel = kernel
        self.mean = mean
        self.noise = noise
        self.inducing = inducing
        self.n_train = len(Z)
        m = len(inducing)
        Kmm = self._k(inducing, inducing)
        jitter = 1e-8 * Kmm.diagonal().mean()
        self._Lm = stable_cholesky(Kmm + jitter * torch.eye(m, dtype=Kmm.dtype, device=Kmm.device))
        AAt = torch.zeros((m, m), dtype=inducing.dtype, device=inducing.device)
        Ay = torch.zeros(m, dtype=inducing.dtype, device=inducing.device)
        for start in range(0, len(Z), chunk):
            A = self._a(Z[start : start + chunk])
            AAt += A @ A.T
            Ay += A @ (y[start : start + chunk] - mean)
        B = torch.eye(m, dtype=AAt.dtype, device=AAt.device) + AAt / noise
        self._LB = stable_cholesky(B)
        c = torch.linalg.solve_triangular(self._LB, (Ay / noise)[:, None], upper=False)
        self._b = torch.linalg.solve_triangular(self._LB.T, c, upper=True)[:, 0]

    @classmethod
    def from_state(cls, kernel, mean, noise, inducing, Lm, LB, b, n_train) -> SparseGPPosterior:
        """Rebuild from saved factors (no pass over the training data)."""
        out = cls.__new__(cls)
        out.kernel, out.mean, out.noise, out.inducing = kernel, mean, noise, inducing
        out._Lm, out._LB, out._b, out.n_train = Lm, LB, b, n_train
        return out

    def state(self) -> dict:
        """The tensors :meth:`from_state` needs (for saving)."""
        return {"inducing": self.inducing, "Lm": self._Lm, "LB": self._LB, "b": self._b}

    @classmethod
    def from_payload(cls, payload: dict, nu: float) -> SparseGPPosterior:
        """The posterior :meth:`payload` saved (with its ``gp_mean``, ``gp_noise`` and
        ``kernel``), exactly as it was."""
        sparse = payload["sparse"]
        kernel = saved_kernel(nu, sparse["inducing"].shape[1], payload["kernel"])
        factors = (sparse[key] for key in ("inducing", "Lm", "LB", "b"))
        return cls.from_state(kernel, payload["gp_mean"], payload["gp_noise"], *factors, payload["n_train"])

    def payload(self) -> dict:
        """The factors that rebuild this posterior, on the CPU, as model files hold them."""
        cpu = torch.device("cpu")
        return {"sparse": {k: v.to(cpu) for k, v in self.state().items()}, "n_train": self.n_train}

    def check_updatable(self) -> None:
        """Refuse new points: there are no cheap rank-1 updates through inducing points."""
        raise NotImplementedError(ACTIVE_LEARNING_MESSAGE)

    def log_marginal_likelihood(self) -> float:
        """NaN: the sparse head fits a bound on it (the ELBO), not the likelihood itself."""
        return float("nan")

    def to(self, device) -> SparseGPPosterior:
        """A copy on ``device``."""
        out = copy.copy(self)
        out.kernel = copy.deepcopy(self.kernel).to(device)
        for name in ("inducing", "_Lm", "_LB", "_b"):
            setattr(out, name, getattr(self, name).to(device))
        return out

    def _k(self, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        return kernel_matrix(self.kernel, A, B)

    def _a(self, Z: torch.Tensor) -> torch.Tensor:
        return torch.linalg.solve_triangular(self._Lm, self._k(self.inducing, Z), upper=False)

    def prior_variance(self, Z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.kernel(Z, diag=True)

    def predict_latent(self, Zs: torch.Tensor, chunk: int = 4096):
        """Posterior mean and variance of f at Zs (no observation noise)."""
        means, variances = [], []
        for start in range(0, len(Zs), chunk):
            part = Zs[start : start + chunk]
            a = self._a(part)
            means.append(self.mean + a.T @ self._b)
            c = torch.linalg.solve_triangular(self._LB, a, upper=False)
            variance = self.prior_variance(part) - (a**2).sum(0) + (c**2).sum(0)
            variances.append(variance.clamp_min(1e-12))
        return torch.cat(means), torch.cat(variances)

    def predict_mean(self, Zs: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """Posterior mean of f at Zs alone: a^T b, without the variances' second solve."""
        return torch.cat(
            [self.mean + self._a(Zs[s : s + chunk]).T @ self._b for s in range(0, len(Zs), chunk)]
        )

    def latent_covariance(self, Zs: torch.Tensor) -> torch.Tensor:
        """Posterior covariance of f over Zs (no observation noise), the covariance the
        variances above are the diagonal of: K_ss - a^T a + c^T c. Shape (len(Zs), len(Zs))."""
        a = self._a(Zs)
        c = torch.linalg.solve_triangular(self._LB, a, upper=False)
        return self._k(Zs, Zs) - a.T @ a + c.T @ c

    def add_points(self, Z_new, y_new) -> None:
        self.check_updatable()

    def add_pool_points(self, pool, indices, y_new) -> None:
        self.check_updatable()
