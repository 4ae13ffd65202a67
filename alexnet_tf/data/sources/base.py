"""What every source provides."""
from __future__ import annotations

import dataclasses
import pathlib

import tensorflow as tf

from alexnet_tf.data.sources import ordering


class SourceError(ValueError):
    """A missing or malformed dataset: the message says what was expected and where."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    class_names: tuple
    num_examples: dict   # split name -> number of examples (files, for folders)


class Source:
    """Lists a split's elements; subclasses set `info`, `kind` and implement `elements`."""
    # "encoded": raw is an image file's bytes; "path": the file's path (read while
    # decoding, so a file that vanished is skipped like a corrupt one); "image":
    # an already decoded uint8 [H, W, 3].
    kind = "encoded"
    info: DatasetInfo

    def elements(self, split: str, *, order_seed=None, shard=None) -> tf.data.Dataset:
        """(raw, label int32) of `split`, shuffled by `order_seed` ([2] ints) if given."""
        raise NotImplementedError

    def labels(self, split: str):
        """The labels of `split` in listing order, for sources that list their elements
        (and so can take a subset of them: `data.train_fraction`); None for streams."""
        return None

    def elements_at(self, split: str, indices: tf.data.Dataset) -> tf.data.Dataset:
        """(raw, label) of the listed elements at `indices` (sources with `labels`)."""
        raise NotImplementedError

    def default_statistics_path(self) -> pathlib.Path | None:
        """Where `tools/compute_statistics.py` writes this data's statistics."""
        return None

    def check_split(self, split):
        if split not in self.info.num_examples:
            raise SourceError(f"unknown split {split!r} for {self.info.name}; "
                              f"use one of {sorted(self.info.num_examples)}")


class ListedSource(Source):
    """A source that lists its elements (`labels`, `elements_at`): a split's order and a
    worker's shard are a permutation of the listing (`ordering.permuted_indices`)."""

    def elements(self, split, *, order_seed=None, shard=None):
        indices = ordering.permuted_indices(len(self.labels(split)), order_seed, shard)
        return self.elements_at(split, indices)
