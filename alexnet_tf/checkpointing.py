"""Work directories, crash-safe checkpoints, and `load_model`.

A work directory holds everything one training run writes:

    <workdir>/config.json        the full Config (read back by `load_model`, `evaluate`)
    <workdir>/checkpoints/       ckpt-<step>.index/.data-*, and `latest.json` naming them
    <workdir>/model.keras        the final model (logits, no device placement)
    <workdir>/history.json       one row per epoch
    <workdir>/tensorboard/       scalars and the conv1 kernel grid
    <workdir>/statistics.npz     the dataset statistics used (mean image, RGB PCA)
    <workdir>/class_names.txt    one class name per line

Crash safety: a checkpoint is written completely under a new name first; only then is
`latest.json` replaced (write to a temporary file, fsync, `os.replace`, which is atomic on
POSIX). A crash during a save therefore leaves `latest.json` naming the previous, complete
checkpoint. Restoring tries the newest listed checkpoint and falls back to older ones if
it cannot be read.

Variables are keyed by `<layer name>/<variable name>` (e.g. `conv1/kernel`,
`dropout6/seed_generator_state`), never by creation order or device, so a checkpoint
moves unchanged between the single-device, `towers` and replicated modes.
"""
from __future__ import annotations

import json
import os
import pathlib
import tempfile

import keras
import tensorflow as tf

from alexnet_tf import config as config_lib
from alexnet_tf import model_files
from alexnet_tf.model import build_alexnet

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
LATEST_FILE = "latest.json"
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.json"
TENSORBOARD_DIR = "tensorboard"
STATISTICS_FILE = "statistics.npz"
CLASS_NAMES_FILE = "class_names.txt"


class CheckpointError(RuntimeError):
    """No usable checkpoint, or a file that is not what it claims to be."""


def atomic_write_text(path, text: str):
    """Writes `text` to `path` so readers see the old file or the new one, never half."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make the file private
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def model_variables(model: keras.Model) -> dict:
    """`layer/variable` -> variable for every variable of the model, incl. RNG states."""
    variables = {}
    for layer in model.layers:
        for variable in layer.variables:
            key = f"{layer.name}/{variable.name}"
            if key in variables:
                raise ValueError(f"two variables of {model.name} are both named {key!r}")
            variables[key] = variable
    return variables


def optimizer_variables(optimizer, model: keras.Model) -> dict:
    """The optimizer's state keyed by the model variable each slot belongs to."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    names = {id(v): key for key, v in model_variables(model).items()}
    state = {"iterations": inner.iterations, "learning_rate": inner.learning_rate}
    for variable, velocity in zip(inner._trainable_variables, inner.velocities):
        state[f"velocity/{names[id(variable)]}"] = velocity
    if inner is not optimizer:  # LossScaleOptimizer (mixed_float16)
        state["loss_scale/dynamic_scale"] = optimizer.dynamic_scale
        state["loss_scale/step_counter"] = optimizer.step_counter
    return state


class CheckpointSaver:
    """Writes and restores `tf.train.Checkpoint`s of named trackables in `directory`."""

    def __init__(self, directory, *, keep: int = 3, **trackables):
        self.directory = pathlib.Path(directory)
        self.keep = max(int(keep), 1)
        self.checkpoint = tf.train.Checkpoint(**trackables)

    @property
    def latest_file(self):
        return self.directory / LATEST_FILE

    def listed(self) -> list:
        """Checkpoint prefixes named by latest.json, newest first."""
        if not self.latest_file.exists():
            return []
        try:
            names = json.loads(self.latest_file.read_text())["checkpoints"]
        except (ValueError, KeyError) as e:
            raise CheckpointError(f"{self.latest_file} is unreadable ({e}); delete it to "
                                  f"start over or restore it from a backup") from None
        return [str(self.directory / name) for name in names]

    def save(self, step: int) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"ckpt-{int(step)}"
        prefix = self.checkpoint.write(str(self.directory / name))
        previous = [pathlib.Path(p).name for p in self.listed() if pathlib.Path(p).name != name]
        kept, dropped = [name] + previous[:self.keep - 1], previous[self.keep - 1:]
        atomic_write_text(self.latest_file, json.dumps({"checkpoints": kept}, indent=1))
        for old in dropped:
            for path in self.directory.glob(f"{old}.*"):
                path.unlink(missing_ok=True)
        return prefix

    def restore_latest(self):
        """Restores the newest readable checkpoint; returns its prefix, or None if none."""
        problems = []
        for prefix in self.listed():
            try:
                self.checkpoint.read(prefix).assert_existing_objects_matched()
                return prefix
            except (tf.errors.OpError, AssertionError, ValueError) as e:
                problems.append(f"{prefix}: {type(e).__name__}: {str(e).splitlines()[0]}")
        if problems:
            raise CheckpointError("no listed checkpoint could be read:\n  " + "\n  ".join(problems))
        return None


def save_config(cfg: config_lib.Config, workdir):
    atomic_write_text(pathlib.Path(workdir) / CONFIG_FILE,
                      json.dumps(config_lib.to_dict(cfg), indent=2))


def config_from_dict(data: dict) -> config_lib.Config:
    """Inverse of `config.to_dict`, through `config.override` (so it validates)."""
    name = data.get("name", "paper")
    base = config_lib.get_config(name if name in config_lib.PRESETS else "paper")
    return config_lib.override(base, [f"{path}={text}" for path, text in _flatten(data)])


def _flatten(data: dict, prefix=""):
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, prefix=f"{path}.")
        elif isinstance(value, (list, tuple)):
            yield path, ",".join(str(v) for v in value)
        else:
            yield path, repr(value) if isinstance(value, float) else str(value)


def load_config(workdir) -> config_lib.Config:
    path = pathlib.Path(workdir) / CONFIG_FILE
    if not path.exists():
        raise CheckpointError(f"{workdir} has no {CONFIG_FILE}: not a training work directory")
    return config_from_dict(json.loads(path.read_text()))


def load_model(path, cfg: config_lib.Config | None = None) -> keras.Model:
    """The logits model from a `.keras` file, a work directory, or a checkpoint prefix.

    A work directory gives its latest checkpoint if it has one, else its model.keras.
    A checkpoint prefix (`<workdir>/checkpoints/ckpt-<step>`) needs `cfg`, or finds the
    config two levels up."""
    path = pathlib.Path(path)
    if path.suffix == ".keras":
        return model_files.load_keras_file(path)     # a damaged file: one ModelFileError
    if path.is_dir():
        cfg = cfg or load_config(path)
        saver_dir = path / CHECKPOINT_DIR
        prefixes = CheckpointSaver(saver_dir).listed() if saver_dir.exists() else []
        if prefixes:
            return _model_from_checkpoint(prefixes, cfg)
        if (path / MODEL_FILE).exists():
            return model_files.load_keras_file(path / MODEL_FILE)
        raise CheckpointError(f"{path} has neither checkpoints nor {MODEL_FILE}")
    if pathlib.Path(f"{path}.index").exists():
        cfg = cfg or load_config(path.parent.parent)
        return _model_from_checkpoint([str(path)], cfg)
    raise CheckpointError(f"{path} is not a .keras file, a work directory or a checkpoint "
                          f"prefix (expected {path}.index)")


def _model_from_checkpoint(prefixes, cfg):
    model = build_alexnet(cfg.model)
    saver = CheckpointSaver(pathlib.Path(prefixes[0]).parent, model=model_variables(model))
    problems = []
    for prefix in prefixes:
        try:
            saver.checkpoint.read(prefix).expect_partial().assert_existing_objects_matched()
            return model
        except (tf.errors.OpError, AssertionError, ValueError) as e:
            problems.append(f"{prefix}: {str(e).splitlines()[0]}")
    raise CheckpointError("could not read a checkpoint:\n  " + "\n  ".join(problems))


class WorkDir:
    """Paths inside a work directory (see the module docstring)."""

    def __init__(self, root):
        self.root = pathlib.Path(root)
        self.config = self.root / CONFIG_FILE
        self.checkpoints = self.root / CHECKPOINT_DIR
        self.model = self.root / MODEL_FILE
        self.history = self.root / HISTORY_FILE
        self.tensorboard = self.root / TENSORBOARD_DIR
        self.statistics = self.root / STATISTICS_FILE
        self.class_names = self.root / CLASS_NAMES_FILE
