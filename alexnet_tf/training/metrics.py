"""Top-1 / top-5 error (§6) and the running sums a training loop accumulates.

The paper reports error rates: top-1 is the fraction of images whose correct label is not
the most probable one, top-5 the fraction whose correct label is not among the five most
probable. Counts are summed (never averaged per batch), so every image weighs the same
whatever the batch or replica layout.
"""
from __future__ import annotations

import tensorflow as tf

TOP_K = (1, 5)  # §6: the paper's two error rates


def top_k_correct(scores, labels, k: int):
    """Number of rows whose label is among the k highest scores (float32 scalar).

    Ties count in the label's favour only if it is inside the top k by `tf.math.top_k`'s
    order, the usual convention. k is capped at the number of classes."""
    k = min(int(k), int(scores.shape[-1]))
    hits = tf.math.in_top_k(targets=tf.cast(labels, tf.int32), predictions=tf.cast(scores, tf.float32), k=k)
    return tf.reduce_sum(tf.cast(hits, tf.float32))


def batch_sums(per_example_loss, scores, labels):
    """The sums one batch adds to the running totals: loss, top-k hits, image count."""
    sums = {"loss": tf.reduce_sum(tf.cast(per_example_loss, tf.float32)),
            "count": tf.cast(tf.shape(labels)[0], tf.float32)}
    for k in TOP_K:
        sums[f"top{k}_correct"] = top_k_correct(scores, labels, k)
    return sums


class RunningTotals:
    """Float64 running sums of `batch_sums`, in variables a tf.function can update."""

    KEYS = ("loss", "count") + tuple(f"top{k}_correct" for k in TOP_K)

    def __init__(self):
        self.totals = {key: tf.Variable(0.0, dtype=tf.float64, trainable=False,
                                        name=f"total_{key}") for key in self.KEYS}

    def add(self, sums):
        for key in self.KEYS:
            self.totals[key].assign_add(tf.cast(sums[key], tf.float64))

    def reset(self):
        for variable in self.totals.values():
            variable.assign(0.0)

    def result(self) -> dict:
        """loss, top1_error, top5_error, accuracy and the image count (Python floats)."""
        values = {key: float(v.numpy()) for key, v in self.totals.items()}
        return errors_from_sums(values)


def errors_from_sums(values: dict) -> dict:
    count = max(values["count"], 1.0)
    result = {"loss": values["loss"] / count, "images": int(values["count"])}
    for k in TOP_K:
        result[f"top{k}_error"] = 1.0 - values[f"top{k}_correct"] / count
    result["accuracy"] = 1.0 - result["top1_error"]
    return result
