"""One loader: a trained model with what it needs to read images — config, statistics,
class names — whichever command reads it.

    classifier = load_classifier("workdir/")   # or model.keras, a checkpoint, bvlc .npy
    probs = classifier.probabilities(classifier.preprocess_files(paths))
    top = top_k(probs, k=5)

`predict`, `evaluate`, both exports and the figure tools all load through
`load_classifier`, so one model gets one config, one set of statistics and one class list
in every command, or the same one-line error.

A model reference is one of:

- a training work directory: its newest readable checkpoint, else its model.keras;
- a checkpoint prefix `<workdir>/checkpoints/ckpt-N`;
- a `.keras` file (its work directory, if any, is the folder holding it);
- `bvlc_alexnet.npy`, Caffe's weights (`pretrained.load_bvlc_alexnet`).

The config (one rule): the config.json of the work directory the reference belongs to (the
directory itself, two levels above a checkpoint prefix, the folder of a `.keras` file); else
`preset` if given; else an error naming the file and the flag ("<path> has no config.json
beside it: pass --preset=paper|digits|tiny ..."). Nothing is guessed from the model's shape.
A `preset` given while a config.json exists must name the preset that config.json was made
from (harmless, e.g. a script that always passes one); a different one is refused, naming
both, since config.json records what the model was trained with. `overrides`
(`section.field=value`) apply on top of either. A `.npy` is Caffe's bvlc_alexnet:
`pretrained.caffe_config(preset or "paper")` plus `overrides`. The model must take the
config's input size and class count, else an error says which preset to pass.

Statistics: `statistics` (a .npz path or DatasetStatistics) if given; else the work
directory's statistics.npz; else the dataset's own (`pipeline.dataset_statistics(cfg)`:
beside the data, or computed in memory for the embedded digits); else an error asking for
`--statistics`. For a `.npy`: Caffe's per-channel mean unless given.

Class names: `class_names` (a class_names.txt path or ClassNames) if given; else the work
directory's class_names.txt; else by class count and dataset (`class_names.for_classes`:
ImageNet's for 1000 ImageNet classes, the label numbers otherwise).

Images go through `preprocessing.serving_preprocess`, the function the exported SavedModel
serves with (strict decoding, the centre patch, the training mean), so predictions here and
from TF Serving agree. A damaged model file or checkpoint is named in one line
(`model_files`); a work directory whose newest checkpoint is unreadable falls back to an
older one with a warning (`checkpoints.load_model`).
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
from alexnet_tf.command import UserError, error_line
from alexnet_tf.data import decoding as image_decoding, preprocessing
from alexnet_tf.inference import model_files
from alexnet_tf.data.statistics import DatasetStatistics


class InputError(UserError, ValueError):
    """An image or model file a user gave cannot be used; the message names it."""


@dataclasses.dataclass
class Classifier:
    model: keras.Model                     # logits
    cfg: config_lib.Config
    statistics: DatasetStatistics
    class_names: class_names_lib.ClassNames
    source: str = ""                       # the reference it was loaded from
    workdir: pathlib.Path | None = None    # the work directory whose config.json it has

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


def _model_kind(path: pathlib.Path) -> str:
    """'npy', 'keras', 'workdir' or 'checkpoint'; a missing model is an InputError."""
    if path.suffix == ".npy":
        return "npy"
    if path.is_dir():
        return "workdir"
    if pathlib.Path(f"{path}.index").is_file():
        return "checkpoint"
    if path.suffix == ".keras" and path.is_file():
        return "keras"
    if path.suffix == ".index" and path.is_file():
        raise InputError(f"{path} is a checkpoint's index file: pass its prefix "
                         f"{path.with_suffix('')}")
    what = f"{path} is not a model file" if path.exists() else f"no model at {path}"
    raise InputError(f"{what} (expected a .keras file, a training work directory, a "
                     "checkpoint prefix <workdir>/checkpoints/ckpt-N or bvlc_alexnet.npy)")


def workdir_of(path) -> pathlib.Path:
    """The work directory a model reference belongs to: a directory itself, two levels above
    a checkpoint prefix, the folder of a file (whether or not it holds a config.json)."""
    path = pathlib.Path(path)
    if path.is_dir():
        return path
    if pathlib.Path(f"{path}.index").is_file():
        return path.parent.parent
    return path.parent


def _where(kind: str, workdir: pathlib.Path) -> str:
    return {"workdir": "in it", "keras": "beside it"}.get(kind, f"in {workdir}")


def _config_of(path, kind, workdir, preset, overrides) -> config_lib.Config:
    """The one rule of the module doc."""
    config_file = workdir / checkpointing.CONFIG_FILE
    if config_file.is_file():
        try:
            cfg = checkpointing.load_config(workdir)
        except (ValueError, TypeError, AttributeError, KeyError, OSError) as e:
            raise InputError(f"{config_file} is unreadable ({error_line(e)}): "
                             "repair it, or move it away and pass --preset") from None
        if preset is not None and preset != cfg.name:
            raise InputError(
                f"--preset={preset} contradicts {config_file} (preset {cfg.name!r}, what "
                f"{path} was trained with): drop --preset (change single fields with "
                "--set section.field=value)")
    elif preset is not None:
        cfg = config_lib.get_config(preset)
    else:
        if kind == "workdir" and not ((path / checkpointing.MODEL_FILE).is_file()
                                      or (path / checkpointing.CHECKPOINT_DIR).is_dir()):
            raise InputError(f"no model in {path}: not a training work directory (no "
                             f"{checkpointing.CONFIG_FILE}, {checkpointing.CHECKPOINT_DIR}/ "
                             f"or {checkpointing.MODEL_FILE})")
        raise InputError(f"{path} has no {checkpointing.CONFIG_FILE} {_where(kind, workdir)}: "
                         f"pass --preset={'|'.join(config_lib.PRESETS)} (the preset it was "
                         "trained with)")
    return config_lib.override(cfg, list(overrides))


def _check_shape(model: keras.Model, cfg: config_lib.Config, path, config_file):
    """A model the config does not describe would fail later, deep inside preprocessing."""
    size, classes = model.input.shape[1], model.output.shape[-1]
    if (size, classes) == (cfg.model.image_size, cfg.model.num_classes):
        return
    said = f"{config_file}" if config_file else f"preset {cfg.name!r}"
    fix = ("it was not trained with that config: move it out of that directory and pass "
           "the preset it was trained with" if config_file else
           "pass the preset it was trained with")
    raise InputError(
        f"{path} takes {size}x{size} images and has {classes} classes, but {said} says "
        f"{cfg.model.image_size}x{cfg.model.image_size} and {cfg.model.num_classes}: {fix} "
        f"(--preset={'|'.join(config_lib.PRESETS)})")


def _statistics(statistics, path, workdir, cfg) -> DatasetStatistics:
    if statistics is None and workdir is not None:
        beside = workdir / checkpointing.STATISTICS_FILE
        statistics = beside if beside.is_file() else None
    if statistics is None:
        from alexnet_tf.data import pipeline as input_pipeline
        from alexnet_tf.data.sources.base import SourceError
        try:
            return input_pipeline.dataset_statistics(cfg)
        except SourceError as e:
            raise InputError(
                f"no dataset statistics for {path}: no {checkpointing.STATISTICS_FILE} in "
                f"{workdir}, and its dataset {cfg.data.dataset!r} has none "
                f"({error_line(e)}); pass --statistics=<statistics.npz> (the mean it "
                "was trained with; training writes it to its work directory)") from None
    if not isinstance(statistics, DatasetStatistics):
        statistics = DatasetStatistics.load(statistics)  # one clear error if missing/damaged
    if statistics.size != cfg.data.resize_size:
        raise InputError(f"the statistics for {path} are of {statistics.size}x"
                         f"{statistics.size} images, but its data.resize_size is "
                         f"{cfg.data.resize_size}")
    return statistics


def _class_names(class_names, workdir, cfg) -> class_names_lib.ClassNames:
    if class_names is None and workdir is not None:
        beside = workdir / checkpointing.CLASS_NAMES_FILE
        class_names = beside if beside.is_file() else None
    if class_names is None:
        return class_names_lib.for_classes(cfg.model.num_classes, cfg.data.dataset)
    if isinstance(class_names, class_names_lib.ClassNames):
        return class_names
    return class_names_lib.from_file(class_names)   # one clear error if missing/empty


def load_classifier(reference, *, preset: str | None = None, overrides=(),
                    statistics=None, class_names=None) -> Classifier:
    """The model `reference` names, with its config, statistics and class names (the rules
    are the module doc's).

    `reference`: a work directory, a checkpoint prefix, a `.keras` file or
    `bvlc_alexnet.npy`. `preset`: the preset a model without a config.json was trained with.
    `overrides`: `section.field=value` strings applied to the config. `statistics`: a
    DatasetStatistics or .npz path. `class_names`: a ClassNames or class_names.txt path.
    Anything the caller can fix raises InputError (or the ValueError / FileNotFoundError of
    a bad preset, override, statistics or class names file), one line naming it. A model
    already loaded (a `Classifier`) is returned as it is.
    """
    if isinstance(reference, Classifier):
        return reference
    overrides = list(overrides or ())
    path = pathlib.Path(reference)
    kind = _model_kind(path)
    if preset is not None:
        config_lib.get_config(preset)          # an unknown preset: one clear ValueError
    if kind == "npy":
        return _load_bvlc(path, preset, overrides, statistics, class_names)
    workdir = workdir_of(path)
    cfg = _config_of(path, kind, workdir, preset, overrides)
    try:
        model = checkpointing.load_model(path, None if kind == "keras" else cfg)
    except (checkpointing.CheckpointError, model_files.ModelFileError) as e:
        raise InputError(str(e)) from None
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    config_file = workdir / checkpointing.CONFIG_FILE
    _check_shape(model, cfg, path, config_file if config_file.is_file() else None)
    statistics = _statistics(statistics, path, workdir, cfg)
    class_names = _class_names(class_names, workdir, cfg)
    if len(class_names) != model.output.shape[-1]:
        raise InputError(f"{len(class_names)} class names for {path}, a model with "
                         f"{model.output.shape[-1]} outputs")
    return Classifier(model, cfg, statistics, class_names, source=str(path),
                      workdir=workdir if config_file.is_file() else None)


def _load_bvlc(path, preset, overrides, statistics, class_names) -> Classifier:
    from alexnet_tf.network import pretrained
    cfg = config_lib.override(pretrained.caffe_config(preset or "paper"),
                              list(overrides))
    try:
        model = pretrained.load_bvlc_alexnet(path, cfg)
    except FileNotFoundError as e:
        raise InputError(str(e)) from None
    if statistics is None:
        statistics = DatasetStatistics.per_channel(pretrained.CAFFE_MEAN_RGB,
                                                   size=cfg.data.resize_size)
    statistics = _statistics(statistics, path, None, cfg)
    class_names = _class_names(class_names, None, cfg)
    if len(class_names) != model.output.shape[-1]:
        raise InputError(f"{len(class_names)} class names for {path}, a model with "
                         f"{model.output.shape[-1]} outputs")
    return Classifier(model, cfg, statistics, class_names, source=str(path))
