"""Finding the lungs of raw X-rays: overlay removal and U-Net, twice where it matters."""

from dataclasses import replace

import numpy as np

from conftest import LeftHalf, half_lung_with_mark
from segmentation.burnin import remove_burn_in, repaint_beyond
from segmentation.config import BurnInConfig
from segmentation.find import find_lungs, rebuild


def test_a_mark_against_the_lungs_is_repainted_and_segmented_again():
    marked, lungs = half_lung_with_mark()
    plain = np.where(lungs, 60, 170).astype(np.uint8)
    segmenter = LeftHalf()
    found = find_lungs(segmenter, [plain, marked], BurnInConfig())
    cleaned, removed = remove_burn_in(marked)
    repainted = repaint_beyond(marked, cleaned, removed, lungs)
    assert [len(batch) for batch in segmenter.seen] == [2, 1]  # only the marked one again
    np.testing.assert_array_equal(segmenter.seen[1][0], repainted)
    np.testing.assert_array_equal(found[1].image, repainted)
    np.testing.assert_array_equal(found[1].first, lungs)
    np.testing.assert_array_equal(found[1].overlay, removed)
    assert found[0].first is None and (found[0].image == plain).all()
    # The cached first mask rebuilds the image without the U-Net.
    np.testing.assert_array_equal(rebuild(marked, found[1].first, BurnInConfig())[0], repainted)


def test_without_repaint_the_lungs_are_found_once_on_the_plain_inpainting():
    marked, _ = half_lung_with_mark()
    segmenter = LeftHalf()
    (found,) = find_lungs(segmenter, [marked], replace(BurnInConfig(), repaint=False))
    assert len(segmenter.seen) == 1 and found.first is None
    np.testing.assert_array_equal(found.image, remove_burn_in(marked)[0])


def test_with_removal_off_the_image_is_segmented_as_it_is():
    marked, _ = half_lung_with_mark()
    segmenter = LeftHalf()
    (found,) = find_lungs(segmenter, [marked], BurnInConfig(enabled=False))
    assert len(segmenter.seen) == 1 and found.image is marked and not found.overlay.any()
