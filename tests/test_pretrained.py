"""ImageNet EfficientNet-Lite0 from the pinned wheel: read without torch, converted right."""

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from lunggate.classification.backbones import build_backbone, build_classifier
from lunggate.classification.efficientnet_lite import (
    build_efficientnet_lite0,
    imagenet_weights_path,
)
from lunggate.classification.torch_weights import read_state_dict
from lunggate.core.errors import LunggateError, ModelFileError

CAT = Path(__file__).parent / "data" / "chelsea.png"
"""scikit-image's ``data.chelsea()`` (CC0, Stefan van der Walt), centre-cropped to 224 px."""
CATS = set(range(281, 286))
"""ImageNet's domestic cats: tabby, tiger cat, Persian, Siamese, Egyptian cat."""


def imagenet_top5(channels: int) -> list[int]:
    rgb = cv2.imread(str(CAT))[:, :, ::-1]
    x = rgb if channels == 3 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None]
    x = (x.astype(np.float32) - 127.0) / 128.0
    features = build_efficientnet_lite0((224, 224, channels), "imagenet").predict(x[None])
    state = read_state_dict(imagenet_weights_path())
    logits = features.mean(axis=(1, 2)) @ state["_fc.weight"].T + state["_fc.bias"]
    return list(np.argsort(logits[0])[::-1][:5])


@pytest.mark.slow
@pytest.mark.parametrize("channels", [3, 1])
def test_converted_network_sees_the_cat_as_imagenet_does(channels, keras_session):
    top5 = imagenet_top5(channels)
    assert top5[0] in CATS
    assert len(CATS & set(top5)) >= 3


def test_state_dict_reads_every_tensor_with_its_shape():
    state = read_state_dict(imagenet_weights_path())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn0.running_var"].dtype == np.float32 and (state["_bn0.running_var"] >= 0).all()


def test_reader_refuses_a_pickle_that_names_other_code(tmp_path: Path):
    path = tmp_path / "evil.pth"
    with path.open("wb") as f:
        pickle.dump(0x1950A86A20F9469CFC6C, f)
        pickle.dump(1001, f)
        pickle.dump({}, f)
        pickle.dump(print, f)  # anything but a state dict's four names
    with pytest.raises(ModelFileError, match="refusing builtins.print"):
        read_state_dict(path)


@pytest.mark.parametrize("content", [b"", b"not a pickle at all", pickle.dumps(7)])
def test_reader_rejects_foreign_or_damaged_files(tmp_path: Path, content: bytes):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(ModelFileError):
        read_state_dict(path)


def test_truncated_weights_are_an_error_not_garbage(tmp_path: Path):
    path = tmp_path / "short.pth"
    path.write_bytes(imagenet_weights_path().read_bytes()[:-1000])
    with pytest.raises(ModelFileError):
        read_state_dict(path)


def test_imagenet_is_refused_where_it_would_download():
    with pytest.raises(LunggateError, match="would be downloaded"):
        build_backbone("mobilenetv2", (64, 64, 1), "imagenet")


def test_grey_stem_is_the_rgb_stem_on_a_repeated_grey_channel(keras_session):
    grey = build_classifier("efficientnet_lite0", (64, 64, 1), 4, weights="imagenet")
    stem = grey.get_layer("stem").get_weights()[0]
    rgb = read_state_dict(imagenet_weights_path())["_conv_stem.weight"].transpose(2, 3, 1, 0)
    assert stem.shape == (3, 3, 1, 32)
    # The gate's standardized units are folded into the stem (backbones.GATE_TO_IMAGENET).
    np.testing.assert_allclose(stem, 0.5 * rgb.sum(axis=2, keepdims=True), rtol=1e-6)
    assert grey.get_layer("pool").input_shape[1:3] == (2, 2)
