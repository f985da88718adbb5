import numpy as np
import pytest
from scipy.stats import norm
from sklearn.base import clone
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.utils import get_tags

from skmatgp import CrystalGraphTransformer, GNNGPRegressor, LogTargetRegressor
from skmatgp._log_target import split_target_transform
from skmatgp._pipeline import final_step
from skmatgp._target import IDENTITY, LOG
from tests.conftest import TINY


@pytest.fixture(scope="module")
def shear_moduli(elastic):
    """70 real structures and their shear modulus G_VRH in GPa (positive, heavy-tailed)."""
    return elastic.structures[:70], 10 ** elastic.target[:70]


def test_fits_the_log_and_predicts_the_median_with_a_delta_std(shear_moduli):
    structures, g = shear_moduli
    pipeline = make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY))
    model = LogTargetRegressor(pipeline).fit(structures[:50], g[:50])
    by_hand = clone(pipeline).fit(structures[:50], np.log(g[:50]))
    mu, s = by_hand.predict(structures[50:], return_std=True)
    median, std = model.predict(structures[50:], return_std=True)
    np.testing.assert_allclose(median, np.exp(mu), rtol=1e-12)
    np.testing.assert_allclose(std, np.exp(mu) * s, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(structures[50:]), median)
    lower, upper = model.predict_interval(structures[50:], level=0.9)
    np.testing.assert_allclose(np.log(upper) - np.log(median), norm.ppf(0.95) * s, rtol=1e-9)
    assert np.all(lower < median) and np.all(median < upper)
    assert model.regressor is pipeline and model.regressor_ is not pipeline  # cloned


def test_wraps_any_regressor_with_a_std(shear_moduli):
    structures, g = shear_moduli
    X = np.array([[s.density, s.volume / len(s)] for s in structures])
    model = LogTargetRegressor(GaussianProcessRegressor(normalize_y=True)).fit(X[:50], g[:50, None])
    by_hand = GaussianProcessRegressor(normalize_y=True).fit(X[:50], np.log(g[:50]))
    np.testing.assert_allclose(model.predict(X[50:]), np.exp(by_hand.predict(X[50:])), rtol=1e-12)
    assert (
        get_tags(model).input_tags.two_d_array and not get_tags(LogTargetRegressor()).input_tags.two_d_array
    )
    nested = LogTargetRegressor(make_pipeline(CrystalGraphTransformer(), GNNGPRegressor()))
    nested.set_params(regressor__gnngpregressor__epochs=7)
    assert nested.regressor[-1].epochs == 7  # reachable by GridSearchCV


def test_refuses_targets_that_have_no_log(shear_moduli):
    structures, g = shear_moduli
    bad = g[:50].copy()
    bad[7] = 0.0
    with pytest.raises(ValueError, match=r"positive and finite; 1 value\(s\) are not, first y\[7\] = 0.0"):
        LogTargetRegressor().fit(structures[:50], bad)
    with pytest.raises(ValueError, match="level"):
        LogTargetRegressor().predict_interval(structures[:2], level=1.5)


def test_return_cov_is_the_delta_method_covariance(shear_moduli):
    structures, g = shear_moduli
    X = np.array([[s.density, s.volume / len(s)] for s in structures])
    model = LogTargetRegressor(GaussianProcessRegressor(normalize_y=True)).fit(X[:50], g[:50])
    by_hand = GaussianProcessRegressor(normalize_y=True).fit(X[:50], np.log(g[:50]))
    mu, log_covariance = by_hand.predict(X[50:], return_cov=True)
    median, covariance = model.predict(X[50:], return_cov=True)
    np.testing.assert_allclose(median, np.exp(mu), rtol=1e-12)
    np.testing.assert_allclose(covariance, log_covariance * np.outer(np.exp(mu), np.exp(mu)), rtol=1e-12)
    graphs = LogTargetRegressor(make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY)))
    graphs.fit(structures[:50], g[:50])
    _, std = graphs.predict(structures[50:], return_std=True)
    _, covariance = graphs.predict(structures[50:], return_cov=True)
    np.testing.assert_allclose(np.sqrt(np.diag(covariance)), std, rtol=1e-9)
    with pytest.raises(RuntimeError, match="At most one"):
        graphs.predict(structures[50:], return_std=True, return_cov=True)


def test_split_target_transform_finds_the_model_of_log_y_around_or_last_in_a_pipeline():
    """What query strategies and pool scoring use to reach the GP: the fitted model of log(y)
    with every fitted step before it, whichever way the LogTargetRegressor was placed."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.exp(X @ [0.5, -0.2, 0.1] + 0.05 * rng.normal(size=40))
    inner = make_pipeline(StandardScaler(), GaussianProcessRegressor())
    around = LogTargetRegressor(inner).fit(X, y)
    last = make_pipeline(PolynomialFeatures(2), LogTargetRegressor(GaussianProcessRegressor())).fit(X, y)
    nested = make_pipeline(PolynomialFeatures(2), LogTargetRegressor(inner), verbose=True).fit(X, y)
    assert split_target_transform(nested)[0].verbose  # the outer Pipeline's settings carry over
    for model in (around, last, nested):
        found, target = split_target_transform(model)
        log_y = found.predict(X)
        np.testing.assert_allclose(np.exp(log_y), model.predict(X), rtol=1e-12)
        assert target is LOG and final_step(found) is final_step(final_step(model).regressor_)
    assert [type(step).__name__ for _, step in split_target_transform(nested)[0].steps] == [
        "PolynomialFeatures",
        "StandardScaler",
        "GaussianProcessRegressor",
    ]
    plain = make_pipeline(StandardScaler(), GaussianProcessRegressor())
    assert split_target_transform(plain) == (plain, IDENTITY)
    assert split_target_transform(make_pipeline(StandardScaler(), LogTargetRegressor())) == (None, LOG)


def test_n_features_in_is_the_fitted_regressors_where_it_has_one(shear_moduli):
    structures, g = shear_moduli
    X = np.array([[s.density, s.volume / len(s), s.num_sites] for s in structures])
    model = LogTargetRegressor(GaussianProcessRegressor(normalize_y=True))
    assert not hasattr(model, "n_features_in_")  # before fit
    assert model.fit(X[:50], g[:50]).n_features_in_ == 3
    on_structures = LogTargetRegressor(make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY)))
    assert not hasattr(on_structures.fit(structures[:20], g[:20]), "n_features_in_")  # no features


def test_the_notebook_repr_links_to_the_api_page():
    from sklearn.utils import estimator_html_repr

    url = "https://skmatgp.readthedocs.io/en/latest/generated/skmatgp.LogTargetRegressor.html"
    assert LogTargetRegressor()._get_doc_link() == url
    assert url in estimator_html_repr(LogTargetRegressor())
