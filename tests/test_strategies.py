import copy

import numpy as np
import pytest
import torch
from sklearn.pipeline import Pipeline, make_pipeline

from skmatgp import CrystalGraphTransformer, GNNGPRegressor, LogTargetRegressor
from skmatgp._gp import ExactGPPosterior, PoolVariance, make_kernel
from skmatgp.active import (
    ActiveLearner,
    batch_entropy_sampling,
    density_weighted_entropy_sampling,
    gaussian_entropy,
    kcenter_greedy_sampling,
    kmeanspp_sampling,
    lcmd_sampling,
    max_entropy_sampling,
    random_sampling,
    variance_reduction_sampling,
)
from skmatgp.active._acquisitions import ACQUISITIONS, GPPool, density_weights
from tests.conftest import TINY


def kcenter_greedy(Z_pool, centres, k):
    """The registry's k-center picks over plain tensors (no GP needed)."""
    return ACQUISITIONS["kcenter"].select(GPPool(Z_pool, None, centres=centres), k)[0]


def lcmd(Z_pool, centres, kernel, k, exclude=()):
    """The registry's LCMD picks and scores in ``kernel``'s geometry, ``centres`` first."""
    posterior = ExactGPPosterior(kernel, 0.0, 1e-6, centres, torch.zeros(len(centres), dtype=torch.float64))
    return ACQUISITIONS["lcmd"].select(GPPool(Z_pool, posterior), k, exclude=exclude)


def kmeanspp(tracker, k, rng, exclude=()):
    """The registry's k-means++ picks and probabilities on a pool tracker."""
    pool = GPPool(tracker.Z_pool, tracker.posterior, tracker=tracker)
    return ACQUISITIONS["kmeanspp"].select(pool, k, exclude=exclude, rng=rng)


@pytest.fixture(scope="module")
def fitted(small_graphs):
    graphs, y = small_graphs
    return GNNGPRegressor(**TINY).fit(graphs[:30], y[:30]), graphs[30:], y[30:]


def test_pool_variance_matches_conditioning_from_scratch(fitted):
    model, pool, _y = fitted
    Z = torch.as_tensor(model.embed(pool))
    tracker = PoolVariance(model.posterior_, Z, capacity=2)
    _, latent = model.posterior_.predict_latent(Z)
    assert torch.allclose(tracker.variance, latent, atol=1e-10)
    for index in (3, 7, 11):  # past the capacity: the buffer grows
        tracker.condition_on(index)
    scratch = copy.deepcopy(model.posterior_)
    scratch.add_points(Z[[3, 7, 11]], torch.zeros(3, dtype=torch.float64))  # labels irrelevant
    _, expected = scratch.predict_latent(Z)
    assert torch.allclose(tracker.variance, expected, atol=1e-9)


def test_max_entropy_picks_the_largest_std(fitted):
    model, pool, _ = fitted
    _, std = model.predict(pool, return_std=True)
    chosen, scores = max_entropy_sampling(model, pool, n_instances=3)
    assert list(chosen) == list(np.argsort(-std)[:3])
    assert np.allclose(scores, gaussian_entropy(std[chosen]))


def test_batch_entropy_spreads_out_over_duplicates(fitted):
    model, pool, _ = fitted
    top, _ = max_entropy_sampling(model, pool, n_instances=1)
    # a pool holding three copies of the most uncertain structure
    pool_with_copies = np.concatenate([pool, pool[top], pool[top]])
    copies = {int(top[0]), len(pool), len(pool) + 1}
    greedy_top, _ = max_entropy_sampling(model, pool_with_copies, n_instances=3)
    assert set(greedy_top) == copies  # independent top-k wastes the batch on duplicates
    batch, scores = batch_entropy_sampling(model, pool_with_copies, n_instances=3)
    assert batch[0] in copies and len(copies & set(batch)) == 1
    assert scores[0] >= scores[1] >= scores[2]


def test_random_sampling_is_seeded_and_without_replacement(fitted):
    model, pool, _ = fitted
    a, _ = random_sampling(model, pool, 10, random_state=0)
    b, _ = random_sampling(model, pool, 10, random_state=0)
    assert np.array_equal(a, b) and len(set(a)) == 10


def test_too_many_queries_is_refused(fitted):
    model, pool, _ = fitted
    for strategy in (
        max_entropy_sampling,
        batch_entropy_sampling,
        random_sampling,
        lcmd_sampling,
        kmeanspp_sampling,
    ):
        with pytest.raises(ValueError, match="pool of 30"):
            strategy(model, pool, n_instances=31)


def test_strategies_drive_a_modal_learner_over_a_pipeline(small):
    X, y = small
    for strategy in (max_entropy_sampling, batch_entropy_sampling, random_sampling):
        learner = ActiveLearner(
            estimator=make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY)),
            query_strategy=strategy,
            X_training=X[:20],
            y_training=y[:20],
        )
        idx, chosen = learner.query(X[20:], n_instances=3)
        assert len(set(idx)) == 3 and all(c is X[20:][i] for c, i in zip(chosen, idx))
        learner.teach(X[20:][idx], y[20:][idx], only_new=True)
        assert len(learner.estimator[-1].posterior_.y) == 23


def test_variance_reduction_tracker_matches_brute_force(fitted):
    model, pool, _ = fitted
    Z = torch.as_tensor(model.embed(pool))
    reference = torch.tensor([0, 5, 9, 20])
    tracker = PoolVariance(model.posterior_, Z, reference=reference)
    tracker.condition_on(3)
    tracker.condition_on(12)
    scratch = copy.deepcopy(model.posterior_)
    scratch.add_points(Z[[3, 12]], torch.zeros(2, dtype=torch.float64))
    # posterior covariance from scratch: k(x, r) - k(x, T) K^-1 k(T, r)
    Kxr = scratch._k(Z, Z[reference])
    Ax = torch.linalg.solve_triangular(scratch.L, scratch._k(scratch.Z, Z), upper=False)
    Ar = torch.linalg.solve_triangular(scratch.L, scratch._k(scratch.Z, Z[reference]), upper=False)
    assert torch.allclose(tracker.cov_ref, Kxr - Ax.T @ Ar, atol=1e-9)
    expected = ((Kxr - Ax.T @ Ar) ** 2).sum(1) / tracker.predictive_variance()
    assert torch.allclose(tracker.variance_reduction(), expected)


def test_kcenter_picks_the_farthest_points():
    Z_pool = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [10.0, 0.0]])
    labelled = torch.tensor([[0.0, 0.0]])
    # farthest from 0 is 10; then the farthest from {0, 10} is 5 (distance 5), not 1
    assert kcenter_greedy(Z_pool, labelled, 2) == [3, 2]


def test_density_weighting_prefers_typical_points(fitted):
    model, pool, _ = fitted
    chosen, scores = density_weighted_entropy_sampling(model, pool, n_instances=3, beta=0.0)
    plain, plain_scores = max_entropy_sampling(model, pool, n_instances=3)
    assert list(chosen) == list(plain) and np.allclose(scores, plain_scores)  # beta = 0: max entropy
    weighted, _ = density_weighted_entropy_sampling(model, pool, n_instances=3, beta=5.0)
    Z = torch.as_tensor(model.embed(pool))
    density = density_weights(Z, model.posterior_.kernel)
    assert density[weighted].mean() >= density[plain].mean()


@pytest.mark.parametrize(
    "strategy",
    [
        variance_reduction_sampling,
        density_weighted_entropy_sampling,
        kcenter_greedy_sampling,
        lcmd_sampling,
        kmeanspp_sampling,
    ],
)
def test_new_acquisitions_in_modal(small, strategy):
    X, y = small
    learner = ActiveLearner(
        estimator=make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY)),
        query_strategy=strategy,
        X_training=X[:20],
        y_training=y[:20],
    )
    idx, _ = learner.query(X[20:], n_instances=4)
    assert len(set(idx)) == 4 and max(idx) < 40


GP_STRATEGIES = [
    batch_entropy_sampling,
    variance_reduction_sampling,
    density_weighted_entropy_sampling,
    kcenter_greedy_sampling,
    lcmd_sampling,
]


@pytest.mark.parametrize("strategy", [*GP_STRATEGIES, kmeanspp_sampling])
def test_gp_strategies_name_themselves_when_the_model_is_unfitted(small_graphs, strategy):
    graphs, _ = small_graphs
    with pytest.raises(
        TypeError, match=rf"^{strategy.__name__} needs a fitted .* got an unfitted GNNGPRegressor"
    ):
        strategy(GNNGPRegressor(**TINY), graphs, n_instances=2)


def test_gp_strategies_point_other_regressors_to_max_entropy(small_graphs):
    from sklearn.gaussian_process import GaussianProcessRegressor

    rng = np.random.default_rng(0)
    features = rng.normal(size=(20, 3))
    regressor = GaussianProcessRegressor().fit(features, rng.normal(size=20))
    with pytest.raises(TypeError, match="got a GaussianProcessRegressor. Use max_entropy_sampling"):
        batch_entropy_sampling(regressor, features, n_instances=2)
    around = LogTargetRegressor(GaussianProcessRegressor()).fit(features, np.exp(rng.normal(size=20)))
    with pytest.raises(TypeError, match="got a GaussianProcessRegressor. Use max_entropy_sampling"):
        batch_entropy_sampling(around, features, n_instances=2)


# ---------------------------------------------------------------------------------------
# Through a LogTargetRegressor the GP lives on log(y); the strategies score y.


@pytest.fixture(scope="module")
def fitted_log(small_graphs):
    """A LogTargetRegressor on G_VRH in GPa (positive): its GP fits log G."""
    graphs, log10_shear = small_graphs
    model = LogTargetRegressor(GNNGPRegressor(**TINY)).fit(graphs[:30], 10.0 ** log10_shear[:30])
    return model, graphs[30:]


def _log_scale_covariance(model, pool):
    """From scratch: the log-scale GP's latent covariance over the pool and its noise, in
    the GP's standardised units, and the factor to log(y) units."""
    gp = model.regressor_
    posterior = gp.posterior_
    Z = torch.as_tensor(gp.embed(pool))
    A = torch.linalg.solve_triangular(posterior.L, posterior._k(posterior.Z, Z), upper=False)
    latent = (posterior._k(Z, Z).to_dense() - A.T @ A).numpy()
    return latent, float(posterior.noise), gp.y_scale_ * gp.std_scale_


def test_batch_entropy_through_a_log_target_maximises_the_joint_entropy_of_y(fitted_log):
    model, pool = fitted_log
    latent, noise, scale = _log_scale_covariance(model, pool)
    covariance = (latent + noise * np.eye(len(pool))) * scale**2
    mu, _ = model.predict_log(pool)

    def joint_entropy_of_y(batch):
        """A log-normal vector's entropy: its log's Gaussian entropy plus the sum of mu."""
        _, logdet = np.linalg.slogdet(2 * np.pi * np.e * covariance[np.ix_(batch, batch)])
        return 0.5 * logdet + mu[batch].sum()

    chosen, scores = batch_entropy_sampling(model, pool, n_instances=4)
    for k in range(4):  # each pick is the best next point for the batch's entropy of y
        picked = list(chosen[:k])
        others = [i for i in range(len(pool)) if i not in picked]
        assert chosen[k] == max(others, key=lambda i: joint_entropy_of_y(picked + [i]))
    assert np.isclose(scores.sum(), joint_entropy_of_y(list(chosen)))
    # the first pick and its score are max_entropy_sampling's (the delta-method std of y)
    top, top_score = max_entropy_sampling(model, pool, n_instances=1)
    assert chosen[0] == top[0] and np.isclose(scores[0], top_score[0])
    # the entropy of log(y) would choose another batch here
    assert list(batch_entropy_sampling(model.regressor_, pool, n_instances=4)[0]) != list(chosen)


def test_variance_reduction_through_a_log_target_weighs_the_variance_of_y(fitted_log):
    model, pool = fitted_log
    latent, noise, _ = _log_scale_covariance(model, pool)
    mu, _ = model.predict_log(pool)
    reference = np.random.RandomState(0).choice(len(pool), 12, replace=False)  # 12 of the 30
    weight = np.exp(2 * mu[reference])  # var(y) = exp(2 mu) var(log y), by the delta method
    chosen, _ = variance_reduction_sampling(model, pool, n_instances=3, n_reference=12, random_state=0)
    covariance, picked = latent.copy(), []
    for index in chosen:
        reduction = (weight * covariance[:, reference] ** 2).sum(1) / (np.diag(covariance) + noise)
        reduction[picked] = -np.inf
        assert index == np.argmax(reduction)
        picked.append(index)  # condition on it: the covariance loses its rank-one part
        covariance -= np.outer(covariance[:, index], covariance[index]) / (covariance[index, index] + noise)
    unweighted, _ = variance_reduction_sampling(model.regressor_, pool, 3, n_reference=12, random_state=0)
    assert list(unweighted) != list(chosen)


def test_density_weighting_and_kcenter_through_a_log_target(fitted_log):
    model, pool = fitted_log
    chosen, scores = density_weighted_entropy_sampling(model, pool, n_instances=3, beta=0.0)
    plain, plain_scores = max_entropy_sampling(model, pool, n_instances=3)
    assert list(chosen) == list(plain) and np.allclose(scores, plain_scores)  # beta = 0: entropy of y
    assert list(kcenter_greedy_sampling(model, pool, 3)[0]) == list(
        kcenter_greedy_sampling(model.regressor_, pool, 3)[0]
    )  # distances in embedding space: the target's scale plays no part


@pytest.mark.parametrize("strategy", GP_STRATEGIES)
def test_gp_strategies_reach_a_log_target_that_ends_a_pipeline(small, fitted_log, strategy):
    """make_pipeline(CrystalGraphTransformer(), LogTargetRegressor(...)) on Structures picks
    and scores as the LogTargetRegressor itself does on the graphs."""
    model, graphs = fitted_log
    structures = small[0][30:]
    pipeline = Pipeline([("graphs", CrystalGraphTransformer().fit(structures)), ("log", model)])
    chosen, scores = strategy(pipeline, structures, n_instances=3)
    expected, expected_scores = strategy(model, graphs, n_instances=3)
    assert list(chosen) == list(expected) and np.allclose(scores, expected_scores)


@pytest.mark.parametrize("strategy", [batch_entropy_sampling, variance_reduction_sampling])
def test_gp_strategies_name_an_unfitted_log_target(small_graphs, strategy):
    graphs, _ = small_graphs
    with pytest.raises(TypeError, match="got an unfitted LogTargetRegressor. Fit the learner first"):
        strategy(LogTargetRegressor(GNNGPRegressor(**TINY)), graphs, n_instances=2)
    with pytest.raises(TypeError, match="got an unfitted LogTargetRegressor. Fit the learner first"):
        strategy(make_pipeline(LogTargetRegressor(GNNGPRegressor(**TINY))), graphs, n_instances=2)


@pytest.mark.parametrize("log_last", [False, True], ids=["around_the_pipeline", "last_in_the_pipeline"])
def test_batch_entropy_drives_a_modal_learner_over_a_log_target(small, log_last):
    X, log10_shear = small
    shear = 10.0**log10_shear
    if log_last:
        model = make_pipeline(CrystalGraphTransformer(), LogTargetRegressor(GNNGPRegressor(**TINY)))
    else:
        model = LogTargetRegressor(make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY)))
    learner = ActiveLearner(
        estimator=model, query_strategy=batch_entropy_sampling, X_training=X[:20], y_training=shear[:20]
    )
    idx, _ = learner.query(X[20:], n_instances=3)
    learner.teach(X[20:][idx], shear[20:][idx], only_new=True)
    gp = learner.estimator[-1].regressor_ if log_last else learner.estimator.regressor_[-1]
    assert len(gp.posterior_.y) == 23


# ---------------------------------------------------------------------------------------
# Diversity-aware batches (Holzmüller et al., JMLR 2023): LCMD and k-means++.


def _matern(lengthscale: float, dims: int):
    kernel = make_kernel(2.5, dims).double()
    kernel.base_kernel.lengthscale = lengthscale
    kernel.outputscale = 1.0
    return kernel


def _kernel_distances(kernel, A, B):
    with torch.no_grad():
        return (
            kernel(A, diag=True)[:, None] + kernel(B, diag=True)[None, :] - 2 * kernel(A, B).to_dense()
        ).numpy()


def test_lcmd_picks_the_farthest_point_of_the_largest_cluster():
    kernel = _matern(3.0, 2)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0]], dtype=torch.float64)
    # four points around centre 0 at 1.0-1.3, one around centre 1 at 2.2: the farthest point
    # overall (what max distance and max variance take first) is the lone one, 4
    pool = torch.tensor([[0, 1.0], [0, -1.1], [1.2, 0], [-1.3, 0], [10, 2.2]], dtype=torch.float64)
    d2 = _kernel_distances(kernel, pool, centres)
    assert (d2.argmin(1) == [0, 0, 0, 0, 1]).all()
    # cluster 0's squared distances sum past the lone point's; without point 3 they do not
    assert d2[:4, 0].sum() > d2[4, 1] > d2[[0, 1, 2], 0].sum()
    assert kcenter_greedy(pool, centres, 1) == [4]
    # so LCMD takes 3 (farthest in cluster 0), then 4 (now the largest cluster), then 2
    chosen, scores = lcmd(pool, centres, kernel, 3)
    assert chosen == [3, 4, 2]
    assert np.allclose(scores, [d2[3, 0], d2[4, 1], d2[2, 0]])
    # an excluded point is not a candidate and does not count in its cluster's size
    assert lcmd(pool, centres, kernel, 2, exclude=[3])[0] == [4, 2]


def _lcmd_brute_force(K_pool, K_cross, K_centres_diag, n_instances):
    """LCMD from full kernel matrices: every distance recomputed at every pick."""
    diagonal = np.diag(K_pool)
    centre_distances = diagonal[:, None] + K_centres_diag[None, :] - 2 * K_cross
    chosen = []
    for _ in range(n_instances):
        pick_distances = diagonal[:, None] + diagonal[chosen][None, :] - 2 * K_pool[:, chosen]
        distances = np.concatenate([centre_distances, pick_distances], axis=1)
        nearest, distance = distances.argmin(1), distances.min(1)
        candidate = np.ones(len(diagonal), bool)
        candidate[chosen] = False
        sizes = np.bincount(nearest[candidate], distance[candidate], minlength=distances.shape[1])
        score = np.where(candidate & (sizes[nearest] == sizes.max()), distance, -np.inf)
        chosen.append(int(np.argmax(score)))
    return chosen


def test_lcmd_sampling_matches_brute_force_in_blocks(fitted, monkeypatch):
    model, pool, _ = fitted
    posterior = model.posterior_
    Z = torch.as_tensor(model.embed(pool))
    with torch.no_grad():
        expected = _lcmd_brute_force(
            posterior._k(Z, Z).numpy(),
            posterior._k(Z, posterior.Z).numpy(),
            posterior.kernel(posterior.Z, diag=True).numpy(),
            6,
        )
    chosen, scores = lcmd_sampling(model, pool, n_instances=6)
    assert list(chosen) == expected and len(set(chosen)) == 6 and (scores >= 0).all()
    monkeypatch.setattr("skmatgp.active._acquisitions._BLOCK", 7)  # pool rows and labelled points
    monkeypatch.setattr("skmatgp.active._acquisitions._CENTRE_BLOCK", 4)  # in uneven blocks
    assert list(lcmd_sampling(model, pool, n_instances=6)[0]) == expected
    # max variance picks otherwise here (LCMD is not the largest variance first)
    assert list(batch_entropy_sampling(model, pool, n_instances=6)[0]) != expected


def _toy_posterior(noise: float = 1e-12):
    """A 1-D GP with training points at 0 and 5 (labels irrelevant to variances)."""
    Z = torch.tensor([[0.0], [5.0]], dtype=torch.float64)
    return ExactGPPosterior(_matern(1.0, 1), 0.0, noise, Z, torch.zeros(2, dtype=torch.float64))


def test_kmeanspp_first_pick_follows_the_posterior_variance():
    posterior = _toy_posterior()
    # 0 and 5 are training points: (almost) zero variance, never to be drawn
    Z_pool = torch.tensor([[0.0], [0.4], [0.8], [1.5], [2.5], [5.0], [5.7], [9.0]], dtype=torch.float64)
    pool = PoolVariance(posterior, Z_pool)
    variance = posterior.latent_covariance(Z_pool).diagonal().clamp_min(0).numpy()
    expected = variance / variance.sum()
    assert expected[[0, 5]].max() < 1e-9 and expected.max() > 4 * expected[1]  # far from uniform
    rng = np.random.RandomState(0)
    n = 4000
    draws = [kmeanspp(pool, 1, rng)[0][0] for _ in range(n)]
    frequency = np.bincount(draws, minlength=len(Z_pool)) / n
    assert frequency[[0, 5]].sum() == 0
    # each frequency within 4 binomial standard deviations of its probability
    assert np.all(np.abs(frequency - expected) <= 4 * np.sqrt(expected * (1 - expected) / n) + 1e-12)


def test_kmeanspp_later_picks_use_distances_in_the_fixed_posterior():
    posterior = _toy_posterior(noise=1e-4)
    # 3 and 4 are the same far point: the two largest variances, which top-k would take
    Z_pool = torch.tensor([[0.5], [1.5], [2.5], [9.0], [9.0], [3.5], [0.0]], dtype=torch.float64)
    pool = PoolVariance(posterior, Z_pool)
    covariance = posterior.latent_covariance(Z_pool).numpy()  # given the training points only
    variance = np.diag(covariance)
    for seed in range(40):
        chosen, probabilities = kmeanspp(pool, 3, np.random.RandomState(seed), exclude=[6])
        assert len(set(chosen)) == 3 and 6 not in chosen
        assert not {3, 4} <= set(chosen)  # a copy of a pick is at distance 0
        weight = variance.copy()
        weight[6] = 0.0
        for index, probability in zip(chosen, probabilities):
            assert np.isclose(probability, weight[index] / weight.sum(), rtol=1e-6)
            distance = variance + variance[index] - 2 * covariance[:, index]
            weight = np.maximum(np.minimum(weight, distance), 0.0)
            weight[index] = 0.0
    # the picks do not change the geometry: the tracker is left as it was
    assert pool.n_rows == 2 and torch.allclose(pool.variance, torch.tensor(variance).clamp_min(1e-12))


def test_kmeanspp_sampling_is_seeded_and_scores_its_probabilities(fitted):
    model, pool, _ = fitted
    chosen, probabilities = kmeanspp_sampling(model, pool, n_instances=5, random_state=0)
    again, _ = kmeanspp_sampling(model, pool, n_instances=5, random_state=0)
    assert list(chosen) == list(again) and len(set(chosen)) == 5
    others = [list(kmeanspp_sampling(model, pool, 5, random_state=seed)[0]) for seed in (1, 2, 3)]
    assert any(other != list(chosen) for other in others)
    _, variance = model.posterior_.predict_latent(torch.as_tensor(model.embed(pool)))
    assert np.isclose(probabilities[0], variance[chosen[0]].item() / variance.sum().item())
    assert np.all((probabilities > 0) & (probabilities <= 1))


def test_lcmd_and_kmeanspp_through_a_log_target(small, fitted_log):
    model, pool = fitted_log
    # LCMD: the prior kernel's distances; the mean of log(y) plays no part
    assert list(lcmd_sampling(model, pool, 4)[0]) == list(lcmd_sampling(model.regressor_, pool, 4)[0])
    # k-means++: y's delta-method posterior covariance exp(mu_x + mu_y) C(x, y)
    latent, _, _ = _log_scale_covariance(model, pool)
    mu, _ = model.predict_log(pool)
    scale = np.exp(mu - mu.max())
    covariance = scale[:, None] * latent * scale[None, :]
    chosen, probabilities = kmeanspp_sampling(model, pool, n_instances=3, random_state=0)
    weight = np.diag(covariance).copy()
    for index, probability in zip(chosen, probabilities):
        assert np.isclose(probability, weight[index] / weight.sum(), rtol=1e-6)
        distance = np.diag(covariance) + covariance[index, index] - 2 * covariance[:, index]
        weight = np.maximum(np.minimum(weight, distance), 0.0)
        weight[index] = 0.0
    plain = np.diag(latent) / np.diag(latent).sum()  # log(y)'s variance would weigh otherwise
    assert not np.isclose(probabilities[0], plain[chosen[0]], rtol=1e-3)
    # through a Pipeline ending in the LogTargetRegressor: the same picks
    pipeline = Pipeline([("graphs", CrystalGraphTransformer().fit(small[0][30:])), ("log", model)])
    assert list(kmeanspp_sampling(pipeline, small[0][30:], 3, random_state=0)[0]) == list(chosen)


@pytest.mark.parametrize("strategy", ["lcmd", "kmeanspp"])
def test_campaigns_with_lcmd_and_kmeanspp(tmp_path, elastic, strategy):
    from skmatgp.active import Campaign, TableOracle

    X, y, ids = elastic.structures[:40], elastic.target[:40], list(elastic.ids[:40])
    settings = {
        "n_initial": 10,
        "budget": 6,
        "batch_size": 3,
        "refit_every": None,
        "representation": "graph",
        "estimator_params": TINY,
    }
    cache = {}
    runs = [
        Campaign(X, ids, TableOracle(ids, y), strategy=strategy, model_cache=cache, **settings).run()
        for _ in range(2)
    ]
    orders = [[i for batch in state["batches"] for i in batch] for state in runs]
    assert all(state["status"] == "done" for state in runs)
    assert len(set(orders[0])) == 16 and orders[0] == orders[1]  # no label twice; seeded
    log_state = Campaign(
        X, ids, TableOracle(ids, 10.0**y), strategy=strategy, log_target=True, **settings
    ).run()
    assert log_state["status"] == "done" and len({i for b in log_state["batches"] for i in b}) == 16


def test_gp_strategies_take_any_regressor_with_posterior_and_embed(fitted):
    """Duck-typed: a GPRegressor on plain features has the GNNGPRegressor's interface."""
    model, pool, _ = fitted

    class FeatureGP:
        def embed(self, X):
            return model.embed(X)

    with pytest.raises(
        TypeError, match="needs a fitted GNNGPRegressor or GPRegressor .* got an unfitted FeatureGP"
    ):
        lcmd_sampling(FeatureGP(), pool, n_instances=2)
    duck = FeatureGP()
    for name in ("posterior_", "device_", "y_scale_", "std_scale_"):
        setattr(duck, name, getattr(model, name))
    for strategy in (lcmd_sampling, batch_entropy_sampling, kcenter_greedy_sampling):
        assert list(strategy(duck, pool, 3)[0]) == list(strategy(model, pool, 3)[0])
    picks = [list(kmeanspp_sampling(gp, pool, 3, random_state=0)[0]) for gp in (duck, model)]
    assert picks[0] == picks[1]


def test_lcmd_and_kmeanspp_on_a_gp_regressor_over_features():
    from skmatgp import GPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X[:, 0] + 0.1 * rng.normal(size=60)
    with pytest.raises(TypeError, match="got an unfitted GPRegressor. Fit the learner first"):
        lcmd_sampling(GPRegressor(), X, n_instances=2)
    for strategy in (lcmd_sampling, kmeanspp_sampling):
        learner = ActiveLearner(
            estimator=GPRegressor(), query_strategy=strategy, X_training=X[:20], y_training=y[:20]
        )
        idx, _ = learner.query(X[20:], n_instances=4)
        assert len(set(idx)) == 4 and max(idx) < 40
