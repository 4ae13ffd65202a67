"""TF Serving's model layout: `<base_path>/<integer version>/`, each version written atomically.

The server polls `base_path` and serves the highest integer-named child directory, so a
version must appear complete or not at all. `write_version` builds it in a hidden sibling
directory (ignored by the server: its name is not an integer) and renames it into place in
one step; a failure part-way leaves nothing behind, and an existing version is never
overwritten.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile

_TEMP_PREFIX = ".incomplete-"


def versions(base_path) -> list:
    """The integer versions present under `base_path`, ascending."""
    if not os.path.isdir(base_path):
        return []
    found = []
    for name in os.listdir(base_path):
        if name.isdigit() and os.path.isdir(os.path.join(base_path, name)):
            found.append(int(name))
    return sorted(found)


def next_version(base_path) -> int:
    present = versions(base_path)
    return present[-1] + 1 if present else 1


@dataclasses.dataclass(frozen=True)
class PendingVersion:
    staging: str    # fill this directory
    path: str       # where it appears, complete, when the `with` block succeeds
    version: int


@contextlib.contextmanager
def write_version(base_path, version: int | None = None):
    """Yields a `PendingVersion`; on success its staging directory becomes `path`.

        with write_version("models/alexnet") as pending:
            archive.write_out(pending.staging)
        # pending.path == "models/alexnet/<next free version>", complete
    """
    os.makedirs(base_path, exist_ok=True)
    version = next_version(base_path) if version is None else int(version)
    if version < 0:
        raise ValueError(f"a model version is a non-negative integer, got {version}")
    final = os.path.join(base_path, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} already exists; TF Serving versions are immutable "
                              "(omit the version to write the next free one)")
    staging = tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{version}-", dir=base_path)
    try:
        yield PendingVersion(staging=staging, path=final, version=version)
        _fsync_tree(staging)
        try:
            # os.rename of a directory onto a missing path is atomic on POSIX, and fails
            # (rather than merging) when another writer created that version meanwhile.
            os.rename(staging, final)
        except OSError as e:
            raise FileExistsError(f"cannot publish {final}: {e.strerror}") from None
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)


def _fsync_tree(root):
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                os.fsync(f.fileno())
