"""Where examples come from: one module per kind of source, chosen by `cfg.data.dataset`.

- "digits": scikit-learn's 8x8 digit scans, embedded (`digits.py`), the default;
- "folder": `<data_dir>/train/<class>/*`, `<data_dir>/val/<class>/*` (`folder.py`);
- "tfrecord": pre-resized shards written by `tools/write_tfrecords.py` (`tfrecord.py`);
- any other name: a TensorFlow Datasets builder, e.g. "imagenet2012" prepared from
  the ILSVRC tars in `cfg.data.manual_dir` (`tfds_source.py`).

`subset.py` takes a fixed share of a listing source's training images
(`data.train_fraction`). A source lists an epoch's elements `(raw, label)` in an order that is a pure function
of a seed (`ordering.py`); `raw` is an encoded file (`kind == "encoded"`), a file's
path (`"path"`) or an already decoded uint8 image (`"image"`). Decoding and augmentation happen in
`alexnet_tf.data.pipeline`.
"""
from __future__ import annotations

from alexnet_tf.data.sources.base import DatasetInfo, Source, SourceError

SPLITS = ("train", "validation")


def get_source(cfg) -> Source:
    """The source `cfg.data.dataset` names; with `data.train_fraction` < 1 its training split
    cut to a fixed, class-stratified subset (`subset.py`)."""
    source = _named_source(cfg)
    if cfg.data.train_fraction < 1:
        from alexnet_tf.data.sources import subset
        return subset.TrainingSubset(source, cfg.data.train_fraction)
    return source


def _named_source(cfg) -> Source:
    name = cfg.data.dataset
    if name == "digits":
        from alexnet_tf.data.sources import digits
        return digits.DigitsSource(cfg)
    if name == "folder":
        from alexnet_tf.data.sources import folder
        return folder.FolderSource(cfg)
    if name == "tfrecord":
        from alexnet_tf.data.sources import tfrecord
        return tfrecord.TFRecordSource(cfg)
    from alexnet_tf.data.sources import tfds_source
    return tfds_source.TFDSSource(cfg)


__all__ = ["DatasetInfo", "Source", "SourceError", "SPLITS", "get_source"]
