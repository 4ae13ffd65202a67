"""Top-1 / top-5 error of one model or an ensemble, with the centre crop or several (§4.1, §6).

    result = evaluate_models([model], dataset_fn, modes=("center", "ten_crop"))

`center`: the central crop of each image. `ten_crop`: the softmax averaged over the
multi-crop view that follows the training augmentation — the four corner crops, the centre
crop and their horizontal reflections (§4.1, "test time") where the config trains with
reflections, the five crops without them where it does not (`data.random_flip=False`).
Each result says which view it used ("crops", "view").
With several models the softmax is averaged over the models as well: the paper's
"5 CNNs" row of Table 2 (§6).
"""
from __future__ import annotations

import time

import keras
import tensorflow as tf

from alexnet_tf.training import metrics

from alexnet_tf.data import pipeline as input_pipeline, preprocessing
from alexnet_tf.inference import loader

MODES = ("center", "ten_crop")


def averaged_probabilities(models, images):
    """Mean softmax over models (and over crops when images are [B, crops, S, S, 3])."""
    crops = images.shape[1] if images.shape.rank == 5 else None
    flat = tf.reshape(images, [-1, *images.shape[-3:]]) if crops else images
    total = None
    for model in models:
        probs = tf.nn.softmax(tf.cast(model(flat, training=False), tf.float32))
        if crops:
            probs = tf.reduce_mean(tf.reshape(probs, [-1, crops, probs.shape[-1]]), axis=1)
        total = probs if total is None else total + probs
    return total / len(models)


def evaluate_models(models, dataset_fn, *, modes=MODES, max_images=None, log=None) -> dict:
    """{mode: {"top1_error", "top5_error", "loss", "images", "crops", "view", "seconds"}}.

    `dataset_fn(ten_crop: bool)` gives batches of (images [B, S, S, 3], or [B, crops, S, S, 3]
    for the multi-crop view, and labels)."""
    models = list(models)
    if not models:
        raise ValueError("no model to evaluate")
    shapes = {tuple(m.input_shape[1:]) for m in models}
    classes = {m.output_shape[-1] for m in models}
    if len(shapes) > 1 or len(classes) > 1:
        raise ValueError(f"an ensemble needs models of one input shape and class count; got "
                         f"inputs {sorted(shapes)} and {sorted(classes)} classes")
    step = tf.function(lambda images: averaged_probabilities(models, images))
    results = {}
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown evaluation mode {mode!r}; choose from {list(MODES)}")
        started = time.perf_counter()
        totals = {key: 0.0 for key in metrics.RunningTotals.KEYS}
        crops = None
        for batch in dataset_fn(ten_crop=(mode == "ten_crop")):
            images, labels = batch[0], batch[1]
            crops = int(images.shape[1]) if images.shape.rank == 5 else 1
            if max_images is not None:
                room = max_images - int(totals["count"])
                if room <= 0:
                    break
                images, labels = images[:room], labels[:room]
            probs = step(images)
            per_example = keras.losses.sparse_categorical_crossentropy(labels, probs)
            for key, value in metrics.batch_sums(per_example, probs, labels).items():
                totals[key] += float(value.numpy())
            if log:
                log(f"\r{mode}: {int(totals['count'])} images", end="")
        if log:
            log("")
        result = metrics.errors_from_sums(totals)
        result["seconds"] = time.perf_counter() - started
        if crops is not None:
            result["crops"] = crops
            result["view"] = describe_view(crops)
        results[mode] = result
    return results


def describe_view(crops: int) -> str:
    """The test-time view of `crops` patches per image, in words."""
    if crops == 1:
        return "1 crop (the centre patch)"
    if crops == 10:
        return "10 crops (corners + centre and their reflections, §4.1)"
    if crops == 5:
        return "5 crops (corners + centre; no reflections)"
    return f"{crops} crops"


def format_results(results: dict, names) -> str:
    title = "ensemble of " + ", ".join(names) if len(names) > 1 else names[0]
    lines = [title, f"{'crops':<10} {'top-1 error':>12} {'top-5 error':>12} {'images':>8}  view"]
    for mode, r in results.items():
        lines.append(f"{mode:<10} {100 * r['top1_error']:>11.2f}% {100 * r['top5_error']:>11.2f}% "
                     f"{r['images']:>8}  {r.get('view', '')}".rstrip())
    return "\n".join(lines)


def run_evaluation(model_paths, *, split, crops, batch_size, max_images=None, preset=None,
                   overrides=(), statistics=None, log=None) -> dict:
    """Loads each model through the one loader (`loader.load_classifier`: its work
    directory's config, else `preset`; `overrides` on top), builds the split with the first
    model's config and statistics, evaluates."""
    if not model_paths:
        raise ValueError("no model to evaluate")
    loaded = [loader.load_classifier(path, preset=preset, overrides=overrides,
                                     statistics=statistics) for path in model_paths]
    models = [classifier.model for classifier in loaded]
    cfg, statistics = loaded[0].cfg, loaded[0].statistics

    def dataset_fn(ten_crop):
        return input_pipeline.build_dataset(cfg, split, training=False, batch_size=batch_size,
                                            ten_crop=ten_crop, statistics=statistics)

    results = evaluate_models(models, dataset_fn, modes=crops, max_images=max_images, log=log)
    if "view" in results.get("ten_crop", {}):
        results["ten_crop"]["view"] = preprocessing.multi_crop_view(cfg)  # with its reason
    return results
