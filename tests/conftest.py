"""Shared fixtures: a tiny synthetic dataset in the real layout, and a clean Keras session."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lunggate.core import CLASS_NAMES
from lunggate.core.paths import DEFAULT_DATA_ROOT

REAL_DATA = DEFAULT_DATA_ROOT


def synthetic_xray(seed: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A grey image with two bright-edged dark 'lungs' and their mask (uint8 0/255)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.uint8)
    for cx in (0.3, 0.7):
        center = (int(cx * size), size // 2)
        axes = (int(size * 0.14), int(size * 0.3))
        cv2.ellipse(mask, center, axes, 0, 0, 360, 255, -1)
    image = np.full((size, size), 170, np.uint8)
    image[mask > 0] = 60
    noise = rng.integers(0, 20, (size, size), dtype=np.uint8)
    return cv2.add(image, noise), mask


def half_lung_with_mark() -> tuple[np.ndarray, np.ndarray]:
    """Dark lung on the left half, body (170) on the right, a white block against the border."""
    lungs = np.zeros((256, 256), bool)
    lungs[:, :128] = True
    image = np.where(lungs, 60, 170).astype(np.uint8)
    image[100:140, 128:150] = 255
    return image, lungs


class LeftHalf:
    """A stand-in U-Net that always finds the left half and records what it saw."""

    def __init__(self) -> None:
        self.seen: list[list[np.ndarray]] = []

    def segment(self, images):
        from lunggate.segmentation.postprocess import assess
        from lunggate.segmentation.segmenter import LungSegmentation  # imports the Keras backend

        self.seen.append([img.copy() for img in images])
        masks = [np.zeros(img.shape, bool) for img in images]
        for m in masks:
            m[:, : m.shape[1] // 2] = True
        return [LungSegmentation(m, assess(m)) for m in masks]


def write_dataset(root: Path, per_class: int = 3, size: int = 64) -> Path:
    """Write ``<Class>/images`` and ``<Class>/masks`` PNGs of synthetic X-rays."""
    for c, label in enumerate(CLASS_NAMES):
        (root / label / "images").mkdir(parents=True)
        (root / label / "masks").mkdir(parents=True)
        for k in range(per_class):
            image, mask = synthetic_xray(100 * c + k, size)
            cv2.imwrite(str(root / label / "images" / f"img{k}.png"), image)
            cv2.imwrite(str(root / label / "masks" / f"img{k}.png"), mask)
    return root


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "cxr")


@pytest.fixture
def keras_session():
    """Clears Keras' global graph state after a test that builds models."""
    from lunggate.core.backend import keras

    yield
    keras.backend.clear_session()


requires_real_data = pytest.mark.skipif(
    not REAL_DATA.is_dir(), reason=f"the real corpus is not at {REAL_DATA}"
)


SAMPLES = sorted((Path(__file__).parents[1] / "data" / "samples").glob("*.png"))


@pytest.fixture(scope="session")
def tiny_pipeline():
    """The shipped U-Net with a tiny random classifier: the real plumbing, fast to build."""
    from lunggate.classification.classifier import LungClassifier, new_model
    from lunggate.classification.config import AnswerConfig, ClassifierConfig, GateConfig
    from lunggate.core.backend import keras
    from lunggate.pipeline.analyze import Pipeline
    from lunggate.segmentation.finder import LungFinder

    config = ClassifierConfig(backbone="cnnx", gate=GateConfig(input_size=64))
    answer = AnswerConfig(familiarity_threshold=-1e9)  # every film familiar
    # The same random weights whichever tests ran first: some weights give a film no
    # Grad-CAM at all, which tests of the result's figures cannot compare.
    keras.utils.set_random_seed(0)
    return Pipeline(LungFinder.load(), LungClassifier(new_model(config), config, answer))
