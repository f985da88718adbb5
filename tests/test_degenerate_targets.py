"""Degenerate targets and scales give a positive, finite std, or a warning or error naming why
(issue 29, point 2): a constant y (band gaps of metals, all 0.0), three or four training
points, y and features at extreme scales, an item far from every training point."""

import warnings

import numpy as np
import pytest

from skmatgp import (
    CrystalGraphTransformer,
    GNNGPRegressor,
    GPRegressor,
    LogTargetRegressor,
    StructureDescriptors,
)
from skmatgp._target import LOG
from skmatgp.datasets import load_dataset
from tests.conftest import FAST, TINY

CONSTANT = "y is constant"


@pytest.fixture(scope="module")
def perovskites():
    """50 real metals (GLLB-SC indirect gap exactly 0.0) and 50 real perovskites with a gap."""
    data = load_dataset("castelli_perovskites_7k", target="ind_gap")
    metals = np.flatnonzero(data.target == 0)[:50]
    gapped = np.flatnonzero(data.target > 0)[:50]
    return data.structures[metals], data.structures[gapped], data.target[gapped]


@pytest.fixture(scope="module")
def features(perovskites):
    """Descriptors of the 50 gapped perovskites and their gaps."""
    _, gapped, gaps = perovskites
    return StructureDescriptors().fit_transform(gapped), gaps


def fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return model.fit(X, y)


def assert_positive_and_finite(mean, std):
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)


# ---------------------------------------------------------------- constant y


@pytest.mark.parametrize("calibrate_std", [False, True])
def test_band_gaps_of_metals_warn_and_keep_a_positive_std(perovskites, calibrate_std):
    """All 0.0: without the fix the calibrated std was exactly 0 (held-out z-scores all 0)."""
    X = StructureDescriptors().fit_transform(perovskites[0])
    model = GPRegressor(**FAST, calibrate_std=calibrate_std, validation_fraction=0.2)
    with pytest.warns(UserWarning, match=rf"{CONSTANT} \(all 40 targets are 0\).*assumed scale of 1"):
        model.fit(X[:40], np.zeros(40))
    mean, std = model.predict(X[40:], return_std=True)
    assert np.array_equal(mean, np.zeros(10))
    assert_positive_and_finite(mean, std)
    assert model.std_scale_ == 1.0 and model.y_scale_ == 1.0


def test_a_constant_y_std_follows_the_units_of_y(features):
    """The assumed scale is |y|: the same constant in other units gives the same relative std."""
    X, _ = features
    results = []
    for value in (5.0, 5e9, 5e-9):
        with pytest.warns(UserWarning, match=CONSTANT):
            model = GPRegressor(**FAST).fit(X[:40], np.full(40, value))
        mean, std = model.predict(X[40:], return_std=True)
        assert np.array_equal(mean, np.full(10, value))
        results.append(std / value)
    assert np.allclose(results[0], results[1], rtol=1e-9) and np.allclose(results[0], results[2], rtol=1e-9)


def test_a_y_constant_to_rounding_is_not_calibrated_either(features):
    """1.0 beside the next float up is constant to rounding: the warning said so, yet the std
    was still calibrated on held-out z-scores of rounding noise (std_scale_ 0.00094)."""
    X, _ = features
    y = np.where(np.arange(40) % 2 == 0, 1.0, np.nextafter(1.0, 2.0))
    model = GPRegressor(**FAST, calibrate_std=True, validation_fraction=0.2)
    with pytest.warns(UserWarning, match=CONSTANT):
        model.fit(X[:40], y)
    assert model.std_scale_ == 1.0 and model.y_mean_ == 1.0 and model.y_scale_ == 1.0
    mean, std = model.predict(X[40:], return_std=True)
    assert np.array_equal(mean, np.ones(10))
    assert_positive_and_finite(mean, std)


def test_gnngp_on_metals_warns_and_keeps_a_positive_calibrated_std(perovskites):
    """50 structures: a validation split of 5 calibrates the std, which was 0 before the fix."""
    metals, _, _ = perovskites
    graphs = CrystalGraphTransformer().fit_transform(metals)
    with pytest.warns(UserWarning, match=rf"GNNGPRegressor: {CONSTANT}"):
        model = GNNGPRegressor(**{**TINY, "epochs": 1}).fit(graphs, np.zeros(50))
    assert len(model.validation_indices_) == 5 and model.std_scale_ == 1.0
    mean, std = model.predict(graphs[:5], return_std=True)
    assert np.array_equal(mean, np.zeros(5))
    assert_positive_and_finite(mean, std)
    draws = model.sample_y(graphs[:5], n_samples=3)
    assert np.all(np.isfinite(draws))


def test_a_warm_start_refit_on_a_y_constant_to_rounding_warns_and_is_not_calibrated(perovskites):
    """A warm-start refit keeps the first fit's scaling; it decided nothing about the new y,
    and calibrated the std on rounding noise (std_scale_ 0.0165) without a word."""
    _, gapped, gaps = perovskites
    graphs = CrystalGraphTransformer().fit_transform(gapped)
    model = GNNGPRegressor(**{**TINY, "epochs": 1}, warm_start=True).fit(graphs, gaps)
    y = np.where(np.arange(50) % 2 == 0, 1.0, np.nextafter(1.0, 2.0))
    with pytest.warns(UserWarning, match=rf"GNNGPRegressor: {CONSTANT}.*keeps the scale of the first fit"):
        model.fit(graphs, y)
    assert model.std_scale_ == 1.0
    mean, std = model.predict(graphs[:5], return_std=True)
    assert_positive_and_finite(mean, std)


def test_log_target_of_a_constant_warns_about_log_y(features):
    X, _ = features
    with pytest.warns(UserWarning, match=rf"{CONSTANT} \(all 40 targets are 0.693147\)"):
        model = LogTargetRegressor(GPRegressor(**FAST)).fit(X[:40], np.full(40, 2.0))
    median, std = model.predict(X[40:], return_std=True)
    assert np.allclose(median, 2.0) and np.all(std > 0)


# ---------------------------------------------------------------- few points


def test_few_points_warn_or_are_refused(features, perovskites):
    """1 or 2 points: refused; 3 or 4: a std with a warning that it is a rough guess (from
    hyperparameters fitted to so few values); 5: no warning."""
    X, y = features
    graphs = CrystalGraphTransformer().fit_transform(perovskites[1][:2])
    for n in (1, 2):
        with pytest.raises(ValueError, match=rf"at least 3 training points; got n_samples={n}"):
            GPRegressor(**FAST).fit(X[:n], y[:n])
        with pytest.raises(ValueError, match=f"at least 3 training structures, got {n}"):
            GNNGPRegressor(**TINY).fit(graphs[:n], y[:n])
    for n in (3, 4):
        with pytest.warns(UserWarning, match=rf"fitted on {n} points.*rough guess"):
            model = GPRegressor(**FAST).fit(X[:n], y[:n])
        assert_positive_and_finite(*model.predict(X[40:], return_std=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GPRegressor(**FAST).fit(X[:5], y[:5])


# ---------------------------------------------------------------- extreme scales


@pytest.mark.parametrize("factor", [1e-200, 1e-9, 1e9, 1e200])
def test_targets_at_extreme_scales_scale_the_predictions_or_are_refused(features, perovskites, factor):
    """1e-9 and 1e9 scale the mean and std alike; 1e-200 and 1e200, whose variance float64
    cannot hold, are refused (before the fix: NaN means and inf stds at 1e200, a std of 0.4
    for y of 1e-200)."""
    X, y = features
    if abs(np.log10(factor)) < 100:
        mean, std = GPRegressor(**FAST).fit(X[:40], y[:40]).predict(X[40:], return_std=True)
        mean_f, std_f = GPRegressor(**FAST).fit(X[:40], y[:40] * factor).predict(X[40:], return_std=True)
        assert np.allclose(mean_f, mean * factor, rtol=1e-6) and np.allclose(std_f, std * factor, rtol=1e-6)
        return
    with pytest.raises(ValueError, match=r"GPRegressor: y varies on a scale of .*cannot hold"):
        GPRegressor(**FAST).fit(X[:40], y[:40] * factor)
    graphs = CrystalGraphTransformer().fit_transform(perovskites[1][:10])
    with pytest.raises(ValueError, match=r"GNNGPRegressor: y varies on a scale of .*cannot hold"):
        GNNGPRegressor(**TINY).fit(graphs, y[:10] * factor)


@pytest.mark.parametrize("exponent", [-664, -30, 30, 664])  # about 1e-200, 1e-9, 1e9, 1e200
@pytest.mark.parametrize("feature_scaling", ["standard", "minmax", None])
def test_features_at_extreme_scales_give_the_same_predictions(features, exponent, feature_scaling):
    """A power of two changes no digit, so every scaling must give the very same numbers.
    Before the fix: features of 1e-200 counted as constant, of 1e200 overflowed, and
    unscaled features of 1e9 left the length scales where they started."""
    X, y = features
    X = X[:, X[:40].std(0) > 0]  # a feature constant in training keeps scale 1: not scale-free
    params = {**FAST, "feature_scaling": feature_scaling}
    expected = GPRegressor(**params).fit(X[:40], y[:40]).predict(X[40:], return_std=True)
    Xs = np.ldexp(X, exponent)
    got = GPRegressor(**params).fit(Xs[:40], y[:40]).predict(Xs[40:], return_std=True)
    assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])


@pytest.mark.parametrize("nu", [0.5, 1.5, 2.5])
def test_an_item_far_from_all_training_points_gets_the_prior(features, nu):
    """A feature of 1e200 among features of about 1: its squared distance overflows, and the
    Matérn kernel's inf * 0 gave NaN before the fix; the limit is zero correlation."""
    X, y = features
    model = GPRegressor(**{**FAST, "nu": nu}).fit(X[:40], y[:40])
    far = X[40:42].copy()
    far[1, 0] = 1e200
    mean, std = model.predict(far, return_std=True)
    assert_positive_and_finite(mean, std)
    prior_std = np.sqrt(float(model.posterior_.kernel.outputscale) + model.posterior_.noise)
    assert mean[1] == pytest.approx(model.posterior_.mean * model.y_scale_ + model.y_mean_)
    assert std[1] == pytest.approx(prior_std * model.y_scale_)
    assert np.all(np.isfinite(model.predict(far, return_cov=True)[1]))


def test_a_diverged_encoder_is_named_not_a_gpytorch_error(perovskites):
    _, gapped, gaps = perovskites
    graphs = CrystalGraphTransformer().fit_transform(gapped[:20])
    model = GNNGPRegressor(**{**TINY, "learning_rate": 1e6, "epochs": 2})
    with pytest.raises(
        ValueError, match=r"NaN or infinite embeddings .* diverged \(learning_rate=1000000.0\)"
    ):
        model.fit(graphs, gaps[:20])
    assert not hasattr(model, "posterior_")


# ---------------------------------------------------------------- LogTargetRegressor


def test_log_target_refuses_the_zero_gaps_of_metals_by_index(perovskites):
    metals, gapped, gaps = perovskites
    X = StructureDescriptors().fit_transform(np.concatenate([gapped[:10], metals[:2]]))
    y = np.concatenate([gaps[:10], np.zeros(2)])
    with pytest.raises(
        ValueError, match=r"y must be positive and finite; 2 value\(s\) are not, first y\[10\] = 0.0"
    ):
        LogTargetRegressor(GPRegressor(**FAST)).fit(X, y)
    model = fit_quietly(LogTargetRegressor(GPRegressor(**FAST)), X[:10], y[:10])
    with pytest.raises(ValueError, match=r"first y\[0\] = 0.0"):
        model.update(X[10:], y[10:])


def test_log_scale_values_beyond_float64_warn_naming_the_item():
    """exp(710) is inf and exp(-746) is 0: a warning names the item instead of numpy's
    anonymous overflow."""
    mu, s = np.array([1.0, 710.0, -746.0]), np.array([0.1, 0.1, 0.1])
    with pytest.warns(RuntimeWarning, match=r"2 item\(s\), first at index 1 \(log-scale value 710\)"):
        median, std = LOG.mean_std(mu, s)
    assert std[0] == pytest.approx(0.1 * np.e)
    assert median[0] == pytest.approx(np.e) and np.isinf(median[1]) and median[2] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LOG.mean_std(np.array([1.0, np.nan]), np.array([0.1, np.nan]))  # NaN stays NaN, quietly


def test_log_target_interval_beyond_float64_warns(features):
    X, y = features
    log_y = 706 + 3 * (y - y.min()) / np.ptp(y)  # y up to exp(709), float64's edge
    model = LogTargetRegressor(GPRegressor(**FAST)).fit(X[:40], np.exp(log_y[:40]))
    with pytest.warns(RuntimeWarning, match=r"interval's upper bound of \d+ item\(s\)"):
        lower, upper = model.predict_interval(X[40:], level=0.99999)
    assert np.all(np.isfinite(lower)) and np.any(np.isinf(upper))


@pytest.mark.parametrize("value", [1.3e-229, -4e200])
def test_a_constant_float64_cannot_square_is_refused_as_a_constant_without_a_warning(value):
    X = np.random.default_rng(0).normal(size=(5, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "y is constant" warning first
        with pytest.raises(ValueError, match="y is constant at"):
            GPRegressor(random_state=0).fit(X, np.full(5, value))
