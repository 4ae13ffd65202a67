"""A trained model with what it needs to read images: config, statistics, class names.

    classifier = load_classifier("workdir/")   # or model.keras, a checkpoint, bvlc .npy
    probs = classifier.probabilities(classifier.preprocess_files(paths))
    top = top_k(probs, k=5)

Images go through `preprocessing.serving_preprocess`, the function the exported SavedModel
serves with (strict decoding, the centre patch, the training mean), so predictions here and
from TF Serving agree. Where the parts come from:

- a work directory: its config.json, statistics.npz and class_names.txt;
- a checkpoint prefix (<workdir>/checkpoints/ckpt-N): the same files two levels up;
- a .keras file: the same files beside it; else the preset matching its input size and
  class count, the dataset's statistics (`input_pipeline.dataset_statistics`) and class
  names by count (ImageNet's for 1000);
- bvlc_alexnet.npy: `pretrained.caffe_config()`, Caffe's per-channel mean, ImageNet's
  class names.

Every one can be given explicitly instead (`config`, `statistics`, `class_names`).
"""
from __future__ import annotations

import dataclasses
import pathlib
import re

import keras
import numpy as np
import tensorflow as tf

from alexnet_tf.training import checkpoints as checkpointing

from alexnet_tf.data import class_names as class_names_lib

from alexnet_tf import config as config_lib
from alexnet_tf.data import decoding as image_decoding, preprocessing
from alexnet_tf.inference import model_files
from alexnet_tf.data.statistics import DatasetStatistics


class InputError(ValueError):
    """An image or model file a user gave cannot be used; the message names it."""


@dataclasses.dataclass
class Classifier:
    model: keras.Model                     # logits
    cfg: config_lib.Config
    statistics: DatasetStatistics
    class_names: class_names_lib.ClassNames
    source: str

    @property
    def image_size(self) -> int:
        return self.cfg.model.image_size

    def preprocess_encoded(self, encoded) -> np.ndarray:
        """Encoded image files (bytes) -> float32 [B, S, S, 3], as served."""
        return preprocessing.serving_preprocess(tf.constant(list(encoded), tf.string),
                                                self.cfg, self.statistics).numpy()

    def preprocess_files(self, paths) -> np.ndarray:
        """Files -> float32 [B, S, S, 3]; an unreadable file raises InputError naming it."""
        batches = [self.preprocess_encoded([read_image_file(path, self.cfg)]) for path in paths]
        if not batches:
            return np.zeros((0, self.image_size, self.image_size, 3), np.float32)
        return np.concatenate(batches)

    def probabilities(self, images, batch_size: int = 64) -> np.ndarray:
        logits = self.model.predict(np.asarray(images, np.float32), batch_size=batch_size,
                                    verbose=0)
        return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1).numpy()


def read_image_file(path, cfg: config_lib.Config) -> bytes:
    """The file's bytes, checked by the strict decoder so a bad file is named clearly."""
    try:
        encoded = pathlib.Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"cannot read image {path}: {e.strerror}") from None
    try:
        image_decoding.decode_image_strict(tf.constant(encoded), cfg.data.max_image_pixels)
    except tf.errors.InvalidArgumentError as e:
        raise InputError(f"{path}: {_decoder_message(e)}") from None
    return encoded


def _decoder_message(error) -> str:
    """The decoder's own words, without the tf.debugging.Assert wrapping around them."""
    parts = re.findall(r"b'([^']*)'", error.message) or re.findall(r'b"([^"]*)"', error.message)
    return " ".join(part.strip() for part in parts) if parts else error.message


def display_image(path, cfg: config_lib.Config) -> np.ndarray:
    """The patch the network sees, as uint8 [S, S, 3]: shorter side to the resize size,
    the central S x S (§2)."""
    image = image_decoding.decode_image_strict(tf.constant(read_image_file(path, cfg)),
                                               cfg.data.max_image_pixels)
    return display_patch(image, cfg)


def display_patch(image_uint8, cfg: config_lib.Config) -> np.ndarray:
    resized = preprocessing.resize_and_center_crop(image_uint8, cfg.data.resize_size)
    return preprocessing.center_crop(resized, cfg.model.image_size).numpy()


def top_k(probabilities, k: int = 5):
    """(indices [B, k], probabilities [B, k]), most probable first (ties: lower index)."""
    probabilities = np.asarray(probabilities)
    k = min(k, probabilities.shape[-1])
    order = np.argsort(-probabilities, axis=-1, kind="stable")[..., :k]
    return order, np.take_along_axis(probabilities, order, axis=-1)


def _side_file(model_path: pathlib.Path, name: str) -> pathlib.Path | None:
    """`name` in the work directory the model path belongs to, if it exists."""
    if model_path.is_dir():
        candidates = [model_path]
    elif model_path.suffix == ".keras":
        candidates = [model_path.parent]
    else:                                   # <workdir>/checkpoints/ckpt-N
        candidates = [model_path.parent.parent]
    for directory in candidates:
        if (directory / name).is_file():
            return directory / name
    return None


def _matching_preset(model: keras.Model, path) -> config_lib.Config:
    size, classes = model.input.shape[1], model.output.shape[-1]
    for name in config_lib.PRESETS:
        cfg = config_lib.get_config(name)
        if (cfg.model.image_size, cfg.model.num_classes) == (size, classes):
            return cfg
    raise InputError(f"{path}: no config.json beside it and no preset takes {size}x{size} "
                     f"inputs with {classes} classes; pass a config (preset)")


def load_classifier(path, *, config: config_lib.Config | str | None = None,
                    statistics=None, class_names=None) -> Classifier:
    """The model at `path` ready to classify image files (see the module doc).

    `config` is a Config or preset name, `statistics` a DatasetStatistics or .npz path,
    `class_names` a ClassNames or class_names.txt path.
    """
    path = pathlib.Path(path)
    if isinstance(config, str):
        config = config_lib.get_config(config)
    if path.suffix == ".npy":
        return _load_bvlc(path, config, statistics, class_names)
    if not path.exists() and not pathlib.Path(f"{path}.index").exists():
        raise InputError(f"no model at {path} (expected a .keras file, a work directory, a "
                         "checkpoint prefix or bvlc_alexnet.npy)")
    config_file = _side_file(path, checkpointing.CONFIG_FILE)
    if config is None and config_file is not None:
        config = checkpointing.load_config(config_file.parent)
    try:
        model = checkpointing.load_model(path, config)
    except (checkpointing.CheckpointError, model_files.ModelFileError, OSError) as e:
        raise InputError(str(e)) from None
    cfg = config or _matching_preset(model, path)
    if statistics is None:
        statistics = _side_file(path, checkpointing.STATISTICS_FILE)
    if statistics is None:
        from alexnet_tf.data import pipeline as input_pipeline
        statistics = input_pipeline.dataset_statistics(cfg)   # clear SourceError if none
    elif not isinstance(statistics, DatasetStatistics):
        statistics = DatasetStatistics.load(statistics)
    if class_names is None:
        names_file = _side_file(path, checkpointing.CLASS_NAMES_FILE)
        class_names = names_file or class_names_lib.for_classes(cfg.model.num_classes,
                                                                cfg.data.dataset)
    if not isinstance(class_names, class_names_lib.ClassNames):
        class_names = class_names_lib.from_file(class_names)
    if len(class_names) != model.output.shape[-1]:
        raise InputError(f"{len(class_names)} class names for a model with "
                         f"{model.output.shape[-1]} outputs")
    return Classifier(model, cfg, statistics, class_names, source=str(path))


def _load_bvlc(path, config, statistics, class_names) -> Classifier:
    from alexnet_tf.network import pretrained
    cfg = pretrained.caffe_config(config or "paper")
    try:
        model = pretrained.load_bvlc_alexnet(path, cfg)
    except FileNotFoundError as e:
        raise InputError(str(e)) from None
    if statistics is None:
        statistics = DatasetStatistics.per_channel(pretrained.CAFFE_MEAN_RGB,
                                                   size=cfg.data.resize_size)
    elif not isinstance(statistics, DatasetStatistics):
        statistics = DatasetStatistics.load(statistics)
    if class_names is None:
        class_names = class_names_lib.for_classes(cfg.model.num_classes, cfg.data.dataset)
    elif not isinstance(class_names, class_names_lib.ClassNames):
        class_names = class_names_lib.from_file(class_names)
    return Classifier(model, cfg, statistics, class_names, source=str(path))
