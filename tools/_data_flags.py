"""Flags the data tools share: which source, where, with which preset."""
from __future__ import annotations

import dataclasses

from absl import flags

from alexnet_tf import config
flags.DEFINE_string("preset", "paper", "Config preset (sets data.resize_size).")
flags.DEFINE_string("dataset", None, "Source: folder, tfrecord, imagenet2012 (or any TFDS "
                    "name), digits.")
flags.DEFINE_string("data_dir", None, "data.data_dir of the source.")
flags.DEFINE_string("manual_dir", None, "data.manual_dir (the ILSVRC tars) for imagenet2012.")
flags.DEFINE_multi_string("set", [], "Config override section.field=value (repeatable).")
FLAGS = flags.FLAGS


def source_config():
    cfg = config.override(config.get_config(FLAGS.preset), FLAGS.set)
    data = cfg.data
    for name in ("dataset", "data_dir", "manual_dir"):
        if getattr(FLAGS, name) is not None:
            data = dataclasses.replace(data, **{name: getattr(FLAGS, name)})
    return dataclasses.replace(cfg, data=data)
