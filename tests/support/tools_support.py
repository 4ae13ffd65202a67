"""A tiny trained-model work directory and tiny images, shared by the tools' tests."""
import os
import pathlib
import subprocess
import sys

import numpy as np
from PIL import Image

from alexnet_tf.training import checkpoints as checkpointing

from alexnet_tf import config
from alexnet_tf.network.model import build_alexnet
from alexnet_tf.data.statistics import DatasetStatistics

REPO = pathlib.Path(__file__).resolve().parents[2]
MEAN_RGB = (40.0, 50.0, 60.0)
CLASS_LABELS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def tiny_trained(mean_rgb=MEAN_RGB, seed=None, overrides=()):
    """A loaded model (`inference.loader.Classifier`) as the exports take it: the tiny preset (with `overrides`) with random weights
    (from `seed`, if given), per-channel statistics of `mean_rgb`, the dataset's class
    names."""
    import keras
    from alexnet_tf.data import class_names
    from alexnet_tf.inference.loader import Classifier
    cfg = config.override(config.get_config("tiny"), list(overrides))
    if seed is not None:
        keras.utils.set_random_seed(seed)
    stats = DatasetStatistics.per_channel(mean_rgb, size=cfg.data.resize_size)
    return Classifier(build_alexnet(cfg.model), cfg, stats,
                        class_names.for_classes(cfg.model.num_classes, cfg.data.dataset))


def make_workdir(root) -> pathlib.Path:
    """`root/work`: the tiny preset's model.keras (random weights), config.json, a
    per-channel statistics.npz and class_names.txt, as training leaves them."""
    workdir = pathlib.Path(root) / "work"
    workdir.mkdir(parents=True)
    cfg = config.get_config("tiny")
    model = build_alexnet(cfg.model)
    model.save(workdir / checkpointing.MODEL_FILE)
    checkpointing.save_config(cfg, workdir)
    DatasetStatistics.per_channel(MEAN_RGB, size=cfg.data.resize_size).save(
        workdir / checkpointing.STATISTICS_FILE)
    (workdir / checkpointing.CLASS_NAMES_FILE).write_text("\n".join(CLASS_LABELS) + "\n")
    return workdir


def figure_inputs(root) -> tuple:
    """(root, work directory, gallery image paths, query image paths) under `root`: what
    the figure tests draw from. The gallery holds classes 1, 2, 5, 8, the queries 2 and 5."""
    root = pathlib.Path(root)
    work = make_workdir(root)
    gallery = make_images(root / "gallery", per_class=3, classes=(1, 2, 5, 8))
    queries = make_images(root / "queries", per_class=1, classes=(2, 5), seed=9)
    return root, work, gallery, queries


def make_images(root, per_class=2, classes=(0, 3, 7), size=(40, 52), seed=0) -> list:
    """Random-content PNG/JPEG files in `root/<class label>/`; returns their paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for c in classes:
        folder = pathlib.Path(root) / CLASS_LABELS[c]
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
            suffix = ".png" if i % 2 == 0 else ".jpg"
            path = folder / f"img{i}{suffix}"
            Image.fromarray(pixels).save(path)
            paths.append(str(path))
    return paths


def png_pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def assert_not_blank(pixels, min_colours=20):
    """A real figure has many colours, not one flat fill."""
    flat = pixels.reshape(-1, pixels.shape[-1])
    assert len(np.unique(flat, axis=0)) >= min_colours, "the figure is (nearly) blank"


def run_module(module, *args, timeout=300):
    """`python -m module args...` from the repository root; returns the CompletedProcess."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def start_module(module, *args):
    """Like run_module, but returns the running Popen (to run several at once)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", module, *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
