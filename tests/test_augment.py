import albumentations as A
import numpy as np
import pytest

from conftest import synthetic_xray
from lunggate.core.augment import BurnedInMarks, xray_augmentation


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
