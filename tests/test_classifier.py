"""The classifier object: weights round trip, calibrated probabilities, CAMs, the answer."""

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from conftest import synthetic_xray
from lunggate.classification.classifier import LungClassifier, new_model
from lunggate.classification.config import (
    AnswerConfig,
    ClassifierConfig,
    ClsTrainConfig,
    GateConfig,
)
from lunggate.core import CLASS_NAMES, modelfile
from lunggate.core.errors import LunggateError, ModelFileError
from lunggate.core.paths import SEGMENTER_WEIGHTS

TINY = ClassifierConfig(backbone="cnnx", gate=GateConfig(input="masked", input_size=64))


def save_tiny(path: Path, temperature: float = 2.0) -> LungClassifier:
    model = new_model(TINY)
    answer = AnswerConfig(temperature)
    meta = {"config": {"model": TINY.to_dict()}, "answer": asdict(answer)}
    modelfile.save(model.get_weights(), path, meta)
    return LungClassifier(model, TINY, answer)


def test_round_trip_explains_at_image_size(tmp_path: Path, keras_session):
    original = save_tiny(tmp_path / "cls.npz")
    loaded = LungClassifier.load(tmp_path / "cls.npz")
    assert loaded.temperature == 2.0 and loaded.masked and loaded.name == "cnnx_masked"
    assert loaded.mask_variants == (-4, -2, 0, 2, 4)  # the shipped default
    pairs = [synthetic_xray(seed, size) for seed, size in ((1, 96), (2, 64))]
    images = [p[0] for p in pairs]
    masks = [p[1] > 0 for p in pairs]
    out = loaded.explain(images, masks)
    assert [e.cam.shape for e in out] == [(96, 96), (64, 64)]
    for e in out:
        assert e.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
        assert e.class_index == int(e.probabilities.argmax())
        assert np.isfinite(e.cam).all() and e.cam.min() >= 0
    x, _ = original.prepare(images, masks)
    np.testing.assert_allclose(original.logits(x), loaded.logits(x), atol=0.05)


def test_a_near_tie_answers_with_the_mean_over_mask_variants(tmp_path: Path, keras_session):
    from lunggate.core.masks import grow

    classifier = save_tiny(tmp_path / "cls.npz")
    classifier.answer = AnswerConfig(mask_variants_px=(-2, 0, 2), one_pass_margin=np.inf)
    pairs = [synthetic_xray(seed, 80) for seed in (3, 4, 5)]
    images, masks = [p[0] for p in pairs], [p[1] > 0 for p in pairs]
    each = [
        classifier.logits(classifier.prepare(images, [grow(m, r) for m in masks])[0])
        for r in (-2, 0, 2)
    ]
    np.testing.assert_allclose(classifier.answer_logits(images, masks), np.mean(each, 0), atol=1e-5)
    assert not np.allclose(each[0], each[2])  # the variants do differ
    explained = classifier.explain(images, masks)
    probs = classifier.predict(images, masks)
    np.testing.assert_allclose([e.probabilities for e in explained], probs, atol=1e-5)
    assert [e.class_index for e in explained] == list(probs.argmax(-1))
    # The pooled features are those of the mask as found: the head reads them to give
    # that variant's logits.
    kernel, bias = classifier.model.get_layer("logits").get_weights()
    pooled = np.stack([e.pooled for e in explained])
    np.testing.assert_allclose(pooled @ kernel + bias, each[1], atol=1e-3)


def test_a_clear_answer_is_its_one_pass(tmp_path: Path, keras_session):
    from lunggate.core.masks import grow

    classifier = save_tiny(tmp_path / "cls.npz")
    pairs = [synthetic_xray(seed, 80) for seed in range(3, 9)]
    images, masks = [p[0] for p in pairs], [p[1] > 0 for p in pairs]
    one = classifier.logits(classifier.prepare(images, masks)[0])
    top_two = np.sort(one, -1)[:, -2:]
    margins = top_two[:, 1] - top_two[:, 0]
    # A margin between the films' own: the clearer half answers in one pass.
    margin = float(np.median(margins))
    classifier.answer = AnswerConfig(mask_variants_px=(-2, 0, 2), one_pass_margin=margin)
    each = [
        classifier.logits(classifier.prepare(images, [grow(m, r) for m in masks])[0])
        for r in (-2, 2)
    ]
    mean = (one + each[0] + each[1]) / 3
    clear = margins >= margin
    assert 0 < clear.sum() < len(images)
    answer = classifier.answer_logits(images, masks)
    np.testing.assert_allclose(answer[clear], one[clear], atol=1e-5)
    np.testing.assert_allclose(answer[~clear], mean[~clear], atol=1e-5)
    # A margin of 0 is one pass for every film.
    classifier.answer = AnswerConfig(mask_variants_px=(-2, 0, 2), one_pass_margin=0.0)
    np.testing.assert_allclose(classifier.answer_logits(images, masks), one, atol=1e-5)


def test_answer_settings_are_checked():
    from lunggate.core.errors import LunggateError

    with pytest.raises(LunggateError, match="must include 0"):
        AnswerConfig(mask_variants_px=(-2, 2))
    with pytest.raises(LunggateError, match="one-pass margin must be 0 or more"):
        AnswerConfig(one_pass_margin=-1.0)
    with pytest.raises(LunggateError, match="temperature must be positive"):
        AnswerConfig(temperature=0.0)
    with pytest.raises(LunggateError, match="unknown setting"):
        AnswerConfig.from_dict({"temperature": 1.0, "variants": [0]})


def test_temperature_softens_probabilities(tmp_path: Path, keras_session):
    classifier = save_tiny(tmp_path / "cls.npz", temperature=1.0)
    logits = np.array([[3.0, 0.0, 0.0, 0.0]])
    sharp = classifier.probabilities(logits).max()
    classifier.answer = AnswerConfig(temperature=3.0)
    assert classifier.probabilities(logits).max() < sharp


def test_train_few_steps_writes_checkpoint_and_continues_from_it(
    tiny_dataset: Path, tmp_path: Path, keras_session
):
    from lunggate.classification.train import train_classifier
    from lunggate.core.data import scan_dataset
    from lunggate.core.splits import write_split

    records = scan_dataset(tiny_dataset)
    split = {r.id: ("val" if r.id.endswith("img0") else "train") for r in records}
    write_split(tmp_path / "split.csv", records, split)
    config = ClsTrainConfig(
        model=ClassifierConfig(
            backbone="efficientnet_lite0", gate=GateConfig(input="raw", input_size=32)
        ),
        epochs=1,
        batch_size=4,
    )
    result = train_classifier(
        config,
        None,
        tiny_dataset,
        tmp_path / "cls.npz",
        tmp_path / "split.csv",
        reports=tmp_path / "reports",
    )
    meta = modelfile.read_meta(tmp_path / "cls.npz")
    # One warm-up epoch (head only), then one of fine-tuning.
    assert [row["epoch"] for row in meta["history"]] == [1, 2]
    assert result["best_epoch"] in (1, 2) and meta["answer"]["temperature"] > 0
    assert meta["answer"]["mask_variants_px"] == [0]  # one pass until calibrated
    assert meta["answer"]["familiarity_threshold"] is not None
    assert meta["class_names"] == list(CLASS_NAMES)
    assert (tmp_path / "reports" / "training_cls.png").is_file()
    # Below ``trainable_from`` the ImageNet weights are untouched (up to the float16 the
    # weights file stores), whichever epoch was kept.
    trained = LungClassifier.load(tmp_path / "cls.npz").model
    start = new_model(config.model, "imagenet")
    for name in ("stem", "block1_dw", "block2_project_bn"):
        for now, before in zip(
            trained.get_layer(name).get_weights(), start.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(now, before.astype(np.float16).astype(np.float32))

    more = replace(config, init_weights=str(tmp_path / "cls.npz"))
    train_classifier(
        more,
        None,
        tiny_dataset,
        tmp_path / "more.npz",
        tmp_path / "split.csv",
        reports=tmp_path / "reports",
        recipe="recipes/x.toml epochs=1",
    )
    history = modelfile.read_meta(tmp_path / "more.npz")["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3]  # a continued run skips the warm-up
    assert modelfile.read_meta(tmp_path / "more.npz")["recipe"] == "recipes/x.toml epochs=1"
    assert modelfile.read_meta(tmp_path / "more.npz")["val_macro_f1"] >= meta["val_macro_f1"]
    # A continuation for what validation cannot show keeps its own epoch, better or not.
    own = replace(more, beat_init_weights=False, mixstyle=0.5)
    train_classifier(
        own,
        None,
        tiny_dataset,
        tmp_path / "own.npz",
        tmp_path / "split.csv",
        reports=tmp_path / "reports",  # never the checkout's reports/
    )
    assert modelfile.read_meta(tmp_path / "own.npz")["epoch"] == 3
    assert modelfile.read_meta(tmp_path / "own.npz")["config"]["mixstyle"] == 0.5

    other = replace(more, model=replace(config.model, backbone="mobilenetv2"))
    with pytest.raises(ModelFileError, match="same backbone"):
        train_classifier(other, None, tiny_dataset, tmp_path / "x.npz", tmp_path / "split.csv")


def test_trainable_from_must_name_a_layer(keras_session):
    from lunggate.classification.train import set_trainable

    model = new_model(ClassifierConfig(gate=GateConfig(input_size=32)))
    with pytest.raises(LunggateError, match="not a layer"):
        set_trainable(model, "block99_expand")
    set_trainable(model, None, head_only=True)
    assert {layer.name for layer in model.layers if layer.trainable} == {
        "pool",
        "dropout",
        "logits",
    }


def test_mask_jitter_grows_or_shrinks_within_bounds():
    from lunggate.classification.train import jitter_mask

    mask = np.zeros((64, 64), bool)
    mask[20:44, 20:44] = True
    rng = np.random.default_rng(0)
    areas = {int(jitter_mask(mask, rng, 3).sum()) for _ in range(40)}
    assert min(areas) < mask.sum() < max(areas)
    assert max(areas) <= (24 + 6) ** 2 and min(areas) >= (24 - 6) ** 2
    assert (jitter_mask(mask, rng, 0) == mask).all()


def test_mask_bites_move_the_border_locally_only():
    from lunggate.classification.train import jitter_mask
    from lunggate.core.masks import grow

    mask = np.zeros((100, 100), bool)
    mask[30:70, 30:70] = True
    rng = np.random.default_rng(1)
    moved = [jitter_mask(mask, rng, 0, bites=3) for _ in range(30)]
    assert any((m != mask).any() for m in moved)
    # Discs have a radius of at most 5 % of the side and sit on the border.
    near_border = grow(mask, 6) & ~grow(mask, -6)
    assert all(not ((m != mask) & ~near_border).any() for m in moved)


def test_masked_training_runs_on_the_unets_masks(tiny_dataset: Path, tmp_path: Path, keras_session):
    from lunggate.classification.train import train_classifier
    from lunggate.core.data import scan_dataset
    from lunggate.core.errors import LunggateError
    from lunggate.core.splits import write_split
    from lunggate.segmentation.finder import LungFinder

    records = scan_dataset(tiny_dataset)
    write_split(
        tmp_path / "split.csv",
        records,
        {r.id: ("val" if r.id.endswith("img0") else "train") for r in records},
    )
    config = ClsTrainConfig(
        model=ClassifierConfig(backbone="cnnx", gate=GateConfig(input_size=32)),
        epochs=1,
        batch_size=4,
        marks=1.0,
        pretrained=None,
        warmup_epochs=0,
        trainable_from=None,
    )
    out = tmp_path / "masked.npz"
    finder = LungFinder.load()
    with pytest.raises(LunggateError, match="lung finder"):
        train_classifier(config, None, tiny_dataset, out, tmp_path / "split.csv")
    split, reports = tmp_path / "split.csv", tmp_path / "reports"
    train_classifier(config, finder, tiny_dataset, out, split, reports)
    meta = modelfile.read_meta(out)
    assert meta["segmenter_sha256"] == modelfile.sha256(SEGMENTER_WEIGHTS)
    assert meta["config"]["marks"] == 1.0 and meta["config"]["mask_bites"] == 3
    assert np.isfinite(meta["history"][-1]["val_loss"])  # the checkpoint's own, for the LR schedule
    assert LungClassifier.load(out).masked

    # Choosing the answer's mask variants afterwards rewrites the sidecar, not the weights.
    from lunggate.classification.train import calibrate

    sha = modelfile.sha256(out)
    result = calibrate(out, (-3, 0, 3), finder, tiny_dataset, tmp_path / "split.csv")
    assert tuple(result["mask_variants_px"]) == (-3, 0, 3) and result["temperature"] > 0
    assert result["familiarity_threshold"] is not None  # refitted on the averaged answer
    assert LungClassifier.load(out).mask_variants == (-3, 0, 3)
    assert modelfile.sha256(out) == sha
    raw = tmp_path / "raw.npz"
    raw_config = ClassifierConfig(backbone="cnnx", gate=GateConfig(input="raw", input_size=32))
    modelfile.save(
        new_model(raw_config).get_weights(), raw, {"config": {"model": raw_config.to_dict()}}
    )
    with pytest.raises(ModelFileError, match="raw-input"):
        calibrate(raw, (0, 2), finder, tiny_dataset, tmp_path / "split.csv")


def test_every_checkpoint_carries_the_history_so_far(tmp_path: Path, keras_session):
    # An interrupted run never reaches the final sidecar write; its checkpoint must
    # still say how its weights were trained.
    from lunggate.classification.train import BestF1Checkpoint
    from lunggate.core.backend import keras

    config = ClassifierConfig(backbone="cnnx", gate=GateConfig(input="raw", input_size=32))
    model = new_model(config)
    model.compile(keras.optimizers.Adam(1e-3))
    x, y = np.zeros((4, 32, 32, 1), np.float32), np.arange(4)
    checkpoint = BestF1Checkpoint(x, y, tmp_path / "c.npz", {"config": {}}, patience=3)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"loss": 1.0})
    history = modelfile.read_meta(tmp_path / "c.npz")["history"]
    assert [row["epoch"] for row in history] == [1] and history[0]["loss"] == 1.0
