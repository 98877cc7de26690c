"""What the U-Net's and the classifier's training share: best-on-validation checkpoints,
batch-norm statistics for from-scratch models."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from lunggate.core import modelfile
from lunggate.core.backend import keras


class BestOnValidation(keras.callbacks.Callback):
    """Scores the validation split each epoch; saves on improvement, stops after ``patience``.

    A continued run (``prior``: the sidecar of its initial weights) starts from their
    history, and saves them first, so an interrupted run leaves weights behind and its
    history counts every epoch the weights saw. With ``beat_prior`` it also starts from
    their score, so ``out`` never ends worse on validation than where it started;
    without, it keeps the best of its own epochs (a continuation that trains for what
    the validation split cannot show).
    Every save carries the history so far, so an interrupted run's weights still say
    how they were trained.

    Subclasses say what is scored: ``evaluate`` returns the validation figures,
    ``criterion`` names the one to maximize, ``row`` lays out an epoch's history row.
    """

    criterion: str

    def __init__(
        self,
        out: Path,
        meta: dict,
        patience: int,
        prior: dict | None = None,
        beat_prior: bool = True,
    ) -> None:
        super().__init__()
        self.out, self.meta, self.patience = out, meta, patience
        self.continued, self.beat_prior = prior is not None, beat_prior
        self.history = list((prior or {}).get("history", []))
        self.offset = len(self.history)
        # Patience counts from the start of this run; the saved epoch is the prior best's.
        self.best, self.best_epoch = -math.inf, self.offset
        self.prior_epoch = int((prior or {}).get("epoch", self.offset))
        self._start = time.time() - (self.history[-1]["seconds"] if self.history else 0.0)

    def evaluate(self) -> dict[str, float]:
        raise NotImplementedError

    def row(self, logs: dict, scores: dict[str, float]) -> dict[str, float]:
        """An epoch's figures besides its number and time."""
        return {"loss": float(logs.get("loss", math.nan)), **scores}

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.continued:
            scores = self.evaluate()
            if self.beat_prior:
                self.best = scores[self.criterion]
            self._save(scores, self.prior_epoch)
            print(json.dumps({"epoch": self.prior_epoch, **scores}), flush=True)

    def _save(self, scores: dict[str, float], epoch: int) -> None:
        meta = {**self.meta, **scores, "epoch": epoch, "history": self.history}
        modelfile.save(self.model.get_weights(), self.out, meta)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        scores = self.evaluate()
        if logs is not None:
            logs.update(scores)  # callbacks after this one (the LR schedule) can watch them
        epoch += self.offset + 1
        row = {
            "epoch": epoch,
            **self.row(logs or {}, scores),
            "seconds": round(time.time() - self._start, 1),
        }
        self.history.append(row)
        print(json.dumps(row), flush=True)
        if scores[self.criterion] > self.best:
            self.best, self.best_epoch = scores[self.criterion], epoch
            self._save(scores, epoch)
        elif epoch - self.best_epoch >= self.patience:
            self.model.stop_training = True


def track_batch_statistics(model: keras.Model, momentum: float = 0.9) -> None:
    """Let batch-norm moving statistics follow a from-scratch model's fast-changing weights.

    With Keras' default momentum (0.99) they lag so far behind early training that the
    model predicts nothing in inference mode for several epochs.
    """
    for layer in model.submodules:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
