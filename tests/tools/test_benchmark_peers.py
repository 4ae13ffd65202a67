"""The benchmark's peers are the project's own files, and a peer that cannot run is one
line of the table saying how to install it (no timing here: nothing is measured)."""
import pathlib
import sys

from alexnet_tf.tools import benchmark
from alexnet_tf.tools._benchmark_report import derived, table

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_every_peer_script_is_in_the_repository_outside_the_packages():
    assert benchmark.PEERS_DIR == REPO / "bench" / "peers"
    for peer in benchmark.PEERS:
        assert (REPO / "bench" / "peers" / peer.script).is_file(), peer.script
    assert benchmark.PEER_ENV_PYTHON == REPO / ".peers" / "torch" / "bin" / "python"
    assert not (REPO / "bench" / "__init__.py").exists()   # never a package of the wheel


def test_the_peers_interpreter_is_never_tensorflows():
    assert benchmark._peer_python() == str(REPO / ".peers" / "torch" / "bin" / "python")
    assert benchmark._peer_python("/some/python") == "/some/python"
    # relative to where the command was started, not to where the peers run
    assert benchmark._peer_python("env/bin/python") == str(pathlib.Path.cwd() / "env/bin/python")


def test_missing_peers_are_one_line_each_naming_the_setup_script(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark, "PEER_ENV_PYTHON", tmp_path / "no-env" / "bin" / "python")
    only = ["torch_train_b64", "torch_compile_train_b64", "onnxruntime_infer_b64"]
    rows = benchmark.measure(quick=True, only=only, peer_python=None)
    assert rows == {
        "torch_missing": {"note": "PyTorch peer: not installed — run bench/setup_peers.sh"},
        "torch_compile_missing": {
            "note": "torch.compile peer: not installed — run bench/setup_peers.sh"},
        "onnxruntime_missing": {
            "note": "ONNX Runtime peer: not installed — run bench/setup_peers.sh"}}
    lines = table(rows, derived(rows)).splitlines()
    assert sum("not installed" in line for line in lines) == 3


def test_an_interpreter_without_the_peers_modules_is_named(tmp_path):
    peer = benchmark.Peer("ghost", "Ghost peer", "torch_alexnet.py",
                          imports=("a_module_no_environment_has_0123",))
    note = benchmark.peer_status(peer, sys.executable)
    assert note == (f"Ghost peer: {sys.executable} cannot import "
                    "a_module_no_environment_has_0123 — run bench/setup_peers.sh")
    absent = str(tmp_path / "python")
    assert benchmark.peer_status(peer, absent) == \
        f"Ghost peer: --peer_python={absent} does not exist"
    # the naive Keras peer runs with this interpreter and needs nothing more
    keras_peer = next(p for p in benchmark.PEERS if p.name == "keras_naive")
    assert benchmark.peer_status(keras_peer, sys.executable) is None


def test_a_peer_that_fails_is_one_line_naming_the_row_and_its_error(tmp_path):
    fake = tmp_path / "python"   # imports anything, then fails every measurement
    fake.write_text('#!/bin/sh\n[ "$1" = "-c" ] && exit 0\n'
                    'echo "Traceback (most recent call last):" >&2\n'
                    'echo "RuntimeError: boom" >&2\nexit 1\n')
    fake.chmod(0o755)
    rows = benchmark.measure(quick=True, only=["torch_train_b64", "onnxruntime_latency_b1"],
                             peer_python=str(fake))
    assert rows == {
        "torch_train_b64": {"note": "PyTorch peer, torch_train_b64: failed — RuntimeError: boom"},
        "onnxruntime_latency_b1": {
            "note": "ONNX Runtime peer, onnxruntime_latency_b1: failed — RuntimeError: boom"}}
