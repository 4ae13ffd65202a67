"""Nothing lost: SIGKILL + restart is bitwise-equal to an uninterrupted run (one CPU device,
op determinism on); SIGTERM saves and exits 42, and its restart is bitwise-equal too; a NaN
loss exits 3 with the last good checkpoint intact. All through the real command."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from alexnet_tf.training import checkpoints as checkpointing
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
           PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
# tiny preset, embedded digits: 1,437 training images / batch 8 = 179 steps per epoch.
STEPS_PER_EPOCH = 179
COMMAND = [sys.executable, "-m", "alexnet_tf.train", "--preset=tiny", "--epochs=1",
           "--deterministic", "--precision=float32", "--progress=false", "--steps_per_call=10",
           "--checkpoint_every_steps=20"]


def _start(workdir, *extra):
    return subprocess.Popen([*COMMAND, f"--workdir={workdir}", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)


def _finish(process, timeout=600):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def _sha(stdout):
    return [l.split()[-1] for l in stdout.splitlines() if l.startswith("weights sha256:")][-1]


def _listed_steps(workdir):
    try:
        names = json.loads((workdir / "checkpoints" / "latest.json").read_text())["checkpoints"]
    except (OSError, ValueError):
        return []
    return [int(name.split("-")[1]) for name in names]


def _wait_for_checkpoint(process, workdir, predicate, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        steps = _listed_steps(workdir)
        if steps and predicate(steps[0]):
            return steps[0]
        if process.poll() is not None:
            pytest.fail(f"training ended before the checkpoint: {process.stderr.read()[-3000:]}")
        time.sleep(0.02)
    process.kill()
    pytest.fail("no checkpoint appeared in time")


MIRRORED = ("--strategy=mirrored", "--cpu_devices=2")
_UNINTERRUPTED = {}


def _uninterrupted(tmp_path_factory, *extra):
    if extra not in _UNINTERRUPTED:
        workdir = tmp_path_factory.mktemp("uninterrupted")
        code, out, err = _finish(_start(workdir, *extra))
        assert code == 0, err[-3000:]
        _UNINTERRUPTED[extra] = _sha(out)
    return _UNINTERRUPTED[extra]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return _uninterrupted(tmp_path_factory)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [(), MIRRORED], ids=["single", "mirrored"])
def test_sigkill_mid_epoch_then_restart_is_bitwise_equal(tmp_path, tmp_path_factory, extra):
    """Also under MirroredStrategy on two logical CPUs (observed, with op determinism)."""
    expected = _uninterrupted(tmp_path_factory, *extra)
    process = _start(tmp_path, *extra)
    step = _wait_for_checkpoint(process, tmp_path, lambda s: 40 <= s <= 120)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    code, out, err = _finish(_start(tmp_path, *extra))
    assert code == 0, err[-3000:]
    assert "resumed from" in out and f"of {STEPS_PER_EPOCH}" in out
    assert _sha(out) == expected, f"killed after checkpoint {step}"


@pytest.mark.slow
def test_sigterm_saves_exits_42_and_the_restart_is_bitwise_equal(tmp_path, uninterrupted):
    process = _start(tmp_path)
    first = _wait_for_checkpoint(process, tmp_path, lambda s: s >= 20)
    process.send_signal(signal.SIGTERM)
    code, out, err = _finish(process)
    assert code == 42, err[-3000:]
    saved = _listed_steps(tmp_path)[0]
    assert first < saved < STEPS_PER_EPOCH and "stopped by SIGTERM" in out
    code, out, err = _finish(_start(tmp_path))
    assert code == 0, err[-3000:]
    assert f"step {saved} of {STEPS_PER_EPOCH}" in out
    assert _sha(out) == uninterrupted


@pytest.mark.slow
def test_nan_loss_exits_3_with_the_last_good_checkpoint_intact(tmp_path):
    code, out, err = _finish(_start(tmp_path, "--nan_at_step=50"))
    assert code == 3
    assert "NaN or infinite" in err and "ckpt-40" in err and "Traceback" not in err
    assert _listed_steps(tmp_path)[0] == 40
    assert not (tmp_path / "model.keras").exists()
    model = checkpointing.load_model(tmp_path)
    assert all(np.isfinite(v.numpy()).all() for v in model.variables)


@pytest.mark.slow
def test_sigterm_during_start_up_exits_42_before_anything_is_written(tmp_path):
    """The signal lands while the package is still importing Keras (it used to kill the
    process: -15); the command stops before writing anything."""
    process = subprocess.Popen([sys.executable, "-X", "importtime", *COMMAND[1:],
                                f"--workdir={tmp_path}"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
    # -X importtime reports each module when its import ends: the layers' comes while the
    # package is still importing, long before the first training step. (TensorFlow's and
    # Keras' own lines are not seen: the command imports them with stderr set aside.)
    while True:
        line = process.stderr.readline()
        if not line or line.split("|")[-1].strip() == "alexnet_tf.network.layers":
            break
    assert line, "the command ended before importing its layers"
    process.send_signal(signal.SIGTERM)
    code, out, err = _finish(process)
    assert code == 42, err[-3000:]
    assert "stopped by SIGTERM during start-up" in out and "Traceback" not in err
    assert not (tmp_path / "config.json").exists() and not _listed_steps(tmp_path)


@pytest.mark.slow
def test_sigterm_while_the_finished_command_exits_keeps_its_exit_status(tmp_path):
    """The interpreter's shutdown (over a second after TensorFlow) put the default handler
    back: a SIGTERM landing there turned a completed run's 0 into -15."""
    process = _start(tmp_path, "--max_steps=2")
    for line in process.stdout:
        if line.startswith("weights sha256:"):  # the last line main prints
            break
    time.sleep(0.3)  # main has returned; the process is shutting down (or already gone)
    process.send_signal(signal.SIGTERM)
    code, out, err = _finish(process)
    assert code == 0, err[-3000:]


@pytest.mark.parametrize("argv, expected", [
    (["python", "-m", "alexnet_tf.train", "--preset=tiny"], True),
    (["python", "-u", "-X", "importtime", "-malexnet_tf.train"], True),
    (["python", "-Bum", "alexnet_tf.train"], True),
    (["/venv/bin/python", "/venv/bin/alexnet-train", "--epochs=1"], True),  # console script
    (["python", "-m", "tools.experiments", "--output=x"], True),   # a grid of training runs
    (["/venv/bin/python", "/venv/bin/alexnet-experiments"], True),
    (["python", "-m", "alexnet_tf.evaluate"], False),
    (["python", "-c", "import alexnet_tf", "-m", "alexnet_tf.train"], False),
    (["python", "/venv/bin/pytest", "-m", "alexnet_tf.train"], False),
])
def test_the_package_catches_signals_early_only_for_the_training_command(
        monkeypatch, argv, expected):
    from alexnet_tf import command
    monkeypatch.setattr(sys, "orig_argv", argv)
    assert (command.command_being_run() in command.TRAINING_COMMANDS) is expected


def _image_folder_with_bad_files(root):
    """50 training files, 9 of them unreadable (empty, truncated, text named .jpg): 41 good
    ones give 5 batches of 8 where 50 // 8 = 6 were estimated."""
    from PIL import Image
    rng = np.random.RandomState(0)
    for split, count in (("train", 50), ("val", 4)):
        for i in range(count):
            folder = root / split / "ab"[i % 2]
            folder.mkdir(parents=True, exist_ok=True)
            pixels = rng.randint(0, 256, (80, 90, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.jpg")
            if split == "train" and i % 5 == 0 and i < 45:
                kind = i // 5 % 3
                path = folder / f"{i}.jpg"
                good = path.read_bytes()
                path.write_bytes([b"", good[:len(good) // 2], b"not an image\n" * 9][kind])
    return root


def _history(workdir):
    return [(row["epoch"], row["global_step"], row["steps"], row["skipped_files"])
            for row in json.loads((workdir / "history.json").read_text())]


@pytest.mark.slow
def test_an_image_folder_with_bad_files_ends_each_epoch_at_its_data_and_resumes_bitwise(
        tmp_path):
    """Epochs of 5 steps where 6 were estimated: the run used to read past the end and
    crash at the first epoch end (OutOfRangeError), and again on every restart. Stopped
    at step 5 (epoch 1's data done, its end not yet seen) and at step 7 (mid-epoch 2),
    the resumed run ends bitwise where an uninterrupted one does."""
    data = _image_folder_with_bad_files(tmp_path / "data")
    folder = ("--epochs=2", "--set", "data.dataset=folder", "--set", f"data.data_dir={data}",
              "--set", "model.num_classes=2")
    code, out, err = _finish(_start(tmp_path / "uninterrupted", *folder))
    assert code == 0, err[-3000:]
    expected, history = _sha(out), _history(tmp_path / "uninterrupted")
    assert [row[:3] for row in history] == [(1, 5, 5), (2, 10, 5)]
    assert all(0 < row[3] <= 9 for row in history), history
    assert "5 steps, not the 6 estimated" in out
    for max_steps in (5, 7):
        code, out, err = _finish(_start(tmp_path / "resumed", *folder,
                                        f"--max_steps={max_steps}"))
        assert code == 0 and f"{max_steps} steps" in out, err[-3000:]
    code, out, err = _finish(_start(tmp_path / "resumed", *folder))
    assert code == 0, err[-3000:]
    assert "resumed from" in out and _sha(out) == expected
    assert _history(tmp_path / "resumed") == history
