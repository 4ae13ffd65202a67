r"""The training set's mean image and RGB covariance eigen (§2, §4.1), in one pass.

    python -m tools.compute_statistics --preset=paper --dataset=folder --data_dir=/data/imgs
    python -m tools.compute_statistics --preset=paper --dataset=tfrecord --data_dir=/data/in1k
    python -m tools.compute_statistics --preset=paper --dataset=imagenet2012 \
        --data_dir=~/tensorflow_datasets --manual_dir=/data/ilsvrc

Images are resized as the pipeline resizes them (shorter side -> data.resize_size,
central square) on the 0-255 scale. The result is written beside the data (or to
--out / data.statistics_path), where the input pipeline finds it.
"""
from __future__ import annotations

import sys

from absl import app, flags

from alexnet_tf.data import pipeline as input_pipeline
from alexnet_tf.data.sources import SourceError
from alexnet_tf.tools._data_flags import source_config

flags.DEFINE_string("out", None, "Output .npz (default: beside the data).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    cfg = source_config()
    try:
        stats, path = input_pipeline.compute_and_save_statistics(cfg, FLAGS.out)
    except (SourceError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if path is None:
        print("error: this source has no place beside the data; pass --out", file=sys.stderr)
        return 2
    print(f"{stats.num_images} images; mean RGB {stats.mean_rgb.round(2).tolist()}; "
          f"eigenvalues {stats.eigenvalues.round(2).tolist()}")
    print(f"statistics: {path}")
    return 0


if __name__ == "__main__":
    app.run(main)
