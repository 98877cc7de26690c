"""``Pipeline.analyze``: the result contract, the plausibility check, batch = single."""

import json

import cv2
import numpy as np
import pytest

from conftest import SAMPLES
from lunggate.classification.attention import resolution_ceiling
from lunggate.classification.gating import lung_box
from lunggate.core import CLASS_NAMES
from lunggate.core.data import read_gray
from lunggate.core.film_format import to_corpus_format
from lunggate.pipeline.analyze import Pipeline
from lunggate.pipeline.result import OUTSIDE_LUNGS


def test_result_carries_everything_users_need(tiny_pipeline):
    image = read_gray(SAMPLES[0])
    r = tiny_pipeline.analyze(image)
    assert r.status == "ok" and r.reason is None and r.label in CLASS_NAMES
    assert r.mask.shape == image.shape and r.mask.dtype == bool
    assert r.cam.shape == image.shape and r.cam.min() >= 0 and r.cam.max() <= 1
    assert r.attention.flag in (None, OUTSIDE_LUNGS)
    assert r.models.segmenter.sha256 and r.models.masked is True
    assert r.models.classifier.name == "cnnx_masked"
    # Shipped weights run compiled; an unsaved classifier runs on TensorFlow.
    assert r.models.segmenter.runtime == "litert"
    assert r.models.classifier.runtime == "tensorflow"
    d = r.to_dict()
    assert "mask" not in d and "cam" not in d and d["label"] == r.label
    assert d["attention"]["in_lung"] == r.attention.in_lung
    att = r.attention
    assert att.lift == pytest.approx(att.in_lung / att.lung_area_fraction, abs=1e-3)
    box = tiny_pipeline.classifier.prepare([image], [r.mask])[1][0]
    assert att.ceiling == pytest.approx(
        resolution_ceiling(r.mask, box, tiny_pipeline.classifier.cam_grid), abs=1e-4
    )
    assert r.summary("x.png") == (
        f"x.png: {r.label} (p={r.probabilities[r.label]:.2f}), in-lung attention "
        f"{att.in_lung:.2f} = {att.lift:.1f}x chance {att.lung_area_fraction:.2f}, "
        f"ceiling {att.ceiling:.2f}" + (" FLAG outside_lungs" if att.flag else "")
    )


def test_guided_gradcam_comes_on_request_inside_the_crop(tiny_pipeline):
    image = read_gray(SAMPLES[1])
    assert tiny_pipeline.analyze(image).guided is None
    r = tiny_pipeline.analyze(image, guided=True)
    assert r.guided.shape == image.shape and np.isfinite(r.guided).all()
    assert r.guided.min() >= 0 and 0 < r.guided.max() <= 1
    gate = tiny_pipeline.classifier.config.gate
    box = lung_box(r.mask, gate.margin_fraction, gate.box_trim)
    inside = np.zeros(image.shape, bool)
    inside[box.top : box.bottom, box.left : box.right] = True
    assert r.guided[inside].any() and not r.guided[~inside].any()  # the crop it saw
    assert r.timings_ms["guided_gradcam"] > 0


def test_burned_in_marks_are_painted_over_before_both_stages(tiny_pipeline):
    image = read_gray(SAMPLES[0])
    marked = image.copy()
    marked[5:20, 5:40] = 255  # a label block in the corner, away from the lungs
    cleaned = tiny_pipeline.analyze(marked)
    assert cleaned.mark_removal.enabled and cleaned.mark_removal.removed_fraction > 15 * 35 / 256**2
    plain = tiny_pipeline.finder.without_mark_removal()
    kept = Pipeline(plain, tiny_pipeline.classifier).analyze(marked)
    assert kept.mark_removal.model_dump() == {
        "enabled": False,
        "removed_fraction": 0.0,
        "segmented_twice": False,
        "carved_lung_fraction": 0.0,
    }
    assert cleaned.mark_removal.carved_lung_fraction == 0.0  # the corner block lay on no lung
    assert cleaned.to_dict()["mark_removal"] == cleaned.mark_removal.model_dump()


def test_a_mark_against_a_lung_has_the_lungs_found_again(tiny_pipeline):
    image = read_gray(SAMPLES[0])
    lungs = tiny_pipeline.analyze(image).mask
    rows, cols = np.nonzero(lungs)
    row = int(np.median(rows))
    col = int(cols[rows == row].max())  # the outer edge of a lung, halfway down
    marked = image.copy()
    marked[row - 6 : row + 6, col - 3 : col + 9] = 255  # straddles the lung's border
    r = tiny_pipeline.analyze(marked)
    assert r.mark_removal.segmented_twice and r.mark_removal.removed_fraction > 0
    assert not tiny_pipeline.analyze(image).mark_removal.segmented_twice


def test_a_mark_on_a_lung_is_carved_out_of_the_result_and_counted(tiny_pipeline):
    image = read_gray(SAMPLES[0])
    lungs = tiny_pipeline.analyze(image).mask
    rows, cols = np.nonzero(cv2.erode(lungs.astype(np.uint8), np.ones((41, 41), np.uint8)))
    y, x = rows[len(rows) // 2], cols[len(cols) // 2]  # deep inside a lung
    marked = image.copy()
    marked[y - 6 : y + 6, x - 6 : x + 6] = 255
    r = tiny_pipeline.analyze(marked)
    assert not r.mask[y - 4 : y + 4, x - 4 : x + 4].any()
    carved = r.mark_removal.carved_lung_fraction
    assert 8 * 8 / lungs.sum() < carved < 16 * 16 / lungs.sum()  # about the marker's core


def test_blank_image_is_rejected_with_a_reason(tiny_pipeline):
    r = tiny_pipeline.analyze(np.full((256, 256), 90, np.uint8))
    assert r.status == "rejected" and "no plausible lungs" in r.reason
    assert r.label is None and r.probabilities is None and r.attention is None


def test_batch_matches_single_calls(tiny_pipeline):
    images = [read_gray(p) for p in SAMPLES[:3]] + [np.zeros((200, 180), np.uint8)]
    batch = tiny_pipeline.analyze_batch(images)
    for image, b in zip(images, batch, strict=True):
        s = tiny_pipeline.analyze(image)
        assert s.status == b.status and s.label == b.label
        if s.probabilities:
            for c in CLASS_NAMES:
                assert s.probabilities[c] == pytest.approx(b.probabilities[c], abs=1e-4)


def test_a_film_sent_at_another_size_is_answered_as_its_corpus_format_copy(tiny_pipeline):
    """The networks learned from 256 px films: a film sent larger is found and answered
    on its copy in that format, and its maps come back at the size it was sent."""
    image = read_gray(SAMPLES[0])
    big = cv2.resize(image, (512, 640), interpolation=cv2.INTER_CUBIC)
    sent, corpus = tiny_pipeline.analyze_batch([big, to_corpus_format(big)])
    assert sent.status == corpus.status == "ok"
    assert sent.probabilities == corpus.probabilities
    assert sent.attention == corpus.attention and sent.lung == corpus.lung
    assert sent.mask.shape == sent.cam.shape == (640, 512)
    assert sent.mask.mean() == pytest.approx(corpus.mask.mean(), abs=0.01)


def test_threshold_one_flags_every_prediction(tiny_pipeline):
    strict = Pipeline(tiny_pipeline.finder, tiny_pipeline.classifier, attention_threshold=1.0)
    r = strict.analyze(read_gray(SAMPLES[0]))
    assert r.attention.flag == OUTSIDE_LUNGS or r.attention.in_lung == 1.0


def test_default_threshold_is_the_images_lung_area_fraction(tiny_pipeline):
    r = tiny_pipeline.analyze(read_gray(SAMPLES[0]))
    assert r.attention.threshold == pytest.approx(r.lung.area_fraction, abs=1e-4)
    assert (r.attention.flag == OUTSIDE_LUNGS) == (r.attention.in_lung < r.attention.threshold)


def test_pipeline_rejects_bad_arguments(tiny_pipeline):
    with pytest.raises(ValueError, match="attention threshold"):
        Pipeline(tiny_pipeline.finder, tiny_pipeline.classifier, attention_threshold=2.0)
    with pytest.raises(ValueError, match="2-D uint8"):
        tiny_pipeline.analyze(np.zeros((64, 64, 3), np.uint8))


def test_predict_over_many_files_analyses_them_in_batches_and_keeps_their_order(
    tiny_pipeline, tmp_path, monkeypatch
):
    from lunggate.audit.predict import predict_files

    (tmp_path / "broken.png").write_bytes(b"not an image")
    files = [SAMPLES[0], tmp_path / "broken.png", SAMPLES[1], SAMPLES[2]]
    batches = []
    original = tiny_pipeline.analyze_batch

    def analyze_batch(images, guided=False):
        batches.append(len(images))
        return original(images, guided)

    monkeypatch.setattr(tiny_pipeline, "analyze_batch", analyze_batch)
    lines = list(predict_files(tiny_pipeline, files, tmp_path / "out", batch_size=3))
    assert batches == [2, 1]  # the unreadable file is left out of its batch
    assert [line.split(":")[0] for line in lines] == [f.name for f in files]
    assert "ERROR" in lines[1] and "ERROR" not in lines[0] + lines[2] + lines[3]
    one = original([read_gray(SAMPLES[2])])[0]
    written = (tmp_path / "out" / f"{SAMPLES[2].stem}.json").read_text()
    assert f'"label": "{one.label}"' in written


def test_predict_names_outputs_by_their_path_under_the_folder_given(tiny_pipeline, tmp_path):
    import shutil

    from lunggate.audit.predict import predict_files

    root = tmp_path / "films"
    for ward in ("a", "b"):
        (root / ward).mkdir(parents=True)
        shutil.copy(SAMPLES[0] if ward == "a" else SAMPLES[1], root / ward / "x.png")
    files = sorted(root.rglob("*.png"))
    out = tmp_path / "out"
    list(predict_files(tiny_pipeline, files, out, roots=[root]))
    a, b = (out / ward / "x.json" for ward in ("a", "b"))
    assert a.is_file() and b.is_file() and a.read_text() != b.read_text()
    pictures = json.loads(a.read_text())["overlays"]  # named in the result, beside it
    assert pictures["gradcam"] == "a/x_gradcam.png" and all(
        (out / f).is_file() for f in pictures.values()
    )
    assert (out / "a" / "x_gradcam.png").is_file()
    # A file given by itself is named by its stem.
    list(predict_files(tiny_pipeline, [SAMPLES[2]], out, roots=[SAMPLES[2]]))
    assert (out / f"{SAMPLES[2].stem}.json").is_file()
