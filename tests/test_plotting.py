"""skmatgp.plotting draws what it is given: learning curves, parity and calibration."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from skmatgp.metrics import calibration_curve
from skmatgp.plotting import plot_calibration, plot_learning_curves, plot_parity


def _records():
    """Two strategies, two seeds, test MAE at 10 and 20 labels (no pool_mae)."""
    maes = {("random", 0): (0.5, 0.4), ("random", 1): (0.7, 0.6), ("batch_entropy", 0): (0.5, 0.3)}
    return [
        {"strategy": strategy, "seed": seed, "n_labels": n, "test_mae": mae}
        for (strategy, seed), values in maes.items()
        for n, mae in zip((10, 20), values)
    ]


def test_learning_curves_plot_the_seed_mean_and_skip_absent_metrics():
    fig = plot_learning_curves(_records())  # pool_mae is absent: one panel
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["random (2 seeds)"].get_ydata(), [0.6, 0.5])
    np.testing.assert_allclose(lines["batch_entropy (1 seeds)"].get_ydata(), [0.5, 0.3])
    assert len(ax.collections) == 1  # a min-to-max band for the strategy with 2 seeds
    plt.close(fig)


def test_learning_curves_refuse_records_without_the_metric():
    with pytest.raises(ValueError, match=r"None of the metrics \['test_nll'\].*hold \['test_mae'\]"):
        plot_learning_curves(_records(), metrics="test_nll")


def test_parity_and_calibration_plot_the_data():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    mean, std = y + rng.normal(scale=0.5, size=200), np.full(200, 0.5)
    fig = plot_parity(y, mean, std)
    points = fig.axes[0].containers[0].lines[0]  # the error bar plot's markers
    np.testing.assert_allclose(points.get_xydata(), np.column_stack([y, mean]))
    low, high = min(y.min(), mean.min()), max(y.max(), mean.max())
    np.testing.assert_allclose(fig.axes[0].get_lines()[-1].get_xydata(), [[low, low], [high, high]])
    plt.close(fig)
    fig = plot_calibration(y, mean, std, label="model")
    expected, observed = calibration_curve(y, mean, std)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_xydata(), np.column_stack([expected, observed]))
    plt.close(fig)
