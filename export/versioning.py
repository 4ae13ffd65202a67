"""TF Serving's model layout: `<base_path>/<integer version>/`, each version written atomically.

The server polls `base_path` and serves the highest integer-named child directory, so a
version must appear complete or not at all. `write_version` builds it in a hidden sibling
directory (`alexnet_tf.atomic.staging_directory`: ignored by the server, its name is not an
integer) and publishes it in one rename after an fsync of its files; a failure part-way
leaves nothing behind, and an existing version (even an empty directory) is never
overwritten.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil

from alexnet_tf import atomic


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
    staging = atomic.staging_directory(final)
    pending = PendingVersion(staging=staging, path=final, version=version)
    try:
        yield pending
        _publish(pending, base_path, explicit)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)


def _publish(pending: PendingVersion, base_path, explicit: bool):
    for _ in range(_MAX_PUBLISH_ATTEMPTS):
        try:
            atomic.publish_directory(pending.staging, pending.path)
        except FileExistsError:
            if explicit:
                raise FileExistsError(
                    f"cannot publish {pending.path}: another writer published version "
                    f"{pending.version} meanwhile; TF Serving versions are immutable (omit "
                    "the version to write the next free one); nothing was written") from None
            pending.version = max(next_version(base_path), pending.version + 1)
            pending.path = os.path.join(base_path, str(pending.version))
            continue
        return
    raise FileExistsError(f"cannot publish under {base_path}: {_MAX_PUBLISH_ATTEMPTS} "
                          "versions were taken by other writers while publishing")
