"""The shipped weights on the bundled samples (test-split images no model was trained on)."""

import json

import pytest

from conftest import SAMPLES
from lunggate import modelfile
from lunggate.data import read_gray, read_mask
from lunggate.paths import DATA_DIR, REPORTS_DIR, SEGMENTER_WEIGHTS
from segmentation.metrics import dice
from segmentation.segmenter import UNetSegmenter


@pytest.fixture(scope="module")
def segmenter():
    return UNetSegmenter.load()


def test_shipped_unet_finds_the_lungs_on_every_sample(segmenter):
    images = [read_gray(p) for p in SAMPLES]
    truths = [read_mask(DATA_DIR / "sample_masks" / p.name) for p in SAMPLES]
    for path, found, truth in zip(SAMPLES, segmenter.segment(images), truths, strict=True):
        assert found.quality.ok, path.name
        assert dice(found.mask, truth) > 0.9, path.name


def test_segmentation_report_is_from_the_shipped_weights():
    report = json.loads((REPORTS_DIR / "segmentation.json").read_text())
    assert report["weights_sha256"] == modelfile.sha256(SEGMENTER_WEIGHTS)
    assert report["split"] == "test" and report["n"] == 719


def test_shipped_weight_files_stay_small():
    for path in (DATA_DIR / "models").glob("*.npz"):
        assert path.stat().st_size < 12 * 1024 * 1024, path.name
