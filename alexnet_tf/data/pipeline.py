"""The tf.data input pipeline: sources -> robust decoding -> the paper's preprocessing.

    from alexnet_tf import config

    from alexnet_tf.data import pipeline as input_pipeline
    cfg = config.get_config("digits")
    train = input_pipeline.build_dataset(cfg, "train", training=True, seed=0, epoch=3)
    for images, labels in train: ...          # float32 [B, 67, 67, 3], int32 [B]

Randomness is stateless: the training set of an epoch (order, crops, flips, colour
noise) is a pure function of (seed, epoch, the data), different for each epoch, and
its iterator can be checkpointed; `.skip(k)` resumes mid-epoch. Files that cannot be
decoded (empty, truncated, not an image, too large, corrupt) are skipped; the count
of files skipped so far this epoch is the position difference before and after the
skipping (no counter variable, so the iterator stays checkpointable).
"""
from __future__ import annotations

import os
import pathlib
import tempfile

import tensorflow as tf

from alexnet_tf.data import decoding as image_decoding, preprocessing
from alexnet_tf.config import MEAN_MODES
from alexnet_tf.data.sources import SPLITS, DatasetInfo, SourceError, get_source
from alexnet_tf.data.statistics import DatasetStatistics, compute_statistics

AUTOTUNE = tf.data.AUTOTUNE
# data.mean: the training set's mean image (§2), its RGB means, or data.fallback_mean_rgb.
# Salts that separate the epoch's random streams (order vs. per-image augmentation).
_ORDER_STREAM, _AUGMENT_STREAM = 1, 2

__all__ = ["SPLITS", "DatasetInfo", "SourceError", "build_dataset", "dataset_info",
           "dataset_statistics", "statistics_path", "resized_examples",
           "compute_training_statistics", "compute_and_save_statistics",
           "training_statistics"]


def dataset_info(cfg) -> DatasetInfo:
    """num_classes, class_names and num_examples[split] of `cfg.data.dataset`."""
    return get_source(cfg).info


def statistics_path(cfg, source=None) -> pathlib.Path | None:
    if cfg.data.statistics_path:
        return pathlib.Path(cfg.data.statistics_path).expanduser()
    return (source or get_source(cfg)).default_statistics_path()


def _decoder(kind, max_pixels):
    """raw element -> (image uint8 [H, W, 3] (the central square for files), ok)."""
    if kind == "image":
        return lambda raw: (raw, tf.constant(True))
    if kind == "path":
        return lambda raw: image_decoding.decode_center_square(tf.io.read_file(raw), max_pixels)
    return lambda raw: image_decoding.decode_center_square(raw, max_pixels)


def resized_examples(cfg, split, *, source=None, order_seed=None, start=0,
                     with_positions=False) -> tf.data.Dataset:
    """(image uint8 [R, R, 3], label int32) of a split, bad files skipped.

    §2's images: shorter side -> R, central R x R crop. What the statistics pass and
    the TFRecord writer read: the split in its natural order (or shuffled by
    `order_seed`) from element `start`; `with_positions` prepends each example's
    position counted from `start` (gaps are skipped files).
    """
    source = source or get_source(cfg)
    source.check_split(split)
    decode = _decoder(source.kind, cfg.data.max_image_pixels)
    size = cfg.data.resize_size
    elements = source.elements(split, order_seed=order_seed).skip(start).enumerate()
    dataset = elements.map(lambda position, element: (position, *decode(element[0]), element[1]),
                           num_parallel_calls=AUTOTUNE, deterministic=True)
    dataset = dataset.filter(lambda position, image, ok, label: ok).map(
        lambda position, image, ok, label: (
            position, preprocessing.resize_and_center_crop(image, size), label),
        num_parallel_calls=AUTOTUNE, deterministic=True)
    dataset = dataset.ignore_errors(log_warning=True)
    if with_positions:
        return dataset
    return dataset.map(lambda position, image, label: (image, label))


def compute_training_statistics(cfg, source=None, *, batch_size=256, progress=True):
    """One pass over the training split: mean image + RGB eigen (§2, §4.1), in memory."""
    source = source or get_source(cfg)
    bar = None
    if progress:
        import keras
        bar = keras.utils.Progbar(source.info.num_examples["train"], unit_name="image")
    batches = (images.numpy() for images, _ in
               resized_examples(cfg, "train", source=source).batch(batch_size).prefetch(2))
    stats = compute_statistics(batches, cfg.data.resize_size,
                               progress=(lambda n: bar.update(n)) if bar else None)
    if bar and stats.num_images != bar.target:   # unreadable files skipped: end the bar
        bar.update(stats.num_images, finalize=True)
    return stats


def compute_and_save_statistics(cfg, path=None, *, batch_size=256, progress=True):
    """`compute_training_statistics`, saved as .npz (default: `statistics_path(cfg)`)."""
    source = get_source(cfg)
    path = pathlib.Path(path) if path else statistics_path(cfg, source)
    stats = compute_training_statistics(cfg, source, batch_size=batch_size, progress=progress)
    if path is not None:
        stats.save(path)
    return stats, path


_IN_MEMORY_STATISTICS = {}


def _in_memory_statistics(cfg, source):
    key = (cfg.data.dataset, cfg.data.resize_size, cfg.data.train_fraction)
    if key not in _IN_MEMORY_STATISTICS:
        _IN_MEMORY_STATISTICS[key] = compute_training_statistics(cfg, source, progress=False)
    return _IN_MEMORY_STATISTICS[key]


def _fallback_statistics(cfg):
    return DatasetStatistics.per_channel(cfg.data.fallback_mean_rgb, size=cfg.data.resize_size)


def _load_statistics(path, cfg) -> DatasetStatistics:
    stats = DatasetStatistics.load(path)
    if stats.size != cfg.data.resize_size:
        raise SourceError(f"{path} holds statistics of {stats.size}x{stats.size} images, "
                          f"but data.resize_size is {cfg.data.resize_size}: recompute them")
    return stats


def dataset_statistics(cfg, source=None) -> DatasetStatistics:
    """The statistics the pipeline subtracts and perturbs with (§2, §4.1).

    Read from `cfg.data.statistics_path` (default: beside the data); computed in
    memory for the embedded digits; for `data.mean=fallback`, the per-channel means
    `cfg.data.fallback_mean_rgb` and no colour noise. Training computes missing ones
    (`training_statistics`); here they are an error naming the way to get them.
    """
    if cfg.data.mean == "fallback":
        return _fallback_statistics(cfg)
    source = source or get_source(cfg)
    path = statistics_path(cfg, source)
    if path is not None and path.is_file():
        return _load_statistics(path, cfg)
    if source.kind == "image":
        return _in_memory_statistics(cfg, source)
    raise SourceError(
        f"no dataset statistics at {path}: training computes them once; or run "
        f"`python -m tools.compute_statistics --dataset={cfg.data.dataset} "
        f"--data_dir={cfg.data.data_dir or '...'}` (data.mean=fallback subtracts "
        f"data.fallback_mean_rgb, ImageNet's RGB means, instead)")


def _writable_dir(path) -> bool:
    """Whether a file can be created beside `path` (creating its directory if needed)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def training_statistics(cfg, *, fallback_path=None, progress=True, log=print, compute=True):
    """The statistics training uses: as `dataset_statistics`, computed once where missing.

    A file source without a statistics file gets one pass over its training split (§2's
    mean, §4.1's RGB PCA; announced in one line, with a progress bar), saved atomically
    beside the data (`statistics_path`) or, where that cannot be written, at
    `fallback_path` (a file the caller owns, e.g. in its work directory), where the next
    run finds it. A damaged file there is recomputed. `compute=False` only reads (or
    refuses) what is there and gives None where a pass would be needed.
    """
    if cfg.data.mean not in MEAN_MODES:   # before a pass that can take hours, not after
        raise ValueError(f"unknown data.mean {cfg.data.mean!r}; use one of {list(MEAN_MODES)}")
    if cfg.data.mean == "fallback":
        log(f"subtracting data.fallback_mean_rgb={tuple(cfg.data.fallback_mean_rgb)} "
            f"(data.mean=fallback): not this data's mean, and no PCA colour noise")
        return _fallback_statistics(cfg)
    source = get_source(cfg)
    if source.kind == "image":
        return dataset_statistics(cfg, source) if compute else None
    path = statistics_path(cfg, source)
    # Without a pass only the data's own file: the caller's may not be checked yet.
    candidates = [pathlib.Path(p) for p in (path, fallback_path if compute else None)
                  if p is not None]
    damaged = []
    for candidate in candidates:
        if candidate.is_file():
            try:
                return _load_statistics(candidate, cfg)
            except SourceError:       # another size: the user's file, not ours to replace
                raise
            except ValueError as e:   # damaged: not what `save` writes; recompute it
                damaged.append(str(e))
    if not compute:
        return None
    if not candidates:
        raise SourceError(f"{cfg.data.dataset} has no place for its statistics: set "
                          f"data.statistics_path")
    targets = [c for c in candidates if _writable_dir(c)] or candidates
    for reason in damaged:
        log(f"{reason}: computing it again")
    log(f"computing the training set's mean and RGB PCA (§2, §4.1) once: "
        f"{source.info.num_examples['train']} images -> {targets[0]}")
    stats = compute_training_statistics(cfg, source, progress=progress)
    errors = []
    for target in targets:
        try:
            stats.save(target)
            if errors:
                log(f"could not write {errors[-1]}; wrote {target} instead")
            return stats
        except OSError as e:
            errors.append(f"{target} ({e.strerror or e})")
    raise SourceError(f"could not write the statistics to {' or '.join(errors)}: free space "
                      f"or set data.statistics_path to a writable file")


def _seed(base, stream):
    return tf.random.experimental.stateless_fold_in(base, stream)


def build_dataset(cfg, split, *, training, seed=0, epoch=0, batch_size=None, ten_crop=False,
                  shard=None, report_skipped=False, statistics=None) -> tf.data.Dataset:
    """Batches (images float32 [B, S, S, 3] or [B, C, S, S, 3], labels int32 [B]).

    training: shuffled order, random crops/flips/PCA colour noise from (seed, epoch),
        drop_remainder; otherwise the split in order, centre patch (or with `ten_crop`
        the multi-crop view, C = `preprocessing.multi_crop_count(cfg)`: the ten patches,
        or the five unreflected ones where training never reflects), every example.
    shard: (num_workers, index): this worker's disjoint share of every epoch.
    report_skipped: adds an int64 scalar: files skipped so far this epoch, up to the
        batch's last example.
    statistics: a DatasetStatistics to use instead of `dataset_statistics(cfg)`.
    """
    source = get_source(cfg)
    source.check_split(split)
    if training and ten_crop:
        raise ValueError("ten_crop is an evaluation view; use it with training=False")
    stats = statistics if statistics is not None else dataset_statistics(cfg, source)
    batch_size = batch_size or cfg.train.batch_size
    workers, index = shard if shard is not None else (1, 0)
    epoch_seed = tf.constant([seed, epoch], tf.int64)
    augment_seed = _seed(epoch_seed, _AUGMENT_STREAM)
    order_seed = _seed(epoch_seed, _ORDER_STREAM) if training else None

    decode = _decoder(source.kind, cfg.data.max_image_pixels)

    def decode_element(position, element):
        raw, label = element
        image, ok = decode(raw)
        return position, image, tf.cast(label, tf.int32), ok

    def preprocess(position, image, label, ok):
        if training:
            # The epoch-wide position names the example's draw, whatever the sharding.
            element_seed = _seed(augment_seed, position * workers + index)
            image = preprocessing.train_preprocess(image, cfg, stats, element_seed)
        elif ten_crop:
            image = preprocessing.ten_crop_preprocess(image, cfg, stats)
        else:
            image = preprocessing.eval_preprocess(image, cfg, stats)
        return position, image, label

    dataset = source.elements(split, order_seed=order_seed, shard=shard).enumerate()
    dataset = dataset.map(decode_element, num_parallel_calls=AUTOTUNE, deterministic=True)
    if source.kind != "image":    # in-memory arrays cannot be bad: keep the known length
        dataset = dataset.filter(lambda position, image, label, ok: ok)
    dataset = dataset.map(preprocess, num_parallel_calls=AUTOTUNE, deterministic=True)
    if source.kind != "image":
        # A file that passed the header checks but fails inside the decoder is dropped here.
        dataset = dataset.ignore_errors(log_warning=True)
    dataset = dataset.enumerate().map(
        lambda kept, element: (element[1], element[2], element[0] - kept))
    dataset = dataset.batch(batch_size, drop_remainder=training,
                            num_parallel_calls=AUTOTUNE, deterministic=True)
    if report_skipped:
        dataset = dataset.map(lambda images, labels, skipped:
                              (images, labels, tf.reduce_max(skipped)))
    else:
        dataset = dataset.map(lambda images, labels, skipped: (images, labels))
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options).prefetch(AUTOTUNE)
