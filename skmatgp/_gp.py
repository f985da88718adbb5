"""The Gaussian process head: GPyTorch hyperparameter fitting and an exact float64 posterior.

GPyTorch fits the kernel and noise by marginal likelihood. Prediction uses an explicit
Cholesky factor that we own, so that new labelled points can be appended by a rank-1 row
update (active learning) instead of refactorising.
"""

from __future__ import annotations

import contextlib
import copy
import logging

import gpytorch
import numpy as np
import torch

logger = logging.getLogger(__name__)

MAX_JITTER = 1e-2


def make_kernel(nu: float, dims: int) -> gpytorch.kernels.Kernel:
    """The GP's kernel: a scaled Matérn kernel with one length scale per embedding dimension."""
    return gpytorch.kernels.ScaleKernel(gpytorch.kernels.MaternKernel(nu=nu, ard_num_dims=dims))


class _ExactGPModel(gpytorch.models.ExactGP):
    def __init__(self, train_x, train_y, likelihood, nu: float):
        super().__init__(train_x, train_y, likelihood)
        self.mean_module = gpytorch.means.ConstantMean()
        self.covar_module = make_kernel(nu, train_x.shape[1])

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


def fit_gp_hyperparameters(
    Z: torch.Tensor,
    y: torch.Tensor,
    *,
    nu: float,
    iterations: int,
    lr: float,
    init_lengthscale: float | None = None,
) -> tuple[gpytorch.kernels.Kernel, float, float]:
    """Fit a Matérn GP by exact marginal likelihood (Adam); return (kernel, mean, noise).

    ``Z`` and ``y`` in float64; the Cholesky stays exact at any size (no CG fallback).
    ``init_lengthscale`` starts every length scale there instead of GPyTorch's 0.69: on
    standardised features of many dimensions, distances grow as the square root of the
    dimension, and a start far below them leaves every point uncorrelated.
    """
    likelihood = gpytorch.likelihoods.GaussianLikelihood(
        noise_constraint=gpytorch.constraints.GreaterThan(1e-6)
    ).to(Z)
    model = _ExactGPModel(Z, y, likelihood, nu).to(Z)
    if init_lengthscale is not None:
        model.covar_module.base_kernel.lengthscale = init_lengthscale
    model.train()
    likelihood.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(likelihood, model)
    with (
        gpytorch.settings.max_cholesky_size(10**7),
        gpytorch.settings.cholesky_jitter(float_value=1e-6, double_value=1e-8),
    ):
        for _ in range(iterations):
            optimizer.zero_grad()
            loss = -mll(model(Z), y)
            loss.backward()
            optimizer.step()
    kernel = model.covar_module.eval()
    for parameter in kernel.parameters():
        parameter.requires_grad_(False)
    return kernel, float(model.mean_module.constant.detach()), float(likelihood.noise.detach())


def saved_kernel(nu: float, dims: int, state: dict) -> gpytorch.kernels.Kernel:
    """The frozen float64 kernel whose ``state_dict`` a model file holds."""
    kernel = make_kernel(nu, dims).double()
    kernel.load_state_dict(state)
    for parameter in kernel.parameters():
        parameter.requires_grad_(False)
    return kernel.eval()


def kernel_matrix(kernel, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """K(A, B) as a dense tensor. Two points so far apart that their squared distance
    overflows float64 (a feature of 1e160 beside features of 1) are uncorrelated: the Matérn
    kernel's polynomial times exponential gives inf * 0 = NaN there, set here to its limit 0.
    The inputs are finite (checked where they enter), so no other NaN can arise."""
    with torch.no_grad():
        return kernel(A, B).to_dense().nan_to_num_(nan=0.0)  # a fresh matrix: no copy needed


def stable_cholesky(K: torch.Tensor) -> torch.Tensor:
    """Cholesky factor of K, adding growing jitter to the diagonal if K is not numerically PD."""
    L, info = torch.linalg.cholesky_ex(K)
    if info.item() == 0:
        return L
    scale = K.diagonal().mean().item()
    jitter = 1e-10 * scale
    while jitter <= MAX_JITTER * scale:
        L, info = torch.linalg.cholesky_ex(K + jitter * torch.eye(len(K), dtype=K.dtype, device=K.device))
        if info.item() == 0:
            logger.warning("Kernel matrix was ill-conditioned; added jitter %.3g.", jitter)
            return L
        jitter *= 10
    raise RuntimeError(
        "The GP kernel matrix is not positive definite even with jitter "
        f"{MAX_JITTER:g} x its mean diagonal: the training embeddings are probably "
        "degenerate (many identical structures?). Remove duplicates or raise gp noise."
    )


class ExactGPPosterior:
    """The GP posterior given training embeddings, with fixed hyperparameters.

    Holds ``L`` (Cholesky factor of K + noise I, in a buffer that grows) and
    ``w = L^-1 (y - mean)``; ``alpha = (K + noise I)^-1 (y - mean) = L^-T w`` is solved when a
    prediction needs it. A new labelled point appends one row to L and one entry to w:
    O(n^2) with ``add_points`` (a triangular solve), O(n) with ``add_pool_points``, which
    takes the row from a :class:`PoolVariance` that already holds it.

    Like :class:`~skmatgp._sparse_gp.SparseGPPosterior`, it says which head it is (``kind``),
    whether it takes new points (``check_updatable``), its log marginal likelihood, and what
    a model file keeps of it (``payload`` / ``from_payload``): the regressors ask the head,
    they do not test which one it is.
    """

    kind = "exact"

    def __init__(self, kernel, mean: float, noise: float, Z: torch.Tensor, y: torch.Tensor):
        self.kernel = kernel
        self.mean = mean
        self.noise = noise
        self.Z = Z
        self.y = y
        K = self._k(Z, Z) + noise * torch.eye(len(Z), dtype=Z.dtype, device=Z.device)
        self._L = stable_cholesky(K)
        self.n = len(Z)
        self._w = torch.linalg.solve_triangular(self._L, (y - mean)[:, None], upper=False)[:, 0]
        self._alpha = None

    @classmethod
    def from_factor(cls, kernel, mean, noise, Z, y, L, w) -> ExactGPPosterior:
        """Rebuild from a saved Cholesky factor and ``w = L^-1 (y - mean)`` (no refactorisation,
        so predictions match the saved model's)."""
        out = cls.__new__(cls)
        out.kernel, out.mean, out.noise, out.Z, out.y = kernel, mean, noise, Z, y
        out._L, out.n = L, len(L)
        out._w = w
        out._alpha = None
        return out

    @classmethod
    def from_payload(cls, payload: dict, nu: float) -> ExactGPPosterior:
        """The posterior :meth:`payload` saved (with its ``gp_mean``, ``gp_noise`` and
        ``kernel``), exactly as it was."""
        kernel = saved_kernel(nu, payload["Z"].shape[1], payload["kernel"])
        Z, y, L, w = (payload[key] for key in ("Z", "y", "L", "w"))
        return cls.from_factor(kernel, payload["gp_mean"], payload["gp_noise"], Z, y, L, w)

    def payload(self) -> dict:
        """The tensors that rebuild this posterior, on the CPU, as model files hold them."""
        cpu = torch.device("cpu")
        return {
            "Z": self.Z.to(cpu),
            "y": self.y.to(cpu),
            "L": self.L.to(cpu).clone(),  # a view of a larger buffer: save only the view
            "w": self._w.to(cpu),
        }

    def check_updatable(self) -> None:
        """New labelled points join by rank-1 updates (:meth:`add_points`): nothing to refuse."""

    def log_marginal_likelihood(self) -> float:
        """log N(y | mean, K + noise I) from the factor: -|w|^2/2 - sum log diag L - n/2 log 2 pi,
        with w = L^-1 (y - mean)."""
        w, L = self._w[: self.n], self.L
        return float(-0.5 * w @ w - torch.log(L.diagonal()).sum() - 0.5 * self.n * np.log(2 * np.pi))

    @property
    def L(self) -> torch.Tensor:
        return self._L[: self.n, : self.n]

    @property
    def alpha(self) -> torch.Tensor:
        if self._alpha is None:
            self._alpha = torch.linalg.solve_triangular(self.L.T, self._w[:, None], upper=True)[:, 0]
        return self._alpha

    def to(self, device) -> ExactGPPosterior:
        """A copy on ``device``."""
        out = copy.copy(self)
        out.kernel = copy.deepcopy(self.kernel).to(device)
        out._L = self.L.to(device)
        for name in ("Z", "y", "_w"):
            setattr(out, name, getattr(self, name).to(device))
        out._alpha = None
        return out

    def _k(self, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        return kernel_matrix(self.kernel, A, B)

    def prior_variance(self, Z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.kernel(Z, diag=True)

    def predict_latent(self, Zs: torch.Tensor, chunk: int = 4096):
        """Posterior mean and variance of f at Zs (no observation noise)."""
        means, variances = [], []
        L, alpha = self.L, self.alpha
        for start in range(0, len(Zs), chunk):
            part = Zs[start : start + chunk]
            Ks = self._k(self.Z, part)
            A = torch.linalg.solve_triangular(L, Ks, upper=False)
            means.append(self.mean + Ks.T @ alpha)
            variances.append((self.prior_variance(part) - (A**2).sum(0)).clamp_min(1e-12))
        return torch.cat(means), torch.cat(variances)

    def predict_mean(self, Zs: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """Posterior mean of f at Zs alone: K(Zs, train) alpha, O(n) per point."""
        alpha = self.alpha
        return torch.cat(
            [self.mean + self._k(self.Z, Zs[s : s + chunk]).T @ alpha for s in range(0, len(Zs), chunk)]
        )

    def latent_covariance(self, Zs: torch.Tensor) -> torch.Tensor:
        """Posterior covariance of f over Zs (no observation noise): K_ss - A^T A, with
        A = L^-1 K(train, Zs). Shape (len(Zs), len(Zs))."""
        A = torch.linalg.solve_triangular(self.L, self._k(self.Z, Zs), upper=False)
        return self._k(Zs, Zs) - A.T @ A

    def _append(self, row: torch.Tensor, z: torch.Tensor, y: torch.Tensor) -> None:
        """Append the Cholesky row ``row`` (length n + 1, diagonal last) of a new point."""
        n = self.n
        if n == len(self._L):  # grow the buffer by a quarter
            size = n + max(16, n // 4)
            grown = torch.zeros((size, size), dtype=self._L.dtype, device=self._L.device)
            grown[:n, :n] = self._L[:n, :n]
            self._L = grown
        self._L[n, : n + 1] = row
        w_new = (y - self.mean - row[:n] @ self._w[:n]) / row[n]
        self._w = torch.cat([self._w, w_new.reshape(1)])
        self.Z = torch.cat([self.Z, z[None, :]])
        self.y = torch.cat([self.y, y.reshape(1)])
        self.n = n + 1
        self._alpha = None

    @contextlib.contextmanager
    def _all_or_nothing(self):
        """Undo every point appended inside the block if it raises. Appending replaces ``Z``,
        ``y`` and ``_w`` by new tensors and writes ``_L`` only past row ``n`` (or replaces it
        when the buffer grows), so keeping the references and ``n`` is enough to go back."""
        saved = (self._L, self.n, self._w, self.Z, self.y, self._alpha)
        try:
            yield
        except BaseException:
            self._L, self.n, self._w, self.Z, self.y, self._alpha = saved
            raise

    def add_points(self, Z_new: torch.Tensor, y_new: torch.Tensor) -> None:
        """Condition on new labelled points, one Cholesky row each (O(n^2) per point): all
        of them, or none if any raises."""
        if len(Z_new) != len(y_new):
            raise ValueError(f"Got {len(Z_new)} points but {len(y_new)} labels; they must match.")
        bad = torch.nonzero(~(torch.isfinite(Z_new).all(1) & torch.isfinite(y_new))).flatten()
        if len(bad):
            raise ValueError(
                f"New point {int(bad[0])} has a NaN or infinite feature or label; the GP is left as it was."
            )
        with self._all_or_nothing():
            for z, y in zip(Z_new, y_new, strict=True):
                k = self._k(self.Z, z[None, :])
                c = torch.linalg.solve_triangular(self.L, k, upper=False)[:, 0]
                d2 = self.prior_variance(z[None, :]).squeeze() + self.noise - c @ c
                d = torch.sqrt(d2.clamp_min(1e-12 * self.noise))
                self._append(torch.cat([c, d.reshape(1)]), z, y)

    def add_pool_points(self, pool: PoolVariance, indices, y_new: torch.Tensor) -> None:
        """Condition on labelled pool points in O(n) each, taking their Cholesky rows from
        ``pool``, whose first rows must be this posterior's training points in order. Points
        the pool tracker has not been conditioned on yet are conditioned on here. All of
        them, or, if one raises, none (the tracker may stay ahead: it needs no labels)."""
        with self._all_or_nothing():
            self._add_pool_points(pool, indices, y_new)

    def _add_pool_points(self, pool: PoolVariance, indices, y_new: torch.Tensor) -> None:
        for index, y in zip(indices, y_new, strict=True):
            if pool.n_rows == self.n:
                pool.condition_on(index)
            if pool.n_rows <= self.n:
                raise RuntimeError("The pool tracker is behind this posterior; rebuild it.")
            if pool.row_index.get(self.n) != index:
                raise ValueError(
                    f"Pool point {index} is added as training point {self.n}, but the tracker "
                    f"conditioned on pool point {pool.row_index.get(self.n)} there: add labelled "
                    "points in the order the tracker was conditioned on them."
                )
            diagonal = pool.row_lengths[self.n].reshape(1)
            self._append(torch.cat([pool.A[: self.n, index], diagonal]), pool.Z_pool[index], y)


class PoolVariance:
    """Posterior variances of a fixed pool, kept current as points join the training set.

    With the hyperparameters fixed, the GP posterior variance does not depend on labels, so
    conditioning on a pool point needs no label. We keep ``A = L^-1 K(train, pool)`` and the
    latent variances ``v = diag K(pool) - sum(A^2)``; adding pool point q appends the row
    ``c / l`` to A, with ``c = K(pool, q) - A^T A[:, q]`` and ``l = sqrt(v[q] + noise)``, and
    subtracts ``c^2 / l^2`` from v: O(n m) per point instead of a new factorisation.

    With ``reference`` (pool indices), it also keeps the posterior covariance between every
    pool point and the reference points, ``C = K(pool, ref) - A^T A[:, ref]``, updated by
    the same row (``C -= row row[ref]^T``) for integrated variance reduction.
    """

    def __init__(
        self,
        posterior: ExactGPPosterior,
        Z_pool: torch.Tensor,
        capacity: int = 0,
        reference: torch.Tensor | None = None,
    ):
        if not isinstance(posterior, ExactGPPosterior):
            raise TypeError(
                f"Tracking pool variances needs an exact GP posterior, got a "
                f"{type(posterior).__name__}: use gp_head='exact' for active learning "
                "(batch entropy, variance reduction, campaigns)."
            )
        self.posterior = posterior
        self.Z_pool = Z_pool
        n = len(posterior.Z)
        self.A = torch.empty((n + capacity, len(Z_pool)), dtype=Z_pool.dtype, device=Z_pool.device)
        self.n_rows = n
        self.row_lengths: dict[int, torch.Tensor] = {}
        self.row_index: dict[int, int] = {}  # appended row -> the pool point it belongs to
        self.variance = posterior.prior_variance(Z_pool).clone()
        for start in range(0, len(Z_pool), 4096):
            part = slice(start, start + 4096)
            Ks = posterior._k(posterior.Z, Z_pool[part])
            self.A[:n, part] = torch.linalg.solve_triangular(posterior.L, Ks, upper=False)
            self.variance[part] -= (self.A[:n, part] ** 2).sum(0)
        self.variance.clamp_min_(1e-12)
        self.reference = reference
        if reference is not None:
            A = self.A[:n]
            self.cov_ref = posterior._k(Z_pool, Z_pool[reference]) - A.T @ A[:, reference]

    def predictive_variance(self) -> torch.Tensor:
        """Variance of y (latent variance plus noise) for every pool point."""
        return self.variance + self.posterior.noise

    def condition_on(self, index: int) -> None:
        """Add pool point ``index`` to the conditioning set (its label is not needed)."""
        if self.n_rows == len(self.A):  # grow the buffer
            extra = torch.empty_like(self.A[: max(16, len(self.A) // 4)])
            self.A = torch.cat([self.A, extra])
        A = self.A[: self.n_rows]
        k = self.posterior._k(self.Z_pool, self.Z_pool[index : index + 1]).squeeze(-1)
        c = k - A.T @ A[:, index]
        length = torch.sqrt(self.variance[index] + self.posterior.noise)
        row = c / length
        self.A[self.n_rows] = row
        self.row_lengths[self.n_rows] = length  # the Cholesky diagonal of that row
        self.row_index[self.n_rows] = index
        self.n_rows += 1
        self.variance = (self.variance - row**2).clamp_min_(1e-12)
        if self.reference is not None:
            self.cov_ref -= torch.outer(row, row[self.reference])

    def variance_reduction(self, weights: torch.Tensor | None = None) -> torch.Tensor:
        """For each pool point x, the total drop in latent variance over the reference points
        if x were labelled: sum_r w_r cov(x, r)^2 / (var(x) + noise), with w_r = 1 unless
        ``weights`` (one per reference point) are given."""
        squared = self.cov_ref**2 if weights is None else self.cov_ref**2 * weights
        return squared.sum(1) / self.predictive_variance()
