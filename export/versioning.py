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
import errno
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


@dataclasses.dataclass
class PendingVersion:
    staging: str    # fill this directory
    path: str       # where it appears, complete, when the `with` block succeeds
    version: int    # without an explicit version, final only after the `with` block


# Publishing retries with the next free number when another writer took this one; each
# retry means another writer published meanwhile, so this bounds only a runaway loop.
_MAX_PUBLISH_ATTEMPTS = 1000
# What rename(2) of a directory says when the target is taken: a non-empty directory
# (ENOTEMPTY, or EEXIST on some systems) or a file of that name (ENOTDIR).
_TAKEN = (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR)


@contextlib.contextmanager
def write_version(base_path, version: int | None = None):
    """Yields a `PendingVersion`; on success its staging directory becomes `path`.

        with write_version("models/alexnet") as pending:
            archive.write_out(pending.staging)
        # pending.path == "models/alexnet/<next free version>", complete

    Without `version` the number is chosen when publishing: if another writer published
    the one picked at the start, the next free one is taken (nothing inside a version
    names its number). An explicit `version` taken meanwhile is a FileExistsError.
    """
    os.makedirs(base_path, exist_ok=True)
    explicit = version is not None
    version = int(version) if explicit else next_version(base_path)
    if version < 0:
        raise ValueError(f"a model version is a non-negative integer, got {version}")
    final = os.path.join(base_path, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} already exists; TF Serving versions are immutable "
                              "(omit the version to write the next free one)")
    staging = tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{version}-", dir=base_path)
    pending = PendingVersion(staging=staging, path=final, version=version)
    try:
        yield pending
        _fsync_tree(staging)
        _publish(pending, base_path, explicit)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)


def _publish(pending: PendingVersion, base_path, explicit: bool):
    for _ in range(_MAX_PUBLISH_ATTEMPTS):
        try:
            # os.rename of a directory onto a missing path is atomic on POSIX, and fails
            # (rather than merging) when another writer created that version meanwhile.
            os.rename(pending.staging, pending.path)
        except OSError as e:
            if e.errno not in _TAKEN:
                raise
            if explicit:
                raise FileExistsError(
                    f"cannot publish {pending.path}: another writer published version "
                    f"{pending.version} meanwhile; TF Serving versions are immutable (omit "
                    "the version to write the next free one); nothing was written") from None
            pending.version = max(next_version(base_path), pending.version + 1)
            pending.path = os.path.join(base_path, str(pending.version))
            continue
        _fsync_directory(base_path)
        return
    raise FileExistsError(f"cannot publish under {base_path}: {_MAX_PUBLISH_ATTEMPTS} "
                          "versions were taken by other writers while publishing")


def _fsync_directory(path):
    """Makes the rename itself durable: a crash now cannot lose the published version."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root):
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                os.fsync(f.fileno())
