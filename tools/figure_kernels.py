r"""`python -m tools.figure_kernels` (`alexnet-figure-kernels`): Figure 3 of the paper, the
first-layer kernels of a model, as a PNG.

    python -m tools.figure_kernels --model=workdir/ --out=figure3.png
    python -m tools.figure_kernels --model=model.keras --out=figure3.png --scale=6
    python -m tools.figure_kernels --model=bvlc_alexnet.npy --out=figure3_bvlc.png

`--model` is a `.keras` file, a training work directory, a checkpoint prefix, or a
caffe-tensorflow `bvlc_alexnet.npy` (its conv1 reads BGR; the kernels are shown in RGB).
The 96 kernels are contrast-normalised one by one and drawn in the paper's two halves
(`alexnet_tf.figures.kernel_figure`, the same picture training writes to TensorBoard).
Exit codes (`alexnet_tf.command`): 0 written, 1 unexpected, 2 usage or bad input.
"""
from __future__ import annotations

import sys

from alexnet_tf import command


def define_flags(flags):
    flags.DEFINE_string("model", None, "A .keras file, work directory, checkpoint prefix, or "
                        "caffe-tensorflow bvlc_alexnet.npy.", required=True)
    flags.DEFINE_string("out", "figure3_kernels.png", "Where to write the PNG.")
    flags.DEFINE_string("layer", "conv1", "Which layer's kernels (3 or 1 input channels).")
    flags.DEFINE_integer("groups", 2, "Halves to draw separately (2: the paper's two GPUs).")
    flags.DEFINE_integer("scale", 4, "Pixels per kernel weight.")
    flags.DEFINE_integer("columns", None, "Kernels per row (default: 16 for 48 per group).")
    flags.DEFINE_bool("sum_channels", False, "Draw each kernel summed over its input "
                      "channels (grey): what a model trained on grey images uses.")


def main(args):
    from absl.flags import FLAGS
    from alexnet_tf.figures import kernel_figure
    path = kernel_figure.make_kernel_figure(
        FLAGS.model, FLAGS.out, layer=FLAGS.layer, groups=FLAGS.groups, scale=FLAGS.scale,
        columns=FLAGS.columns, sum_channels=FLAGS.sum_channels)
    return command.wrote([path])


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
