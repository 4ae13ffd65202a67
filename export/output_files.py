"""Writing the exports' output files whole or not at all, and a full disk said plainly.

A full disk shows up as an `OSError` with errno ENOSPC from Python's own writes and as a
`tf.errors.ResourceExhaustedError` "<path>; No space left on device" from TensorFlow's
(SavedModel, TFRecord writers). `disk_full` recognises both; the commands turn them into
one `DiskFullError` line naming the file and what is still intact.
"""
from __future__ import annotations

import errno
import os
import re
import tempfile

from alexnet_tf.command import UserError

_NO_SPACE = os.strerror(errno.ENOSPC)          # "No space left on device"


class DiskFullError(UserError, OSError):
    """The disk filled up while writing; the message says what was kept intact."""


def disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    import tensorflow as tf
    return isinstance(error, tf.errors.OpError) and _NO_SPACE in (error.message or "")


def full_path(error: BaseException) -> str | None:
    """The file being written when the disk filled up, if the error names it."""
    if isinstance(error, OSError) and error.filename:
        return os.fsdecode(error.filename)
    found = re.search(r"(\S+?);? " + re.escape(_NO_SPACE), str(getattr(error, "message", "")))
    return found.group(1) if found else None


def atomic_write(path, data: bytes | str):
    """Writes `data` to `path` so readers see the old file or the new one, never half;
    a failure (a full disk) leaves the old file and no temporary file behind. Concurrent
    writers each use their own temporary file; the last rename wins."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                     suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(f.fileno(), 0o666 & ~umask)   # mkstemp's 0600 would make it private
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException as e:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(e, OSError):
            e.filename = path            # the file the user knows, not the temporary one
        raise
