"""The target transform: identity or log, one implementation that every consumer asks.

The pins below were written by the code before the transform existed (LogTargetRegressor,
Campaign and pool scoring each with their own log), on real structures of
elastic_tensor_2015: the numbers must not move.
"""

import numpy as np
import pytest
import torch
from scipy.stats import lognorm, norm

from skmatgp import GPRegressor, LogTargetRegressor
from skmatgp._target import IDENTITY, LOG, TargetTransform
from skmatgp.active import Campaign, TableOracle, gaussian_entropy
from tests.conftest import TINY
from tests.test_acquisitions import real_features

# LogTargetRegressor(GPRegressor(random_state=0)) fitted on 30 shear moduli (GPa), the next 4
PINNED_MEDIAN = [43.64406829189365, 64.23231656188287, 43.64441651765753, 63.49164291307885]
PINNED_STD = [22.23802366069946, 14.025596868179527, 19.2009629156099, 18.073670150942487]
PINNED_LOWER90 = [18.877350034759306, 44.850763785179396, 21.166865496323958, 39.75281487455575]
PINNED_UPPER90 = [100.90424204457273, 91.98930280579233, 89.99136378967353, 101.4063716625542]
PINNED_VARIANCE = [494.5296963338287, 196.71736750868658, 368.676976886627, 326.6575527250695]
PINNED_COVARIANCE_01 = 59.94546409346008

# a log-target graph campaign's pool_predictions.csv (first rows) and final test MAE
PINNED_LOG_ROWS = [
    "mp-10003,26.87356379922293,26.57415921512118,3.869075045335093,186.65660986380735",
    "mp-10010,27.963548877942568,31.091176799820076,3.1636377114706926,247.1711798774741",
    "mp-10015,24.703586992758193,26.933637080116608,2.9155368668966726,209.31555256179848",
]
PINNED_LOG_TEST_MAE = 30.899633515041153
PINNED_LOG_ORDER = [
    "mp-10172",
    "mp-10154",
    "mp-10037",
    "mp-10063",
    "mp-10183",
    "mp-10173",
    "mp-102",
    "mp-10125",
]
PINNED_PLAIN_ROWS = [
    "mp-10003,56.509637565852415,33.644556260384014,-9.43248098033186,122.45175611203669",
    "mp-10010,62.57616787648878,36.90077352138537,-9.74801922709581,134.90035498007336",
    "mp-10015,53.72031273746687,36.32510285183968,-17.475580586852118,124.91620606178586",
]


def _rows_close(written: str, pinned: list[str]) -> None:
    rows = [line.split(",") for line in written.splitlines()[1 : 1 + len(pinned)]]
    expected = [line.split(",") for line in pinned]
    assert [r[0] for r in rows] == [e[0] for e in expected]
    np.testing.assert_allclose(
        [[float(v) for v in r[1:]] for r in rows], [[float(v) for v in e[1:]] for e in expected], rtol=1e-9
    )


@pytest.fixture(scope="module")
def shear_features(elastic):
    return real_features(elastic.structures[:40]), 10.0 ** elastic.target[:40]


def test_log_target_regressor_predicts_as_before(shear_features):
    X, y = shear_features
    model = LogTargetRegressor(GPRegressor(random_state=0)).fit(X[:30], y[:30])
    median, std = model.predict(X[30:34], return_std=True)
    np.testing.assert_allclose(median, PINNED_MEDIAN, rtol=1e-10)
    np.testing.assert_allclose(std, PINNED_STD, rtol=1e-10)
    lower, upper = model.predict_interval(X[30:34], level=0.9)
    np.testing.assert_allclose(lower, PINNED_LOWER90, rtol=1e-10)
    np.testing.assert_allclose(upper, PINNED_UPPER90, rtol=1e-10)
    _, covariance = model.predict(X[30:], return_cov=True)
    np.testing.assert_allclose(np.diag(covariance)[:4], PINNED_VARIANCE, rtol=1e-10)
    assert covariance[0, 1] == pytest.approx(PINNED_COVARIANCE_01, rel=1e-10)


def _results_campaign(elastic, folder, log_target: bool, **settings):
    X, ids = elastic.structures[:20], list(elastic.ids[:20])
    return Campaign(
        X,
        ids,
        TableOracle(ids, 10 ** elastic.target[:20]),
        n_initial=5,
        budget=3,
        batch_size=3,
        representation="graph",
        estimator_params=TINY,
        log_target=log_target,
        results_dir=folder,
        **settings,
    )


def test_a_log_target_campaign_chooses_measures_and_writes_as_before(tmp_path, elastic):
    torch.set_num_threads(1)  # the pins' thread count (conftest puts it back): others sum in other orders
    test = (elastic.structures[20:30], 10 ** elastic.target[20:30])
    campaign = _results_campaign(elastic, tmp_path, True, test=test, strategy="batch_entropy")
    state = campaign.run()
    assert [i for batch in state["batches"] for i in batch] == PINNED_LOG_ORDER
    assert state["history"][-1]["test_mae"] == pytest.approx(PINNED_LOG_TEST_MAE, rel=1e-9)
    _rows_close((tmp_path / "pool_predictions.csv").read_text(), PINNED_LOG_ROWS)


def test_a_plain_campaign_writes_as_before(tmp_path, elastic):
    torch.set_num_threads(1)  # the pins' thread count (conftest puts it back)
    _results_campaign(elastic, tmp_path, False).run()
    _rows_close((tmp_path / "pool_predictions.csv").read_text(), PINNED_PLAIN_ROWS)


# ---------------------------------------------------------------------------------------
# The transform itself, against scipy's log-normal.


def test_forward_fits_y_or_log_y_and_names_the_first_value_without_a_log():
    y = np.array([2.5, 40.0, 0.7])
    np.testing.assert_array_equal(IDENTITY.forward(y), y)
    np.testing.assert_array_equal(LOG.forward(y), np.log(y))
    np.testing.assert_array_equal(IDENTITY.forward([0.0, -1.0]), [0.0, -1.0])  # the identity takes any y
    for bad in (0.0, -3.0, np.nan, np.inf):
        with pytest.raises(
            ValueError, match=rf"Campaign fits log\(y\).*1 value\(s\) are not, first y\[1\] = {bad}"
        ):
            LOG.forward([2.0, bad, 5.0], fitter="Campaign")
    np.testing.assert_array_equal(LOG.outside_domain([1.0, 0.0, np.nan, 1e300]), [False, True, True, False])
    assert TargetTransform.of(True) is LOG and TargetTransform.of(False) is IDENTITY
    with pytest.raises(ValueError, match="'identity' or 'log'"):
        TargetTransform("sqrt")


def test_log_back_on_y_is_the_log_normal(shear_features):
    """The median, the delta-method std and the exact interval of the log-normal whose log is
    N(mu, s^2), from a real model of log G."""
    X, y = shear_features
    mu, s = GPRegressor(random_state=0).fit(X[:30], np.log(y[:30])).predict(X[30:], return_std=True)
    lognormal = lognorm(s=s, scale=np.exp(mu))
    median, std = LOG.mean_std(mu, s)
    np.testing.assert_allclose(median, lognormal.median(), rtol=1e-12)
    np.testing.assert_allclose(std, median * s, rtol=1e-12)
    np.testing.assert_allclose(LOG.inverse(mu), median, rtol=1e-12)
    lower, upper = LOG.interval(mu, s, level=0.9)
    np.testing.assert_allclose(lower, lognormal.ppf(0.05), rtol=1e-9)
    np.testing.assert_allclose(upper, lognormal.ppf(0.95), rtol=1e-9)
    lower, upper = IDENTITY.interval(mu, s, level=0.9)
    np.testing.assert_allclose(upper, norm(mu, s).ppf(0.95), rtol=1e-9)
    mean, std = IDENTITY.mean_std(mu, s)
    assert mean is mu and std is s  # the identity leaves them as they are
    with pytest.raises(ValueError, match="level must be in"):
        LOG.interval(mu, s, level=95)


def test_log_jacobian_turns_an_entropy_of_log_y_into_one_of_y(shear_features):
    """What the acquisitions add: a log-normal's entropy is its log's Gaussian entropy plus mu."""
    X, y = shear_features
    mu, s = GPRegressor(random_state=0).fit(X[:30], np.log(y[:30])).predict(X[30:], return_std=True)
    entropy_of_y = lognorm(s=s, scale=np.exp(mu)).entropy()
    np.testing.assert_allclose(gaussian_entropy(s) + LOG.log_jacobian(mu), entropy_of_y, rtol=1e-9)
    assert IDENTITY.log_jacobian(mu) is None


def test_values_beyond_float64_warn_naming_the_item():
    mu, s = np.array([1.0, 3.0, 708.0]), np.array([0.1, 0.2, 1.0])
    with pytest.warns(RuntimeWarning, match=r"interval's upper bound of 1 item\(s\), first at index 2"):
        lower, upper = LOG.interval(mu, s)
    assert np.isinf(upper[2]) and np.all(np.isfinite(upper[:2])) and np.all(lower > 0)
    with pytest.warns(RuntimeWarning, match=r"variance of 1 item\(s\), first at index 2"):
        LOG.covariance(mu, np.diag(s**2))
