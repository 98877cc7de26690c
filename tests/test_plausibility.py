"""The plausibility check: known answers for its signals, and what the pipeline refuses."""

import cv2
import numpy as np
import pytest

from conftest import SAMPLES
from lunggate.core.data import read_gray
from lunggate.segmentation.config import QualityConfig
from lunggate.segmentation.plausibility import confidence, judge, polarity, texture


def test_confidence_is_one_when_sure_and_zero_at_one_half():
    assert confidence(np.array([[0.0, 1.0], [1.0, 0.0]])) == 1.0
    assert confidence(np.full((4, 4), 0.5)) == 0.0
    assert confidence(np.array([[0.25, 0.75]])) == pytest.approx(0.5)


def test_texture_is_zero_on_flat_images_and_high_on_noise():
    assert texture(np.full((300, 200), 90, np.uint8)) == pytest.approx(0.0, abs=1e-4)
    noise = np.random.default_rng(0).integers(0, 256, (512, 512), dtype=np.uint8)
    assert texture(noise) > 20


def test_polarity_is_negative_for_dark_lungs_and_positive_for_bright_ones():
    mask = np.zeros((4, 4), bool)
    mask[:, 0] = mask[:, 3] = True
    image = np.where(mask, 0, 255).astype(np.uint8)
    assert polarity(image, mask) == pytest.approx(-1.0)
    assert polarity(255 - image, mask) == pytest.approx(1.0)
    assert polarity(image, np.zeros((4, 4), bool)) == 0.0


@pytest.mark.parametrize(
    ("figures", "reason"),
    [
        ((0.80, 1.0, -0.2), "unsure"),
        ((0.99, 20.0, -0.2), "not a radiograph"),
        ((0.99, 1.0, 0.1), "inverted"),
        ((0.99, 1.0, -0.2), None),
    ],
)
def test_judge_names_the_failing_signal(monkeypatch, figures, reason):
    import lunggate.segmentation.plausibility as plausibility

    for name, value in zip(("confidence", "texture", "polarity"), figures, strict=True):
        monkeypatch.setattr(plausibility, name, lambda *_, v=value: v)
    seen = judge(
        np.zeros((2, 2), np.uint8), np.zeros((2, 2), bool), np.zeros((2, 2)), QualityConfig()
    )
    assert seen.ok == (reason is None)
    assert reason is None or reason in seen.reason


@pytest.fixture(scope="module")
def finder():
    from lunggate.segmentation.finder import LungFinder

    return LungFinder.load()


def test_films_pass_and_their_inverted_rotated_and_noise_twins_are_refused(finder):

    films = [read_gray(p) for p in SAMPLES]
    noise = np.random.default_rng(1).integers(0, 256, (600, 600), dtype=np.uint8)
    checker = ((np.indices((256, 256)).sum(0) // 16 % 2) * 255).astype(np.uint8)
    bad = [255 - films[0], cv2.rotate(films[1], cv2.ROTATE_90_CLOCKWISE), noise, checker]
    found = finder.find(films + bad)
    assert [f.lungs.quality.ok for f in found] == [True] * len(films) + [False] * len(bad)
    assert all(f.lungs.quality.plausibility is not None for f in found[: len(films)])


def test_pipeline_result_says_why_an_image_is_not_a_chest_xray(tiny_pipeline):
    result = tiny_pipeline.analyze(255 - read_gray(SAMPLES[0]))
    assert result.status == "rejected" and result.label is None
    assert result.lung.plausibility.ok is False
    assert "not" in result.reason and "no plausible lungs" not in result.reason


def test_eval_plausibility_counts_refusals_per_split_and_catches_per_kind(
    tiny_dataset, tmp_path, finder
):
    import json

    from lunggate.core.data import scan_dataset
    from lunggate.core.splits import write_split
    from lunggate.segmentation.plausibility_report import TRANSFORMS, evaluate_plausibility

    records = scan_dataset(tiny_dataset)
    split = {r.id: ("val" if r.id.endswith("img0") else "test") for r in records}
    write_split(tmp_path / "split.csv", records, split)
    out = tmp_path / "plausibility.json"
    report = evaluate_plausibility(finder, tiny_dataset, out, tmp_path / "split.csv", per_kind=2)
    assert json.loads(out.read_text()) == report
    for name, n in (("val", 4), ("test", len(records) - 4)):
        real = report["real_xrays"][name]
        assert real["n"] == n and real["wrongly_rejected"] == len(real["ids"])
        assert sum(real["reasons"].values()) == real["wrongly_rejected"]
    assert set(report["negatives"]) == {*TRANSFORMS, "noise", "checkerboard", "cartoon", "ramp"}
    assert report["negatives"]["noise"]["n"] == 2
    assert report["negatives"]["checkerboard"]["caught"] == 2
    assert report["thresholds"]["chosen_on"] == "val"
