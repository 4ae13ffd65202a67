"""Writes a trained AlexNet as a SavedModel that TensorFlow Serving serves under its
default flags.

    python -m export.saved_model --model=runs/digits --output=models/alexnet
    python -m export.saved_model --model=model.keras --preset=paper \\
        --statistics=statistics.npz --output=models/alexnet

Writes `models/alexnet/<next free version>/` atomically (saved_model.pb, variables/,
assets.extra/tf_serving_warmup_requests, assets.extra/export_info.json), after checking it
the way the server will run it (`serving_check`, in a separate process with XLA compilation
disabled), and `models.config` + `batching_parameters.txt` beside `models/alexnet`.
"""
from __future__ import annotations

import dataclasses
import json
import os

import keras

from alexnet_tf.data import class_names as class_names_lib
from alexnet_tf import config as config_lib
from alexnet_tf.data.statistics import DatasetStatistics
from alexnet_tf import atomic
from alexnet_tf.export import server_config, servability, serving_check, signatures
from alexnet_tf.export import warmup
from alexnet_tf.export.signatures import ServingLimits
from alexnet_tf.export.versioning import versions, write_version

EXPORT_INFO_FILE = "export_info.json"


@dataclasses.dataclass
class TrainedModel:
    """A logits model with what serving needs beside it."""
    model: keras.Model
    cfg: config_lib.Config
    stats: DatasetStatistics | None
    classes: class_names_lib.ClassNames


def load_trained_model(path, preset=None, overrides=(), statistics=None,
                       class_names=None, require_statistics=True) -> TrainedModel:
    """From a training work directory (config, statistics and class names come with it), a
    checkpoint prefix inside one (`<workdir>/checkpoints/ckpt-<step>`), or a `.keras` file
    (then a work directory around it is used if there is one; otherwise `preset`/`overrides`
    and `statistics` say what it was trained with)."""
    from alexnet_tf.training import checkpoints as checkpointing
    path = os.path.abspath(os.fspath(path))
    is_checkpoint = os.path.exists(path + ".index")
    if not (os.path.exists(path) or is_checkpoint):
        raise FileNotFoundError(f"no model at {path} (expected a .keras file, a training "
                                "work directory or a checkpoint prefix)")
    if os.path.isdir(path):
        workdir = path
    elif is_checkpoint:
        workdir = os.path.dirname(os.path.dirname(path))
    else:
        workdir = os.path.dirname(path)
    has_config = os.path.exists(os.path.join(workdir, checkpointing.CONFIG_FILE))
    if os.path.isdir(path) or is_checkpoint or (has_config and preset is None):
        cfg = checkpointing.load_config(workdir)
    else:
        cfg = config_lib.get_config(preset or "paper")
    cfg = config_lib.override(cfg, overrides)
    model = checkpointing.load_model(path, None if path.endswith(".keras") else cfg)

    statistics = statistics or _existing(workdir, checkpointing.STATISTICS_FILE)
    if not statistics and require_statistics:
        raise FileNotFoundError(
            f"no dataset statistics for {path}: pass --statistics=<statistics.npz> (the "
            "mean the model was trained with; training writes it to its work directory)")
    stats = DatasetStatistics.load(statistics) if statistics else None
    if statistics and not cfg.data.statistics_path:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(
            cfg.data, statistics_path=os.path.abspath(statistics)))

    class_names = class_names or _existing(workdir, checkpointing.CLASS_NAMES_FILE)
    classes = (class_names_lib.from_file(class_names) if class_names
               else class_names_lib.for_classes(model.output_shape[-1], cfg.data.dataset))
    return TrainedModel(model=model, cfg=cfg, stats=stats, classes=classes)


def _existing(folder, name):
    path = os.path.join(folder, name)
    return path if os.path.exists(path) else None


def directory_bytes(path) -> int:
    return sum(os.path.getsize(os.path.join(folder, f))
               for folder, _, files in os.walk(path) for f in files)


def export_saved_model(trained: TrainedModel, base_path, *, version=None,
                       limits: ServingLimits = ServingLimits(), model_name="alexnet",
                       verify=True, server_config_dir=None, serving_base_path=None) -> dict:
    """Writes one version under `base_path` and the server's config files; returns a
    summary (path, version, size, config files, the server command)."""
    archive = signatures.build_archive(trained.model, trained.cfg, trained.stats,
                                       trained.classes, limits)
    try:
        with write_version(base_path, version) as pending:
            archive.write_out(pending.staging, verbose=False)
            signatures.mark_classify_signature(pending.staging)
            requests = warmup.warmup_requests(model_name, trained.cfg.model.image_size,
                                              trained.cfg.model.channels)
            warmup.write_warmup_file(pending.staging, requests)
            _write_export_info(pending.staging, trained, limits)
            if verify:
                _verify_like_the_server(pending.staging)
            else:
                servability.check_servable(pending.staging)
    except Exception as e:
        if not atomic.is_disk_full(e):
            raise
        # write_version has removed the unfinished version by now.
        raise atomic.DiskFullError(
            atomic.full_path(e) or base_path, "the new version "
            f"was not published (its partial files are removed); {_published(base_path)}") \
            from None
    config_dir = server_config_dir or os.path.dirname(os.path.abspath(base_path))
    try:
        files = server_config.write_server_files(
            config_dir, model_name, serving_base_path or os.path.abspath(base_path), limits)
    except Exception as e:
        if not atomic.is_disk_full(e):
            raise
        target = atomic.full_path(e) or config_dir
        raise atomic.DiskFullError(
            target, f"{pending.path} was published and is complete, "
            f"{target} was left as it was") from None
    return {
        "path": pending.path,
        "version": pending.version,
        "bytes": directory_bytes(pending.path),
        "warmup_records": len(requests),
        **files,
        "command": server_config.server_command(config_dir),
        "command_with_batching": server_config.server_command(config_dir, batching=True),
    }


def _published(base_path) -> str:
    present = versions(base_path)
    if not present:
        return f"no version had been published under {base_path} before"
    return (f"published versions are intact (latest: "
            f"{os.path.join(base_path, str(present[-1]))})")


def _write_export_info(version_dir, trained: TrainedModel, limits: ServingLimits):
    info = {"config": config_lib.to_dict(trained.cfg), "limits": dataclasses.asdict(limits),
            "class_labels": list(trained.classes.labels),
            "class_names": list(trained.classes.names),
            "signatures": [signatures.DEFAULT_SIGNATURE, signatures.FLOAT_SIGNATURE,
                           signatures.FEATURES_SIGNATURE, signatures.CLASSIFY_SIGNATURE]}
    with open(os.path.join(version_dir, warmup.WARMUP_DIR, EXPORT_INFO_FILE), "w") as f:
        json.dump(info, f, indent=1)


def _verify_like_the_server(version_dir):
    servability.check_servable(version_dir)
    code, _, stderr = serving_check.run_in_subprocess(version_dir)
    if code != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"the exported model does not run the way TF Serving runs it "
                           f"(XLA disabled, TF1 session loader, warmup replay); nothing was "
                           f"published. The check said:\n{tail}")


# What a user can cause (a wrong path, a missing statistics file, a model the server cannot
# run, an existing version, a full disk): one message, exit code 2, no stack trace.
USER_ERRORS = (FileNotFoundError, FileExistsError, ValueError, RuntimeError,
               atomic.DiskFullError)


def run_command(command, argv) -> int:
    import sys
    try:
        command(argv)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        if not atomic.is_disk_full(e):
            raise
        print(f"error: disk full writing {atomic.full_path(e) or 'the output'}",
              file=sys.stderr)
        return 2
    return 0


def main(argv):
    return run_command(_export_command, argv)


def _export_command(argv):
    import tensorflow as tf
    from absl import flags
    del argv
    FLAGS = flags.FLAGS
    tf.get_logger().setLevel("ERROR")
    trained = load_trained_model(FLAGS.model, preset=FLAGS.preset, overrides=FLAGS.set,
                                 statistics=FLAGS.statistics, class_names=FLAGS.class_names)
    limits = ServingLimits(max_batch_size=FLAGS.max_batch_size,
                           max_image_bytes=FLAGS.max_image_bytes,
                           max_request_bytes=FLAGS.max_request_bytes, top_k=FLAGS.top_k)
    summary = export_saved_model(trained, FLAGS.output, version=FLAGS.version, limits=limits,
                                 model_name=FLAGS.model_name, verify=FLAGS.verify,
                                 server_config_dir=FLAGS.server_config_dir,
                                 serving_base_path=FLAGS.serving_base_path)
    print(f"wrote {summary['path']} (version {summary['version']}, "
          f"{summary['bytes'] / 2**20:.1f} MiB, {summary['warmup_records']} warmup records)")
    print(f"server config: {summary['models_config']}, {summary['batching_parameters']}")
    print(f"serve it with:\n  {summary['command']}")


def _define_flags():
    from absl import flags
    defaults = ServingLimits()
    flags.DEFINE_string("model", None, "A .keras file or a training work directory.",
                        required=True)
    flags.DEFINE_string("output", "models/alexnet", "The model's base path (versions go "
                        "inside).")
    flags.DEFINE_integer("version", None, "Version number (default: the next free one).")
    flags.DEFINE_string("preset", None, "Config preset for a bare .keras file.")
    flags.DEFINE_multi_string("set", [], "Config override section.field=value (repeatable), "
                              "as for training.")
    flags.DEFINE_string("statistics", None, "statistics.npz (default: the work directory's).")
    flags.DEFINE_string("class_names", None, "class_names.txt (default: the work directory's, "
                        "else ImageNet's for 1000 classes).")
    flags.DEFINE_string("model_name", "alexnet", "The model's name in models.config.")
    flags.DEFINE_integer("max_batch_size", defaults.max_batch_size, "Images per request.")
    flags.DEFINE_integer("max_image_bytes", defaults.max_image_bytes, "Bytes per image.")
    flags.DEFINE_integer("max_request_bytes", defaults.max_request_bytes, "Bytes per request.")
    flags.DEFINE_integer("top_k", defaults.top_k, "Classes returned per image.")
    flags.DEFINE_bool("verify", True, "Run the version as TF Serving would before "
                      "publishing it.")
    flags.DEFINE_string("server_config_dir", None, "Where models.config and "
                        "batching_parameters.txt go (default: beside --output).")
    flags.DEFINE_string("serving_base_path", None, "The base path as the server sees it, "
                        "e.g. /models/alexnet in a container (default: --output, absolute).")


if __name__ == "__main__":
    from absl import app
    _define_flags()
    app.run(main)
