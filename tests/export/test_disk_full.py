"""A full disk while exporting: one `error:` line naming the file, what is still intact, exit
code 2; the published version and the files written before stay as they were, and nothing
half-written (no staging directory, no temporary file) is left behind.

In-process tests make one write fail with ENOSPC as the OS or TensorFlow reports it; the
tmpfs tests fill a real small filesystem and run the commands (they need root to mount)."""
import errno
import hashlib
import os

import faults
import numpy as np
import pytest
import tensorflow as tf

import tools_support
from alexnet_tf import atomic
from alexnet_tf.export import saved_model, server_config, serving_export
from alexnet_tf.export import tflite_conversion as tflite, warmup
from alexnet_tf.inference import loader
from alexnet_tf.export.serving_export import export_saved_model



def _contents(folder):
    """{relative path: sha256} of every file under `folder` (directories included as '')."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            found[os.path.relpath(os.path.join(root, name), folder) + "/"] = ""
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                found[os.path.relpath(os.path.join(root, name), folder)] = \
                    hashlib.sha256(f.read()).hexdigest()
    return found


@pytest.fixture(scope="module")
def trained():
    return tools_support.tiny_trained([120.0, 115.0, 100.0])


@pytest.mark.slow
def test_disk_full_mid_version_keeps_the_published_one(tmp_path, trained, monkeypatch):
    base = tmp_path / "models" / "alexnet"
    first = export_saved_model(trained, base, verify=False)
    before = _contents(tmp_path)
    real_write = warmup.write_warmup_file

    def warmup_fills_the_disk(version_dir, requests):     # TF's own words for ENOSPC
        path = real_write(version_dir, requests)
        raise tf.errors.ResourceExhaustedError(None, None, f"{path}; {faults.NO_SPACE}")

    monkeypatch.setattr(warmup, "write_warmup_file", warmup_fills_the_disk)
    with pytest.raises(atomic.DiskFullError) as raised:
        export_saved_model(trained, base, verify=False)
    message = str(raised.value)
    assert message.startswith("disk full writing ") and "tf_serving_warmup_requests" in message
    assert f"published versions are intact (latest: {first['path']})" in message, message
    assert _contents(tmp_path) == before                  # v1 and the config files as they were


def test_disk_full_before_anything_was_published(tmp_path, trained, monkeypatch):
    def fills(version_dir, *args):
        raise OSError(errno.ENOSPC, faults.NO_SPACE, os.path.join(version_dir, "x"))

    monkeypatch.setattr(serving_export, "_write_export_info", fills)
    with pytest.raises(atomic.DiskFullError,
                       match="no version had been published under .*alexnet before"):
        export_saved_model(trained, tmp_path / "alexnet", verify=False)
    assert os.listdir(tmp_path / "alexnet") == []


@pytest.mark.slow
def test_disk_full_writing_the_server_config(tmp_path, trained, monkeypatch):
    base = tmp_path / "models" / "alexnet"
    export_saved_model(trained, base, verify=False)
    config_before = (tmp_path / "models" / server_config.MODELS_CONFIG_FILE).read_text()
    faults.disk_fills_on_writes(monkeypatch)
    with pytest.raises(atomic.DiskFullError) as raised:
        export_saved_model(trained, base, verify=False)
    config_path = tmp_path / "models" / server_config.MODELS_CONFIG_FILE
    assert str(raised.value) == (f"disk full writing {config_path}; {base / '2'} was "
                                 f"published and is complete, {config_path} was left as it was")
    assert sorted(os.listdir(base)) == ["1", "2"]
    assert config_path.read_text() == config_before
    assert sorted(os.listdir(tmp_path / "models")) == [
        "alexnet", server_config.BATCHING_FILE, server_config.MODELS_CONFIG_FILE]  # no .tmp


def test_the_command_says_one_line_and_exits_2(tmp_path, trained, monkeypatch, capsys):
    monkeypatch.setattr(loader, "load_classifier", lambda *args, **kwargs: trained)
    argv = ["alexnet-export", f"--model={tmp_path}", f"--output={tmp_path / 'm'}"]

    def fills(*args, **kwargs):
        raise atomic.DiskFullError("/x/m/1", "...")

    monkeypatch.setattr(serving_export, "export_saved_model", fills)
    assert saved_model.run(argv) == 2
    assert capsys.readouterr().err == "error: disk full writing /x/m/1; ...\n"

    def tf_fills(*args, **kwargs):       # one the exports did not word themselves
        raise tf.errors.ResourceExhaustedError(None, None, f"/x/t/a.tmp; {faults.NO_SPACE}")

    monkeypatch.setattr(serving_export, "export_saved_model", tf_fills)
    assert saved_model.run(argv) == 2
    assert capsys.readouterr().err == "error: disk full writing /x/t/a.tmp\n"

    def os_fills(*args, **kwargs):       # Python's own words
        raise OSError(errno.ENOSPC, faults.NO_SPACE, "/x/o/b.json")

    monkeypatch.setattr(serving_export, "export_saved_model", os_fills)
    assert saved_model.run(argv) == 2
    assert capsys.readouterr().err == "error: disk full writing /x/o/b.json\n"


def test_tflite_disk_full_keeps_the_earlier_files(tmp_path, trained, monkeypatch):
    images = np.random.RandomState(0).randn(4, 67, 67, 3).astype("float32")
    tflite.export_tflite(trained.model, tmp_path, calibration_images=images,
                         verification_images=images, kinds=("float32",),
                         progress=lambda _: None)
    before = _contents(tmp_path)
    faults.disk_fills_on_writes(monkeypatch)
    with pytest.raises(atomic.DiskFullError) as raised:
        tflite.export_tflite(trained.model, tmp_path, calibration_images=images,
                             verification_images=images, kinds=("float32",),
                             progress=lambda _: None)
    assert str(raised.value) == (f"disk full writing {tmp_path / 'alexnet_float32.tflite'}; "
                                 "the alexnet_float32.tflite there before (if any) is intact "
                                 "and tflite_report.json was not updated")
    assert _contents(tmp_path) == before                  # no temporary file either


# --- a real full disk -------------------------------------------------------------------

@pytest.fixture
def small_disks(tmp_path):
    """Two 4 MB tmpfs mounts (one per command, so they do not take each other's space)."""
    with faults.tmpfs(tmp_path / "a", "4m") as a, faults.tmpfs(tmp_path / "b", "4m") as b:
        yield [a, b]


def _fill(mount, leave: int):
    """Fills the filesystem at `mount` but for `leave` bytes."""
    stat = os.statvfs(mount)
    with open(mount / "filler", "wb") as f:
        f.write(b"\0" * max(stat.f_bavail * stat.f_frsize - leave, 0))


@pytest.mark.slow
def test_real_full_disk_both_commands(small_disks, tmp_path):
    served, lite = small_disks
    workdir = tools_support.make_workdir(tmp_path / "trained")
    trained = loader.load_classifier(workdir)
    base = served / "models" / "alexnet"
    first = export_saved_model(trained, base, verify=False)
    images = np.random.RandomState(0).randn(4, 67, 67, 3).astype("float32")
    tflite.export_tflite(trained.model, lite, calibration_images=images,
                         verification_images=images, kinds=("float32",),
                         progress=lambda _: None)
    # Room for a third of a version, so the next one fails part-way through its files; and
    # for the float16 file but not the float32 one written after it.
    _fill(served, leave=first["bytes"] // 3)
    _fill(lite, leave=os.path.getsize(lite / "alexnet_float32.tflite") * 3 // 4)
    before = {mount: _contents(mount) for mount in small_disks}
    runs = {
        "saved_model": tools_support.start_module(
            "export.saved_model", f"--model={workdir}", f"--output={base}", "--verify=false"),
        "tflite": tools_support.start_module(
            "export.tflite", f"--model={workdir}", f"--output={lite}",
            "--kinds=float16,float32", "--calibration_images=8", "--verification_images=8"),
    }
    results = {name: (process.wait(timeout=300), *process.communicate())
               for name, process in runs.items()}
    for name, (code, out, err) in results.items():
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 2 and "Traceback" not in err, (name, err[-3000:])
        assert len(errors) == 1 and errors[0].startswith("error: disk full writing "), errors
    assert f"published versions are intact (latest: {base / '1'})" in \
        results["saved_model"][2], results["saved_model"][2][-2000:]
    assert (f"disk full writing {lite / 'alexnet_float32.tflite'}; the "
            "alexnet_float32.tflite there before (if any) is intact and tflite_report.json "
            "was not updated (written before it: alexnet_float16.tflite)") in \
        results["tflite"][2], results["tflite"][2][-2000:]
    assert _contents(served) == before[served]       # version 1 and the server config as they were
    after = _contents(lite)
    assert after.pop("alexnet_float16.tflite")       # written whole before the disk filled
    assert after == before[lite]                     # the float32 file and the report untouched
