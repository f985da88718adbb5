"""Query strategies with modAL's signature: ``strategy(learner, X_pool, n_instances)``.

Each returns ``(indices, scores)``, the positions in ``X_pool`` to label next and their
scores, so ``learner.query(X_pool, n_instances=k)`` works with a modAL ``ActiveLearner``
(use :class:`skmatgp.active.ActiveLearner` on scikit-learn >= 1.8).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from pymatgen.core import Structure
from sklearn.utils import check_random_state

from .._gp import PoolVariance
from .._log_target import log_scale_model
from .._pipeline import final_step, transform_to_final
from .._structures import structure_fingerprint
from .._warnings import warn_user

_BLOCK = 4096  # pool rows per block where a pool x reference matrix would be built
_CENTRE_BLOCK = 2048  # labelled points per block in lcmd's first distances


def gaussian_entropy(std: np.ndarray) -> np.ndarray:
    """Differential entropy of N(mu, std^2): 0.5 log(2 pi e std^2)."""
    return 0.5 * np.log(2 * np.pi * np.e * np.asarray(std) ** 2)


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


def max_entropy_sampling(learner, X_pool, n_instances: int = 1):
    """The ``n_instances`` pool points of largest Gaussian predictive entropy.

    Works with any regressor whose ``predict`` accepts ``return_std=True``. For a Gaussian
    the entropy grows with the std, so this is max-std sampling with entropies as scores.
    The top points are taken independently: they may be near-duplicates (see
    :func:`batch_entropy_sampling`).
    """
    _check_n_instances(n_instances, _pool_size(X_pool))
    _, std = _estimator(learner).predict(X_pool, return_std=True)
    entropy = gaussian_entropy(std)
    chosen = np.argsort(-entropy, kind="stable")[:n_instances]
    _warn_duplicate_picks(X_pool, chosen)
    return chosen, entropy[chosen]


def random_sampling(learner, X_pool, n_instances: int = 1, random_state=None):
    """``n_instances`` pool points drawn uniformly without replacement: the baseline."""
    _check_n_instances(n_instances, _pool_size(X_pool))
    rng = check_random_state(random_state)
    chosen = rng.choice(_pool_size(X_pool), size=n_instances, replace=False)
    _warn_duplicate_picks(X_pool, chosen)
    return chosen, np.zeros(n_instances)


def _gp_and_pool_embeddings(estimator, X_pool, strategy: str):
    """The fitted GP regressor inside ``estimator``, the pool's scaled features and, through a
    LogTargetRegressor, the pool's log-scale means mu (None otherwise); ``strategy`` names
    the caller, for the error.

    The regressor is duck-typed: a GNNGPRegressor or a GPRegressor, anything with ``embed``
    (the scaled features the GP sees) and, once fitted, ``posterior_``.

    Through a LogTargetRegressor the strategies score y, not log(y): a log-normal's entropy
    is its log-scale Gaussian's plus mu, and its (delta-method) variance is exp(2 mu) times
    the log-scale one. So they agree with ``max_entropy_sampling``, which scores the
    delta-method std, and favour large y as an error in y does."""
    model, through_log = log_scale_model(estimator)
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
    if not through_log:
        return regressor, Z, None
    return regressor, Z, regressor._mean_from_embeddings(Z)


def greedy_joint_entropy(
    pool: PoolVariance, n_instances: int, exclude=None, log_mean=None
) -> tuple[list, list]:
    """Pick points one by one, each of largest variance given the GP conditioned on the
    points picked before it (no labels needed). The joint entropy of the chosen set is
    0.5 log det(2 pi e S), and log det S grows by log var(x | chosen) with each pick, so
    this greedily maximises it. ``pool`` is conditioned on the picks in place.

    With ``log_mean`` (the pool's means of a GP on log y), the entropy is that of y: the
    log-normal adds mu to each pick's entropy, so each pick maximises 0.5 log var + mu."""
    blocked = _blocked(len(pool.Z_pool), exclude, pool.Z_pool.device)
    chosen, entropies = [], []
    for _ in range(n_instances):
        variance = pool.predictive_variance()
        score = variance if log_mean is None else 0.5 * torch.log(variance) + log_mean
        index = int(torch.argmax(score.masked_fill(blocked, -np.inf)))
        chosen.append(index)
        shift = 0.0 if log_mean is None else log_mean[index].item()
        entropies.append(0.5 * float(np.log(2 * np.pi * np.e * variance[index].item())) + shift)
        blocked[index] = True
        pool.condition_on(index)
    return chosen, entropies


def batch_entropy_sampling(learner, X_pool, n_instances: int = 1):
    """``n_instances`` pool points chosen jointly to maximise the GP's joint entropy.

    Greedy log-determinant maximisation: take the largest predictive variance, condition the
    GP on that point (label unknown; only variances change), repeat. Points close to an
    earlier pick lose variance, so a batch spreads out instead of holding n near-duplicates.
    Scores are the conditional entropies at the time of each pick. Needs a fitted
    :class:`~skmatgp.GNNGPRegressor` (alone, last in a Pipeline, or behind a
    :class:`~skmatgp.LogTargetRegressor`, where it maximises the joint entropy of y).
    """
    _check_n_instances(n_instances, _pool_size(X_pool))
    regressor, Z, log_mean = _gp_and_pool_embeddings(_estimator(learner), X_pool, "batch_entropy_sampling")
    pool = PoolVariance(regressor.posterior_, Z, capacity=n_instances)
    chosen, entropies = greedy_joint_entropy(pool, n_instances, log_mean=log_mean)
    _warn_duplicate_picks(X_pool, chosen)
    return np.array(chosen), np.array(entropies) + np.log(regressor.y_scale_ * regressor.std_scale_)


# ---------------------------------------------------------------------------------------
# Acquisitions beyond max entropy. Each has a tensor core (used by campaigns, which keep
# the GP state between steps) and a modAL-signature wrapper.


def greedy_variance_reduction(pool: PoolVariance, n_instances: int, exclude=None, log_mean=None) -> list[int]:
    """Integrated variance reduction, greedily: pick the point whose label would most reduce
    the posterior variance summed over the reference points, condition on it, repeat.
    ``pool`` must have been built with ``reference``.

    With ``log_mean`` (the pool's means of a GP on log y), the variance of y: by the delta
    method each reference point's is exp(2 mu) times its variance of log(y)."""
    weights = None
    if log_mean is not None:  # exp(2 mu), divided by its largest value (same picks, no overflow)
        reference_mean = log_mean[pool.reference]
        weights = torch.exp(2 * (reference_mean - reference_mean.max()))
    blocked = _blocked(len(pool.Z_pool), exclude, pool.Z_pool.device)
    chosen = []
    for _ in range(n_instances):
        reduction = pool.variance_reduction(weights)
        index = int(torch.argmax(reduction.masked_fill(blocked, -np.inf)))
        chosen.append(index)
        blocked[index] = True
        pool.condition_on(index)
    return chosen


def density_weights(Z_pool: torch.Tensor, kernel, n_reference: int = 1000, seed: int = 0):
    """Mean kernel similarity of each pool point to (a random subset of) the pool: how
    typical a structure is. Down-weights outliers, which max entropy favours."""
    generator = torch.Generator().manual_seed(seed)
    size = min(n_reference, len(Z_pool))
    reference = Z_pool[torch.randperm(len(Z_pool), generator=generator)[:size].to(Z_pool.device)]
    with torch.no_grad():  # in blocks of pool rows: memory O(block x n_reference)
        similarity = torch.cat(
            [
                kernel(Z_pool[s : s + _BLOCK], reference).to_dense().mean(1)
                for s in range(0, len(Z_pool), _BLOCK)
            ]
        )
    return similarity / kernel.outputscale.detach()


def kcenter_greedy(Z_pool: torch.Tensor, Z_labelled: torch.Tensor, n_instances: int, exclude=None):
    """Core-set selection (Sener and Savarese, ICLR 2018): repeatedly pick the pool point
    farthest (in embedding space) from everything labelled or picked so far."""
    distance = torch.full((len(Z_pool),), np.inf, dtype=Z_pool.dtype, device=Z_pool.device)
    for start in range(0, len(Z_labelled), 2048):  # blocks of both sides: O(block x 2048) memory
        labelled = Z_labelled[start : start + 2048]
        for row in range(0, len(Z_pool), _BLOCK):
            block = torch.cdist(Z_pool[row : row + _BLOCK], labelled).min(1).values
            distance[row : row + _BLOCK] = torch.minimum(distance[row : row + _BLOCK], block)
    blocked = _blocked(len(Z_pool), exclude, Z_pool.device)
    chosen = []
    for _ in range(n_instances):
        index = int(torch.argmax(distance.masked_fill(blocked, -np.inf)))
        chosen.append(index)
        blocked[index] = True
        distance = torch.minimum(distance, torch.cdist(Z_pool, Z_pool[index : index + 1])[:, 0])
    return chosen


def _blocked(n: int, exclude, device) -> torch.Tensor:
    blocked = torch.zeros(n, dtype=torch.bool, device=device)
    if exclude is not None and len(exclude):
        blocked[torch.as_tensor(list(exclude), dtype=torch.long, device=device)] = True
    return blocked


def variance_reduction_sampling(
    learner, X_pool, n_instances: int = 1, n_reference: int = 500, random_state=0
):
    """``n_instances`` points chosen greedily by integrated (expected) variance reduction over
    a random reference subset of the pool: labels that reduce uncertainty where many pool
    points are, rather than at isolated outliers. Needs a fitted GNNGPRegressor. Through a
    LogTargetRegressor it reduces the variance of y: by the delta method, a reference point's
    variance of y is exp(2 mu) times its variance of log(y)."""
    _check_n_instances(n_instances, _pool_size(X_pool))
    regressor, Z, log_mean = _gp_and_pool_embeddings(
        _estimator(learner), X_pool, "variance_reduction_sampling"
    )
    rng = check_random_state(random_state)
    reference = torch.as_tensor(rng.choice(len(Z), min(n_reference, len(Z)), replace=False), device=Z.device)
    pool = PoolVariance(regressor.posterior_, Z, capacity=n_instances, reference=reference)
    chosen = greedy_variance_reduction(pool, n_instances, log_mean=log_mean)
    _warn_duplicate_picks(X_pool, chosen)
    return np.array(chosen), np.zeros(n_instances)


def density_weighted_entropy_sampling(learner, X_pool, n_instances: int = 1, beta: float = 1.0):
    """Top points by predictive variance times density^beta (Settles and Craven, 2008), the
    density being the mean kernel similarity to the pool. Scores are the Gaussian entropies
    plus beta log density (through a LogTargetRegressor, the entropies of y: plus mu), so at
    beta = 0 they are ``max_entropy_sampling``'s."""
    _check_n_instances(n_instances, _pool_size(X_pool))
    regressor, Z, log_mean = _gp_and_pool_embeddings(
        _estimator(learner), X_pool, "density_weighted_entropy_sampling"
    )
    _, variance = regressor.posterior_.predict_latent(Z)
    density = density_weights(Z, regressor.posterior_.kernel)
    entropy = 0.5 * torch.log(2 * np.pi * np.e * (variance + regressor.posterior_.noise))
    entropy = entropy + np.log(regressor.y_scale_ * regressor.std_scale_)
    score = entropy + beta * torch.log(density)
    if log_mean is not None:
        score = score + log_mean
    chosen = torch.argsort(score, descending=True, stable=True)[:n_instances].cpu().numpy()
    _warn_duplicate_picks(X_pool, chosen)
    return chosen, score[chosen].cpu().numpy()


def kcenter_greedy_sampling(learner, X_pool, n_instances: int = 1):
    """Core-set (k-center greedy) in the GP's embedding space: the usual strong baseline in
    deep active learning. Uses the labelled embeddings the GP holds. Scores are the distances
    to the nearest labelled or picked point at the time of each pick (not returned: zeros)."""
    _check_n_instances(n_instances, _pool_size(X_pool))
    regressor, Z, _ = _gp_and_pool_embeddings(_estimator(learner), X_pool, "kcenter_greedy_sampling")
    chosen = kcenter_greedy(Z, _training_features(regressor, "kcenter_greedy_sampling"), n_instances)
    _warn_duplicate_picks(X_pool, chosen)
    return np.array(chosen), np.zeros(n_instances)


# ---------------------------------------------------------------------------------------
# Diversity-aware batches (Holzmüller et al., "A framework and benchmark for deep batch
# active learning for regression", JMLR 24(164), 2023): in their benchmark only selections
# that spread a batch out in a kernel's geometry beat random sampling.


def _kernel_column(kernel, Z: torch.Tensor, index: int) -> torch.Tensor:
    """k(Z, Z[index]) as a vector."""
    with torch.no_grad():
        return kernel(Z, Z[index : index + 1]).to_dense()[:, 0]


def lcmd(Z_pool: torch.Tensor, Z_centres: torch.Tensor, kernel, n_instances: int, exclude=None):
    """LCMD, "largest cluster maximum distance" (Holzmüller et al., JMLR 2023), TP mode: the
    labelled points are the first centres. Distances are the kernel's,
    d(x, c)^2 = k(x, x) + k(c, c) - 2 k(x, c). Each pool point belongs to its nearest centre;
    the next pick is the point farthest from its centre within the cluster of largest sum of
    squared distances, and becomes a centre. A big, spread-out region of the pool gets the
    next label, not an isolated outlier (as max distance or max variance would).

    ``Z_centres`` must hold at least one point. Excluded pool points are neither picked nor
    counted in a cluster's size. O(n_pool n_centres) kernel evaluations to start (in blocks,
    memory O(block)), then O(n_pool + n_centres) per pick. Returns the picks and their squared
    distances to their centres when picked."""
    with torch.no_grad():
        diagonal = kernel(Z_pool, diag=True)
    distance = torch.full((len(Z_pool),), np.inf, dtype=Z_pool.dtype, device=Z_pool.device)
    closest = torch.zeros(len(Z_pool), dtype=torch.long, device=Z_pool.device)
    for start in range(0, len(Z_centres), _CENTRE_BLOCK):  # blocks of both sides: bounded memory
        centres = Z_centres[start : start + _CENTRE_BLOCK]
        with torch.no_grad():
            centre_diagonal = kernel(centres, diag=True)
        for row in range(0, len(Z_pool), _BLOCK):
            rows = slice(row, row + _BLOCK)
            with torch.no_grad():
                cross = kernel(Z_pool[rows], centres).to_dense()
            squared = diagonal[rows, None] + centre_diagonal[None, :] - 2 * cross
            best, nearest = squared.min(1)
            closer = best < distance[rows]
            distance[rows] = torch.where(closer, best, distance[rows])
            closest[rows] = torch.where(closer, nearest + start, closest[rows])
    distance.clamp_min_(0.0)
    blocked = _blocked(len(Z_pool), exclude, Z_pool.device)
    chosen, scores = [], []
    for _ in range(n_instances):
        weight = distance.masked_fill(blocked, 0.0)
        sizes = torch.bincount(closest, weights=weight, minlength=len(Z_centres) + len(chosen))
        in_largest = sizes[closest] == sizes.max()  # ties: every largest cluster competes
        index = int(torch.argmax(distance.masked_fill(blocked | ~in_largest, -np.inf)))
        chosen.append(index)
        scores.append(float(distance[index]))
        blocked[index] = True
        squared = (diagonal + diagonal[index] - 2 * _kernel_column(kernel, Z_pool, index)).clamp_min(0.0)
        squared[index] = 0.0
        closer = squared < distance
        closer[index] = True
        distance = torch.where(closer, squared, distance)
        closest[closer] = len(Z_centres) + len(chosen) - 1
    return chosen, scores


def kmeanspp(pool: PoolVariance, n_instances: int, rng, exclude=None, log_mean=None):
    """k-means++ seeding in the GP posterior kernel's geometry, Holzmüller et al.'s (JMLR 2023)
    "KMeansPP with posterior transformation". With k_post the posterior covariance given the
    points ``pool`` is conditioned on, a point's squared norm is its posterior variance v
    (the training points sit near the origin), and d(x, c)^2 = v(x) + v(c) - 2 k_post(x, c).
    Each pick is drawn with probability proportional to the squared distance to the nearest
    earlier pick, the first one's to the posterior variance; picks get probability 0.

    The geometry stays that of the training points: the picks are not conditioned on, as
    conditioning would turn the distance to a pick into the distance to the span of all picks
    (``greedy_joint_entropy`` drawn at random). So ``pool`` is left as it is, and each pick
    costs one kernel column and ``A^T A[:, c]``: O(n_pool n_train).

    With ``log_mean`` (the pool's means of a GP on log y), the geometry is that of y's
    delta-method posterior covariance, exp(mu(x) + mu(y)) k_post(x, y): the first pick's
    probability follows the variance of y, as the other strategies score y.

    ``rng`` is a numpy Generator or RandomState. Returns the picks and the probability each
    had when drawn."""
    blocked = _blocked(len(pool.Z_pool), exclude, pool.Z_pool.device)
    A = pool.A[: pool.n_rows]
    scale = torch.ones_like(pool.variance) if log_mean is None else torch.exp(log_mean - log_mean.max())
    norms = scale**2 * pool.variance
    distance = norms.clone()
    chosen, probabilities = [], []
    for step in range(n_instances):
        weight = distance.masked_fill(blocked, 0.0).clamp_min(0.0).cpu().numpy()
        if not weight.sum() > 0:  # every candidate sits on a pick: uniform among them
            weight = (~blocked).cpu().numpy().astype(float)
        p = weight / weight.sum()
        index = int(rng.choice(len(p), p=p))
        chosen.append(index)
        probabilities.append(float(p[index]))
        blocked[index] = True
        if step + 1 < n_instances:
            covariance = _kernel_column(pool.posterior.kernel, pool.Z_pool, index) - A.T @ A[:, index]
            squared = norms + norms[index] - 2 * scale * scale[index] * covariance
            distance = torch.minimum(distance, squared.clamp_min(0.0))
    return chosen, probabilities


def _training_features(regressor, strategy: str) -> torch.Tensor:
    if not hasattr(regressor.posterior_, "Z"):
        raise TypeError(
            f"{strategy} needs the labelled embeddings an exact GP head keeps; "
            "this model has a sparse head: use gp_head='exact' for active learning."
        )
    return regressor.posterior_.Z


def lcmd_sampling(learner, X_pool, n_instances: int = 1):
    """``n_instances`` pool points by LCMD, largest cluster maximum distance (Holzmüller et
    al., JMLR 24(164), 2023), in the geometry of the GP's fitted kernel with the labelled
    points as the first centres (their LCMD-TP).

    Each pool point belongs to its nearest centre in kernel distance; the next pick is the
    point farthest from its centre in the cluster whose squared distances sum highest, and
    becomes a centre. In their benchmark it was among the few batch methods that beat random
    sampling, where max variance fell behind it. Scores are the squared kernel distances to
    the nearest centre when picked (the GP's standardised units).

    Needs a fitted GNNGPRegressor or GPRegressor with an exact head. Through a
    LogTargetRegressor the picks are the same as without: the distances are the prior
    kernel's, set by the features alone, so neither labels nor the mean of log(y) play a
    part (as in :func:`kcenter_greedy_sampling`)."""
    _check_n_instances(n_instances, _pool_size(X_pool))
    regressor, Z, _ = _gp_and_pool_embeddings(_estimator(learner), X_pool, "lcmd_sampling")
    centres = _training_features(regressor, "lcmd_sampling")
    chosen, scores = lcmd(Z, centres, regressor.posterior_.kernel, n_instances)
    _warn_duplicate_picks(X_pool, chosen)
    return np.array(chosen), np.array(scores)


def kmeanspp_sampling(learner, X_pool, n_instances: int = 1, random_state=None):
    """``n_instances`` pool points by k-means++ seeding in the GP posterior's geometry,
    Holzmüller et al.'s (JMLR 24(164), 2023) "KMeansPP with posterior transformation".

    The first pick is drawn with probability proportional to the posterior variance (the
    squared distance from the labelled points, which sit near the origin of the posterior
    feature space: their TP mode, where their P mode draws it uniformly), each later one proportional to the squared posterior-kernel distance to
    the nearest earlier pick. So the batch is random, favours uncertain points and spreads
    out. The picks are not conditioned on: the geometry is the training points' posterior,
    as theirs. ``random_state`` seeds the draws (same seed, same picks). Scores are the
    probabilities the picks had when drawn.

    Needs a fitted GNNGPRegressor or GPRegressor with an exact head. Through a
    LogTargetRegressor it works in y's delta-method posterior covariance,
    exp(mu(x) + mu(y)) times log(y)'s: the first pick follows the variance of y
    (exp(2 mu) times that of log y), as the other variance-based strategies score y."""
    _check_n_instances(n_instances, _pool_size(X_pool))
    regressor, Z, log_mean = _gp_and_pool_embeddings(_estimator(learner), X_pool, "kmeanspp_sampling")
    pool = PoolVariance(regressor.posterior_, Z)
    chosen, probabilities = kmeanspp(pool, n_instances, check_random_state(random_state), log_mean=log_mean)
    _warn_duplicate_picks(X_pool, chosen)
    return np.array(chosen), np.array(probabilities)
