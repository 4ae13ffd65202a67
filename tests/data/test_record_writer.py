"""Pre-resized TFRecord shards: the writer tool, resuming it, and reading them back."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from alexnet_tf import config

from alexnet_tf.data import pipeline as input_pipeline, record_writer as tfrecord_writer
from alexnet_tf.data.sources import SourceError
from alexnet_tf.data.statistics import DatasetStatistics

import pipeline_data

R, S = 16, 12
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def folder_config(root):
    return config.override(config.get_config("digits"), [
        "data.dataset=folder", f"data.data_dir={root}", f"data.resize_size={R}",
        f"model.image_size={S}", "data.mean=channel", "data.pca_stddev=0.0"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return pipeline_data.make_image_folder(tmp_path_factory.mktemp("folder"), R)


@pytest.fixture(scope="module")
def shards(folder, tmp_path_factory):
    """The tool run as a user runs it: shards + dataset.json + statistics."""
    root = folder[0]
    out = tmp_path_factory.mktemp("records")
    result = subprocess.run(
        [sys.executable, "-m", "tools.write_tfrecords", "--preset=digits", "--dataset=folder",
         f"--data_dir={root}", f"--output_dir={out}", "--examples_per_shard=5",
         f"--set=data.resize_size={R}", f"--set=model.image_size={S}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "validation: 6 examples in 2 shard(s), 4 unreadable file(s) skipped" in result.stdout
    return out


def records_config(out):
    return config.override(folder_config("unused"), ["data.dataset=tfrecord",
                                                     f"data.data_dir={out}"])


@pytest.mark.slow
def test_written_metadata_and_images(folder, shards):
    _, colours, _ = folder
    metadata = json.loads((shards / "dataset.json").read_text())
    assert metadata["class_names"] == ["cat", "dog", "eel"] and metadata["resize_size"] == R
    assert metadata["splits"]["train"] == {"num_shards": 4, "num_examples": 18, "skipped": 0}
    assert metadata["splits"]["validation"]["skipped"] == 4
    found = []
    for path in sorted(shards.glob("train-*.tfrecord")):
        for record in tf.data.TFRecordDataset(str(path)):
            example = tf.train.Example.FromString(record.numpy())
            encoded = example.features.feature["image/encoded"].bytes_list.value[0]
            label = example.features.feature["image/class/label"].int64_list.value[0]
            image = tf.io.decode_jpeg(encoded).numpy()
            assert image.shape == (R, R, 3)        # §2: pre-resized to R x R
            colour = np.rint(image.reshape(-1, 3).mean(0)).astype(int)
            found.append((tuple(colour), label))
    expected = sorted((colours[i], i // 6) for i in range(18))
    assert len(found) == 18
    for (colour, label), (want, want_label) in zip(sorted(found), expected):
        assert label == want_label and np.abs(np.array(colour) - want).max() <= 3
    # The train split was written shuffled: the first shard mixes classes.
    first = [tf.train.Example.FromString(r.numpy()).features.feature["image/class/label"]
             .int64_list.value[0] for r in tf.data.TFRecordDataset(
                 str(shards / "train-00000-of-00004.tfrecord"))]
    assert len(set(first)) > 1
    stats = DatasetStatistics.load(shards / f"statistics_{R}.npz")
    assert stats.num_images == 18
    np.testing.assert_allclose(stats.mean_rgb, np.mean([colours[i] for i in range(18)], 0),
                               atol=2)


def test_training_from_shards_sees_each_example_once_per_epoch(folder, shards):
    _, colours, _ = folder
    cfg = records_config(shards)
    info = input_pipeline.dataset_info(cfg)
    assert info.num_examples == {"train": 18, "validation": 6}
    stats = DatasetStatistics.per_channel([0, 0, 0], size=R)
    epochs = []
    for epoch in range(2):
        seen = []
        for k in range(2):    # two workers: 4 shards split per file
            dataset = input_pipeline.build_dataset(cfg, "train", training=True, seed=3,
                                                   epoch=epoch, batch_size=1, shard=(2, k),
                                                   statistics=stats)
            for images, labels in dataset:
                assert images.shape == (1, S, S, 3) and images.dtype == tf.float32
                pixel = images.numpy()[0].reshape(-1, 3).mean(0) / cfg.data.input_scale
                seen.append((int(labels[0]), tuple(np.rint(pixel).astype(int))))
        assert sorted(label for label, _ in seen) == sorted(i // 6 for i in range(18))
        epochs.append(seen)
    assert epochs[0] != epochs[1]    # a different order each epoch


def test_interrupted_writer_resumes_without_rewriting(folder, tmp_path, monkeypatch):
    cfg = folder_config(folder[0])
    real = tfrecord_writer._example
    calls = []

    def interrupted(*args):      # stops in the middle of the third train shard
        if len(calls) == 11:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(tfrecord_writer, "_example", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tfrecord_writer.write_tfrecords(cfg, tmp_path, examples_per_shard=5, progress=False)
    written = sorted(p.name for p in tmp_path.glob("*.tfrecord"))
    assert written == ["train-00000-of-00004.tfrecord", "train-00001-of-00004.tfrecord"]
    assert not list(tmp_path.glob("*.tmp-*")) and not (tmp_path / "dataset.json").exists()
    with pytest.raises(SourceError, match="dataset.json"):
        input_pipeline.dataset_info(records_config(tmp_path))
    mtimes = {name: os.stat(tmp_path / name).st_mtime_ns for name in written}
    # What a SIGKILL mid-shard leaves (no cleanup ran), and a release 0.1 writer's, and
    # a file of the user's.
    debris = [".train-00002-of-00004.tfrecord.0a1b2c3d.tmp.tfrecord",
              "train-00003-of-00004.tfrecord.tmp-4242"]
    for name in debris + ["train-notes.tmp"]:
        (tmp_path / name).write_bytes(b"half a shard")
    monkeypatch.setattr(tfrecord_writer, "_example", real)
    metadata = tfrecord_writer.write_tfrecords(cfg, tmp_path, examples_per_shard=5,
                                               progress=False)
    assert not any((tmp_path / name).exists() for name in debris)
    assert (tmp_path / "train-notes.tmp").read_bytes() == b"half a shard"
    assert metadata["splits"]["train"]["num_examples"] == 18
    assert metadata["splits"]["validation"] == {"num_shards": 2, "num_examples": 6,
                                                "skipped": 4}
    assert {name: os.stat(tmp_path / name).st_mtime_ns for name in written} == mtimes
    assert input_pipeline.dataset_info(records_config(tmp_path)).num_examples["train"] == 18


@pytest.mark.slow
def test_compute_statistics_tool_writes_beside_the_data(folder, tmp_path):
    root, colours, _ = folder
    out = tmp_path / "stats.npz"
    result = subprocess.run(
        [sys.executable, "-m", "tools.compute_statistics", "--preset=digits", "--dataset=folder",
         f"--data_dir={root}", f"--set=data.resize_size={R}", f"--set=model.image_size={S}",
         f"--out={out}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "18 images" in result.stdout
    stats = DatasetStatistics.load(out)
    np.testing.assert_allclose(stats.mean_rgb, np.mean([colours[i] for i in range(18)], 0),
                               atol=1e-3)
    missing = subprocess.run(
        [sys.executable, "-m", "tools.compute_statistics", "--dataset=folder",
         f"--data_dir={tmp_path / 'nowhere'}"], cwd=ROOT, capture_output=True, text=True,
        timeout=300)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
