"""`python -m export.saved_model` (`alexnet-export`): a trained AlexNet as a SavedModel that
TensorFlow Serving serves under its default flags.

    python -m export.saved_model --model=runs/digits --output=models/alexnet
    python -m export.saved_model --model=model.keras --preset=paper \\
        --statistics=statistics.npz --output=models/alexnet

`--precision=bfloat16` stores bfloat16 weights and computes in bfloat16 (the default,
float32, suits every CPU; choose bfloat16 for a server whose CPU has AMX: the server's
CPU decides, not the exporter's).
Writes `models/alexnet/<next free version>/` atomically (saved_model.pb, variables/,
assets.extra/tf_serving_warmup_requests, assets.extra/export_info.json), after checking it
the way the server will run it (`serving_check`, in a separate process with XLA compilation
disabled), and `models.config` + `batching_parameters.txt` beside `models/alexnet`.
Exit codes (`alexnet_tf.command`): 0 published, 1 unexpected, 2 usage or bad input (no
model or statistics, a model the server cannot run, an existing version, a full disk:
nothing half-written is published and the versions before stay as they were).
"""
from __future__ import annotations

import sys

from alexnet_tf import command


def define_flags(flags):
    from alexnet_tf.export.signatures import ServingLimits
    defaults = ServingLimits()
    command.define_model_flags(flags)
    flags.DEFINE_string("output", "models/alexnet", "The model's base path (versions go "
                        "inside).")
    flags.DEFINE_integer("version", None, "Version number (default: the next free one).")
    flags.DEFINE_string("model_name", "alexnet", "The model's name in models.config.")
    flags.DEFINE_integer("max_batch_size", defaults.max_batch_size, "Images per request.")
    flags.DEFINE_integer("max_image_bytes", defaults.max_image_bytes, "Bytes per image.")
    flags.DEFINE_integer("max_request_bytes", defaults.max_request_bytes, "Bytes per request.")
    flags.DEFINE_integer("top_k", defaults.top_k, "Classes returned per image.")
    flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16"], "The served "
                      "model's weights and arithmetic: bfloat16 for a server whose CPU "
                      "has AMX; the signatures' inputs and float32 "
                      "outputs are the same either way.")
    flags.DEFINE_bool("verify", True, "Run the version as TF Serving would before publishing.")
    flags.DEFINE_string("server_config_dir", None, "Where models.config and "
                        "batching_parameters.txt go (default: beside --output).")
    flags.DEFINE_string("serving_base_path", None, "The base path as the server sees it, "
                        "e.g. /models/alexnet in a container (default: --output, absolute).")


def main(args):
    from absl.flags import FLAGS
    from alexnet_tf.export import serving_export
    from alexnet_tf.inference import loader
    from alexnet_tf.export.signatures import ServingLimits
    trained = loader.load_classifier(FLAGS.model, **command.model_arguments())
    limits = ServingLimits(max_batch_size=FLAGS.max_batch_size,
                           max_image_bytes=FLAGS.max_image_bytes,
                           max_request_bytes=FLAGS.max_request_bytes, top_k=FLAGS.top_k)
    summary = serving_export.export_saved_model(
        trained, FLAGS.output, version=FLAGS.version, limits=limits,
        model_name=FLAGS.model_name, verify=FLAGS.verify,
        server_config_dir=FLAGS.server_config_dir, serving_base_path=FLAGS.serving_base_path,
        precision=FLAGS.precision)
    print(f"wrote {summary['path']} (version {summary['version']}, {FLAGS.precision}, "
          f"{summary['bytes'] / 2**20:.1f} MiB, {summary['warmup_records']} warmup records)")
    print(f"server config: {summary['models_config']}, {summary['batching_parameters']}")
    print(f"serve it with:\n  {summary['command']}")


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
