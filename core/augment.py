"""Augmentations shared by both stages: the variation one expects between hospitals.

Geometry stays mild (a chest X-ray is never upside down) and there is no horizontal
flip, because left and right lungs differ (the heart sits on the left).
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np

# Deliberately not the fonts, words or shapes of ``pipeline.artifacts`` (the
# counterfactual test): a model trained on these marks must generalise to those.
_FONTS = (
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_COMPLEX_SMALL,
)
_ALPHABET = np.array(list("ABCDEFGHJKMNPSTUVWXYZ0123456789"))


class BurnedInMarks(A.ImageOnlyTransform):
    """Burns random marks into a grey X-ray: text, rings and dots, curves, rectangles.

    Scanners, technicians and monitoring gear leave such marks anywhere on a film,
    over the lungs too; the lungs under a mark are still lungs, so the target mask
    does not change. Training the U-Net on them teaches it that a bright mark next
    to a lung is not lung, which keeps the gate (and hence the classifier) steady
    when an image carries one.

    Args:
        max_marks: up to this many marks per image (at least one).
        p: probability of applying the transform.
    """

    def __init__(self, max_marks: int = 4, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.max_marks = max_marks

    def get_params(self) -> dict[str, Any]:
        return {"seed": int(self.random_generator.integers(2**31))}

    def apply(self, img: np.ndarray, seed: int = 0, **params: Any) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = img.copy()
        h, w = out.shape[:2]
        side = min(h, w)
        for _ in range(int(rng.integers(1, self.max_marks + 1))):
            value = int(rng.integers(170, 256)) if rng.random() < 0.85 else int(rng.integers(0, 40))
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            kind = rng.integers(4)
            if kind == 0:
                text = "".join(rng.choice(_ALPHABET, size=int(rng.integers(1, 7))))
                scale = side / 256 * rng.uniform(0.35, 1.3)
                font = int(rng.choice(_FONTS))
                thick = max(1, int(round(scale * rng.uniform(1, 2.5))))
                cv2.putText(out, text, (x, y), font, scale, value, thick, cv2.LINE_AA)
            elif kind == 1:
                radius = max(2, int(side * rng.uniform(0.01, 0.05)))
                thick = -1 if rng.random() < 0.5 else max(1, radius // 3)
                cv2.circle(out, (x, y), radius, value, thick, cv2.LINE_AA)
            elif kind == 2:
                n = int(rng.integers(3, 7))
                points = np.stack([rng.uniform(0, w, n), rng.uniform(0, h, n)], 1)
                points = points[np.argsort(points[:, 1])].astype(np.int32)
                thick = max(1, int(side * rng.uniform(0.003, 0.015)))
                cv2.polylines(out, [points], False, value, thick, cv2.LINE_AA)
            else:
                dx, dy = (int(side * rng.uniform(0.02, 0.15)) for _ in range(2))
                cv2.rectangle(out, (x, y), (x + dx, y + dy), value, -1)
        return out

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("max_marks",)


def xray_augmentation(mask_interpolation: int = cv2.INTER_LINEAR, marks: float = 0.0) -> A.Compose:
    """Photometric and small geometric changes, applied to image and mask together.

    Args:
        mask_interpolation: how the mask is resampled by the affine warp.
        marks: probability of burning in random marks (``BurnedInMarks``); the mask
            is left as it was.
    """
    return A.Compose(
        [
            A.Affine(
                scale=(0.9, 1.1),
                translate_percent=(-0.06, 0.06),
                rotate=(-10, 10),
                border_mode=cv2.BORDER_CONSTANT,
                mask_interpolation=mask_interpolation,
                p=0.8,
            ),
            BurnedInMarks(p=marks),
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.7),
            A.RandomGamma(gamma_limit=(80, 125), p=0.5),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.Sharpen(alpha=(0.1, 0.3))], p=0.2),
            A.GaussNoise(std_range=(0.01, 0.04), p=0.2),
        ]
    )
