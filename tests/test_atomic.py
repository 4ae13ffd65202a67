"""`alexnet_tf.atomic`: a published file or directory is the old one or the new one, never
part of one; nothing of a failed or killed write stays (after `remove_temporaries`); a full
disk is one `DiskFullError` naming the target; files get the usual permissions.

The references are independent of the module: payloads the test made, hand-listed names,
`0o666 & ~umask`, a real full filesystem (a small tmpfs, when root)."""
import contextlib
import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading

import faults
import numpy as np
import pytest

from alexnet_tf import atomic, command

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Loads alexnet_tf/atomic.py without the package's __init__ (which imports TensorFlow): the
# module stands alone, and a child process starts in a fraction of a second.
STANDALONE = textwrap.dedent(f"""
    import importlib, sys, types
    package = types.ModuleType("alexnet_tf")
    package.__path__ = [{os.path.join(REPO, "alexnet_tf")!r}]
    sys.modules["alexnet_tf"] = package
    atomic = importlib.import_module("alexnet_tf.atomic")
    assert "tensorflow" not in sys.modules, "alexnet_tf.atomic imported TensorFlow"
""")


def _child(body: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", STANDALONE + textwrap.dedent(body),
                             *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@contextlib.contextmanager
def _umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# --- readers, killed writers, concurrent writers ---------------------------------------

def test_a_reader_never_sees_a_partial_file(tmp_path):
    target = tmp_path / "big.bin"
    payloads = [bytes([65 + i]) * (1 << 20) for i in range(2)]   # 1 MB of A, 1 MB of B
    atomic.publish(target, payloads[0])
    finished, seen, wrong = threading.Event(), [], []

    def read():
        while not finished.is_set():
            data = target.read_bytes()
            seen.append(data[:1])
            if data not in payloads:
                wrong.append((len(data), data[:1], data[-1:]))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(200):
            atomic.publish(target, payloads[i % 2])
    finally:
        finished.set()
        reader.join()
    assert wrong == []
    assert len(seen) > 1 and sorted(os.listdir(tmp_path)) == ["big.bin"]


def test_a_writer_killed_mid_write_leaves_the_old_or_the_new_file(tmp_path):
    """SIGKILL while the child is writing (its temporary file exists): the target is one
    of the complete payloads, and `remove_temporaries` takes what the kill left."""
    target = tmp_path / "model.bin"
    size = 8 << 20
    payloads = [bytes([ord("a") + i]) * size for i in range(2)]
    target.write_bytes(payloads[0])
    killed_mid_write = 0
    for _ in range(3):
        child = _child("""
            import os, sys
            target, size = sys.argv[1], int(sys.argv[2])
            print("ready", flush=True)
            i = 1
            while True:
                atomic.publish(target, bytes([ord("a") + i % 2]) * size)
                i += 1
        """, target, size)
        assert child.stdout.readline() == "ready\n", child.stderr.read()
        while not any(name != target.name for name in os.listdir(tmp_path)):
            assert child.poll() is None, child.stderr.read()
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()
        left = [name for name in os.listdir(tmp_path) if name != target.name]
        killed_mid_write += bool(left)
        assert target.read_bytes() in payloads
        assert atomic.remove_temporaries(tmp_path, [target.name]) == left
        assert os.listdir(tmp_path) == [target.name]
    assert killed_mid_write >= 1       # at least one kill landed while a write was under way


def test_two_writers_never_share_a_temporary_name(tmp_path):
    target = tmp_path / "shared.json"
    contents = [("{" + f'"writer": {i}, "pad": "' + str(i) * 100_000 + '"}').encode()
                for i in range(2)]
    names = [[], []]
    barrier = threading.Barrier(2)

    def write(i):
        barrier.wait()
        for _ in range(100):
            with atomic.publishing(target) as temporary:
                names[i].append(temporary.name)
                temporary.write_bytes(contents[i])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(names[0]) | set(names[1])) == 200          # every name used once
    assert target.read_bytes() in contents
    assert os.listdir(tmp_path) == [target.name]


def test_two_writer_processes_leave_one_complete_file(tmp_path):
    target = tmp_path / "out.json"
    body = """
        import sys
        target, i = sys.argv[1], int(sys.argv[2])
        for _ in range(100):
            atomic.publish(target, str(i) * 300_000)
    """
    children = [_child(body, target, i) for i in range(2)]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    assert target.read_text() in ("0" * 300_000, "1" * 300_000)
    assert os.listdir(tmp_path) == [target.name]


# --- names, extensions, permissions ------------------------------------------------------

def test_a_writer_given_a_path_gets_the_targets_extension(tmp_path):
    target = tmp_path / "statistics.npz"
    with atomic.publishing(target) as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".npz"
        assert temporary.name.startswith(".statistics.npz.")
        np.savez(temporary, x=np.arange(5))       # would write <name>.npz without it
    with np.load(target) as data:
        assert data["x"].tolist() == [0, 1, 2, 3, 4]
    assert os.listdir(tmp_path) == ["statistics.npz"]


def test_a_keras_model_saves_through_a_temporary_path(tmp_path):
    import keras
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    target = tmp_path / "model.keras"
    with atomic.publishing(target) as temporary:
        model.save(temporary)                     # Keras refuses a path not ending in .keras
    loaded = keras.models.load_model(target)
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    assert os.listdir(tmp_path) == ["model.keras"]


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_published_files_and_directories_get_the_usual_permissions(tmp_path, mask):
    with _umask(mask):
        atomic.publish(tmp_path / "a.json", "{}")
        with atomic.publishing(tmp_path / "b.npy") as temporary:
            np.save(temporary, np.zeros(3))
        with atomic.publishing_directory(tmp_path / "1") as staging:
            open(os.path.join(staging, "saved_model.pb"), "wb").close()
    mode = lambda name: stat.S_IMODE(os.stat(tmp_path / name).st_mode)  # noqa: E731
    assert mode("a.json") == mode("b.npy") == 0o666 & ~mask
    assert mode("1") == 0o777 & ~mask


def test_temporary_names_are_recognised_and_nothing_else_is_removed(tmp_path):
    ours = [".a.json.k2j4.tmp", ".a.json.1f0c9e2d.tmp", ".model.keras.x81q0a2b.tmp.keras",
            ".5.0a1b2c3d.tmp"]
    others = ["a.json", ".a.json.bak", "notes.tmp", ".b.json.1f0c9e2d.tmp", "a.json.tmp",
              ".a.json.1f0c9e2d.tmp.keras", ".model.keras.tmp", "x.a.json.1234.tmp"]
    for name in ours + others:
        (tmp_path / name).write_text("x")
    (tmp_path / ".5.0a1b2c3d.tmp").unlink()
    (tmp_path / ".5.0a1b2c3d.tmp").mkdir()                       # a staging directory
    (tmp_path / ".5.0a1b2c3d.tmp" / "saved_model.pb").write_text("half")
    removed = atomic.remove_temporaries(tmp_path, ["a.json", "model.keras", "5"])
    assert sorted(removed) == sorted(ours)
    assert sorted(os.listdir(tmp_path)) == sorted(others)


def test_a_target_with_a_long_name_is_published(tmp_path):
    target = tmp_path / ("x" * 250 + ".keras")              # 256 bytes: NAME_MAX is 255
    target = target.with_name(target.name[1:])
    with atomic.publishing(target) as temporary:
        assert len(temporary.name.encode()) <= 255 and temporary.suffix == ".keras"
        temporary.write_text("model")
        left = temporary.name
    assert target.read_text() == "model"
    (tmp_path / left).write_text("what a kill would leave")
    assert atomic.remove_temporaries(tmp_path, [target.name]) == [left]


# --- failures ----------------------------------------------------------------------------

def test_an_error_inside_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("previous")
    with pytest.raises(RuntimeError, match="writer failed"):
        with atomic.publishing(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("writer failed")
    with pytest.raises(KeyboardInterrupt):
        with atomic.publishing_directory(tmp_path / "2") as staging:
            open(os.path.join(staging, "x"), "w").close()
            raise KeyboardInterrupt
    assert target.read_text() == "previous" and os.listdir(tmp_path) == ["model.keras"]


def test_errors_name_the_target_not_the_temporary_file(tmp_path):
    (tmp_path / "results.json").mkdir()           # --output=<a folder>
    with pytest.raises(IsADirectoryError) as raised:
        atomic.publish(tmp_path / "results.json", "{}")
    assert str(raised.value) == f"[Errno 21] Is a directory: '{tmp_path / 'results.json'}'"
    with pytest.raises(FileNotFoundError) as raised:
        atomic.publish(tmp_path / "missing" / "results.json", "{}")
    assert raised.value.filename == str(tmp_path / "missing" / "results.json")
    assert os.listdir(tmp_path) == ["results.json"]


def test_a_full_disk_keeps_the_previous_file_and_names_the_target(tmp_path, monkeypatch):
    target = tmp_path / "history.json"
    target.write_text("previous")
    faults.disk_fills_on_writes(monkeypatch)
    with pytest.raises(atomic.DiskFullError) as raised:
        atomic.publish(target, "new " * 1000)
    assert str(raised.value) == f"disk full writing {target}"
    assert raised.value.filename == str(target) and raised.value.errno == errno.ENOSPC
    assert target.read_text() == "previous" and os.listdir(tmp_path) == ["history.json"]


@pytest.mark.parametrize("failure", ["oserror", "tensorflow"])
def test_a_writer_on_a_full_disk_raises_one_disk_full_error(tmp_path, failure):
    import tensorflow as tf
    target = tmp_path / "train-00000-of-00001.tfrecord"
    target.write_text("previous")
    with pytest.raises(atomic.DiskFullError) as raised:
        with atomic.publishing(target) as temporary:
            temporary.write_text("half")
            if failure == "oserror":
                raise OSError(errno.ENOSPC, faults.NO_SPACE, str(temporary))
            raise tf.errors.ResourceExhaustedError(None, None, f"{temporary}; {faults.NO_SPACE}")
    assert str(raised.value) == f"disk full writing {target}"   # not the temporary name
    assert target.read_text() == "previous" and os.listdir(tmp_path) == [target.name]
    with pytest.raises(atomic.DiskFullError, match=f"disk full writing {tmp_path / '3'}$"):
        with atomic.publishing_directory(tmp_path / "3") as staging:
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), staging)
    assert os.listdir(tmp_path) == [target.name]


def test_disk_full_is_recognised_in_python_and_tensorflow_words():
    import tensorflow as tf
    assert atomic.is_disk_full(OSError(errno.ENOSPC, faults.NO_SPACE))
    assert atomic.is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert atomic.is_disk_full(OSError(f"Unable to create file (errno = 28, error message = "
                                       f"'{faults.NO_SPACE}')"))                    # h5py's words
    tf_error = tf.errors.ResourceExhaustedError(None, None, f"/x/t/a.tmp; {faults.NO_SPACE}")
    assert atomic.is_disk_full(tf_error) and atomic.full_path(tf_error) == "/x/t/a.tmp"
    assert not atomic.is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not atomic.is_disk_full(ValueError(faults.NO_SPACE))
    assert not atomic.is_disk_full(tf.errors.NotFoundError(None, None, "/x: not found"))


def test_a_command_prints_a_full_disk_in_one_line_and_exits_2(capsys):
    def main(args):
        raise atomic.DiskFullError("/runs/a/model.keras", "the last checkpoint is intact")

    assert issubclass(atomic.DiskFullError, command.UserError)
    assert command.run("test_atomic", lambda flags: None, main, argv=["prog"]) == 2
    assert capsys.readouterr().err == ("error: disk full writing /runs/a/model.keras; the "
                                       "last checkpoint is intact\n")


# --- directories -------------------------------------------------------------------------

def test_a_directory_is_never_published_over_an_existing_one(tmp_path):
    (tmp_path / "1").mkdir()                      # empty: rename(2) alone would replace it
    (tmp_path / "2").write_text("a file")
    for name in ("1", "2"):
        with pytest.raises(FileExistsError, match=f"{tmp_path / name} already exists"):
            with atomic.publishing_directory(tmp_path / name) as staging:
                open(os.path.join(staging, "saved_model.pb"), "w").close()
    assert os.listdir(tmp_path / "1") == [] and (tmp_path / "2").read_text() == "a file"
    assert sorted(os.listdir(tmp_path)) == ["1", "2"]
    with atomic.publishing_directory(tmp_path / "3") as staging:
        os.makedirs(os.path.join(staging, "variables"))
        open(os.path.join(staging, "variables", "variables.index"), "w").close()
    assert os.listdir(tmp_path / "3" / "variables") == ["variables.index"]
    assert sorted(os.listdir(tmp_path)) == ["1", "2", "3"]


# --- a real full disk --------------------------------------------------------------------

@pytest.fixture
def tiny_tmpfs(tmp_path):
    with faults.tmpfs(tmp_path / "tiny", "64k") as mount:
        yield mount


def test_a_real_full_disk_keeps_the_previous_files(tiny_tmpfs):
    target = tiny_tmpfs / "config.json"
    atomic.publish(target, "previous")
    big = b"x" * (100 << 10)                      # more than the whole filesystem
    with pytest.raises(atomic.DiskFullError, match=f"^disk full writing {target}$"):
        atomic.publish(target, big)
    array = tiny_tmpfs / "features.npy"
    with pytest.raises(atomic.DiskFullError, match=f"^disk full writing {array}$"):
        with atomic.publishing(array) as temporary:    # NumPy: "... requested and ... written"
            np.save(temporary, np.zeros(100 << 10, np.uint8))
    with pytest.raises(atomic.DiskFullError, match=f"disk full writing {tiny_tmpfs / '1'}$"):
        with atomic.publishing_directory(tiny_tmpfs / "1") as staging:
            with open(os.path.join(staging, "variables.data"), "wb") as f:
                f.write(big)
    assert target.read_text() == "previous" and os.listdir(tiny_tmpfs) == ["config.json"]
    atomic.publish(target, "new")                 # the space the failures took is free again
    assert target.read_text() == "new" and os.listdir(tiny_tmpfs) == ["config.json"]
