import math

import numpy as np
import pytest

from lunggate.classification.attention import (
    flag_threshold,
    flags,
    in_lung_score,
    is_flagged,
    resolution_ceiling,
)
from lunggate.core.errors import LunggateError

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


def test_default_threshold_is_chance_level():
    # A uniform map scores exactly the lung area fraction: at chance, not below it.
    uniform = in_lung_score(np.ones_like(MASK, float), MASK)
    assert flag_threshold(None, MASK.mean()) == pytest.approx(MASK.mean())
    assert not is_flagged(uniform, flag_threshold(None, MASK.mean()))
    assert flag_threshold(0.7, MASK.mean()) == 0.7
    with pytest.raises(LunggateError, match="within"):
        flag_threshold(1.5, 0.2)
    scores = np.array([0.1, 0.5, np.nan, 0.3])
    areas = np.array([0.2, 0.2, 0.2, 0.4])
    assert flags(scores, areas, None).tolist() == [True, False, False, True]
    assert flags(scores, areas, 0.4).tolist() == [True, False, False, True]


def test_in_lung_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        in_lung_score(np.ones((3, 3)), MASK)


def test_resolution_ceiling_grows_with_the_cam_grid():
    from lunggate.classification.gating import Box

    mask = np.zeros((64, 64), bool)
    mask[8:56, 8:28] = mask[8:56, 36:56] = True
    box = Box(0, 64, 0, 64)
    coarse = resolution_ceiling(mask, box, (4, 4))
    fine = resolution_ceiling(mask, box, (16, 16))
    assert mask.mean() < coarse < fine <= 1.0
    assert resolution_ceiling(mask, box, (64, 64)) == pytest.approx(1.0)
