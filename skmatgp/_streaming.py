"""Scoring pools too large to hold as graphs: structures -> graphs -> predictions, chunk by chunk.

Peak memory is bounded by the chunk size (plus the n_pool floats of the output), not by the
pool: each chunk's graphs are built, embedded, predicted and dropped before the next.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable

import numpy as np
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from ._arrays import object_array
from ._graphs import INDEX_OFFSET
from ._log_target import split_target_transform
from ._pipeline import final_step, transform_to_final


def _chunks(iterable: Iterable, size: int):
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def iter_pool_predictions(estimator, structures: Iterable, chunk_size: int = 2000, verbose: int = 0):
    """Yield ``(start, mean, std)`` for consecutive chunks of a pool of any size.

    ``structures`` may be a generator (e.g. reading files lazily); ``estimator`` is a fitted
    Pipeline (CrystalGraphTransformer + GNNGPRegressor) or a regressor taking the items as
    they come, or either of them behind a fitted LogTargetRegressor, around it or as the
    Pipeline's last step (then the mean is the median exp(mu) and the std exp(mu) * s, as
    its ``predict`` gives). Items the pipeline gives no
    graph (``CrystalGraphTransformer(on_error="warn")``) get a NaN mean and std instead of
    stopping the pool.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    model, target = split_target_transform(estimator)
    if model is None:
        check_is_fitted(final_step(estimator), "regressor_")  # raises: unfitted LogTargetRegressor
    estimator = model  # through a LogTargetRegressor: its model of log(y), ``target`` the way back
    regressor = final_step(estimator)
    start = 0
    for chunk in tqdm(_chunks(structures, chunk_size), disable=not verbose, desc="pool", unit="chunk"):
        token = INDEX_OFFSET.set(start)  # messages about a structure give its pool index
        try:
            X = transform_to_final(estimator, object_array(chunk))
        finally:
            INDEX_OFFSET.reset(token)
        mean, std = _predict_chunk(regressor, X)
        yield start, *target.mean_std(mean, std)
        start += len(chunk)


def _predict_chunk(regressor, X):
    """(mean, std) of a transformed chunk, NaN where an item is None (it has no graph)."""
    has_graph = np.array([item is not None for item in X])
    if has_graph.all():
        return regressor.predict(X, return_std=True)
    mean, std = np.full(len(X), np.nan), np.full(len(X), np.nan)
    if has_graph.any():
        items = object_array(X)
        mean[has_graph], std[has_graph] = regressor.predict(items[has_graph], return_std=True)
    return mean, std


def score_pool(estimator, structures: Iterable, chunk_size: int = 2000, verbose: int = 0):
    """Predictive mean and std for every structure of a pool, streamed in chunks.

    Returns
    -------
    mean, std : ndarrays of shape (n_pool,)
        NaN for structures without a graph (``CrystalGraphTransformer(on_error="warn")``).
    """
    means, stds = [], []
    for _, mean, std in iter_pool_predictions(estimator, structures, chunk_size, verbose):
        means.append(mean)
        stds.append(std)
    if not means:
        raise ValueError("The pool is empty; pass at least one structure.")
    return np.concatenate(means), np.concatenate(stds)


def top_entropy(estimator, structures: Iterable, n_instances: int, chunk_size: int = 2000):
    """The ``n_instances`` pool positions of largest predictive entropy, streamed.

    Keeps only the best ``n_instances`` so far, so memory does not grow with the pool.
    Returns ``(indices, entropies)``, largest first. Structures without a graph are passed over.
    """
    best: list[tuple[float, int]] = []
    n_without_graph = 0
    for start, _, std in iter_pool_predictions(estimator, structures, chunk_size):
        entropy = 0.5 * np.log(2 * np.pi * np.e * std**2)
        scored = np.flatnonzero(~np.isnan(entropy))  # NaN: no graph
        n_without_graph += len(entropy) - len(scored)
        for offset in scored[np.argsort(-entropy[scored], kind="stable")][:n_instances]:
            item = (float(entropy[offset]), -(start + int(offset)))  # ties: lower index first
            if len(best) < n_instances:
                heapq.heappush(best, item)
            elif item > best[0]:
                heapq.heapreplace(best, item)
    if len(best) < n_instances:
        skipped = f" ({n_without_graph} more had no graph)" if n_without_graph else ""
        raise ValueError(f"Asked for {n_instances} queries from a pool of only {len(best)}{skipped}.")
    ordered = sorted(best, reverse=True)
    return np.array([-i for _, i in ordered]), np.array([e for e, _ in ordered])
