"""Speed and memory of the `paper` preset beside its peers, measured in one run.

    python -m tools.benchmark --output=benchmark.json
    python -m tools.benchmark --quick          # fewer steps, for a smoke run

Prints one table and writes it as JSON: training images/s (batch 64 and 128; synthetic
data, TFRecords through the input pipeline, the bare compiled step, and the training
command itself), inference images/s at batch 64 and batch-1 latency (median, p90) for the
Keras model and the exported serving signature, the peak resident memory of training at
batch 128, the achieved GFLOP/s against this machine's measured matrix-multiply ceiling,
and the same rows for the peers in `../shared/bench` (PyTorch eager and a naive Keras
model), each of ours as a ratio to them. Every figure comes from a child process of its
own, so memory and thread pools do not leak between rows. Run on an idle machine.
"""
from __future__ import annotations

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from tools._benchmark_report import FC_WEIGHTS, derived, table


FLAGS = flags.FLAGS
flags.DEFINE_string("output", "benchmark.json", "Where to write the JSON table.")
flags.DEFINE_bool("quick", False, "Fewer steps: a smoke run, not a measurement.")
flags.DEFINE_string("peers_dir", None, "Directory of torch_alexnet.py and "
                    "keras_naive_alexnet.py (default: ../shared/bench beside the repository).")
flags.DEFINE_string("torch_python", None, "Interpreter with torch installed for the PyTorch "
                    "peer (default: the first of this interpreter and /opt/torchenv/bin/python "
                    "that imports torch).")
flags.DEFINE_list("only", [], "Run only these rows (names as in the table).")
flags.DEFINE_string("child", None, "Internal: run one measurement and print it as JSON.")
flags.DEFINE_integer("batch", 64, "Internal: batch size of a child measurement.")
flags.DEFINE_integer("steps", 10, "Internal: timed steps of a child measurement.")
flags.DEFINE_string("workdir", None, "Internal: scratch directory of a child measurement.")

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


def child_matmul_ceiling(**_):
    import tensorflow as tf
    n = 4096
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    times = _timed(lambda: f(a, b).numpy(), 8)
    return {"gflops": 2 * n ** 3 / min(times) / 1e9}


def _paper_model():
    from alexnet_tf import config
    from alexnet_tf.model import build_alexnet
    cfg = config.get_config("paper")
    return cfg, build_alexnet(cfg.model)


def child_bare_train(batch, steps, **_):
    """The package's model, optimizer and loss in one compiled step, synthetic data."""
    import tensorflow as tf
    from alexnet_tf.optimizer import PaperSGD
    from tools._bare_step import compiled_train_step
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


def _train_command(batch, steps, workdir, extra):
    """`python -m alexnet_tf.train` itself (progress bar, metrics, checkpoints on)."""
    from alexnet_tf import config, training
    cfg = config.override(config.get_config("paper"), [f"train.batch_size={batch}", *extra])
    # As a user runs it: the command's default steps per call; its first call (tracing)
    # is left out of its own images/s, so it is the warm-up here.
    per_call = training.RunOptions.steps_per_call
    steps = max(per_call, steps - steps % per_call)
    options = training.RunOptions(max_steps=per_call + steps, steps_per_call=per_call,
                                  checkpoint_every_steps=10_000, progress=True,
                                  synthetic_data=not extra)
    summary = training.train_and_evaluate(cfg, workdir, options)
    return {"images_per_second": summary["train_images_per_second"]}


def child_command_synthetic(batch, steps, workdir, **_):
    return _train_command(batch, steps, workdir, [])


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
    subprocess.run([sys.executable, "-m", "tools.write_tfrecords", "--dataset=folder",
                    f"--data_dir={source}", f"--output_dir={directory / 'records'}",
                    "--preset=paper"],
                   check=True, cwd=REPO)
    (directory / "done").write_text("ok")
    return directory / "records"


def child_infer(batch, steps, **_):
    import tensorflow as tf
    _, model = _paper_model()
    images = tf.random.normal((batch, 227, 227, 3))
    f = tf.function(lambda x: model(x, training=False))
    times = _timed(lambda: f(images).numpy(), steps)
    return {"images_per_second": _throughput(batch, times),
            "latency_ms_median": 1000 * statistics.median(times),
            "latency_ms_p90": 1000 * _p90(times)}


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
    from alexnet_tf import model  # noqa: F401
    return {}


def child_served(batch, steps, workdir, **_):
    """The exported `serving_default` signature through the TF1 loader, XLA disabled."""
    import numpy as np
    from alexnet_tf import class_names
    from alexnet_tf.pretrained import CAFFE_MEAN_RGB
    from alexnet_tf.statistics import DatasetStatistics
    from export import serving_check, warmup
    from export.saved_model import TrainedModel, export_saved_model
    cfg, model = _paper_model()
    trained = TrainedModel(
        model=model, cfg=cfg,
        stats=DatasetStatistics.per_channel(CAFFE_MEAN_RGB, size=cfg.data.resize_size),
        classes=class_names.for_classes(cfg.model.num_classes, cfg.data.dataset))
    summary = export_saved_model(trained, os.path.join(workdir, "models", "alexnet"),
                                 verify=False)
    serving_check.disable_xla_compilation()
    servable = serving_check.SessionServable(summary["path"])
    jpeg = warmup.sample_images()[1]
    feed = {"images": np.array([jpeg] * batch, dtype=object)}
    times = _timed(lambda: servable.run("serving_default", feed), steps)
    servable.close()
    return {"images_per_second": _throughput(batch, times),
            "latency_ms_median": 1000 * statistics.median(times),
            "latency_ms_p90": 1000 * _p90(times)}


CHILDREN = {name[len("child_"):]: fn for name, fn in globals().items()
            if name.startswith("child_")}


def _p90(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


# --- the parent: run children, measure memory from outside, make the table ---------------

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
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                           f"{err[-2000:]}")
    return out, peak


def _ours(name, batch, steps, scratch):
    # A fresh work dir per process: the training command resumes from one it finds.
    workdir = pathlib.Path(tempfile.mkdtemp(prefix=f"{name}_{batch}_", dir=scratch))
    cmd = [sys.executable, "-m", "tools.benchmark", f"--child={name}", f"--batch={batch}",
           f"--steps={steps}", f"--workdir={workdir}"]
    out, peak = _run(cmd)
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_gb"] = peak / 1e9
    return result


def _peer(python, script, mode, batch, steps):
    out, peak = _run([python, str(script), "--mode", mode, "--batch", str(batch),
                      "--steps", str(steps)])
    return float(out.strip().splitlines()[-1].split()[-1]), peak / 1e9


def _peer_row(python, script, mode, batch, steps):
    rate, peak = _peer(python, script, mode, batch, steps)
    return {"images_per_second": rate, "peak_rss_gb": peak}


def _peer_latency(python, script, runs, calls=20):
    """Batch-1 latency from outside, in steady state: each process times `calls` calls
    after its warm-up call, giving their mean; the median and p90 are over processes."""
    times = [1000.0 / _peer(python, script, "infer", 1, calls)[0] for _ in range(runs)]
    return {"latency_ms_median": statistics.median(times), "latency_ms_p90": _p90(times)}


def _median_peak(run, first, repeats):
    """Peak RSS is not repeatable to better than ~0.2 GB (the executor's op order moves
    it): the median over `repeats` processes, counting the row's own run as the first."""
    peaks = [first] + [run() for _ in range(repeats - 1)]
    return {"peak_rss_gb": statistics.median(peaks), "peaks_gb": peaks}


def _torch_python():
    candidates = [FLAGS.torch_python] if FLAGS.torch_python else \
        [sys.executable, "/opt/torchenv/bin/python"]
    for python in candidates:
        if python and subprocess.run([python, "-c", "import torch"],
                                     capture_output=True).returncode == 0:
            return python
    return None


def measure(quick: bool, only=()) -> dict:
    steps = 3 if quick else 10
    peers_dir = pathlib.Path(FLAGS.peers_dir) if FLAGS.peers_dir else REPO.parent / "shared" / "bench"
    rows: dict = {}
    wanted = lambda name: not only or name in only  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        scratch = pathlib.Path(tmp)

        def ours(name, child, batch, n=steps):
            if wanted(name):
                print(f"measuring {name} ...", flush=True)
                rows[name] = _ours(child, batch, n, scratch)

        torch_python = _torch_python()
        torch_script = peers_dir / "torch_alexnet.py"
        has_torch = bool(torch_python) and torch_script.exists()

        ours("matmul_ceiling", "matmul_ceiling", 0)
        # The rows the goals compare are run in rounds, interleaved, ours and PyTorch's
        # alike; each keeps its fastest process (as `timeit` does: on a shared VM,
        # interference only ever slows a run; 37-46 img/s seen for one row in one hour).
        # The real-vs-synthetic pair runs 20 steps: 10 could not tell them apart.
        key = [("train_b64_command_tfrecord",
                lambda: _ours("command_tfrecord", 64, 2 * steps, scratch)),
               ("train_b64_command_synthetic",
                lambda: _ours("command_synthetic", 64, 2 * steps, scratch)),
               ("train_b64_bare_step", lambda: _ours("bare_train", 64, steps, scratch)),
               ("train_b64_plain_tf_step", lambda: _ours("plain_train", 64, steps, scratch)),
               ("infer_b64_keras", lambda: _ours("infer", 64, steps, scratch)),
               ("infer_b64_plain_tf", lambda: _ours("plain_infer", 64, steps, scratch))]
        if has_torch:
            key += [(f"torch_{mode}_b64",
                     lambda mode=mode: _peer_row(torch_python, torch_script, mode, 64, steps))
                    for mode in ("train", "infer")]
        for round_ in range(1 if quick else 3):
            for name, run in key:
                if wanted(name):
                    print(f"measuring {name} (round {round_ + 1}) ...", flush=True)
                    row = run()
                    best = rows.setdefault(name, dict(row, runs_images_per_second=[]))
                    best["runs_images_per_second"].append(row["images_per_second"])
                    if row["images_per_second"] > best["images_per_second"]:
                        rows[name] = dict(row, runs_images_per_second=best[
                            "runs_images_per_second"])
        ours("train_b128_command_synthetic", "command_synthetic", 128)
        ours("train_b128_bare_step", "bare_train", 128)
        ours("latency_b1_keras", "infer", 1, n=10 if quick else 50)
        ours("latency_b1_parts", "latency_parts", 1, n=10 if quick else 50)
        ours("runtime_import", "runtime", 0)
        ours("serving_b64", "served", 64, n=3 if quick else 5)
        ours("serving_latency_b1", "served", 1, n=10 if quick else 50)

        peers = [("torch", torch_python, torch_script),
                 ("keras_naive", sys.executable, peers_dir / "keras_naive_alexnet.py")]
        for peer, python, script in peers:
            if not python or not script.exists():
                rows[f"{peer}_missing"] = {"note": f"{script} or its interpreter not found"}
                continue
            for mode, batch in (("train", 64), ("train", 128), ("infer", 64)):
                name = f"{peer}_{mode}_b{batch}"
                if wanted(name) and name not in rows:
                    print(f"measuring {name} ...", flush=True)
                    rate, peak = _peer(python, script, mode, batch, steps)
                    rows[name] = {"images_per_second": rate, "peak_rss_gb": peak}
            if wanted(f"{peer}_latency_b1"):
                print(f"measuring {peer}_latency_b1 ...", flush=True)
                rows[f"{peer}_latency_b1"] = _peer_latency(python, script, 3 if quick else 7,
                                                           calls=5 if quick else 20)
        if torch_python and wanted("torch_runtime_import"):
            _, peak = _run([torch_python, "-c", "import torch"])
            rows["torch_runtime_import"] = {"peak_rss_gb": peak / 1e9}
        repeats = 1 if quick else 3
        if "train_b128_command_synthetic" in rows and wanted("memory_b128_command"):
            print("measuring memory_b128_command (repeats) ...", flush=True)
            rows["memory_b128_command"] = _median_peak(
                lambda: _ours("command_synthetic", 128, 3, scratch)["peak_rss_gb"],
                rows["train_b128_command_synthetic"]["peak_rss_gb"], repeats)
        if "torch_train_b128" in rows and wanted("memory_b128_torch"):
            print("measuring memory_b128_torch (repeats) ...", flush=True)
            rows["memory_b128_torch"] = _median_peak(
                lambda: _peer(torch_python, peers_dir / "torch_alexnet.py", "train", 128, 3)[1],
                rows["torch_train_b128"]["peak_rss_gb"], repeats)
    return rows


def main(argv):
    del argv
    if FLAGS.child:
        if FLAGS.child not in CHILDREN:
            raise app.UsageError(f"unknown child {FLAGS.child!r}")
        result = CHILDREN[FLAGS.child](batch=FLAGS.batch, steps=FLAGS.steps,
                                       workdir=FLAGS.workdir)
        print(json.dumps(result))
        return
    rows = measure(FLAGS.quick, FLAGS.only)
    ratios = derived(rows)
    print(table(rows, ratios))
    report = {"rows": rows, "derived": ratios, "quick": FLAGS.quick,
              "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M")}
    pathlib.Path(FLAGS.output).write_text(json.dumps(report, indent=2))
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
