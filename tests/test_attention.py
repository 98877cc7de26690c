import math

import numpy as np
import pytest

from classification.attention import in_lung_score, is_flagged

MASK = np.zeros((4, 4), bool)
MASK[:, :2] = True  # left half is lung: area fraction 0.5


@pytest.mark.parametrize(
    ("cam", "expected"),
    [
        (np.where(MASK, 1.0, 0.0), 1.0),  # all inside
        (np.where(MASK, 0.0, 1.0), 0.0),  # all outside
        (np.ones((4, 4)), 0.5),  # uniform = area fraction
        (np.where(MASK, 3.0, 1.0), 0.75),
        (np.where(MASK, 1.0, -5.0), 1.0),  # negative values carry no mass
    ],
)
def test_in_lung_known_answers(cam, expected):
    assert in_lung_score(cam, MASK) == pytest.approx(expected)


def test_empty_map_has_no_score_and_is_not_flagged():
    score = in_lung_score(np.zeros((4, 4)), MASK)
    assert math.isnan(score)
    assert not is_flagged(score, 0.6)


def test_flag_below_threshold():
    assert is_flagged(0.4, 0.6) and not is_flagged(0.6, 0.6)


def test_in_lung_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        in_lung_score(np.ones((3, 3)), MASK)
