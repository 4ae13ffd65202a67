"""Faults the tests cause on purpose: a disk that fills up, in-process or for real."""
import contextlib
import errno
import os
import subprocess

import pytest

NO_SPACE = os.strerror(errno.ENOSPC)


class FillingFile:
    """A file whose writes store half of the data, then fail as a full disk does."""

    def __init__(self, real):
        self.real = real

    def write(self, data):
        self.real.write(data[:len(data) // 2])
        self.real.flush()
        raise OSError(errno.ENOSPC, NO_SPACE)

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


def disk_fills_on_writes(monkeypatch):
    """Every file opened with os.fdopen (what alexnet_tf.atomic writes through) fills the
    disk half-way through its first write."""
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: FillingFile(real_fdopen(fd, *a, **k)))


@contextlib.contextmanager
def tmpfs(mount, size: str):
    """A real small file system of `size` (e.g. "64k", "1m") at `mount`, unmounted after;
    the test is skipped where it cannot be mounted (not root: CI runs as root)."""
    os.makedirs(mount, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)
