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

from alexnet_tf import checkpointing

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
           PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
# tiny preset, embedded digits: 1,437 training images / batch 8 = 179 steps per epoch.
STEPS_PER_EPOCH = 179
COMMAND = [sys.executable, "-m", "alexnet_tf.train", "--preset=tiny", "--epochs=1",
           "--deterministic", "--progress=false", "--steps_per_call=10",
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


def test_nan_loss_exits_3_with_the_last_good_checkpoint_intact(tmp_path):
    code, out, err = _finish(_start(tmp_path, "--nan_at_step=50"))
    assert code == 3
    assert "NaN or infinite" in err and "ckpt-40" in err and "Traceback" not in err
    assert _listed_steps(tmp_path)[0] == 40
    assert not (tmp_path / "model.keras").exists()
    model = checkpointing.load_model(tmp_path)
    assert all(np.isfinite(v.numpy()).all() for v in model.variables)
