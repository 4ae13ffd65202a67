"""imagenet2012 through TFDS, end to end, offline, on tiny tars in the exact ILSVRC layout.

Train: ILSVRC2012_img_train.tar holding one <synset>.tar per class, each holding
<synset>_<n>.JPEG. Validation: ILSVRC2012_img_val.tar holding ILSVRC2012_val_<8 digits>.JPEG
numbered from 00000001; TFDS pairs the sorted files with its validation_labels.txt line by
line, label ids follow its labels.txt (both read here as the reference).
"""
import io
import os
import socket
import tarfile

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_tf import config

from alexnet_tf.data import pipeline as input_pipeline
from alexnet_tf.data.sources import SourceError
from alexnet_tf.data.statistics import DatasetStatistics

NUM_VAL = 4
PER_SYNSET = 2


def tfds_file(name):
    import tensorflow_datasets as tfds
    path = tfds.core.tfds_path(f"datasets/imagenet2012/{name}")
    return path.read_text().split()


def _jpeg(colour, size=(50, 40), mode="RGB"):
    buffer = io.BytesIO()
    image = Image.new("RGB", size, colour)
    if mode == "CMYK":
        image = image.convert("CMYK")
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _colour(i):
    return (20 + 17 * i, 240 - 15 * i, 90)


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    """Writes the tars, then prepares them through the pipeline with the network cut off."""
    root = tmp_path_factory.mktemp("imagenet")
    manual = root / "manual"
    manual.mkdir()
    val_synsets = tfds_file("validation_labels.txt")[:NUM_VAL]
    synsets = sorted(set(val_synsets))
    train_colours = {}
    with tarfile.open(manual / "ILSVRC2012_img_train.tar", "w") as outer:
        for s, synset in enumerate(synsets):
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as inner:
                for k in range(PER_SYNSET):
                    index = s * PER_SYNSET + k
                    train_colours[index] = (_colour(index), synset)
                    _add(inner, f"{synset}_{k + 1}.JPEG",
                         _jpeg(_colour(index), mode="CMYK" if index == 0 else "RGB"))
            _add(outer, f"{synset}.tar", buffer.getvalue())
    val_colours = {}
    with tarfile.open(manual / "ILSVRC2012_img_val.tar", "w") as tar:
        for i in range(NUM_VAL):
            val_colours[i] = (_colour(i + 10), val_synsets[i])
            _add(tar, f"ILSVRC2012_val_{i + 1:08d}.JPEG", _jpeg(_colour(i + 10), (36, 60)))
    cfg = config.override(config.get_config("paper"), [
        "data.dataset=imagenet2012", f"data.data_dir={root / 'tfds'}",
        f"data.manual_dir={manual}", "data.pca_stddev=0.0"])

    def no_network(*args, **kwargs):
        raise AssertionError(f"TFDS tried to use the network: {args}")

    original = socket.socket.connect
    socket.socket.connect = no_network
    try:
        info = input_pipeline.dataset_info(cfg)
    finally:
        socket.socket.connect = original
    return cfg, info, train_colours, val_colours


def _labels_by_colour(cfg, split, training, stats):
    found = []
    dataset = input_pipeline.build_dataset(cfg, split, training=training, batch_size=1,
                                           statistics=stats)
    for images, labels in dataset:
        assert images.shape == (1, 227, 227, 3) and images.dtype == tf.float32
        colour = np.rint(images.numpy()[0].reshape(-1, 3).mean(0)).astype(int)
        found.append((colour, int(labels[0])))
    return found


def test_prepared_offline_with_tfds_label_order(imagenet):
    cfg, info, _, _ = imagenet
    synsets = set(tfds_file("validation_labels.txt")[:NUM_VAL])
    assert info.num_examples == {"train": PER_SYNSET * len(synsets), "validation": NUM_VAL}
    assert info.num_classes == 1000
    assert list(info.class_names) == tfds_file("labels.txt")


def test_validation_labels_follow_validation_labels_txt(imagenet):
    cfg, _, _, val_colours = imagenet
    names = tfds_file("labels.txt")
    zero = DatasetStatistics.per_channel([0, 0, 0], size=256)
    found = _labels_by_colour(cfg, "validation", False, zero)
    assert len(found) == NUM_VAL
    for colour, label in found:
        i = min(val_colours, key=lambda k: np.abs(np.array(val_colours[k][0]) - colour).sum())
        assert np.abs(np.array(val_colours[i][0]) - colour).max() <= 3
        assert label == names.index(val_colours[i][1])


def test_training_batches_and_statistics(imagenet, tmp_path):
    cfg, _, train_colours, _ = imagenet
    names = tfds_file("labels.txt")
    zero = DatasetStatistics.per_channel([0, 0, 0], size=256)
    found = _labels_by_colour(cfg, "train", True, zero)
    expected = sorted(names.index(synset) for _, synset in train_colours.values())
    assert sorted(label for _, label in found) == expected
    stats, path = input_pipeline.compute_and_save_statistics(cfg, progress=False)
    assert path.parent == input_pipeline.statistics_path(cfg).parent and path.is_file()
    assert stats.num_images == len(train_colours)
    colours = np.array([c for c, _ in train_colours.values()], np.float64)
    np.testing.assert_allclose(stats.mean_rgb, colours.mean(0), atol=3)
    images, labels = next(iter(input_pipeline.build_dataset(cfg, "train", training=True,
                                                            batch_size=4)))
    assert images.shape == (4, 227, 227, 3) and labels.dtype == tf.int32


def test_missing_tars_and_unknown_names_are_clear_errors(tmp_path):
    base = config.get_config("paper")
    cfg = config.override(base, ["data.dataset=imagenet2012", f"data.data_dir={tmp_path}",
                                 f"data.manual_dir={tmp_path}"])
    with pytest.raises(SourceError, match="lacks ILSVRC2012_img_train.tar and "
                                          "ILSVRC2012_img_val.tar"):
        input_pipeline.dataset_info(cfg)
    no_manual = config.override(cfg, ["data.manual_dir="])
    with pytest.raises(SourceError, match="cannot be downloaded automatically"):
        input_pipeline.dataset_info(no_manual)
    with pytest.raises(SourceError, match="unknown dataset 'no_such_dataset_xyz'"):
        input_pipeline.dataset_info(config.override(base, ["data.dataset=no_such_dataset_xyz"]))
    assert not os.listdir(tmp_path) or all(not p.endswith(".tfrecord")
                                           for p in os.listdir(tmp_path))
