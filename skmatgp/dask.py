"""Pool scoring over the partitions of a Dask cluster (``pip install skmatgp[dask]``).

Graph building and hyperparameter searches need nothing from this module: they go through
joblib, so a ``joblib.parallel_backend("dask")`` block runs ``CrystalGraphTransformer(n_jobs=-1)``
and ``GridSearchCV(n_jobs=-1)`` on the cluster unchanged (see docs/dask.md).

:func:`score_pool_dask` scores a pool too large for one machine's time: the fitted model is
sent to every worker once, the structures go out in partitions, each worker turns its
partition into graphs and predictions (``skmatgp.score_pool`` in chunks, so a worker's memory
is bounded by ``chunk_size``), and the results come back in pool order. At most
``max_in_flight`` partitions are out at a time, so the client never holds more than that many
partitions' structures beyond those it is reading.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ._streaming import _chunks, score_pool


def _score_partition(model, structures, chunk_size: int):
    return score_pool(model, structures, chunk_size=chunk_size)


def score_pool_dask(
    model,
    structures: Iterable,
    client,
    partition_size: int = 10_000,
    chunk_size: int = 2000,
    max_in_flight: int | None = None,
):
    """Predictive mean and std of every pool structure, computed on a Dask cluster.

    Parameters
    ----------
    model : fitted Pipeline (CrystalGraphTransformer + GNNGPRegressor) or estimator
        Pickled once and broadcast to the workers.
    structures : iterable of Structure
        May be a generator (read lazily on the client).
    client : dask.distributed.Client
    partition_size : int, default=10_000
        Structures per task.
    chunk_size : int, default=2000
        Structures a worker turns into graphs at a time (bounds a worker's memory).
    max_in_flight : int, optional
        Partitions submitted but not yet gathered; default twice the number of worker threads.

    Returns
    -------
    mean, std : ndarrays of shape (n_pool,)
    """
    from dask.distributed import wait

    if partition_size < 1:
        raise ValueError(f"partition_size must be >= 1, got {partition_size}.")
    if max_in_flight is None:
        max_in_flight = 2 * max(1, sum(client.nthreads().values()))
    [model_future] = client.scatter([model], broadcast=True)
    results: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    pending = {}
    for index, partition in enumerate(_chunks(structures, partition_size)):
        if len(pending) >= max_in_flight:
            done, _ = wait(list(pending), return_when="FIRST_COMPLETED")
            for future in done:
                results[pending.pop(future)] = future.result()
        future = client.submit(_score_partition, model_future, partition, chunk_size, pure=False)
        pending[future] = index
    for future, index in pending.items():
        results[index] = future.result()
    if not results:
        raise ValueError("The pool is empty; pass at least one structure.")
    ordered = [results[i] for i in range(len(results))]
    return np.concatenate([m for m, _ in ordered]), np.concatenate([s for _, s in ordered])
