r"""`python -m tools.compute_statistics` (`alexnet-compute-statistics`): the training set's
mean image and RGB covariance eigen (§2, §4.1), in one pass.

    python -m tools.compute_statistics --preset=paper --dataset=folder --data_dir=/data/imgs
    python -m tools.compute_statistics --preset=paper --dataset=tfrecord --data_dir=/data/in1k
    python -m tools.compute_statistics --preset=paper --dataset=imagenet2012 \
        --data_dir=~/tensorflow_datasets --manual_dir=/data/ilsvrc

Images are resized as the pipeline resizes them (shorter side -> data.resize_size,
central square) on the 0-255 scale. The result is written beside the data (or to
--out / data.statistics_path), where the input pipeline finds it. Unreadable files are
skipped. Exit codes (`alexnet_tf.command`): 0 written, 1 unexpected, 2 usage
or bad input (no such source, no image in it, no place for the file: pass --out).
"""
from __future__ import annotations

import sys

from alexnet_tf import command
from alexnet_tf.tools import _data_flags


def define_flags(flags):
    _data_flags.define_source_flags(flags)
    flags.DEFINE_string("out", None, "Output .npz (default: beside the data).")


def main(args):
    from absl.flags import FLAGS
    from alexnet_tf.data import pipeline
    stats, path = pipeline.compute_and_save_statistics(_data_flags.source_config(FLAGS),
                                                       FLAGS.out)
    if path is None:
        return command.fail("this source has no place beside the data; pass --out")
    print(f"{stats.num_images} images; mean RGB {stats.mean_rgb.round(2).tolist()}; "
          f"eigenvalues {stats.eigenvalues.round(2).tolist()}")
    print(f"statistics: {path}")


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
