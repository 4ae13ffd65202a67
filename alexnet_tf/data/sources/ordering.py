"""Epoch order as a pure function of a seed: stateless, so iterators can be checkpointed.

`tf.data.Dataset.shuffle` draws from the global seed as well as its own, and keeps a
buffer in the iterator state; these use `tf.random.experimental.index_shuffle`
instead: position p of an epoch holds element perm_seed(p).
"""
from __future__ import annotations

import tensorflow as tf


def _check_shard(shard):
    if shard is None:
        return 1, 0
    workers, index = shard
    if not 0 <= index < workers:
        raise ValueError(f"shard index {index} is not in [0, {workers})")
    return int(workers), int(index)


def permuted_indices(n: int, order_seed=None, shard=None) -> tf.data.Dataset:
    """Indices into n elements: all of them (shuffled if `order_seed`), or a worker's share.

    With `shard=(workers, index)` the worker gets positions index, index + workers, ...
    of the epoch's permutation: the workers' shares are disjoint and cover every element.
    """
    workers, index = _check_shard(shard)
    positions = tf.data.Dataset.range(index, n, workers)
    if order_seed is None or n == 0:
        return positions
    seed = tf.cast(order_seed, tf.int64)
    return positions.map(lambda p: tf.random.experimental.index_shuffle(p, seed, n - 1))


def block_shuffle(dataset: tf.data.Dataset, window: int, order_seed) -> tf.data.Dataset:
    """Permutes each run of `window` consecutive elements (the last run may be shorter).

    A stateless stand-in for a shuffle buffer over a stream (record files).
    """
    seed = tf.cast(order_seed, tf.int64)

    def permute(block_index, block):
        n = tf.shape(tf.nest.flatten(block)[0], out_type=tf.int64)[0]
        block_seed = tf.random.experimental.stateless_fold_in(seed, block_index)
        order = tf.random.experimental.index_shuffle(tf.range(n), block_seed, n - 1)
        return tf.nest.map_structure(lambda t: tf.gather(t, order), block)

    return dataset.batch(window).enumerate().map(permute).unbatch()
