r"""`python -m alexnet_tf.predict IMAGE...`: the five most probable classes of each image.

    python -m alexnet_tf.predict --model=runs/digits cat.jpg dog.png
    python -m alexnet_tf.predict --model=model.keras --json --k=3 images/*.jpg
    python -m alexnet_tf.predict --model=bvlc_alexnet.npy photo.jpg

The model is loaded as every command loads one (`inference.loader`): config, statistics
and class names from its work directory; a `.keras` file outside one needs `--preset`.
Images are decoded and preprocessed exactly as the exported SavedModel serves them
(`preprocessing.serving_preprocess`). A file that cannot be used is reported and skipped;
the others are still classified, and the exit status is then 2 (`alexnet_tf.command`).
"""
from __future__ import annotations

import json
import sys

from alexnet_tf import command


def define_flags(flags):
    command.define_model_flags(flags)
    flags.DEFINE_integer("k", 5, "How many classes to print per image.")
    flags.DEFINE_bool("json", False, "Print JSON instead of text.")
    flags.DEFINE_integer("batch_size", 64, "Images per model call.")


def main(images):
    from absl import flags
    from alexnet_tf.inference import loader, prediction
    FLAGS = flags.FLAGS
    if not images:
        return command.fail("give at least one image file")
    classifier = loader.load_classifier(FLAGS.model, **command.model_arguments())
    result = prediction.predict_files(classifier, images, k=FLAGS.k,
                                      batch_size=FLAGS.batch_size)
    print(json.dumps(result, indent=2) if FLAGS.json else prediction.format_text(result))
    return command.EXIT_USAGE if result["errors"] else command.EXIT_OK


def run(argv=None):
    return command.run(__name__, define_flags, main, takes_arguments=True, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
