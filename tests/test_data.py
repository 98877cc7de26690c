import shutil
from pathlib import Path

import pytest

from lunggate.core import CLASS_NAMES
from lunggate.core.data import load_images, read_gray, scan_dataset
from lunggate.core.errors import DatasetError


def test_scan_lists_every_image_with_its_mask(tiny_dataset: Path):
    records = scan_dataset(tiny_dataset)
    assert len(records) == 3 * len(CLASS_NAMES)
    assert {r.label for r in records} == set(CLASS_NAMES)
    assert all(r.mask.is_file() for r in records)
    assert [r.id for r in records] == sorted(r.id for r in records)


def test_scan_accepts_folder_names_with_spaces(tiny_dataset: Path):
    (tiny_dataset / "Viral_Pneumonia").rename(tiny_dataset / "Viral Pneumonia")
    assert len(scan_dataset(tiny_dataset)) == 12


def test_scan_rejects_missing_root(tmp_path: Path):
    with pytest.raises(DatasetError, match="does not exist"):
        scan_dataset(tmp_path / "nowhere")


def test_scan_rejects_class_without_images(tiny_dataset: Path):
    for f in (tiny_dataset / "Normal" / "images").iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match="Normal.*no images"):
        scan_dataset(tiny_dataset)


def test_scan_rejects_missing_class_folder(tiny_dataset: Path):
    shutil.rmtree(tiny_dataset / "COVID")
    with pytest.raises(DatasetError, match="COVID is missing"):
        scan_dataset(tiny_dataset)


def test_scan_rejects_image_without_mask(tiny_dataset: Path):
    (tiny_dataset / "COVID" / "masks" / "img1.png").unlink()
    with pytest.raises(DatasetError, match="img1.png has no lung mask"):
        scan_dataset(tiny_dataset)
    assert len(scan_dataset(tiny_dataset, require_masks=False)) == 12


def test_manifest_with_unknown_class_is_rejected(tiny_dataset: Path):
    (tiny_dataset / "manifest.csv").write_text(
        "id,class,image,mask\nx,Tuberculosis,COVID/images/img0.png,COVID/masks/img0.png\n"
    )
    with pytest.raises(DatasetError, match="unknown class 'Tuberculosis'"):
        scan_dataset(tiny_dataset)


def test_read_gray_rejects_non_images(tmp_path: Path):
    bogus = tmp_path / "note.png"
    bogus.write_text("not an image")
    with pytest.raises(DatasetError, match="cannot read"):
        read_gray(bogus)


def test_load_images_resizes(tiny_dataset: Path):
    records = scan_dataset(tiny_dataset)
    arr = load_images([r.image for r in records[:4]], size=32)
    assert arr.shape == (4, 32, 32) and arr.dtype.name == "uint8"
