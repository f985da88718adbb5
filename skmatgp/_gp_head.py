"""The one GP head: fitting, std calibration, prediction, updates and the saved form of a GP
on a feature matrix, shared by :class:`~skmatgp.GPRegressor` (features given) and
:class:`~skmatgp.GNNGPRegressor` (features from a trained encoder).

Both regressors standardise y, scale their features, and then hand the same numbers to the
functions here; predictions come back through :class:`GPHeadMixin`, so there is one GP
implementation behind both. The head is an exact or a sparse posterior
(:class:`~skmatgp._gp.ExactGPPosterior`, :class:`~skmatgp._sparse_gp.SparseGPPosterior`); each
answers for itself (``kind``, ``check_updatable()``, ``log_marginal_likelihood()``,
``payload()`` and ``from_payload()``), so no regressor tests which one it holds.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._gp import ExactGPPosterior, fit_gp_hyperparameters
from ._sparse_gp import SparseGPPosterior, fit_sparse_gp_hyperparameters

SPARSE_ABOVE = 10_000  # gp_head="auto" picks the sparse head above this many training points
_SPARSE_STEPS_PER_ITERATION = 5  # sparse head: minibatch ELBO steps per gp_iterations
_SPARSE_LEARNING_RATE = 0.02
_SPARSE_BATCH = 1024


def resolve_device(device) -> torch.device:
    """``device`` as a torch device; "auto" is CUDA where available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available here.")
    return resolved


def would_run_on_cuda(device) -> bool:
    """Whether ``device`` would run on CUDA here; unlike ``resolve_device``, never raises."""
    if device == "auto":
        return torch.cuda.is_available()
    try:
        return torch.device(device).type == "cuda"
    except (RuntimeError, TypeError):
        return False


@contextlib.contextmanager
def seeded_torch(rng: np.random.RandomState, device: torch.device):
    """torch's global RNG forked for the block (the caller's is left as it was) and seeded
    from ``rng``: same seed, same numbers, whatever the caller did with torch before."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(rng.randint(np.iinfo(np.int32).max)))
        yield


def choose_head(gp_head: str, n: int) -> str:
    """The head a fit on ``n`` points uses: "auto" is exact up to ``SPARSE_ABOVE``."""
    if gp_head == "auto":
        return "sparse" if n > SPARSE_ABOVE else "exact"
    return gp_head


def power_of_two(x):
    """The power of two at or just below ``x`` (1 where x is 0), elementwise: dividing by it
    is exact and brings x to [1, 2), so sums and squares of the result neither over- nor
    underflow."""
    x = np.asarray(x, dtype=float)
    return np.ldexp(1.0, np.frexp(np.where(x > 0, x, 1.0))[1] - 1)


_SCALE_LIMITS = (float(np.sqrt(np.finfo(float).tiny)), float(np.sqrt(np.finfo(float).max)))


def _moments(y: np.ndarray) -> tuple[float, float, bool]:
    """Mean and standard deviation of y, computed on y divided by a power of two near its
    largest magnitude, and whether y is constant to rounding: the one place that decides it."""
    magnitude = float(np.max(np.abs(y)))
    power = float(power_of_two(magnitude))
    mean = float(np.mean(y / power)) * power
    spread = float(np.std(y / power)) * power
    return mean, spread, spread <= len(y) * np.finfo(float).eps * magnitude


def standardised(y: np.ndarray, mean: float, scale: float, who: str, stacklevel: int = 3) -> np.ndarray:
    """``(y - mean) / scale`` with a scaling fitted before (a warm-start refit). Where y is
    constant to rounding, every standardised target is exactly the first one, so that
    :func:`fit_head` finds nothing to calibrate, and a warning says so."""
    if not _moments(y)[2]:
        return (y - mean) / scale
    warnings.warn(
        f"{who}: y is constant (all {len(y)} targets are {float(y[0]):.6g}), so there is no "
        "spread to learn from: the std keeps the scale of the first fit, and calibrate_std has "
        "nothing to calibrate on. Add items whose y differs for a std you can trust.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return np.full(len(y), (float(y[0]) - mean) / scale)


def target_scaling(y: np.ndarray, who: str, stacklevel: int = 3) -> tuple[float, float, np.ndarray]:
    """The mean and scale that standardise ``y``, and the standardised targets the GP sees,
    ``(y - mean) / scale``.

    Computed on y divided by a power of two near its largest magnitude: exact for ordinary
    values, and neither 1e-300 nor 1e300 under- or overflows on the way. A constant y (every
    value equal, to rounding: band gaps of metals, all 0.0) has no spread to learn a scale
    from; its scale is then |y| (1 for y = 0), so that the std follows y's units, its
    standardised targets are all exactly 0 (which :func:`fit_head` reads as constant), and a
    warning says the std is that assumption, not the data's. A scale whose square float64
    cannot hold (beyond about 1e-154 or 1e154) is refused: the predictive variance would be
    0 or inf.
    """
    mean, spread, constant = _moments(y)
    if not constant:
        if not _SCALE_LIMITS[0] <= spread <= _SCALE_LIMITS[1]:
            raise ValueError(
                f"{who}: y varies on a scale of {spread:.3g}, whose square (the variance) float64 "
                "cannot hold, so the predictive std would be 0 or inf. Express y in other units "
                "(scale it by a power of ten towards 1) and scale the predictions back."
            )
        return mean, spread, (y - mean) / spread
    mean = float(y[0])
    scale = abs(mean) or 1.0
    if not _SCALE_LIMITS[0] <= scale <= _SCALE_LIMITS[1]:
        raise ValueError(
            f"{who}: y is constant at {mean:.3g}, and the std would be assumed on that scale, "
            "whose square (the variance) float64 cannot hold. Express y in other units "
            "(scale it by a power of ten towards 1) and scale the predictions back."
        )
    warnings.warn(
        f"{who}: y is constant (all {len(y)} targets are {mean:.6g}), so there is no "
        "spread to learn from: predictions are that constant and the std comes from an "
        f"assumed scale of {scale:.6g} (|y|, or 1 where y is 0), not from the data; "
        "calibrate_std has nothing to calibrate on either. Add items whose y differs "
        "(non-metals beside metals, say) for a std you can trust.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return mean, scale, np.zeros(len(y))  # no spread left once standardised


@dataclass
class FittedHead:
    """What fitting the head gives: the posterior on every point, the std factor, and the
    held-out mean and (calibrated) std of the validation points, in standardised units."""

    posterior: ExactGPPosterior | SparseGPPosterior
    std_scale: float
    validation_mean: np.ndarray
    validation_std: np.ndarray


def fit_head(
    Z: torch.Tensor,
    y: torch.Tensor,
    validation: np.ndarray,
    *,
    head: str,
    nu: float,
    iterations: int,
    lr: float,
    n_inducing: int,
    calibrate_std: bool,
    hyperparameter_idx: np.ndarray | None = None,
    init_lengthscale: float | None = None,
) -> FittedHead:
    """Fit the GP hyperparameters on the points outside ``validation`` (or on
    ``hyperparameter_idx``, a subset of them, where given), then condition on all points.

    With a validation split, the validation points are predicted by a GP conditioned on the
    other points; with ``calibrate_std`` the std is scaled by the factor that maximises their
    Gaussian likelihood (the root mean square of their z-scores). A trained encoder fits its
    training labels, so without this the std on its embeddings comes out too small. The
    sparse head keeps its inducing points from the fit. A constant y (all standardised
    targets 0; :func:`target_scaling` has warned) is not calibrated: its held-out z-scores
    are all 0 and would scale the std to 0.
    """
    calibrate_std = calibrate_std and bool(torch.any(y != y[0]))
    fit_idx = np.setdiff1d(np.arange(len(y)), validation)
    hyper_idx = fit_idx if hyperparameter_idx is None else hyperparameter_idx
    if head == "sparse":
        kernel, mean, noise, inducing = fit_sparse_gp_hyperparameters(
            Z[hyper_idx],
            y[hyper_idx],
            nu=nu,
            n_inducing=n_inducing,
            steps=_SPARSE_STEPS_PER_ITERATION * iterations,
            lr=_SPARSE_LEARNING_RATE,
            batch_size=_SPARSE_BATCH,
            seed=int(torch.randint(np.iinfo(np.int32).max, ()).item()),
        )

        def posterior(idx):
            return SparseGPPosterior(kernel, mean, noise, inducing, Z[idx], y[idx])
    else:
        kernel, mean, noise = fit_gp_hyperparameters(
            Z[hyper_idx], y[hyper_idx], nu=nu, iterations=iterations, lr=lr, init_lengthscale=init_lengthscale
        )

        def posterior(idx):
            return ExactGPPosterior(kernel, mean, noise, Z[idx], y[idx])

    std_scale = 1.0
    validation_mean = validation_std = np.zeros(0)
    if len(validation):
        held_out = posterior(fit_idx)
        val_mean, val_var = held_out.predict_latent(Z[validation])
        val_std = torch.sqrt(val_var + noise)
        if calibrate_std:
            std_scale = float(torch.sqrt(torch.mean(((y[validation] - val_mean) / val_std) ** 2)))
        validation_mean = val_mean.cpu().numpy()
        validation_std = val_std.cpu().numpy() * std_scale
        del held_out  # before the full posterior: one Cholesky factor in memory at a time
    return FittedHead(posterior(slice(None)), std_scale, validation_mean, validation_std)


def head_payload(posterior) -> dict:
    """The tensors and numbers that rebuild ``posterior`` (on the CPU), for ``torch.save``."""
    cpu = torch.device("cpu")
    return {
        "gp_mean": posterior.mean,
        "gp_noise": posterior.noise,
        "kernel": {k: v.to(cpu) for k, v in posterior.kernel.state_dict().items()},
        **posterior.payload(),
    }


def head_from_payload(payload: dict, nu: float) -> ExactGPPosterior | SparseGPPosterior:
    """The posterior saved by :func:`head_payload`, exactly as it was (no refactorisation)."""
    head = SparseGPPosterior if payload.get("sparse") else ExactGPPosterior
    return head.from_payload(payload, nu)


def log_marginal_likelihood(posterior) -> float:
    """log N(y | mean, K + noise I) of the exact head's training targets; NaN for the sparse head."""
    return posterior.log_marginal_likelihood()


class GPHeadMixin:
    """Predictions of y from the scaled features the GP sees, for a regressor that holds a
    fitted ``posterior_``, ``y_mean_``, ``y_scale_``, ``std_scale_`` and ``device_`` and whose
    ``embed(X)`` gives those features. The query strategies, pool scoring and campaigns use
    exactly these methods, whichever regressor it is."""

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "posterior_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # same seed, same numbers on the CPU only: CUDA sums in no fixed order
        tags.non_deterministic = would_run_on_cuda(self.device)
        return tags

    def __getstate__(self):
        """Pickle with every tensor on the CPU, so a model fitted on a GPU loads anywhere."""
        state = self.__dict__.copy()
        device = state.get("device_")
        if device is not None and device.type != "cpu":
            state.update(self._cpu_state())
        return state

    def __deepcopy__(self, memo):
        """A copy on the same device: ``copy.deepcopy`` would otherwise go through
        ``__getstate__`` and move a GPU model's copy to the CPU."""
        out = type(self).__new__(type(self))
        memo[id(self)] = out
        out.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return out

    def _cpu_state(self) -> dict:
        """The fitted attributes that hold tensors, moved to the CPU (for pickling)."""
        cpu = torch.device("cpu")
        return {"posterior_": self.posterior_.to(cpu), "device_": cpu}

    def predict(self, X, return_std: bool = False, return_cov: bool = False):
        """Predictive mean, and with ``return_std=True`` the predictive std of y, or with
        ``return_cov=True`` the joint predictive covariance of the items (as scikit-learn's
        GaussianProcessRegressor; at most one of the two). The covariance's diagonal is the
        std squared: both include the noise and ``std_scale_``. It is an n x n matrix, so
        ask for it on the items whose joint distribution you need (to sample them jointly).

        Returns
        -------
        mean : ndarray of shape (n,)
        std : ndarray of shape (n,), only with ``return_std=True``
        cov : ndarray of shape (n, n), only with ``return_cov=True``
        """
        if return_std and return_cov:
            raise RuntimeError("At most one of return_std or return_cov can be requested.")
        Z = self.embed(X)
        if return_cov:
            return self._mean_and_covariance(Z)
        mean, std = self.predict_from_embeddings(Z)
        return (mean, std) if return_std else mean

    def sample_y(self, X, n_samples: int = 1, random_state=0) -> np.ndarray:
        """Draws from the joint predictive distribution of y at X, shape (n, n_samples), as
        scikit-learn's ``GaussianProcessRegressor.sample_y`` (noise included)."""
        mean, covariance = self.predict(X, return_cov=True)
        rng = check_random_state(random_state)
        return rng.multivariate_normal(mean, covariance, n_samples).T

    def _mean_and_covariance(self, Z):
        """Predictive mean and covariance of y from scaled features."""
        Z = torch.as_tensor(Z, device=self.device_)
        covariance = self.posterior_.latent_covariance(Z).cpu().numpy()
        covariance[np.diag_indices_from(covariance)] += self.posterior_.noise
        scale = self.std_scale_ * self.y_scale_
        return self._mean_from_embeddings(Z).cpu().numpy(), covariance * scale**2

    def _mean_from_embeddings(self, Z) -> torch.Tensor:
        """Predictive mean of y from scaled features, as a tensor on the model's device: the
        mean alone, without solving for the variances."""
        mean = self.posterior_.predict_mean(torch.as_tensor(Z, device=self.device_))
        return mean * self.y_scale_ + self.y_mean_

    def predict_from_embeddings(self, Z):
        """Predictive mean and std of y from scaled features (the output of :meth:`embed`).

        Lets a caller that keeps a pool's features (a campaign) skip computing them again.
        """
        check_is_fitted(self)
        mean, variance = self.posterior_.predict_latent(torch.as_tensor(Z, device=self.device_))
        mean = mean.cpu().numpy() * self.y_scale_ + self.y_mean_
        std = np.sqrt(variance.cpu().numpy() + self.posterior_.noise)
        return mean, std * self.std_scale_ * self.y_scale_

    def _set_head(self, fitted: FittedHead, validation: np.ndarray) -> None:
        """Keep a fitted head and its held-out predictions (in y's units) as attributes."""
        self.posterior_ = fitted.posterior
        self.std_scale_ = fitted.std_scale
        self.log_marginal_likelihood_value_ = log_marginal_likelihood(self.posterior_)
        self.validation_indices_ = np.asarray(validation)
        self.validation_predictions_ = fitted.validation_mean * self.y_scale_ + self.y_mean_
        self.validation_std_ = fitted.validation_std * self.y_scale_

    def _set_loaded_head(self, posterior) -> None:
        """Keep a head read from a file, moved to ``self.device_``; its held-out predictions
        are not saved, so they are empty."""
        self.gp_head_ = posterior.kind
        self.posterior_ = posterior.to(self.device_) if self.device_.type != "cpu" else posterior
        self.validation_indices_ = np.zeros(0, dtype=np.int64)
        self.validation_predictions_ = self.validation_std_ = np.zeros(0)

    def _update_head(self, Z: np.ndarray, y: np.ndarray) -> None:
        """Condition the exact head on new points (scaled features, y in its units): all of
        them or, if anything raises, none (the posterior's ``add_points`` rolls back)."""
        self.posterior_.check_updatable()
        with np.errstate(over="ignore"):
            y_std = (np.asarray(y, dtype=np.float64) - self.y_mean_) / self.y_scale_
        bad = np.flatnonzero(~np.isfinite(y_std))
        if len(bad):
            raise ValueError(
                f"y[{bad[0]}] = {y[bad[0]]} is NaN, infinite, or so far from the training "
                f"targets (mean {self.y_mean_:.3g}, scale {self.y_scale_:.3g}) that float64 "
                "overflows; fix the label or refit on it with fit."
            )
        Z = torch.as_tensor(Z, device=self.device_)
        self.posterior_.add_points(Z, torch.as_tensor(y_std, device=self.device_))
        self.log_marginal_likelihood_value_ = log_marginal_likelihood(self.posterior_)
