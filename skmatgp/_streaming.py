"""Scoring pools too large to hold as graphs: structures -> graphs -> predictions, chunk by chunk.

Peak memory is bounded by the chunk size (plus the n_pool floats of the output), not by the
pool: each chunk's graphs are built, embedded, predicted and dropped before the next.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable

import numpy as np
from tqdm.auto import tqdm

from ._pipeline import final_step, transform_to_final


def _chunks(iterable: Iterable, size: int):
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def iter_pool_predictions(estimator, structures: Iterable, chunk_size: int = 2000, verbose: int = 0):
    """Yield ``(start, mean, std)`` for consecutive chunks of a pool of any size.

    ``structures`` may be a generator (e.g. reading files lazily); ``estimator`` is a fitted
    Pipeline (CrystalGraphTransformer + GNNGPRegressor) or a regressor taking the items as
    they come.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    regressor = final_step(estimator)
    start = 0
    for chunk in tqdm(_chunks(structures, chunk_size), disable=not verbose, desc="pool", unit="chunk"):
        X = np.empty(len(chunk), dtype=object)
        X[:] = chunk
        mean, std = regressor.predict(transform_to_final(estimator, X), return_std=True)
        yield start, mean, std
        start += len(chunk)


def score_pool(estimator, structures: Iterable, chunk_size: int = 2000, verbose: int = 0):
    """Predictive mean and std for every structure of a pool, streamed in chunks.

    Returns
    -------
    mean, std : ndarrays of shape (n_pool,)
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
    Returns ``(indices, entropies)``, largest first.
    """
    best: list[tuple[float, int]] = []
    for start, _, std in iter_pool_predictions(estimator, structures, chunk_size):
        entropy = 0.5 * np.log(2 * np.pi * np.e * std**2)
        for offset in np.argsort(-entropy, kind="stable")[:n_instances]:
            item = (float(entropy[offset]), -(start + int(offset)))  # ties: lower index first
            if len(best) < n_instances:
                heapq.heappush(best, item)
            elif item > best[0]:
                heapq.heapreplace(best, item)
    if len(best) < n_instances:
        raise ValueError(f"Asked for {n_instances} queries from a pool of only {len(best)}.")
    ordered = sorted(best, reverse=True)
    return np.array([-i for _, i in ordered]), np.array([e for e, _ in ordered])
