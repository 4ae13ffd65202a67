"""Flags the data tools share: which source, where, with which preset."""
from __future__ import annotations

import dataclasses


def define_source_flags(flags):
    """Called from the data tools' `define_flags`."""
    flags.DEFINE_string("preset", "paper", "Config preset (sets data.resize_size).")
    flags.DEFINE_string("dataset", None, "Source: folder, tfrecord, imagenet2012 (or any TFDS "
                        "name), digits.")
    flags.DEFINE_string("data_dir", None, "data.data_dir of the source.")
    flags.DEFINE_string("manual_dir", None, "data.manual_dir (the ILSVRC tars) for "
                        "imagenet2012.")
    flags.DEFINE_multi_string("set", [], "Config override section.field=value (repeatable).")


def source_config(flag_values):
    """The config the source flags describe: the preset, the overrides, then the flags."""
    from alexnet_tf import config
    cfg = config.override(config.get_config(flag_values.preset), flag_values.set)
    data = cfg.data
    for name in ("dataset", "data_dir", "manual_dir"):
        if getattr(flag_values, name) is not None:
            data = dataclasses.replace(data, **{name: getattr(flag_values, name)})
    return dataclasses.replace(cfg, data=data)
