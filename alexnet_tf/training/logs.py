"""What a training run leaves for people: TensorBoard, history.json, model.keras.

TensorBoard (`<workdir>/tensorboard`): per epoch the train/validation loss and top-1/top-5
error, the learning rate, images/s, and the conv1 kernels drawn as the paper's Figure 3
(`alexnet_tf.figures.kernel_grid`). Only the chief of a multi-worker run writes.

The checkpoint holds the history; history.json and TensorBoard are written after it. A
run killed in between leaves them an epoch behind, so a resumed run first brings them up
to the checkpoint's history (`catch_up`).
"""
from __future__ import annotations

import hashlib
import json

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.util import event_pb2

from alexnet_tf import atomic
from alexnet_tf.training import checkpoints as checkpointing
from alexnet_tf.figures.kernel_grid import kernel_grid
from alexnet_tf.network.dtype_copy import dtype_copy

SCALARS = ("loss", "top1_error", "top5_error")


class TrainingLogs:

    def __init__(self, paths: checkpointing.WorkDir, enabled=True):
        self.paths = paths
        self.enabled = enabled
        self.writer = None
        if enabled:
            with atomic.disk_full_names(paths.tensorboard):
                self.writer = tf.summary.create_file_writer(str(paths.tensorboard))

    def write_class_names(self, names):
        if self.enabled and names:
            atomic.publish(self.paths.class_names, "".join(f"{name}\n" for name in names))

    def write_statistics(self, statistics):
        if self.enabled and statistics is not None and not self.paths.statistics.exists():
            with atomic.disk_full_names(self.paths.statistics):
                statistics.save(str(self.paths.statistics))

    def epoch_end(self, row: dict, model: keras.Model, history: list):
        if not self.enabled:
            return
        atomic.publish(self.paths.history, json.dumps(history, indent=1))
        with atomic.disk_full_names(self.paths.tensorboard):
            self._write_row(row, model)
            self.writer.flush()

    def catch_up(self, history: list, model: keras.Model, global_step: int):
        """After a restore: history.json becomes the checkpoint's history, and TensorBoard
        gets the rows it lacks (the conv1 kernels too for a row ending at `global_step`,
        whose weights `model` holds)."""
        if not self.enabled:
            return
        try:
            on_disk = json.loads(self.paths.history.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            on_disk = None
        if on_disk != history and (history or on_disk is not None):
            atomic.publish(self.paths.history, json.dumps(history, indent=1))
        logged = self._logged_epochs()
        with atomic.disk_full_names(self.paths.tensorboard):
            for row in history:
                if row["epoch"] not in logged:
                    self._write_row(row, model if row["global_step"] == global_step else None)
            self.writer.flush()

    def _logged_epochs(self) -> set:
        """The epochs the event files already hold (a file cut short is read up to its cut)."""
        epochs = set()
        for events in sorted(self.paths.tensorboard.glob("events.out.tfevents.*")):
            try:
                for record in tf.data.TFRecordDataset(str(events)):
                    event = event_pb2.Event.FromString(record.numpy())
                    if any(value.tag == "learning_rate" for value in event.summary.value):
                        epochs.add(int(event.step))
            except tf.errors.OpError:
                continue
        return epochs

    def _write_row(self, row: dict, model: keras.Model | None):
        with self.writer.as_default(step=row["epoch"]):
            for split in ("train", "clean_train", "validation"):
                for name in SCALARS:
                    if f"{split}_{name}" in row:
                        tf.summary.scalar(f"{split}/{name}", row[f"{split}_{name}"])
            tf.summary.scalar("learning_rate", row["learning_rate"])
            tf.summary.scalar("images_per_second", row["images_per_second"])
            if model is None:
                return
            kernel = np.asarray(model.get_layer("conv1").kernel.numpy(), dtype=np.float32)
            if np.all(np.isfinite(kernel)):
                groups = 2 if kernel.shape[-1] % 2 == 0 else 1  # the paper's two GPU halves
                tf.summary.image("conv1_kernels", kernel_grid(kernel, groups=groups)[None])

    def close(self):
        if self.writer is not None:
            with atomic.disk_full_names(self.paths.tensorboard):
                self.writer.close()


def save_portable_model(model: keras.Model, cfg, path):
    """Saves the weights in a float32 model without device placement (loads anywhere),
    atomically: a crash leaves the previous model.keras or none, never half a file."""
    portable = dtype_copy(model, cfg.model, "float32", name="alexnet")
    with atomic.publishing(path) as temporary:
        portable.save(temporary)
    return portable


def _flat_chunks(variable, size=1 << 22):
    """The variable's values in C order, `size` elements at a time: hashing a whole
    `.numpy()` copy (and its bytes) of fc6 made the training command's peak memory."""
    flat = tf.reshape(tf.convert_to_tensor(variable), [-1])
    for start in range(0, int(flat.shape[0]), size):
        yield np.ascontiguousarray(flat[start:start + size].numpy())


def weights_fingerprint(model: keras.Model) -> str:
    """sha256 of every weight's bytes in key order: equal iff the weights are bitwise equal.
    (Dropout RNG states are left out: a .keras file does not store them.)"""
    digest = hashlib.sha256()
    for key, variable in sorted(checkpointing.model_variables(model).items()):
        if key.endswith("seed_generator_state"):
            continue
        digest.update(key.encode())
        for chunk in _flat_chunks(variable):
            digest.update(chunk.tobytes())
    return digest.hexdigest()
