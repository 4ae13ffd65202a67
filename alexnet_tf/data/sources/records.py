"""Streams of records from many files, in an order that is a pure function of a seed.

Used by the TFRecord shards of `tools/write_tfrecords.py` and by TFDS' prepared
shards: the file order is a stateless permutation, files are interleaved, and runs of
`window` records are permuted (`ordering.block_shuffle`) — no shuffle buffer in the
iterator state, no dependence on the global seed.
"""
from __future__ import annotations

import tensorflow as tf

from alexnet_tf.data.sources import ordering

CYCLE_LENGTH = 8   # files read at once


def record_elements(files, parse, *, order_seed=None, shard=None, window=10_000):
    """(raw, label) parsed by `parse(serialized)` from `files`; see the module doc.

    Sharding is per file when the files divide evenly among the workers (each reads
    only its own), otherwise per record.
    """
    files = list(files)
    workers, index = shard if shard is not None else (1, 0)
    per_file = workers > 1 and len(files) % workers == 0
    if per_file:
        files = files[index::workers]
    names = tf.constant(files)
    file_seed = None if order_seed is None else tf.random.experimental.stateless_fold_in(
        tf.cast(order_seed, tf.int64), 1)
    file_order = ordering.permuted_indices(len(files), file_seed).map(
        lambda i: tf.gather(names, i))
    records = file_order.interleave(
        tf.data.TFRecordDataset, cycle_length=min(CYCLE_LENGTH, max(len(files), 1)),
        block_length=1, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if workers > 1 and not per_file:
        records = records.shard(workers, index)
    elements = records.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if order_seed is not None:
        window_seed = tf.random.experimental.stateless_fold_in(tf.cast(order_seed, tf.int64), 2)
        elements = ordering.block_shuffle(elements, window, window_seed)
    return elements
