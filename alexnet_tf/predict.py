r"""`python -m alexnet_tf.predict IMAGE...`: the five most probable classes of each image.

    python -m alexnet_tf.predict --model=runs/digits cat.jpg dog.png
    python -m alexnet_tf.predict --model=model.keras --json --k=3 images/*.jpg
    python -m alexnet_tf.predict --model=bvlc_alexnet.npy photo.jpg

Images are decoded and preprocessed exactly as the exported SavedModel serves them
(`preprocessing.serving_preprocess`). A file that cannot be used is reported and skipped;
the exit status is then 1.
"""
from __future__ import annotations

import json
import sys

from absl import app, flags

FLAGS = flags.FLAGS


def define_flags(flag_values=flags.FLAGS):
    flags.DEFINE_string("model", None, "A .keras file, a training work directory, a "
                        "checkpoint prefix, or bvlc_alexnet.npy.", flag_values=flag_values)
    flags.DEFINE_integer("k", 5, "How many classes to print per image.", flag_values=flag_values)
    flags.DEFINE_bool("json", False, "Print JSON instead of text.", flag_values=flag_values)
    flags.DEFINE_string("preset", None, "Config preset, when no config.json is beside the "
                        "model and its size does not identify one.", flag_values=flag_values)
    flags.DEFINE_string("statistics", None, "Dataset statistics .npz (default: beside the "
                        "model, or the dataset's own).", flag_values=flag_values)
    flags.DEFINE_string("class_names", None, "class_names.txt (default: beside the model).",
                        flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 64, "Images per model call.", flag_values=flag_values)
    flags.mark_flag_as_required("model", flag_values=flag_values)


def main(argv):
    images = argv[1:]
    if not images:
        raise app.UsageError("give at least one image file")
    from alexnet_tf import inference, prediction
    try:
        classifier = inference.load_classifier(
            FLAGS.model, config=FLAGS.preset, statistics=FLAGS.statistics,
            class_names=FLAGS.class_names)
        result = prediction.predict_files(classifier, images, k=FLAGS.k,
                                          batch_size=FLAGS.batch_size)
    except (ValueError, OSError, RuntimeError) as e:   # a bad model path or option: one line
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if FLAGS.json else prediction.format_text(result))
    if result["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
