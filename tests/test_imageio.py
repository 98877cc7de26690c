"""Decoding uploads: every supported variant, and a clear error for each kind of bad file."""

import io

import numpy as np
import pytest
from files import dicom, dicom_deflated, encode, gradient, png_with_header
from pydicom.uid import RLELossless

from lunggate.core.imageio import ImageInputError, decode


def test_8bit_grey_png_passes_unchanged():
    pixels = gradient()
    out = decode(encode(".png", pixels))
    assert out.format == "PNG"
    np.testing.assert_array_equal(out.pixels, pixels)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (encode(".png", gradient(dtype=np.uint16)), "PNG"),
        (encode(".png", np.dstack([gradient()] * 3)), "PNG"),
        (encode(".png", np.dstack([gradient()] * 3 + [np.full((128, 96), 255, np.uint8)])), "PNG"),
        (encode(".jpg", gradient()), "JPEG"),
        (encode(".jpg", np.dstack([gradient()] * 3)), "JPEG"),
    ],
    ids=["png16", "rgb", "rgba", "jpeg-grey", "jpeg-rgb"],
)
def test_variants_become_2d_uint8_with_full_range(data, fmt):
    out = decode(data)
    assert out.format == fmt
    assert out.pixels.shape == (128, 96) and out.pixels.dtype == np.uint8
    assert out.pixels.min() <= 5 and out.pixels.max() >= 250


def test_dicom_monochrome2_and_monochrome1_are_opposites():
    pixels = gradient(dtype=np.uint16) >> 4  # 12-bit
    m2 = decode(dicom(pixels, "MONOCHROME2"))
    m1 = decode(dicom(pixels, "MONOCHROME1"))
    assert m2.format == "DICOM" and m2.pixels.shape == (128, 96)
    np.testing.assert_array_equal(m1.pixels, 255 - m2.pixels)
    assert m2.pixels[0, 0] < m2.pixels[-1, -1]


def test_dicom_rescale_and_window_are_applied():
    pixels = gradient(dtype=np.uint16) >> 4
    windowed = decode(
        dicom(pixels, WindowCenter=1000, WindowWidth=200, RescaleSlope=1, RescaleIntercept=0)
    )
    assert (windowed.pixels == 0).mean() > 0.1 and (windowed.pixels == 255).mean() > 0.1


def test_compressed_dicom_decodes():
    pixels = gradient(dtype=np.uint16) >> 4
    out = decode(dicom(pixels, compress=RLELossless))
    np.testing.assert_array_equal(out.pixels, decode(dicom(pixels)).pixels)


def test_dicom_info_never_carries_patient_data():
    out = decode(dicom(gradient(dtype=np.uint16) >> 4))
    text = repr(out.info)
    assert "Doe" not in text and "SECRET" not in text and "1970" not in text


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"", "unreadable_image", "empty"),
        (b"hello, I am a text file", "not_an_image", "not a PNG"),
        (encode(".png", gradient())[:200], "unreadable_image", "truncated"),
        (encode(".jpg", gradient())[:300], "unreadable_image", "truncated"),
        (encode(".png", np.zeros((1, 1), np.uint8)), "implausible_image", "1x1"),
        (png_with_header(60000, 60000), "implausible_image", "over the limit"),
        (encode(".bmp", gradient()), "not_an_image", "BMP"),
        (encode(".tiff", gradient()), "not_an_image", "TIFF"),
        (dicom(None), "implausible_image", "no pixel data"),
        (dicom(gradient(dtype=np.uint16) >> 4, frames=3), "implausible_image", "multi-frame"),
        (dicom(gradient(dtype=np.uint16) >> 4)[:-1000], "unreadable_image", "DICOM"),
    ],
    ids=[
        "empty",
        "text",
        "png-truncated",
        "jpeg-truncated",
        "1x1",
        "bomb-header",
        "bmp",
        "tiff",
        "dicom-no-pixels",
        "dicom-multiframe",
        "dicom-truncated",
    ],
)
def test_bad_files_raise_a_coded_readable_error(data, code, words):
    with pytest.raises(ImageInputError) as info:
        decode(data)
    assert info.value.code == code
    assert words in str(info.value)


def test_exif_orientation_is_applied_on_read():
    from PIL import Image

    pixels = gradient()  # 128 x 96, dark at the top
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    Image.fromarray(pixels).save(buf, "JPEG", exif=exif, quality=95)
    out = decode(buf.getvalue())
    assert out.pixels.shape == (96, 128)
    # Turned upright, the dark first row of the stored image is now the right column.
    assert out.pixels[:, -1].mean() < 20 and out.pixels[:, 0].mean() > 230


def test_huge_images_are_shrunk_to_the_working_size_before_anything_else():
    from lunggate.core.imageio import WORKING_SIDE

    out = decode(encode(".png", gradient(3000, 2000)))
    assert max(out.pixels.shape) == WORKING_SIDE and out.pixels.shape == (1024, 683)
    assert (out.info["original_width"], out.info["original_height"]) == (2000, 3000)
    jpeg = decode(encode(".jpg", gradient(4000, 2400)))
    assert jpeg.pixels.shape == (1024, 614)


def test_deflated_dicom_that_inflates_beyond_the_limit_is_refused(monkeypatch):
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    import lunggate.core.imageio as imageio

    data = dicom(np.zeros((512, 512), np.uint16), compress=None)
    deflated = dicom_deflated(data, DeflatedExplicitVRLittleEndian)
    assert decode(deflated).pixels.shape == (512, 512)
    monkeypatch.setattr(imageio, "MAX_INFLATED_BYTES", 100_000)  # the file inflates to ~0.5 MB
    with pytest.raises(ImageInputError, match="inflates beyond") as info:
        decode(deflated)
    assert info.value.code == "implausible_image"
