"""A gallery of images and its fc7 feature store, for similarity search (§6.1, Figure 4).

    gallery = folder_gallery("photos/", classifier.class_names)   # or split_gallery(cfg, "train")
    store = build_feature_store(classifier, gallery, "features/")   # batches, progress bar
    patches = gallery.patches([3, 17], classifier.cfg)              # for the figure

Row i of the store is the i-th image of the gallery: files in sorted path order, or a
dataset split in its natural (unshuffled) order, keyed "<split>:<i>". An image that cannot
be decoded keeps its row, marked invalid and counted, so rows and keys stay aligned and a
search never returns it. Features are the paper's: fc7 after its ReLU, on the centre patch
that evaluation and serving use (`preprocessing.eval_preprocess`).
"""
from __future__ import annotations

import dataclasses
import pathlib
import sys

import tensorflow as tf

from alexnet_tf.data import decoding as image_decoding, preprocessing
from alexnet_tf.inference.feature_store import UNKNOWN_LABEL, FeatureStore, FeatureStoreWriter
from alexnet_tf.inference.loader import display_patch

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass
class Gallery:
    """`keys` name the rows; `elements(start)` yields (raw, label) from row `start` on,
    where raw is a file path ("path"), a file's bytes ("encoded") or uint8 pixels ("image")."""
    keys: list
    kind: str
    elements: callable
    description: dict

    def __len__(self):
        return len(self.keys)

    @property
    def is_folder(self) -> bool:
        return "folder" in self.description

    def decoded(self, start: int, max_pixels: int) -> tf.data.Dataset:
        """(image uint8 [H, W, 3], ok, label) from row `start` on."""
        decode = _decoder(self.kind, max_pixels)
        return self.elements(start).map(lambda raw, label: (*decode(raw), label),
                                        num_parallel_calls=AUTOTUNE, deterministic=True)

    def patches(self, rows, cfg) -> list:
        """The centre patches (uint8 [S, S, 3]) the network saw for `rows`, for display;
        None where the image cannot be decoded.

        A folder's files are opened directly. A dataset split is read in order up to the
        last row wanted (records cannot be addressed by position), decoding only the rows
        wanted.
        """
        wanted = sorted(set(int(r) for r in rows))
        if self.is_folder:
            found = {row: _patch_of_file(self.keys[row], cfg) for row in wanted}
            return [found[int(r)] for r in rows]
        decode = _decoder(self.kind, cfg.data.max_image_pixels)
        found, wanted_set = {}, set(wanted)
        for row, (raw, _) in enumerate(self.elements(0).take(wanted[-1] + 1)):
            if row in wanted_set:
                image, ok = decode(raw)
                found[row] = display_patch(image, cfg) if bool(ok) else None
        return [found.get(int(r)) for r in rows]


def _decoder(kind: str, max_pixels: int):
    """raw element -> (image uint8 [H, W, 3], ok): the central square for files."""
    if kind == "image":
        return lambda raw: (raw, tf.constant(True))
    if kind == "path":
        return lambda raw: image_decoding.decode_center_square(tf.io.read_file(raw), max_pixels)
    return lambda raw: image_decoding.decode_center_square(raw, max_pixels)


def _patch_of_file(path, cfg):
    try:
        encoded = tf.io.read_file(str(path))
        image = image_decoding.decode_image_strict(encoded, cfg.data.max_image_pixels)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError):
        return None
    return display_patch(image, cfg)


def list_images(root) -> list:
    """Image files under `root` (recursively), sorted."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"gallery folder {root} does not exist")
    files = sorted(str(p) for p in root.rglob("*")
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    return files


def label_from_folder(path, root, class_names) -> int:
    """The class of a file: the nearest folder above it, up to and including `root`,
    named like one of `class_names.labels` (an ImageNet synset, a folder-dataset class, a
    digit); -1 if there is none."""
    return folder_labeller(root, class_names)(path)


def folder_labeller(root, class_names):
    """`label_from_folder` for many files under one root (the class table built once)."""
    labels = {label: index for index, label in enumerate(class_names.labels)}
    root = pathlib.Path(root)

    def label(path) -> int:
        for folder in pathlib.Path(path).parents:
            if folder.name in labels:
                return labels[folder.name]
            if folder == root or folder == folder.parent:
                break
        return UNKNOWN_LABEL
    return label


def folder_gallery(root, class_names) -> Gallery:
    """Every image under `root`; a folder named like a class (`label_from_folder`) gives
    the images under it their label."""
    root = pathlib.Path(root).resolve()
    files = list_images(root)
    label = folder_labeller(root, class_names)
    labels = [label(f) for f in files]

    def elements(start):
        return tf.data.Dataset.from_tensor_slices(
            (tf.constant(files[start:], tf.string), tf.constant(labels[start:], tf.int32)))
    return Gallery(keys=files, kind="path", elements=elements,
                   description={"folder": str(root)})


def split_gallery(cfg, split: str) -> Gallery:
    """Every example of `split` of `cfg.data.dataset`, in its natural order."""
    from alexnet_tf.data.sources import get_source
    source = get_source(cfg)
    source.check_split(split)
    count = source.info.num_examples[split]
    return Gallery(keys=[f"{split}:{i}" for i in range(count)], kind=source.kind,
                   elements=lambda start: source.elements(split).skip(start),
                   description={"dataset": cfg.data.dataset, "split": split,
                                "data_dir": cfg.data.data_dir})


def split_images(cfg, split: str, count: int, start: int = 0):
    """(decoded uint8 images, labels) of the first `count` readable examples of `split`
    from position `start`, and the positions they came from."""
    gallery = split_gallery(cfg, split)
    images, labels, positions = [], [], []
    for position, (image, ok, label) in enumerate(gallery.decoded(start,
                                                                  cfg.data.max_image_pixels)):
        if bool(ok):
            images.append(image)
            labels.append(int(label))
            positions.append(start + position)
        if len(images) == count:
            break
    return images, labels, positions


class _Progress:
    """Images done / total, rate and ETA: redrawn in place on a terminal, else a line
    about every 10%."""

    def __init__(self, total: int, done: int, stream=None):
        import time
        self.time, self.total, self.start_done = time.perf_counter, total, done
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start, self.last_decile = self.time(), -1

    def update(self, done: int, skipped: int):
        elapsed = max(self.time() - self.start, 1e-9)
        rate = (done - self.start_done) / elapsed
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        line = (f"fc7 features: {done:,}/{self.total:,} images ({100 * done / self.total:.0f}%), "
                f"{rate:,.0f} img/s, ETA {eta:,.0f} s, {skipped} unreadable")
        if self.tty:
            self.stream.write("\r" + line + "\033[K" + ("\n" if done == self.total else ""))
        elif 10 * done // self.total > self.last_decile or done == self.total:
            self.last_decile = 10 * done // self.total
            self.stream.write(line + "\n")
        self.stream.flush()


def build_feature_store(classifier, gallery: Gallery, directory, *, batch_size: int = 128,
                        dtype: str = "float16", progress: bool = True,
                        overwrite: bool = False) -> FeatureStore:
    """fc7 features of every gallery image, written batch by batch to `directory`.

    Resumes an interrupted run over the same gallery, model and dtype."""
    from alexnet_tf.network.model import fc7_features
    features_model = fc7_features(classifier.model)
    cfg, stats = classifier.cfg, classifier.statistics
    source = dict(gallery.description, model=str(classifier.source))
    writer = FeatureStoreWriter(directory, gallery.keys, dim=features_model.output.shape[-1],
                                dtype=dtype, source=source, overwrite=overwrite)
    start = writer.written
    bar = _Progress(len(gallery), start) if progress else None
    dataset = gallery.decoded(start, cfg.data.max_image_pixels).map(
        lambda image, ok, label: (preprocessing.eval_preprocess(image, cfg, stats), ok, label),
        num_parallel_calls=AUTOTUNE, deterministic=True).batch(batch_size).prefetch(2)
    compute = tf.function(lambda x: features_model(x, training=False))
    for images, ok, labels in dataset:
        features = compute(images).numpy()
        writer.write(start, features, labels=labels.numpy(), valid=ok.numpy())
        start += len(features)
        if bar:
            bar.update(start, writer.meta.get("skipped", 0))
    if start != len(gallery):
        raise RuntimeError(f"the gallery yielded {start} images but lists {len(gallery)}; "
                           "it changed while features were computed")
    return writer.close()
