"""`python -m alexnet_tf.train`: train AlexNet, evaluate it, save it in a work directory.

    python -m alexnet_tf.train --workdir=runs/digits             # the embedded default
    python -m alexnet_tf.train --preset=paper --workdir=runs/imagenet \\
        --set data.manual_dir=/data/imagenet                      # the paper's recipe
    python -m alexnet_tf.train --preset=tiny --strategy=mirrored --cpu_devices=2 ...

Any config field can be overridden with `--set section.field=value` (repeatable) or
`--config.section.field=value`. Exit codes: 0 done, 1 unexpected error, 2 a usage error
(bad flag, unknown dataset, unwritable work dir, missing devices, a work dir another run
is using) or a full disk (the last complete checkpoint is kept), 3 the loss became
NaN/Inf (the last good checkpoint is kept), 42 stopped by SIGTERM/SIGINT after saving a
checkpoint (run the same command again to resume).
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from alexnet_tf import stop_signals  # noqa: E402

PRESET_DEFAULT = "digits"
FLAGS = flags.FLAGS

NEXT_STEPS = """
Next: the same command trains on real data. The paper preset subtracts the training set's
mean image (§2): the first run computes it once, or tools.compute_statistics beforehand.
  ImageNet (the ILSVRC-2012 tars in a directory, prepared once by TFDS, no download):
    python -m tools.compute_statistics --preset=paper --dataset=imagenet2012 \\
      --data_dir=/path/to/tfds --manual_dir=/path/to/tars
    python -m alexnet_tf.train --preset=paper --workdir=runs/imagenet \\
      --set data.dataset=imagenet2012 --set data.manual_dir=/path/to/tars \\
      --set data.data_dir=/path/to/tfds
  An image folder (<dir>/train/<class>/*.jpg and <dir>/val/<class>/*.jpg):
    python -m alexnet_tf.train --preset=paper --workdir=runs/folder \\
      --set data.dataset=folder --set data.data_dir=/path/to/dir --set model.num_classes=<N>
  TFRecord shards (python -m tools.write_tfrecords, from either source):
    python -m alexnet_tf.train --preset=paper --workdir=runs/records \\
      --set data.dataset=tfrecord --set data.data_dir=/path/to/shards
  Evaluate (centre crop and multi-crop):  python -m alexnet_tf.evaluate --model={workdir}"""


def split_config_flags(argv):
    """Moves `--config.a.b=v` arguments out of argv (absl cannot declare them) -> overrides."""
    rest, overrides = [], []
    for arg in argv:
        if arg.startswith("--config."):
            body = arg[len("--config."):]
            if "=" not in body:
                raise app.UsageError(f"{arg}: expected --config.section.field=value")
            overrides.append(body)
        else:
            rest.append(arg)
    return rest, overrides


_CONFIG_FLAG_OVERRIDES = []


def _parse_flags(argv):
    try:
        rest, overrides = split_config_flags(argv)
        _CONFIG_FLAG_OVERRIDES.extend(overrides)
        positional = FLAGS(rest)[1:]
    except (flags.Error, app.UsageError) as e:
        sys.stderr.write(f"error: {e}\nPass --helpfull to see the flags.\n")
        sys.exit(2)
    if positional:  # one line: absl's UsageError would print the whole flag list
        sys.stderr.write(f"error: unexpected argument(s): {' '.join(positional)} (flags "
                         f"are --name=value; --helpfull lists them)\n")
        sys.exit(2)
    return argv[:1]


def build_config(values=None, config_overrides=None):
    """The Config from --preset, the shortcuts, --set and --config.* (in that order)."""
    from alexnet_tf import config
    values = values or FLAGS
    if config_overrides is None:
        config_overrides = _CONFIG_FLAG_OVERRIDES
    cfg = config.get_config(values.preset)
    overrides = []
    if values.dataset:
        overrides.append(f"data.dataset={values.dataset}")
    if values.epochs is not None:
        overrides.append(f"train.epochs={values.epochs}")
    if values.batch_size is not None:
        overrides.append(f"train.batch_size={values.batch_size}")
    if values.seed is not None:
        overrides.append(f"train.seed={values.seed}")
    return config.validate(
        config.override(cfg, overrides + list(values.set) + list(config_overrides)))


def main(argv):
    logging.set_verbosity(logging.WARNING)  # TF's INFO lines would drown the progress bar
    signals = stop_signals.for_command()
    if signals.received:  # during the imports: nothing done yet
        print(f"stopped by {signals.received} during start-up: nothing was trained or "
              f"written; run the same command again")
        return stop_signals.PREEMPTED_EXIT_CODE
    from alexnet_tf import distribute
    from alexnet_tf.checkpointing import CheckpointError, DiskFullError
    from alexnet_tf import training
    try:
        if FLAGS.cpu_devices is not None:
            distribute.split_cpu(FLAGS.cpu_devices)
        cfg = build_config()
        workdir = FLAGS.workdir or os.path.join("runs", cfg.name)
        options = training.RunOptions(
            strategy=FLAGS.strategy, precision=FLAGS.precision, xla=FLAGS.xla,
            checkpoint_every_steps=FLAGS.checkpoint_every_steps,
            steps_per_call=FLAGS.steps_per_call, keep_checkpoints=FLAGS.keep_checkpoints,
            max_steps=FLAGS.max_steps, deterministic=FLAGS.deterministic,
            synthetic_data=FLAGS.synthetic_data, nan_at_step=FLAGS.nan_at_step,
            progress=FLAGS.progress)
        summary = training.train_and_evaluate(cfg, workdir, options, signals=signals)
    except training.NonFiniteLossError as e:
        sys.stderr.write(f"error: {e}\n")
        return training.NONFINITE_EXIT_CODE
    except DiskFullError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    except (ValueError, CheckpointError, FileNotFoundError) as e:
        sys.stderr.write(f"error: {short_message(e)}\n")
        return 2
    print(end_summary(summary, cfg))
    if summary["status"] == "preempted":
        return training.PREEMPTED_EXIT_CODE
    return 0


def short_message(error, max_lines=8) -> str:
    """The error's text; a very long one (e.g. TFDS listing every dataset) cut to its
    first line."""
    lines = str(error).splitlines()
    if len(lines) <= max_lines:
        return str(error)
    return f"{lines[0]} [{len(lines) - 1} more lines]"


def end_summary(summary, cfg) -> str:
    from alexnet_tf.progress import format_duration
    lines = [f"\n{summary['status']}: {summary['epochs']} epoch(s), {summary['global_step']} "
             f"steps in {format_duration(summary['seconds'])} ({summary['workdir']})"]
    if summary["history"]:
        last = summary["history"][-1]
        if "validation_top1_error" in last:
            best = min(summary["history"], key=lambda row: row["validation_top1_error"])
            lines.append(f"validation: top-1 error {100 * last['validation_top1_error']:.2f}% "
                         f"(accuracy {100 * last['validation_accuracy']:.2f}%), top-5 error "
                         f"{100 * last['validation_top5_error']:.2f}%; best top-1 error "
                         f"{100 * best['validation_top1_error']:.2f}% at epoch {best['epoch']}")

    if summary.get("train_images_per_second"):
        lines.append(f"training: {summary['train_images_per_second']:,.1f} images/s "
                     f"(steady state: every compiled call but the first)")
    lines.append(f"weights sha256: {summary['weights_sha256']}")
    if summary["status"] == "completed":
        lines.append(f"model: {os.path.join(summary['workdir'], 'model.keras')}; TensorBoard: "
                     f"tensorboard --logdir {os.path.join(summary['workdir'], 'tensorboard')}")
        if cfg.data.dataset == "digits":
            lines.append(NEXT_STEPS.format(workdir=summary["workdir"]))
    return "\n".join(lines)


def define_flags():
    """Declared when the command runs, not on import, so a test process can import every
    entry point without absl's duplicate-flag errors."""
    flags.DEFINE_string("preset", PRESET_DEFAULT, "Config preset: paper, digits or tiny.")
    flags.DEFINE_string("workdir", None, "Work directory (default runs/<preset>); rerunning the "
                        "same command there resumes from the latest checkpoint.")
    flags.DEFINE_multi_string("set", [], "Config override section.field=value (repeatable); "
                              "--config.section.field=value works too.")
    flags.DEFINE_string("dataset", None, "Shortcut for --set data.dataset=...: digits, "
                        "imagenet2012 (or any TFDS name), folder, tfrecord.")
    flags.DEFINE_integer("epochs", None, "Shortcut for --set train.epochs=...")
    flags.DEFINE_integer("batch_size", None, "Shortcut for --set train.batch_size=... (global).")
    flags.DEFINE_enum("strategy", "auto", ["auto", "single", "towers", "mirrored",
                                            "towers_mirrored", "multi_worker"],
                      "auto = towers on two GPUs, else single.")
    flags.DEFINE_integer("cpu_devices", None, "Split the CPU into N logical devices (lets "
                         "towers/mirrored run without GPUs).")
    flags.DEFINE_enum("precision", "float32", ["float32", "mixed_float16", "mixed_bfloat16"],
                      "Keras dtype policy; mixed_float16 adds dynamic loss scaling.")
    flags.DEFINE_bool("xla", False, "Compile the forward/backward pass with XLA.")
    flags.DEFINE_integer("seed", None, "Shortcut for --set train.seed=... (initial weights, "
                         "data order, crops and dropout; 0 by default).")
    flags.DEFINE_integer("checkpoint_every_steps", 500, "Checkpoint every N steps (and at "
                         "every epoch end).")
    flags.DEFINE_integer("steps_per_call", 10, "Training steps per compiled call.")
    flags.DEFINE_integer("keep_checkpoints", 3, "How many recent checkpoints to keep.")
    flags.DEFINE_integer("max_steps", None, "Stop after this global step (benchmarks).")
    flags.DEFINE_bool("deterministic", False, "Enable op determinism (bitwise-reproducible "
                      "resume on one CPU device; slower).")
    flags.DEFINE_bool("synthetic_data", False, "Train on random images to measure images/s "
                      "(writes no checkpoint and no model).")
    flags.DEFINE_integer("nan_at_step", None, "Testing aid: make the loss of this global step "
                         "NaN to exercise the NaN guard.")
    flags.DEFINE_bool("progress", True, "Show the progress bar.")


def run():
    stop_signals.for_command()  # first: a signal during start-up still exits 42
    define_flags()
    try:
        app.run(main, flags_parser=_parse_flags)
    finally:
        stop_signals.ignore_sigterm_while_exiting()


if __name__ == "__main__":
    run()
