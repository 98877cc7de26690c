import numpy as np
import pytest

from lunggate.core.masks import fill_holes, keep_largest
from lunggate.segmentation.config import QualityConfig
from lunggate.segmentation.postprocess import assess, clean_mask, count_components


def blobs(*boxes: tuple[int, int, int, int], size: int = 20) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    for r0, r1, c0, c1 in boxes:
        mask[r0:r1, c0:c1] = True
    return mask


def test_keep_largest_drops_small_components():
    mask = blobs((1, 10, 1, 6), (1, 12, 10, 16), (15, 17, 15, 17))
    kept = keep_largest(mask, 2)
    assert kept.sum() == 9 * 5 + 11 * 6
    assert not kept[15:17, 15:17].any()


def test_keep_largest_on_empty_mask_is_empty():
    assert not keep_largest(np.zeros((5, 5), bool)).any()


def test_fill_holes_fills_enclosed_pixels_only():
    ring = blobs((2, 8, 2, 8))
    ring[4:6, 4:6] = False
    filled = fill_holes(ring)
    assert filled[4:6, 4:6].all()
    assert filled.sum() == 36


def test_clean_mask_thresholds_keeps_two_and_fills():
    prob = np.zeros((20, 20), np.float32)
    prob[2:12, 2:7] = 0.9
    prob[2:12, 10:16] = 0.8
    prob[5, 12] = 0.2  # a hole inside the right lung
    prob[17, 17] = 0.95  # a speck
    mask = clean_mask(prob, 0.5)
    assert mask.sum() == 10 * 5 + 10 * 6
    assert count_components(mask) == 2


def test_assess_accepts_two_plausible_lungs():
    q = assess(blobs((2, 16, 2, 8), (2, 16, 11, 18)))
    assert q.ok and q.components == 2 and q.reason is None
    assert q.area_fraction == pytest.approx((14 * 6 + 14 * 7) / 400)


@pytest.mark.parametrize(
    ("mask", "reason"),
    [
        (np.zeros((20, 20), bool), "area fraction"),
        (np.ones((20, 20), bool), "area fraction"),
        (blobs((2, 16, 2, 16)), "1 lung component"),
    ],
)
def test_assess_rejects_implausible_masks(mask, reason):
    q = assess(mask, QualityConfig())
    assert not q.ok
    assert reason in q.reason
