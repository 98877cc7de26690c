"""A wheel that works: built from the checkout, installed (not editable) into a fresh
environment, it finds its weights and answers from any folder."""

import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import SAMPLES

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_an_installed_wheel_carries_its_files_and_predicts(tmp_path: Path):
    pip = [sys.executable, "-m", "pip"]
    out = tmp_path / "wheel"
    build = [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT), "-w", str(out)]
    subprocess.run(build, check=True, capture_output=True)
    (wheel,) = out.glob("lunggate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (
        "lunggate/data/models/classifier_masked.npz",
        "lunggate/data/models/classifier_masked.json",
        "lunggate/data/models/unet_mobilenetv2_128.npz",
        "lunggate/data/splits/cxr4.csv",
        "lunggate/recipes/classifier_masked.toml",
        "lunggate/reports/classification_masked.json",
        "lunggate/api/static/index.html",
        "lunggate/audit/report.js",
        "lunggate/audit/report.html.j2",
    ):
        assert shipped in names, shipped
    # A fresh environment that borrows this one's dependencies (not its editable
    # lunggate: a path added by a .pth file does not run that folder's .pth files).
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "borrowed.pth").write_text(site.getsitepackages()[0] + "\n")
    install = [*pip, "--python", str(python), "install", "-q", "--no-deps", str(wheel)]
    subprocess.run(install, check=True, capture_output=True)
    # Compiled networks are cached per weights file: reuse the checkout's.
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    (ROOT / ".cache").mkdir(exist_ok=True)
    (xdg / "lunggate").symlink_to(ROOT / ".cache")
    env = {**os.environ, "XDG_CACHE_HOME": str(xdg)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lunggate = str(env_dir / "bin" / "lunggate")
    where = subprocess.run(
        [str(python), "-c", "import lunggate.core.paths as p; print(p.MODELS_DIR)"],
        cwd=elsewhere,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(purelib)  # the installed copy's, not the checkout's
    helped = subprocess.run([lunggate, "predict", "--help"], cwd=elsewhere, capture_output=True)
    assert helped.returncode == 0
    ran = subprocess.run(
        [lunggate, "predict", str(SAMPLES[0])],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith(f"{SAMPLES[0].name}: ") and "in-lung attention" in ran.stdout
