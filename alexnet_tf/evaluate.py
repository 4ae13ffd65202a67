"""`python -m alexnet_tf.evaluate`: top-1/top-5 error of a model, or an ensemble, on a split.

    python -m alexnet_tf.evaluate --model=runs/digits                  # a work directory
    python -m alexnet_tf.evaluate --model=runs/digits/model.keras      # a .keras file
    python -m alexnet_tf.evaluate --model=runs/a --model=runs/b ...    # averaged ensemble

Each `--model` is loaded as every command loads a model (`inference.loader`): a work
directory gives its config (dataset, preprocessing), statistics and latest checkpoint; a
`.keras` file or checkpoint prefix uses the config.json of its work directory, elsewhere
`--preset` (required then: nothing is guessed); `--set` overrides fields of either.
Prints centre-crop and multi-crop errors (§4.1, §6), each row naming its view: `ten_crop`
is the paper's ten patches (corners, centre and their reflections) for a config that trains
with reflections, the five unreflected ones for one that trains without
(`data.random_flip=False`, e.g. digits).
`--output` writes the results as JSON, atomically (the previous file or the new one, never
half of it); its folder is created, and a path that cannot be written is refused before the
evaluation starts. Exit codes (`alexnet_tf.command`): 0 done, 1 unexpected, 2 usage or bad input
(a missing or damaged model, an unknown dataset, a bad flag, a full disk).
"""
from __future__ import annotations

import json
import os
import sys

from alexnet_tf import atomic, command


def main(args):
    from absl import flags
    from alexnet_tf.inference import evaluation
    FLAGS = flags.FLAGS
    if FLAGS.output:
        prepare_output(FLAGS.output)
    crops = [mode for mode in evaluation.MODES if mode in FLAGS.crops]
    results = evaluation.run_evaluation(
        FLAGS.model, split=FLAGS.split, crops=crops, batch_size=FLAGS.batch_size,
        max_images=FLAGS.max_images, **command.model_arguments())
    print(evaluation.format_results(results, FLAGS.model))
    if FLAGS.output:
        write_results(FLAGS.output, models=FLAGS.model, split=FLAGS.split, results=results)


def prepare_output(path):
    """Create the folder of `--output`, or refuse it in one line, before an evaluation
    that may take hours ends in a path that cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise command.UserError(f"--output={path}: is a directory, not a file")
    try:
        os.makedirs(folder, exist_ok=True)
    except FileExistsError:                     # makedirs' word for "the folder is a file"
        raise command.UserError(f"--output={path}: {folder} is a file, not a folder") from None
    except OSError as error:
        raise command.UserError(f"--output={path}: cannot create {folder}: "
                                f"{error.strerror}") from None


def write_results(path, *, models, split, results):
    """The results as JSON at `path`, published whole: a reader (or the previous file, on
    a full disk) never sees half of it."""
    atomic.publish(path, json.dumps(
        {"models": list(models), "split": split, "results": results}, indent=1))


def define_flags(flags):
    command.define_model_flags(flags, ensemble=True, class_names=False)
    flags.DEFINE_enum("split", "validation", ["train", "validation"], "Which split.")
    flags.DEFINE_multi_enum("crops", ["center", "ten_crop"], ["center", "ten_crop"],
                            "center, ten_crop, or both (repeat the flag). ten_crop averages "
                            "over corners + centre, and their reflections only where the "
                            "config trains with reflections (data.random_flip).")
    flags.DEFINE_integer("batch_size", 64, "Images per batch (x10 or x5 crops in ten_crop mode).")
    flags.DEFINE_integer("max_images", None, "Evaluate only the first N images.")
    flags.DEFINE_string("output", None, "Also write the results as JSON to this file.")


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
