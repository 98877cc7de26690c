"""``lunggate lab train-cls``: fit a classifier on gated images, keep the best on validation.

Masked models are trained on the shipped U-Net's masks (cached), the same masks they
will see in use. Class weights balance the classes; the checkpoint criterion is the
validation macro-F1; the calibration temperature is fitted on validation at the end.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from sklearn.metrics import f1_score
from tqdm.keras import TqdmCallback

from lunggate.classification.calibration import fit_temperature, nll
from lunggate.classification.classifier import LungClassifier, new_model
from lunggate.classification.config import AnswerConfig, ClassifierConfig, ClsTrainConfig
from lunggate.classification.familiarity import energy, fit_threshold
from lunggate.classification.gating import gate, gate_batch
from lunggate.classification.mixstyle import MixStyle
from lunggate.classification.plots import plot_history
from lunggate.core import CLASS_NAMES, modelfile
from lunggate.core.augment import xray_augmentation
from lunggate.core.backend import keras, tf
from lunggate.core.data import Record, load_images
from lunggate.core.errors import LunggateError, ModelFileError
from lunggate.core.masks import grow
from lunggate.core.paths import REPORTS_DIR, SPLIT_FILE
from lunggate.core.splits import split_records
from lunggate.core.training import BestOnValidation, track_batch_statistics

if TYPE_CHECKING:  # the lung finder is handed in by the caller (``lunggate lab``)
    from lunggate.segmentation.finder import LungFinder


def labels_of(records: list[Record]) -> np.ndarray:
    return np.array([CLASS_NAMES.index(r.label) for r in records], np.int32)


def load_split(
    records: list[Record], finder: LungFinder | None
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Images at native size and, for masked models (given a lung finder), their masks.

    Training sees the images as they are, burned-in marks included (no mark
    removal): the corpus's own marks and the ``marks`` augmentation teach the model
    to ignore what the removal misses.
    """
    images = list(load_images([r.image for r in records]))
    if finder is None:
        return images, [None] * len(images)
    return finder.without_mark_removal().dataset(records, originals=images)


def jitter_mask(
    mask: np.ndarray, rng: np.random.Generator, max_px: int, bites: int = 0
) -> np.ndarray:
    """Grow or shrink a mask by up to ``max_px`` pixels, then dent or bulge its border.

    The U-Net's boundary moves by a few pixels from image to image, and locally by
    more where something is burned in against a lung: it follows a wire out or
    gives up a corner under a marker. Training on masks moved both ways (up to
    ``bites`` discs of 1-5 % of the image side added or cut at random border points)
    keeps the classifier from reading exactly where the boundary falls.
    """
    mask = mask.astype(bool)
    out = grow(mask, int(rng.integers(-max_px, max_px + 1)) if max_px else 0)
    border = np.argwhere(out & ~grow(out, -1))
    for _ in range(int(rng.integers(0, bites + 1)) if len(border) else 0):
        y, x = border[rng.integers(len(border))]
        radius = max(2, int(max(out.shape) * rng.uniform(0.01, 0.05)))
        canvas = out.astype(np.uint8)
        cv2.circle(canvas, (int(x), int(y)), radius, int(rng.random() < 0.5), -1)
        out = canvas.astype(bool)
    return out if out.any() else mask


def batches(images, masks, labels, config: ClsTrainConfig):
    """Endless augmented, gated, one-hot batches; image and mask are augmented together,
    then the mask is jittered and the crop's sides moved (``jitter_mask``, ``shift_box``)."""
    augment = xray_augmentation(mask_interpolation=cv2.INTER_NEAREST, marks=config.marks)
    augment.set_random_seed(config.seed)
    gate_config = config.model.gate
    rng = np.random.default_rng(config.seed)
    eye = np.eye(len(CLASS_NAMES), dtype=np.float32)
    while True:
        order = rng.permutation(len(images))
        for start in range(0, len(order) - config.batch_size + 1, config.batch_size):
            chosen = order[start : start + config.batch_size]
            xs = []
            for i in chosen:
                if masks[i] is None:
                    xs.append(gate(augment(image=images[i])["image"], None, gate_config)[0])
                    continue
                out = augment(image=images[i], mask=masks[i].astype(np.uint8))
                mask = jitter_mask(out["mask"], rng, config.mask_jitter_px, config.mask_bites)
                k = config.box_jitter_px
                shift = tuple(int(v) for v in rng.integers(-k, k + 1, size=4))
                xs.append(gate(out["image"], mask, gate_config, shift)[0])
            yield np.stack(xs), eye[labels[chosen]]


def fit_answer(logits: np.ndarray, labels: np.ndarray, answer: AnswerConfig) -> AnswerConfig:
    """``answer`` with the settings fitted on the validation split's logits of it: the
    temperature, then the familiarity threshold at that temperature."""
    temperature = fit_temperature(logits, labels)
    threshold = fit_threshold(energy(logits, temperature))
    return replace(answer, temperature=temperature, familiarity_threshold=threshold)


def learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The optimizer's learning rate now, whether fixed or a schedule of the step."""
    rate = optimizer.learning_rate
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        rate = rate(optimizer.iterations)
    return float(keras.backend.get_value(rate))


class BestF1Checkpoint(BestOnValidation):
    """Keeps the weights with the best validation macro-F1 (``BestOnValidation``)."""

    criterion = "val_macro_f1"

    def __init__(
        self,
        x_val: np.ndarray,
        y_val: np.ndarray,
        out: Path,
        meta: dict,
        patience: int,
        prior: dict | None = None,
        beat_prior: bool = True,
    ) -> None:
        super().__init__(out, meta, patience, prior, beat_prior)
        self.x_val, self.y_val = x_val, y_val

    def evaluate(self) -> dict[str, float]:
        logits = self.model.predict(self.x_val, batch_size=64, verbose=0)
        pred = logits.argmax(-1)
        return {
            "val_loss": nll(logits, self.y_val, 1.0),
            "val_accuracy": float((pred == self.y_val).mean()),
            "val_macro_f1": float(f1_score(self.y_val, pred, average="macro")),
        }

    def row(self, logs: dict, scores: dict[str, float]) -> dict[str, float]:
        return {
            "loss": float(logs.get("loss", np.nan)),
            "accuracy": float(logs.get("accuracy", np.nan)),
            **scores,
            "lr": learning_rate(self.model.optimizer),
        }


HEAD_LAYERS = ("pool", "dropout", "logits")


def set_trainable(model: keras.Model, first: str | None, head_only: bool = False) -> None:
    """Train the layers from ``first`` upwards (all when None), or only the head.

    Frozen batch-norm layers run in inference mode (Keras' rule for ``trainable=False``),
    so they keep the statistics they were trained with.

    Raises:
        LunggateError: ``first`` is not a layer of the model.
    """
    names = [layer.name for layer in model.layers]
    if first is not None and first not in names:
        raise LunggateError(f"trainable_from {first!r} is not a layer of {model.name}")
    start = len(names) if head_only else 0 if first is None else names.index(first)
    for k, layer in enumerate(model.layers):
        layer.trainable = k >= start or layer.name in HEAD_LAYERS


def continued_model(config: ClsTrainConfig) -> tuple[keras.Model, dict]:
    """The model of ``config.init_weights`` with its weights, and that file's sidecar.

    The gate's dilation and margin may change (fine-tuning to a new gate); what fixes
    the weights' shapes and meaning may not.
    """

    def build(described: dict) -> tuple[ClassifierConfig, keras.Model]:
        before = ClassifierConfig.from_dict(described["model"])
        now = config.model
        if (before.backbone, before.gate.input, before.gate.input_size) != (
            now.backbone,
            now.gate.input,
            now.gate.input_size,
        ):
            raise ModelFileError(
                f"{config.init_weights} was trained as {described['model']}, not "
                f"{asdict(now)}; init_weights needs the same backbone, input and size"
            )
        return before, new_model(now)

    meta, _, model = modelfile.restore(Path(config.init_weights), build)
    return model, meta


def train_classifier(
    config: ClsTrainConfig,
    finder: LungFinder | None,
    data_root: Path,
    out: Path,
    split_file: Path = SPLIT_FILE,
    reports: Path = REPORTS_DIR,
    recipe: str | None = None,
) -> dict:
    """Warm up the head, fine-tune, keep the best on validation macro-F1, fit the
    temperature, plot the history. A masked model needs the lung ``finder``, whose U-Net
    masks it is trained on. ``recipe`` (the file the config came from) is
    recorded in the sidecar beside the config itself."""
    keras.utils.set_random_seed(config.seed)
    train, val = split_records(data_root, split_file, "train", "val")
    if config.max_train_images:
        train, val = train[:: max(1, len(train) // config.max_train_images)], val[::8]
    prior = None
    if config.init_weights:
        model, prior = continued_model(config)
    else:
        model = new_model(config.model, config.pretrained)
        if config.pretrained is None:
            track_batch_statistics(model)
    for layer in model.layers:
        if isinstance(layer, MixStyle):
            layer.p = config.mixstyle
    if not config.model.gate.uses_masks:
        finder = None
    elif finder is None:
        raise LunggateError(
            f"a {config.model.gate.input} classifier is trained on a lung finder's masks: give one"
        )
    train_images, train_masks = load_split(train, finder)
    val_images, val_masks = load_split(val, finder)
    y_train, y_val = labels_of(train), labels_of(val)
    x_val = gate_batch(val_images, val_masks, config.model.gate)[0]
    counts = np.bincount(y_train, minlength=len(CLASS_NAMES))
    class_weight = {
        k: float(len(y_train) / (len(CLASS_NAMES) * max(c, 1))) for k, c in enumerate(counts)
    }
    size = config.model.gate.input_size
    signature = (
        tf.TensorSpec([None, size, size, 1], tf.float32),
        tf.TensorSpec([None, len(CLASS_NAMES)], tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(
        lambda: batches(train_images, train_masks, y_train, config),
        output_signature=signature,
    ).prefetch(4)
    meta = {
        "kind": "classifier",
        "recipe": recipe,
        "config": asdict(config),
        "class_names": list(CLASS_NAMES),
        "data_root": str(data_root),
        "train_images": len(train),
        "val_images": len(val),
        "class_weight": class_weight,
        "segmenter_sha256": finder.segmenter.weights_sha256 if finder else None,
    }
    checkpoint = BestF1Checkpoint(
        x_val, y_val, out, meta, config.patience, prior, config.beat_init_weights
    )
    steps = max(1, len(train) // config.batch_size)
    loss = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=config.label_smoothing
    )
    fit = {
        "steps_per_epoch": steps,
        "class_weight": class_weight,
        "callbacks": [checkpoint, TqdmCallback(verbose=1)],
        "verbose": 0,
    }
    warmup = config.warmup_epochs if prior is None else 0
    if warmup:
        set_trainable(model, None, head_only=True)
        model.compile(keras.optimizers.Adam(config.warmup_learning_rate), loss, ["accuracy"])
        model.fit(dataset, epochs=warmup, **fit)
    set_trainable(model, config.trainable_from)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=steps * config.epochs, alpha=0.02
    )
    model.compile(keras.optimizers.Adam(schedule), loss, ["accuracy"])
    if not model.stop_training:
        model.fit(dataset, initial_epoch=warmup, epochs=warmup + config.epochs, **fit)
    best = LungClassifier.load(out)
    # One pass on the mask as found, until ``calibrate`` chooses the answer's variants.
    answer = fit_answer(best.logits(x_val), y_val, AnswerConfig(mask_variants_px=(0,)))
    final_meta = {
        **modelfile.read_meta(out),
        "answer": asdict(answer),
        "history": checkpoint.history,
    }
    modelfile.sidecar(out).write_text(json.dumps(final_meta, indent=2) + "\n")
    reports.mkdir(parents=True, exist_ok=True)
    plot_history(
        checkpoint.history,
        reports / f"training_{out.stem}.png",
        f"{config.model.backbone}, {config.model.gate.input} input",
    )
    return {
        "best_val_macro_f1": final_meta["val_macro_f1"],
        "best_epoch": final_meta["epoch"],
        "temperature": answer.temperature,
        "weights": str(out),
    }


def calibrate(
    weights: Path,
    variants: tuple[int, ...],
    finder: LungFinder,
    data_root: Path,
    split_file: Path = SPLIT_FILE,
) -> dict:
    """Make a trained masked classifier answer over ``variants``; refit its temperature.

    Averaging near ties over grown and shrunk masks is an inference setting, chosen on
    the validation split after training; the temperature fitted to single-mask logits
    would be off for averaged ones, so it is refitted on the same split, as the
    pipeline sees it (burned-in marks removed), and the familiarity threshold with it.
    The weights file is left alone;
    its sidecar records the setting and the answer's validation scores.
    """
    classifier = LungClassifier.load(weights)
    if not classifier.masked:
        raise ModelFileError(f"{weights} is a raw-input classifier: it uses no lung mask")
    classifier.answer = replace(classifier.answer, mask_variants_px=variants)
    (val,) = split_records(data_root, split_file, "val")
    images, masks = finder.dataset(val)
    labels = labels_of(val)
    logits = classifier.answer_logits(images, masks)
    pred = logits.argmax(-1)
    answer = fit_answer(logits, labels, classifier.answer)
    meta = modelfile.read_meta(weights)
    meta["answer"] = asdict(answer)
    meta["answer_val"] = {
        "val_accuracy": float((pred == labels).mean()),
        "val_macro_f1": float(f1_score(labels, pred, average="macro")),
    }
    modelfile.sidecar(weights).write_text(json.dumps(meta, indent=2) + "\n")
    return {**meta["answer"], **meta["answer_val"]}
