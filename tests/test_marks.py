"""Burned-in mark removal: what counts as a mark, and that nothing else moves."""

import cv2
import numpy as np
import pytest

from conftest import half_lung_with_mark
from lunggate.segmentation.config import MarkRemovalConfig
from lunggate.segmentation.marks import mark_mask, remove_marks


def gradient(size: int = 256) -> np.ndarray:
    """A smooth grey ramp from 40 to 160: nothing on it is a mark."""
    return np.tile(np.linspace(40, 160, size), (size, 1)).astype(np.uint8)


def with_letter(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, "R", (30, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 255, 2, cv2.LINE_AA)
    return out


def test_a_white_letter_is_painted_over_and_nothing_far_from_it_changes():
    clean = gradient()
    marked = with_letter(clean)
    cleaned, removed = remove_marks(marked)
    letter = marked != clean
    assert removed[letter & (marked >= 230)].all()
    # Inpainted from the ramp around it: close to what lay under the letter.
    assert np.abs(cleaned[letter].astype(int) - clean[letter]).max() < 40
    assert (cleaned[~removed] == marked[~removed]).all()
    far = cv2.dilate(removed.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    assert (cleaned[far] == clean[far]).all()


def test_the_pad_covers_the_anti_aliased_rim():
    marked = with_letter(gradient())
    rim = (marked != gradient()) & (marked < 230)
    assert rim.any() and mark_mask(marked)[rim].all()


def test_a_ring_markers_dark_core_goes_with_its_ring():
    image = gradient()
    cv2.circle(image, (128, 128), 8, 255, -1)
    cv2.circle(image, (128, 128), 4, 90, -1)
    assert mark_mask(image)[128, 128]


@pytest.mark.parametrize(
    "draw",
    [
        lambda im: cv2.rectangle(im, (0, 0), (120, 255), 250, -1),  # bright anatomy: too big
        lambda im: cv2.circle(im, (128, 128), 20, 229, -1),  # below the threshold
    ],
    ids=["large_bright_region", "below_threshold"],
)
def test_what_is_not_a_mark_is_left_exactly_as_it_is(draw):
    image = gradient()
    draw(image)
    cleaned, removed = remove_marks(image)
    assert not removed.any() and (cleaned == image).all()


def test_a_thin_frame_around_the_image_does_not_swallow_its_inside():
    image = gradient()
    cv2.rectangle(image, (0, 0), (255, 255), 255, 1)
    removed = mark_mask(image)
    assert removed[0].all() and not removed[10:-10, 10:-10].any()


def test_switched_off_returns_the_image_untouched():
    marked = with_letter(gradient())
    cleaned, removed = remove_marks(marked, MarkRemovalConfig(enabled=False))
    assert cleaned is marked and not removed.any()


def test_sizes_scale_with_the_image():
    small, large = np.zeros((256, 256), np.uint8), np.zeros((512, 512), np.uint8)
    small[100, 100] = large[200, 200] = 255
    assert mark_mask(small).sum() == 5 * 5  # 2 px pad at 256
    assert mark_mask(large).sum() == 9 * 9  # 4 px at 512


def test_cache_tag_names_the_settings():
    assert MarkRemovalConfig().tag() == MarkRemovalConfig().tag()
    assert MarkRemovalConfig().tag() != MarkRemovalConfig(threshold=200).tag()


def test_repainting_fills_a_mark_beyond_the_lungs_from_the_body_alone():
    from lunggate.segmentation.marks import repaint_beyond

    marked, lungs = half_lung_with_mark()
    cleaned, removed = remove_marks(marked)
    repainted = repaint_beyond(marked, cleaned, removed, lungs)
    beyond = removed & ~lungs
    beyond[:, :130] = False  # the two columns next to the border mix both sides
    # The plain inpainting drew the lung's dark into the body; the repaint does not.
    assert cleaned[beyond].min() < 100
    assert repainted[beyond].min() >= 150
    assert (repainted[~removed] == marked[~removed]).all()
    deeper = removed & lungs
    deeper[:, 127] = False  # deeper inside than the 1 px inset at 256: left as painted
    assert deeper.any() and (repainted[deeper] == cleaned[deeper]).all()


def test_repainting_leaves_a_mark_inside_the_lungs_alone():
    from lunggate.segmentation.marks import repaint_beyond

    marked, lungs = half_lung_with_mark()
    cleaned, removed = remove_marks(marked)
    everything = np.ones_like(lungs)
    assert repaint_beyond(marked, cleaned, removed, everything) is cleaned


def test_a_mark_out_of_the_inpaintings_reach_of_the_lungs_is_not_repainted():
    from lunggate.segmentation.marks import repaint_beyond

    marked, lungs = half_lung_with_mark()
    marked[100:140, 128:150] = 170  # the mark against the border goes...
    marked[100:140, 200:220] = 255  # ...and one far from the lungs comes
    cleaned, removed = remove_marks(marked)
    assert repaint_beyond(marked, cleaned, removed, lungs) is cleaned
    # Skipping it loses nothing: painting it again would give the same pixels.
    body = cv2.inpaint(marked, (removed | lungs).astype(np.uint8), 3, cv2.INPAINT_TELEA)
    assert (body[removed] == cleaned[removed]).all()


def test_the_marks_own_pixels_leave_the_lungs_and_the_rim_stays():
    from lunggate.segmentation.marks import carve_marks

    lungs = np.ones((256, 256), bool)
    marked = np.zeros_like(lungs)
    marked[100:120, 50:70] = True
    carved = carve_marks(lungs, marked, MarkRemovalConfig())
    assert not carved[101:119, 51:69].any()  # the mark less a 1 px rim (at 256) is out
    assert carved[100, 50:70].all() and carved[100:120, 50].all()  # its rim stays
    assert carved[~marked].all()  # nothing beyond the marked moves


def test_carving_off_or_with_nothing_painted_keeps_the_lungs():
    from lunggate.segmentation.marks import carve_marks

    lungs = np.ones((64, 64), bool)
    marked = np.zeros_like(lungs)
    assert carve_marks(lungs, marked, MarkRemovalConfig()) is lungs
    marked[10:20, 10:20] = True
    assert carve_marks(lungs, marked, MarkRemovalConfig(carve=False)) is lungs
