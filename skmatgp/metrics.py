"""Uncertainty metrics for Gaussian predictions (mean, std): NLL, coverage, calibration, sharpness."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


def _check(y_true, mean, std):
    y_true, mean, std = (np.asarray(a, dtype=float).ravel() for a in (y_true, mean, std))
    if not (len(y_true) == len(mean) == len(std)):
        raise ValueError(
            f"y_true, mean and std must have one value per sample; got lengths "
            f"{len(y_true)}, {len(mean)}, {len(std)}."
        )
    if np.any(std <= 0) or not np.all(np.isfinite(std)):
        raise ValueError("std must be positive and finite everywhere.")
    return y_true, mean, std


def gaussian_nll(y_true, mean, std) -> float:
    """Mean negative log likelihood of y_true under N(mean, std^2)."""
    y_true, mean, std = _check(y_true, mean, std)
    return float(np.mean(0.5 * np.log(2 * np.pi * std**2) + 0.5 * ((y_true - mean) / std) ** 2))


def interval_coverage(y_true, mean, std, level: float = 0.95) -> float:
    """Share of y_true inside the central ``level`` interval of N(mean, std^2)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}.")
    y_true, mean, std = _check(y_true, mean, std)
    half_width = norm.ppf(0.5 + level / 2) * std
    return float(np.mean(np.abs(y_true - mean) <= half_width))


def calibration_curve(y_true, mean, std, n_levels: int = 99):
    """Expected vs observed coverage of central intervals at ``n_levels`` levels in (0, 1).

    Returns
    -------
    expected, observed : ndarrays of shape (n_levels,)
    """
    y_true, mean, std = _check(y_true, mean, std)
    expected = np.linspace(0, 1, n_levels + 2)[1:-1]
    z = np.abs(y_true - mean) / std
    observed = np.array([np.mean(z <= norm.ppf(0.5 + p / 2)) for p in expected])
    return expected, observed


def miscalibration_area(y_true, mean, std, n_levels: int = 99) -> float:
    """Mean absolute gap between observed and expected interval coverage (0 is perfect).

    This approximates the area between the calibration curve and the diagonal.
    """
    expected, observed = calibration_curve(y_true, mean, std, n_levels)
    return float(np.mean(np.abs(observed - expected)))


def sharpness(std) -> float:
    """Root mean predictive variance: smaller is sharper (only meaningful when calibrated)."""
    std = np.asarray(std, dtype=float)
    return float(np.sqrt(np.mean(std**2)))


def regression_report(y_true, mean, std) -> dict[str, float]:
    """MAE, RMSE, NLL, 68% and 95% coverage, miscalibration area and sharpness in one dict."""
    y_true, mean, std = _check(y_true, mean, std)
    return {
        "mae": float(np.mean(np.abs(y_true - mean))),
        "rmse": float(np.sqrt(np.mean((y_true - mean) ** 2))),
        "nll": gaussian_nll(y_true, mean, std),
        "coverage68": interval_coverage(y_true, mean, std, 0.6827),
        "coverage95": interval_coverage(y_true, mean, std, 0.95),
        "miscalibration_area": miscalibration_area(y_true, mean, std),
        "sharpness": sharpness(std),
    }
