import numpy as np
import pytest

from lunggate.classification.backbones import BACKBONES, build_backbone, build_classifier


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_builds_a_logits_classifier_at_tiny_size(name, keras_session):
    model = build_classifier(name, (64, 64, 1), 4)
    out = model.predict(np.zeros((2, 64, 64, 1), np.float32), verbose=0)
    assert out.shape == (2, 4) and np.isfinite(out).all()


def test_unknown_backbone_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown backbone 'resnet9000'.*mobilenetv2"):
        build_backbone("resnet9000", (64, 64, 1))


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="weights file .* does not exist"):
        build_backbone("mobilenetv2", (64, 64, 1), tmp_path / "none.h5")


def test_cnnx_is_compact(keras_session):
    params = build_backbone("cnnx", (160, 160, 1)).count_params()
    assert 1.0e6 < params < 2.0e6
