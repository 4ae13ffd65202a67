"""fc7 feature vectors of a gallery, kept on disk (Figure 4 right, §6.1).

A store is a directory:

    features.npy   [N, D] float16 or float32, a NumPy file opened as a memory map
    valid.npy      [N] bool: False where the image could not be read (its row is zeros and
                   is never returned by a search)
    keys.txt       one line per row: an image path, or "<split>:<position>" in a dataset
    labels.npy     [N] int32 class of each row (-1 when unknown)
    meta.json      count, dim, dtype, rows written so far, where the features came from

ImageNet's training set is 1.2 M x 4096 floats (9.8 GB as float16, 19.7 GB as float32):
rows are written batch by batch straight into the memory map and read back in chunks, so
neither writing nor searching holds the matrix in memory. `meta.json` records how many rows
are complete (published atomically after each flush), so an interrupted run resumes where
it stopped instead of losing what was already computed.

Every file is published whole (`alexnet_tf.atomic`): the arrays are created at their full
size under a temporary name and renamed into place before `meta.json` names them, so a
store being replaced (`overwrite`) never truncates a file a reader has mapped, and a run
killed while creating a store leaves no `meta.json` (the next run starts it afresh).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import pathlib

import numpy as np

from alexnet_tf import atomic

FEATURES_FILE = "features.npy"
KEYS_FILE = "keys.txt"
LABELS_FILE = "labels.npy"
META_FILE = "meta.json"
VALID_FILE = "valid.npy"
STORE_FILES = (FEATURES_FILE, KEYS_FILE, LABELS_FILE, META_FILE, VALID_FILE)
DTYPES = ("float16", "float32")
UNKNOWN_LABEL = -1


def _keys_digest(keys) -> str:
    digest = hashlib.sha256()
    for key in keys:
        digest.update(key.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _write_json_atomically(path: pathlib.Path, content: dict):
    atomic.publish(path, json.dumps(content, indent=2))


def _new_array(path: pathlib.Path, dtype, shape, fill=None) -> np.memmap:
    """A memory map of a new .npy file, published at `path` before rows are written
    into it (the map outlives the rename: it holds the file, not the name)."""
    with atomic.publishing(path) as temporary:
        array = np.lib.format.open_memmap(temporary, mode="w+", dtype=dtype, shape=shape)
        _allocate(temporary)
        if fill is not None:
            array[:] = fill
        array.flush()
    return array


def _allocate(path):
    """Gives the file all its disk blocks now. A memory map's file is sparse: a full disk
    would otherwise show only when a row is stored, as SIGBUS (the process dies without a
    word); here it is an ENOSPC at the start."""
    allocate = getattr(os, "posix_fallocate", None)     # not on macOS
    if allocate is None:
        return
    with open(path, "r+b") as f:
        try:
            allocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP):   # unsupported there: skip
                raise


class FeatureStore:
    """A finished (or partly written) store, opened read-only.

    `features` is the [N, D] memory map; `keys[i]` and `labels[i]` describe row i and
    `valid[i]` says whether its image could be read; only the first `written` rows hold
    features.
    """

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        meta_path = self.directory / META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"{self.directory} is not a feature store (no {META_FILE}); "
                                    "build one with tools/similarity_search.py --gallery ...")
        self.meta = json.loads(meta_path.read_text())
        self.features = np.load(self.directory / FEATURES_FILE, mmap_mode="r")
        self.valid = np.load(self.directory / VALID_FILE, mmap_mode="r")
        self.labels = np.load(self.directory / LABELS_FILE, mmap_mode="r")
        self.keys = read_keys(self.directory / KEYS_FILE)
        if self.features.shape != (self.meta["count"], self.meta["dim"]) or len(self.keys) != \
                self.meta["count"]:
            raise ValueError(f"{self.directory}: features {self.features.shape}, "
                             f"{len(self.keys)} keys and meta.json "
                             f"({self.meta['count']} x {self.meta['dim']}) disagree")

    @property
    def count(self) -> int:
        return self.meta["count"]

    @property
    def dim(self) -> int:
        return self.meta["dim"]

    @property
    def written(self) -> int:
        return self.meta["written"]

    @property
    def complete(self) -> bool:
        return self.written == self.count


def read_keys(path) -> list:
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


class FeatureStoreWriter:
    """Creates a store for `keys` or resumes an unfinished one over the same keys.

        writer = FeatureStoreWriter(directory, keys, dim=4096, dtype="float16")
        for start in range(writer.written, len(keys), batch):   # resumes after a crash
            writer.write(start, features_of(keys[start:start + batch]), labels=...)
        writer.close()
    """

    def __init__(self, directory, keys, *, dim: int, dtype: str = "float16",
                 source: dict | None = None, overwrite: bool = False):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        keys = list(keys)
        if not keys:
            raise ValueError("the gallery is empty: no images to store")
        for key in keys:
            if "\n" in key or "\r" in key:
                raise ValueError(f"gallery key {key!r} contains a line break")
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        meta_path = self.directory / META_FILE
        digest = _keys_digest(keys)
        fresh = dict(version=1, count=len(keys), dim=int(dim), dtype=dtype, written=0,
                     keys_sha256=digest, source=source or {})
        atomic.remove_temporaries(self.directory, STORE_FILES)   # what a killed run left
        if meta_path.is_file() and not overwrite:
            old = json.loads(meta_path.read_text())
            same = all(old.get(name) == fresh[name]
                       for name in ("count", "dim", "dtype", "keys_sha256", "source"))
            if not same:
                raise FileExistsError(
                    f"{self.directory} already holds a feature store for another gallery, "
                    "model or dtype; choose a new directory or pass overwrite")
            self.meta = old
            with atomic.disk_full_names(self.directory / FEATURES_FILE):
                for name in (FEATURES_FILE, VALID_FILE, LABELS_FILE):
                    _allocate(self.directory / name)
            self.features = np.load(self.directory / FEATURES_FILE, mmap_mode="r+")
            self.valid = np.load(self.directory / VALID_FILE, mmap_mode="r+")
            self.labels = np.load(self.directory / LABELS_FILE, mmap_mode="r+")
        else:
            self.meta = fresh
            # The old store stops being one first: a run killed before the new meta.json
            # leaves no store, never old rows under new keys.
            meta_path.unlink(missing_ok=True)
            atomic.publish(self.directory / KEYS_FILE, "".join(f"{key}\n" for key in keys))
            self.features = _new_array(self.directory / FEATURES_FILE, dtype, (len(keys), dim))
            self.valid = _new_array(self.directory / VALID_FILE, bool, (len(keys),))
            self.labels = _new_array(self.directory / LABELS_FILE, np.int32, (len(keys),),
                                     fill=UNKNOWN_LABEL)
            _write_json_atomically(meta_path, self.meta)

    @property
    def written(self) -> int:
        return self.meta["written"]

    def write(self, start: int, features, labels=None, valid=None) -> None:
        """Stores rows start .. start + len(features); rows must arrive in order.
        `labels` (int per row, -1 unknown) default to unknown; `valid` (bool per row,
        default all True) marks images that could not be read."""
        features = np.asarray(features)
        valid = np.ones(len(features), bool) if valid is None else np.asarray(valid, bool)
        labels = (np.full(len(features), UNKNOWN_LABEL) if labels is None
                  else np.asarray(labels, np.int64))
        if start != self.written:
            raise ValueError(f"rows must be written in order: expected row {self.written}, "
                             f"got {start}")
        if features.ndim != 2 or features.shape[1] != self.meta["dim"]:
            raise ValueError(f"expected features of shape [n, {self.meta['dim']}], "
                             f"got {features.shape}")
        stop = start + len(features)
        if stop > self.meta["count"]:
            raise ValueError(f"rows {start}..{stop} run past the store's {self.meta['count']}")
        if valid.shape != (len(features),) or labels.shape != (len(features),):
            raise ValueError(f"labels and valid need one entry per row ({len(features)}), "
                             f"got shapes {labels.shape} and {valid.shape}")
        with np.errstate(over="ignore"):
            cast = np.where(valid[:, None], features, 0).astype(self.meta["dtype"])
        if not np.all(np.isfinite(cast)):
            raise ValueError(f"features do not fit {self.meta['dtype']} (inf/NaN after the "
                             "cast); use dtype float32")
        self.features[start:stop] = cast
        self.valid[start:stop] = valid
        self.labels[start:stop] = labels
        for array in (self.features, self.valid, self.labels):
            array.flush()
        self.meta["skipped"] = self.meta.get("skipped", 0) + int(np.count_nonzero(~valid))
        self.meta["written"] = stop
        _write_json_atomically(self.directory / META_FILE, self.meta)

    def close(self) -> FeatureStore:
        for array in (self.features, self.valid, self.labels):
            array.flush()
        del self.features, self.valid, self.labels
        return FeatureStore(self.directory)
