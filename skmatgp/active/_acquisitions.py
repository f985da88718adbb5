"""The acquisition registry: each acquisition is a measure and a selector.

A *measure* scores every pool item (larger: more worth a label) and says how taking one item
changes the others' scores: the GP conditioned on it (no label needed, the variances do not
depend on labels), or one more centre to measure distances from. A *selector* builds a batch
from a measure: the top k, greedily (score, take the best, tell the measure, repeat), by
draws in proportion to the scores (k-means++ seeding), or uniformly at random. modAL's
``uncertainty.py`` splits a strategy the same way (a selector applied to a measure).

``ACQUISITIONS`` names each pairing: Campaign's strategy names are its keys, and the
modAL-signature functions in ``_strategies.py`` select through it, so each acquisition has
one implementation and there is one greedy loop.

Measures read a *pool*: :class:`Pool` (only its size: random), :class:`PredictedPool` (the
std any regressor predicts: entropy) or :class:`GPPool` (an exact GP's view of the pool: the
rest). Through a log target (a GP on log y) the measures score y, as an error in y counts;
the pool's ``TargetTransform`` (``skmatgp._target``) says how (its ``log_jacobian``): a
log-normal's entropy is its log-scale Gaussian's plus the log-scale mean mu, and its
delta-method variance is exp(2 mu) times the log-scale one.

To add an acquisition: write its measure (a class with ``scores`` and ``take``) or reuse one,
name its pairing with a selector in ``ACQUISITIONS`` and in ``_settings.STRATEGIES`` (what the
command line offers), and give it a modAL-signature function in ``_strategies.py`` if it
should have one; ``tests/test_acquisitions.py`` checks that the two lists agree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .._gp import PoolVariance
from .._target import IDENTITY, TargetTransform

_BLOCK = 4096  # pool rows per block where a pool x reference matrix would be built
_CENTRE_BLOCK = 2048  # centres per block in the first distances of k-center and LCMD


def gaussian_entropy(std: np.ndarray) -> np.ndarray:
    """Differential entropy of N(mu, std^2): 0.5 log(2 pi e std^2)."""
    return 0.5 * np.log(2 * np.pi * np.e * np.asarray(std) ** 2)


# ---------------------------------------------------------------------------------------
# Pools: what the measures read.


class Pool:
    """A pool of ``n`` items and nothing known about them (enough for random sampling)."""

    device = torch.device("cpu")

    def __init__(self, n: int):
        self.n = n


class PredictedPool(Pool):
    """A pool scored by any regressor's prediction: the std of y at each item."""

    def __init__(self, std):
        super().__init__(len(std))
        self.std = np.asarray(std, dtype=float)

    def entropy(self) -> torch.Tensor:
        return torch.as_tensor(gaussian_entropy(self.std))

    def condition_on(self, index: int) -> None:
        raise TypeError(
            "Conditioning on a pick needs a fitted GPRegressor or GNNGPRegressor; predictions "
            "alone give independent top-k choices (strategy 'entropy')."
        )


class GPPool(Pool):
    """The pool as an exact GP sees it.

    Parameters
    ----------
    Z : tensor (n, d)
        The pool's features as the GP takes them (a regressor's ``embed``), on its device.
    posterior : ExactGPPosterior
        The GP's posterior given its training points.
    regressor : GPRegressor or GNNGPRegressor, optional
        The fitted regressor around ``posterior``: its ``y_scale_ * std_scale_`` puts the
        entropies in the units of its target, and its mean is the mu that ``target`` reads.
    target : TargetTransform, default=IDENTITY
        How the GP's target relates to y (``LOG``: the GP models log y); the measures score
        y (see the module's docstring).
    tracker : PoolVariance, optional
        The pool's variances given the GP's training points (and any points conditioned on
        since); greedy selections condition it on their picks, in place. Built on first use
        (with ``reference``) when not given; variance reduction needs reference points.
    reference : tensor, optional
        Pool indices, variance reduction's reference points, for a tracker built here.
    capacity : int, default=0
        Picks a tracker built here makes room for at once (the greedy batch size), so that
        conditioning on them does not grow its buffer. With 0 and no ``tracker``, entropies
        come from the posterior a block at a time (a top-k read needs no tracker).
    centres : tensor, optional
        Features of the labelled items, the first centres of k-center and LCMD; the GP's
        training points when not given.
    log_density : tensor, optional
        log of :func:`density_weights`, computed on first use when not given.
    """

    def __init__(
        self,
        Z: torch.Tensor,
        posterior,
        *,
        regressor=None,
        target: TargetTransform = IDENTITY,
        tracker: PoolVariance | None = None,
        reference: torch.Tensor | None = None,
        centres: torch.Tensor | None = None,
        log_density: torch.Tensor | None = None,
        capacity: int = 0,
    ):
        super().__init__(len(Z))
        self.Z, self.posterior, self.regressor, self.target = Z, posterior, regressor, target
        self.device = Z.device
        self._tracker, self._reference, self._capacity = tracker, reference, capacity
        self._centres, self._log_density = centres, log_density

    @property
    def tracker(self) -> PoolVariance:
        if self._tracker is None:
            self._tracker = PoolVariance(
                self.posterior, self.Z, capacity=self._capacity, reference=self._reference
            )
        return self._tracker

    @property
    def centres(self) -> torch.Tensor:
        return self.posterior.Z if self._centres is None else self._centres

    @property
    def log_density(self) -> torch.Tensor:
        if self._log_density is None:
            self._log_density = torch.log(density_weights(self.Z, self.posterior.kernel))
        return self._log_density

    @functools.cached_property
    def log_jacobian(self) -> torch.Tensor | None:
        """The target transform's log dy/dz at each item's mean (None for the identity: the
        mean is not computed). The mean alone, O(n m), not the variances a prediction would
        also solve for."""
        if self.target.is_identity:
            return None
        return self.target.log_jacobian(self.regressor._mean_from_embeddings(self.Z))

    def entropy(self) -> torch.Tensor:
        """The entropy of y at each item given what the tracker is conditioned on."""
        scale = 1.0 if self.regressor is None else self.regressor.y_scale_ * self.regressor.std_scale_
        variance = self._latent_variance() + self.posterior.noise
        entropy = 0.5 * torch.log(2 * np.pi * np.e * variance) + np.log(scale)
        return entropy if self.log_jacobian is None else entropy + self.log_jacobian

    def _latent_variance(self) -> torch.Tensor:
        """The tracker's latent variances. Without a tracker and with no picks to make room
        for (``capacity`` 0: a top-k selection reads the scores once), the posterior's, a
        block of the pool at a time, instead of building the tracker's train x pool matrix."""
        if self._tracker is None and not self._capacity:
            return self.posterior.predict_latent(self.Z)[1]
        return self.tracker.variance

    def condition_on(self, index: int) -> None:
        self.tracker.condition_on(index)


# ---------------------------------------------------------------------------------------
# Measures: ``scores(blocked)``, one per item, larger is better; ``take(index)``: a pick.


class Entropy:
    """The entropy of y at each item (for a Gaussian, max entropy is max std). Taking an item
    conditions the GP on it, so greedy picks maximise the batch's joint entropy: the joint
    entropy of a Gaussian is 0.5 log det(2 pi e S), and log det S grows by log var(x | picks)
    with each pick. Points near an earlier pick lose variance: the batch spreads out."""

    def __init__(self, pool):
        self.pool = pool

    def scores(self, blocked: torch.Tensor) -> torch.Tensor:
        return self.pool.entropy()

    def take(self, index: int) -> None:
        self.pool.condition_on(index)


class DensityEntropy(Entropy):
    """Entropy plus ``beta`` log density (Settles and Craven, 2008): the density, the mean
    kernel similarity to the pool, down-weights the outliers max entropy favours."""

    def __init__(self, pool: GPPool, beta: float = 1.0):
        super().__init__(pool)
        self.beta = beta

    def scores(self, blocked: torch.Tensor) -> torch.Tensor:
        return self.pool.entropy() + self.beta * self.pool.log_density


class VarianceReduction:
    """How much a label at each item would lower the GP's variance summed over the tracker's
    reference items (integrated variance reduction): sum_r cov(x, r)^2 / (var(x) + noise).
    Through a target transform, of y's variance: each reference item weighs
    exp(2 log_jacobian), exp(2 mu) for a log target, by the delta method. Taking an item
    conditions the GP on it."""

    def __init__(self, pool: GPPool):
        self.tracker = pool.tracker
        if self.tracker.reference is None:
            raise ValueError("Variance reduction needs a pool tracker built with reference points.")
        self.weights = None
        if pool.log_jacobian is not None:  # exp(2 j), over its largest value: same picks, no overflow
            reference = pool.log_jacobian[self.tracker.reference]
            self.weights = torch.exp(2 * (reference - reference.max()))

    def scores(self, blocked: torch.Tensor) -> torch.Tensor:
        return self.tracker.variance_reduction(self.weights)

    def take(self, index: int) -> None:
        self.tracker.condition_on(index)


class Distance:
    """Euclidean distance, in the GP's feature space, to the nearest centre: the labelled
    items, then each pick (k-center greedy, the core set of Sener and Savarese, ICLR 2018)."""

    def __init__(self, pool: GPPool):
        Z, centres = pool.Z, pool.centres
        self.Z = Z
        self.distance = torch.full((len(Z),), np.inf, dtype=Z.dtype, device=Z.device)
        for start in range(0, len(centres), _CENTRE_BLOCK):  # blocks of both: bounded memory
            part = centres[start : start + _CENTRE_BLOCK]
            for row in range(0, len(Z), _BLOCK):
                block = torch.cdist(Z[row : row + _BLOCK], part).min(1).values
                self.distance[row : row + _BLOCK] = torch.minimum(self.distance[row : row + _BLOCK], block)

    def scores(self, blocked: torch.Tensor) -> torch.Tensor:
        return self.distance

    def take(self, index: int) -> None:
        self.distance = torch.minimum(self.distance, torch.cdist(self.Z, self.Z[index : index + 1])[:, 0])


def _kernel_column(kernel, Z: torch.Tensor, index: int) -> torch.Tensor:
    """k(Z, Z[index]) as a vector."""
    with torch.no_grad():
        return kernel(Z, Z[index : index + 1]).to_dense()[:, 0]


class ClusterDistance:
    """LCMD's measure, "largest cluster maximum distance" (Holzmüller et al., JMLR 24(164),
    2023), TP mode: the labelled items are the first centres. Distances are the GP kernel's,
    d(x, c)^2 = k(x, x) + k(c, c) - 2 k(x, c), and each item belongs to its nearest centre.
    An item scores its squared distance to its centre if its cluster has the largest sum of
    squared distances (picked items left out), and nothing otherwise; a pick becomes a centre.
    So a big, spread-out region of the pool gets the next label, not an isolated outlier.
    The prior kernel's geometry: neither labels nor a log-scale mean play a part.

    Costs O(n_pool n_centres) kernel evaluations to start (in blocks, memory O(block)), then
    O(n_pool + n_centres) per pick."""

    def __init__(self, pool: GPPool):
        Z, centres, self.kernel = pool.Z, pool.centres, pool.posterior.kernel
        self.Z = Z
        with torch.no_grad():
            self.diagonal = self.kernel(Z, diag=True)
        self.distance = torch.full((len(Z),), np.inf, dtype=Z.dtype, device=Z.device)
        self.closest = torch.zeros(len(Z), dtype=torch.long, device=Z.device)
        for start in range(0, len(centres), _CENTRE_BLOCK):  # blocks of both: bounded memory
            part = centres[start : start + _CENTRE_BLOCK]
            with torch.no_grad():
                part_diagonal = self.kernel(part, diag=True)
            for row in range(0, len(Z), _BLOCK):
                rows = slice(row, row + _BLOCK)
                with torch.no_grad():
                    cross = self.kernel(Z[rows], part).to_dense()
                squared = self.diagonal[rows, None] + part_diagonal[None, :] - 2 * cross
                best, nearest = squared.min(1)
                closer = best < self.distance[rows]
                self.distance[rows] = torch.where(closer, best, self.distance[rows])
                self.closest[rows] = torch.where(closer, nearest + start, self.closest[rows])
        self.distance.clamp_min_(0.0)
        self.n_centres = len(centres)

    def scores(self, blocked: torch.Tensor) -> torch.Tensor:
        weight = self.distance.masked_fill(blocked, 0.0)
        sizes = torch.bincount(self.closest, weights=weight, minlength=self.n_centres)
        in_largest = sizes[self.closest] == sizes.max()  # ties: every largest cluster competes
        return self.distance.masked_fill(~in_largest, -np.inf)

    def take(self, index: int) -> None:
        column = _kernel_column(self.kernel, self.Z, index)
        squared = (self.diagonal + self.diagonal[index] - 2 * column).clamp_min(0.0)
        squared[index] = 0.0
        closer = squared < self.distance
        closer[index] = True
        self.distance = torch.where(closer, squared, self.distance)
        self.closest[closer] = self.n_centres
        self.n_centres += 1


class PosteriorDistance:
    """k-means++'s measure in the GP posterior kernel's geometry, Holzmüller et al.'s (JMLR
    2023) "KMeansPP with posterior transformation", TP mode. With k_post the posterior
    covariance given the training points, an item's squared norm is its posterior variance v
    (the training points sit near the origin) and d(x, c)^2 = v(x) + v(c) - 2 k_post(x, c).
    An item scores its squared distance to the nearest pick, before any its variance.

    The geometry stays that of the training points: picks are not conditioned on, as that
    would turn the distance to a pick into the distance to the span of all picks (joint
    entropy drawn at random). So the tracker is left as it is, and each pick costs one kernel
    column and ``A^T A[:, c]``: O(n_pool n_train). Through a target transform, the geometry
    is y's delta-method posterior covariance exp(j(x) + j(y)) k_post(x, y), j the
    transform's log_jacobian (mu for a log target)."""

    def __init__(self, pool: GPPool):
        tracker = pool.tracker
        self.kernel, self.Z = tracker.posterior.kernel, tracker.Z_pool
        self.A = tracker.A[: tracker.n_rows]
        jacobian = pool.log_jacobian
        self.scale = (
            torch.ones_like(tracker.variance) if jacobian is None else torch.exp(jacobian - jacobian.max())
        )
        self.norms = self.scale**2 * tracker.variance
        self.distance = self.norms.clone()

    def scores(self, blocked: torch.Tensor) -> torch.Tensor:
        return self.distance

    def take(self, index: int) -> None:
        covariance = _kernel_column(self.kernel, self.Z, index) - self.A.T @ self.A[:, index]
        squared = self.norms + self.norms[index] - 2 * self.scale * self.scale[index] * covariance
        self.distance = torch.minimum(self.distance, squared.clamp_min(0.0))


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


# ---------------------------------------------------------------------------------------
# Selectors: ``selector(measure, k, blocked, rng) -> (picks, the score of each when picked)``.
# ``blocked`` marks the items that are not candidates (labelled); picks are added to it.


def _open(score: torch.Tensor, blocked: torch.Tensor, fill: float) -> torch.Tensor:
    """The scores with ``fill`` where an item is blocked or its score is NaN (an item the
    model could not score, e.g. a NaN std, is never picked before one it could)."""
    return score.masked_fill(blocked | torch.isnan(score), fill)


def top_k(measure, k: int, blocked: torch.Tensor, rng) -> tuple[list[int], list[float]]:
    """The k best scores, taken independently (ties: the lower index first)."""
    score = _open(measure.scores(blocked), blocked, -np.inf)
    chosen = torch.argsort(score, descending=True, stable=True)[:k]
    blocked[chosen] = True
    return chosen.tolist(), score[chosen].tolist()


def _one_at_a_time(measure, k: int, blocked: torch.Tensor, pick) -> tuple[list[int], list[float]]:
    """The one greedy loop: score, pick, let the measure take the pick, repeat."""
    chosen, values = [], []
    for _ in range(k):
        index, value = pick(measure.scores(blocked), blocked)
        chosen.append(index)
        values.append(value)
        blocked[index] = True
        measure.take(index)
    return chosen, values


def greedy(measure, k: int, blocked: torch.Tensor, rng) -> tuple[list[int], list[float]]:
    """Take the best item, let the measure update the others' scores, repeat."""

    def best(score, blocked):
        index = int(torch.argmax(_open(score, blocked, -np.inf)))
        return index, float(score[index])

    return _one_at_a_time(measure, k, blocked, best)


def draw(measure, k: int, blocked: torch.Tensor, rng) -> tuple[list[int], list[float]]:
    """Draw each item with probability proportional to its score (uniformly among the
    candidates when every score is 0), let the measure take it, repeat: k-means++ seeding.
    The values are the probabilities the picks had when drawn."""

    def drawn(score, blocked):
        weight = _open(score, blocked, 0.0).clamp_min(0.0).cpu().numpy()
        if not weight.sum() > 0:  # every candidate sits on a pick
            weight = (~blocked).cpu().numpy().astype(float)
        p = weight / weight.sum()
        index = int(rng.choice(len(p), p=p))
        return index, float(p[index])

    return _one_at_a_time(measure, k, blocked, drawn)


def uniform(measure, k: int, blocked: torch.Tensor, rng) -> tuple[list[int], list[float]]:
    """k candidates drawn uniformly without replacement (values: zeros)."""
    candidates = np.flatnonzero(~blocked.cpu().numpy())
    chosen = [int(i) for i in rng.choice(candidates, k, replace=False)]
    blocked[chosen] = True
    return chosen, [0.0] * k


# ---------------------------------------------------------------------------------------
# The registry.


@dataclass(frozen=True)
class Acquisition:
    """A measure (a class built on a pool, or None) and a selector.

    ``needs_gp``: it reads a :class:`GPPool` (a fitted exact GP); otherwise the std that any
    regressor predicts (:class:`PredictedPool`) or nothing at all will do."""

    measure: type | None
    selector: Callable
    needs_gp: bool
    summary: str

    def select(self, pool: Pool, k: int, exclude=(), rng=None, **params) -> tuple[list[int], list[float]]:
        """``k`` picks among the pool items not in ``exclude``, and the score of each when
        picked. ``rng`` (a numpy Generator or RandomState) for the selectors that draw;
        ``params`` go to the measure (``beta`` of density_entropy)."""
        blocked = torch.zeros(pool.n, dtype=torch.bool, device=pool.device)
        if len(exclude):
            blocked[torch.as_tensor(list(exclude), dtype=torch.long, device=pool.device)] = True
        measure = None if self.measure is None else self.measure(pool, **params)
        return self.selector(measure, k, blocked, rng)


ACQUISITIONS = {
    "entropy": Acquisition(Entropy, top_k, False, "max predictive entropy (top-k)"),
    "batch_entropy": Acquisition(Entropy, greedy, True, "greedy joint entropy of the batch"),
    "random": Acquisition(None, uniform, False, "uniform at random"),
    "ivr": Acquisition(VarianceReduction, greedy, True, "greedy integrated variance reduction"),
    "density_entropy": Acquisition(DensityEntropy, top_k, True, "entropy weighted by density"),
    "kcenter": Acquisition(Distance, greedy, True, "k-center greedy (core set) in feature space"),
    "lcmd": Acquisition(ClusterDistance, greedy, True, "largest cluster maximum distance"),
    "kmeanspp": Acquisition(PosteriorDistance, draw, True, "k-means++ in the GP posterior's geometry"),
}
