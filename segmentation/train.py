"""``lunggate lab train-seg``: fit the U-Net on the train split, keep the best on validation.

The checkpoint criterion is what users get: Dice of the post-processed mask at the
image's own resolution on the validation split, not the loss at network resolution.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
from tqdm.keras import TqdmCallback

from lunggate.core import modelfile
from lunggate.core.augment import BurnedInMarks, xray_augmentation
from lunggate.core.backend import keras, sm, tf
from lunggate.core.data import Record, load_images, read_mask
from lunggate.core.paths import SPLIT_FILE
from lunggate.core.splits import split_records
from lunggate.core.training import BestOnValidation, track_batch_statistics
from lunggate.segmentation.config import MarkRemovalConfig, SegTrainConfig
from lunggate.segmentation.marks import remove_all
from lunggate.segmentation.metrics import dice
from lunggate.segmentation.model import build_unet, standardize
from lunggate.segmentation.segmenter import UNetSegmenter


def soft_masks(records: list[Record], size: int) -> np.ndarray:
    """Masks area-resized to ``size``: boundary pixels keep their lung fraction."""
    return np.stack(
        [
            cv2.resize(
                read_mask(r.mask).astype(np.float32), (size, size), interpolation=cv2.INTER_AREA
            )
            for r in records
        ]
    )


def batches(
    images: np.ndarray,
    masks: np.ndarray,
    batch_size: int,
    seed: int,
    marks: float,
    mark_removal: MarkRemovalConfig = MarkRemovalConfig(enabled=False),
):
    """Endless augmented (x, y) batches, reshuffled each pass.

    Each augmented image then goes through the mark removal as serving's input
    does, so the U-Net learns on painted-over marks, which is what it will be shown.
    """
    augment = xray_augmentation(marks=marks)
    augment.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(images))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            pairs = [
                augment(image=images[i], mask=masks[i]) for i in order[start : start + batch_size]
            ]
            cleaned = remove_all([p["image"] for p in pairs], mark_removal)
            x = standardize(np.stack(cleaned))[..., None]
            y = np.stack([p["mask"] for p in pairs])[..., None]
            yield x, y.astype(np.float32)


def marked_copies(images: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """The images with random burned-in marks, the same marks for the same seed."""
    marks = BurnedInMarks(p=1.0)
    return [marks.apply(image, seed=seed + k) for k, image in enumerate(images)]


class BestDiceCheckpoint(BestOnValidation):
    """Keeps the weights with the best validation Dice at full resolution.

    The criterion is the mean Dice over the clean validation images and over copies
    with burned-in marks: a segmenter whose mask follows a marker into the
    mediastinum moves the classifier's gate, however well it does on clean films.
    Both sets go through ``mark_removal`` first, as serving's input does.
    """

    criterion = "score"

    def __init__(
        self,
        segmenter: UNetSegmenter,
        images: list[np.ndarray],
        masks: list[np.ndarray],
        out: Path,
        meta: dict,
        patience: int,
        prior: dict | None = None,
        mark_removal: MarkRemovalConfig = MarkRemovalConfig(enabled=False),
    ) -> None:
        super().__init__(out, meta, patience, prior)
        self.segmenter, self.masks = segmenter, masks
        self.images = remove_all(images, mark_removal)
        self.marked = remove_all(marked_copies(images), mark_removal)

    def _dice(self, images: list[np.ndarray]) -> float:
        found = self.segmenter.segment(images)
        return float(np.mean([dice(f.mask, m) for f, m in zip(found, self.masks, strict=True)]))

    def evaluate(self) -> dict[str, float]:
        clean, marked = self._dice(self.images), self._dice(self.marked)
        return {"val_dice": clean, "val_dice_marked": marked, "score": (clean + marked) / 2}


def train_segmenter(
    config: SegTrainConfig,
    data_root: Path,
    out: Path,
    split_file: Path = SPLIT_FILE,
    recipe: str | None = None,
) -> dict:
    """Train the U-Net and write the best-on-validation weights to ``out``; ``recipe``
    (the file the config came from) is recorded in the sidecar beside the config."""
    keras.utils.set_random_seed(config.seed)
    train, val = split_records(data_root, split_file, "train", "val")
    if config.max_train_images:
        train = train[: config.max_train_images]
        val = val[: max(8, config.max_train_images // 4)]
    size = config.unet.input_size
    x_train = load_images([r.image for r in train], size)
    y_train = soft_masks(train, size)
    val_images = list(load_images([r.image for r in val]))
    val_masks = [read_mask(r.mask) for r in val]

    model = build_unet(config.unet)
    if config.init_weights:
        model.set_weights(
            modelfile.load(config.init_weights, [w.dtype for w in model.get_weights()])
        )
    track_batch_statistics(model)
    steps = len(train) // config.batch_size
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=max(1, steps * config.epochs), alpha=0.02
    )
    model.compile(
        keras.optimizers.Adam(schedule), loss=sm.losses.DiceLoss() + sm.losses.BinaryCELoss()
    )
    signature = (
        tf.TensorSpec([None, size, size, 1], tf.float32),
        tf.TensorSpec([None, size, size, 1], tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(
        lambda: batches(
            x_train, y_train, config.batch_size, config.seed, config.marks, config.mark_removal
        ),
        output_signature=signature,
    ).prefetch(4)
    meta = {
        "kind": "segmenter",
        "recipe": recipe,
        "config": asdict(config),
        "data_root": str(data_root),
        "train_images": len(train),
        "val_images": len(val),
    }
    checkpoint = BestDiceCheckpoint(
        UNetSegmenter(model, config.unet),
        val_images,
        val_masks,
        out,
        meta,
        config.patience,
        prior=modelfile.read_meta(config.init_weights) if config.init_weights else None,
        mark_removal=config.mark_removal,
    )
    model.fit(
        dataset,
        epochs=config.epochs,
        steps_per_epoch=steps,
        callbacks=[checkpoint, TqdmCallback(verbose=1)],
        verbose=0,
    )
    return {
        "best_val_dice": checkpoint.best,
        "best_epoch": checkpoint.best_epoch,
        "weights": str(out),
    }
