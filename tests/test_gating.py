from dataclasses import replace

import numpy as np
import pytest

from lunggate.classification.config import GateConfig
from lunggate.classification.gating import Box, gate, lung_box, to_image


def lungs() -> tuple[np.ndarray, np.ndarray]:
    image = np.full((100, 80), 200, np.uint8)
    mask = np.zeros((100, 80), bool)
    mask[20:80, 10:35] = mask[20:80, 45:70] = True
    image[mask] = 50
    return image, mask


def test_lung_box_adds_margin_and_clips():
    _, mask = lungs()
    assert lung_box(mask, 0.0) == Box(20, 80, 10, 70)
    assert lung_box(mask, 0.1) == Box(10, 90, 0, 80)
    assert lung_box(np.zeros((5, 5), bool), 0.1) == Box(0, 5, 0, 5)


def test_masked_gate_zeroes_outside_the_lungs():
    image, mask = lungs()
    x, box = gate(image, mask, GateConfig(input_size=32, margin_fraction=0.0))
    assert x.shape == (32, 32, 1) and x.dtype == np.float32
    assert box == Box(20, 80, 10, 70)
    assert (x[:, 14:17, 0] == 0).all()  # the gap between the lungs is gated out


def test_raw_gate_keeps_the_whole_image():
    image, _ = lungs()
    x, box = gate(image, None, GateConfig(input="raw", input_size=32))
    assert box == Box(0, 100, 0, 80)
    assert abs(x.mean()) < 0.05


def test_masked_gate_needs_a_mask():
    with pytest.raises(ValueError, match="needs a lung mask"):
        gate(np.zeros((10, 10), np.uint8), None, GateConfig())


def test_to_image_places_the_map_in_its_box():
    canvas = to_image(np.ones((4, 4)), Box(10, 20, 5, 25), (30, 40))
    assert canvas.shape == (30, 40)
    assert canvas[10:20, 5:25].min() == pytest.approx(1.0) and canvas.sum() == pytest.approx(200)


def test_masked_gate_ignores_everything_outside_the_mask():
    # A marker burned in against the lung border must not reach the input, not even
    # through the resize's blending of neighbouring pixels.
    image, mask = lungs()
    marked = image.copy()
    marked[~mask] = 255
    marked[0:15, 0:15] = 0
    config = GateConfig(input_size=37, margin_fraction=0.05)
    np.testing.assert_array_equal(gate(image, mask, config)[0], gate(marked, mask, config)[0])


def test_raw_gate_sees_outside_the_lungs():
    image, mask = lungs()
    marked = image.copy()
    marked[0:30, 0:30] = 0  # a dark mark outside the lungs, in a corner
    config = GateConfig(input="raw", input_size=32)
    moved = np.abs(gate(image, None, config)[0] - gate(marked, None, config)[0])
    assert moved[:8, :8].min() > 0.5


def test_masked_gate_draws_no_rim_along_the_mask_outline():
    # Uniform lungs on a bright background: every input pixel, the resized border
    # included, is the lungs' own standardized value (0), so the mask's outline is
    # not an edge the classifier could read.
    image, mask = lungs()
    x, _ = gate(image, mask, GateConfig(input_size=23, margin_fraction=0.05))
    np.testing.assert_allclose(x, 0.0, atol=1e-5)


def test_shift_box_moves_sides_within_the_image():
    from lunggate.classification.gating import shift_box

    box = Box(20, 80, 10, 70)
    assert shift_box(box, (-5, 3, 2, -4), (100, 80)) == Box(15, 83, 12, 66)
    assert shift_box(box, (-50, 50, -50, 50), (100, 80)) == Box(0, 100, 0, 80)
    # Sides never cross: at least one row and one column stay.
    tiny = shift_box(Box(10, 12, 10, 12), (5, -5, 5, -5), (100, 80))
    assert tiny.bottom > tiny.top and tiny.right > tiny.left


def test_masked_gate_shift_reframes_the_crop():
    image, mask = lungs()
    config = GateConfig(input_size=32, margin_fraction=0.0)
    _, box = gate(image, mask, config, shift=(-4, 4, -2, 2))
    assert box == Box(16, 84, 8, 72)


def test_box_trim_ignores_a_thin_spur_that_moves_the_plain_box():
    _, mask = lungs()
    spur = mask.copy()
    spur[80:95, 20] = True  # a wire the U-Net followed out of the left lung
    assert lung_box(spur, 0.0).bottom == 95
    assert lung_box(spur, 0.0, trim=0.01) == lung_box(mask, 0.0, trim=0.01)
    # 1 % of 3,000 pixels is fewer than any edge row (50) or column (60) holds;
    # 2 % takes off exactly the first and last row and column.
    assert lung_box(mask, 0.0, trim=0.01) == lung_box(mask, 0.0) == Box(20, 80, 10, 70)
    assert lung_box(mask, 0.0, trim=0.02) == Box(21, 79, 11, 69)


def test_feather_ramps_from_the_border_and_stays_zero_outside():
    from lunggate.classification.gating import feather

    _, mask = lungs()
    weight = feather(mask, 4)
    assert (weight[~mask] == 0).all()
    assert weight[50, 22] == 1.0 and weight[50, 10] == pytest.approx(0.25, abs=0.02)
    assert np.array_equal(feather(mask, 0), mask.astype(np.float32))


def test_feathered_gate_moves_less_when_the_mask_boundary_moves():
    rng = np.random.default_rng(0)
    image, mask = lungs()
    image = (image + rng.integers(0, 60, image.shape)).astype(np.uint8)

    moved = mask.copy()
    moved[25:75, 35:37] = True  # the left lung's inner edge moves 2 px; the box stays

    def change(config: GateConfig) -> float:
        a, box_a = gate(image, mask, config)
        b, box_b = gate(image, moved, config)
        assert box_a == box_b
        return float(np.abs(a - b).mean())

    hard = GateConfig(input_size=40, margin_fraction=0.0, feather_px=0, contrast="none")
    soft = replace(hard, feather_px=6)
    assert change(soft) < 0.5 * change(hard)
    image_outside = image.copy()
    image_outside[~mask] = 255
    np.testing.assert_array_equal(gate(image, mask, soft)[0], gate(image_outside, mask, soft)[0])


def test_equalized_gate_still_sees_only_the_lungs():
    rng = np.random.default_rng(3)
    image, mask = lungs()
    image = (image + rng.integers(0, 60, image.shape)).astype(np.uint8)
    marked = image.copy()
    marked[~mask] = rng.integers(0, 256, int((~mask).sum()))
    config = GateConfig(input_size=40, contrast="clahe")
    np.testing.assert_array_equal(gate(image, mask, config)[0], gate(marked, mask, config)[0])


def test_equalize_stretches_the_kept_pixels_to_full_range():
    from lunggate.classification.gating import equalize

    crop = np.tile(np.linspace(100, 140, 64, dtype=np.float32), (64, 1))
    keep = np.ones(crop.shape, bool)
    out = equalize(crop, keep)
    assert out.dtype == np.float32 and out.shape == crop.shape
    assert out.min() < 30 and out.max() > 225  # a 40-grey-level ramp now spans the range
    assert np.corrcoef(out[32], crop[32])[0, 1] > 0.95  # and keeps its order, broadly


def test_lungs_hidden_gate_sees_only_what_lies_outside_the_lungs():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[16:48, 8:28] = mask[16:48, 36:56] = True
    config = GateConfig(input="lungs_hidden", input_size=64, feather_px=0, contrast="none")
    x, box = gate(image, mask, config)
    assert (box.top, box.bottom, box.left, box.right) == (0, 64, 0, 64)  # the whole image
    assert not x[..., 0][mask].any() and x[..., 0][~mask].std() > 0.5
    changed = image.copy()
    changed[mask] = 255 - changed[mask]  # whatever the lungs hold...
    np.testing.assert_array_equal(gate(changed, mask, config)[0], x)  # ...is not seen
    with pytest.raises(ValueError, match="lungs_hidden input needs a lung mask"):
        gate(image, None, config)
