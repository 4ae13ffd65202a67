"""Pre-resized TFRecord shards: the fast path for real training.

Written by `python -m tools.write_tfrecords` from any other source: every image
resized as in §2 (shorter side -> R, central R x R crop) and re-encoded as JPEG, so
decoding costs about a third of a photo-sized file's. Layout of `data.data_dir`:

    dataset.json                          class names, examples per split, R, ...
    train-00000-of-00016.tfrecord ...     tf.train.Example: image/encoded (JPEG),
    validation-00000-of-00002.tfrecord    image/class/label (int64)
    statistics_<R>.npz                    mean image + RGB eigen of the train split
"""
from __future__ import annotations

import json
import pathlib

import tensorflow as tf

from alexnet_tf.data.sources import records
from alexnet_tf.data.sources.base import DatasetInfo, Source, SourceError

METADATA = "dataset.json"
FORMAT = "alexnet_tf.tfrecord.v1"
FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
}


def shard_name(split, index, count):
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def parse(serialized):
    example = tf.io.parse_single_example(serialized, FEATURES)
    return example["image/encoded"], tf.cast(example["image/class/label"], tf.int32)


def read_metadata(directory):
    directory = pathlib.Path(directory)
    path = directory / METADATA
    if not path.is_file():
        raise SourceError(f"{directory} holds no {METADATA}: expected TFRecord shards "
                          f"written by `python -m tools.write_tfrecords --output_dir={directory}`")
    try:
        metadata = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise SourceError(f"{path} is not valid JSON: {e}") from None
    if metadata.get("format") != FORMAT:
        raise SourceError(f"{path} is not a {FORMAT} description (format "
                          f"{metadata.get('format')!r})")
    return metadata


class TFRecordSource(Source):
    kind = "encoded"

    def __init__(self, cfg):
        self.cfg = cfg
        if not cfg.data.data_dir:
            raise SourceError("dataset 'tfrecord' needs data.data_dir: the directory "
                              "tools/write_tfrecords.py wrote")
        self.directory = pathlib.Path(cfg.data.data_dir).expanduser()
        metadata = read_metadata(self.directory)
        self.metadata = metadata
        self.files = {}
        for split, info in metadata["splits"].items():
            files = [self.directory / shard_name(split, i, info["num_shards"])
                     for i in range(info["num_shards"])]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise SourceError(f"{self.directory} is missing {len(missing)} shard(s) of "
                                  f"{split}, e.g. {missing[0]}: was the writer interrupted? "
                                  f"Run it again to finish")
            self.files[split] = [str(f) for f in files]
        self.info = DatasetInfo(
            name=f"tfrecord:{self.directory}", num_classes=len(metadata["class_names"]),
            class_names=tuple(metadata["class_names"]),
            num_examples={s: int(i["num_examples"]) for s, i in metadata["splits"].items()})

    def elements(self, split, *, order_seed=None, shard=None):
        self.check_split(split)
        return records.record_elements(self.files[split], parse, order_seed=order_seed,
                                       shard=shard, window=self.cfg.data.shuffle_buffer)

    def default_statistics_path(self):
        return self.directory / f"statistics_{self.cfg.data.resize_size}.npz"
