import albumentations as A
import numpy as np
import pytest

from conftest import synthetic_xray
from lunggate.core.augment import BurnedInMarks, device_variation, xray_augmentation


def test_marks_repeat_for_the_same_seed_and_differ_across_seeds():
    image, _ = synthetic_xray(0, 128)
    marks = BurnedInMarks(p=1.0)
    a, b, c = (marks.apply(image, seed=s) for s in (5, 5, 6))
    assert a.shape == image.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, image)


def test_marks_leave_the_mask_and_the_input_array_alone():
    image, mask = synthetic_xray(1, 64)
    before = image.copy()
    transform = A.Compose([BurnedInMarks(p=1.0)], seed=3)
    out = transform(image=image, mask=mask)
    np.testing.assert_array_equal(out["mask"], mask)
    np.testing.assert_array_equal(image, before)
    assert not np.array_equal(out["image"], image)


@pytest.mark.parametrize("marks, changed", [(0.0, False), (1.0, True)])
def test_augmentation_marks_only_when_asked(marks, changed):
    image, _ = synthetic_xray(2, 64)
    augment = A.Compose(
        [t for t in xray_augmentation(marks=marks).transforms if isinstance(t, BurnedInMarks)],
        seed=0,
    )
    out = augment(image=image)["image"]
    assert (not np.array_equal(out, image)) == changed


def test_device_variation_matches_another_films_grey_levels():
    # The first device change gives a film another film's histogram: a dark film matched
    # to a bright reference takes its grey levels.
    image, _ = synthetic_xray(3, 64)
    dark = (image // 3).astype(np.uint8)
    bright = np.clip(image.astype(int) + 90, 0, 255).astype(np.uint8)
    matching = device_variation()[0]
    assert isinstance(matching, A.HistogramMatching)
    matching = A.Compose([A.HistogramMatching(blend_ratio=(1.0, 1.0), p=1.0)], seed=0)
    out = matching(image=dark, hm_metadata=[bright])["image"]
    gap = float(bright.mean() - dark.mean())
    assert abs(float(out.mean()) - float(bright.mean())) < 0.2 * gap
    # ...while keeping its own picture: the darkest pixels stay the darkest.
    darkest = dark.ravel() <= np.percentile(dark, 10)
    assert out.ravel()[darkest].mean() < np.percentile(out, 20)


def test_device_augmentation_needs_a_reference_film_and_keeps_the_mask():
    image, mask = synthetic_xray(4, 64)
    augment = xray_augmentation(devices=True)
    augment.set_random_seed(0)
    for _ in range(10):
        out = augment(image=image, mask=mask, hm_metadata=[image[::-1].copy()])
        assert out["image"].shape == image.shape and out["image"].dtype == np.uint8
    matching = A.Compose([A.HistogramMatching(p=1.0)])
    with pytest.raises(ValueError, match="hm_metadata"):
        matching(image=image)
