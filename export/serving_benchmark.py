"""`python -m export.serving_benchmark` (`alexnet-serving-benchmark`): sizes and speed of
the exported models, measured the way they are served.

    python -m export.serving_benchmark --preset=paper --output=/tmp/alexnet_bench
    python -m export.serving_benchmark --model=runs/digits --output=/tmp/digits_bench

Exports a SavedModel (random weights for a preset: size and speed do not depend on the
values) and the four TFLite files, then times the `serving_default` signature through the
TF1 session loader with XLA compilation disabled, as TF Serving runs it: the latency of one
500x375 JPEG (median of repeated calls) and images/s at batch 64, each beside the bare
forward pass (`predict_images`) timed in turns with it, so the two share the machine's load.
Prints one JSON report with the load average; figures are for the CPU it runs on.
"""
from __future__ import annotations

import os
import statistics as stats_lib
import sys
import time

import numpy as np

from alexnet_tf import command


def _time_interleaved(runs: dict, repeats) -> dict:
    """Median seconds of each call, taking turns so that all see the same machine load."""
    for run in runs.values():
        run()                                 # graph set-up, not measured
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: stats_lib.median(t) for name, t in times.items()}


def serving_speed(version_dir, image_bytes, image_size, batch_repeats=5,
                  single_repeats=30) -> dict:
    """`serving_default` (decode + preprocess + forward) at batch 1 and 64 beside
    `predict_images` (forward only), XLA disabled, as TF Serving runs them."""
    from alexnet_tf.export import serving_session
    serving_session.disable_xla_compilation()
    servable = serving_session.SessionServable(version_dir)

    def encoded(n):
        return lambda: servable.run("serving_default",
                                    {"images": np.array([image_bytes] * n, dtype=object)})

    def pixels(n):
        zeros = np.zeros((n, image_size, image_size, 3), np.float32)
        return lambda: servable.run("predict_images", {"images": zeros})

    try:
        single = _time_interleaved({"bytes": encoded(1), "pixels": pixels(1)}, single_repeats)
        batched = _time_interleaved({"bytes": encoded(64), "pixels": pixels(64)},
                                    batch_repeats)
    finally:
        servable.close()
    return {"serving_default_ms_batch1": 1000 * single["bytes"],
            "serving_default_images_per_second_batch64": 64 / batched["bytes"],
            "predict_images_ms_batch1": 1000 * single["pixels"],
            "predict_images_images_per_second_batch64": 64 / batched["pixels"],
            "load_average": os.getloadavg()[0]}


def tflite_latency(flatbuffer, size, repeats=10) -> float:
    """Median ms of one invoke at batch 1 (ai-edge-litert, default resolver, XNNPACK)."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_content=flatbuffer, num_threads=os.cpu_count())
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    interpreter.set_tensor(index, np.zeros((1, size, size, 3), np.float32))
    return 1000 * _time_interleaved({"invoke": interpreter.invoke}, repeats)["invoke"]


def measure(preset=None, model_path=None, output="/tmp/alexnet_bench", tflite_kinds=None,
            calibration_count=16) -> dict:
    """Exports the model of `preset` (random weights) or at `model_path`; returns the
    report of the module doc."""
    import tensorflow as tf

    from alexnet_tf.data import class_names

    from alexnet_tf import config
    from alexnet_tf.network.model import build_alexnet
    from alexnet_tf.network.pretrained import CAFFE_MEAN_RGB
    from alexnet_tf.data.statistics import DatasetStatistics
    from alexnet_tf.export import tflite_conversion as tflite, warmup
    from alexnet_tf.export.serving_export import export_saved_model
    from alexnet_tf.inference.loader import Classifier, load_classifier

    if model_path:
        trained = load_classifier(model_path)
    else:
        cfg = config.get_config(preset)
        trained = Classifier(
            model=build_alexnet(cfg.model), cfg=cfg,
            statistics=DatasetStatistics.per_channel(CAFFE_MEAN_RGB, size=cfg.data.resize_size),
            class_names=class_names.for_classes(cfg.model.num_classes, cfg.data.dataset))
    report = {"preset": trained.cfg.name, "parameters": trained.model.count_params()}
    summary = export_saved_model(trained, os.path.join(output, "models", "alexnet"),
                                 verify=False)
    report["saved_model_bytes"] = summary["bytes"]
    report["saved_model_path"] = summary["path"]

    jpeg = warmup.sample_images()[1]          # 500x375, a typical photo's shape
    report.update(serving_speed(summary["path"], jpeg, trained.cfg.model.image_size))

    size = trained.cfg.model.image_size
    rng = np.random.RandomState(0)
    # Sizes only: calibration quality does not change them (parity is measured on a
    # trained model with `python -m export.tflite`).
    calibration = rng.randn(calibration_count, size, size, 3).astype(np.float32)
    report["tflite_bytes"] = {}
    for kind in tflite_kinds or tflite.KINDS:
        flatbuffer = tflite.convert(trained.model, kind, representative_images=calibration)
        path = os.path.join(output, f"alexnet_{kind}.tflite")
        with open(path, "wb") as f:
            f.write(flatbuffer)
        report["tflite_bytes"][kind] = len(flatbuffer)
        report[f"tflite_{kind}_latency_ms_batch1_median"] = tflite_latency(flatbuffer, size)
    report["tensorflow"] = tf.__version__
    report["cpus"] = os.cpu_count()
    return report


def define_flags(flags):
    flags.DEFINE_string("preset", None, "A config preset (random weights).")
    flags.DEFINE_string("model", None, "A .keras file or training work directory.")
    flags.DEFINE_string("output", "/tmp/alexnet_bench", "Scratch folder for the files.")


def main(args):
    import json

    from absl.flags import FLAGS
    if bool(FLAGS.preset) == bool(FLAGS.model):
        return command.fail("pass exactly one of --preset or --model")
    print(json.dumps(measure(preset=FLAGS.preset, model_path=FLAGS.model,
                             output=FLAGS.output), indent=1))


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
