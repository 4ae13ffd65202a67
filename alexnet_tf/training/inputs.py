"""What the training loop reads: the input pipeline, or synthetic batches for benchmarks.

A source gives the training set of one epoch as a pure function of (seed, epoch) — so a
resumed run rebuilds the epoch and skips to its step instead of restoring an iterator —
and the validation set in a fixed order.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

import tensorflow as tf

from alexnet_tf.config import Config


@dataclasses.dataclass
class PipelineData:
    """`alexnet_tf.data.pipeline` for `cfg.data.dataset`.

    Its statistics are resolved once: read when it is made, or computed and cached when
    first needed (`input_pipeline.training_statistics`; at `statistics_fallback` where the
    data's own directory cannot be written), then used by every epoch and the validation
    set.
    """
    cfg: Config
    statistics_fallback: str | os.PathLike | None = None
    progress: bool = True
    log: Callable = print

    def __post_init__(self):
        from alexnet_tf.data import pipeline as input_pipeline  # the pipeline is left of training
        self._pipeline = input_pipeline
        self.info = input_pipeline.dataset_info(self.cfg)
        self.num_classes = int(self.info.num_classes)
        self.class_names = list(self.info.class_names)
        self.train_examples = int(self.info.num_examples["train"])
        self.validation_examples = int(self.info.num_examples["validation"])
        # Statistics that are there are read now (a wrong one refused before the work
        # directory is written); a pass, if needed, waits until training starts.
        self._statistics = input_pipeline.training_statistics(
            self.cfg, fallback_path=self.statistics_fallback, log=self.log, compute=False)

    def train(self, *, seed: int, epoch: int, batch_size: int, shard=None) -> tf.data.Dataset:
        """(images, labels, files skipped so far this epoch) batches."""
        return self._pipeline.build_dataset(self.cfg, "train", training=True, seed=seed,
                                            epoch=epoch, batch_size=batch_size, shard=shard,
                                            report_skipped=True, statistics=self.statistics())

    def validation(self, *, batch_size: int, ten_crop: bool = False) -> tf.data.Dataset:
        return self._pipeline.build_dataset(self.cfg, "validation", training=False,
                                            batch_size=batch_size, ten_crop=ten_crop,
                                            statistics=self.statistics())

    def clean_train(self, *, batch_size: int, every: int = 1) -> tf.data.Dataset:
        """Every `every`-th training image (a fixed sample) as evaluation preprocesses it."""
        return self._pipeline.build_dataset(self.cfg, "train", training=False,
                                            batch_size=batch_size, shard=(every, 0),
                                            statistics=self.statistics())

    def statistics(self):
        """The dataset statistics the pipeline uses (§2, §4.1), resolved once per run."""
        if self._statistics is None:
            self._statistics = self._pipeline.training_statistics(
                self.cfg, fallback_path=self.statistics_fallback, progress=self.progress,
                log=self.log)
        return self._statistics


@dataclasses.dataclass
class SyntheticData:
    """Random images, the same every step: input cost ~0, for measuring images/s."""
    cfg: Config
    train_examples: int = 1 << 20
    validation_examples: int = 0

    def __post_init__(self):
        self.num_classes = self.cfg.model.num_classes
        self.class_names = [f"class_{i}" for i in range(self.num_classes)]

    def _batch(self, batch_size, seed):
        size, channels = self.cfg.model.image_size, self.cfg.model.channels
        images = tf.random.stateless_normal((batch_size, size, size, channels), seed=[seed, 0])
        labels = tf.random.stateless_uniform((batch_size,), seed=[seed, 1], minval=0,
                                             maxval=self.num_classes, dtype=tf.int32)
        return images, labels

    def train(self, *, seed: int, epoch: int, batch_size: int, shard=None) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensors(self._batch(batch_size, seed)).repeat()

    def validation(self, *, batch_size: int, ten_crop: bool = False) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensors(self._batch(batch_size, 1)).take(0)

    def statistics(self):
        return None
