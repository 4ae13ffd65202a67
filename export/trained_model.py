"""A trained AlexNet with what serving needs beside it: its config, the dataset statistics
it was trained with and its class names (`load_trained_model`, the one place the export
commands load a model)."""
from __future__ import annotations

import dataclasses
import os

import keras

from alexnet_tf import config as config_lib
from alexnet_tf.data import class_names as class_names_lib
from alexnet_tf.data.statistics import DatasetStatistics


@dataclasses.dataclass
class TrainedModel:
    """A logits model with what serving needs beside it."""
    model: keras.Model
    cfg: config_lib.Config
    stats: DatasetStatistics | None
    classes: class_names_lib.ClassNames


def load_trained_model(path, preset=None, overrides=(), statistics=None,
                       class_names=None, require_statistics=True) -> TrainedModel:
    """From a training work directory (config, statistics and class names come with it), a
    checkpoint prefix inside one (`<workdir>/checkpoints/ckpt-<step>`), or a `.keras` file
    (then a work directory around it is used if there is one; otherwise `preset`/`overrides`
    and `statistics` say what it was trained with)."""
    from alexnet_tf.training import checkpoints as checkpointing
    path = os.path.abspath(os.fspath(path))
    is_checkpoint = os.path.exists(path + ".index")
    if not (os.path.exists(path) or is_checkpoint):
        raise FileNotFoundError(f"no model at {path} (expected a .keras file, a training "
                                "work directory or a checkpoint prefix)")
    if os.path.isdir(path):
        workdir = path
    elif is_checkpoint:
        workdir = os.path.dirname(os.path.dirname(path))
    else:
        workdir = os.path.dirname(path)
    has_config = os.path.exists(os.path.join(workdir, checkpointing.CONFIG_FILE))
    if os.path.isdir(path) or is_checkpoint or (has_config and preset is None):
        cfg = checkpointing.load_config(workdir)
    else:
        cfg = config_lib.get_config(preset or "paper")
    cfg = config_lib.override(cfg, overrides)
    model = checkpointing.load_model(path, None if path.endswith(".keras") else cfg)

    statistics = statistics or _existing(workdir, checkpointing.STATISTICS_FILE)
    if not statistics and require_statistics:
        raise FileNotFoundError(
            f"no dataset statistics for {path}: pass --statistics=<statistics.npz> (the "
            "mean the model was trained with; training writes it to its work directory)")
    stats = DatasetStatistics.load(statistics) if statistics else None
    if statistics and not cfg.data.statistics_path:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(
            cfg.data, statistics_path=os.path.abspath(statistics)))

    class_names = class_names or _existing(workdir, checkpointing.CLASS_NAMES_FILE)
    classes = (class_names_lib.from_file(class_names) if class_names
               else class_names_lib.for_classes(model.output_shape[-1], cfg.data.dataset))
    return TrainedModel(model=model, cfg=cfg, stats=stats, classes=classes)


def _existing(folder, name):
    path = os.path.join(folder, name)
    return path if os.path.exists(path) else None
