r"""`python -m tools.experiments` (`alexnet-experiments`): the paper's measured claims as a
grid of training runs, and a report of what the runs resolve.

    python -m tools.experiments --output=runs/claims                 # digits, 3 seeds
    python -m tools.experiments --output=runs/claims_folder --preset=tiny \
        --dataset=folder --data_dir=/data/imgs --set model.num_classes=5
    python -m tools.experiments --output=/mnt/nfs/claims --preset=paper \
        --dataset=imagenet2012 --data_dir=/data/tfds --manual_dir=/data/ilsvrc --seeds=1

Each (arm, seed) is an ordinary training work directory under --output/runs: a killed
grid resumes where it stopped, a re-run skips finished runs, and --only (claims) and
--seeds split the grid between processes or machines sharing --output. At its end the
command writes report.md, report.json and the PNGs into --output, naming any run not
finished yet (--report_only: just that, from the runs finished so far). The claims:
groups (§3.2), lrn (§3.3), pooling (§3.4), crops and pca (§4.1), dropout (§4.2),
ten_crop (§6), figure1 (§3.1).
Exit codes (`alexnet_tf.command`): 0 done, 1 unexpected, 2 usage or bad input (also runs
left for a rerun because another process held them), 42 stopped by SIGTERM/SIGINT after
saving: the same command resumes.
"""
from __future__ import annotations

import sys
import time

from alexnet_tf import command
from alexnet_tf.training import stop_signals


def main(args):
    from absl.flags import FLAGS
    signals = stop_signals.for_command()
    from alexnet_tf.experiments import report, runner
    overrides = [f"data.{name}={getattr(FLAGS, name)}" for name in
                 ("dataset", "data_dir", "manual_dir") if getattr(FLAGS, name)]
    seeds = _numbers(FLAGS.seeds, int, "--seeds", "integers, e.g. --seeds=0,1,2")
    rates = _numbers(FLAGS.figure1_rates, float, "--figure1_rates",
                     "numbers, e.g. --figure1_rates=0.003,0.01")
    spec = runner.GridSpec(
        preset=FLAGS.preset, overrides=tuple(overrides + list(FLAGS.set)),
        epochs=FLAGS.epochs, seeds=seeds,
        only=tuple(FLAGS.only), strategy=FLAGS.strategy,
        clean_train_images=FLAGS.clean_train_images, figure1_epochs=FLAGS.figure1_epochs,
        figure1_rates=rates,
        figure1_target=FLAGS.figure1_target, converge_tolerance=FLAGS.converge_tolerance)
    grid = runner.Grid(spec, FLAGS.output)
    started = time.perf_counter()
    outcome = {"status": "completed", "skipped": []}
    if FLAGS.report_only and not (grid.output / runner.RUNS_DIR).is_dir():
        return command.fail(f"nothing to report: {grid.output} holds no runs/ folder (the "
                            f"--output of a grid)")
    if not FLAGS.report_only:
        outcome = runner.run_grid(grid, signals=signals)
        if outcome["status"] == "preempted":
            print("stopped: every finished run is kept; run the same command again to go on")
            return command.EXIT_PREEMPTED
    paths = report.write(grid, FLAGS.output,
                         wall_seconds=None if FLAGS.report_only
                         else time.perf_counter() - started)
    return command.wrote(paths, outcome["skipped"])


def _numbers(items, kind, flag, expected):
    try:
        return tuple(kind(item) for item in items)
    except ValueError:
        raise ValueError(f"{flag} takes {expected}; got {','.join(items)}") from None


def define_flags(flags):
    flags.DEFINE_string("output", None, "Folder of the grid: runs/<arm>/seed<k> work "
                        "directories, report.md, report.json, the PNGs.", required=True)
    command.define_config_flags(flags, applies_to=" for every arm")
    flags.DEFINE_string("data_dir", None, "Shortcut for --set data.data_dir=...")
    flags.DEFINE_string("manual_dir", None, "Shortcut for --set data.manual_dir=...")
    flags.DEFINE_integer("epochs", None, "Epochs of every arm (default the preset's); the "
                         "preset's rate drops move with it.")
    flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds this process runs (every arm of a "
                      "claim runs each one, so differences pair by seed).")
    flags.DEFINE_list("only", [], "Claims this process runs (default all): groups, lrn, "
                      "pooling, crops, pca, dropout, ten_crop, figure1.")
    flags.DEFINE_enum("strategy", "auto", ["auto", "single", "towers", "mirrored"],
                      "As alexnet_tf.train's --strategy.")
    flags.DEFINE_integer("clean_train_images", 2000, "Training images evaluated after every "
                         "epoch (evaluation mode) for the overfitting gap and Figure 1.")
    flags.DEFINE_integer("figure1_epochs", None, "Epochs of Figure 1's runs (default the "
                         "grid's).")
    flags.DEFINE_list("figure1_rates", [], "Learning rates Figure 1's sweep tries (default "
                      "the preset's rate x 0.3, 1, 3, 10).")
    flags.DEFINE_float("figure1_target", 0.25, "Figure 1's target training error (§3.1: "
                       "25%).")
    flags.DEFINE_float("converge_tolerance", 0.01, "Epochs to converge: the first epoch "
                       "within this much validation top-1 error of the run's best.")
    flags.DEFINE_bool("report_only", False, "Write the report from the runs finished so far; "
                      "train nothing.")


def run(argv=None):
    stop_signals.for_command()   # first: a signal during start-up still exits 42
    try:
        return command.run(__name__, define_flags, main, argv=argv)
    finally:
        stop_signals.ignore_sigterm_while_exiting()


if __name__ == "__main__":
    sys.exit(run())
