r"""Pre-resized TFRecord shards from any source: the fast input path for real training.

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
"""
from __future__ import annotations

import sys

from absl import app, flags

from alexnet_tf import config

from alexnet_tf.data import pipeline as input_pipeline, record_writer as tfrecord_writer
from alexnet_tf.data.sources import SourceError
from alexnet_tf.tools._data_flags import source_config

flags.DEFINE_string("output_dir", None, "Directory for the shards.", required=True)
flags.DEFINE_integer("examples_per_shard", 2048, "Examples per shard (about 50 MB at 256 px).")
flags.DEFINE_integer("jpeg_quality", 95, "JPEG quality of the re-encoded images.")
flags.DEFINE_bool("statistics", True, "Also compute the training split's statistics.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    cfg = source_config()
    try:
        metadata = tfrecord_writer.write_tfrecords(
            cfg, FLAGS.output_dir, examples_per_shard=FLAGS.examples_per_shard,
            jpeg_quality=FLAGS.jpeg_quality)
        for split, info in metadata["splits"].items():
            print(f"{split}: {info['num_examples']} examples in {info['num_shards']} shard(s), "
                  f"{info['skipped']} unreadable file(s) skipped")
        if FLAGS.statistics:
            records = config.override(cfg, ["data.dataset=tfrecord",
                                            f"data.data_dir={FLAGS.output_dir}",
                                            "data.statistics_path="])
            _, path = input_pipeline.compute_and_save_statistics(records)
            print(f"statistics: {path}")
    except (SourceError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    app.run(main)
