"""Augmentations shared by both stages: the variation one expects between hospitals.

Geometry stays mild (a chest X-ray is never upside down) and there is no horizontal
flip, because left and right lungs differ (the heart sits on the left).
"""

import albumentations as A
import cv2


def xray_augmentation(mask_interpolation: int = cv2.INTER_LINEAR) -> A.Compose:
    """Photometric and small geometric changes, applied to image and mask together."""
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
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.7),
            A.RandomGamma(gamma_limit=(80, 125), p=0.5),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.Sharpen(alpha=(0.1, 0.3))], p=0.2),
            A.GaussNoise(std_range=(0.01, 0.04), p=0.2),
        ]
    )
