"""``lunggate train-cls``: fit a classifier on gated images, keep the best on validation.

Masked models are trained on the shipped U-Net's masks (cached), the same masks they
will see in use. Class weights balance the classes; the checkpoint criterion is the
validation macro-F1; the calibration temperature is fitted on validation at the end.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
from sklearn.metrics import f1_score

from classification.calibration import fit_temperature, nll
from classification.classifier import LungClassifier, new_model
from classification.config import ClassifierConfig, ClsTrainConfig
from classification.gating import gate
from classification.plots import plot_history
from lunggate import CLASS_NAMES, modelfile
from lunggate.augment import xray_augmentation
from lunggate.backend import keras, tf
from lunggate.checkpoint import BestOnValidation
from lunggate.data import Record, load_images
from lunggate.errors import ModelFileError
from lunggate.paths import REPORTS_DIR, SPLIT_FILE
from lunggate.splits import split_records
from segmentation.cache import images_and_masks
from segmentation.config import BurnInConfig
from segmentation.find import find_lungs
from segmentation.postprocess import grow
from segmentation.segmenter import UNetSegmenter
from segmentation.train import marked_copies, track_batch_statistics


def labels_of(records: list[Record]) -> np.ndarray:
    return np.array([CLASS_NAMES.index(r.label) for r in records], np.int32)


def load_split(
    records: list[Record], segmenter: UNetSegmenter | None
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Images at native size and, for masked models (given a segmenter), its masks.

    Training sees the images as they are, burned-in marks included (no overlay
    removal): the corpus's own marks and the ``marks`` augmentation teach the model
    to ignore what the removal misses.
    """
    images = list(load_images([r.image for r in records]))
    if segmenter is None:
        return images, [None] * len(images)
    return images_and_masks(segmenter, records, BurnInConfig(enabled=False), originals=images)


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


def marked_views(
    segmenter: UNetSegmenter, images: list[np.ndarray], masks: list[np.ndarray], seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each image with random marks burned in beyond its lungs, as the pipeline sees it.

    The marks (``BurnedInMarks``, not ``lunggate compare``'s generator) are painted
    over and the lungs found again (``find_lungs``): what comes back is the cleaned
    image and the U-Net's mask of it, which has moved under marks that never touched
    a lung. Jittered masks only imitate that move; these are the move itself.
    """
    burned = [
        np.where(mask, image, marked)
        for image, mask, marked in zip(images, masks, marked_copies(images, seed), strict=True)
    ]
    found = find_lungs(segmenter, burned, BurnInConfig())
    return [f.image for f in found], [f.lungs.mask for f in found]


def batches(images, masks, labels, config: ClsTrainConfig, marked=None):
    """Endless augmented, gated, one-hot batches; image and mask are augmented together.

    With ``config.consistency`` > 0 every image comes twice in a row, each copy gated
    through its own jittered mask and shifted crop: the pairs ``paired_loss`` compares.
    ``marked`` (``marked_views``' images and masks) then supplies the second copy of a
    ``config.marked_twins`` share of pairs, augmented exactly as the first.
    """
    augment = xray_augmentation(
        mask_interpolation=cv2.INTER_NEAREST, marks=config.marks, twins=marked is not None
    )
    augment.set_random_seed(config.seed)
    gate_config = config.model.gate
    rng = np.random.default_rng(config.seed)
    eye = np.eye(len(CLASS_NAMES), dtype=np.float32)
    views = 2 if config.consistency > 0 else 1
    per_batch = config.batch_size // views
    while True:
        order = rng.permutation(len(images))
        for start in range(0, len(order) - per_batch + 1, per_batch):
            chosen = order[start : start + per_batch]
            xs = []
            for i in chosen:
                if masks[i] is None:
                    image = augment(image=images[i])["image"]
                    xs += [gate(image, None, gate_config)[0]] * views
                    continue
                twin = {}
                if marked is not None:
                    twin = {"twin_image": marked[0][i], "twin_mask": marked[1][i].astype(np.uint8)}
                out = augment(image=images[i], mask=masks[i].astype(np.uint8), **twin)
                views_of = [("image", "mask")] * views
                if twin and rng.random() < config.marked_twins:
                    views_of[1] = ("twin_image", "twin_mask")
                for image_key, mask_key in views_of:
                    mask = jitter_mask(out[mask_key], rng, config.mask_jitter_px, config.mask_bites)
                    k = config.box_jitter_px
                    shift = tuple(int(v) for v in rng.integers(-k, k + 1, size=4))
                    xs.append(gate(out[image_key], mask, gate_config, shift)[0])
            yield np.stack(xs), eye[labels[np.repeat(chosen, views)]]


def paired_loss(label_smoothing: float, consistency: float):
    """Cross-entropy, plus ``consistency`` times each view's KL divergence from its twin.

    The twin's prediction is held fixed (no gradient), so each of a pair is pulled
    toward the other. Batches must come as pairs (a0, b0, a1, b1, ...), as
    ``batches`` makes them. Why: a classifier that changes its answer when its crop
    moves one pixel (3 % of validation answers did) cannot be steady under
    the U-Net's moves; matching the twins' predictions trains that steadiness in.
    """
    if consistency <= 0:
        return keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=label_smoothing
        )
    ce = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=label_smoothing, reduction=keras.losses.Reduction.NONE
    )

    def loss(y_true, logits):
        k = logits.shape[-1]
        log_p = tf.nn.log_softmax(logits)
        twin = tf.reshape(tf.reverse(tf.reshape(log_p, [-1, 2, k]), axis=[1]), [-1, k])
        twin = tf.stop_gradient(twin)
        kl = tf.reduce_sum(tf.exp(twin) * (twin - log_p), axis=-1)
        return ce(y_true, logits) + consistency * kl

    return loss


class BestF1Checkpoint(BestOnValidation):
    """Keeps the weights with the best validation macro-F1 (``BestOnValidation``)."""

    criterion = "val_macro_f1"

    def __init__(
        self,
        x_vals: list[np.ndarray],
        y_val: np.ndarray,
        out: Path,
        meta: dict,
        patience: int,
        prior: dict | None = None,
        snapshots: Path | None = None,
    ) -> None:
        super().__init__(out, meta, patience, prior, snapshots)
        self.x_vals, self.y_val = x_vals, y_val

    def evaluate(self) -> dict[str, float]:
        """Scores of the answer: logits averaged over the validation inputs' mask variants."""
        logits = [self.model.predict(x, batch_size=64, verbose=0) for x in self.x_vals]
        logits = np.mean(logits, axis=0)
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
            "lr": float(keras.backend.get_value(self.model.optimizer.learning_rate)),
        }


def train_classifier(
    config: ClsTrainConfig,
    data_root: Path,
    out: Path,
    split_file: Path = SPLIT_FILE,
    reports: Path = REPORTS_DIR,
    snapshots: Path | None = None,
) -> dict:
    """Train, checkpoint on validation macro-F1, fit the temperature, plot the history.

    ``snapshots``: a folder that also gets every epoch's weights (``BestOnValidation``).
    """
    keras.utils.set_random_seed(config.seed)
    train, val = split_records(data_root, split_file, "train", "val")
    if config.max_train_images:
        train, val = train[:: max(1, len(train) // config.max_train_images)], val[::8]
    model = new_model(config.model)
    prior = None
    if config.init_weights:
        init_meta = modelfile.read_meta(Path(config.init_weights))
        before = ClassifierConfig.from_dict(init_meta["config"]["model"])
        # The gate's dilation and margin may change (fine-tuning to a new gate); what
        # fixes the weights' shapes and meaning may not.
        if (before.backbone, before.gate.input, before.gate.input_size) != (
            config.model.backbone,
            config.model.gate.input,
            config.model.gate.input_size,
        ):
            raise ModelFileError(
                f"{config.init_weights} was trained as {init_meta['config']['model']}, "
                f"not {asdict(config.model)}; --init needs the same backbone, input and size"
            )
        weights = modelfile.load(Path(config.init_weights), [w.dtype for w in model.get_weights()])
        model.set_weights(weights)
        prior = init_meta
    segmenter = UNetSegmenter.load() if config.model.gate.input == "masked" else None
    train_images, train_masks = load_split(train, segmenter)
    val_images, val_masks = load_split(val, segmenter)
    y_train, y_val = labels_of(train), labels_of(val)
    marked = None
    if config.marked_twins > 0 and segmenter is not None:
        marked = marked_views(segmenter, train_images, train_masks, config.seed)

    track_batch_statistics(model)
    classifier = LungClassifier(model, config.model)
    x_vals = [classifier.prepare(val_images, val_masks, r)[0] for r in classifier.mask_variants]
    counts = np.bincount(y_train, minlength=len(CLASS_NAMES))
    class_weight = {
        k: float(len(y_train) / (len(CLASS_NAMES) * max(c, 1))) for k, c in enumerate(counts)
    }
    model.compile(
        keras.optimizers.Adam(config.learning_rate),
        loss=paired_loss(config.label_smoothing, config.consistency),
        metrics=["accuracy"],
    )
    size = config.model.gate.input_size
    signature = (
        tf.TensorSpec([None, size, size, 1], tf.float32),
        tf.TensorSpec([None, len(CLASS_NAMES)], tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(
        lambda: batches(train_images, train_masks, y_train, config, marked),
        output_signature=signature,
    ).prefetch(4)
    meta = {
        "kind": "classifier",
        "config": asdict(config),
        "class_names": list(CLASS_NAMES),
        "data_root": str(data_root),
        "train_images": len(train),
        "val_images": len(val),
        "class_weight": class_weight,
        "segmenter_sha256": segmenter.weights_sha256 if segmenter else None,
    }
    if snapshots is not None:
        snapshots.mkdir(parents=True, exist_ok=True)
    checkpoint = BestF1Checkpoint(x_vals, y_val, out, meta, config.patience, prior, snapshots)
    model.fit(
        dataset,
        epochs=config.epochs,
        steps_per_epoch=max(1, len(train) // config.batch_size),
        class_weight=class_weight,
        callbacks=[
            checkpoint,
            keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=2, min_lr=1e-5),
        ],
        verbose=2,
    )
    best = LungClassifier.load(out)
    # The validation inputs of every mask variant are gated already: the answer's logits.
    temperature = fit_temperature(np.mean([best.logits(x) for x in x_vals], axis=0), y_val)
    final_meta = {
        **modelfile.read_meta(out),
        "temperature": temperature,
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
        "temperature": temperature,
        "weights": str(out),
    }


def set_mask_variants(
    weights: Path, variants: tuple[int, ...], data_root: Path, split_file: Path = SPLIT_FILE
) -> dict:
    """Make a trained masked classifier answer over ``variants``; refit its temperature.

    Averaging over grown and shrunk masks is an inference setting, chosen on the
    validation split after training; the temperature fitted to single-mask logits
    would be off for averaged ones, so it is refitted on the same split, as the
    pipeline sees it (burned-in overlays removed). The weights file is left alone;
    its sidecar records the setting and the answer's scores.
    """
    classifier = LungClassifier.load(weights)
    if not classifier.masked:
        raise ModelFileError(f"{weights} is a raw-input classifier: it uses no lung mask")
    meta = modelfile.read_meta(weights)
    meta["config"]["model"]["gate"]["mask_variants_px"] = list(variants)
    classifier.config = ClassifierConfig.from_dict(meta["config"]["model"])
    (val,) = split_records(data_root, split_file, "val")
    images, masks = images_and_masks(UNetSegmenter.load(), val, BurnInConfig())
    labels = labels_of(val)
    logits = classifier.answer_logits(images, masks)
    pred = logits.argmax(-1)
    meta["temperature"] = fit_temperature(logits, labels)
    meta["answer_val"] = {
        "mask_variants_px": list(variants),
        "val_accuracy": float((pred == labels).mean()),
        "val_macro_f1": float(f1_score(labels, pred, average="macro")),
    }
    modelfile.sidecar(weights).write_text(json.dumps(meta, indent=2) + "\n")
    return {**meta["answer_val"], "temperature": meta["temperature"]}
