"""The command line: help on every subcommand, one-line errors instead of tracebacks."""

import subprocess
import sys
from pathlib import Path

import pytest

from lunggate.cli import build_parser, main

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"

USERS = ["predict", "segment", "audit", "compare", "serve"]
LAB = [
    "split",
    "train-seg",
    "eval-seg",
    "train-cls",
    "calibrate",
    "eval-cls",
    "eval-familiarity",
    "eval-plausibility",
    "bench",
]


def test_users_commands_come_first_and_the_lab_behind_its_group(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    top = capsys.readouterr().out
    listed = [c for c in [*USERS, "lab", *LAB] if f"\n    {c} " in top]
    assert listed == [*USERS, "lab"]  # in this order, and no lab command among them
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train-cls"])
    assert exit_info.value.code == 2 and "invalid choice: 'train-cls'" in capsys.readouterr().err
    for command in LAB:
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(["lab", command, "--help"])
        assert exit_info.value.code == 0
        assert f"usage: lunggate lab {command}" in capsys.readouterr().out


def test_missing_data_root_is_a_one_line_error(tmp_path: Path, capsys):
    args = ["lab", "split", "--data-root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "s")]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("lunggate lab split: error:")
    assert "does not exist" in err and "Traceback" not in err


def test_segment_rejects_missing_input(tmp_path: Path, capsys):
    assert main(["segment", str(tmp_path / "missing.png"), "--out", str(tmp_path)]) == 2
    assert "missing.png does not exist" in capsys.readouterr().err


def test_segment_writes_the_masks_the_pipeline_gates_with(tmp_path: Path, capsys):
    import cv2
    import numpy as np

    name = "Normal__quex__Normal_10246.png"
    image = cv2.imread(str(SAMPLES / name), cv2.IMREAD_GRAYSCALE)
    lungs = cv2.imread(str(SAMPLES.parent / "sample_masks" / name), cv2.IMREAD_GRAYSCALE) > 0
    rows, cols = np.nonzero(cv2.erode(lungs.astype(np.uint8), np.ones((41, 41), np.uint8)))
    y, x = rows[len(rows) // 2], cols[len(cols) // 2]  # deep inside a lung
    image[y - 6 : y + 6, x - 6 : x + 6] = 255  # a marker lying on it
    cv2.imwrite(str(tmp_path / "marked.png"), image)
    assert main(["segment", str(tmp_path / "marked.png"), "--out", str(tmp_path / "out")]) == 0
    assert "marked.png: lung area" in capsys.readouterr().out
    mask = cv2.imread(str(tmp_path / "out" / "marked_mask.png"), cv2.IMREAD_GRAYSCALE) > 0
    assert not mask[y - 4 : y + 4, x - 4 : x + 4].any()  # the marker is carved out...
    ring = np.zeros_like(mask)
    ring[y - 12 : y + 12, x - 12 : x + 12] = True
    ring[y - 9 : y + 9, x - 9 : x + 9] = False
    assert mask[ring].all()  # ...and the lung around it stays


def test_segment_reads_dicom_and_keeps_same_named_files_apart(tmp_path: Path, capsys):
    import cv2
    from files import dicom

    image = cv2.imread(str(SAMPLES / "Normal__quex__Normal_10246.png"), cv2.IMREAD_GRAYSCALE)
    for part in ("a", "b"):
        (tmp_path / "in" / part).mkdir(parents=True)
        (tmp_path / "in" / part / "x.dcm").write_bytes(dicom(image))
    assert main(["segment", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.count("x.dcm: lung area") == 2
    for part in ("a", "b"):
        mask = cv2.imread(str(tmp_path / "out" / part / "x_mask.png"), cv2.IMREAD_GRAYSCALE)
        assert mask.shape == image.shape and 0.1 < (mask > 0).mean() < 0.6


def test_segment_says_which_file_it_cannot_read_and_goes_on(tmp_path: Path, capsys):
    import shutil

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a_broken.png").write_bytes(b"not an image")
    shutil.copy(SAMPLES / "Normal__quex__Normal_10246.png", tmp_path / "in" / "b.png")
    assert main(["segment", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
    broken, good = capsys.readouterr().out.splitlines()
    assert broken.startswith("a_broken.png: ERROR") and good.startswith("b.png: lung area")
    assert not (tmp_path / "out" / "a_broken_mask.png").exists()
    assert (tmp_path / "out" / "b_mask.png").is_file() and (
        tmp_path / "out" / "b_lungs.png"
    ).is_file()


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "lunggate.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "predict" in result.stdout and "lab" in result.stdout


@pytest.mark.parametrize("keep", [False, True])
def test_predict_says_whether_burned_in_marks_were_removed(keep: bool, capsys):
    import json

    from conftest import SAMPLES

    args = ["predict", str(SAMPLES[0]), "--json"] + (["--keep-marks"] if keep else [])
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["mark_removal"]["enabled"] is not keep


def test_the_old_keep_burn_in_flag_still_keeps_the_marks(capsys):
    import json

    from conftest import SAMPLES

    assert main(["predict", str(SAMPLES[0]), "--json", "--keep-burn-in"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["mark_removal"]["enabled"] is False


def test_the_threshold_variable_sets_predicts_flag_threshold_and_the_flag_wins(monkeypatch, capsys):
    import json

    from conftest import SAMPLES

    monkeypatch.setenv("LUNGGATE_ATTENTION_THRESHOLD", "0.99")
    assert main(["predict", str(SAMPLES[0]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["attention"]["threshold"] == 0.99
    assert main(["predict", str(SAMPLES[0]), "--json", "--threshold", "0.2"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["attention"]["threshold"] == 0.2
    monkeypatch.setenv("LUNGGATE_ATTENTION_THRESHOLD", "most")
    assert main(["predict", str(SAMPLES[0])]) == 2
    assert "LUNGGATE_ATTENTION_THRESHOLD must be a number" in capsys.readouterr().err


def test_predict_writes_guided_gradcam_on_request(tmp_path: Path):
    from conftest import SAMPLES

    assert main(["predict", str(SAMPLES[0]), "--out", str(tmp_path), "--guided"]) == 0
    written = {p.name.removeprefix(SAMPLES[0].stem) for p in tmp_path.iterdir()}
    assert written == {"_lungs.png", "_gradcam.png", "_guided_gradcam.png", ".json"}


def test_train_cls_trains_the_recipe_with_its_overrides(monkeypatch):
    from lunggate.core.paths import CLASSIFIER_RECIPES

    seen = {}

    def fake_train(config, finder, data_root, out, split_file, recipe=None):
        seen.update(config=config, finder=finder, out=out, recipe=recipe)
        return {"epochs": 0}

    monkeypatch.setattr("lunggate.classification.train.train_classifier", fake_train)
    recipe = str(CLASSIFIER_RECIPES["raw"])
    args = ["lab", "train-cls", "--recipe", recipe, "--set", "seed=12", "model.gate.contrast=none"]
    assert main(args) == 0
    config = seen["config"]
    assert (config.seed, config.model.gate.contrast, config.model.gate.input) == (12, "none", "raw")
    assert config.model.backbone == "efficientnet_lite0"  # the rest is the recipe's
    assert seen["out"].name == "classifier_raw.npz" and seen["finder"] is None  # raw: no lungs
    assert seen["recipe"] == "recipes/classifier_raw.toml seed=12 model.gate.contrast=none"


def test_train_cls_names_an_unknown_setting(capsys):
    assert main(["lab", "train-cls", "--set", "model.gate.colour=red"]) == 2
    err = capsys.readouterr().err
    assert "unknown setting model.gate.'colour'" in err and "contrast" in err


def test_serve_with_a_damaged_model_is_one_line(tmp_path: Path, monkeypatch, capsys):
    import shutil

    from lunggate.core.paths import CLASSIFIER_WEIGHTS
    from lunggate.pipeline.analyze import PipelineConfig

    broken = tmp_path / "classifier_masked.npz"
    broken.write_bytes(b"\\x93NUMPY random bytes")
    shutil.copy(CLASSIFIER_WEIGHTS["masked"].with_suffix(".json"), broken.with_suffix(".json"))
    config = PipelineConfig(classifier_weights=broken)
    monkeypatch.setattr("lunggate.api.app.PipelineConfig", lambda **kw: config)
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged or not a lunggate weights file" in err[0]


def test_predict_prints_nothing_on_stderr_but_its_own_lines():
    from conftest import SAMPLES

    lunggate = Path(sys.executable).with_name("lunggate")
    result = subprocess.run([lunggate, "predict", SAMPLES[0]], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith(SAMPLES[0].name)
    assert result.stderr == ""


def test_native_noise_is_dropped_and_everything_else_kept(capfd):
    import os

    from lunggate.stderr import without_native_noise

    with without_native_noise():
        os.write(2, b"I0000 12 port.cc:153] oneDNN custom operations are on. You may see\n")
        os.write(2, b"E0000 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n")
        os.write(2, b"a warning that matters\n")
        os.write(2, b"\rbar 50%\rbar 100%")  # a progress bar: no newline
    assert capfd.readouterr().err == "a warning that matters\n\rbar 50%\rbar 100%"


def test_audit_names_a_missing_source_and_ray_only_flags(tmp_path: Path, capsys):
    out = str(tmp_path / "out")
    assert main(["audit", str(tmp_path / "nowhere.csv"), "--out", out]) == 2
    assert "audit source" in capsys.readouterr().err
    assert main(["audit", str(SAMPLES), "--out", out, "--workers", "2"]) == 2
    assert "--address and --workers are for --engine ray" in capsys.readouterr().err
