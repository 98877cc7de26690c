import numpy as np
import pytest

from lunggate.segmentation.metrics import dice, iou

A = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], bool)
B = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]], bool)


@pytest.mark.parametrize(
    ("pred", "target", "expected_dice", "expected_iou"),
    [
        (A, A, 1.0, 1.0),
        (A, B, 2 * 2 / 6, 2 / 4),
        (A, ~A, 0.0, 0.0),
        (np.zeros((3, 3), bool), np.zeros((3, 3), bool), 1.0, 1.0),
        (np.zeros((3, 3), bool), A, 0.0, 0.0),
    ],
)
def test_known_answers(pred, target, expected_dice, expected_iou):
    assert dice(pred, target) == pytest.approx(expected_dice)
    assert iou(pred, target) == pytest.approx(expected_iou)


def test_metrics_reject_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        dice(A, np.zeros((4, 4), bool))
