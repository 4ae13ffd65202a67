"""`python -m tools.profile_step` (`alexnet-profile-step`): where a training step (or a
forward pass) of the `paper` preset spends its time, by layer.

    python -m tools.profile_step                 # training, batch 64, 4 timed steps
    python -m tools.profile_step --batch=128 --inter_op=0
    python -m tools.profile_step --mode=inference --batch=1
    python -m tools.profile_step --precision=bfloat16

Runs the bare compiled step (the package's model, `PaperSGD`, synthetic data; or the
compiled forward pass with `--mode=inference`) in a child process under
`ONEDNN_VERBOSE=profile_exec`, which makes oneDNN log every convolution, matrix product and
pooling it executes with its time. Prints, per layer and pass, ms per step, GFLOP per step
counted from the logged shapes, GFLOP/s, the share of this machine's matrix-multiply
ceiling in the step's precision (measured first, in a child of its own) and the oneDNN
implementation with its ISA and data type (`brg_conv_fwd:avx512_core_amx (bf16)`: which
kernels the CPU's bfloat16 instructions reach), then what is left outside oneDNN:
element-wise work (LRN's, ReLU and dropout gradients, the loss), the optimizer's update and
the framework. With `--inter_op=1` (the default) ops run one at a time, so the rows add up
to the step; with TensorFlow's default (0) independent ops overlap and rows can add up to
more than the step. Logging costs a little: steps are slower here than in `tools.benchmark`.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from alexnet_tf import command
from alexnet_tf.tools import _onednn_profile as profile

WARMUP = 3
MARK = "profile_step:"


def layer_shapes(model, batch: int) -> profile.LayerShapes:
    """The shapes naming each layer's primitives, read from the built model."""
    import keras
    from alexnet_tf.network.layers import GroupedConv2D, LocalResponseNormalization
    convs, denses, lrns, pools = {}, {}, {}, {}
    for layer in model.layers:
        if isinstance(layer, GroupedConv2D):
            shape, g = layer.input.shape, layer.groups
            convs[(shape[-1] // g, layer.filters // g, layer.kernel_size[0], shape[1])] = layer.name
        elif isinstance(layer, LocalResponseNormalization):
            shape = layer.input.shape
            lrns[(batch * shape[1] * shape[2], shape[-1])] = layer.name
        elif isinstance(layer, keras.layers.Dense):
            denses[tuple(layer.kernel.shape)] = layer.name
        elif isinstance(layer, keras.layers.MaxPooling2D):
            shape = layer.input.shape
            pools[(shape[-1], shape[1])] = layer.name
    return profile.LayerShapes(convs, denses, lrns, pools)


def run_child(preset: str, mode: str, batch: int, steps: int, inter_op: int,
              precision: str = "float32") -> None:
    import tensorflow as tf
    if inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    import keras
    from alexnet_tf import config, precision as precision_lib
    from alexnet_tf.network.model import build_alexnet
    from alexnet_tf.training.optimizer import PaperSGD
    from alexnet_tf.tools._bare_step import compiled_train_step
    cfg = config.get_config(preset)
    # As the training command (float32 weights) or a served export (bfloat16 weights) runs
    keras.config.set_dtype_policy(precision_lib.training_policy(precision)
                                  if mode == "training" else
                                  precision_lib.serving_policy(precision))
    model = build_alexnet(cfg.model)
    images = tf.random.normal((batch, cfg.model.image_size, cfg.model.image_size, 3))
    labels = tf.random.uniform((batch,), maxval=cfg.model.num_classes, dtype=tf.int32)
    train = compiled_train_step(model, PaperSGD.from_train_config(cfg.train))
    infer = tf.function(lambda images, labels: model(images, training=False))
    step = train if mode == "training" else infer

    for _ in range(WARMUP):
        step(images, labels).numpy()
    begin = time.time() * 1e3
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(images, labels).numpy()
        times.append(time.perf_counter() - start)
    end = time.time() * 1e3
    shapes = layer_shapes(model, batch)
    print(MARK + json.dumps({
        "begin_ms": begin, "end_ms": end, "step_s": statistics.median(times),
        "shapes": {k: [[list(key), name] for key, name in getattr(shapes, k).items()]
                   for k in ("convs", "denses", "lrns", "pools")}}), flush=True)


def _python_child(args, env=None):
    out = subprocess.run(**command.child_process("alexnet_tf.tools.profile_step", *args),
                         capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"the profiled step failed:\n{out.stderr[-3000:]}")
    return out.stdout


def _ceiling(precision: str = "float32") -> float:
    child = "matmul_ceiling_bf16" if precision == "bfloat16" else "matmul_ceiling"
    out = subprocess.run(**command.child_process("alexnet_tf.tools.benchmark",
                                                 f"--child={child}"),
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"measuring the matrix-multiply ceiling failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["gflops"]


def measure(stdout: str, batch: int, steps: int, ceiling: float) -> dict:
    """The child's step time and the table's rows, from its output."""
    marks = [line for line in stdout.splitlines() if line.startswith(MARK)]
    if not marks:
        raise RuntimeError("the profiled step printed no timings")
    info = json.loads(marks[-1][len(MARK):])
    shapes = profile.LayerShapes(**{k: {tuple(key): name for key, name in v}
                                    for k, v in info["shapes"].items()})
    timed = [p for p in profile.parse_lines(stdout.splitlines())
             if p.stamp is not None and info["begin_ms"] <= p.stamp <= info["end_ms"]]
    if not timed:
        raise RuntimeError("oneDNN logged no timed primitive: is ONEDNN_VERBOSE honoured?")
    rows = profile.table(timed, shapes, batch, steps, ceiling)
    kernels = profile.implementations(timed, shapes, batch)
    return {"step_ms": info["step_s"] * 1e3, "ceiling_gflops": ceiling,
            "rows": [dict(zip(("layer", "pass", "ms", "gflop", "gflops", "share"), r),
                          implementation=kernels.get(r[:2], "")) for r in rows]}


def report(result: dict, preset: str, mode: str, batch: int, steps: int,
           precision: str = "float32") -> str:
    step_ms, ceiling, rows = result["step_ms"], result["ceiling_gflops"], result["rows"]
    lines = [f"{mode} step, {preset} preset, batch {batch}, {precision}: {step_ms:.0f} ms "
             f"(median of {steps}); {precision} matrix-multiply ceiling {ceiling:.0f} GFLOP/s",
             f"{'layer':<8} {'pass':<22} {'ms':>8} {'GFLOP':>8} {'GFLOP/s':>8} {'ceiling':>8}"
             f"  oneDNN implementation:ISA (type)"]
    for r in rows:
        share = "" if r["share"] is None else f"{r['share']:7.0%}"
        lines.append(f"{r['layer']:<8} {r['pass']:<22} {r['ms']:8.1f} {r['gflop']:8.2f} "
                     f"{r['gflops']:8.0f} {share:>8}  {r.get('implementation', '')}")
    inside = sum(r["ms"] for r in rows)
    flops = sum(r["gflop"] for r in rows)
    lines.append(f"{'oneDNN':<31} {inside:8.1f} {flops:8.2f} {flops / inside * 1e3:8.0f} "
                 f"{flops / inside * 1e3 / ceiling:7.0%}")
    lines.append(f"{'outside oneDNN (step - oneDNN)':<31} {step_ms - inside:8.1f}")
    return "\n".join(lines)


def define_flags(flags):
    flags.DEFINE_enum("mode", "training", ["training", "inference"],
                      "Profile a training step or an inference forward pass.")
    flags.DEFINE_string("preset", "paper", "Model and training preset (alexnet_tf.config).")
    flags.DEFINE_integer("batch", 64, "Batch size of the step.")
    flags.DEFINE_integer("steps", 4, "Timed steps (after 3 warm-up steps).")
    flags.DEFINE_integer("inter_op", 1, "inter_op_parallelism_threads of the step's process "
                         "(0 = TensorFlow's default).")
    flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16"], "The step's "
                      "precision: bfloat16 trains as --precision=bfloat16 does (float32 "
                      "weights) and infers as a bfloat16 export does (bfloat16 weights).")
    flags.DEFINE_string("output", None, "Also write the rows as JSON to this file.")
    flags.DEFINE_bool("child", False, "Internal: run the step and print its timings.")


def main(args):
    from absl.flags import FLAGS
    if FLAGS.child:
        run_child(FLAGS.preset, FLAGS.mode, FLAGS.batch, FLAGS.steps, FLAGS.inter_op,
                  FLAGS.precision)
        return
    if FLAGS.batch < 1 or FLAGS.steps < 1:
        return command.fail("--batch and --steps must be >= 1")
    from alexnet_tf import config
    config.get_config(FLAGS.preset)      # an unknown preset: one error line before any work
    ceiling = _ceiling(FLAGS.precision)
    env = dict(os.environ, ONEDNN_VERBOSE="profile_exec", ONEDNN_VERBOSE_TIMESTAMP="1",
               TF_CPP_MIN_LOG_LEVEL="3")
    stdout = _python_child(["--child", f"--preset={FLAGS.preset}", f"--mode={FLAGS.mode}",
                            f"--batch={FLAGS.batch}", f"--steps={FLAGS.steps}",
                            f"--inter_op={FLAGS.inter_op}", f"--precision={FLAGS.precision}"],
                           env)
    result = measure(stdout, FLAGS.batch, FLAGS.steps, ceiling)
    result["precision"] = FLAGS.precision
    print(report(result, FLAGS.preset, FLAGS.mode, FLAGS.batch, FLAGS.steps, FLAGS.precision))
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {FLAGS.output}")


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
