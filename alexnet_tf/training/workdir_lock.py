"""One training run per work directory: an exclusive `flock` on `<workdir>/.training.lock`.

The lock belongs to the open file, so the kernel drops it when the process ends in any
way (exit, exception, SIGKILL, a crash): a lock file left behind by a dead run never
blocks the next one. The file's text (pid and start time of the holder) is only there
to name the other run in the refusal.
"""
from __future__ import annotations

import datetime
import errno
import fcntl
import os
import pathlib

LOCK_FILE = ".training.lock"


class WorkDirInUseError(ValueError):
    """Another process holds the work directory's lock."""


class WorkDirLock:
    """Holds the lock from `acquire()` until `release()` or the end of the process."""

    def __init__(self, workdir):
        self.path = pathlib.Path(workdir) / LOCK_FILE
        self._file = None
        self.unsupported = None  # why the file system refused the lock, if it did

    def acquire(self) -> "WorkDirLock":
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "pid unknown"
            handle.close()
            raise WorkDirInUseError(f"{self.path.parent} is in use by another training run "
                                    f"({holder})") from None
        except OSError as e:
            handle.close()
            if e.errno not in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            # A file system without locks (some cluster mounts) must not stop training.
            self.unsupported = f"{self.path.parent} cannot be locked ({e.strerror}): " \
                               f"nothing stops a second run there"
            return self
        except BaseException:
            handle.close()
            raise
        self._file = handle
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}, started {started}\n")
            handle.flush()
        except OSError:  # a full disk: the lock holds without the note
            pass
        return self

    @property
    def held(self) -> bool:
        return self._file is not None

    def release(self):
        if self._file is not None:
            self._file.close()  # closing the file drops the flock
            self._file = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
