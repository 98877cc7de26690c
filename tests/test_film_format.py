"""The corpus format every film is found in, and the way back to the film as sent."""

import cv2
import numpy as np

from lunggate.core.film_format import CORPUS_SIDE, to_corpus_format, to_shape


def disc(shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    h, w = shape
    cv2.ellipse(mask, (w // 2, h // 2), (w // 4, h // 3), 0, 0, 360, 1, -1)
    return mask.astype(bool)


def test_a_corpus_format_film_is_left_as_it_is():
    film = np.random.default_rng(0).integers(0, 256, (CORPUS_SIDE, CORPUS_SIDE), np.uint8)
    assert to_corpus_format(film) is film


def test_any_other_film_is_squashed_to_the_corpus_format_by_area():
    film = np.random.default_rng(0).integers(0, 256, (1024, 768), np.uint8)
    out = to_corpus_format(film)
    assert out.shape == (CORPUS_SIDE, CORPUS_SIDE) and out.dtype == np.uint8
    expected = cv2.resize(film, (CORPUS_SIDE, CORPUS_SIDE), interpolation=cv2.INTER_AREA)
    assert np.array_equal(out, expected)  # as cxr4's films were made


def test_a_mask_goes_back_to_the_films_size_as_a_smooth_bool_mask():
    mask = disc((CORPUS_SIDE, CORPUS_SIDE))
    back = to_shape(mask, (1024, 768))
    assert back.shape == (1024, 768) and back.dtype == bool
    assert abs(back.mean() - mask.mean()) < 0.005
    # Linear then halved: the outline does not come back in 4x3-pixel steps.
    assert np.abs(back ^ disc((1024, 768))).mean() < 0.01


def test_a_map_goes_back_in_its_range_and_a_same_size_map_unchanged():
    cam = np.linspace(0, 1, CORPUS_SIDE * CORPUS_SIDE, dtype=np.float32)
    cam = cam.reshape(CORPUS_SIDE, CORPUS_SIDE)
    back = to_shape(cam, (512, 300))
    assert back.shape == (512, 300) and back.dtype == np.float32
    assert back.min() >= 0 and back.max() <= 1
    assert to_shape(cam, cam.shape) is cam
