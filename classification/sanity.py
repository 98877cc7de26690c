"""The model-parameter randomisation test for Grad-CAM (Adebayo et al. 2018).

A saliency map that stays the same when the network's weights are replaced by noise
explains the input, not the model. The test randomises the layers from the top down,
one block more at each step (cascading), recomputes the maps of the same images and
classes, and reports the rank correlation (Spearman) with the trained model's maps.
A map worth reading decorrelates as soon as the top layers are randomised.

Each weight tensor is redrawn from a normal distribution with its own mean and
standard deviation: activations keep their scale, so the randomised maps are not
trivially flat. Batch-norm moving statistics are kept for the same reason. The
trained model is never touched; the test works on a clone.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import spearmanr

from lunggate.classification.gradcam import GradCAM
from lunggate.core.backend import keras

_BLOCK = re.compile(r"^([a-z]*\d+[a-z]?)_")
"""A layer name's block, the Keras-applications way: ``block15_dw`` -> ``block15``."""


@dataclass(frozen=True)
class Step:
    """Maps after randomising the top layers, against the trained model's maps."""

    randomised: str
    """The block randomised at this step (all above it already are)."""
    layers: int
    """Layers randomised so far."""
    spearman_median: float
    spearman_p90: float
    """Nine maps in ten correlate less than this with the trained one."""
    flat_share: float
    """Share of maps that went flat (no evidence anywhere); counted as correlation 0."""


@dataclass(frozen=True)
class Randomisation:
    images: int
    steps: tuple[Step, ...]

    def to_dict(self) -> dict:
        return {"images": self.images, "steps": [asdict(s) for s in self.steps]}


def weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers with weights from the output down to the input; nested models expanded."""
    found: list[keras.layers.Layer] = []
    for layer in reversed(model.layers):
        if isinstance(layer, keras.Model):
            found += weighted_layers(layer)
        elif layer.weights:
            found.append(layer)
    return found


def blocks(model: keras.Model, max_steps: int) -> list[tuple[str, list[keras.layers.Layer]]]:
    """Consecutive layers of one block grouped, top first; the last group is the rest,
    so the final step always randomises every layer."""
    groups: list[tuple[str, list[keras.layers.Layer]]] = []
    for layer in weighted_layers(model):
        match = _BLOCK.match(layer.name)
        key = match.group(1) if match else layer.name
        if groups and groups[-1][0] == key:
            groups[-1][1].append(layer)
        else:
            groups.append((key, [layer]))
    if len(groups) > max_steps:
        rest = [layer for _, group in groups[max_steps - 1 :] for layer in group]
        groups = [*groups[: max_steps - 1], ("all the rest", rest)]
    return groups


def _redraw(layer: keras.layers.Layer, rng: np.random.Generator) -> None:
    for weight in layer.weights:
        if "moving_" in weight.name:
            continue
        value = weight.numpy()
        spread = float(value.std()) or 0.05
        weight.assign(rng.normal(float(value.mean()), spread, value.shape).astype(value.dtype))


def map_correlation(trained: np.ndarray, randomised: np.ndarray) -> float:
    """Spearman rank correlation of two maps; 0 when either is flat."""
    if np.ptp(trained) == 0 or np.ptp(randomised) == 0:
        return 0.0
    return float(spearmanr(trained.ravel(), randomised.ravel()).statistic)


def randomisation_test(
    model: keras.Model, x: np.ndarray, max_steps: int = 12, seed: int = 0
) -> Randomisation:
    """Cascading randomisation of ``model``'s layers on prepared input ``x``.

    Args:
        model: maps (N, H, W, C) input to (N, classes) scores.
        x: the model's input for the images to explain.
        max_steps: blocks randomised one by one before the last step takes the rest.
        seed: fixes every redrawn weight.
    """
    trained_maps, logits, _ = GradCAM(model)(x)
    classes = logits.argmax(-1).astype(np.int32)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    by_name = {layer.name: layer for layer in weighted_layers(clone)}
    explain = GradCAM(clone)
    rng = np.random.default_rng(seed)
    steps, done = [], 0
    for name, group in blocks(model, max_steps):
        for layer in group:
            _redraw(by_name[layer.name], rng)
        done += len(group)
        maps, _, _ = explain(x, classes)
        rho = np.array([map_correlation(a, b) for a, b in zip(trained_maps, maps, strict=True)])
        flat = np.array([np.ptp(m) == 0 for m in maps])
        steps.append(
            Step(
                randomised=name,
                layers=done,
                spearman_median=round(float(np.median(rho)), 4),
                spearman_p90=round(float(np.percentile(rho, 90)), 4),
                flat_share=round(float(flat.mean()), 4),
            )
        )
    return Randomisation(images=len(x), steps=tuple(steps))
