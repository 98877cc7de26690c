"""Mutated PNG, JPEG and DICOM files: every failure is an ``ImageInputError``, never a 500.

A fixed seed makes the same few hundred files every run. The seeds cover the codecs a
mutation reaches: PIL's PNG and JPEG readers, pydicom's parser and VOI/modality LUTs,
and the RLE decoder (a Rust codec whose panics are ``BaseException``, not ``Exception``).
"""

import numpy as np
import pytest
from fastapi.testclient import TestClient
from files import dicom, encode, gradient
from pydicom.uid import RLELossless

from lunggate.api.app import ApiConfig, create_app
from lunggate.core.imageio import ImageInputError, decode

TWELVE_BIT = gradient(dtype=np.uint16) >> 4
SEEDS = {
    "png": encode(".png", gradient()),
    "jpeg": encode(".jpg", gradient()),
    "dicom": dicom(TWELVE_BIT, WindowWidth=100, WindowCenter=50, RescaleSlope=1),
    "dicom-rle": dicom(TWELVE_BIT, compress=RLELossless),
}


def mutants(data: bytes, count: int, seed: int) -> list[bytes]:
    """``count`` copies of ``data``, each with a few bytes overwritten, cut or inserted."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        buf = bytearray(data)
        for _ in range(int(rng.integers(1, 8))):
            pos, roll = int(rng.integers(0, len(buf))), rng.random()
            if roll < 0.6:
                buf[pos] = int(rng.integers(0, 256))
            elif roll < 0.8:
                del buf[pos : pos + int(rng.integers(1, 64))]
            else:
                buf[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 16)), np.uint8).tobytes()
        out.append(bytes(buf))
    return out


@pytest.mark.parametrize("kind", list(SEEDS))
def test_no_exception_type_escapes_decode(kind):
    for k, data in enumerate(mutants(SEEDS[kind], 150, seed=len(kind))):
        try:
            decode(data)
        except ImageInputError as exc:
            assert exc.code in {"not_an_image", "unreadable_image", "implausible_image"}, k


def with_value(data: bytes, group: int, element: int, value: bytes) -> bytes:
    """``data`` with the 4-byte DS value of one explicit-VR element overwritten
    (pydicom refuses to write a non-numeric DS itself)."""
    tag = group.to_bytes(2, "little") + element.to_bytes(2, "little") + b"DS\x04\x00"
    at = data.index(tag) + len(tag)
    return data[:at] + value + data[at + 4 :]


NUMBERS = {"WindowWidth": 10.0, "WindowCenter": 50.0, "RescaleSlope": 1, "RescaleIntercept": 0}


@pytest.mark.parametrize(
    "data",
    [
        dicom(TWELVE_BIT, WindowWidth=0, WindowCenter=50),
        with_value(dicom(TWELVE_BIT, **NUMBERS), 0x0028, 0x1053, b"x.y "),
        with_value(dicom(TWELVE_BIT, **NUMBERS), 0x0028, 0x1050, b"??? "),
    ],
    ids=["window-width-0", "slope-not-a-number", "centre-not-a-number"],
)
def test_malformed_dicom_pixel_attributes_are_input_errors(data):
    with pytest.raises(ImageInputError) as info:
        decode(data)
    assert info.value.code == "unreadable_image"


def test_api_answers_every_mutant_with_json_and_keeps_a_batchs_good_items(tiny_pipeline):
    files = [m for kind in SEEDS for m in mutants(SEEDS[kind], 12, seed=7)]
    good = encode(".png", gradient(256, 256))
    with TestClient(create_app(ApiConfig(), tiny_pipeline)) as client:
        for data in files:
            response = client.post("/v1/predict", files={"file": ("x", data)})
            assert response.status_code in {200, 415, 422}
            assert response.headers["content-type"] == "application/json"
        batch = [("files", (f"m{k}", d)) for k, d in enumerate(files[:15])] + [
            ("files", ("good.png", good))
        ]
        items = client.post("/v1/predict/batch", files=batch).json()["items"]
    assert len(items) == 16
    assert items[-1]["filename"] == "good.png" and "error" in items[-1] or items[-1]["result"]
