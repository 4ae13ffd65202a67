r"""`python -m tools.figure_top5` (`alexnet-figure-top5`): Figure 4 (left) of the paper,
images with the model's five most probable labels.

    python -m tools.figure_top5 --model=runs/digits --split=validation --count=8
    python -m tools.figure_top5 --model=workdir/ --images=photos/ --out=figure4_left.png

Under each image: its correct label (when known) and one bar per top-5 class, as long as
its probability; the correct class's bar is red, as in the paper, and its name bold.
Images come from files (a folder's first-level sub-folder named like a class gives the
correct label) or from a split of the model's dataset (`--split`, labels known). The
model sees exactly the serving preprocessing; the picture shows that centre patch
(`alexnet_tf.figures.top5`). Exit codes (`alexnet_tf.command`): 0 written, 1 unexpected,
2 usage or bad input; also 2 when some of the images could not be read: each is reported
(`skipped: ...`) and the figure shows the others.
"""
from __future__ import annotations

import sys

from alexnet_tf import command


def define_flags(flags):
    command.define_model_flags(flags)
    flags.DEFINE_list("images", None, "Image files and/or folders.")
    flags.DEFINE_string("split", None, "Or a split of the model's dataset, e.g. validation.")
    flags.DEFINE_integer("count", 8, "Images to show (the first of --images or --split).")
    flags.DEFINE_integer("start", 0, "Position in --split to start from.")
    flags.DEFINE_integer("k", 5, "Labels per image.")
    flags.DEFINE_integer("columns", 4, "Images per row.")
    flags.DEFINE_string("out", "figure4_top5.png", "Where to write the PNG.")


def main(args):
    from absl.flags import FLAGS
    from alexnet_tf.figures import top5
    result = top5.top5_figure(FLAGS.model, FLAGS.out, images=FLAGS.images, split=FLAGS.split,
                              count=FLAGS.count, start=FLAGS.start, k=FLAGS.k,
                              columns=FLAGS.columns, **command.model_arguments())
    return command.wrote([result["figure"]], result["skipped"])


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
