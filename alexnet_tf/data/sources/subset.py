"""`data.train_fraction` < 1: a fixed share of the training images, the same in every run.

A harder setting for small-scale experiments (fewer images to learn from, so the effects
of augmentation and regularisation show sooner). Each class keeps round(fraction * its
count) images, at least one, drawn once with a fixed seed: every run, seed and machine
trains on the same subset, and the validation split is untouched. Only sources that list
their images (digits, folder) can be cut this way; record streams (TFDS, TFRecord shards)
have no index to draw from.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from alexnet_tf.data.sources import ordering
from alexnet_tf.data.sources.base import Source, SourceError

SUBSET_SEED = 0   # fixed: the subset is part of the data, not of a run


def stratified_subset(labels, fraction: float) -> np.ndarray:
    """Sorted indices into `labels`: round(fraction * n_c) (>= 1) of each class c."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(SUBSET_SEED)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        keep = max(1, int(round(fraction * len(members))))
        chosen.append(rng.permutation(members)[:keep])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros([0], np.int64)


class TrainingSubset(Source):
    """`source` with its training split cut to `stratified_subset(labels, fraction)`."""

    def __init__(self, source: Source, fraction: float):
        labels = source.labels("train")
        if labels is None:
            raise SourceError(f"data.train_fraction={fraction} needs a source that lists its "
                              f"images (digits, folder); {source.info.name} streams records: "
                              f"set data.train_fraction=1")
        self.source = source
        self.fraction = float(fraction)
        self.kind = source.kind
        self.indices = stratified_subset(labels, fraction)
        self.info = dataclasses.replace(
            source.info, num_examples={**source.info.num_examples, "train": len(self.indices)})

    def elements(self, split, *, order_seed=None, shard=None):
        if split != "train":
            return self.source.elements(split, order_seed=order_seed, shard=shard)
        return self.elements_at(split, ordering.permuted_indices(len(self.indices), order_seed,
                                                                 shard))

    def labels(self, split):
        labels = self.source.labels(split)
        return np.asarray(labels)[self.indices] if split == "train" else labels

    def elements_at(self, split, indices):
        if split != "train":
            return self.source.elements_at(split, indices)
        chosen = tf.constant(self.indices, tf.int64)
        return self.source.elements_at(split, indices.map(lambda i: tf.gather(chosen, i)))

    def default_statistics_path(self):
        """Beside the full split's, named for the fraction: these images' own statistics."""
        path = self.source.default_statistics_path()
        return None if path is None else path.with_name(
            f"{path.stem}_fraction{self.fraction:g}{path.suffix}")
