"""Predictions with their uncertainty as a CSV table: one format for every command that writes them.

``skmatgp predict`` and a finished ``--pool-folder`` campaign both write this table, so a user
reads either the same way: ``id,mean,std,lower95,upper95`` (the bounds of the central 95%
interval of N(mean, std^2); other levels name their columns after the level).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ._atomic import write_text_atomic
from ._target import IDENTITY


def interval_columns(level: float = 0.95) -> tuple[str, str]:
    """The bound columns' names for ``level``: ("lower95", "upper95") for 0.95."""
    percent = f"{100 * level:.6g}"
    return f"lower{percent}", f"upper{percent}"


def write_prediction_csv(path, ids, mean, std, level: float = 0.95, *, interval=None) -> Path:
    """Write ``id,mean,std,lower<level>,upper<level>`` to ``path``, one row per id.

    The bounds are ``mean -/+ z * std`` with z the normal quantile of the central ``level``
    interval, or ``interval = (lower, upper)`` where the model's interval is not that (a
    log target's log-normal: ``LogTargetRegressor.predict_interval``). Numbers are written
    in full precision, as UTF-8. The file is written next to ``path``
    and moved into place, so a crash never leaves half a table. Returns the path.

    Raises ValueError, naming the id, for a non-finite mean or std, a negative std, or a
    bound that is not finite (a log-normal's upper bound overflows where y passes about
    1e308): a row a reader would take for a prediction must be one. Nothing is written then.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}.")
    ids = [str(i) for i in ids]
    mean = np.asarray(mean, dtype=float).reshape(-1)
    std = np.asarray(std, dtype=float).reshape(-1)
    if not len(ids) == len(mean) == len(std):
        raise ValueError(
            f"Got {len(ids)} ids, {len(mean)} means and {len(std)} stds; pass one of each per id."
        )
    bad = np.flatnonzero(~np.isfinite(mean) | ~np.isfinite(std) | (std < 0))
    if len(bad):
        named = ", ".join(f"{ids[i]} (mean {mean[i]}, std {std[i]})" for i in bad[:5])
        raise ValueError(
            f"{len(bad)} prediction(s) are not finite or have a negative std: {named}"
            f"{' ...' if len(bad) > 5 else ''}; nothing was written to {path}."
        )
    if interval is None:
        lower, upper = IDENTITY.interval(mean, std, level)
    else:
        lower, upper = (np.asarray(bound, dtype=float).reshape(-1) for bound in interval)
        if not len(lower) == len(upper) == len(ids):
            raise ValueError(
                f"interval holds {len(lower)} lower and {len(upper)} upper bounds for {len(ids)} ids."
            )
    bad = np.flatnonzero(~np.isfinite(lower) | ~np.isfinite(upper))
    if len(bad):
        named = ", ".join(f"{ids[i]} ({lower[i]}, {upper[i]})" for i in bad[:5])
        raise ValueError(
            f"{len(bad)} prediction(s) have an interval bound that is not finite: {named}"
            f"{' ...' if len(bad) > 5 else ''}; nothing was written to {path}. A log target's "
            "bound overflows where y passes about 1e308; its log-scale Gaussian "
            "(LogTargetRegressor.predict_log) is finite."
        )
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["id", "mean", "std", *interval_columns(level)])
    writer.writerows(zip(ids, mean.tolist(), std.tolist(), lower.tolist(), upper.tolist()))
    return write_text_atomic(path, text.getvalue(), encoding="utf-8")
