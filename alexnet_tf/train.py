"""`python -m alexnet_tf.train` (`alexnet-train`): train AlexNet, evaluate it every epoch,
save it in a work directory.

    python -m alexnet_tf.train --workdir=runs/digits             # the embedded default
    python -m alexnet_tf.train --preset=paper --workdir=runs/imagenet \\
        --set data.dataset=imagenet2012 --set data.manual_dir=/data/ilsvrc2012
    python -m alexnet_tf.train --preset=tiny --strategy=mirrored --cpu_devices=2 ...

Any config field can be overridden with `--set section.field=value` (repeatable) or
`--config.section.field=value`. Rerunning the same command in the same work directory
resumes. Exit codes (`alexnet_tf.command`): 0 done, 1 unexpected, 2 usage or bad input
(also a work directory in use, no readable checkpoint, a full disk: the last complete
checkpoint is kept), 3 the loss became NaN/Inf, 42 stopped by SIGTERM/SIGINT after saving.
"""
from __future__ import annotations

import os
import sys

from alexnet_tf import command, precision
from alexnet_tf.training import stop_signals


def _take_config_flags(argv, overrides: list):
    """Moves `--config.a.b=v` arguments (absl cannot declare them) into `overrides`."""
    rest = []
    for arg in argv:
        if arg.startswith("--config."):
            body = arg[len("--config."):]
            if "=" not in body:
                raise ValueError(f"{arg}: expected --config.section.field=value")
            overrides.append(body)
        else:
            rest.append(arg)
    return rest


def main(args, config_overrides=()):
    from absl import flags
    FLAGS = flags.FLAGS
    signals = stop_signals.for_command()
    if signals.received:  # during the imports: nothing done yet
        print(f"stopped by {signals.received} during start-up: nothing was trained or "
              f"written; run the same command again")
        return command.EXIT_PREEMPTED
    from alexnet_tf import config
    from alexnet_tf.training import distribute, loop, report
    if FLAGS.cpu_devices is not None:
        distribute.split_cpu(FLAGS.cpu_devices)
    cfg = config.from_command_line(
        FLAGS.preset, dataset=FLAGS.dataset, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
        seed=FLAGS.seed, overrides=[*FLAGS.set, *config_overrides])
    options = loop.RunOptions(
        strategy=FLAGS.strategy, precision=FLAGS.precision, xla=FLAGS.xla,
        checkpoint_every_steps=FLAGS.checkpoint_every_steps,
        steps_per_call=FLAGS.steps_per_call, keep_checkpoints=FLAGS.keep_checkpoints,
        max_steps=FLAGS.max_steps, deterministic=FLAGS.deterministic,
        synthetic_data=FLAGS.synthetic_data, nan_at_step=FLAGS.nan_at_step,
        progress=FLAGS.progress)
    try:
        summary = loop.train_and_evaluate(cfg, FLAGS.workdir or os.path.join("runs", cfg.name),
                                          options, signals=signals)
    except loop.NonFiniteLossError as e:
        sys.stderr.write(f"error: {e}\n")
        return command.EXIT_NONFINITE
    print(report.end_summary(summary, cfg))
    return command.EXIT_PREEMPTED if summary["status"] == "preempted" else command.EXIT_OK


def define_flags(flags):
    command.define_config_flags(flags, also="; --config.section.field=value works too")
    flags.DEFINE_string("workdir", None, "Work directory (default runs/<preset>); rerunning the "
                        "same command there resumes from the latest checkpoint.")
    flags.DEFINE_integer("epochs", None, "Shortcut for --set train.epochs=...")
    flags.DEFINE_integer("batch_size", None, "Shortcut for --set train.batch_size=... (global).")
    flags.DEFINE_enum("strategy", "auto", ["auto", "single", "towers", "mirrored",
                                            "towers_mirrored", "multi_worker"],
                      "auto = towers on two GPUs, else single.")
    flags.DEFINE_integer("cpu_devices", None, "Split the CPU into N logical devices (lets "
                         "towers/mirrored run without GPUs).")
    flags.DEFINE_enum("precision", "auto", list(precision.REQUESTS),
                      "auto: bfloat16 on a CPU with AMX (or a GPU with bfloat16), else "
                      "float32 (a resumed run keeps its recorded one); bfloat16 keeps "
                      "float32 master weights, momentum, softmax and loss; mixed_float16 "
                      "adds dynamic loss scaling (GPUs); mixed_bfloat16 = bfloat16.")
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


def run(argv=None):
    stop_signals.for_command()  # first: a signal during start-up still exits 42
    overrides = []
    try:
        return command.run(__name__, define_flags, lambda args: main(args, overrides),
                           argv=argv, parse=lambda a: _take_config_flags(a, overrides))
    finally:
        stop_signals.ignore_sigterm_while_exiting()


if __name__ == "__main__":
    sys.exit(run())
