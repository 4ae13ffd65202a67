"""Work directories, crash-safe checkpoints, and `load_model`.

A work directory holds everything one training run writes:

    <workdir>/config.json        the full Config (read back by `load_model`, `evaluate`)
    <workdir>/checkpoints/       ckpt-<step>.index/.data-*, and `latest.json` naming them
    <workdir>/model.keras        the final model (logits, no device placement)
    <workdir>/history.json       one row per epoch
    <workdir>/tensorboard/       scalars and the conv1 kernel grid
    <workdir>/statistics.npz     the dataset statistics used (mean image, RGB PCA)
    <workdir>/class_names.txt    one class name per line
    <workdir>/.training.lock     locked while a training run uses the directory

Crash safety: a checkpoint is written completely under a new name first and fsynced; only
then is `latest.json` replaced (`alexnet_tf.atomic`: a temporary file, fsync, rename, which
is atomic on POSIX). A crash during a save therefore leaves `latest.json` naming the
previous, complete checkpoint; every other file here is published the same way.
Restoring tries the newest listed checkpoint and falls back to older ones if it cannot be
read, naming each one it skips; without a usable `latest.json` it tries the `ckpt-<step>`
files on disk, newest step first. What interrupted saves leave
(`ckpt-<step>_temp/`, our temporary files, unlisted `ckpt-<step>.*`) is removed by
`CheckpointSaver.clean_debris`, which training runs at start and after every save.

Variables are keyed by `<layer name>/<variable name>` (e.g. `conv1/kernel`,
`dropout6/seed_generator_state`), never by creation order or device, so a checkpoint
moves unchanged between the single-device, `towers` and replicated modes.
"""
from __future__ import annotations

import json
import pathlib
import re
import shutil
import sys

import keras
import tensorflow as tf
from google.protobuf.message import DecodeError

from alexnet_tf import atomic, config as config_lib
from alexnet_tf.atomic import DiskFullError  # noqa: F401  (what training raises on a full disk)
from alexnet_tf.command import UserError
from alexnet_tf.inference import model_files
from alexnet_tf.network.dtype_copy import named_variables as model_variables
from alexnet_tf.network.model import build_alexnet

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
LATEST_FILE = "latest.json"
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.json"
TENSORBOARD_DIR = "tensorboard"
STATISTICS_FILE = "statistics.npz"
CLASS_NAMES_FILE = "class_names.txt"


CHECKPOINT_NAME = re.compile(r"ckpt-(\d+)")
# What a reader of a damaged checkpoint raises: a short .data file gives IndexError
# ("Read less bytes than requested"), a damaged .index or bad checksum an OpError.
READ_ERRORS = (tf.errors.OpError, AssertionError, ValueError, IndexError, DecodeError)


class CheckpointError(UserError, RuntimeError):
    """No usable checkpoint, or a file that is not what it claims to be."""


def warn(line: str):
    sys.stderr.write(f"warning: {line}\n")


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
        self.last_good = None  # the prefix this process restored or saved last
        self.unreadable = set()  # names restore_latest skipped: the next save drops them

    @property
    def latest_file(self):
        return self.directory / LATEST_FILE

    def _read_latest(self):
        """latest.json's checkpoint names, or None and why they cannot be used."""
        if not self.latest_file.exists():
            return None, "is missing"
        try:
            data = json.loads(self.latest_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            return None, f"is unreadable ({e})"
        names = data.get("checkpoints") if isinstance(data, dict) else None
        if not isinstance(names, list) or not all(
                isinstance(n, str) and CHECKPOINT_NAME.fullmatch(n) for n in names):
            return None, 'does not hold {"checkpoints": ["ckpt-<step>", ...]}'
        return names, None

    def _on_disk(self) -> list:
        """Names of the ckpt-<step>.index files here, newest step first."""
        found = [CHECKPOINT_NAME.fullmatch(p.name[:-len(".index")])
                 for p in self.directory.glob("ckpt-*.index")]
        return [m.group(0) for m in sorted(filter(None, found),
                                           key=lambda m: int(m.group(1)), reverse=True)]

    def inventory(self):
        """(checkpoint prefixes to try, newest first; a notice or None).

        The prefixes are those latest.json lists. When it is missing or unusable but
        ckpt-<step>.index files are on disk, they are the candidates (newest step
        first) and the notice says so."""
        names, problem = self._read_latest()
        if names is not None:
            return [str(self.directory / name) for name in names], None
        found = self._on_disk() if self.directory.is_dir() else []
        if not found:
            notice = None if problem == "is missing" else (
                f"{self.latest_file} {problem}; no ckpt-<step>.index file is beside it")
            return [], notice
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        return ([str(self.directory / name) for name in found],
                f"{self.latest_file} {problem}; found {shown} on disk: using the newest "
                f"readable one")

    def listed(self) -> list:
        """Checkpoint prefixes to restore from, newest first (see `inventory`)."""
        return self.inventory()[0]

    def save(self, step: int) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"ckpt-{int(step)}"
        listed = [pathlib.Path(p).name for p in self.listed()]
        try:
            with atomic.disk_full_names(self.directory / name):
                prefix = self.checkpoint.write(str(self.directory / name))
                for path in self.directory.glob(f"{name}.*"):
                    atomic.fsync_file(path)
                atomic.fsync_directory(self.directory)
        except BaseException:
            # Free what the failed write took (on a full disk that is the point); a listed
            # checkpoint of the same name stays for the fallback to judge.
            shutil.rmtree(self.directory / f"{name}_temp", ignore_errors=True)
            if name not in listed:
                for path in self.directory.glob(f"{name}.*"):
                    path.unlink(missing_ok=True)
            raise
        self.unreadable.discard(name)           # written anew just now
        # Listed checkpoints of later steps are ones this run resumed past (unreadable),
        # and ones it found unreadable make way for readable ones.
        previous = [n for n in listed if int(n.split("-")[1]) < int(step)
                    and n not in self.unreadable]
        kept, dropped = [name] + previous[:self.keep - 1], previous[self.keep - 1:]
        dropped += [n for n in listed if n not in kept and n not in dropped]
        atomic.publish(self.latest_file, json.dumps({"checkpoints": kept}, indent=1))
        self.last_good = prefix
        for old in dropped:
            for path in self.directory.glob(f"{old}.*"):
                path.unlink(missing_ok=True)
        self.clean_debris()
        return prefix

    def clean_debris(self) -> list:
        """Removes what interrupted saves leave; returns the names removed.

        Always: `ckpt-<step>_temp/` (TF's staging folder), TF's `*.tempstate*` files and
        temporary files of latest.json (`alexnet_tf.atomic`'s names). With a valid
        latest.json also the `ckpt-<step>.*` files it does not list (a save killed before
        its listing, or a pruning cut short); without one nothing named ckpt-<step>.* is
        touched."""
        if not self.directory.is_dir():
            return []
        names, _ = self._read_latest()
        removed = []
        for path in sorted(self.directory.iterdir()):
            stem = path.name.split(".")[0]
            temp = stem.endswith("_temp") and CHECKPOINT_NAME.fullmatch(stem[:-len("_temp")])
            ours = CHECKPOINT_NAME.fullmatch(stem)
            if temp and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif ours and ".tempstate" in path.name:
                path.unlink(missing_ok=True)
            elif atomic.is_temporary(path.name, of=LATEST_FILE) and path.is_file():
                path.unlink(missing_ok=True)
            elif ours and names is not None and stem not in names and path.is_file():
                path.unlink(missing_ok=True)
            else:
                continue
            removed.append(path.name)
        return removed

    def restore_latest(self, report=warn):
        """Restores the newest readable checkpoint; returns its prefix, or None if none.

        `report` gets one line for the inventory's notice and for each checkpoint skipped
        (which and why)."""
        prefixes, notice = self.inventory()
        if notice:
            report(notice)
        problems = []
        for index, prefix in enumerate(prefixes):
            try:
                self.checkpoint.read(prefix).assert_existing_objects_matched()
            except READ_ERRORS as e:
                problems.append(f"{pathlib.Path(prefix).name}: {_reason(e)}")
                self.unreadable.add(pathlib.Path(prefix).name)
                if index + 1 < len(prefixes):
                    report(_skipped(prefix, e, prefixes[index + 1]))
                continue
            self.last_good = prefix
            return prefix
        if problems:
            raise CheckpointError(
                f"no checkpoint in {self.directory} could be read ({'; '.join(problems)}); "
                f"restore one from a backup, or train in a new --workdir")
        return None


def _skipped(prefix, error, following) -> str:
    return (f"skipped checkpoint {prefix}: unreadable ({_reason(error)}); trying "
            f"{pathlib.Path(following).name}")


def _reason(error) -> str:
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def save_config(cfg: config_lib.Config, workdir):
    atomic.publish(pathlib.Path(workdir) / CONFIG_FILE,
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


def load_model(path, cfg: config_lib.Config | None = None, *, report=warn) -> keras.Model:
    """The logits model from a `.keras` file, a work directory, or a checkpoint prefix.

    A work directory gives its newest readable checkpoint if it has one (`report` gets a
    line for each one skipped), else its model.keras. A checkpoint prefix
    (`<workdir>/checkpoints/ckpt-<step>`) needs `cfg`, or finds the config two levels up."""
    path = pathlib.Path(path)
    if path.suffix == ".keras":
        return model_files.load_keras_file(path)     # a damaged file: one ModelFileError
    if path.is_dir():
        cfg = cfg or load_config(path)
        saver_dir = path / CHECKPOINT_DIR
        prefixes, notice = (CheckpointSaver(saver_dir).inventory() if saver_dir.exists()
                            else ([], None))
        if notice:
            report(notice)
        if prefixes:
            try:
                return _model_from_checkpoint(prefixes, cfg, report=report)
            except CheckpointError as e:
                if not (path / MODEL_FILE).exists():
                    raise
                report(f"{e}; using {path / MODEL_FILE}")
        if (path / MODEL_FILE).exists():
            return model_files.load_keras_file(path / MODEL_FILE)
        raise CheckpointError(f"{path} has neither checkpoints nor {MODEL_FILE}")
    if pathlib.Path(f"{path}.index").exists():
        cfg = cfg or load_config(path.parent.parent)
        return _model_from_checkpoint([str(path)], cfg, report=report)
    raise CheckpointError(f"{path} is not a .keras file, a work directory or a checkpoint "
                          f"prefix (expected {path}.index)")


def _model_from_checkpoint(prefixes, cfg, report=warn):
    model = build_alexnet(cfg.model)
    saver = CheckpointSaver(pathlib.Path(prefixes[0]).parent, model=model_variables(model))
    problems = []
    for index, prefix in enumerate(prefixes):
        try:
            saver.checkpoint.read(prefix).expect_partial().assert_existing_objects_matched()
            return model
        except READ_ERRORS as e:
            problems.append(f"{pathlib.Path(prefix).name}: {_reason(e)}")
            if index + 1 < len(prefixes):
                report(_skipped(prefix, e, prefixes[index + 1]))
    raise CheckpointError(f"could not read a checkpoint in {pathlib.Path(prefixes[0]).parent} "
                          f"({'; '.join(problems)})")


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
        self.lock = None  # a held `WorkDirLock` while a training run owns the directory

    def clean_debris(self) -> list:
        """Removes the temporary files an interrupted write of ours leaves in the work
        directory (their names only: nothing else is touched); returns the names."""
        if not self.root.is_dir():
            return []
        ours = (self.config, self.history, self.class_names, self.model, self.statistics)
        removed = atomic.remove_temporaries(self.root, [path.name for path in ours])
        for path in self.root.iterdir():
            if path.is_file() and (path.name in _EARLIER_TEMPORARIES or (
                    path.name.startswith("tmp") and path.name.endswith(".npz.tmp"))):
                path.unlink(missing_ok=True)
                removed.append(path.name)
        return sorted(removed)


# Not `alexnet_tf.atomic`'s names: the start-up probe (`state._check_and_claim`), and what
# release 0.1's writers left when killed (model.keras's fixed temporary name; statistics'
# `tmp*.npz.tmp`, matched in `clean_debris`).
_EARLIER_TEMPORARIES = (".write_test", f".{pathlib.Path(MODEL_FILE).stem}.tmp.keras")
