r"""Figure 3 of the paper: the first-layer kernels of a model, as a PNG.

    python -m tools.figure_kernels --model=workdir/ --out=figure3.png
    python -m tools.figure_kernels --model=model.keras --out=figure3.png --scale=6
    python -m tools.figure_kernels --model=bvlc_alexnet.npy --out=figure3_bvlc.png

`--model` is a `.keras` file, a training work directory, a checkpoint prefix, or a
caffe-tensorflow `bvlc_alexnet.npy` (its conv1 reads BGR; the kernels are shown in RGB).
The 96 kernels are contrast-normalised one by one and drawn in the paper's two halves
(`alexnet_tf.figures.kernel_grid`, the same picture training writes to TensorBoard).
"""
from __future__ import annotations

import pathlib
import sys

import numpy as np
from absl import app, flags

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
        if layer == "conv1":
            kernel = kernel[:, :, ::-1, :]     # Caffe's conv1 reads B, G, R (docs/design.md, "Pretrained weights")
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


FLAGS = flags.FLAGS


def define_flags(flag_values=flags.FLAGS):
    flags.DEFINE_string("model", None, "A .keras file, work directory, checkpoint prefix, or "
                        "caffe-tensorflow bvlc_alexnet.npy.", flag_values=flag_values)
    flags.DEFINE_string("out", "figure3_kernels.png", "Where to write the PNG.",
                        flag_values=flag_values)
    flags.DEFINE_string("layer", "conv1", "Which layer's kernels (3 or 1 input channels).",
                        flag_values=flag_values)
    flags.DEFINE_integer("groups", 2, "Halves to draw separately (2: the paper's two GPUs).",
                         flag_values=flag_values)
    flags.DEFINE_integer("scale", 4, "Pixels per kernel weight.", flag_values=flag_values)
    flags.DEFINE_integer("columns", None, "Kernels per row (default: 16 for 48 per group).",
                         flag_values=flag_values)
    flags.DEFINE_bool("sum_channels", False, "Draw each kernel summed over its input "
                      "channels (grey): what a model trained on grey images uses.",
                      flag_values=flag_values)
    flags.mark_flag_as_required("model", flag_values=flag_values)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        path = make_kernel_figure(FLAGS.model, FLAGS.out, layer=FLAGS.layer,
                                  groups=FLAGS.groups, scale=FLAGS.scale, columns=FLAGS.columns,
                                  sum_channels=FLAGS.sum_channels)
    except (ValueError, OSError, RuntimeError) as e:   # bad path, file or layer: one line
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
