"""Finding the lungs of raw X-rays: mark removal and U-Net, twice where it matters."""

from dataclasses import replace

import numpy as np

from conftest import LeftHalf, half_lung_with_mark
from lunggate.segmentation.config import MarkRemovalConfig
from lunggate.segmentation.finder import LungFinder, rebuild
from lunggate.segmentation.marks import remove_marks, repaint_beyond


def test_a_mark_against_the_lungs_is_repainted_and_segmented_again():
    marked, lungs = half_lung_with_mark()
    plain = np.where(lungs, 60, 170).astype(np.uint8)
    segmenter = LeftHalf()
    found = LungFinder(segmenter, MarkRemovalConfig()).find([plain, marked])
    cleaned, removed = remove_marks(marked)
    repainted = repaint_beyond(marked, cleaned, removed, lungs)
    assert [len(batch) for batch in segmenter.seen] == [2, 1]  # only the marked one again
    np.testing.assert_array_equal(segmenter.seen[1][0], repainted)
    np.testing.assert_array_equal(found[1].image, repainted)
    np.testing.assert_array_equal(found[1].first, lungs)
    np.testing.assert_array_equal(found[1].marked, removed)
    assert found[0].first is None and (found[0].image == plain).all()
    # The cached first mask rebuilds the image without the U-Net.
    np.testing.assert_array_equal(
        rebuild(marked, found[1].first, MarkRemovalConfig())[0], repainted
    )


def test_without_repaint_the_lungs_are_found_once_on_the_plain_inpainting():
    marked, _ = half_lung_with_mark()
    segmenter = LeftHalf()
    (found,) = LungFinder(segmenter, replace(MarkRemovalConfig(), repaint=False)).find([marked])
    assert len(segmenter.seen) == 1 and found.first is None
    np.testing.assert_array_equal(found.image, remove_marks(marked)[0])


def test_with_removal_off_the_image_is_segmented_as_it_is():
    marked, _ = half_lung_with_mark()
    segmenter = LeftHalf()
    (found,) = LungFinder(segmenter, MarkRemovalConfig(enabled=False)).find([marked])
    assert len(segmenter.seen) == 1 and found.image is marked and not found.marked.any()


def test_a_mark_on_a_lung_is_carved_out_of_the_mask_but_not_out_of_its_quality():
    image = np.full((256, 256), 60, np.uint8)
    image[40:60, 20:40] = 255  # inside the stand-in's left-half lungs
    (found,) = LungFinder(LeftHalf(), MarkRemovalConfig()).find([image])
    assert found.marked[40:60, 20:40].all()
    assert not found.lungs.mask[40:60, 20:40].any()  # the mark itself is not lung
    assert found.lungs.mask[:, :128].sum() > 0.95 * 256 * 128  # the rest of the lung is
    assert found.lungs.quality.area_fraction == 0.5  # judged on the U-Net's answer
    (kept,) = LungFinder(LeftHalf(), replace(MarkRemovalConfig(), carve=False)).find([image])
    assert kept.lungs.mask[:, :128].all()
