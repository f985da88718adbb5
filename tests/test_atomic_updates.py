"""A ``teach``, ``fit`` or ``update`` that raises changes nothing (issue 29, point 5): the
learner's training arrays, the estimator and its GP are exactly as before, so the learner
predicts bit for bit as it did. Compared state by state after failing calls with a
degenerate structure, a NaN label, a label float64 overflows on, rows of another width,
and an interrupt in the middle of conditioning."""

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from sklearn.pipeline import make_pipeline

from skmatgp import (
    CrystalGraphTransformer,
    GNNGPRegressor,
    GPRegressor,
    LogTargetRegressor,
    StructureDescriptors,
)
from skmatgp._pipeline import final_step
from skmatgp.active import ActiveLearner
from tests.conftest import FAST, TINY

HUGE = 1.7e308  # finite, but far enough from y of about 1 that standardising it overflows


def nan_coordinate_nacl():
    """Rock salt with one NaN fractional coordinate: refused where structures enter."""
    na = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    cl = [[0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]
    frac = np.array(na + cl, dtype=float)
    frac[3, 0] = np.nan
    return Structure(Lattice.cubic(5.64), ["Na"] * 4 + ["Cl"] * 4, frac)


def pool_of(*structures):
    out = np.empty(len(structures), dtype=object)
    out[:] = structures
    return out


def gp_state(model) -> dict:
    """Everything of the exact GP head that a prediction reads."""
    post = model.posterior_
    return {
        "n": post.n,
        "L": post.L.clone(),
        "w": post._w[: post.n].clone(),
        "Z": post.Z.clone(),
        "y": post.y.clone(),
        "lml": model.log_marginal_likelihood_value_,
    }


def assert_same_gp(before: dict, model) -> None:
    after = gp_state(model)
    assert after["n"] == before["n"] and after["lml"] == before["lml"]
    for key in ("L", "w", "Z", "y"):
        assert torch.equal(after[key], before[key]), key


def learner_state(learner, probe) -> dict:
    mean, std = learner.estimator.predict(probe, return_std=True)
    return {
        "X": learner.X_training,
        "X_items": list(learner.X_training),
        "y": np.array(learner.y_training, copy=True),
        "gp": gp_state(final_step(learner.estimator)),
        "mean": mean,
        "std": std,
    }


def assert_same_learner(before: dict, learner, probe) -> None:
    assert learner.X_training is before["X"]
    assert len(learner.X_training) == len(before["X_items"])
    assert all(a is b for a, b in zip(learner.X_training, before["X_items"], strict=True))
    assert np.array_equal(learner.y_training, before["y"])
    assert_same_gp(before["gp"], final_step(learner.estimator))
    mean, std = learner.estimator.predict(probe, return_std=True)
    assert np.array_equal(mean, before["mean"]) and np.array_equal(std, before["std"])


# ---------------------------------------------------------------- teach


@pytest.fixture(scope="module")
def descriptor_learner_factory(small):
    structures, y = small

    def make():
        pipe = make_pipeline(StructureDescriptors(), GPRegressor(**FAST))
        return ActiveLearner(estimator=pipe, X_training=structures[:30], y_training=y[:30])

    return make


BAD_TEACH = {
    # the item itself is refused, after modAL's bookkeeping appended it (before the fix)
    "degenerate structure": lambda X, y: (pool_of(X[40], nan_coordinate_nacl()), np.array([y[40], 1.0])),
    "NaN label": lambda X, y: (X[40:42], np.array([y[40], np.nan])),
    "label that overflows": lambda X, y: (X[40:42], np.array([y[40], HUGE])),
}


@pytest.mark.parametrize("only_new", [True, False], ids=["update", "refit"])
@pytest.mark.parametrize("bad", list(BAD_TEACH))
def test_teach_that_raises_leaves_the_learner_as_it_was(small, descriptor_learner_factory, bad, only_new):
    X, y = small
    learner = descriptor_learner_factory()
    probe = X[50:]
    before = learner_state(learner, probe)
    X_new, y_new = BAD_TEACH[bad](X, y)
    with pytest.raises(ValueError):
        learner.teach(X_new, y_new, only_new=only_new)
    assert_same_learner(before, learner, probe)
    learner.teach(X[40:42], y[40:42], only_new=only_new)  # and it goes on as before
    assert len(learner.X_training) == 32 and final_step(learner.estimator).posterior_.n == 32


def test_teach_of_rows_of_another_width_is_refused_by_name(small):
    """A learner on feature rows: 11 features where the model has 12."""
    X, y = small
    F = StructureDescriptors().fit_transform(X)
    learner = ActiveLearner(estimator=GPRegressor(**FAST), X_training=F[:30], y_training=y[:30])
    before = learner_state(learner, F[50:])
    for only_new in (True, False):
        with pytest.raises(
            ValueError, match=r"rows have shape \(131,\) but the training data's have \(132,\)"
        ):
            learner.teach(F[40:42, :-1], y[40:42], only_new=only_new)
        assert np.array_equal(learner.X_training, F[:30])
        assert_same_gp(before["gp"], learner.estimator)


def test_a_refit_that_fails_midway_restores_the_gnngp_in_place(small_graphs):
    """GNNGPRegressor.fit forgets a fit that fails after it started (its state would be half
    old, half new); teach puts the old one back, into the same objects the caller holds."""
    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY)
    learner = ActiveLearner(estimator=model, X_training=graphs[:20], y_training=y[:20])
    encoder, probe = model.encoder_, graphs[50:]
    before = learner_state(learner, probe)
    weights = {k: v.clone() for k, v in encoder.state_dict().items()}
    with pytest.raises(ValueError, match="cannot hold"):
        learner.teach(graphs[20:22], np.array([y[20], 1e300]))  # refits: y's scale has no variance
    assert learner.estimator is model and hasattr(model, "posterior_")
    assert_same_learner(before, learner, probe)
    assert all(torch.equal(v, model.encoder_.state_dict()[k]) for k, v in weights.items())


def test_a_failing_refit_of_a_pipeline_keeps_its_steps(small):
    X, y = small
    pipe = make_pipeline(StructureDescriptors(), GPRegressor(**FAST))
    learner = ActiveLearner(estimator=pipe, X_training=X[:30], y_training=y[:30])
    steps = [step for _, step in pipe.steps]
    before = learner_state(learner, X[50:])
    with pytest.raises(ValueError, match="cannot hold"):
        learner.teach(X[40:42], np.array([y[40], 1e300]))
    assert learner.estimator is pipe and [step for _, step in pipe.steps] == steps
    assert all(a is b for (_, a), b in zip(pipe.steps, steps, strict=True))
    assert_same_learner(before, learner, X[50:])


def test_fit_that_raises_keeps_the_training_data(small, descriptor_learner_factory):
    X, y = small
    learner = descriptor_learner_factory()
    before = learner_state(learner, X[50:])
    with pytest.raises(ValueError, match="index 1 has NaN or infinite coordinates"):
        learner.fit(pool_of(X[40], nan_coordinate_nacl(), X[41]), y[40:43])
    assert_same_learner(before, learner, X[50:])


# ---------------------------------------------------------------- update


@pytest.fixture(scope="module")
def features(small):
    X, y = small
    return StructureDescriptors().fit_transform(X), y


def test_gp_regressor_update_that_raises_changes_nothing(features):
    F, y = features
    model = GPRegressor(**FAST).fit(F[:30], y[:30])
    before, prediction = gp_state(model), model.predict(F[50:], return_std=True)
    for X_new, y_new, message in [
        (F[40:42], np.array([y[40], np.nan]), "NaN"),
        (F[40:42, :-1], y[40:42], "131 features"),
        (F[40:42], np.array([y[40], HUGE]), r"y\[1\] = 1.7e\+308 is NaN, infinite, or so far"),
    ]:
        with pytest.raises(ValueError, match=message):
            model.update(X_new, y_new)
        assert_same_gp(before, model)
    for a, b in zip(model.predict(F[50:], return_std=True), prediction, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("which", ["GPRegressor", "GNNGPRegressor"])
def test_an_interrupt_in_the_middle_of_an_update_rolls_it_back(features, small_graphs, which, monkeypatch):
    """Three points, interrupted while conditioning on the second (Ctrl-C, or running out of
    memory): none of the three stays, not the first."""
    if which == "GPRegressor":
        X, y = features
        model = GPRegressor(**FAST).fit(X[:30], y[:30])
    else:
        X, y = small_graphs
        model = GNNGPRegressor(**TINY).fit(X[:30], y[:30])
    before, prediction = gp_state(model), model.predict(X[50:], return_std=True)
    post = model.posterior_
    real, calls = post.prior_variance, []

    def interrupted_on_the_second_point(Z):
        calls.append(len(Z))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(Z)

    monkeypatch.setattr(post, "prior_variance", interrupted_on_the_second_point)
    with pytest.raises(KeyboardInterrupt):
        model.update(X[40:43], y[40:43])
    monkeypatch.undo()
    assert_same_gp(before, model)
    for a, b in zip(model.predict(X[50:], return_std=True), prediction, strict=True):
        assert np.array_equal(a, b)
    model.update(X[40:43], y[40:43])
    assert model.posterior_.n == 33


def test_gnngp_and_log_target_updates_that_raise_change_nothing(small, small_graphs):
    X, y = small
    graphs = small_graphs[0]
    model = GNNGPRegressor(**TINY).fit(graphs[:30], y[:30])
    before = gp_state(model)
    other_settings = CrystalGraphTransformer(radius=6.0).fit_transform(X[40:42])
    for X_new, y_new, error in [
        (other_settings, y[40:42], ValueError),
        (graphs[40:42], np.array([y[40], np.nan]), ValueError),
        (graphs[40:42], y[40:43], ValueError),
        (pool_of(graphs[40], X[41]), y[40:42], TypeError),
        (graphs[40:42], np.array([y[40], HUGE]), ValueError),
    ]:
        with pytest.raises(error):
            model.update(X_new, y_new)
        assert_same_gp(before, model)
    log_model = LogTargetRegressor(make_pipeline(StructureDescriptors(), GPRegressor(**FAST)))
    log_model.fit(X[:30], 10 ** y[:30])
    inner = final_step(log_model.regressor_)
    before = gp_state(inner)
    for y_new in (np.array([1.0, 0.0]), np.array([1.0, np.nan])):
        with pytest.raises(ValueError, match="positive and finite"):
            log_model.update(X[40:42], y_new)
        assert_same_gp(before, inner)
