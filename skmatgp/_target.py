"""The scale a model is fitted on: y itself, or log(y) for a positive, heavy-tailed y.

Every consumer of a log target asks one object, :class:`TargetTransform`, instead of knowing
about logs: :class:`~skmatgp.LogTargetRegressor`, ``Campaign(log_target=True)``, the
acquisitions, pool scoring and the benchmarks. It says what the model is fitted on
(``forward``), what the model's Gaussian N(mu, s^2) on that scale says about y (``inverse``,
``mean_std``, ``interval``, ``covariance``), and how an acquisition that scores y reads the
fitted scale (``log_jacobian``).

On the log scale the model of y is log-normal: its median exp(mu) is the point prediction,
the delta-method std exp(mu) s the Gaussian the usual metrics need (too narrow in the upper
tail when s is large), and exp(mu -/+ z s) its own interval. Where a value on y's scale
leaves float64's range (y near 1e-308 or 1e308) it comes out as 0 or inf, with a warning
that names the first such item.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm


@dataclass(frozen=True)
class TargetTransform:
    """y -> the scale a model is fitted on, and the model's predictions back on y's scale.

    Use the two instances, ``IDENTITY`` and ``LOG``; ``TargetTransform.of(log_target)`` picks
    one. ``mu`` and ``s`` are a prediction's mean and std on the fitted scale.
    """

    name: str

    def __post_init__(self):
        if self.name not in ("identity", "log"):
            raise ValueError(f"A target transform is 'identity' or 'log', got {self.name!r}.")

    @staticmethod
    def of(log_target: bool) -> TargetTransform:
        """``LOG`` for a log target, else ``IDENTITY``."""
        return LOG if log_target else IDENTITY

    @property
    def is_identity(self) -> bool:
        return self.name == "identity"

    def outside_domain(self, y) -> np.ndarray:
        """Which values have no image on the fitted scale: for the log, those not positive
        and finite; none for the identity."""
        y = np.asarray(y, dtype=float)
        if self.is_identity:
            return np.zeros(y.shape, dtype=bool)
        return ~(np.isfinite(y) & (y > 0))

    def forward(self, y, fitter: str = "A log target") -> np.ndarray:
        """y on the fitted scale, as floats. For the log, a ValueError naming the first value
        that is not positive and finite; ``fitter`` names who fits log(y), for that error."""
        y = np.asarray(y, dtype=float)
        if self.is_identity:
            return y
        bad = np.flatnonzero(self.outside_domain(y))
        if len(bad):
            raise ValueError(
                f"{fitter} fits log(y), so y must be positive and finite; {len(bad)} value(s) are "
                f"not, first y[{bad[0]}] = {y.reshape(-1)[bad[0]]}. A target that can be zero or "
                "negative has no log: model it without one."
            )
        return np.log(y)

    def inverse(self, mu) -> np.ndarray:
        """A fitted-scale value on y's scale: for the log, exp(mu), the log-normal's median."""
        if self.is_identity:
            return mu
        return _exp(np.asarray(mu), "median")

    def mean_std(self, mu, s) -> tuple[np.ndarray, np.ndarray]:
        """The point prediction and std on y's scale: for the log, the median exp(mu) and the
        delta-method std exp(mu) s. NaN stays NaN, quietly."""
        if self.is_identity:
            return mu, s
        mu, s = np.asarray(mu, dtype=float), np.asarray(s, dtype=float)
        with np.errstate(over="ignore", under="ignore"):
            median = np.exp(mu)
            std = median * s
        in_range = (median > 0) & np.isfinite(median) & np.isfinite(std) & ((std > 0) | (s == 0))
        _warn_out_of_range(np.isfinite(mu) & np.isfinite(s) & ~in_range, mu, "median or std")
        return median, std

    def interval(self, mu, s, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """The central ``level`` interval on y's scale: mu -/+ z s for the identity, the
        log-normal's exp(mu -/+ z s) for the log (it stays positive)."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}.")
        z = norm.ppf(0.5 + level / 2)
        mu, s = np.asarray(mu), np.asarray(s)
        if self.is_identity:
            return mu - z * s, mu + z * s
        return _exp(mu - z * s, "interval's lower bound"), _exp(mu + z * s, "interval's upper bound")

    def covariance(self, mu, covariance) -> tuple[np.ndarray, np.ndarray]:
        """The point prediction and covariance on y's scale: for the log, the median and the
        delta-method covariance exp(mu_i) exp(mu_j) C_ij."""
        if self.is_identity:
            return mu, covariance
        median = self.inverse(mu)
        with np.errstate(over="ignore", invalid="ignore"):
            covariance = covariance * np.outer(median, median)
        _warn_out_of_range(~np.isfinite(np.diagonal(covariance)) & np.isfinite(mu), mu, "variance")
        return median, covariance

    def log_jacobian(self, mu):
        """log dy/dz at the fitted-scale mean mu, how an acquisition scores y from the
        fitted scale: an entropy of y is the fitted scale's plus it (a log-normal's entropy is
        its log's plus mu), and a variance of y the fitted scale's times exp(2 log_jacobian)
        (the delta method). None for the identity: nothing to add. mu may be a tensor."""
        return None if self.is_identity else mu


IDENTITY = TargetTransform("identity")
LOG = TargetTransform("log")


def _exp(x: np.ndarray, what: str) -> np.ndarray:
    """exp(x), with a warning where a finite x gives 0 or inf."""
    with np.errstate(over="ignore", under="ignore"):
        out = np.exp(x)
    _warn_out_of_range(np.isfinite(x) & ~((out > 0) & np.isfinite(out)), x, what)
    return out


def _warn_out_of_range(bad: np.ndarray, log_values: np.ndarray, what: str) -> None:
    """Say which items' values on y's own scale float64 cannot hold (0 or inf there)."""
    bad = np.flatnonzero(bad)
    if len(bad):
        warnings.warn(
            f"The {what} of {len(bad)} item(s), first at index {bad[0]} (log-scale value "
            f"{np.ravel(log_values)[bad[0]]:.4g}), is beyond float64's range on y's own scale "
            "and comes out as 0 or inf; the log-scale Gaussian (LogTargetRegressor.predict_log) "
            "is finite.",
            RuntimeWarning,
            stacklevel=3,
        )
