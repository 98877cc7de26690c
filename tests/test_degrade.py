"""The chain test's degradations: what each does to a known image."""

import cv2
import numpy as np
import pytest

from lunggate.lab.degrade import DEGRADATIONS, enlarged, jpeg, resampled


def grain(size: int = 256) -> np.ndarray:
    """A film-like image: a smooth gradient under fine one-pixel grain."""
    ramp = np.linspace(40, 200, size)[None, :].repeat(size, 0)
    checks = (np.indices((size, size)).sum(0) % 2) * 30.0
    return (ramp + checks).astype(np.uint8)


@pytest.mark.parametrize("name", list(DEGRADATIONS))
def test_each_degradation_keeps_the_film_grey_and_repeats(name):
    image = grain(200)
    out = DEGRADATIONS[name](image)
    assert out.ndim == 2 and out.dtype == np.uint8
    assert np.array_equal(out, DEGRADATIONS[name](image))  # the test repeats bit for bit
    assert not np.array_equal(out, image)


def test_resampling_takes_the_fine_grain_and_keeps_the_gradient():
    image = grain()
    out = resampled(96)(image).astype(float)
    # One-pixel checks average out at 96 px; the ramp underneath survives.
    assert (
        np.abs(np.diff(out, axis=0)).mean()
        < 3
        < np.abs(np.diff(image.astype(float), axis=0)).mean()
    )
    assert abs(out[:, 20].mean() - image[:, 20].mean()) < 20
    assert out[:, -20].mean() - out[:, 20].mean() > 100


def test_lower_jpeg_quality_loses_more():
    image = grain()
    error = {q: np.abs(jpeg(q)(image).astype(float) - image).mean() for q in (20, 50, 95)}
    assert error[20] > error[50] > error[95] > 0


def test_equalisation_spreads_the_grey_levels():
    image = grain()[:, :128]  # a narrow band of greys
    out = DEGRADATIONS["histogram equalised"](image)
    assert np.array_equal(out, cv2.equalizeHist(image))
    assert np.ptp(out) > np.ptp(image)


def test_enlarging_sends_the_same_film_at_a_larger_size():
    image = cv2.GaussianBlur(grain(), (0, 0), 1.5)  # detail a 256 px film can hold
    out = enlarged(512)(image)
    assert out.shape == (512, 512)
    # Area-averaged back to the film's size, the enlarged film is the film again.
    back = cv2.resize(out, image.shape[::-1], interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(back - image).mean() < 1


def test_the_other_degradations_keep_the_films_size():
    image = grain(200)
    for name, degrade in DEGRADATIONS.items():
        if not name.startswith("enlarged"):
            assert degrade(image).shape == image.shape, name
