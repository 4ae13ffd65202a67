"""The embedded default: scikit-learn's handwritten digits (no download, no files).

1,797 scans of 8x8 pixels with values 0..16, mapped to uint8 0..255 and repeated to
RGB; the preprocessing upscales them to `cfg.data.resize_size`. A fixed, seeded,
class-stratified split gives 1,437 training and 360 validation images.
"""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from alexnet_tf.data.sources.base import DatasetInfo, ListedSource

VALIDATION_SIZE = 360
SPLIT_SEED = 0          # fixed: every run and every machine sees the same split
SCAN_MAX = 16           # load_digits pixel values are 0..16


@functools.lru_cache(maxsize=1)
def load_split():
    """{"train": (images uint8 [N, 8, 8, 3], labels int32 [N]), "validation": ...}."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    gray = np.rint(digits.images * (255.0 / SCAN_MAX)).astype(np.uint8)
    images = np.repeat(gray[..., None], 3, axis=-1)
    labels = digits.target.astype(np.int32)
    train_x, val_x, train_y, val_y = train_test_split(
        images, labels, test_size=VALIDATION_SIZE, random_state=SPLIT_SEED, stratify=labels)
    return {"train": (train_x, train_y), "validation": (val_x, val_y)}


class DigitsSource(ListedSource):
    kind = "image"

    def __init__(self, cfg):
        self.cfg = cfg
        split = load_split()
        self.info = DatasetInfo(
            name="digits", num_classes=10, class_names=tuple(str(d) for d in range(10)),
            num_examples={name: len(y) for name, (_, y) in split.items()})

    def arrays(self, split):
        self.check_split(split)
        return load_split()[split]

    def labels(self, split):
        return self.arrays(split)[1]

    def elements_at(self, split, indices):
        images, labels = self.arrays(split)
        images, labels = tf.constant(images), tf.constant(labels)
        return indices.map(lambda i: (tf.gather(images, i), tf.gather(labels, i)))
