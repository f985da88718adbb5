"""The acquisition registry: every strategy picks what it picked before the registry existed.

The pins below were written by the code before the refactor into measures and selectors
(modAL-signature functions in ``_strategies.py``, Campaign's own scoring in ``_campaign.py``),
on real structures of elastic_tensor_2015: a GPRegressor on a small feature matrix built from
them, and small graph campaigns. A campaign's state folder, waiting for labels, is still
written in the form that code wrote (``STATE_V1``) and resumes to the same choices.
"""

import json

import numpy as np
import pytest

from skmatgp import GPRegressor, LogTargetRegressor
from skmatgp.active import (
    Campaign,
    TableOracle,
    batch_entropy_sampling,
    density_weighted_entropy_sampling,
    kcenter_greedy_sampling,
    kmeanspp_sampling,
    lcmd_sampling,
    max_entropy_sampling,
    random_sampling,
    variance_reduction_sampling,
)
from tests.conftest import TINY

# the form of a waiting campaign's state.json before the registry: its keys and its settings' keys
STATE_V1 = {
    "keys": ["batches", "config", "history", "labels", "pending", "refits", "status"],
    "config": [
        "batch_size",
        "budget",
        "estimator_params",
        "eval_every",
        "graph_params",
        "n_initial",
        "pool_ids_sha256",
        "pool_targets_sha256",
        "random_state",
        "refit_every",
        "strategy",
        "test_sha256",
        "warm_start",
    ],
}
STRATEGIES = ("entropy", "batch_entropy", "random", "ivr", "density_entropy", "kcenter", "lcmd", "kmeanspp")


def _ids(text: str) -> list[str]:
    return text.split()


# the picks (and scores) of each modAL-signature function before the registry: 6 of a pool of 90
MODAL_PINS = {
    "plain:max_entropy": (
        [81, 76, 72, 79, 11, 24],
        [0.10395167, 0.077941765, 0.013084721, -0.048815231, -0.05276064, -0.078222852],
    ),
    "plain:random": ([2, 13, 53, 41, 66, 30], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    "plain:batch_entropy": (
        [81, 76, 24, 0, 85, 80],
        [0.10395167, 0.07739667, -0.078517011, -0.10172476, -0.14444663, -0.14979581],
    ),
    "plain:ivr": ([74, 18, 79, 33, 2, 70], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    "plain:ivr_20": ([70, 83, 69, 57, 88, 65], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    "plain:density": (
        [81, 79, 18, 76, 72, 59],
        [-0.35360882, -0.49104436, -0.49785196, -0.50259303, -0.5346552, -0.56401516],
    ),
    "plain:density_beta3": (
        [23, 81, 18, 83, 59, 87],
        [-1.2591073, -1.2687298, -1.2746529, -1.3146758, -1.3148618, -1.3444984],
    ),
    "plain:kcenter": ([81, 51, 59, 22, 11, 24], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    "plain:lcmd": (
        [76, 83, 55, 22, 67, 79],
        [0.96455571, 0.82767762, 0.54010121, 0.43629243, 0.3903482, 0.51824507],
    ),
    "plain:kmeanspp": (
        [61, 73, 66, 58, 42, 69],
        [0.017848337, 0.0084842976, 0.015264841, 0.015476647, 0.0044988509, 0.018062788],
    ),
    "log:max_entropy": (
        [85, 70, 78, 88, 7, 25],
        [5.59371, 5.5889956, 5.3413176, 5.1533836, 5.0760737, 5.0718999],
    ),
    "log:random": ([2, 13, 53, 41, 66, 30], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    "log:batch_entropy": (
        [85, 70, 88, 41, 25, 39],
        [5.59371, 5.5887432, 5.1168384, 4.9689815, 4.9685738, 4.7807733],
    ),
    "log:ivr": ([70, 85, 41, 65, 77, 88], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    "log:ivr_20": ([70, 88, 65, 73, 25, 78], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    "log:density": (
        [70, 85, 78, 88, 7, 25],
        [5.0898376, 4.9544304, 4.8830877, 4.694118, 4.4695762, 4.4271565],
    ),
    "log:density_beta3": (
        [70, 78, 88, 85, 71, 16],
        [4.0915215, 3.966628, 3.7755868, 3.6758712, 3.6206942, 3.3383834],
    ),
    "log:kcenter": ([81, 51, 59, 22, 11, 24], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    "log:lcmd": (
        [76, 83, 55, 22, 67, 79],
        [0.96455571, 0.82767762, 0.54010121, 0.43629243, 0.3903482, 0.51824507],
    ),
    "log:kmeanspp": (
        [70, 78, 68, 64, 41, 74],
        [0.11757314, 0.018643175, 0.0054948932, 0.014140978, 0.044165307, 0.005561158],
    ),
}
# each Campaign strategy's choices before the registry: the same 10 at random, then 3 batches of 3
INITIAL = _ids("mp-10390 mp-1046 mp-10270 mp-1020 mp-10154 mp-10010 mp-10003 mp-10172 mp-10063 mp-10015")
CAMPAIGN_PINS = {
    "plain:entropy": _ids("mp-103 mp-10021 mp-10435 mp-10597 mp-1042 mp-10025 mp-1029 mp-10266 mp-104"),
    "plain:batch_entropy": _ids("mp-103 mp-10021 mp-10597 mp-1042 mp-10435 mp-10025 mp-1029 mp-10266 mp-104"),
    "plain:random": _ids("mp-10608 mp-1029 mp-10527 mp-10183 mp-1057 mp-10037 mp-10271 mp-10469 mp-10597"),
    "plain:ivr": _ids("mp-10456 mp-1038 mp-10021 mp-103 mp-1057 mp-1029 mp-10435 mp-10597 mp-10037"),
    "plain:density_entropy": _ids(
        "mp-10125 mp-10470 mp-10456 mp-10180 mp-10173 mp-102 mp-10184 mp-10457 mp-1027"
    ),
    "plain:kcenter": _ids("mp-10021 mp-103 mp-10597 mp-1057 mp-1042 mp-10266 mp-10025 mp-10598 mp-1029"),
    "plain:lcmd": _ids("mp-10021 mp-1038 mp-10025 mp-1042 mp-103 mp-10469 mp-1029 mp-10435 mp-10597"),
    "plain:kmeanspp": _ids("mp-1057 mp-1030 mp-10469 mp-10025 mp-1027 mp-104 mp-10597 mp-10470 mp-10184"),
    "log:entropy": _ids("mp-102 mp-10470 mp-10245 mp-1030 mp-10469 mp-10271 mp-1038 mp-101 mp-10037"),
    "log:batch_entropy": _ids("mp-102 mp-10469 mp-10470 mp-10245 mp-1030 mp-10173 mp-101 mp-10271 mp-10037"),
    "log:random": _ids("mp-10608 mp-1029 mp-10527 mp-10183 mp-1057 mp-10037 mp-10271 mp-10469 mp-10597"),
    "log:ivr": _ids("mp-10271 mp-10456 mp-10037 mp-10245 mp-10527 mp-101 mp-1030 mp-1038 mp-1042"),
    "log:density_entropy": _ids(
        "mp-10470 mp-102 mp-10173 mp-10125 mp-10245 mp-10456 mp-10271 mp-101 mp-10469"
    ),
    "log:kcenter": _ids("mp-10021 mp-103 mp-10597 mp-1057 mp-1042 mp-10266 mp-10025 mp-10598 mp-1029"),
    "log:lcmd": _ids("mp-10021 mp-1038 mp-10025 mp-1042 mp-103 mp-10469 mp-1029 mp-10435 mp-10597"),
    "log:kmeanspp": _ids("mp-10597 mp-1030 mp-10470 mp-10037 mp-10245 mp-1042 mp-1057 mp-10527 mp-102"),
}
# the default representation (SevenNet features and a GPRegressor), before the registry
FOUNDATION_PINS = {
    "plain:batch_entropy": _ids("mp-10597 mp-1029 mp-103 mp-101 mp-1057 mp-10021 mp-102 mp-10173 mp-1030"),
    "log:batch_entropy": _ids("mp-10470 mp-10025 mp-1027 mp-10469 mp-10457 mp-101 mp-102 mp-1030 mp-10271"),
    "plain:kmeanspp": _ids("mp-10597 mp-1030 mp-10469 mp-10037 mp-10266 mp-1038 mp-1057 mp-10527 mp-10183"),
    "log:kmeanspp": _ids("mp-10527 mp-1030 mp-10469 mp-10025 mp-1027 mp-104 mp-1057 mp-10470 mp-102"),
}
OLD_STATE_ORDER = INITIAL + _ids("mp-103 mp-10021 mp-10597 mp-1042 mp-10435 mp-10025 mp-1029 mp-10266 mp-104")


def real_features(structures) -> np.ndarray:
    """A small real feature matrix: volume per atom, density, mean and spread of the atomic
    numbers, mean electronegativity, number of elements."""
    rows = []
    for structure in structures:
        numbers = [site.specie.Z for site in structure]
        composition = structure.composition
        rows.append(
            [
                structure.volume / len(structure),
                float(structure.density),
                np.mean(numbers),
                np.std(numbers),
                composition.average_electroneg,
                len(composition.elements),
            ]
        )
    return np.array(rows)


MODAL_CALLS = [
    ("max_entropy", max_entropy_sampling, {}),
    ("random", random_sampling, {"random_state": 0}),
    ("batch_entropy", batch_entropy_sampling, {}),
    ("ivr", variance_reduction_sampling, {}),
    ("ivr_20", variance_reduction_sampling, {"n_reference": 20, "random_state": 3}),
    ("density", density_weighted_entropy_sampling, {}),
    ("density_beta3", density_weighted_entropy_sampling, {"beta": 3.0}),
    ("kcenter", kcenter_greedy_sampling, {}),
    ("lcmd", lcmd_sampling, {}),
    ("kmeanspp", kmeanspp_sampling, {"random_state": 0}),
]


def _modal_models(data):
    X, y = real_features(data.structures[:120]), data.target[:120]
    plain = GPRegressor(random_state=0).fit(X[:30], y[:30])
    log = LogTargetRegressor(GPRegressor(random_state=0)).fit(X[:30], 10.0 ** y[:30])
    return {"plain": plain, "log": log}, X[30:]


def modal_pins_now(data) -> dict:
    """Each modAL-signature function's picks (and scores) on the feature matrix."""
    models, pool = _modal_models(data)
    pins = {}
    for model_name, model in models.items():
        for name, function, kwargs in MODAL_CALLS:
            chosen, scores = function(model, pool, 6, **kwargs)
            pins[f"{model_name}:{name}"] = [[int(i) for i in chosen], [float(s) for s in scores]]
    return pins


def _campaign(data, strategy, log_target=False, representation="graph", oracle=None, **settings):
    X, y, ids = data.structures[:40], data.target[:40], list(data.ids[:40])
    return Campaign(
        X,
        ids,
        oracle or TableOracle(ids, 10.0**y if log_target else y),
        test=(data.structures[40:60], (10.0 ** data.target[40:60]) if log_target else data.target[40:60]),
        strategy=strategy,
        n_initial=10,
        budget=9,
        batch_size=3,
        refit_every=6,
        log_target=log_target,
        representation=representation,
        estimator_params=TINY if representation == "graph" else {"gp_iterations": 20},
        random_state=0,
        **settings,
    )


def _order(state):
    return [i for batch in state["batches"] for i in batch]


def campaign_pins_now(data) -> dict:
    """Each Campaign strategy's choices, in order, on a small graph campaign."""
    cache = {}
    return {
        f"{'log' if log_target else 'plain'}:{strategy}": _order(
            _campaign(data, strategy, log_target, model_cache=cache).run()
        )
        for log_target in (False, True)
        for strategy in STRATEGIES
    }


def write_old_state(data, folder) -> list:
    """A batch_entropy campaign's state folder waiting for its third batch; returns the order
    an uninterrupted run chooses."""
    answered = {"n": 0}
    table = TableOracle(list(data.ids[:40]), data.target[:40])

    def two_answers(ids, structures):
        answered["n"] += 1
        return None if answered["n"] > 2 else table(ids)

    campaign = _campaign(data, "batch_entropy", state_dir=folder)
    campaign.oracle = two_answers
    assert campaign.run()["status"] == "waiting"
    return _order(_campaign(data, "batch_entropy").run())


# ---------------------------------------------------------------------------------------
# The pins: each fails if a strategy chooses otherwise than before the registry.
ZERO_SCORES_BEFORE = ("random", "ivr", "ivr_20", "kcenter")  # scores were zeros: now measured


@pytest.fixture(scope="module")
def modal_now(elastic):
    return modal_pins_now(elastic)


@pytest.mark.parametrize("key", list(MODAL_PINS))
def test_modal_functions_pick_as_before(modal_now, key):
    chosen, scores = modal_now[key]
    pinned_chosen, pinned_scores = MODAL_PINS[key]
    assert chosen == pinned_chosen
    if key.split(":")[1] not in ZERO_SCORES_BEFORE:
        np.testing.assert_allclose(scores, pinned_scores, rtol=1e-6, atol=1e-9)


@pytest.fixture(scope="module")
def campaigns_now(elastic):
    return campaign_pins_now(elastic)


@pytest.mark.parametrize("key", list(CAMPAIGN_PINS))
def test_campaign_strategies_choose_as_before(campaigns_now, key):
    assert campaigns_now[key] == INITIAL + CAMPAIGN_PINS[key]


def test_a_waiting_state_keeps_the_form_it_had_before_the_registry_and_resumes_alike(tmp_path, elastic):
    table = TableOracle(list(elastic.ids[:40]), elastic.target[:40])
    calls = {"n": 0}

    def two_answers(ids, structures):  # the initial labels and one batch, then no answer
        calls["n"] += 1
        return table(ids) if calls["n"] <= 2 else None

    folder = tmp_path / "state"
    waiting = _campaign(elastic, "batch_entropy", oracle=two_answers, state_dir=folder).run()
    assert waiting["status"] == "waiting"
    state = json.loads((folder / "state.json").read_text())
    assert sorted(state) == STATE_V1["keys"] and sorted(state["config"]) == STATE_V1["config"]
    assert [i for batch in state["batches"] for i in batch] == OLD_STATE_ORDER[:13]
    assert state["pending"]["ids"] == OLD_STATE_ORDER[13:16]
    resumed = _campaign(elastic, "batch_entropy", state_dir=folder).run()
    assert resumed["status"] == "done" and _order(resumed) == OLD_STATE_ORDER
    uninterrupted = _campaign(elastic, "batch_entropy").run()
    assert _order(uninterrupted) == OLD_STATE_ORDER
    assert resumed["history"][-1]["test_mae"] == pytest.approx(
        uninterrupted["history"][-1]["test_mae"], rel=1e-9
    )


@pytest.mark.parametrize("key", list(FOUNDATION_PINS))
def test_foundation_campaigns_choose_as_before(tmp_path_factory, elastic, key):
    log, strategy = key.split(":")
    features = {"cache_dir": tmp_path_factory.getbasetemp() / "features"}
    state = _campaign(elastic, strategy, log == "log", "foundation", featurizer_params=features).run()
    assert _order(state) == INITIAL + FOUNDATION_PINS[key]


def test_the_registry_names_the_campaign_strategies():
    from skmatgp.active._acquisitions import ACQUISITIONS
    from skmatgp.active._settings import STRATEGIES as LISTED  # what the command line offers

    assert tuple(ACQUISITIONS) == LISTED == STRATEGIES


def test_variance_reduction_and_kcenter_score_their_picks(elastic):
    """Their scores were zeros; now each pick's variance reduction or distance when picked."""
    import torch

    from skmatgp._gp import PoolVariance

    models, pool = _modal_models(elastic)
    gp = models["plain"]
    Z = torch.as_tensor(gp.embed(pool))
    reference = torch.as_tensor(np.random.RandomState(3).choice(len(pool), 20, replace=False))
    first = PoolVariance(gp.posterior_, Z, reference=reference).variance_reduction().max()
    _, scores = variance_reduction_sampling(gp, pool, 3, n_reference=20, random_state=3)
    assert np.isclose(scores[0], float(first)) and np.all(scores > 0)
    _, distances = kcenter_greedy_sampling(gp, pool, 3)
    nearest = torch.cdist(Z, gp.posterior_.Z).min(1).values
    assert np.isclose(distances[0], float(nearest.max())) and distances[0] >= distances[1] >= distances[2]


def test_a_top_k_entropy_read_builds_no_tracker_and_scores_as_one_would(elastic):
    """density_entropy reads the entropies once: from the posterior a block at a time, not
    through a tracker's train x pool matrix, with the same scores a tracker gives."""
    import torch

    from skmatgp.active._acquisitions import GPPool

    models, pool = _modal_models(elastic)
    gp = models["plain"]
    Z = torch.as_tensor(gp.embed(pool))
    read_once = GPPool(Z, gp.posterior_, regressor=gp)
    entropy = read_once.entropy()
    assert read_once._tracker is None
    tracked = GPPool(Z, gp.posterior_, regressor=gp, capacity=3)
    assert torch.allclose(entropy, tracked.entropy(), rtol=0, atol=1e-12)
    assert tracked._tracker is not None  # greedy picks will condition it


class _NaNStd(GPRegressor):
    """A regressor that cannot score the pool's third item: its std there is NaN."""

    def predict(self, X, return_std=False, return_cov=False):
        mean, std = super().predict(X, return_std=True)
        std = std.copy()
        std[2] = np.nan
        return (mean, std) if return_std else mean


def test_an_item_with_a_nan_score_is_never_picked_before_a_scored_one():
    from skmatgp.active import max_entropy_sampling

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    model = _NaNStd(random_state=0).fit(X[:20], X[:20, 0])
    chosen, scores = max_entropy_sampling(model, X[20:], n_instances=9)
    assert 2 not in chosen and np.all(np.isfinite(scores))
    chosen, _ = max_entropy_sampling(model, X[20:], n_instances=10)
    assert chosen[-1] == 2  # only once nothing else is left
