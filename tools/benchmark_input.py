r"""`python -m tools.benchmark_input` (`alexnet-benchmark-input`): input pipeline
throughput, images/s per CPU core for each source, full training path.

    python -m tools.benchmark_input                       # all sources, 1 core and all cores
    python -m tools.benchmark_input --sources=folder,tfrecord --seconds=20

Test data is made on the spot: photo-sized JPEGs (500x375, quality 90) cut from
scikit-learn's two sample photographs (with random offsets, mirroring and colour
shifts so no two files are alike), written as an image folder, as TFRecord shards
(`tools/write_tfrecords.py`: pre-resized to 256, JPEG) and as ILSVRC tars prepared
through TFDS (`imagenet2012`). Every source runs `build_dataset(training=True)` with
the `paper` preset: decode, resize, random 227 crop, flip, mean-image subtraction, PCA
colour noise, batching. "per core" runs tf.data on one thread (private thread pool of 1,
no intra-op parallelism); "all cores" uses the default pools. A minimal pipeline (plain
`decode_jpeg`, resize, crop, flip — no header checks, statistics or colour noise) is
measured in the same run as the reference point.
"""
from __future__ import annotations

import io
import os
import pathlib
import sys
import tarfile
import tempfile
import time

import numpy as np
import tensorflow as tf

from alexnet_tf import command, config
from alexnet_tf.data import pipeline as input_pipeline, preprocessing
from alexnet_tf.data import record_writer as tfrecord_writer

SOURCES = ("tfrecord", "folder", "imagenet2012", "digits", "minimal")
PHOTO_SIZE = (500, 375)   # width, height: a typical ImageNet photo
JPEG_QUALITY = 90
CLASSES = 4


def make_photos(folder: pathlib.Path, count: int, seed: int = 0):
    """Writes `count` 500x375 JPEGs (q90) into folder/train/<class>/ and folder/val/<class>/."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = [np.asarray(p) for p in load_sample_images().images]   # 427 x 640 each
    width, height = PHOTO_SIZE
    files = []
    for i in range(count):
        photo = photos[i % len(photos)]
        scale = rng.uniform(1.0, 1.25)
        big = Image.fromarray(photo).resize((int(640 * scale), int(427 * scale)))
        top = rng.integers(0, big.height - height + 1)
        left = rng.integers(0, big.width - width + 1)
        crop = np.asarray(big)[top:top + height, left:left + width].astype(np.float32)
        crop = crop * rng.uniform(0.8, 1.2, 3) + rng.normal(0, 2, crop.shape)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        image = Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8))
        split = "val" if i % 10 == 0 else "train"
        path = folder / split / f"class_{i % CLASSES}" / f"photo_{i:05d}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=JPEG_QUALITY)
        path.write_bytes(buffer.getvalue())
        files.append(path)
    return files


def make_imagenet_tars(folder: pathlib.Path, manual: pathlib.Path):
    """The folder's photos as ILSVRC tars (synset names from TFDS' own label list)."""
    import tensorflow_datasets as tfds
    synsets = tfds.core.tfds_path("datasets/imagenet2012/labels.txt").read_text().split()
    val_labels = tfds.core.tfds_path("datasets/imagenet2012/validation_labels.txt"
                                     ).read_text().split()
    manual.mkdir(parents=True, exist_ok=True)
    classes = sorted(p.name for p in (folder / "train").iterdir())
    with tarfile.open(manual / "ILSVRC2012_img_train.tar", "w") as outer:
        for c, name in enumerate(classes):
            inner_bytes = io.BytesIO()
            with tarfile.open(fileobj=inner_bytes, mode="w") as inner:
                for k, path in enumerate(sorted((folder / "train" / name).iterdir())):
                    inner.add(path, arcname=f"{synsets[c]}_{k + 1}.JPEG")
            info = tarfile.TarInfo(f"{synsets[c]}.tar")
            info.size = len(inner_bytes.getvalue())
            outer.addfile(info, io.BytesIO(inner_bytes.getvalue()))
    val_files = sorted((folder / "val").rglob("*.JPEG"))
    with tarfile.open(manual / "ILSVRC2012_img_val.tar", "w") as tar:
        for i, path in enumerate(val_files):
            tar.add(path, arcname=f"ILSVRC2012_val_{i + 1:08d}.JPEG")
    del val_labels


def minimal_pipeline(folder: pathlib.Path, cfg, batch_size):
    """The reference: read, decode_jpeg, resize shorter side, random crop, flip, batch."""
    files = sorted(str(p) for p in (folder / "train").rglob("*.JPEG"))
    size, crop = cfg.data.resize_size, cfg.model.image_size

    def load(i, path):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        image = preprocessing.resize_and_center_crop(image, size)
        seed = tf.stack([i, tf.constant(0, tf.int64)])
        return tf.cast(preprocessing.random_crop_and_flip(image, crop, seed), tf.float32), i

    dataset = tf.data.Dataset.from_tensor_slices(files).enumerate()
    return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(
        batch_size).prefetch(tf.data.AUTOTUNE)


def _threads(dataset, one_core):
    options = tf.data.Options()
    if one_core:
        options.threading.private_threadpool_size = 1
        options.threading.max_intra_op_parallelism = 1
    return dataset.with_options(options)


def measure(dataset, seconds, one_core):
    """Images/s over whole batches of the repeated dataset, after one warm-up batch."""
    images, start = 0, None
    for batch in _threads(dataset.repeat(), one_core):
        if start is None:
            start = time.perf_counter()
            continue
        images += int(tf.shape(tf.nest.flatten(batch)[0])[0])
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return images / elapsed
    raise ValueError("the dataset is empty")


DESCRIPTIONS = {
    "folder": "500x375 JPEG files, full augmentation",
    "tfrecord": "pre-resized 256 JPEG records, full augmentation",
    "imagenet2012": "TFDS records of 500x375 JPEGs, full augmentation",
    "digits": "in-memory 8x8 scans -> 76 -> 67 crops",
    "minimal": "reference: decode_jpeg, resize, crop, flip",
}


def run_benchmark(sources, *, workdir, images=600, batch_size=128, seconds=10.0,
                  all_cores=True, rounds=3, printer=print):
    workdir = pathlib.Path(workdir)
    paper = config.get_config("paper")
    folder = workdir / "photos"
    if not (folder / "train").is_dir():
        printer(f"writing {images} photo-sized JPEGs ({PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}, "
                f"q{JPEG_QUALITY}) to {folder}")
        make_photos(folder, images)
    folder_cfg = config.override(paper, ["data.dataset=folder", f"data.data_dir={folder}",
                                         f"model.num_classes={CLASSES}"])
    configs = {"folder": folder_cfg, "digits": config.get_config("digits")}
    if {"folder", "tfrecord", "imagenet2012"} & set(sources) and not (
            folder / f"statistics_{paper.data.resize_size}.npz").is_file():
        input_pipeline.compute_and_save_statistics(folder_cfg, progress=False)
    if "tfrecord" in sources:
        records = workdir / "tfrecord"
        if not (records / "dataset.json").is_file():
            tfrecord_writer.write_tfrecords(folder_cfg, records, examples_per_shard=128,
                                            progress=False)
        configs["tfrecord"] = config.override(paper, ["data.dataset=tfrecord",
                                                      f"data.data_dir={records}",
                                                      f"data.shuffle_buffer={batch_size * 4}"])
        input_pipeline.compute_and_save_statistics(configs["tfrecord"], progress=False)
    if "imagenet2012" in sources:
        manual = workdir / "ilsvrc"
        if not (manual / "ILSVRC2012_img_val.tar").is_file():
            make_imagenet_tars(folder, manual)
        configs["imagenet2012"] = config.override(paper, [
            "data.dataset=imagenet2012", f"data.data_dir={workdir / 'tfds'}",
            f"data.manual_dir={manual}", f"data.shuffle_buffer={batch_size * 4}",
            f"data.statistics_path={folder / 'statistics_256.npz'}"])
        input_pipeline.dataset_info(configs["imagenet2012"])       # prepares once

    datasets, descriptions = {}, {}
    for source in sources:
        if source == "minimal":
            datasets[source] = minimal_pipeline(folder, folder_cfg, batch_size)
        else:
            datasets[source] = input_pipeline.build_dataset(
                configs[source], "train", training=True, seed=0, epoch=0, batch_size=batch_size)
        descriptions[source] = DESCRIPTIONS[source]
    # Other processes only ever slow a measurement down: alternate the sources over a few
    # rounds and keep each one's best.
    settings = [True, False] if all_cores else [True]
    best = {(source, one): 0.0 for source in sources for one in settings}
    for _ in range(rounds):
        for source in sources:
            for one in settings:
                rate = measure(datasets[source], seconds / rounds, one_core=one)
                best[source, one] = max(best[source, one], rate)
    printer(f"{'source':<14}{'what':<50}{'1 core':>8}{'all cores':>11}")
    rows = []
    for source in sources:
        one, every = best[source, True], best.get((source, False), float("nan"))
        rows.append((source, one, every))
        printer(f"{source:<14}{descriptions[source]:<50}{one:>8.0f}{every:>11.0f}")
    printer(f"images/s, best of {rounds} rounds; {os.cpu_count()} cores; batch {batch_size}; "
            f"load average {os.getloadavg()[0]:.1f} (other processes share the cores)")
    return rows


def define_flags(flags):
    flags.DEFINE_list("sources", list(SOURCES), "Sources to measure.")
    flags.DEFINE_integer("images", 600, "Number of distinct photo files to generate (the "
                         "epoch is repeated while measuring).")
    flags.DEFINE_integer("batch_size", 128, "Batch size.")
    flags.DEFINE_float("seconds", 15.0, "Measuring time per source and thread setting.")
    flags.DEFINE_integer("rounds", 3, "Rounds over the sources (the best round counts).")
    flags.DEFINE_string("workdir", None, "Where to write the test data (default: a temp dir).")
    flags.DEFINE_bool("all_cores", True, "Also measure with every core.")


def main(args):
    from absl.flags import FLAGS
    unknown = [source for source in FLAGS.sources if source not in SOURCES]
    if unknown:
        return command.fail(f"unknown --sources {unknown}; choose from {list(SOURCES)}")
    workdir = FLAGS.workdir or tempfile.mkdtemp(prefix="alexnet_input_bench_")
    run_benchmark(FLAGS.sources, workdir=workdir, images=FLAGS.images,
                  batch_size=FLAGS.batch_size, seconds=FLAGS.seconds,
                  all_cores=FLAGS.all_cores, rounds=FLAGS.rounds)


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
