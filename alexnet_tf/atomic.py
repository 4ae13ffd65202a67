"""Publishing files and directories whole, and a full disk said in one line.

Every file the package leaves for someone else to read (a checkpoint listing, a config, a
model, statistics, TFRecord shards, an export's files, an `--output` JSON) is published
here: written under a temporary name beside the target, fsynced, renamed over the target
(atomic on POSIX), and the rename made durable by an fsync of the folder. A reader sees
the previous file or the new one, never part of one; a failure (an exception, a full
disk) leaves the previous file and removes the temporary one; a kill leaves at most a
temporary file, which `remove_temporaries` recognises by its name.

    publish(path, text_or_bytes)
    with publishing(path) as temporary:             # a writer that needs a path
        model.save(temporary)                       # keeps the extension: x.keras
    with publishing_directory(path) as staging:     # a directory, never overwritten
        write_files_into(staging)

Temporary names: `.<target>.<random>.tmp`, and `.<target>.<random>.tmp<extension>` where a
writer gets a path (Keras wants `.keras`, `np.savez` would add `.npz`). Each is created
exclusively, so two writers never share one; the last rename wins. Files get the usual
permissions (0666 less the umask, as `open` makes them), not `mkstemp`'s 0600.

A full disk (or quota) shows up as an OSError with errno ENOSPC/EDQUOT from Python's writes
and as a TensorFlow `OpError` "<path>; No space left on device" from TensorFlow's;
`is_disk_full` recognises both and the publishing functions raise one `DiskFullError`
naming the target: a command prints it as one `error:` line and exits 2.

No TensorFlow here: every layer of the package may use this module.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import os
import pathlib
import re
import secrets
import shutil
import sys

from alexnet_tf.command import UserError

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXTS = tuple(os.strerror(code) for code in _FULL_ERRNOS)
_NAME_MAX = 255          # bytes in one path component on Linux/macOS file systems
_RANDOM_BYTES = 4        # 8 hex digits; a clash only costs another try (O_EXCL)
_TEMPORARY_MARK = ".tmp"


class DiskFullError(UserError, OSError):
    """A write failed because the disk (or the quota) is full.

    `path` is the file being written (the target, never a temporary name); `intact` says
    what survived, for the message. An OSError with errno ENOSPC, so code that handles a
    full disk's OSError handles this one the same way."""

    def __init__(self, path, intact: str | None = None):
        super().__init__(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
        self.path, self.intact = os.fspath(path), intact

    def __str__(self):
        return f"disk full writing {self.path}" + (f"; {self.intact}" if self.intact else "")

    def __reduce__(self):          # picklable (multiprocessing), unlike OSError's default
        return type(self), (self.path, self.intact)


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` says the disk or the quota is full (Python's or TensorFlow's words)."""
    if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
        return True
    tensorflow = sys.modules.get("tensorflow")       # only loaded TensorFlow raises its errors
    op_error = getattr(getattr(tensorflow, "errors", None), "OpError", None)
    kinds = (OSError, op_error) if op_error is not None else (OSError,)
    # h5py's and TensorFlow's errors carry the C library's text, not an errno.
    return isinstance(error, kinds) and any(text in str(error) for text in _FULL_TEXTS)


def full_path(error: BaseException) -> str | None:
    """The file being written when the disk filled up, if the error names it."""
    if isinstance(error, OSError) and error.filename:
        return os.fsdecode(error.filename)
    message = str(getattr(error, "message", "") or "")
    texts = "|".join(re.escape(text) for text in _FULL_TEXTS)
    found = re.search(rf"(\S+?);? (?:{texts})", message)
    return found.group(1) if found else None


@contextlib.contextmanager
def disk_full_names(path):
    """Turns a full disk's error raised inside into `DiskFullError(path)`."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as e:
        if is_disk_full(e):
            raise DiskFullError(path) from None
        raise


# --- temporary names ------------------------------------------------------------------

def _prefix(name: str, suffix: str) -> str:
    """`.<name>.`, the name cut where the whole temporary name would be too long."""
    room = _NAME_MAX - len(f"..{'0' * 2 * _RANDOM_BYTES}{_TEMPORARY_MARK}{suffix}".encode())
    encoded = name.encode()
    if len(encoded) > room:
        name = encoded[:room].decode(errors="ignore")
    return f".{name}."


def temporary_name(target, *, keep_extension: bool = False) -> str:
    """A fresh temporary name for `target` (a name only; nothing is created)."""
    name = os.path.basename(os.fspath(target))
    suffix = pathlib.PurePath(name).suffix if keep_extension else ""
    return (f"{_prefix(name, suffix)}{secrets.token_hex(_RANDOM_BYTES)}"
            f"{_TEMPORARY_MARK}{suffix}")


def is_temporary(name: str, *, of: str) -> bool:
    """Whether `name` is one of our temporary names for a target named `of` (with or
    without the kept extension)."""
    suffix = pathlib.PurePath(of).suffix
    tail = r"[A-Za-z0-9_]+" + re.escape(_TEMPORARY_MARK)
    return bool(re.fullmatch(re.escape(_prefix(of, "")) + tail, name) or (
        suffix and re.fullmatch(re.escape(_prefix(of, suffix)) + tail + re.escape(suffix),
                                name)))


def remove_temporaries(folder, targets) -> list:
    """Removes what killed writers of `targets` (names in `folder`) left: our temporary
    files and staging directories of those names, nothing else. Returns the names removed.

    Only for a folder one writer owns (a locked work directory, one writer's output):
    another writer's temporary file in progress would go too."""
    folder = pathlib.Path(folder)
    targets = [os.path.basename(os.fspath(t)) for t in targets]
    removed = []
    try:
        entries = sorted(folder.iterdir())
    except FileNotFoundError:
        return removed
    for path in entries:
        if any(is_temporary(path.name, of=target) for target in targets):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def _create_temporary(target: str, *, keep_extension: bool) -> tuple:
    """(fd, path) of a new, empty temporary file beside `target`, made by this call alone."""
    folder = os.path.dirname(os.path.abspath(target))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        temporary = os.path.join(folder, temporary_name(target, keep_extension=keep_extension))
        try:
            return os.open(temporary, flags, 0o666), temporary   # the umask applies, as open()'s
        except FileExistsError:
            continue
        except Exception as e:
            raise _about_target(e, target, temporary)


def _about_target(error: BaseException, target: str, temporary: str) -> BaseException:
    """The error to raise for a failed write of `target`: one `DiskFullError(target)` for
    a full disk; an OSError about our temporary file names `target` instead."""
    if isinstance(error, Exception) and (is_disk_full(error) or _short_write(error, temporary)):
        full = DiskFullError(target)
        full.__suppress_context__ = True     # the message says it all; no second traceback
        return full
    if isinstance(error, OSError) and error.errno is not None and (
            error.filename is None or os.fsdecode(error.filename) == temporary):
        if error.filename2 is not None:      # a failed rename: the target alone says it
            renamed = type(error)(error.errno, error.strerror, target)
            renamed.__suppress_context__ = True
            return renamed
        error.filename = target
    return error


def _short_write(error: BaseException, temporary: str) -> bool:
    """An OSError without an errno (NumPy's "102400 requested and 61312 written") while
    the file system of `temporary` has no space left: a full disk in other words."""
    if not isinstance(error, OSError) or error.errno is not None:
        return False
    try:
        return os.statvfs(os.path.dirname(os.path.abspath(temporary))).f_bavail == 0
    except (OSError, AttributeError):
        return False


def _failed(error: BaseException, target: str, temporary: str) -> BaseException:
    """Removes the temporary file or directory; returns the error to raise (judged before
    the removal frees the space)."""
    error = _about_target(error, target, temporary)
    _remove(temporary)
    return error


def _remove(path):
    with contextlib.suppress(FileNotFoundError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


# --- durability -----------------------------------------------------------------------

def fsync_file(path):
    """Flushes a written file's data to the disk (after a writer closed it)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path):
    """Makes the renames and creations in a folder durable: after a power cut the new
    names are there, not the old ones."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP):  # some file systems cannot
            raise
    finally:
        os.close(fd)


def fsync_tree(root):
    """fsync of every file and folder under `root` (files first, `root` last)."""
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                fsync_file(path)
        fsync_directory(folder)


# --- files ----------------------------------------------------------------------------

def publish(path, data: bytes | str):
    """Writes `data` (a str as UTF-8) to `path` so readers see the old file or the new one,
    never half; a failure leaves the old file and no temporary file. A full disk:
    `DiskFullError(path)`."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    target = os.fspath(path)
    fd, temporary = _create_temporary(target, keep_extension=False)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
        fsync_directory(os.path.dirname(os.path.abspath(target)))
    except BaseException as e:
        raise _failed(e, target, temporary)


@contextlib.contextmanager
def publishing(path):
    """Yields a temporary path beside `path` (same extension) for a writer that needs a
    path; when the block ends without an error, the file written there becomes `path`.
    An error removes it; a full disk raises `DiskFullError(path)`.

        with publishing(workdir / "model.keras") as temporary:
            model.save(temporary)
    """
    target = os.fspath(path)
    fd, temporary = _create_temporary(target, keep_extension=True)
    os.close(fd)
    try:
        yield pathlib.Path(temporary)
        fsync_file(temporary)
        os.replace(temporary, target)
        fsync_directory(os.path.dirname(os.path.abspath(target)))
    except BaseException as e:
        raise _failed(e, target, temporary)


# --- directories ----------------------------------------------------------------------

def staging_directory(path) -> str:
    """A new, empty directory beside `path` under a temporary name (ignored by whoever
    lists `path`'s folder for real names), to fill and then `publish_directory`."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    while True:
        staging = os.path.join(folder, temporary_name(target))
        try:
            os.mkdir(staging, 0o777)            # the umask applies (mkdtemp's is 0700)
            return staging
        except FileExistsError:
            continue
        except Exception as e:
            raise _about_target(e, target, staging)


def publish_directory(staging, path):
    """Makes the filled `staging` directory `path` in one rename, after an fsync of
    everything in it; then fsyncs the folder. Never overwrites: an existing `path` (even
    an empty directory, which rename(2) would replace) is a FileExistsError and `staging`
    stays for the caller to remove or retry with another name."""
    staging, target = os.fspath(staging), os.fspath(path)
    try:
        fsync_tree(staging)
        _rename_no_replace(staging, target)
        fsync_directory(os.path.dirname(os.path.abspath(target)))
    except Exception as e:
        raise _about_target(e, target, staging)


@contextlib.contextmanager
def publishing_directory(path):
    """Yields a staging directory beside `path`; when the block ends without an error it
    becomes `path` (see `publish_directory`). An error removes it; a full disk raises
    `DiskFullError(path)`."""
    target = os.fspath(path)
    staging = staging_directory(target)
    try:
        yield staging
        publish_directory(staging, target)
    except BaseException as e:
        raise _failed(e, target, staging)
    finally:
        _remove(staging)


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


@functools.lru_cache(maxsize=None)
def _renameat2():
    """libc's renameat2 (Linux, glibc >= 2.28), or None."""
    try:
        import ctypes
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (ImportError, OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _rename_no_replace(source: str, target: str):
    renameat2 = _renameat2()
    if renameat2 is not None:
        import ctypes
        if renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target),
                     _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise _taken(target)
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # else: unsupported here
            raise OSError(code, os.strerror(code), source, None, target)
    # Without renameat2: rename(2) replaces only an empty directory; the check narrows
    # even that to a race with another writer.
    if os.path.lexists(target):
        raise _taken(target)
    try:
        os.rename(source, target)
    except OSError as e:
        if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise _taken(target) from None
        raise


def _taken(target) -> FileExistsError:
    return FileExistsError(f"{target} already exists")
