"""The one reader of users' images: PNG/JPEG (8/16-bit, grey/RGB/RGBA) and DICOM,
from an upload's bytes (``decode``) or a file (``read_image``).

Every command that takes users' images (predict, segment, audit on either engine, the
API) reads them here, so each accepts the same formats and shrinks them the same way.

Everything becomes a 2-D uint8 grey image no larger than ``WORKING_SIDE`` per side,
so nothing after decoding costs more for a huge upload than for a normal film. Bad
input raises ``ImageInputError`` with a stable ``code`` the API maps to a status,
whatever a codec raised (some raise ``SyntaxError`` or, from Rust, a panic that is
not an ``Exception``). No patient-identifying DICOM field is read into the result:
only pixel-describing attributes are kept.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lunggate.core.errors import LunggateError

MAX_PIXELS = 40_000_000
"""Larger images are refused before decoding (a 60000x60000 header is a memory bomb)."""
MIN_SIDE = 64
"""Smaller images cannot show lungs at any useful resolution."""
WORKING_SIDE = 1024
"""Decoded images are shrunk to at most this many pixels per side: lunggate's networks
see 128-224 px, and the mark removal's cost grows with the pixel count."""
MAX_INFLATED_BYTES = 200 * 1024 * 1024
"""A deflate-compressed DICOM may inflate to at most this much (a zip bomb otherwise)."""
DEFLATED = b"1.2.840.10008.1.2.1.99"
_NOT_INPUT_ERRORS = (KeyboardInterrupt, SystemExit, GeneratorExit)


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
    except (UnidentifiedImageError, SyntaxError) as exc:
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
    fmt = image.format or ""
    if fmt == "JPEG":
        image.draft("L", (WORKING_SIDE, WORKING_SIDE))  # decode at a reduced scale
    try:
        image.load()
        # A phone or scanner JPEG may store the film sideways with an EXIF rotation tag.
        image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageInputError(
            "unreadable_image", f"image data is truncated or corrupt: {exc}"
        ) from exc
    mode = image.mode
    if mode in {"RGB", "RGBA", "P", "LA", "CMYK", "YCbCr"}:
        image = image.convert("L")  # ITU-R 601 luma; alpha is dropped
    pixels = np.asarray(image)
    if pixels.ndim != 2:
        raise ImageInputError("implausible_image", f"unsupported pixel layout {mode}")
    return DecodedImage(to_uint8(pixels), fmt, {"mode": mode, "bits": _bits(pixels)})


def _bits(pixels: np.ndarray) -> int:
    return 8 * pixels.dtype.itemsize


def _check_inflated(data: bytes) -> None:
    """Refuse a deflate-compressed DICOM whose data set inflates beyond the limit.

    pydicom inflates the whole data set in one call; this inflates it first in
    bounded steps, stopping at ``MAX_INFLATED_BYTES``.
    """
    if DEFLATED not in data[:4096]:
        return
    # The file meta group (not deflated) starts with its own length, (0002,0000) UL.
    if data[132:138] != b"\x02\x00\x00\x00UL":
        raise ImageInputError(
            "unreadable_image", "deflated DICOM file has no file meta group length"
        )
    start = 144 + int.from_bytes(data[140:144], "little")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total, chunk = 0, data[start:]
    while chunk and not inflater.eof:
        try:
            total += len(inflater.decompress(chunk, 16 * 1024 * 1024))
        except zlib.error:
            return  # not deflated where expected: pydicom's own error will say so
        chunk = inflater.unconsumed_tail
        if total > MAX_INFLATED_BYTES:
            raise ImageInputError(
                "implausible_image",
                f"compressed DICOM inflates beyond the limit of {MAX_INFLATED_BYTES:,} bytes",
            )


def _decode_dicom(data: bytes) -> DecodedImage:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    _check_inflated(data)
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


def shrink(pixels: np.ndarray, side: int = WORKING_SIDE) -> np.ndarray:
    """Scale a grey image down (area-averaged) so neither side exceeds ``side``."""
    h, w = pixels.shape
    scale = side / max(h, w)
    if scale >= 1:
        return pixels
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def decode(data: bytes) -> DecodedImage:
    """Decode an uploaded file's bytes into a grey uint8 image of at most ``WORKING_SIDE``.

    Raises:
        ImageInputError: empty, unsupported, corrupt, multi-frame or implausibly sized,
            or anything else a codec raised while reading it.
    """
    if not data:
        raise ImageInputError("unreadable_image", "file is empty (0 bytes)")
    try:
        decoded = _decode_dicom(data) if is_dicom(data) else _decode_raster(data)
    except (ImageInputError, *_NOT_INPUT_ERRORS):
        raise
    except MemoryError as exc:
        raise ImageInputError("implausible_image", "image is too large to decode") from exc
    except BaseException as exc:  # noqa: BLE001 - codecs raise anything, Rust panics included
        kind = "DICOM file" if is_dicom(data) else "image"
        raise ImageInputError(
            "unreadable_image", f"{kind} cannot be decoded ({type(exc).__name__}: {exc})"[:300]
        ) from exc
    h, w = decoded.pixels.shape
    if max(h, w) <= WORKING_SIDE:
        return decoded
    info = {**decoded.info, "original_width": w, "original_height": h}
    return DecodedImage(shrink(decoded.pixels), decoded.format, info)


def read_image(path: Path) -> np.ndarray:
    """A file's grey pixels, decoded as ``decode`` does.

    Raises:
        ImageInputError: the file is missing or cannot be read (the message names it),
            or its bytes do not decode.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageInputError("unreadable_image", f"{path} does not exist") from None
    except OSError as exc:
        raise ImageInputError("unreadable_image", f"{path} cannot be read ({exc})") from None
    return decode(data).pixels
