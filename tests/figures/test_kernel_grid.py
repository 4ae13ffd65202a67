"""The Figure 3 grid: every kernel's pixel block, checked against the weights."""
import numpy as np
import pytest

from alexnet_tf import config
from alexnet_tf.figures.kernel_grid import grid_layout, kernel_grid
from alexnet_tf.network.model import build_alexnet


def _expected_block(kernel, channel, scale):
    """NumPy reference: one kernel min-max stretched to 0..255, each weight scale x scale."""
    k = kernel[..., channel].astype(np.float64)
    span = k.max() - k.min()
    k = (k - k.min()) / span if span else np.full_like(k, 0.5)
    k = np.round(k * 255)
    if k.shape[2] == 1:
        k = np.repeat(k, 3, axis=2)
    return np.repeat(np.repeat(k, scale, axis=0), scale, axis=1)


def _origin(layout, group, index):
    """Where the module docstring says kernel `index` of `group` is drawn."""
    cell_h = layout.kernel_height * layout.scale
    cell_w = layout.kernel_width * layout.scale
    rows = -(-layout.per_group // layout.columns)
    band = layout.header_height + rows * cell_h + (rows - 1) * layout.spacing
    row, column = index // layout.columns, index % layout.columns
    top = (layout.margin + group * (band + layout.group_gap) + layout.header_height
           + row * (cell_h + layout.spacing))
    left = layout.margin + column * (cell_w + layout.spacing)
    return top, left


def test_paper_kernels_every_block_matches_its_weights():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(11, 11, 3, 96)).astype(np.float32)
    kernel[..., 5] = 0.25   # a constant kernel: mid-grey, no division by zero
    image = kernel_grid(kernel, groups=2, scale=3)
    layout = grid_layout(kernel.shape, 2, scale=3)
    # Figure 3: each GPU's 48 kernels in 3 rows of 16.
    assert (layout.columns, layout.rows_per_group, layout.per_group) == (16, 3, 48)
    assert image.dtype == np.uint8 and image.shape == (layout.height, layout.width, 3)
    for group in range(2):
        for index in range(48):
            top, left = _origin(layout, group, index)
            block = image[top:top + 33, left:left + 33].astype(np.int32)
            expected = _expected_block(kernel, group * 48 + index, scale=3)
            np.testing.assert_allclose(block, expected, atol=1,
                                       err_msg=f"group {group} kernel {index}")
    top, left = _origin(layout, 0, 5)
    assert np.all(np.abs(image[top:top + 33, left:left + 33].astype(int) - 128) <= 1)


def test_model_conv1_set_to_known_patterns_lands_in_its_block():
    """Each tiny-model conv1 kernel is black with one lit weight that encodes its own index;
    reading the lit pixel back from every block recovers the kernel drawn there."""
    cfg = config.get_config("tiny").model
    model = build_alexnet(cfg)
    conv1 = model.get_layer("conv1")
    kh, kw, channels, count = conv1.kernel.shape
    pattern = np.zeros((kh, kw, channels, count), np.float32)
    for c in range(count):
        pattern[c // kw, c % kw, c % 3, c] = 1.0
    conv1.kernel.assign(pattern)
    scale = 2
    image = kernel_grid(conv1.kernel.numpy(), groups=2, scale=scale)
    layout = grid_layout(pattern.shape, 2, scale=scale)
    per_group = count // 2
    for group in range(2):
        for index in range(per_group):
            top, left = _origin(layout, group, index)
            block = image[top:top + kh * scale, left:left + kw * scale]
            lit = np.argwhere(block > 0)
            rows, cols, chans = lit[:, 0] // scale, lit[:, 1] // scale, lit[:, 2]
            drawn = set(zip(rows.tolist(), cols.tolist(), chans.tolist()))
            c = group * per_group + index
            assert drawn == {(c // kw, c % kw, c % 3)}, (group, index, drawn)
            assert block.max() == 255 and len(lit) == scale * scale
    # The first half sits above the second: the paper's two GPUs.
    assert _origin(layout, 1, 0)[0] > _origin(layout, 0, per_group - 1)[0]


def test_labels_are_drawn_in_the_header_and_only_there():
    kernel = np.random.default_rng(1).normal(size=(11, 11, 3, 24))
    labelled = kernel_grid(kernel, groups=2)
    bare = kernel_grid(kernel, groups=2, labels=False)
    layout = grid_layout(kernel.shape, 2)
    assert layout.header_height > 0
    assert bare.shape[0] == labelled.shape[0] - 2 * layout.header_height
    for group in range(2):
        top = layout.margin + group * (layout.band_height + layout.group_gap)
        header = labelled[top:top + layout.header_height]
        assert (header < 128).sum() > 50, "label text missing"
    custom = kernel_grid(kernel, groups=2, labels=["colour-agnostic", "colour-specific"])
    assert not np.array_equal(custom, labelled)
    with pytest.raises(ValueError, match="one label per group"):
        kernel_grid(kernel, groups=2, labels=["only one"])


def test_single_group_and_grey_kernels():
    kernel = np.random.default_rng(2).normal(size=(5, 5, 1, 10))
    image = kernel_grid(kernel, groups=1, columns=5, scale=2, labels=False)
    layout = grid_layout(kernel.shape, 1, columns=5, scale=2, labels=False)
    # margins 2, two rows of 10-pixel cells, 5 columns, 2-pixel spacing
    assert image.shape == (layout.height, layout.width, 3)
    assert image.shape == (2 * 2 + 2 * 10 + 2, 2 * 2 + 5 * 10 + 4 * 2, 3)
    for index in range(10):
        top, left = _origin(layout, 0, index)
        np.testing.assert_allclose(image[top:top + 10, left:left + 10].astype(int),
                                   _expected_block(kernel, index, 2), atol=1)


@pytest.mark.parametrize("shape, groups, message", [
    ((11, 11, 3), 2, "kernels of shape"),
    ((3, 3, 48, 16), 2, "kernels of shape"),
    ((11, 11, 3, 95), 2, "equal groups"),
])
def test_bad_kernels_get_one_clear_error(shape, groups, message):
    with pytest.raises(ValueError, match=message):
        kernel_grid(np.zeros(shape), groups=groups)


def test_non_finite_weights_are_refused():
    kernel = np.zeros((11, 11, 3, 4))
    kernel[0, 0, 0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        kernel_grid(kernel)
