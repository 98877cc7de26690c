import numpy as np
import pytest

from lunggate.classification.calibration import expected_calibration_error, fit_temperature, softmax


def test_softmax_rows_sum_to_one_and_temperature_flattens():
    logits = np.array([[2.0, 0.0, -1.0]])
    assert softmax(logits).sum() == pytest.approx(1.0)
    assert softmax(logits, 4.0).max() < softmax(logits).max()


def test_perfectly_confident_and_right_has_zero_ece():
    probs = np.eye(4)[[0, 1, 2, 3]]
    assert expected_calibration_error(probs, np.array([0, 1, 2, 3])) == pytest.approx(0.0)


def test_overconfident_half_right_has_ece_one_half():
    probs = np.eye(2)[[0, 0]]
    assert expected_calibration_error(probs, np.array([0, 1])) == pytest.approx(0.5)


def test_fit_temperature_cools_overconfident_logits():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 2000)
    honest = np.eye(4)[labels] * 1.0 + rng.normal(0, 1.0, (2000, 4))
    t = fit_temperature(honest * 5, labels)  # same ranking, five times too sharp
    assert 3.5 < t < 7
