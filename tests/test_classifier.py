"""The classifier object: weights round trip, calibrated probabilities, CAMs, ensembles."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from classification.classifier import LungClassifier, new_model
from classification.config import ClassifierConfig, ClsTrainConfig, GateConfig
from classification.ensemble import combine
from conftest import LeftHalf, synthetic_xray
from lunggate import CLASS_NAMES, modelfile
from lunggate.errors import LunggateError, ModelFileError
from lunggate.paths import SEGMENTER_WEIGHTS

TINY = ClassifierConfig(backbone="cnnx", gate=GateConfig(input="masked", input_size=64))


def save_tiny(path: Path, temperature: float = 2.0) -> LungClassifier:
    model = new_model(TINY)
    modelfile.save(
        model.get_weights(), path, {"config": {"model": TINY.to_dict()}, "temperature": temperature}
    )
    return LungClassifier(model, TINY, temperature)


def test_round_trip_explains_at_image_size(tmp_path: Path, keras_session):
    original = save_tiny(tmp_path / "cls.npz")
    loaded = LungClassifier.load(tmp_path / "cls.npz")
    assert loaded.temperature == 2.0 and loaded.masked and loaded.name == "cnnx_masked"
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


def test_answer_is_the_mean_over_mask_variants(tmp_path: Path, keras_session):
    from segmentation.postprocess import grow

    classifier = save_tiny(tmp_path / "cls.npz")
    classifier.config = replace(TINY, gate=replace(TINY.gate, mask_variants_px=(-2, 0, 2)))
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


def test_mask_variants_must_include_the_mask_as_found():
    from classification.config import GateConfig
    from lunggate.errors import LunggateError

    with pytest.raises(LunggateError, match="must include 0"):
        GateConfig(mask_variants_px=(-2, 2))


def test_a_sidecar_from_before_the_feathered_gate_loads_as_it_was_trained():
    old = TINY.to_dict()
    for key in ("feather_px", "box_trim", "mask_variants_px"):
        del old["gate"][key]
    gate = ClassifierConfig.from_dict(old).gate
    assert (gate.feather_px, gate.box_trim, gate.mask_variants_px) == (0, 0.0, (0,))


def test_temperature_softens_probabilities(tmp_path: Path, keras_session):
    classifier = save_tiny(tmp_path / "cls.npz", temperature=1.0)
    logits = np.array([[3.0, 0.0, 0.0, 0.0]])
    sharp = classifier.probabilities(logits).max()
    classifier.temperature = 3.0
    assert classifier.probabilities(logits).max() < sharp


def test_train_few_steps_writes_checkpoint_and_continues_from_it(
    tiny_dataset: Path, tmp_path: Path, keras_session
):
    from classification.train import train_classifier
    from lunggate.data import scan_dataset
    from lunggate.splits import write_split

    records = scan_dataset(tiny_dataset)
    split = {r.id: ("val" if r.id.endswith("img0") else "train") for r in records}
    write_split(tmp_path / "split.csv", records, split)
    config = ClsTrainConfig(
        model=ClassifierConfig(backbone="cnnx", gate=GateConfig(input="raw", input_size=32)),
        epochs=1,
        batch_size=4,
    )
    result = train_classifier(
        config,
        tiny_dataset,
        tmp_path / "cls.npz",
        tmp_path / "split.csv",
        reports=tmp_path / "reports",
    )
    meta = modelfile.read_meta(tmp_path / "cls.npz")
    assert result["best_epoch"] == 1 and meta["temperature"] > 0
    assert meta["class_names"] == list(CLASS_NAMES)
    assert (tmp_path / "reports" / "training_cls.png").is_file()

    more = replace(config, init_weights=str(tmp_path / "cls.npz"))
    train_classifier(
        more,
        tiny_dataset,
        tmp_path / "more.npz",
        tmp_path / "split.csv",
        reports=tmp_path / "reports",
        snapshots=tmp_path / "epochs",
    )
    history = modelfile.read_meta(tmp_path / "more.npz")["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    # Every epoch of the continued run is kept, whether or not it beat the start.
    assert [p.name for p in (tmp_path / "epochs").glob("*.npz")] == ["more.epoch2.npz"]
    assert modelfile.read_meta(tmp_path / "epochs" / "more.epoch2.npz")["epoch"] == 2
    assert modelfile.read_meta(tmp_path / "more.npz")["val_macro_f1"] >= meta["val_macro_f1"]

    other = replace(more, model=replace(config.model, backbone="mobilenetv2"))
    with pytest.raises(ModelFileError, match="same backbone"):
        train_classifier(other, tiny_dataset, tmp_path / "x.npz", tmp_path / "split.csv")


def test_select_backbone_compares_at_equal_epochs(tmp_path: Path):
    from classification.selection import select_backbone
    from lunggate.errors import ModelFileError

    def candidate(name: str, scores: list[float]) -> Path:
        path = tmp_path / f"{name}.npz"
        path.write_bytes(b"")
        history = [
            {"epoch": k + 1, "val_macro_f1": s, "seconds": 10.0 * (k + 1)}
            for k, s in enumerate(scores)
        ]
        config = {"model": {"backbone": name, "gate": {"input": "masked"}}}
        modelfile.sidecar(path).write_text(json.dumps({"config": config, "history": history}))
        return path

    slow_start = candidate("a", [0.5, 0.6, 0.7, 0.95])  # wins only with its extra epoch
    steady = candidate("b", [0.6, 0.8, 0.8])
    report = select_backbone([slow_start, steady], tmp_path / "sel.json")
    assert report["budget_epochs"] == 3 and report["chosen"] == "b_masked"
    assert json.loads((tmp_path / "sel.json").read_text())["chosen"] == "b_masked"
    modelfile.sidecar(steady).write_text(json.dumps({"config": {}, "history": []}))
    with pytest.raises(ModelFileError, match="no training history"):
        select_backbone([steady], tmp_path / "sel.json")


def test_mask_jitter_grows_or_shrinks_within_bounds():
    from classification.train import jitter_mask

    mask = np.zeros((64, 64), bool)
    mask[20:44, 20:44] = True
    rng = np.random.default_rng(0)
    areas = {int(jitter_mask(mask, rng, 3).sum()) for _ in range(40)}
    assert min(areas) < mask.sum() < max(areas)
    assert max(areas) <= (24 + 6) ** 2 and min(areas) >= (24 - 6) ** 2
    assert (jitter_mask(mask, rng, 0) == mask).all()


def test_mask_bites_move_the_border_locally_only():
    from classification.train import jitter_mask
    from segmentation.postprocess import grow

    mask = np.zeros((100, 100), bool)
    mask[30:70, 30:70] = True
    rng = np.random.default_rng(1)
    moved = [jitter_mask(mask, rng, 0, bites=3) for _ in range(30)]
    assert any((m != mask).any() for m in moved)
    # Discs have a radius of at most 5 % of the side and sit on the border.
    near_border = grow(mask, 6) & ~grow(mask, -6)
    assert all(not ((m != mask) & ~near_border).any() for m in moved)


def test_masked_training_runs_on_the_unets_masks(tiny_dataset: Path, tmp_path: Path, keras_session):
    from classification.train import train_classifier
    from lunggate.data import scan_dataset
    from lunggate.splits import write_split

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
        consistency=1.0,
    )
    out = tmp_path / "masked.npz"
    train_classifier(config, tiny_dataset, out, tmp_path / "split.csv", tmp_path / "reports")
    meta = modelfile.read_meta(out)
    assert meta["segmenter_sha256"] == modelfile.sha256(SEGMENTER_WEIGHTS)
    assert meta["config"]["marks"] == 1.0 and meta["config"]["mask_bites"] == 3
    assert np.isfinite(meta["history"][-1]["val_loss"])  # the checkpoint's own, for the LR schedule
    assert LungClassifier.load(out).masked

    # Choosing the answer's mask variants afterwards rewrites the sidecar, not the weights.
    from classification.train import set_mask_variants

    sha = modelfile.sha256(out)
    result = set_mask_variants(out, (-3, 0, 3), tiny_dataset, tmp_path / "split.csv")
    assert result["mask_variants_px"] == [-3, 0, 3] and result["temperature"] > 0
    assert LungClassifier.load(out).mask_variants == (-3, 0, 3)
    assert modelfile.sha256(out) == sha
    raw = tmp_path / "raw.npz"
    raw_config = ClassifierConfig(backbone="cnnx", gate=GateConfig(input="raw", input_size=32))
    modelfile.save(
        new_model(raw_config).get_weights(), raw, {"config": {"model": raw_config.to_dict()}}
    )
    with pytest.raises(ModelFileError, match="raw-input"):
        set_mask_variants(raw, (0, 2), tiny_dataset, tmp_path / "split.csv")


def test_every_checkpoint_carries_the_history_so_far(tmp_path: Path, keras_session):
    # An interrupted run never reaches the final sidecar write; its checkpoint must
    # still say how its weights were trained.
    from classification.train import BestF1Checkpoint
    from lunggate.backend import keras

    config = ClassifierConfig(backbone="cnnx", gate=GateConfig(input="raw", input_size=32))
    model = new_model(config)
    model.compile(keras.optimizers.Adam(1e-3))
    x, y = np.zeros((4, 32, 32, 1), np.float32), np.arange(4)
    checkpoint = BestF1Checkpoint([x], y, tmp_path / "c.npz", {"config": {}}, patience=3)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"loss": 1.0})
    history = modelfile.read_meta(tmp_path / "c.npz")["history"]
    assert [row["epoch"] for row in history] == [1] and history[0]["loss"] == 1.0


def test_paired_loss_adds_nothing_for_agreeing_twins_and_grows_as_they_part(keras_session):
    from classification.train import paired_loss
    from lunggate.backend import tf

    y = tf.constant(np.eye(4, dtype=np.float32)[[0, 0, 2, 2]])
    agree = tf.constant([[2.0, 0, 0, 0], [2.0, 0, 0, 0], [0, 0, 1.0, 0], [0, 0, 1.0, 0]])
    apart = tf.constant([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 1.0, 0]])
    plain = paired_loss(0.0, 0.0)
    paired = paired_loss(0.0, 1.0)
    np.testing.assert_allclose(
        float(tf.reduce_mean(paired(y, agree))), float(plain(y, agree)), rtol=1e-5
    )
    per_sample = paired(y, apart).numpy()
    assert per_sample[0] > per_sample[2] and per_sample[2] == pytest.approx(per_sample[3])


def test_consistency_batches_come_as_twins_of_one_image():
    from classification.train import batches

    pairs = [synthetic_xray(seed, 64) for seed in range(6)]
    images, masks = [p[0] for p in pairs], [p[1] > 0 for p in pairs]
    config = ClsTrainConfig(
        model=ClassifierConfig(backbone="cnnx", gate=GateConfig(input_size=32)),
        batch_size=4,
        consistency=1.0,
        marks=0.0,
    )
    x, y = next(batches(images, masks, np.arange(6) % 4, config))
    assert x.shape == (4, 32, 32, 1)
    np.testing.assert_array_equal(y[0], y[1])
    np.testing.assert_array_equal(y[2], y[3])
    assert not np.array_equal(x[0], x[1])  # each twin has its own jittered gate
    with pytest.raises(ValueError, match="even batch size"):
        replace(config, batch_size=5)


def test_an_ensemble_answers_with_its_members_mean(tmp_path: Path, keras_session):
    members = [save_tiny(tmp_path / f"m{k}.npz") for k in range(2)]
    combine([tmp_path / "m0.npz", tmp_path / "m1.npz"], tmp_path / "ens.npz")
    ensemble = LungClassifier.load(tmp_path / "ens.npz")
    assert ensemble.config.members == 2 and len(ensemble.members) == 2
    assert ensemble.temperature == 1.0  # until calibrate fits it
    pairs = [synthetic_xray(seed, 80) for seed in (3, 4)]
    images, masks = [p[0] for p in pairs], [p[1] > 0 for p in pairs]
    x, _ = members[0].prepare(images, masks)
    each = [m.logits(x) for m in members]
    assert not np.allclose(each[0], each[1])  # two random inits do differ
    np.testing.assert_allclose(ensemble.logits(x), np.mean(each, 0), atol=0.05)
    for k, e in enumerate(ensemble.explain(images, masks)):
        assert e.cam.shape == images[k].shape and np.isfinite(e.cam).all()
        assert e.cam.min() >= 0 and e.cam.max() <= 1
        assert e.class_index == int(ensemble.answer_logits(images, masks)[k].argmax())
    meta = modelfile.read_meta(tmp_path / "ens.npz")
    assert [m["weights"] for m in meta["members"]] == ["m0.npz", "m1.npz"]
    assert meta["members"][1]["sha256"] == modelfile.sha256(tmp_path / "m1.npz")


def test_ensemble_refuses_mismatched_or_single_members(tmp_path: Path, keras_session):
    save_tiny(tmp_path / "a.npz")
    with pytest.raises(ModelFileError, match="at least two"):
        combine([tmp_path / "a.npz"], tmp_path / "ens.npz")
    other = replace(TINY, gate=replace(TINY.gate, feather_px=6))
    modelfile.save(
        LungClassifier.load(tmp_path / "a.npz").model.get_weights(),
        tmp_path / "b.npz",
        {"config": {"model": other.to_dict()}},
    )
    with pytest.raises(ModelFileError, match="architecture or gate"):
        combine([tmp_path / "a.npz", tmp_path / "b.npz"], tmp_path / "ens.npz")
    save_tiny(tmp_path / "c.npz")
    combine([tmp_path / "a.npz", tmp_path / "c.npz"], tmp_path / "ens.npz")
    with pytest.raises(ModelFileError, match="already an ensemble"):
        combine([tmp_path / "ens.npz", tmp_path / "a.npz"], tmp_path / "ens2.npz")


def test_marked_twins_need_consistency_and_a_masked_model():
    with pytest.raises(LunggateError, match="consistency"):
        ClsTrainConfig(marked_twins=0.5)
    raw = ClassifierConfig(gate=GateConfig(input="raw"))
    with pytest.raises(LunggateError, match="masked"):
        ClsTrainConfig(model=raw, consistency=1.0, marked_twins=0.5)
    with pytest.raises(LunggateError, match="share"):
        ClsTrainConfig(consistency=1.0, marked_twins=1.5)


def test_marked_views_carry_marks_beyond_the_lungs_only_and_the_pipelines_masks():
    from classification.train import marked_views
    from segmentation.config import BurnInConfig
    from segmentation.find import find_lungs
    from segmentation.postprocess import grow

    images = [synthetic_xray(seed, 64)[0] for seed in range(6)]
    lungs = [np.zeros((64, 64), bool) for _ in images]
    for m in lungs:
        m[:, :32] = True
    views, masks = marked_views(LeftHalf(), images, lungs, seed=3)
    plain = find_lungs(LeftHalf(), images, BurnInConfig())
    # The overlay removal may paint a few pixels into a lung next to a mark; deeper in,
    # every lung pixel is what the pipeline makes of the unmarked image.
    deep = grow(lungs[0], -8)
    for view, found in zip(views, plain, strict=True):
        np.testing.assert_array_equal(view[deep], found.image[deep])
    beyond = ~lungs[0]
    assert any(
        not np.array_equal(v[beyond], f.image[beyond]) for v, f in zip(views, plain, strict=True)
    )
    assert all(np.array_equal(m, lungs[0]) for m in masks)


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_marked_twins_are_the_second_view_of_a_pair(share: float, monkeypatch):
    import albumentations as A

    import classification.train as train
    from classification.gating import gate

    def no_change(**kwargs):
        twins = {"twin_image": "image", "twin_mask": "mask"} if kwargs["twins"] else None
        return A.Compose([], additional_targets=twins)

    monkeypatch.setattr(train, "xray_augmentation", no_change)
    pairs = [synthetic_xray(seed, 64) for seed in range(4)]
    images, masks = [p[0] for p in pairs], [p[1] > 0 for p in pairs]
    twins = ([255 - i for i in images], [np.roll(m, 6, axis=1) for m in masks])
    gate_config = GateConfig(input_size=32)
    config = ClsTrainConfig(
        model=ClassifierConfig(backbone="cnnx", gate=gate_config),
        batch_size=8,
        consistency=1.0,
        marks=0.0,
        marked_twins=share,
        mask_jitter_px=0,
        mask_bites=0,
        box_jitter_px=0,
    )
    x, _ = next(train.batches(images, masks, np.arange(4), config, twins))
    plain = [gate(i, m, gate_config)[0] for i, m in zip(images, masks, strict=True)]
    marked = [gate(i, m, gate_config)[0] for i, m in zip(*twins, strict=True)]
    for first, second in zip(x[0::2], x[1::2], strict=True):
        k = next(k for k, p in enumerate(plain) if np.array_equal(p, first))
        np.testing.assert_array_equal(second, marked[k] if share else plain[k])
