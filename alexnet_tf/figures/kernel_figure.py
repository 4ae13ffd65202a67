"""Figure 3 of the paper as a PNG: a model's first-layer kernels under a title.

    make_kernel_figure("runs/digits", "figure3.png")            # a work directory
    make_kernel_figure("bvlc_alexnet.npy", "figure3_bvlc.png")  # caffe-tensorflow weights

The model is a `.keras` file, a training work directory, a checkpoint prefix, or a
caffe-tensorflow `bvlc_alexnet.npy` (its conv1 reads BGR; the kernels are shown in RGB).
The kernels are contrast-normalised one by one and drawn in the paper's two halves
(`kernel_grid`, the same picture training writes to TensorBoard).
"""
from __future__ import annotations

import pathlib

import numpy as np

from alexnet_tf.figures import plotting as figures
from alexnet_tf.figures.kernel_grid import kernel_grid

TITLE_HEIGHT = 30   # pixels above the grid for the title
TITLE_FONT_SIZE = 16


def load_kernel(model_path, layer: str = "conv1") -> tuple:
    """(kernel (kh, kw, in, out) in RGB input order, a short name of where it came from)."""
    path = pathlib.Path(model_path)
    if path.suffix == ".npy":
        from alexnet_tf.network import pretrained
        weights = pretrained.read_caffe_tensorflow_npy(path)
        if layer not in weights:
            raise ValueError(f"{path} has no layer {layer!r}; it has {sorted(weights)}")
        kernel = weights[layer][0]
        if layer == "conv1":   # Caffe's conv1 reads B, G, R (docs/design.md, "Pretrained weights")
            kernel = kernel[:, :, ::-1, :]
        return kernel, path.name
    from alexnet_tf.training import checkpoints as checkpointing
    model = checkpointing.load_model(path)
    try:
        weights = model.get_layer(layer).get_weights()
    except ValueError:
        raise ValueError(f"{path} has no layer {layer!r}") from None
    if not weights:
        raise ValueError(f"layer {layer!r} of {path} has no weights")
    return np.asarray(weights[0]), path.name.rstrip("/") or str(path)


def render_kernel_figure(kernel, title: str, *, groups: int = 2, scale: int = 4,
                         columns: int | None = None) -> np.ndarray:
    """The kernel grid under a title strip, as uint8 RGB (TITLE_HEIGHT + grid height, W, 3)."""
    from PIL import Image, ImageDraw, ImageFont
    grid = kernel_grid(kernel, groups=groups, scale=scale, columns=columns)
    canvas = Image.new("RGB", (grid.shape[1], grid.shape[0] + TITLE_HEIGHT), "white")
    canvas.paste(Image.fromarray(grid), (0, TITLE_HEIGHT))
    draw = ImageDraw.Draw(canvas)
    size = TITLE_FONT_SIZE
    font = ImageFont.load_default(size=size)
    while size > 8 and font.getlength(title) > grid.shape[1] - 8:
        size -= 1
        font = ImageFont.load_default(size=size)
    draw.text((4, (TITLE_HEIGHT - size) // 2), title, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


def make_kernel_figure(model_path, out_path, *, layer: str = "conv1", groups: int = 2,
                       scale: int = 4, columns: int | None = None,
                       sum_channels: bool = False) -> pathlib.Path:
    """Writes the figure. `sum_channels` draws each kernel summed over its input
    channels: all a network trained on grey images (R = G = B, like the digits) can use;
    its colour differences never receive a gradient and stay at their initial noise."""
    kernel, source = load_kernel(model_path, layer)
    kh, kw, channels, count = kernel.shape
    title = f"{layer}: {count} kernels of {kh}x{kw}x{channels}, {source}"
    if sum_channels:
        kernel = kernel.sum(axis=2, keepdims=True)
        title += ", summed over colour"
    image = render_kernel_figure(kernel, title, groups=groups, scale=scale, columns=columns)
    return figures.save_image(image, out_path)
