"""Labelled images for the figures: image files and folders, or a dataset split.

    chosen = from_files(classifier, ["photos/", "cat.jpg"])   # labels from class folders
    chosen = from_split(classifier, "validation", count=8)    # labels known
    chosen.inputs    # float32 [B, S, S, 3], preprocessed as served
    chosen.patches   # uint8 [S, S, 3] each: the centre patch the network sees, to draw
"""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from alexnet_tf.inference import gallery, loader as inference

from alexnet_tf.data import preprocessing
@dataclasses.dataclass
class ImageSet:
    patches: list         # uint8 [S, S, 3]
    inputs: np.ndarray    # float32 [B, S, S, 3]
    labels: list          # class index, -1 when unknown
    names: list           # where each image came from
    skipped: list         # messages for files that could not be used


def from_files(classifier, specs, limit: int | None = None) -> ImageSet:
    """Image files and folders (searched recursively); a file's class is the nearest
    folder above it (within a given folder, or its own folder) named like a class.
    At most `limit` images are taken."""
    chosen = ImageSet([], [], [], [], [])
    inputs = []
    for spec in specs:
        path = pathlib.Path(spec)
        files = gallery.list_images(path) if path.is_dir() else [str(path)]
        for name in files:
            if limit is not None and len(inputs) >= limit:
                break
            try:
                inputs.append(classifier.preprocess_files([name])[0])
                chosen.patches.append(inference.display_image(name, classifier.cfg))
            except inference.InputError as e:
                chosen.skipped.append(str(e))
                continue
            file = pathlib.Path(name).resolve()
            root = path.resolve() if path.is_dir() else file.parent
            chosen.labels.append(gallery.label_from_folder(file, root, classifier.class_names))
            chosen.names.append(str(name))
    chosen.inputs = _stack(inputs, classifier)
    return chosen


def from_split(classifier, split: str, count: int, start: int = 0) -> ImageSet:
    """The first `count` readable images of `split` of the classifier's dataset, from
    position `start`."""
    cfg = classifier.cfg
    images, labels, positions = gallery.split_images(cfg, split, count, start)
    inputs = [preprocessing.eval_preprocess(image, cfg, classifier.statistics).numpy()
              for image in images]
    return ImageSet(patches=[inference.display_patch(image, cfg) for image in images],
                    inputs=_stack(inputs, classifier), labels=labels,
                    names=[f"{split}:{p}" for p in positions], skipped=[])


def _stack(inputs, classifier) -> np.ndarray:
    if not inputs:
        return np.zeros((0, classifier.image_size, classifier.image_size, 3), np.float32)
    return np.stack(inputs).astype(np.float32)
