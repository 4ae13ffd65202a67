"""An image folder: `<root>/train/<class>/<file>`, `<root>/val/<class>/<file>`.

Class names are the training split's sub-folder names in sorted order; the validation
split uses the same indices (a validation class that has no training folder is an
error). Files are taken by extension (.jpg .jpeg .png .gif .bmp, any case); what
they contain is checked when they are decoded, so a PNG named .JPEG decodes and a
corrupt file is skipped and counted.
"""
from __future__ import annotations

import functools
import os
import pathlib

import tensorflow as tf

from alexnet_tf.data.sources.base import DatasetInfo, ListedSource, SourceError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
SPLIT_DIRS = {"train": ("train",), "validation": ("val", "validation")}


@functools.lru_cache(maxsize=8)
def _listing(root: str, mtime: float):
    root_path = pathlib.Path(root)
    if not root_path.is_dir():
        raise SourceError(f"image folder {root!r} does not exist; expected "
                          f"<root>/train/<class>/*.jpg and <root>/val/<class>/*.jpg "
                          f"(set data.data_dir)")
    split_dirs = {}
    for split, names in SPLIT_DIRS.items():
        found = [root_path / n for n in names if (root_path / n).is_dir()]
        if not found:
            raise SourceError(f"image folder {root!r} has no {names[0]}/ directory; "
                              f"expected {root}/{names[0]}/<class>/<image files>")
        split_dirs[split] = found[0]
    class_names = sorted(d.name for d in split_dirs["train"].iterdir()
                         if d.is_dir() and not d.name.startswith("."))
    if not class_names:
        raise SourceError(f"{split_dirs['train']} has no class sub-folders; expected "
                          f"{split_dirs['train']}/<class>/<image files>")
    index = {name: i for i, name in enumerate(class_names)}
    files = {}
    for split, directory in split_dirs.items():
        paths, labels = [], []
        for class_dir in sorted(d for d in directory.iterdir() if d.is_dir()
                                and not d.name.startswith(".")):
            if class_dir.name not in index:
                raise SourceError(f"{class_dir} is a class with no folder in "
                                  f"{split_dirs['train']}: both splits need the same classes")
            for dirpath, dirnames, filenames in os.walk(class_dir):
                dirnames.sort()
                for name in sorted(filenames):
                    if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."):
                        paths.append(os.path.join(dirpath, name))
                        labels.append(index[class_dir.name])
        if not paths:
            raise SourceError(f"{directory} holds no image files "
                              f"({', '.join(IMAGE_EXTENSIONS)}) in its class folders")
        files[split] = (tuple(paths), tuple(labels))
    return tuple(class_names), files


class FolderSource(ListedSource):
    kind = "path"

    def __init__(self, cfg):
        self.cfg = cfg
        root = cfg.data.data_dir
        if not root:
            raise SourceError("dataset 'folder' needs data.data_dir: the directory holding "
                              "train/<class>/ and val/<class>/")
        self.root = os.path.abspath(os.path.expanduser(root))
        mtime = os.stat(self.root).st_mtime if os.path.isdir(self.root) else 0.0
        self.class_names, self.files = _listing(self.root, mtime)
        self.info = DatasetInfo(
            name=f"folder:{self.root}", num_classes=len(self.class_names),
            class_names=self.class_names,
            num_examples={split: len(paths) for split, (paths, _) in self.files.items()})

    def file_list(self, split):
        self.check_split(split)
        return self.files[split]

    def labels(self, split):
        return self.file_list(split)[1]

    def elements_at(self, split, indices):
        paths, labels = self.file_list(split)
        paths = tf.constant(paths)
        labels = tf.constant(labels, tf.int32)
        return indices.map(lambda i: (tf.gather(paths, i), tf.gather(labels, i)))

    def default_statistics_path(self):
        return pathlib.Path(self.root) / f"statistics_{self.cfg.data.resize_size}.npz"
