"""Files for `tensorflow_model_server`: a model config list, batching parameters, and the
command line that uses them."""
from __future__ import annotations

import os
import shlex

from alexnet_tf import atomic
from alexnet_tf.export.signatures import ServingLimits

MODELS_CONFIG_FILE = "models.config"
BATCHING_FILE = "batching_parameters.txt"
GRPC_PORT = 8500      # the server's defaults, written out so the README commands are exact
REST_PORT = 8501


def models_config_text(model_name: str, base_path: str) -> str:
    """A `ModelServerConfig` text proto serving the latest version of one model."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = model_name
    model.base_path = base_path
    model.model_platform = "tensorflow"
    model.model_version_policy.latest.num_versions = 1
    return text_format.MessageToString(config)


def batching_parameters_text(limits: ServingLimits, batch_timeout_micros=2000,
                             num_batch_threads=None, max_enqueued_batches=64) -> str:
    """`BatchingParameters` (session_bundle_config.proto) as text. tensorflow-serving-api
    does not ship that proto, so it is written field by field; tests parse it back against
    the upstream field list. `max_batch_size` equals the model's own per-request limit."""
    threads = num_batch_threads or os.cpu_count() or 1
    sizes = sorted({s for s in (1, 2, 4, 8, 16, 32, 64, 128, 256)
                    if s < limits.max_batch_size} | {limits.max_batch_size})
    lines = [
        f"max_batch_size {{ value: {limits.max_batch_size} }}",
        f"batch_timeout_micros {{ value: {int(batch_timeout_micros)} }}",
        f"max_enqueued_batches {{ value: {int(max_enqueued_batches)} }}",
        f"num_batch_threads {{ value: {int(threads)} }}",
    ]
    lines += [f"allowed_batch_sizes: {s}" for s in sizes]
    lines.append("pad_variable_length_inputs: false")
    return "\n".join(lines) + "\n"


def server_command(config_dir: str, batching=False) -> str:
    """The `tensorflow_model_server` command line for the files in `config_dir` (default
    flags otherwise: XLA compilation stays disabled, warmup records are replayed)."""
    args = ["tensorflow_model_server", f"--port={GRPC_PORT}", f"--rest_api_port={REST_PORT}",
            f"--model_config_file={os.path.join(config_dir, MODELS_CONFIG_FILE)}"]
    if batching:
        args += ["--enable_batching=true",
                 f"--batching_parameters_file={os.path.join(config_dir, BATCHING_FILE)}"]
    return " ".join(shlex.quote(a) for a in args)


def write_server_files(config_dir, model_name, base_path, limits: ServingLimits) -> dict:
    """Writes models.config and batching_parameters.txt; returns their paths."""
    os.makedirs(config_dir, exist_ok=True)
    paths = {"models_config": os.path.join(config_dir, MODELS_CONFIG_FILE),
             "batching_parameters": os.path.join(config_dir, BATCHING_FILE)}
    texts = {"models_config": models_config_text(model_name, base_path),
             "batching_parameters": batching_parameters_text(limits)}
    for key, path in paths.items():
        # A server re-reading the file never sees half of it; a full disk leaves it as it was.
        atomic.publish(path, texts[key])
    return paths
