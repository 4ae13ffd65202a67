"""Writes pre-resized TFRecord shards (`alexnet_tf.data.sources.tfrecord`) from any source.

Each image is decoded robustly (bad files skipped and counted), resized as in §2
(shorter side -> R, central R x R crop) and re-encoded as JPEG. The training split is
written in a shuffled order (a fixed seed) so every shard mixes the classes; the
validation split keeps the source's order. Shards appear atomically (`alexnet_tf.atomic`:
a temporary file, fsync, rename) and a progress file records each finished one, so an
interrupted run continues where it stopped and never loses a written shard; what a killed
run left half-written is removed when the next one starts (one writer per output
directory).
"""
from __future__ import annotations

import json
import pathlib

import tensorflow as tf

from alexnet_tf import atomic
from alexnet_tf.data import pipeline as input_pipeline
from alexnet_tf.data.sources import SPLITS, get_source
from alexnet_tf.data.sources import tfrecord as tfrecord_format

WRITE_ORDER_SEED = (2012, 1)   # any fixed pair: the shuffled order of the written train split
PROGRESS = "write_progress.json"


def _example(encoded: bytes, label: int) -> bytes:
    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _num_shards(num_examples, examples_per_shard):
    return max(1, -(-num_examples // examples_per_shard))


def write_tfrecords(cfg, output_dir, *, examples_per_shard=2048, jpeg_quality=95,
                    progress=True) -> dict:
    """Writes every split of `cfg.data.dataset` to `output_dir`; returns the metadata."""
    source = get_source(cfg)
    output_dir = pathlib.Path(output_dir).expanduser()
    if cfg.data.dataset == "tfrecord" and output_dir.resolve() == pathlib.Path(
            cfg.data.data_dir).expanduser().resolve():
        raise ValueError("output_dir is the TFRecord directory being read; choose another")
    output_dir.mkdir(parents=True, exist_ok=True)
    plan = {split: _num_shards(source.info.num_examples[split], examples_per_shard)
            for split in SPLITS}
    identity = {"source": source.info.name, "resize_size": cfg.data.resize_size,
                "jpeg_quality": jpeg_quality, "shards": plan}
    progress_path = output_dir / PROGRESS
    done = {}
    if progress_path.is_file():
        previous = json.loads(progress_path.read_text())
        if previous.get("identity") != identity:
            raise ValueError(f"{output_dir} holds shards of another run "
                             f"({previous.get('identity')}); use an empty directory")
        done = previous["shards"]
    _remove_debris(output_dir, plan)

    splits = {}
    for split in SPLITS:
        total, count = source.info.num_examples[split], plan[split]
        names = [tfrecord_format.shard_name(split, k, count) for k in range(count)]
        bounds = [(k * total // count, (k + 1) * total // count) for k in range(count)]
        todo = [k for k, name in enumerate(names)
                if name not in done or not (output_dir / name).is_file()]
        bar = None
        if progress:
            import keras
            print(f"{split}: {total} examples -> {count} shard(s) in {output_dir}")
            bar = keras.utils.Progbar(total, unit_name="image")
        if todo:
            order_seed = tf.constant(WRITE_ORDER_SEED, tf.int64) if split == "train" else None
            examples = _encoded_examples(cfg, source, split, order_seed, bounds[todo[0]][0],
                                         jpeg_quality)
            for k, name, written in _write_shards(examples, output_dir, names, bounds, todo,
                                                  bar):
                start, stop = bounds[k]
                done[name] = {"written": written, "skipped": stop - start - written}
                atomic.publish(progress_path, json.dumps(
                    {"identity": identity, "shards": done}, indent=1))
        if bar is not None:
            bar.update(total)
        splits[split] = {"num_shards": count,
                         "num_examples": sum(done[n]["written"] for n in names),
                         "skipped": sum(done[n]["skipped"] for n in names)}
    metadata = {"format": tfrecord_format.FORMAT, "class_names": list(source.info.class_names),
                "resize_size": cfg.data.resize_size, "jpeg_quality": jpeg_quality,
                "source": source.info.name, "splits": splits}
    atomic.publish(output_dir / tfrecord_format.METADATA, json.dumps(metadata, indent=1))
    progress_path.unlink()
    return metadata


def _remove_debris(output_dir, plan):
    """Removes the temporary files a killed writer of this output left (a shard can be
    hundreds of MB), and those of writers before `alexnet_tf.atomic` (`<shard>.tmp-<pid>`)."""
    names = [PROGRESS, tfrecord_format.METADATA] + [
        tfrecord_format.shard_name(split, k, count) for split, count in plan.items()
        for k in range(count)]
    atomic.remove_temporaries(output_dir, names)
    for name in names:
        for path in output_dir.glob(f"{name}.tmp-*"):
            if path.name[len(name) + len(".tmp-"):].isdigit():
                path.unlink(missing_ok=True)


def _encoded_examples(cfg, source, split, order_seed, start, jpeg_quality):
    """(position in the split's order, JPEG bytes, label) from `start`, bad files skipped."""
    examples = input_pipeline.resized_examples(cfg, split, source=source, order_seed=order_seed,
                                               start=start, with_positions=True)
    return examples.map(
        lambda position, image, label: (position + start,
                                        tf.io.encode_jpeg(image, quality=jpeg_quality), label),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def _write_shards(examples, output_dir, names, bounds, todo, bar):
    """Writes shards `todo` in order; yields (k, name, examples written) as each completes.

    Each shard is published whole when complete (`atomic.publishing`); examples of
    shards written before (between those to do) are passed over.
    """
    iterator = iter(examples)
    item = next(iterator, None)
    for k in todo:
        start, stop = bounds[k]
        written = 0
        with atomic.publishing(output_dir / names[k]) as temporary:
            with tf.io.TFRecordWriter(str(temporary)) as writer:
                while item is not None and int(item[0]) < stop:
                    position = int(item[0])
                    if position >= start:
                        writer.write(_example(item[1].numpy(), int(item[2])))
                        written += 1
                        if bar is not None:
                            bar.update(position + 1)
                    item = next(iterator, None)
        yield k, names[k], written
