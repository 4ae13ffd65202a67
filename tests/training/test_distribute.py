"""Strategies on logical CPU devices: the same step as one device, placement, portability."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
           PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))


def _run_script(tmp_path, cpu_devices, modes):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "support", "strategy_step_script.py"),
         str(cpu_devices), str(tmp_path), *modes], capture_output=True, text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    line = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _assert_same_weights(out, mode, reference="single"):
    for a, b in zip(out["weights"][reference], out["weights"][mode]):
        np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-5, atol=1e-6)
    changed = any(not np.array_equal(np.array(a), np.array(b)) for a, b in
                  zip(out["weights"][reference], out["weights"]["single"]))
    assert not changed


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory):
    return _run_script(tmp_path_factory.mktemp("two"), 2, ["single", "towers", "mirrored"])


@pytest.mark.slow
def test_towers_and_mirrored_match_a_single_device_step(two_devices):
    assert two_devices["replicas"] == {"single": 1, "towers": 1, "mirrored": 2}
    _assert_same_weights(two_devices, "towers")
    _assert_same_weights(two_devices, "mirrored")


def test_towers_split_every_layer_over_both_devices(two_devices):
    assert two_devices["devices"]["towers"] == {"0": ["device:CPU:0", "device:CPU:1"]}


def test_checkpoints_move_between_modes_bitwise(two_devices):
    assert two_devices["restored_bitwise"] == {
        "single->towers": True, "towers->mirrored": True, "mirrored->single": True}


def test_a_call_stops_where_the_data_ends_in_every_mode(two_devices):
    """56 images hold 56 // 16 = 3 global batches: a 4th step would read past the end
    (single) or train one replica on nothing (mirrored)."""
    assert two_devices["steps_until_data_end"] == {"single": 3, "towers": 3, "mirrored": 3}


@pytest.mark.slow
def test_towers_inside_mirrored_replicas_on_four_devices(tmp_path):
    out = _run_script(tmp_path, 4, ["single", "towers_mirrored"])
    assert out["steps_until_data_end"] == {"single": 3, "towers_mirrored": 3}
    assert out["replicas"]["towers_mirrored"] == 2
    _assert_same_weights(out, "towers_mirrored")
    # Replica 0's channel halves on CPU:0/1, replica 1's on CPU:2/3 (§3.2 inside each replica).
    assert out["devices"]["towers_mirrored"] == {"0": ["device:CPU:0", "device:CPU:1"],
                                                 "1": ["device:CPU:2", "device:CPU:3"]}
    assert all(out["restored_bitwise"].values())


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_two_processes_on_loopback_end_with_the_same_weights(tmp_path):
    workers = [f"localhost:{_free_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "alexnet_tf.train", "--preset=tiny", "--epochs=1",
             "--strategy=multi_worker", "--max_steps=12", "--checkpoint_every_steps=5",
             "--steps_per_call=5", "--progress=false", f"--workdir={tmp_path / 'run'}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env=dict(ENV, TF_CONFIG=json.dumps(tf_config))))
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        outputs.append(out)
    shas = [[l for l in out.splitlines() if l.startswith("weights sha256:")][0] for out in outputs]
    assert shas[0] == shas[1]
    assert "2 replica(s), worker 0 of 2" in outputs[0] and "worker 1 of 2" in outputs[1]
    # Only the chief (worker 0) wrote: one set of checkpoints, the last at max_steps.
    latest = json.loads((tmp_path / "run" / "checkpoints" / "latest.json").read_text())
    assert latest["checkpoints"][0] == "ckpt-12"
    assert (tmp_path / "run" / "model.keras").exists()
