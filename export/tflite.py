"""`python -m export.tflite` (`alexnet-export-tflite`): TFLite files of a trained AlexNet,
verified against the Keras model.

    python -m export.tflite --model=runs/digits --output=models/tflite
    python -m export.tflite --model=runs/digits --kinds=float32,full_int8

Writes `alexnet_<kind>.tflite` for each kind (float32, float16, dynamic_int8, full_int8:
`alexnet_tf.export.tflite_conversion`) and `tflite_report.json`. full_int8 is calibrated
on training images from the input pipeline; every file is run on validation images and
compared with the Keras model: float32 probabilities within 1e-5 and float16 within 5e-3,
or the command fails. Exit codes (`alexnet_tf.command`): 0 written and within tolerance,
1 unexpected, 2 usage or bad input (no model, an op TFLite lacks, a tolerance missed, a
full disk: the files already there stay whole).
"""
from __future__ import annotations

import sys

from alexnet_tf import command


def define_flags(flags):
    from alexnet_tf.export.tflite_conversion import KINDS
    command.define_model_flags(flags)
    flags.DEFINE_string("output", "models/tflite", "Output folder.")
    flags.DEFINE_list("kinds", list(KINDS), "Which files to write.")
    flags.DEFINE_integer("calibration_images", 200, "Training images for full-int8 "
                         "calibration.")
    flags.DEFINE_integer("verification_images", 360, "Validation images for the parity check.")


def main(args):
    import os

    from absl.flags import FLAGS
    from alexnet_tf.export import tflite_conversion
    from alexnet_tf.inference import loader
    trained = loader.load_classifier(FLAGS.model, **command.model_arguments())
    tflite_conversion.export_tflite_from_pipeline(
        trained, FLAGS.output, kinds=FLAGS.kinds, calibration_count=FLAGS.calibration_images,
        verification_count=FLAGS.verification_images)
    print(f"wrote {os.path.join(FLAGS.output, tflite_conversion.REPORT_FILE)}")


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
