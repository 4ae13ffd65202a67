"""Sizes and speed of the exported models, measured the way they are served.

    python -m export.benchmark --preset=paper --output=/tmp/alexnet_bench
    python -m export.benchmark --model=runs/digits --output=/tmp/digits_bench

Exports a SavedModel (random weights for a preset: size and speed do not depend on the
values) and the four TFLite files, then times the `serving_default` signature through the
TF1 session loader with XLA compilation disabled, as TF Serving runs it: the latency of one
500x375 JPEG (median of repeated calls) and images/s at batch 64. Prints one JSON report.
Run it on an otherwise idle machine; figures are for the CPU it runs on.
"""
from __future__ import annotations

import json
import os
import statistics as stats_lib
import time

import numpy as np


def _time_calls(run, repeats):
    run()                                     # first call: graph set-up, not measured
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def serving_speed(version_dir, image_bytes, batch_repeats=5, single_repeats=30) -> dict:
    """Latency at batch 1 and throughput at batch 64 of `serving_default`, XLA disabled."""
    from export import serving_check
    serving_check.disable_xla_compilation()
    servable = serving_check.SessionServable(version_dir)
    try:
        one = {"images": np.array([image_bytes], dtype=object)}
        batch = {"images": np.array([image_bytes] * 64, dtype=object)}
        single = _time_calls(lambda: servable.run("serving_default", one), single_repeats)
        batched = _time_calls(lambda: servable.run("serving_default", batch), batch_repeats)
    finally:
        servable.close()
    return {"latency_ms_batch1_median": 1000 * stats_lib.median(single),
            "latency_ms_batch1_min": 1000 * min(single),
            "images_per_second_batch64": 64 / stats_lib.median(batched)}


def tflite_latency(flatbuffer, size, repeats=10) -> float:
    """Median ms of one invoke at batch 1 (ai-edge-litert, default resolver, XNNPACK)."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_content=flatbuffer, num_threads=os.cpu_count())
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    interpreter.set_tensor(index, np.zeros((1, size, size, 3), np.float32))
    return 1000 * stats_lib.median(_time_calls(interpreter.invoke, repeats))


def run(preset=None, model_path=None, output="/tmp/alexnet_bench", tflite_kinds=None,
        calibration_count=16) -> dict:
    import tensorflow as tf

    from alexnet_tf import class_names, config
    from alexnet_tf.model import build_alexnet
    from alexnet_tf.pretrained import CAFFE_MEAN_RGB
    from alexnet_tf.statistics import DatasetStatistics
    from export import tflite, warmup
    from export.saved_model import TrainedModel, export_saved_model, load_trained_model

    if model_path:
        trained = load_trained_model(model_path)
    else:
        cfg = config.get_config(preset)
        trained = TrainedModel(
            model=build_alexnet(cfg.model), cfg=cfg,
            stats=DatasetStatistics.per_channel(CAFFE_MEAN_RGB, size=cfg.data.resize_size),
            classes=class_names.for_classes(cfg.model.num_classes, cfg.data.dataset))
    report = {"preset": trained.cfg.name, "parameters": trained.model.count_params()}
    summary = export_saved_model(trained, os.path.join(output, "models", "alexnet"),
                                 verify=False)
    report["saved_model_bytes"] = summary["bytes"]
    report["saved_model_path"] = summary["path"]

    jpeg = warmup.sample_images()[1]          # 500x375, a typical photo's shape
    report.update(serving_speed(summary["path"], jpeg))

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


def main(argv):
    from absl import flags
    del argv
    FLAGS = flags.FLAGS
    if bool(FLAGS.preset) == bool(FLAGS.model):
        raise SystemExit("pass exactly one of --preset or --model")
    report = run(preset=FLAGS.preset, model_path=FLAGS.model, output=FLAGS.output)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    from absl import app, flags
    flags.DEFINE_string("preset", None, "A config preset (random weights).")
    flags.DEFINE_string("model", None, "A .keras file or training work directory.")
    flags.DEFINE_string("output", "/tmp/alexnet_bench", "Scratch folder for the files.")
    app.run(main)
