"""Query strategies with modAL's signature: ``strategy(learner, X_pool, n_instances)``.

Each returns ``(indices, scores)``, the positions in ``X_pool`` to label next and their
scores, so ``learner.query(X_pool, n_instances=k)`` works with a modAL ``ActiveLearner``
(use :class:`skmatgp.active.ActiveLearner` on scikit-learn >= 1.8). Each selects through the
acquisition registry (``_acquisitions.ACQUISITIONS``), as a Campaign's strategy of that name
does; these functions check the arguments, reach the GP inside the learner and warn about
duplicate picks.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from pymatgen.core import Structure
from sklearn.utils import check_random_state

from .._log_target import split_target_transform
from .._pipeline import final_step, transform_to_final
from .._structures import structure_fingerprint
from .._warnings import warn_user
from ._acquisitions import ACQUISITIONS, GPPool, Pool, PredictedPool, gaussian_entropy

__all__ = [  # gaussian_entropy is public through skmatgp.active
    "batch_entropy_sampling",
    "check_integer",
    "density_weighted_entropy_sampling",
    "gaussian_entropy",
    "kcenter_greedy_sampling",
    "kmeanspp_sampling",
    "lcmd_sampling",
    "max_entropy_sampling",
    "random_sampling",
    "variance_reduction_sampling",
]


def check_integer(name: str, value, minimum: int = 1, *, none: str | None = None) -> int | None:
    """``value`` as an int, or a ValueError that names the argument, its value and the range.

    Integers (numpy's too) of at least ``minimum`` pass; floats (even 3.0), bools and strings do
    not, so a mistyped count fails here, before any work, rather than deep in a fit. With
    ``none`` (what None means, e.g. "never refit"), None passes too and is returned as None.
    """
    if value is None and none is not None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum:
        return int(value)
    shown = int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else repr(value)
    either = f"None ({none}) or " if none is not None else ""
    raise ValueError(f"{name} must be {either}an integer >= {minimum}, got {shown}.")


def _check_n_instances(n_instances: int, n_pool: int) -> None:
    integer = isinstance(n_instances, numbers.Integral) and not isinstance(n_instances, bool)
    if not integer:  # 2.5 or True would pass the range check and fail deep in a strategy
        raise ValueError(
            f"n_instances must be an integer from 1 to the pool size ({n_pool}), got {n_instances!r}."
        )
    if not 1 <= n_instances <= n_pool:
        raise ValueError(
            f"Asked for {n_instances} queries from a pool of {n_pool}; "
            f"n_instances must be between 1 and the pool size."
        )


def _pool_size(X) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _fingerprint(item):
    if isinstance(item, Structure):
        return structure_fingerprint(item)
    if hasattr(item, "z") and hasattr(item, "edge_dist"):  # a crystal graph
        return (
            item.z.numpy().tobytes(),
            item.edge_index.numpy().tobytes(),
            np.round(item.edge_dist.numpy(), 4).tobytes(),
        )
    return None


def _warn_duplicate_picks(X_pool, chosen) -> None:
    """Warn when the chosen pool items include identical structures (or graphs): labelling
    both spends the budget twice. Only the chosen items are compared, so it is cheap."""
    seen = {}
    for index in np.asarray(chosen).tolist():
        key = _fingerprint(X_pool[index])
        if key is None:
            return
        if key in seen:
            warn_user(
                f"Pool items {seen[key]} and {index} are identical structures and were both "
                "chosen: label one of them and drop the other from the pool "
                "(skmatgp.find_duplicate_structures lists a pool's duplicates)."
            )
        else:
            seen[key] = index


def _estimator(learner):
    """The estimator inside a modAL learner (or the estimator itself)."""
    return getattr(learner, "estimator", learner)


def _picked(X_pool, selection) -> tuple[np.ndarray, np.ndarray]:
    """The registry's picks and scores as arrays, after a warning about duplicate picks."""
    chosen, scores = selection
    _warn_duplicate_picks(X_pool, chosen)
    return np.array(chosen, dtype=np.int64), np.array(scores, dtype=float)


def _gp_pool(
    learner, X_pool, strategy: str, *, labelled_centres: bool = False, reference=None, capacity: int = 0
) -> GPPool:
    """The pool as the fitted GP inside ``learner`` sees it; ``strategy`` names the caller,
    for the error. ``labelled_centres``: the GP's training points are the first centres
    (k-center, LCMD); ``reference``: the size and the seed of variance reduction's reference
    subset of the pool; ``capacity``: the picks a greedy selection conditions the GP on.

    The regressor is duck-typed: a GNNGPRegressor or a GPRegressor, anything with ``embed``
    (the scaled features the GP sees) and, once fitted, ``posterior_``.

    Through a LogTargetRegressor the strategies score y, not log(y) (see ``_acquisitions``),
    so they agree with ``max_entropy_sampling``, which scores the delta-method std."""
    estimator = _estimator(learner)
    model, target = split_target_transform(estimator)
    unfitted_log = model is None
    if not unfitted_log:
        estimator = model
    regressor = final_step(estimator)
    if not (hasattr(regressor, "posterior_") and hasattr(regressor, "embed")):
        if hasattr(regressor, "embed") or unfitted_log:
            name = "LogTargetRegressor" if unfitted_log else type(regressor).__name__
            problem = f"an unfitted {name}. Fit the learner first (pass X_training and y_training)."
        else:
            problem = (
                f"a {type(regressor).__name__}. Use max_entropy_sampling (any regressor whose "
                "predict takes return_std=True) or random_sampling."
            )
        raise TypeError(
            f"{strategy} needs a fitted GNNGPRegressor or GPRegressor (alone or last in a Pipeline, "
            f"either optionally wrapped in a LogTargetRegressor, or with one as the Pipeline's last "
            f"step); got {problem}"
        )
    Z = torch.as_tensor(regressor.embed(transform_to_final(estimator, X_pool)), device=regressor.device_)
    centres = _training_features(regressor, strategy) if labelled_centres else None
    points = None
    if reference is not None:
        size, random_state = reference
        points = check_random_state(random_state).choice(len(Z), min(size, len(Z)), replace=False)
        points = torch.as_tensor(points, device=Z.device)
    return GPPool(
        Z,
        regressor.posterior_,
        regressor=regressor,
        target=target,
        centres=centres,
        reference=points,
        capacity=capacity,
    )


def _training_features(regressor, strategy: str) -> torch.Tensor:
    if not hasattr(regressor.posterior_, "Z"):
        raise TypeError(
            f"{strategy} needs the labelled embeddings an exact GP head keeps; "
            "this model has a sparse head: use gp_head='exact' for active learning."
        )
    return regressor.posterior_.Z


def max_entropy_sampling(learner, X_pool, n_instances: int = 1):
    """The ``n_instances`` pool points of largest Gaussian predictive entropy.

    Works with any regressor whose ``predict`` accepts ``return_std=True``. For a Gaussian
    the entropy grows with the std, so this is max-std sampling with entropies as scores.
    The top points are taken independently: they may be near-duplicates (see
    :func:`batch_entropy_sampling`).
    """
    _check_n_instances(n_instances, _pool_size(X_pool))
    _, std = _estimator(learner).predict(X_pool, return_std=True)
    return _picked(X_pool, ACQUISITIONS["entropy"].select(PredictedPool(std), n_instances))


def random_sampling(learner, X_pool, n_instances: int = 1, random_state=None):
    """``n_instances`` pool points drawn uniformly without replacement: the baseline."""
    _check_n_instances(n_instances, _pool_size(X_pool))
    pool, rng = Pool(_pool_size(X_pool)), check_random_state(random_state)
    return _picked(X_pool, ACQUISITIONS["random"].select(pool, n_instances, rng=rng))


def batch_entropy_sampling(learner, X_pool, n_instances: int = 1):
    """``n_instances`` pool points chosen jointly to maximise the GP's joint entropy.

    Greedy log-determinant maximisation: take the largest predictive variance, condition the
    GP on that point (label unknown; only variances change), repeat. Points close to an
    earlier pick lose variance, so a batch spreads out instead of holding n near-duplicates.
    Scores are the conditional entropies at the time of each pick. Needs a fitted
    :class:`~skmatgp.GNNGPRegressor` or :class:`~skmatgp.GPRegressor` (alone, last in a
    Pipeline, or behind a :class:`~skmatgp.LogTargetRegressor`, where it maximises the joint
    entropy of y).
    """
    _check_n_instances(n_instances, _pool_size(X_pool))
    pool = _gp_pool(learner, X_pool, "batch_entropy_sampling", capacity=n_instances)
    return _picked(X_pool, ACQUISITIONS["batch_entropy"].select(pool, n_instances))


def variance_reduction_sampling(
    learner, X_pool, n_instances: int = 1, n_reference: int = 500, random_state=0
):
    """``n_instances`` points chosen greedily by integrated (expected) variance reduction over
    a random reference subset of ``n_reference`` pool points, drawn with ``random_state``:
    labels that reduce uncertainty where many pool points are, rather than at isolated
    outliers. Scores are each pick's reduction, in the GP's standardised units, when picked.
    Needs a fitted GNNGPRegressor or GPRegressor. Through a LogTargetRegressor it reduces the
    variance of y: by the delta method, a reference point's variance of y is exp(2 mu) times
    its variance of log(y)."""
    _check_n_instances(n_instances, _pool_size(X_pool))
    pool = _gp_pool(
        learner,
        X_pool,
        "variance_reduction_sampling",
        reference=(n_reference, random_state),
        capacity=n_instances,
    )
    return _picked(X_pool, ACQUISITIONS["ivr"].select(pool, n_instances))


def density_weighted_entropy_sampling(learner, X_pool, n_instances: int = 1, beta: float = 1.0):
    """Top points by predictive variance times density^beta (Settles and Craven, 2008), the
    density being the mean kernel similarity to the pool. Scores are the Gaussian entropies
    plus beta log density (through a LogTargetRegressor, the entropies of y: plus mu), so at
    beta = 0 they are ``max_entropy_sampling``'s."""
    _check_n_instances(n_instances, _pool_size(X_pool))
    pool = _gp_pool(learner, X_pool, "density_weighted_entropy_sampling")
    return _picked(X_pool, ACQUISITIONS["density_entropy"].select(pool, n_instances, beta=beta))


def kcenter_greedy_sampling(learner, X_pool, n_instances: int = 1):
    """Core-set (k-center greedy) in the GP's embedding space: the usual strong baseline in
    deep active learning. Uses the labelled embeddings the GP holds. Scores are the distances
    to the nearest labelled or picked point at the time of each pick."""
    _check_n_instances(n_instances, _pool_size(X_pool))
    pool = _gp_pool(learner, X_pool, "kcenter_greedy_sampling", labelled_centres=True)
    return _picked(X_pool, ACQUISITIONS["kcenter"].select(pool, n_instances))


def lcmd_sampling(learner, X_pool, n_instances: int = 1):
    """``n_instances`` pool points by LCMD, largest cluster maximum distance (Holzmüller et
    al., JMLR 24(164), 2023), in the geometry of the GP's fitted kernel with the labelled
    points as the first centres (their LCMD-TP).

    Each pool point belongs to its nearest centre in kernel distance; the next pick is the
    point farthest from its centre in the cluster whose squared distances sum highest, and
    becomes a centre. Their benchmark compares it with max variance and random sampling
    (our own comparison: ``benchmarks/RESULTS.md``). Scores are the squared kernel distances
    to the nearest centre when picked (the GP's standardised units).

    Needs a fitted GNNGPRegressor or GPRegressor with an exact head. Through a
    LogTargetRegressor the picks are the same as without: the distances are the prior
    kernel's, set by the features alone, so neither labels nor the mean of log(y) play a
    part (as in :func:`kcenter_greedy_sampling`)."""
    _check_n_instances(n_instances, _pool_size(X_pool))
    pool = _gp_pool(learner, X_pool, "lcmd_sampling", labelled_centres=True)
    return _picked(X_pool, ACQUISITIONS["lcmd"].select(pool, n_instances))


def kmeanspp_sampling(learner, X_pool, n_instances: int = 1, random_state=None):
    """``n_instances`` pool points by k-means++ seeding in the GP posterior's geometry,
    Holzmüller et al.'s (JMLR 24(164), 2023) "KMeansPP with posterior transformation".

    The first pick is drawn with probability proportional to the posterior variance (the
    squared distance from the labelled points, which sit near the origin of the posterior
    feature space: their TP mode, where their P mode draws it uniformly), each later one
    proportional to the squared posterior-kernel distance to the nearest earlier pick. So the
    batch is random, favours uncertain points and spreads out. The picks are not conditioned
    on: the geometry is the training points' posterior, as theirs. ``random_state`` seeds the
    draws (same seed, same picks). Scores are the probabilities the picks had when drawn.

    Needs a fitted GNNGPRegressor or GPRegressor with an exact head. Through a
    LogTargetRegressor it works in y's delta-method posterior covariance,
    exp(mu(x) + mu(y)) times log(y)'s: the first pick follows the variance of y
    (exp(2 mu) times that of log y), as the other variance-based strategies score y."""
    _check_n_instances(n_instances, _pool_size(X_pool))
    pool = _gp_pool(learner, X_pool, "kmeanspp_sampling")
    rng = check_random_state(random_state)
    return _picked(X_pool, ACQUISITIONS["kmeanspp"].select(pool, n_instances, rng=rng))
