"""Builders of test files in memory: PNG/JPEG variants, DICOM, and deliberately broken ones."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def gradient(h: int = 128, w: int = 96, dtype=np.uint8) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.linspace(0, top, h * w).reshape(h, w).astype(dtype)


def encode(ext: str, pixels: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, pixels)
    assert ok
    return buf.tobytes()


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but whose data is tiny."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 10))
        + chunk(b"IEND", b"")
    )


def dicom(
    pixels: np.ndarray | None = None,
    photometric: str = "MONOCHROME2",
    frames: int = 1,
    compress: str | None = None,
    **attrs,
) -> bytes:
    """A minimal DICOM file with identifying fields set, so tests can check they never leak."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "SECRET-123"
    ds.PatientBirthDate = "19700101"
    ds.Modality = "CR"
    if pixels is not None:
        if frames > 1:
            pixels = np.stack([pixels] * frames)
            ds.NumberOfFrames = frames
        ds.Rows, ds.Columns = pixels.shape[-2:]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.PixelData = pixels.astype(np.uint16).tobytes()
    for key, value in attrs.items():
        setattr(ds, key, value)
    if compress:
        ds.compress(compress)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def dicom_deflated(data: bytes, syntax) -> bytes:
    """``data`` (a DICOM file) rewritten with its data set deflate-compressed."""
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data))
    ds.file_meta.TransferSyntaxUID = syntax
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
