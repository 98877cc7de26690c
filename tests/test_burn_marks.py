import cv2
import numpy as np
import pytest

from conftest import synthetic_xray
from lunggate.lab.burn_marks import KINDS, BurnMarksConfig, burn_marks


def sample(size: int = 128):
    image, mask = synthetic_xray(5, size)
    return image, mask > 0


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_changes_pixels_outside_the_lungs_only(kind):
    image, mask = sample()
    out = burn_marks(image, mask, BurnMarksConfig(kinds=(kind,)))
    np.testing.assert_array_equal(out[mask], image[mask])
    assert (out != image).sum() > 5


def test_protect_margin_keeps_a_border_around_the_lungs():
    image, mask = sample()
    config = BurnMarksConfig(protect_margin=0.05)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))  # radius 0.05 * 128 = 6
    grown = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    out = burn_marks(image, mask, config)
    np.testing.assert_array_equal(out[grown], image[grown])
    unprotected = burn_marks(image, mask, BurnMarksConfig())
    assert (unprotected[grown & ~mask] != image[grown & ~mask]).any()


def test_same_seed_same_image_and_index_changes_layout():
    image, mask = sample()
    a = burn_marks(image, mask, BurnMarksConfig(seed=1), index=3)
    b = burn_marks(image, mask, BurnMarksConfig(seed=1), index=3)
    c = burn_marks(image, mask, BurnMarksConfig(seed=1), index=4)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_input_is_not_modified():
    image, mask = sample()
    before = image.copy()
    burn_marks(image, mask)
    np.testing.assert_array_equal(image, before)


def test_rejects_unknown_kind_and_shape_mismatch():
    image, mask = sample()
    with pytest.raises(ValueError, match="unknown mark kind"):
        burn_marks(image, mask, BurnMarksConfig(kinds=("sticker",)))
    with pytest.raises(ValueError, match="differ in shape"):
        burn_marks(image, mask[:10])
