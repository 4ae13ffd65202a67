"""`python -m tools.benchmark` (`alexnet-benchmark`): speed and memory of the `paper`
preset beside its peers, measured in one run.

    bash bench/setup_peers.sh                  # once: the peers' own environment
    python -m tools.benchmark --output=benchmark.json
    python -m tools.benchmark --quick          # fewer steps, for a smoke run

Prints one table and writes it as JSON: training images/s (batch 64 and 128; synthetic
data, TFRecords through the input pipeline, the bare compiled step, and the training
command itself), inference images/s at batch 64 and batch-1 latency (median, p90) for the
Keras model and the exported serving signature, each in float32 and beside it in bfloat16
(`--precision=bfloat16`, a bfloat16 export), the peak resident memory of training at
batch 128, the achieved GFLOP/s against this machine's measured float32 and bfloat16
matrix-multiply ceilings, and the same rows for the peers in `bench/peers/` (PyTorch
eager in float32 and with bfloat16 autocast, `torch.compile` for training, ONNX Runtime
on the PyTorch model for inference, a naive Keras model), each of ours as a ratio to
them. The PyTorch and ONNX Runtime peers run with the interpreter of
`.peers/torch` (or `--peer_python`); a peer that is not installed is one line of the
table saying how to install it. Every figure comes from a child process of its own, so
memory and thread pools do not leak between rows. Run on an idle machine; how it measures
is in docs/performance.md.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from alexnet_tf import command
from alexnet_tf.tools._benchmark_report import FC_WEIGHTS, derived, table


def define_flags(flags):
    flags.DEFINE_string("output", "benchmark.json", "Where to write the JSON table.")
    flags.DEFINE_bool("quick", False, "Fewer steps: a smoke run, not a measurement.")
    flags.DEFINE_string("peer_python", None, "Interpreter of the PyTorch and ONNX Runtime "
                        "peers (default: .peers/torch/bin/python in the repository, made by "
                        "bench/setup_peers.sh).")
    flags.DEFINE_list("only", [], "Run only these rows (names as in the table).")
    flags.DEFINE_string("child", None, "Internal: run one measurement and print it as JSON.")
    flags.DEFINE_integer("batch", 64, "Internal: batch size of a child measurement.")
    flags.DEFINE_integer("steps", 10, "Internal: timed steps of a child measurement.")
    flags.DEFINE_string("workdir", None, "Internal: scratch directory of a child measurement.")


# The repository (a checkout: bench/ and .peers/ are there; installed, there are no peers).
REPO = pathlib.Path(__file__).resolve().parent.parent


# --- child measurements -------------------------------------------------------------------

def _timed(run, steps, warmup=2):
    for _ in range(warmup):
        run()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def _throughput(batch, times):
    """Images/s over all timed steps (total images / total time), as the training
    command's own figure and the peers' scripts compute it; not the median step."""
    return batch * len(times) / sum(times)


def child_matmul_ceiling(dtype="float32", **_):
    import tensorflow as tf
    n = 4096
    a = tf.cast(tf.random.normal((n, n)), dtype)
    b = tf.cast(tf.random.normal((n, n)), dtype)
    f = tf.function(lambda a, b: tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32)))
    times = _timed(lambda: f(a, b).numpy(), 8)
    return {"gflops": 2 * n ** 3 / min(times) / 1e9}


def child_matmul_ceiling_bf16(**_):
    """The same product in bfloat16: what AMX or AVX512-BF16 (or neither) gives."""
    return child_matmul_ceiling(dtype="bfloat16")


def _paper_model(policy="float32"):
    """The `paper` model built under the Keras dtype `policy` (bfloat16: bfloat16
    weights, as a bfloat16 export serves them)."""
    import keras
    from alexnet_tf import config
    from alexnet_tf.network.model import build_alexnet
    cfg = config.get_config("paper")
    keras.config.set_dtype_policy(policy)
    return cfg, build_alexnet(cfg.model)


def child_bare_train(batch, steps, **_):
    """The package's model, optimizer and loss in one compiled step, synthetic data."""
    import tensorflow as tf
    from alexnet_tf.training.optimizer import PaperSGD
    from alexnet_tf.tools._bare_step import compiled_train_step
    cfg, model = _paper_model()
    step = compiled_train_step(model, PaperSGD.from_train_config(cfg.train))
    images = tf.random.normal((batch, 227, 227, 3))
    labels = tf.random.uniform((batch,), maxval=1000, dtype=tf.int32)
    times = _timed(lambda: step(images, labels).numpy(), steps)
    return {"images_per_second": _throughput(batch, times)}


def _plain_network():
    """The floor of issue 7, written without the package: split grouped convolutions,
    tf.nn LRN, plain tf ops. Returns forward(images, training) and the variables."""
    import tensorflow as tf
    rng = tf.random.Generator.from_seed(0)
    shapes = [(11, 11, 3, 96), (5, 5, 48, 256), (3, 3, 256, 384), (3, 3, 192, 384),
              (3, 3, 192, 256), (9216, 4096), (4096, 4096), (4096, 1000)]
    weights = [tf.Variable(rng.normal(s, stddev=0.01)) for s in shapes]
    biases = [tf.Variable(tf.zeros(s[-1])) for s in shapes]

    def conv(x, i, stride, padding, groups):
        xs = tf.split(x, groups, -1) if groups > 1 else [x]
        ks = tf.split(weights[i], groups, -1) if groups > 1 else [weights[i]]
        y = tf.concat([tf.nn.conv2d(a, k, stride, padding) for a, k in zip(xs, ks)], -1)
        return tf.nn.relu(y + biases[i])

    def lrn(x):
        return tf.concat([tf.nn.local_response_normalization(p, 2, 2.0, 1e-4, 0.75)
                          for p in tf.split(x, 2, -1)], -1)

    def pool(x):
        return tf.nn.max_pool2d(x, 3, 2, "VALID")

    def forward(x, training=True):
        drop = (lambda h: tf.nn.dropout(h, 0.5)) if training else (lambda h: h)
        x = pool(lrn(conv(x, 0, 4, "VALID", 1)))
        x = pool(lrn(conv(x, 1, 1, "SAME", 2)))
        x = conv(x, 2, 1, "SAME", 1)
        x = conv(x, 3, 1, "SAME", 2)
        x = pool(conv(x, 4, 1, "SAME", 2))
        x = tf.reshape(x, (-1, 9216))
        x = drop(tf.nn.relu(x @ weights[5] + biases[5]))
        x = drop(tf.nn.relu(x @ weights[6] + biases[6]))
        return x @ weights[7] + biases[7]

    return forward, weights + biases


def child_plain_train(batch, steps, **_):
    """The floor of issue 7: a plain tf.function step (no XLA, split grouped convolutions,
    tf.nn LRN, plain momentum SGD), written without the package."""
    import tensorflow as tf
    forward, variables = _plain_network()
    velocity = [tf.Variable(tf.zeros_like(v)) for v in variables]
    images = tf.random.normal((batch, 227, 227, 3))
    labels = tf.random.uniform((batch,), maxval=1000, dtype=tf.int32)

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels, forward(images)))
        grads = tape.gradient(loss, variables)
        for v, m, g in zip(variables, velocity, grads):
            m.assign(0.9 * m - 0.01 * g)
            v.assign_add(m)
        return loss

    times = _timed(lambda: step(images, labels).numpy(), steps)
    return {"images_per_second": _throughput(batch, times)}


def _train_command(batch, steps, workdir, extra, precision="float32"):
    """`python -m alexnet_tf.train` itself (progress bar, metrics, checkpoints on)."""
    from alexnet_tf import config
    from alexnet_tf.training import loop as training
    cfg = config.override(config.get_config("paper"), [f"train.batch_size={batch}", *extra])
    # As a user runs it: the command's default steps per call; its first call (tracing)
    # is left out of its own images/s, so it is the warm-up here.
    per_call = training.RunOptions.steps_per_call
    steps = max(per_call, steps - steps % per_call)
    options = training.RunOptions(max_steps=per_call + steps, steps_per_call=per_call,
                                  checkpoint_every_steps=10_000, progress=True,
                                  synthetic_data=not extra, precision=precision)
    summary = training.train_and_evaluate(cfg, workdir, options)
    return {"images_per_second": summary["train_images_per_second"]}


def child_command_synthetic(batch, steps, workdir, **_):
    return _train_command(batch, steps, workdir, [])


def child_command_synthetic_bf16(batch, steps, workdir, **_):
    return _train_command(batch, steps, workdir, [], precision="bfloat16")


def child_command_tfrecord(batch, steps, workdir, **_):
    """As `command_synthetic`, reading JPEG records through the input pipeline. The
    records hold 4 classes, so fc8 has 4 outputs here (0.6% of the step's FLOPs)."""
    records = _ensure_tfrecords(pathlib.Path(workdir).parent / "records",
                                count=(steps + 14) * batch)  # one epoch: no evaluation
    return _train_command(batch, steps, workdir, ["data.dataset=tfrecord",
                                                  f"data.data_dir={records}",
                                                  "model.num_classes=4"])


def _ensure_tfrecords(directory: pathlib.Path, count: int) -> pathlib.Path:
    """Photo-sized JPEGs (500x375, quality 90) written as pre-resized TFRecord shards."""
    if (directory / "done").exists():
        return directory / "records"
    import numpy as np
    import tensorflow as tf
    source = directory / "folder"
    rng = np.random.RandomState(0)
    for split, n in (("train", count), ("val", 16)):
        for c in range(4):
            path = source / split / f"class{c}"
            path.mkdir(parents=True, exist_ok=True)
            for i in range(n // 4):
                base = rng.randint(0, 255, (1, 1, 3))
                noise = rng.randint(-40, 40, (375, 500, 3))
                pixels = np.clip(base + noise, 0, 255).astype("uint8")
                jpeg = tf.io.encode_jpeg(pixels, quality=90).numpy()
                (path / f"{i}.jpg").write_bytes(jpeg)
    subprocess.run(**command.child_process(
        "alexnet_tf.tools.write_tfrecords", "--dataset=folder", f"--data_dir={source}",
        f"--output_dir={directory / 'records'}", "--preset=paper"), check=True)
    (directory / "done").write_text("ok")
    return directory / "records"


def child_infer(batch, steps, policy="float32", **_):
    import tensorflow as tf
    _, model = _paper_model(policy)
    images = tf.random.normal((batch, 227, 227, 3))
    f = tf.function(lambda x: model(x, training=False))
    times = _timed(lambda: f(images).numpy(), steps)
    return {"images_per_second": _throughput(batch, times),
            "latency_ms_median": 1000 * statistics.median(times),
            "latency_ms_p90": 1000 * _p90(times)}


def child_infer_bf16(batch, steps, **_):
    return child_infer(batch, steps, policy="bfloat16")


def child_plain_infer(batch, steps, **_):
    """Inference through the plain network of `child_plain_train` (the floor)."""
    import tensorflow as tf
    forward, _ = _plain_network()
    images = tf.random.normal((batch, 227, 227, 3))
    f = tf.function(lambda x: forward(x, training=False))
    times = _timed(lambda: f(images).numpy(), steps)
    return {"images_per_second": _throughput(batch, times)}


def child_latency_parts(steps, **_):
    """Batch-1 latency split at pool5: the whole model, conv1-pool5, fc6-fc8 and the plain
    network's forward (the floor) timed in interleaved calls in one process, with the
    memory bandwidth that bounds fc6-fc8 (their kernels are read once per image)."""
    import keras
    import tensorflow as tf
    _, model = _paper_model()
    convs = keras.Model(model.input, model.get_layer("pool5").output)
    head = [model.get_layer(n) for n in ("flatten", "fc6", "dropout6", "fc7", "dropout7",
                                         "fc8")]

    def fcs(x):
        for layer in head:
            x = layer(x, training=False) if "dropout" in layer.name else layer(x)
        return x

    image = tf.random.normal((1, 227, 227, 3))
    pooled = tf.random.normal((1, 6, 6, 256))
    plain, _ = _plain_network()
    calls = {"whole": (tf.function(lambda x: model(x, training=False)), image),
             "conv": (tf.function(lambda x: convs(x, training=False)), image),
             "fc": (tf.function(fcs), pooled),
             "plain": (tf.function(lambda x: plain(x, training=False)), image)}
    times = {name: [] for name in calls}
    for name, (f, x) in calls.items():
        _timed(lambda: f(x).numpy(), 0, warmup=5)
    for _ in range(steps):  # interleaved, so all four see the same machine
        for name, (f, x) in calls.items():
            times[name] += _timed(lambda: f(x).numpy(), 1, warmup=0)
    conv_ms, fc_ms = statistics.median(times["conv"]), statistics.median(times["fc"])
    # A read of as many bytes as fc6-fc8's kernels, in a buffer of their size.
    stream = tf.random.normal((FC_WEIGHTS,))
    f_read = tf.function(lambda x: tf.reduce_sum(x))
    read_s = statistics.median(_timed(lambda: f_read(stream).numpy(), steps, warmup=5))
    return {"whole_ms": 1000 * statistics.median(times["whole"]),
            "conv_ms": 1000 * conv_ms, "fc_ms": 1000 * fc_ms,
            "plain_ms": 1000 * statistics.median(times["plain"]),
            "bandwidth_gb_per_s": 4 * FC_WEIGHTS / read_s / 1e9}


def child_runtime(**_):
    """Imports only (TensorFlow, Keras, the package): the runtime's share of peak memory."""
    import keras  # noqa: F401
    import tensorflow  # noqa: F401
    from alexnet_tf.network import model  # noqa: F401
    return {}


def child_served(batch, steps, workdir, precision="float32", **_):
    """The exported `serving_default` signature through the TF1 loader, XLA disabled."""
    import numpy as np
    from alexnet_tf.data import class_names
    from alexnet_tf.network.pretrained import CAFFE_MEAN_RGB
    from alexnet_tf.data.statistics import DatasetStatistics
    from alexnet_tf.export import serving_session, warmup
    from alexnet_tf.export.serving_export import export_saved_model
    from alexnet_tf.inference.loader import Classifier
    cfg, model = _paper_model()
    trained = Classifier(
        model=model, cfg=cfg,
        statistics=DatasetStatistics.per_channel(CAFFE_MEAN_RGB, size=cfg.data.resize_size),
        class_names=class_names.for_classes(cfg.model.num_classes, cfg.data.dataset))
    summary = export_saved_model(trained, os.path.join(workdir, "models", "alexnet"),
                                 verify=False, precision=precision)
    serving_session.disable_xla_compilation()
    servable = serving_session.SessionServable(summary["path"])
    jpeg = warmup.sample_images()[1]
    feed = {"images": np.array([jpeg] * batch, dtype=object)}
    times = _timed(lambda: servable.run("serving_default", feed), steps)
    servable.close()
    return {"images_per_second": _throughput(batch, times),
            "latency_ms_median": 1000 * statistics.median(times),
            "latency_ms_p90": 1000 * _p90(times)}


def child_served_bf16(batch, steps, workdir, **_):
    return child_served(batch, steps, workdir, precision="bfloat16")


CHILDREN = {name[len("child_"):]: fn for name, fn in globals().items()
            if name.startswith("child_")}


def _p90(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


# --- the parent: run children, measure memory from outside, make the table ---------------

class ChildFailed(RuntimeError):
    """A measured process exited non-zero; `last_line` is the last line of its stderr."""

    def __init__(self, message, last_line):
        super().__init__(message)
        self.last_line = last_line


def _run(cmd, cwd=REPO):
    """Runs `cmd`, polling its resident memory (with its children); returns (stdout, peak)."""
    import psutil
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak = 0
    handle = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            rss = handle.memory_info().rss + sum(c.memory_info().rss
                                                 for c in handle.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode != 0:
        last = next((line for line in reversed(err.splitlines()) if line.strip()), "")
        raise ChildFailed(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                          f"{err[-2000:]}", last.strip())
    return out, peak


def _ours(name, batch, steps, scratch):
    # A fresh work dir per process: the training command resumes from one it finds.
    workdir = pathlib.Path(tempfile.mkdtemp(prefix=f"{name}_{batch}_", dir=scratch))
    child = command.child_process("alexnet_tf.tools.benchmark", f"--child={name}",
                                  f"--batch={batch}", f"--steps={steps}", f"--workdir={workdir}")
    out, peak = _run(child["args"], cwd=child["cwd"])
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_gb"] = peak / 1e9
    return result


# --- the peers: the project's own scripts in bench/peers/ ----------------------------------

PEERS_DIR = REPO / "bench" / "peers"
PEER_ENV_PYTHON = REPO / ".peers" / "torch" / "bin" / "python"
SETUP_PEERS = "bench/setup_peers.sh"


@dataclasses.dataclass(frozen=True)
class Peer:
    name: str                 # prefix of the peer's rows
    label: str                # how the table names it when it cannot run
    script: str               # in bench/peers/
    args: tuple = ()          # extra arguments of the script
    rows: tuple = ()          # (mode, batch) of its throughput rows
    latency: bool = False     # also a batch-1 latency row
    imports: tuple = ()       # what its interpreter must import; () = this interpreter's

    def command(self, python, mode, batch, steps):
        return [python, str(PEERS_DIR / self.script), *self.args, "--mode", mode,
                "--batch", str(batch), "--steps", str(steps)]


PEERS = (
    Peer("torch", "PyTorch peer", "torch_alexnet.py",
         rows=(("train", 64), ("train", 128), ("infer", 64)), latency=True,
         imports=("torch",)),
    Peer("torch_bf16", "PyTorch bfloat16 autocast peer", "torch_alexnet.py",
         args=("--bf16",), rows=(("train", 64), ("infer", 64)), imports=("torch",)),
    Peer("torch_compile", "torch.compile peer", "torch_alexnet.py", args=("--compile",),
         rows=(("train", 64),), imports=("torch",)),
    Peer("onnxruntime", "ONNX Runtime peer", "onnxruntime_alexnet.py",
         rows=(("infer", 64),), latency=True,
         imports=("torch", "onnx", "onnxscript", "onnxruntime")),
    Peer("keras_naive", "naive Keras peer", "keras_naive_alexnet.py",
         rows=(("train", 64), ("train", 128), ("infer", 64)), latency=True),
)
# The rows the goals compare run in the interleaved rounds (see `measure`).
ROUND_PEER_ROWS = (("torch", "train", 64), ("torch", "infer", 64),
                   ("torch_compile", "train", 64), ("onnxruntime", "infer", 64))


def _peer_python(flag_value=None) -> str:
    """The peers' interpreter: `--peer_python`, else the repository's .peers/torch.
    Never this interpreter: PyTorch does not share TensorFlow's environment. A relative
    path is made absolute here, because the peers run with the repository as their
    working directory (under `bazel run`, the runfiles tree)."""
    if not flag_value:
        return str(PEER_ENV_PYTHON)
    if os.sep in flag_value:
        return os.path.abspath(flag_value)
    return shutil.which(flag_value) or flag_value


def peer_status(peer: Peer, python: str) -> str | None:
    """None when `peer` can run with `python`; else the table's one line on installing it."""
    if not (PEERS_DIR / peer.script).exists():
        return f"{peer.label}: {PEERS_DIR / peer.script} is missing"
    if not peer.imports:
        return None
    if not os.path.exists(python):
        if python == str(PEER_ENV_PYTHON):
            return f"{peer.label}: not installed — run {SETUP_PEERS}"
        return f"{peer.label}: --peer_python={python} does not exist"
    check = subprocess.run([python, "-c", f"import {', '.join(peer.imports)}"],
                           capture_output=True, text=True)
    if check.returncode != 0:
        return (f"{peer.label}: {python} cannot import {', '.join(peer.imports)} — "
                f"run {SETUP_PEERS}")
    return None


def _peer(cmd):
    out, peak = _run(cmd)
    return float(out.strip().splitlines()[-1].split()[-1]), peak / 1e9


def _peer_row(cmd):
    rate, peak = _peer(cmd)
    return {"images_per_second": rate, "peak_rss_gb": peak}


def _peer_latency(command, runs, calls=20):
    """Batch-1 latency from outside, in steady state: each process times `calls` calls
    after its warm-up call, giving their mean; the median and p90 are over processes.
    `command(batch, steps)` is the peer's command line in inference mode."""
    times = [1000.0 / _peer(command(1, calls))[0] for _ in range(runs)]
    return {"latency_ms_median": statistics.median(times), "latency_ms_p90": _p90(times)}


def _failed(peer: Peer, row: str, error: ChildFailed) -> dict:
    return {"note": f"{peer.label}, {row}: failed — {error.last_line or error}"}


def _median_peak(run, first, repeats):
    """Peak RSS is not repeatable to better than ~0.2 GB (the executor's op order moves
    it): the median over `repeats` processes, counting the row's own run as the first."""
    peaks = [first] + [run() for _ in range(repeats - 1)]
    return {"peak_rss_gb": statistics.median(peaks), "peaks_gb": peaks}


def measure(quick: bool, only=(), peer_python=None) -> dict:
    steps = 3 if quick else 10
    rows: dict = {}
    wanted = lambda name: not only or name in only  # noqa: E731
    torch_python = _peer_python(peer_python)
    pythons = {peer.name: torch_python if peer.imports else sys.executable for peer in PEERS}
    missing = {peer.name: peer_status(peer, pythons[peer.name]) for peer in PEERS}
    by_name = {peer.name: peer for peer in PEERS}

    def peer_command(name, mode):
        peer = by_name[name]
        return lambda batch, n: peer.command(pythons[name], mode, batch, n)

    with tempfile.TemporaryDirectory() as tmp:
        scratch = pathlib.Path(tmp)

        def ours(name, child, batch, n=steps):
            if wanted(name):
                print(f"measuring {name} ...", flush=True)
                rows[name] = _ours(child, batch, n, scratch)

        ours("matmul_ceiling", "matmul_ceiling", 0)
        ours("matmul_ceiling_bf16", "matmul_ceiling_bf16", 0)
        # The rows the goals compare are run in rounds, interleaved, ours and the peers'
        # alike; each keeps its fastest process (as `timeit` does: on a shared VM,
        # interference only ever slows a run; 37-46 img/s seen for one row in one hour).
        # The real-vs-synthetic pair runs 20 steps: 10 could not tell them apart.
        key = [("train_b64_command_tfrecord",
                lambda: _ours("command_tfrecord", 64, 2 * steps, scratch)),
               ("train_b64_command_synthetic",
                lambda: _ours("command_synthetic", 64, 2 * steps, scratch)),
               ("train_b64_bare_step", lambda: _ours("bare_train", 64, steps, scratch)),
               ("train_b64_plain_tf_step", lambda: _ours("plain_train", 64, steps, scratch)),
               ("train_b64_command_synthetic_bf16",
                lambda: _ours("command_synthetic_bf16", 64, 2 * steps, scratch)),
               ("infer_b64_keras", lambda: _ours("infer", 64, steps, scratch)),
               ("infer_b64_keras_bf16", lambda: _ours("infer_bf16", 64, steps, scratch)),
               ("infer_b64_plain_tf", lambda: _ours("plain_infer", 64, steps, scratch))]
        key += [(f"{name}_{mode}_b{batch}",
                 lambda c=peer_command(name, mode), b=batch: _peer_row(c(b, steps)))
                for name, mode, batch in ROUND_PEER_ROWS if not missing[name]]
        for round_ in range(1 if quick else 3):
            for name, run in key:
                if not wanted(name) or "note" in rows.get(name, {}):
                    continue
                print(f"measuring {name} (round {round_ + 1}) ...", flush=True)
                try:
                    row = run()
                except ChildFailed as error:
                    peer = next((p for p in PEERS if name.startswith(p.name + "_")), None)
                    if peer is None:
                        raise
                    rows[name] = _failed(peer, name, error)
                    continue
                best = rows.setdefault(name, dict(row, runs_images_per_second=[]))
                best["runs_images_per_second"].append(row["images_per_second"])
                if row["images_per_second"] > best["images_per_second"]:
                    rows[name] = dict(row, runs_images_per_second=best[
                        "runs_images_per_second"])
        ours("train_b128_command_synthetic", "command_synthetic", 128)
        ours("train_b128_bare_step", "bare_train", 128)
        ours("latency_b1_keras", "infer", 1, n=10 if quick else 50)
        ours("latency_b1_keras_bf16", "infer_bf16", 1, n=10 if quick else 50)
        ours("latency_b1_parts", "latency_parts", 1, n=10 if quick else 50)
        ours("runtime_import", "runtime", 0)
        ours("serving_b64", "served", 64, n=3 if quick else 5)
        ours("serving_latency_b1", "served", 1, n=10 if quick else 50)
        ours("serving_b64_bf16", "served_bf16", 64, n=3 if quick else 5)
        ours("serving_latency_b1_bf16", "served_bf16", 1, n=10 if quick else 50)

        for peer in PEERS:
            names = [f"{peer.name}_{mode}_b{batch}" for mode, batch in peer.rows]
            names += [f"{peer.name}_latency_b1"] if peer.latency else []
            if missing[peer.name]:
                if any(map(wanted, names + [f"{peer.name}_missing"])):
                    rows[f"{peer.name}_missing"] = {"note": missing[peer.name]}
                continue
            try:
                for mode, batch in peer.rows:
                    name = f"{peer.name}_{mode}_b{batch}"
                    if wanted(name) and name not in rows:
                        print(f"measuring {name} ...", flush=True)
                        rows[name] = _peer_row(peer_command(peer.name, mode)(batch, steps))
                name = f"{peer.name}_latency_b1"
                if peer.latency and wanted(name):
                    print(f"measuring {name} ...", flush=True)
                    rows[name] = _peer_latency(peer_command(peer.name, "infer"),
                                               3 if quick else 7, calls=5 if quick else 20)
            except ChildFailed as error:
                rows[name] = _failed(peer, name, error)
        if not missing["torch"] and wanted("torch_runtime_import"):
            try:
                _, peak = _run([torch_python, "-c", "import torch"])
                rows["torch_runtime_import"] = {"peak_rss_gb": peak / 1e9}
            except ChildFailed as error:
                rows["torch_runtime_import"] = _failed(by_name["torch"],
                                                       "torch_runtime_import", error)
        repeats = 1 if quick else 3
        if "train_b128_command_synthetic" in rows and wanted("memory_b128_command"):
            print("measuring memory_b128_command (repeats) ...", flush=True)
            rows["memory_b128_command"] = _median_peak(
                lambda: _ours("command_synthetic", 128, 3, scratch)["peak_rss_gb"],
                rows["train_b128_command_synthetic"]["peak_rss_gb"], repeats)
        if rows.get("torch_train_b128", {}).get("peak_rss_gb") and \
                wanted("memory_b128_torch"):
            print("measuring memory_b128_torch (repeats) ...", flush=True)
            try:
                rows["memory_b128_torch"] = _median_peak(
                    lambda: _peer(peer_command("torch", "train")(128, 3))[1],
                    rows["torch_train_b128"]["peak_rss_gb"], repeats)
            except ChildFailed as error:
                rows["memory_b128_torch"] = _failed(by_name["torch"], "memory_b128_torch",
                                                    error)
    return rows


def cpu_description() -> str:
    """The CPU model, its bfloat16 instructions and what `--precision=auto` picks on it,
    to be reported with every figure (the project's machines are one kind but not one
    CPU model; docs/performance.md)."""
    from alexnet_tf import precision
    hardware = precision.detect()
    return (f"{hardware.describe_cpu()}; --precision=auto trains in "
            f"{precision.automatic(hardware).precision} here")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(args):
    from absl.flags import FLAGS
    if FLAGS.child:
        if FLAGS.child not in CHILDREN:
            return command.fail(f"unknown child {FLAGS.child!r}")
        result = CHILDREN[FLAGS.child](batch=FLAGS.batch, steps=FLAGS.steps,
                                       workdir=FLAGS.workdir)
        print(json.dumps(result))
        return
    rows = measure(FLAGS.quick, FLAGS.only, FLAGS.peer_python)
    ratios = derived(rows)
    print(f"CPU: {cpu_description()}, {os.cpu_count()} logical CPUs; commit {_commit()}")
    print(table(rows, ratios))
    report = {"rows": rows, "derived": ratios, "quick": FLAGS.quick,
              "cpu_count": os.cpu_count(), "cpu": cpu_description(),
              "commit": _commit(), "date": time.strftime("%Y-%m-%d %H:%M")}
    pathlib.Path(FLAGS.output).write_text(json.dumps(report, indent=2))
    print(f"wrote {FLAGS.output}")


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
