"""Figure 3 as a PNG: the kernel grid under a title, from a work directory and from
caffe-tensorflow's bvlc_alexnet.npy."""
import numpy as np
import pytest

import tools_support
from alexnet_tf.figures import kernel_figure
from alexnet_tf.figures.kernel_grid import grid_layout, kernel_grid


def test_figure_kernels_png_is_the_grid_under_a_title(figure_inputs, tmp_path):
    _, work, _, _ = figure_inputs
    out = kernel_figure.make_kernel_figure(work, tmp_path / "k.png", scale=3)
    pixels = tools_support.png_pixels(out)
    import keras
    kernel = keras.saving.load_model(work / "model.keras").get_layer("conv1").get_weights()[0]
    layout = grid_layout(kernel.shape, 2, scale=3)
    assert pixels.shape == (kernel_figure.TITLE_HEIGHT + layout.height, layout.width, 3)
    np.testing.assert_array_equal(pixels[kernel_figure.TITLE_HEIGHT:],
                                  kernel_grid(kernel, groups=2, scale=3))
    assert (pixels[:kernel_figure.TITLE_HEIGHT] < 128).sum() > 50, "no title text"


def test_figure_kernels_reads_bvlc_npy_and_shows_rgb(tmp_path):
    """caffe-tensorflow's file holds conv1 reading B, G, R: a kernel lit only in the file's
    first (blue) input channel must be drawn blue."""
    kernel = np.zeros((11, 11, 3, 96), np.float32)
    kernel[5, 5, 0, :] = 1.0                                 # channel 0 = B in Caffe's order
    weights = {"conv1": [kernel, np.zeros(96, np.float32)]}
    np.save(tmp_path / "bvlc_alexnet.npy", weights, allow_pickle=True)
    out = kernel_figure.make_kernel_figure(tmp_path / "bvlc_alexnet.npy", tmp_path / "b.png")
    grid = tools_support.png_pixels(out)[kernel_figure.TITLE_HEIGHT:]
    layout = grid_layout(kernel.shape, 2)
    top, left = layout.cell_origin(1, 47)
    block = grid[top:top + 44, left:left + 44]
    lit = block[20:24, 20:24]                                # weight (5, 5) at scale 4
    assert np.all(lit[..., 2] == 255) and np.all(lit[..., :2] == 0)
    assert block.sum() == lit.sum()
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        kernel_figure.make_kernel_figure(tmp_path / "bvlc_alexnet.npy", tmp_path / "x.png",
                                          layer="conv9")
