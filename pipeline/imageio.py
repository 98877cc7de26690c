"""Decoding what users upload: PNG/JPEG (8/16-bit, grey/RGB/RGBA) and DICOM.

Everything becomes a 2-D uint8 grey image. Bad input raises ``ImageInputError`` with
a stable ``code`` the API maps to a status. No patient-identifying DICOM field is
read into the result: only pixel-describing attributes are kept.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from lunggate.errors import LunggateError

MAX_PIXELS = 40_000_000
"""Larger images are refused before decoding (a 60000x60000 header is a memory bomb)."""
MIN_SIDE = 64
"""Smaller images cannot show lungs at any useful resolution."""


class ImageInputError(LunggateError):
    """An upload that cannot be analysed; ``code`` is stable, the message readable.

    Codes: ``not_an_image`` (unsupported format), ``unreadable_image`` (truncated or
    corrupt), ``implausible_image`` (too small, too large, not a single 2-D image).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DecodedImage:
    """A decoded upload: grey uint8 pixels and non-identifying facts about the source."""

    pixels: np.ndarray
    format: str
    info: dict[str, Any] = field(default_factory=dict)


def is_dicom(data: bytes) -> bool:
    return len(data) >= 132 and data[128:132] == b"DICM"


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Stretch any numeric 2-D array to 0-255 (8-bit input passes unchanged)."""
    if pixels.dtype == np.uint8:
        return pixels
    pixels = pixels.astype(np.float64)
    lo, hi = float(pixels.min()), float(pixels.max())
    if hi <= lo:
        return np.zeros(pixels.shape, np.uint8)
    return np.round((pixels - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageInputError(
            "implausible_image",
            f"image is {width}x{height} pixels, over the limit of {MAX_PIXELS:,} pixels",
        )
    if min(width, height) < MIN_SIDE:
        raise ImageInputError(
            "implausible_image",
            f"image is {width}x{height} pixels; at least {MIN_SIDE} px per side is needed",
        )


def _decode_raster(data: bytes) -> DecodedImage:
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ImageInputError("not_an_image", "file is not a PNG, JPEG or DICOM image") from exc
    except Image.DecompressionBombError as exc:
        raise ImageInputError(
            "implausible_image", f"image size is over the limit of {MAX_PIXELS:,} pixels"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ImageInputError("unreadable_image", f"image is truncated or corrupt: {exc}") from exc
    if image.format not in {"PNG", "JPEG"}:
        raise ImageInputError(
            "not_an_image", f"{image.format} images are not supported; send PNG, JPEG or DICOM"
        )
    _check_size(*image.size)
    if getattr(image, "n_frames", 1) > 1:
        raise ImageInputError("implausible_image", "animated or multi-frame images are not X-rays")
    try:
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageInputError(
            "unreadable_image", f"image data is truncated or corrupt: {exc}"
        ) from exc
    mode, fmt = image.mode, image.format or ""
    if mode in {"RGB", "RGBA", "P", "LA", "CMYK", "YCbCr"}:
        image = image.convert("L")  # ITU-R 601 luma; alpha is dropped
    pixels = np.asarray(image)
    if pixels.ndim != 2:
        raise ImageInputError("implausible_image", f"unsupported pixel layout {mode}")
    return DecodedImage(to_uint8(pixels), fmt, {"mode": mode, "bits": _bits(pixels)})


def _bits(pixels: np.ndarray) -> int:
    return 8 * pixels.dtype.itemsize


def _decode_dicom(data: bytes) -> DecodedImage:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise ImageInputError("unreadable_image", f"DICOM file cannot be parsed: {exc}") from exc
    if "PixelData" not in ds:
        raise ImageInputError("implausible_image", "DICOM file holds no image (no pixel data)")
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise ImageInputError("implausible_image", "multi-frame DICOM is not a single radiograph")
    _check_size(int(ds.get("Columns", 0)), int(ds.get("Rows", 0)))
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for bad pixel data
        raise ImageInputError(
            "unreadable_image", f"DICOM pixel data cannot be decoded: {type(exc).__name__}"
        ) from exc
    if pixels.ndim != 2:
        raise ImageInputError("implausible_image", f"DICOM pixel array has shape {pixels.shape}")
    pixels = apply_voi_lut(apply_modality_lut(pixels, ds), ds)
    photometric = str(ds.get("PhotometricInterpretation", ""))
    grey = to_uint8(np.asarray(pixels))
    if photometric == "MONOCHROME1":
        grey = 255 - grey  # MONOCHROME1 shows low values as white
    info = {
        "photometric": photometric,
        "bits": int(ds.get("BitsStored", 0) or 0),
        "modality": str(ds.get("Modality", "")),
    }
    return DecodedImage(grey, "DICOM", info)


def decode(data: bytes) -> DecodedImage:
    """Decode an uploaded file's bytes into a grey uint8 image.

    Raises:
        ImageInputError: empty, unsupported, corrupt, multi-frame or implausibly sized.
    """
    if not data:
        raise ImageInputError("unreadable_image", "file is empty (0 bytes)")
    return _decode_dicom(data) if is_dicom(data) else _decode_raster(data)
