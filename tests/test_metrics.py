import numpy as np
import pytest

from skmatgp import metrics


def test_gaussian_nll_by_hand():
    # one point at the mean with std 1: 0.5*log(2*pi); one point 2 std away with std 2
    value = metrics.gaussian_nll([0.0, 4.0], [0.0, 0.0], [1.0, 2.0])
    by_hand = np.mean([0.5 * np.log(2 * np.pi), 0.5 * np.log(2 * np.pi * 4) + 0.5 * 4])
    assert value == pytest.approx(by_hand)


def test_coverage_by_hand():
    y = np.array([0.0, 1.0, 2.5, -3.0])
    # 95% half width is 1.95996 for std 1: points 0 and 1 inside, 2.5 and -3 outside
    assert metrics.interval_coverage(y, np.zeros(4), np.ones(4), 0.95) == 0.5
    # 50% half width is 0.6745: only 0 is inside
    assert metrics.interval_coverage(y, np.zeros(4), np.ones(4), 0.5) == 0.25


def test_calibration_of_a_calibrated_model_is_near_zero():
    rng = np.random.default_rng(0)
    std = rng.uniform(0.5, 2.0, 20000)
    y = rng.normal(0.0, std)
    assert metrics.miscalibration_area(y, np.zeros_like(y), std) < 0.01
    # an overconfident model (std halved) is visibly miscalibrated
    assert metrics.miscalibration_area(y, np.zeros_like(y), std / 2) > 0.15
    expected, observed = metrics.calibration_curve(y, np.zeros_like(y), std, n_levels=9)
    assert np.allclose(expected, np.linspace(0.1, 0.9, 9))
    assert np.allclose(observed, expected, atol=0.02)


def test_sharpness_and_report():
    assert metrics.sharpness([3.0, 4.0]) == pytest.approx(np.sqrt(12.5))
    report = metrics.regression_report([1.0, 2.0], [1.5, 2.0], [1.0, 1.0])
    assert report["mae"] == 0.25 and report["rmse"] == pytest.approx(np.sqrt(0.125))


def test_bad_std_is_refused():
    with pytest.raises(ValueError, match="positive"):
        metrics.gaussian_nll([1.0], [1.0], [0.0])
    with pytest.raises(ValueError, match="lengths"):
        metrics.gaussian_nll([1.0, 2.0], [1.0], [1.0])
