"""TensorFlow Datasets: `imagenet2012` from the ILSVRC tars, or any prepared TFDS dataset.

ImageNet cannot be downloaded automatically. Put `ILSVRC2012_img_train.tar` and
`ILSVRC2012_img_val.tar` in `data.manual_dir`; the first use prepares TFDS' shards in
`data.data_dir` (default ~/tensorflow_datasets) without any network access — the
validation labels and class list ship inside TFDS (docs/design.md, "TensorFlow Datasets, offline").
Any other image-classification dataset is used by its TFDS name once prepared in
`data.data_dir` (`tfds build <name> --data_dir=...`).

The prepared shards are read as records (`records.py`), images as their encoded
bytes, decoded by the pipeline's own robust decoder. Split "validation" reads the
dataset's "validation" split, or "test" where there is none.
"""
from __future__ import annotations

import logging
import os
import pathlib

import tensorflow as tf

from alexnet_tf.data.sources import records
from alexnet_tf.data.sources.base import DatasetInfo, Source, SourceError

IMAGENET_TARS = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")
_SPLIT_NAMES = {"train": ("train",), "validation": ("validation", "test")}


def _builder(name, data_dir):
    import tensorflow_datasets as tfds
    try:
        return tfds.builder(name, data_dir=data_dir)
    except (tfds.core.registered.DatasetNotFoundError, ValueError) as e:
        raise SourceError(f"unknown dataset {name!r}: not 'digits', 'folder' or 'tfrecord', "
                          f"and TensorFlow Datasets has no such builder ({e})") from None


def _prepare_imagenet(builder, manual_dir):
    import tensorflow_datasets as tfds
    if not manual_dir:
        raise SourceError(
            "imagenet2012 is not prepared in data.data_dir="
            f"{builder.data_dir} and cannot be downloaded automatically: put "
            f"{' and '.join(IMAGENET_TARS)} in a directory and set data.manual_dir to it")
    manual_dir = os.path.expanduser(manual_dir)
    missing = [t for t in IMAGENET_TARS if not os.path.isfile(os.path.join(manual_dir, t))]
    if missing:
        raise SourceError(f"data.manual_dir={manual_dir} lacks {' and '.join(missing)}: "
                          f"imagenet2012 needs {' and '.join(IMAGENET_TARS)} there (from "
                          f"image-net.org; TFDS cannot download them)")
    logging.warning("preparing imagenet2012 from %s into %s (once; about 150 GB for the "
                    "full set)", manual_dir, builder.data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=manual_dir, try_download_gcs=False))


class TFDSSource(Source):
    kind = "encoded"

    def __init__(self, cfg):
        import tensorflow_datasets as tfds
        self.cfg = cfg
        name = cfg.data.dataset
        data_dir = os.path.expanduser(cfg.data.data_dir) if cfg.data.data_dir else None
        builder = _builder(name, data_dir)
        if not builder.is_prepared():
            if builder.name == "imagenet2012":
                _prepare_imagenet(builder, cfg.data.manual_dir)
            else:
                raise SourceError(f"TFDS dataset {name!r} is not prepared in {builder.data_dir}"
                                  f": run `tfds build {name} --data_dir="
                                  f"{data_dir or '~/tensorflow_datasets'}` first")
        self.builder = builder
        keys = builder.info.supervised_keys
        features = builder.info.features
        if (not keys or len(keys) != 2
                or not isinstance(features[keys[0]], tfds.features.Image)
                or not isinstance(features[keys[1]], tfds.features.ClassLabel)):
            raise SourceError(f"TFDS dataset {name!r} is not image classification "
                              f"(supervised keys {keys})")
        self.image_key, self.label_key = keys
        self.splits = {}
        for split, candidates in _SPLIT_NAMES.items():
            found = [c for c in candidates if c in builder.info.splits]
            if found:
                self.splits[split] = builder.info.splits[found[0]]
        if "train" not in self.splits:
            raise SourceError(f"TFDS dataset {name!r} in {builder.data_dir} has no train split")
        labels = features[self.label_key]
        self.info = DatasetInfo(
            name=name, num_classes=labels.num_classes, class_names=tuple(labels.names),
            num_examples={s: int(i.num_examples) for s, i in self.splits.items()})

    def _parse(self, serialized):
        import tensorflow_datasets as tfds
        example = self.builder.info.features.deserialize_example(
            serialized, decoders={self.image_key: tfds.decode.SkipDecoding()})
        return example[self.image_key], tf.cast(example[self.label_key], tf.int32)

    def elements(self, split, *, order_seed=None, shard=None):
        self.check_split(split)
        files = [os.fspath(p) for p in self.splits[split].filepaths]
        return records.record_elements(files, self._parse, order_seed=order_seed, shard=shard,
                                       window=self.cfg.data.shuffle_buffer)

    def default_statistics_path(self):
        return pathlib.Path(os.fspath(self.builder.data_dir)) / (
            f"statistics_{self.cfg.data.resize_size}.npz")
