"""The offline ImageNet class names against TFDS' own label list (an independent source)."""
import os

import pytest

from alexnet_tf.data import class_names
def _tfds_imagenet_labels():
    import tensorflow_datasets as tfds
    path = os.path.join(os.path.dirname(tfds.__file__), "datasets", "imagenet2012", "labels.txt")
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def test_imagenet_synsets_are_tfds_label_order():
    table = class_names.imagenet()
    assert list(table.labels) == _tfds_imagenet_labels()
    assert len(table) == 1000


def test_some_well_known_names():
    table = class_names.imagenet()
    assert table.names[0] == "tench"
    assert table.names[388] == "giant panda" and table.labels[388] == "n02510455"
    assert all(name.strip() and "\t" not in name for name in table.names)


def test_from_labels_names_synsets_and_keeps_folder_names():
    synsets = class_names.from_labels(["n01440764", "n02510455"])
    assert synsets.names == ("tench", "giant panda")
    folders = class_names.from_labels(["cat", "dog"])
    assert folders.labels == folders.names == ("cat", "dog")


def test_from_file_and_defaults(tmp_path):
    path = tmp_path / "class_names.txt"
    path.write_text("zero\none\n\n")
    assert class_names.from_file(path).labels == ("zero", "one")
    with pytest.raises(FileNotFoundError, match="cannot read class names"):
        class_names.from_file(tmp_path / "absent.txt")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="no class names"):
        class_names.from_file(tmp_path / "empty.txt")
    assert class_names.for_classes(1000, "imagenet2012").names[1] == "goldfish"
    assert class_names.for_classes(10, "digits").names == tuple(str(i) for i in range(10))
