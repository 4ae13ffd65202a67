"""One version of a trained AlexNet for TensorFlow Serving, built, written, checked the way
the server runs it and published (`export_saved_model`).

The version is written under `<base_path>/<next free version>/` atomically (saved_model.pb,
variables/, assets.extra/tf_serving_warmup_requests, assets.extra/export_info.json), after
`serving_session` ran it as the server would (in a separate process, XLA compilation
disabled); `models.config` and `batching_parameters.txt` go beside the base path.
"""
from __future__ import annotations

import dataclasses
import json
import os

from alexnet_tf import config as config_lib
from alexnet_tf import atomic, precision as precision_lib
from alexnet_tf.export import server_config, servability, serving_session
from alexnet_tf.export import signatures, warmup
from alexnet_tf.export.signatures import ServingLimits
from alexnet_tf.inference.loader import Classifier
from alexnet_tf.network.dtype_copy import dtype_copy
from alexnet_tf.export.versioning import versions, write_version

EXPORT_INFO_FILE = "export_info.json"


def directory_bytes(path) -> int:
    return sum(os.path.getsize(os.path.join(folder, f))
               for folder, _, files in os.walk(path) for f in files)


def export_saved_model(trained: Classifier, base_path, *, version=None,
                       limits: ServingLimits = ServingLimits(), model_name="alexnet",
                       verify=True, server_config_dir=None, serving_base_path=None,
                       precision: str = "float32") -> dict:
    """Writes one version under `base_path` and the server's config files; returns a
    summary (path, version, size, config files, the server command). `precision`
    bfloat16 stores bfloat16 variables and computes in bfloat16 (for a server whose CPU
    multiplies bfloat16 natively); the signatures' inputs and float32 outputs stay."""
    model = serving_model(trained, precision)
    archive = signatures.build_archive(model, trained.cfg, trained.statistics,
                                       trained.class_names, limits)
    try:
        with write_version(base_path, version) as pending:
            archive.write_out(pending.staging, verbose=False)
            signatures.mark_classify_signature(pending.staging)
            requests = warmup.warmup_requests(model_name, trained.cfg.model.image_size,
                                              trained.cfg.model.channels)
            warmup.write_warmup_file(pending.staging, requests)
            _write_export_info(pending.staging, trained, limits, precision)
            if verify:
                verify_like_the_server(pending.staging)
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


def serving_model(trained: Classifier, precision: str = "float32"):
    """The logits model a version serves: the trained one in float32, or a copy holding
    its weights in bfloat16 (cast once here, never per request)."""
    policy = precision_lib.serving_policy(precision)
    if policy == "float32" and all(layer.dtype_policy.name == "float32"
                                   for layer in trained.model.layers):
        return trained.model
    return dtype_copy(trained.model, trained.cfg.model, policy)


def _write_export_info(version_dir, trained: Classifier, limits: ServingLimits, precision):
    info = {"precision": precision_lib.canonical(precision),
            "config": config_lib.to_dict(trained.cfg), "limits": dataclasses.asdict(limits),
            "class_labels": list(trained.class_names.labels),
            "class_names": list(trained.class_names.names),
            "signatures": [signatures.DEFAULT_SIGNATURE, signatures.FLOAT_SIGNATURE,
                           signatures.FEATURES_SIGNATURE, signatures.CLASSIFY_SIGNATURE]}
    with open(os.path.join(version_dir, warmup.WARMUP_DIR, EXPORT_INFO_FILE), "w") as f:
        json.dump(info, f, indent=1)


def verify_like_the_server(version_dir):
    """The static checks, then the version run as TF Serving runs it, in a child process
    (`serving_check`); raises serving_session.NotServableError with what it said."""
    servability.check_servable(version_dir)
    code, _, stderr = serving_session.run_in_subprocess(version_dir)
    if code != 0:
        lines = [line for line in stderr.strip().splitlines() if line.strip()] or ["nothing"]
        said = next((line[len("error: "):] for line in reversed(lines)
                     if line.startswith("error: ")), lines[-1])
        raise serving_session.NotServableError(
            f"the exported model does not run the way TF Serving runs it (XLA disabled, TF1 "
            f"session loader, warmup replay); nothing was published. The check said: {said}")
