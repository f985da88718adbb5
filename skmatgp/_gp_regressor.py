"""GPRegressor: the GP head on its own, as a scikit-learn regressor on a feature matrix."""

from __future__ import annotations

import json
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._atomic import torch_save_atomic
from ._doc_link import DocLinkMixin
from ._gp_head import (
    GPHeadMixin,
    choose_head,
    fit_head,
    head_from_payload,
    head_payload,
    power_of_two,
    resolve_device,
    seeded_torch,
    target_scaling,
)

FORMAT = "skmatgp.GPRegressor"
FORMAT_VERSION = 1
_MIN_VALIDATION = 5  # fewer held-out points than this: no std calibration
_FEW_POINTS = 5  # fewer training points than this: warn that the std is a rough guess


class GPRegressor(DocLinkMixin, GPHeadMixin, RegressorMixin, BaseEstimator):
    """Gaussian process regression on a feature matrix, with the same GP head as
    :class:`GNNGPRegressor` and everything built on it: ``predict(X, return_std=True)`` and
    ``return_cov``, rank-1 ``update``, the query strategies, :class:`~skmatgp.active.ActiveLearner`,
    pool scoring, :class:`LogTargetRegressor`, campaigns and ``save``/:func:`skmatgp.load`.

    Put a featurizer in front of it, e.g. ``make_pipeline(FoundationFeaturizer(),
    GPRegressor())``: pretrained features need no training on the user's few labels, so a fit
    is the GP's alone. y is standardised; the features are scaled (``feature_scaling``); an
    exact GP with an ARD Matérn kernel (one length scale per feature), a constant mean and
    learned noise is fitted by marginal likelihood (GPyTorch, float64).

    Parameters
    ----------
    nu : {0.5, 1.5, 2.5}, default=1.5
        Smoothness of the Matérn kernel. The default comes from a validation study on
        pretrained features: see ``benchmarks/RESULTS.md``.
    gp_head : {"auto", "exact", "sparse"}, default="auto"
        As in :class:`GNNGPRegressor`: "exact" supports :meth:`update` and active learning;
        "sparse" is a variational GP on ``n_inducing`` inducing points for large training
        sets; "auto" is exact up to 10,000 training points.
    n_inducing : int, default=512
        Inducing points of the sparse head.
    gp_iterations : int, default=100
        Adam steps on the marginal likelihood (exact head; 5 times as many minibatch steps
        for the sparse head).
    gp_learning_rate : float, default=0.1
        Adam learning rate of the exact head's hyperparameters.
    max_hyperparameter_samples : int or None, default=1000
        Exact head: fit the hyperparameters on at most this many training points (a random
        subset), then condition the posterior on all of them. Each marginal-likelihood step
        costs O(n^3), so this bounds the fit's time; None uses every point. The sparse head
        fits on minibatches of all points and ignores it.
    feature_scaling : {"standard", "minmax", None}, default="standard"
        Scale each feature to zero mean and unit variance, or to [0, 1] (as
        :class:`GNNGPRegressor` scales its embeddings), or leave it. The kernel's length scales
        start at the median distance between training points after scaling. A feature
        constant on the training set (to floating-point rounding, at any magnitude) is left
        unscaled: it carries nothing. None keeps the features' relative scales: they are
        only centred and divided, all alike, by a power of two near their overall spread,
        which changes no distance ratio (so features of 1e-9 or 1e9 fit as well as of 1).
    calibrate_std : bool, default=False
        Hold out ``validation_fraction`` of the training points, fit the hyperparameters on
        the rest, and scale the predictive std so that the held-out z-scores have unit root
        mean square. Fixed features do not see their training labels, so the GP's own std is
        usually honest; calibration is there for features that did (see :class:`GNNGPRegressor`).
    validation_fraction : float, default=0.1
        Share of the training points held out for ``calibrate_std``.
    device : str, default="auto"
        "auto" uses CUDA when available, else the CPU; or any torch device string.
    random_state : int, RandomState instance or None, default=None
        Seeds the hyperparameter subset, the validation split and the sparse head's start.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during ``fit``; ``predict`` and ``update`` refuse others.
    feature_offset_, feature_scale_ : ndarray of shape (n_features,)
        The scaling: the GP sees ``(X - feature_offset_) / feature_scale_``.
    y_mean_, y_scale_ : float
        y is standardised with these before the GP sees it.
    posterior_ : ExactGPPosterior or SparseGPPosterior
    gp_head_ : {"exact", "sparse"}
    std_scale_ : float
        Factor applied to the predictive std (1.0 without calibration).
    log_marginal_likelihood_value_ : float
        Log marginal likelihood of the standardised training targets under the fitted
        hyperparameters (exact head; NaN for the sparse head), as in scikit-learn's
        ``GaussianProcessRegressor``.
    validation_indices_, validation_predictions_, validation_std_ : ndarray
        The held-out points of ``calibrate_std`` and their held-out mean and (scaled) std.
    device_ : torch.device
    """

    def __init__(
        self,
        nu: float = 1.5,
        gp_head: str = "auto",
        n_inducing: int = 512,
        gp_iterations: int = 100,
        gp_learning_rate: float = 0.1,
        max_hyperparameter_samples: int | None = 1000,
        feature_scaling: str | None = "standard",
        calibrate_std: bool = False,
        validation_fraction: float = 0.1,
        device: str = "auto",
        random_state=None,
    ):
        self.nu = nu
        self.gp_head = gp_head
        self.n_inducing = n_inducing
        self.gp_iterations = gp_iterations
        self.gp_learning_rate = gp_learning_rate
        self.max_hyperparameter_samples = max_hyperparameter_samples
        self.feature_scaling = feature_scaling
        self.calibrate_std = calibrate_std
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state

    def _validate_params(self) -> None:
        if self.nu not in (0.5, 1.5, 2.5):
            raise ValueError(f"nu must be 0.5, 1.5 or 2.5, got {self.nu!r}.")
        if self.gp_head not in ("auto", "exact", "sparse"):
            raise ValueError(f"gp_head must be 'auto', 'exact' or 'sparse', got {self.gp_head!r}.")
        if self.feature_scaling not in ("standard", "minmax", None):
            raise ValueError(
                f"feature_scaling must be 'standard', 'minmax' or None, got {self.feature_scaling!r}."
            )
        for name in ("n_inducing", "gp_iterations"):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0):
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        samples = self.max_hyperparameter_samples
        if samples is not None and not (isinstance(samples, (int, np.integer)) and samples >= 3):
            raise ValueError(f"max_hyperparameter_samples must be None or an integer >= 3, got {samples!r}.")
        if not (isinstance(self.gp_learning_rate, numbers.Real) and self.gp_learning_rate > 0):
            raise ValueError(f"gp_learning_rate must be a positive number, got {self.gp_learning_rate!r}.")
        if not (isinstance(self.validation_fraction, numbers.Real) and 0 <= self.validation_fraction < 1):
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}.")

    # ---------------------------------------------------------------- fitting
    def fit(self, X, y):
        """Fit the GP on features ``X`` (n, d) and targets ``y`` (n,); at least 3 points.

        Degenerate targets give a std with a warning that says what it rests on: a constant
        y (no spread to learn from) and fewer than 5 points (hyperparameters fitted on a few
        values). A y whose variance float64 cannot hold (a scale beyond about 1e-154 or
        1e154) is refused.

        Returns
        -------
        self
        """
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        if len(y) < 3:
            raise ValueError(f"GPRegressor needs at least 3 training points; got n_samples={len(y)}.")
        if len(y) < _FEW_POINTS:
            warnings.warn(
                f"GPRegressor is fitted on {len(y)} points: its length scales, output scale and "
                f"noise are fitted to {len(y)} values, so the std is a rough guess, often too "
                "small. Check it on held-out labels before trusting it.",
                UserWarning,
                stacklevel=2,
            )
        rng = check_random_state(self.random_state)
        self.device_ = resolve_device(self.device)
        self.y_mean_, self.y_scale_, y_std = target_scaling(y, "GPRegressor")
        self.feature_offset_, self.feature_scale_ = _scaling(X, self.feature_scaling)
        Z = torch.as_tensor(self._scaled(X), device=self.device_)
        y_std = torch.as_tensor(y_std, device=self.device_)

        validation = np.zeros(0, dtype=np.int64)
        order = rng.permutation(len(y))
        n_val = round(self.validation_fraction * len(y)) if self.calibrate_std else 0
        if n_val >= _MIN_VALIDATION and len(y) - n_val >= 3:
            validation = np.sort(order[:n_val])
        elif self.calibrate_std:
            warnings.warn(
                f"calibrate_std=True needs at least {_MIN_VALIDATION} held-out points; "
                f"validation_fraction={self.validation_fraction} of {len(y)} gives {n_val}, so the "
                "std is not calibrated (std_scale_=1). Raise validation_fraction or add data.",
                UserWarning,
                stacklevel=2,
            )
        rest = np.setdiff1d(order, validation, assume_unique=True)  # in random order
        self.gp_head_ = choose_head(self.gp_head, len(y))
        limit = self.max_hyperparameter_samples if self.gp_head_ == "exact" else None
        hyper_idx = np.sort(rest if limit is None else rest[:limit])
        with seeded_torch(rng, self.device_):
            fitted = fit_head(
                Z,
                y_std,
                validation,
                head=self.gp_head_,
                nu=self.nu,
                iterations=self.gp_iterations,
                lr=self.gp_learning_rate,
                n_inducing=self.n_inducing,
                calibrate_std=self.calibrate_std,
                hyperparameter_idx=hyper_idx,
                init_lengthscale=_median_distance(Z[hyper_idx], rng),
            )
        self._set_head(fitted, validation)
        return self

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            Z = (X - self.feature_offset_) / self.feature_scale_
        bad = np.argwhere(~np.isfinite(Z))
        if len(bad):
            i, j = bad[0]
            raise ValueError(
                f"X[{i}, {j}] = {X[i, j]:.3g} overflows float64 once scaled (offset "
                f"{self.feature_offset_[j]:.3g}, scale {self.feature_scale_[j]:.3g}); express "
                "that feature in other units."
            )
        return Z

    def embed(self, X) -> np.ndarray:
        """The scaled features the GP sees, shape ``(n, n_features_in_)``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._scaled(X)

    def update(self, X, y):
        """Condition the GP on new labelled points without refitting its hyperparameters:
        one Cholesky row each, O(n^2). Needs the exact head."""
        check_is_fitted(self)
        X, y = validate_data(self, X, y, reset=False, dtype=np.float64, y_numeric=True)
        self._update_head(self._scaled(X), y)
        return self

    # ---------------------------------------------------------------- persistence
    def save(self, path) -> None:
        """Save the fitted model to one file that :func:`skmatgp.load` reads back without
        unpickling anything (``torch.load(weights_only=True)``)."""
        check_is_fitted(self)
        params = self.get_params()
        if not (params["random_state"] is None or isinstance(params["random_state"], (int, np.integer))):
            params["random_state"] = None  # a RandomState cannot be written as JSON
        payload = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "params": json.dumps(params, default=lambda value: value.item()),
            "scalars": {
                "y_mean": self.y_mean_,
                "y_scale": self.y_scale_,
                "std_scale": self.std_scale_,
                "log_marginal_likelihood": self.log_marginal_likelihood_value_,
            },
            "feature_offset": torch.as_tensor(self.feature_offset_),
            "feature_scale": torch.as_tensor(self.feature_scale_),
            "head": head_payload(self.posterior_),
        }
        torch_save_atomic(payload, path)  # an interrupted save leaves no half file


def load_gp_regressor(payload: dict, path, device: str = "cpu") -> GPRegressor:
    """The GPRegressor a checked payload of :meth:`GPRegressor.save` holds."""
    if payload["version"] > FORMAT_VERSION:
        raise ValueError(
            f"{path} was saved by a newer skmatgp (format {payload['version']}); upgrade skmatgp."
        )
    params = json.loads(payload["params"])
    params["device"] = device
    model = GPRegressor(**params)
    model.device_ = resolve_device(device)
    scalars = payload["scalars"]
    model.y_mean_, model.y_scale_ = scalars["y_mean"], scalars["y_scale"]
    model.std_scale_ = scalars["std_scale"]
    model.log_marginal_likelihood_value_ = scalars["log_marginal_likelihood"]
    model.feature_offset_ = payload["feature_offset"].numpy()
    model.feature_scale_ = payload["feature_scale"].numpy()
    model.n_features_in_ = len(model.feature_offset_)
    model._set_loaded_head(head_from_payload(payload["head"], model.nu))
    return model


def _scaling(X: np.ndarray, how: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Offset and scale per feature; a constant feature keeps scale 1 (it carries nothing).

    Computed on each column divided by a power of two near its largest magnitude: exact for
    ordinary values, and features of 1e-200 or 1e200 neither under- nor overflow. A feature
    is constant when its spread is within floating-point rounding of its magnitude (as in
    scikit-learn's StandardScaler), whatever that magnitude.

    ``how=None`` keeps the features' relative scales: it centres them and divides them all
    by one power of two near their overall spread. A stationary kernel sees only distances,
    so this moves no point relative to another; it keeps the length scales within what
    GPyTorch's softplus can hold and fit (about 1e-15 to 1e300, by steps of about 0.1)."""
    magnitude = np.abs(X).max(0)
    power = power_of_two(magnitude)
    Xp = X / power
    spread = Xp.std(0) * power
    constant = spread <= len(X) * np.finfo(float).eps * magnitude
    if how == "minmax":
        return X.min(0), np.where(constant, 1.0, (Xp.max(0) - Xp.min(0)) * power)
    offset = Xp.mean(0) * power
    if how == "standard":
        return offset, np.where(constant, 1.0, spread)
    top = spread.max(initial=0.0)
    overall = top * float(np.sqrt(np.sum((spread / top) ** 2))) if top > 0 else 1.0
    return offset, np.full(X.shape[1], power_of_two(overall))


def _median_distance(Z: torch.Tensor, rng, size: int = 500) -> float:
    """Median distance between (up to ``size``) training points: a length-scale start that puts
    typical pairs at correlation about exp(-1), whatever the number of features. Computed
    on the points divided by a power of two near their largest magnitude, so that unscaled
    features of 1e-200 or 1e200 give their own distances instead of 0 or inf."""
    sample = Z[torch.as_tensor(rng.permutation(len(Z))[:size], device=Z.device)]
    magnitude = float(sample.abs().max()) if sample.numel() else 0.0
    power = float(power_of_two(magnitude))
    distances = torch.pdist(sample / power)
    median = float(distances.median()) * power if len(distances) else 0.0
    return median if median > 0 else 1.0
