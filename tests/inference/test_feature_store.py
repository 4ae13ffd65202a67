"""`alexnet_tf.inference.feature_store` publishes its files whole: replacing a store never
changes the arrays a reader has mapped, a run killed while creating a store leaves no
store (the next one starts afresh), and what a killed run left half-written is removed."""
import os
import subprocess
import sys
import textwrap

import faults
import numpy as np
import pytest

from alexnet_tf.inference import feature_store
from alexnet_tf.inference.feature_store import FeatureStore, FeatureStoreWriter

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _keys(n, tag):
    return [f"{tag}/{i:03d}.png" for i in range(n)]


def _complete_store(directory, features, tag, **kwargs):
    writer = FeatureStoreWriter(directory, _keys(len(features), tag), dim=features.shape[1],
                                dtype="float32", **kwargs)
    writer.write(0, features, labels=np.arange(len(features)))
    return writer.close()


def test_replacing_a_store_leaves_a_readers_arrays_as_they_were(tmp_path):
    rng = np.random.default_rng(0)
    old, new = rng.normal(size=(2, 20, 6)).astype(np.float32)
    reader = _complete_store(tmp_path / "store", old, "old")
    replaced = _complete_store(tmp_path / "store", new, "new", overwrite=True)
    np.testing.assert_array_equal(reader.features, old)     # mapped before: the old file
    np.testing.assert_array_equal(reader.labels, np.arange(20))
    np.testing.assert_array_equal(replaced.features, new)
    assert FeatureStore(tmp_path / "store").keys == _keys(20, "new")


def test_a_store_whose_creation_was_killed_is_no_store(tmp_path, monkeypatch):
    old = np.ones((10, 4), np.float32)
    _complete_store(tmp_path / "store", old, "old")
    real = np.lib.format.open_memmap

    def killed_at_labels(path, *args, **kwargs):
        if feature_store.LABELS_FILE in os.fspath(path):
            raise KeyboardInterrupt
        return real(path, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "open_memmap", killed_at_labels)
    with pytest.raises(KeyboardInterrupt):
        FeatureStoreWriter(tmp_path / "store", _keys(10, "new"), dim=4, dtype="float32",
                           overwrite=True)
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError, match="not a feature store"):
        FeatureStore(tmp_path / "store")          # never the old rows under the new keys
    writer = FeatureStoreWriter(tmp_path / "store", _keys(10, "new"), dim=4, dtype="float32")
    assert writer.written == 0
    writer.write(0, np.full((10, 4), 2, np.float32))
    np.testing.assert_array_equal(writer.close().features, np.full((10, 4), 2))


def test_what_a_killed_run_left_half_written_is_removed(tmp_path):
    features = np.arange(30, dtype=np.float32).reshape(10, 3)
    writer = FeatureStoreWriter(tmp_path / "store", _keys(10, "k"), dim=3, dtype="float32")
    writer.write(0, features[:4])
    del writer                                    # killed; it left these behind:
    debris = [".meta.json.0a1b2c3d.tmp", ".features.npy.9f8e7d6c.tmp.npy"]
    for name in debris:
        (tmp_path / "store" / name).write_bytes(b"half")
    (tmp_path / "store" / "notes.txt").write_text("the user's")
    writer = FeatureStoreWriter(tmp_path / "store", _keys(10, "k"), dim=3, dtype="float32")
    assert writer.written == 4
    writer.write(4, features[4:])
    np.testing.assert_array_equal(writer.close().features, features)
    assert sorted(os.listdir(tmp_path / "store")) == [
        "features.npy", "keys.txt", "labels.npy", "meta.json", "notes.txt", "valid.npy"]


def test_a_store_too_big_for_the_disk_fails_at_once_in_one_error(tmp_path):
    """On a 1 MB tmpfs, a 4 MB store: one DiskFullError naming features.npy when it is
    created, not a SIGBUS (the process killed without a word) when rows reach the end of
    the disk; and no store is left."""
    with faults.tmpfs(tmp_path / "small", "1m") as mount:
        _a_store_too_big_for(mount)


def _a_store_too_big_for(mount):
    script = textwrap.dedent(f"""
        import numpy as np
        from alexnet_tf.inference.feature_store import FeatureStoreWriter
        writer = FeatureStoreWriter({str(mount / "store")!r}, [f"k{{i}}" for i in range(1000)],
                                    dim=1024, dtype="float32")
        for start in range(0, 1000, 100):
            writer.write(start, np.ones((100, 1024), np.float32))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), timeout=300)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert done.stderr.strip().splitlines()[-1] == (
        f"alexnet_tf.atomic.DiskFullError: disk full writing {mount / 'store'}/features.npy")
    with pytest.raises(FileNotFoundError, match="not a feature store"):
        FeatureStore(mount / "store")
    assert os.listdir(mount / "store") == ["keys.txt"]
