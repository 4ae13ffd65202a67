r"""`python -m tools.write_tfrecords` (`alexnet-write-tfrecords`): pre-resized TFRecord shards
from any source, the fast input path for real training.

    python -m tools.write_tfrecords --preset=paper --dataset=folder \
        --data_dir=/data/my_images --output_dir=/data/my_images_tfrecord
    python -m tools.write_tfrecords --preset=paper --dataset=imagenet2012 \
        --data_dir=~/tensorflow_datasets --manual_dir=/data/ilsvrc --output_dir=/data/in1k

Every image is resized as in §2 (shorter side -> data.resize_size, central square),
re-encoded as JPEG, and written with its label; class names and counts (including the
files skipped as unreadable) go to dataset.json. The mean image and RGB eigen of the
training split are then computed from the shards (one more pass) and saved beside
them. Interrupted? Run the same command again: finished shards are kept.
Train from the result with `--set data.dataset=tfrecord --set data.data_dir=<output_dir>`.
Exit codes (`alexnet_tf.command`): 0 written (unreadable files skipped and counted), 1
unexpected, 2 usage or bad input (no such source, a full disk: finished shards are kept).
"""
from __future__ import annotations

import sys

from alexnet_tf import command
from alexnet_tf.tools import _data_flags


def define_flags(flags):
    _data_flags.define_source_flags(flags)
    flags.DEFINE_string("output_dir", None, "Directory for the shards.", required=True)
    flags.DEFINE_integer("examples_per_shard", 2048, "Examples per shard (about 50 MB at "
                         "256 px).")
    flags.DEFINE_integer("jpeg_quality", 95, "JPEG quality of the re-encoded images.")
    flags.DEFINE_bool("statistics", True, "Also compute the training split's statistics.")


def main(args):
    from absl.flags import FLAGS
    from alexnet_tf import config
    from alexnet_tf.data import pipeline, record_writer
    cfg = _data_flags.source_config(FLAGS)
    metadata = record_writer.write_tfrecords(cfg, FLAGS.output_dir,
                                             examples_per_shard=FLAGS.examples_per_shard,
                                             jpeg_quality=FLAGS.jpeg_quality)
    for split, info in metadata["splits"].items():
        print(f"{split}: {info['num_examples']} examples in {info['num_shards']} shard(s), "
              f"{info['skipped']} unreadable file(s) skipped")
    if FLAGS.statistics:
        records = config.override(cfg, ["data.dataset=tfrecord",
                                        f"data.data_dir={FLAGS.output_dir}",
                                        "data.statistics_path="])
        _, path = pipeline.compute_and_save_statistics(records)
        print(f"statistics: {path}")


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
