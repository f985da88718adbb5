"""Plots a person would rather look at than read: learning curves, parity, calibration."""

from __future__ import annotations

import numpy as np

from .metrics import calibration_curve


def _pyplot():
    import matplotlib.pyplot as plt  # falls back to the Agg backend without a display

    return plt


def plot_learning_curves(records, metrics=("test_mae", "pool_mae"), ax=None, title=None):
    """Mean and spread (min to max over seeds) of each metric against labels, one line per
    strategy, one panel per metric present in ``records`` (a list of campaign step dicts)."""
    plt = _pyplot()
    if isinstance(metrics, str):
        metrics = (metrics,)
    present = [m for m in metrics if any(m in r for r in records)]
    if not present:
        found = sorted({key for r in records for key in r if key.startswith(("test_", "pool_"))})
        raise ValueError(
            f"None of the metrics {list(metrics)} is in the {len(records)} records; they hold "
            f"{found or 'no metrics'}. A campaign records test_* metrics when given a test set "
            "and pool_mae when given pool_targets."
        )
    metrics = present
    if ax is None:
        fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
        axes = axes[0]
    else:
        axes, fig = np.atleast_1d(ax), np.atleast_1d(ax)[0].figure
    labels_for = {
        "test_mae": "MAE on the fixed test set",
        "pool_mae": "MAE on the remaining pool",
        "test_coverage95": "95% interval coverage (test)",
        "test_nll": "NLL (test)",
    }
    strategies = sorted({r["strategy"] for r in records})
    for axis, metric in zip(axes, metrics):
        for strategy in strategies:
            rows = [r for r in records if r["strategy"] == strategy and metric in r]
            seeds = sorted({r["seed"] for r in rows})
            n_labels = sorted({r["n_labels"] for r in rows})
            table = np.full((len(seeds), len(n_labels)), np.nan)
            for r in rows:
                table[seeds.index(r["seed"]), n_labels.index(r["n_labels"])] = r[metric]
            mean = np.nanmean(table, axis=0)
            (line,) = axis.plot(n_labels, mean, label=f"{strategy} ({len(seeds)} seeds)")
            if len(seeds) > 1:
                axis.fill_between(
                    n_labels,
                    np.nanmin(table, 0),
                    np.nanmax(table, 0),
                    color=line.get_color(),
                    alpha=0.2,
                    linewidth=0,
                )
        axis.set_xlabel("labelled structures")
        axis.set_ylabel(labels_for.get(metric, metric))
        axis.grid(alpha=0.3)
        axis.legend(title="line: mean; band: min to max over seeds", title_fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_parity(y_true, mean, std=None, ax=None, title=None):
    """Predicted against true values, with 95% error bars when ``std`` is given."""
    plt = _pyplot()
    if ax is None:
        _fig, ax = plt.subplots(figsize=(4.5, 4.5))
    y_true, mean = np.asarray(y_true), np.asarray(mean)
    if std is None:
        ax.scatter(y_true, mean, s=8, alpha=0.6)
    else:
        ax.errorbar(y_true, mean, yerr=1.96 * np.asarray(std), fmt="o", ms=3, alpha=0.5, elinewidth=0.5)
    low, high = min(y_true.min(), mean.min()), max(y_true.max(), mean.max())
    ax.plot([low, high], [low, high], "k--", lw=1)
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    if title:
        ax.set_title(title)
    return ax.figure


def plot_calibration(y_true, mean, std, ax=None, label=None):
    """Observed against expected coverage of central intervals; the diagonal is perfect."""
    plt = _pyplot()
    if ax is None:
        _fig, ax = plt.subplots(figsize=(4.5, 4.5))
    expected, observed = calibration_curve(y_true, mean, std)
    ax.plot(expected, observed, label=label)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_xlabel("expected coverage")
    ax.set_ylabel("observed coverage")
    if label:
        ax.legend()
    return ax.figure
