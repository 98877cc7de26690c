"""U-Net build, the weights file round trip and the segmenter's contract."""

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import synthetic_xray
from lunggate.core import modelfile
from lunggate.core.errors import ModelFileError
from lunggate.segmentation.config import SegTrainConfig, UNetConfig
from lunggate.segmentation.model import build_unet, to_input
from lunggate.segmentation.segmenter import UNetSegmenter

TINY = UNetConfig(input_size=64, decoder_filters=(16, 8, 8, 4, 4))


def save_tiny(path: Path) -> UNetSegmenter:
    model = build_unet(TINY)
    modelfile.save(model.get_weights(), path, {"config": {"unet": TINY.to_dict()}})
    return UNetSegmenter(model, TINY)


def test_unet_maps_grey_input_to_one_probability_channel(keras_session):
    model = build_unet(TINY)
    out = model.predict(np.zeros((2, 64, 64, 1), np.float32), verbose=0)
    assert out.shape == (2, 64, 64, 1)
    assert ((out >= 0) & (out <= 1)).all()


def test_to_input_standardizes_each_image():
    images = [np.full((80, 100), 10, np.uint8), np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)]
    images[1] = (images[1] % 256).astype(np.uint8)
    x = to_input(images, 64)
    assert x.shape == (2, 64, 64, 1) and x.dtype == np.float32
    assert np.allclose(x[0], 0)  # a flat image stays flat, no division by zero
    assert abs(x[1].mean()) < 1e-4 and x[1].std() == pytest.approx(1, abs=1e-3)


def test_predict_round_trip_through_weights_file(tmp_path: Path, keras_session):
    original = save_tiny(tmp_path / "seg.npz")
    loaded = UNetSegmenter.load(tmp_path / "seg.npz")
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 255, (90, 70), dtype=np.uint8),
        rng.integers(0, 255, (64, 64), dtype=np.uint8),
    ]
    before, after = original.predict_proba(images), loaded.predict_proba(images)
    assert [p.shape for p in after] == [(90, 70), (64, 64)]
    for a, b in zip(before, after, strict=True):
        assert np.abs(a - b).max() < 2e-2  # float16 storage
    results = loaded.segment(images)
    assert results[0].mask.shape == (90, 70) and results[0].mask.dtype == bool
    assert loaded.weights_sha256 == modelfile.sha256(tmp_path / "seg.npz")


def test_sidecar_records_config_and_versions(tmp_path: Path, keras_session):
    save_tiny(tmp_path / "seg.npz")
    meta = modelfile.read_meta(tmp_path / "seg.npz")
    assert meta["config"]["unet"]["input_size"] == 64
    assert {"tensorflow", "segmentation-models", "tf-keras"} <= meta["versions"].keys()


def test_load_rejects_missing_file(tmp_path: Path):
    with pytest.raises(ModelFileError, match="does not exist"):
        UNetSegmenter.load(tmp_path / "nothing.npz")


def test_load_rejects_weights_of_another_architecture(tmp_path: Path, keras_session):
    save_tiny(tmp_path / "seg.npz")
    other = {"unet": UNetConfig(encoder="vgg16", input_size=64).to_dict()}
    modelfile.sidecar(tmp_path / "seg.npz").write_text(json.dumps({"config": other}))
    with pytest.raises(ModelFileError, match="weight arrays"):
        UNetSegmenter.load(tmp_path / "seg.npz")


def test_train_few_steps_writes_a_loadable_checkpoint(
    tiny_dataset: Path, tmp_path: Path, keras_session
):
    from lunggate.core.data import scan_dataset
    from lunggate.core.splits import write_split
    from lunggate.segmentation.train import train_segmenter

    records = scan_dataset(tiny_dataset)
    split = {r.id: ("val" if r.id.endswith("img0") else "train") for r in records}
    write_split(tmp_path / "split.csv", records, split)
    config = SegTrainConfig(unet=TINY, epochs=1, batch_size=4)
    result = train_segmenter(config, tiny_dataset, tmp_path / "seg.npz", tmp_path / "split.csv")
    assert result["best_epoch"] == 1
    assert UNetSegmenter.load(tmp_path / "seg.npz").config == TINY

    # A continued run counts on from the first run's history and never loses its weights.
    more = replace(config, init_weights=str(tmp_path / "seg.npz"), marks=1.0)
    train_segmenter(more, tiny_dataset, tmp_path / "more.npz", tmp_path / "split.csv")
    meta = modelfile.read_meta(tmp_path / "more.npz")
    assert [row["epoch"] for row in meta["history"]] == [1, 2]
    assert meta["score"] >= modelfile.read_meta(tmp_path / "seg.npz")["score"]


def test_mask_cache_is_reused_and_survives_damage(tiny_dataset: Path, tmp_path: Path):
    from lunggate.core.data import scan_dataset
    from lunggate.core.film_format import CORPUS_SIDE
    from lunggate.segmentation.config import MarkRemovalConfig
    from lunggate.segmentation.finder import FIRST, LungFinder

    records = scan_dataset(tiny_dataset)
    marked = cv2.imread(str(records[0].image), cv2.IMREAD_GRAYSCALE)
    marked[26:38, 28:36] = 255  # a mark between the lungs: repainted, segmented again
    cv2.imwrite(str(records[0].image), marked)
    segmenter = UNetSegmenter.load()
    images, masks = LungFinder(segmenter, MarkRemovalConfig(), tmp_path).dataset(records)
    (cache,) = tmp_path.glob("masks_*.npz")
    # The 64 px films are found in the corpus format, as the pipeline finds them.
    assert [m.shape for m in masks] == [(CORPUS_SIDE, CORPUS_SIDE)] * len(records)
    with np.load(cache) as stored:
        assert FIRST + records[0].id in stored.files

    class Refuses:
        weights_sha256, runtime = segmenter.weights_sha256, segmenter.runtime

        def segment(self, images):
            raise AssertionError("cached masks must not be recomputed")

    again = LungFinder(Refuses(), MarkRemovalConfig(), tmp_path).dataset(records)
    for before, after in zip((images, masks), again, strict=True):
        assert all((a == b).all() for a, b in zip(before, after, strict=True))

    cache.write_bytes(cache.read_bytes()[:100])  # as if a run died while writing
    _, redone = LungFinder(segmenter, MarkRemovalConfig(), tmp_path).dataset(records)
    assert all((a == b).all() for a, b in zip(masks, redone, strict=True))


def test_mask_cache_segments_the_images_it_is_handed(tiny_dataset: Path, tmp_path: Path):
    from dataclasses import replace

    from lunggate.core.data import load_images, scan_dataset
    from lunggate.segmentation.config import MarkRemovalConfig
    from lunggate.segmentation.finder import LungFinder

    records = scan_dataset(tiny_dataset)
    segmenter = UNetSegmenter.load()
    read = LungFinder(segmenter, MarkRemovalConfig(), tmp_path / "read").dataset(records)
    originals = list(load_images([r.image for r in records]))
    gone = [replace(r, image=tmp_path / "gone.png") for r in records]  # nothing to read
    handed = LungFinder(segmenter, MarkRemovalConfig(), tmp_path / "handed").dataset(
        gone, originals
    )
    for before, after in zip(read, handed, strict=True):
        assert all((a == b).all() for a, b in zip(before, after, strict=True))


def test_training_batches_are_painted_over_as_serving_input_is(monkeypatch):
    import albumentations as A

    from lunggate.segmentation import train
    from lunggate.segmentation.config import MarkRemovalConfig
    from lunggate.segmentation.marks import remove_marks
    from lunggate.segmentation.model import standardize

    monkeypatch.setattr(train, "xray_augmentation", lambda marks: A.Compose([]))
    image, mask = synthetic_xray(6, 64)
    image[4:9, 4:12] = 255  # a burned-in mark in the corner
    images, masks = np.stack([image] * 2), np.stack([mask.astype(np.float32)] * 2)
    x, y = next(
        train.batches(images, masks, 2, seed=0, marks=0.0, mark_removal=MarkRemovalConfig())
    )
    cleaned, removed = remove_marks(image, MarkRemovalConfig())
    assert removed[4:9, 4:12].all()
    np.testing.assert_allclose(x[..., 0], standardize(np.stack([cleaned] * 2)), atol=1e-6)
    np.testing.assert_array_equal(y[..., 0], masks)
    plain, _ = next(train.batches(images, masks, 2, seed=0, marks=0.0))
    assert not np.allclose(plain, x)  # off by default: the mark stays
