"""The shipped weights on the bundled samples (test-split images no model was trained on)."""

import json

import pytest

from conftest import SAMPLES
from lunggate.core import modelfile
from lunggate.core.data import read_gray, read_mask
from lunggate.core.errors import ModelFileError
from lunggate.core.paths import CLASSIFIER_WEIGHTS, DATA_DIR, REPORTS_DIR, SEGMENTER_WEIGHTS
from lunggate.segmentation.metrics import dice
from lunggate.segmentation.segmenter import UNetSegmenter


@pytest.fixture(scope="module")
def segmenter():
    return UNetSegmenter.load()


def test_shipped_unet_finds_the_lungs_on_every_sample(segmenter):
    images = [read_gray(p) for p in SAMPLES]
    truths = [read_mask(DATA_DIR / "sample_masks" / p.name) for p in SAMPLES]
    for path, found, truth in zip(SAMPLES, segmenter.segment(images), truths, strict=True):
        assert found.quality.ok, path.name
        assert dice(found.mask, truth) > 0.9, path.name


def test_segmentation_report_is_from_the_shipped_weights():
    report = json.loads((REPORTS_DIR / "segmentation.json").read_text())
    assert report["weights_sha256"] == modelfile.sha256(SEGMENTER_WEIGHTS)
    assert report["split"] == "test" and report["n"] == 719


def test_shipped_weight_files_stay_small():
    for path in (DATA_DIR / "models").glob("*.npz"):
        assert path.stat().st_size < 12 * 1024 * 1024, path.name


@pytest.mark.parametrize("kind", ["masked", "raw"])
def test_classification_reports_are_from_the_shipped_weights(kind):
    report = json.loads((REPORTS_DIR / f"classification_{kind}.json").read_text())
    assert report["weights_sha256"] == modelfile.sha256(CLASSIFIER_WEIGHTS[kind])
    assert report["segmenter_sha256"] == modelfile.sha256(SEGMENTER_WEIGHTS)
    assert report["n"] == 719 and report["input"] == kind
    # The temperature the sidecar answers with must be the one the report measured.
    meta = modelfile.read_meta(CLASSIFIER_WEIGHTS[kind])
    assert report["ece"]["temperature"] == pytest.approx(meta["answer"]["temperature"])


def test_shipped_pipeline_classifies_every_sample_with_a_score():
    from lunggate.pipeline.analyze import Pipeline

    pipeline = Pipeline.load()
    results = pipeline.analyze_batch([read_gray(p) for p in SAMPLES])
    for path, r in zip(SAMPLES, results, strict=True):
        assert r.status == "ok", path.name
        # More of the Grad-CAM's mass on the lungs than a uniform map would put there.
        assert r.attention.in_lung > r.lung.area_fraction, path.name
    # The samples' own classes, but for one proxy-labelled Lung_Opacity film called Normal.
    right = [r.label == p.name.split("__")[0] for p, r in zip(SAMPLES, results, strict=True)]
    assert sum(right) >= 7
    assert pipeline.models.classifier.temperature > 0


def test_compare_report_is_from_the_shipped_weights():
    report = json.loads((REPORTS_DIR / "compare" / "compare.json").read_text())
    for kind in ("masked", "raw"):
        assert report[kind]["weights_sha256"] == modelfile.sha256(CLASSIFIER_WEIGHTS[kind])
    assert report["split"] == "test" and report["n"] == 719


@pytest.mark.parametrize(
    "damage",
    [lambda b: b[: len(b) // 2], lambda b: b"", lambda b: bytes(range(256)) * 64],
    ids=["truncated", "empty", "random-bytes"],
)
def test_damaged_model_file_is_one_clear_error_before_any_compiling(tmp_path, damage, capsys):
    import shutil

    from lunggate.pipeline.analyze import Pipeline, PipelineConfig

    for source in (SEGMENTER_WEIGHTS, CLASSIFIER_WEIGHTS["masked"]):
        shutil.copy(source.with_suffix(".json"), tmp_path / source.with_suffix(".json").name)
    seg = tmp_path / SEGMENTER_WEIGHTS.name
    shutil.copy(SEGMENTER_WEIGHTS, seg)
    cls = tmp_path / CLASSIFIER_WEIGHTS["masked"].name
    cls.write_bytes(damage(CLASSIFIER_WEIGHTS["masked"].read_bytes()))

    with pytest.raises(ModelFileError, match="damaged or not a lunggate weights file") as info:
        Pipeline.load(PipelineConfig(segmenter_weights=seg, classifier_weights=cls))
    assert "allow_pickle" not in str(info.value)
    assert "compiling" not in capsys.readouterr().err


def test_cross_source_reports_are_from_the_shipped_weights():
    external = json.loads((REPORTS_DIR / "external_cxr-ext.json").read_text())
    for kind, model in external["models"].items():
        assert model["weights_sha256"] == modelfile.sha256(CLASSIFIER_WEIGHTS[kind]), kind
        assert model["pooled"]["macro_f1_classes"] == ["COVID", "Lung_Opacity", "Normal"]
    familiarity = json.loads((REPORTS_DIR / "familiarity.json").read_text())
    assert familiarity["weights_sha256"] == modelfile.sha256(CLASSIFIER_WEIGHTS["masked"])
    meta = modelfile.read_meta(CLASSIFIER_WEIGHTS["masked"])
    assert familiarity["threshold"] == pytest.approx(meta["answer"]["familiarity_threshold"])
