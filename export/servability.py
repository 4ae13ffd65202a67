"""Static checks that a SavedModel is servable by TensorFlow Serving under its default flags.

The server disables XLA compilation unless started with `--xla_cpu_compilation_enabled`;
a node marked `_XlaMustCompile` (Keras' `Conv2D(groups=...)` on TensorFlow makes them)
then fails with `InternalError: XLA compilation disabled` (docs/serving.md, "The server's
default: no XLA"). These checks read the `saved_model.pb` only; `serving_check` runs the
model the way the server does.
"""
from __future__ import annotations

import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

SERVE_TAG = "serve"
WARMUP_DIR = "assets.extra"                  # TF Serving's layout of a version directory
WARMUP_FILE = "tf_serving_warmup_requests"
_XLA_ATTRS = ("_XlaMustCompile",)


def read_saved_model(version_dir) -> saved_model_pb2.SavedModel:
    path = os.path.join(version_dir, "saved_model.pb")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no saved_model.pb in {version_dir}")
    proto = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        proto.ParseFromString(f.read())
    return proto


def serving_meta_graph(proto: saved_model_pb2.SavedModel):
    for meta_graph in proto.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return meta_graph
    raise ValueError(f"the SavedModel has no meta graph tagged {SERVE_TAG!r}, "
                     "which TF Serving loads")


def xla_must_compile_nodes(meta_graph) -> list:
    """Names of nodes (in the graph or any function) that insist on XLA compilation."""
    found = []
    nodes = [("", n) for n in meta_graph.graph_def.node]
    for function in meta_graph.graph_def.library.function:
        nodes += [(function.signature.name + "/", n) for n in function.node_def]
    for scope, node in nodes:
        for attr in _XLA_ATTRS:
            if attr in node.attr and node.attr[attr].b:
                found.append(scope + node.name)
    return found


def invalid_signatures(meta_graph) -> list:
    """Signature keys TF Serving would refuse (wrong method name, inputs or outputs)."""
    is_valid = tf.compat.v1.saved_model.signature_def_utils.is_valid_signature
    return [key for key, signature in meta_graph.signature_def.items()
            if not key.startswith("__") and not is_valid(signature)]


def check_servable(version_dir):
    """Raises ValueError naming every reason TF Serving (default flags) would refuse it."""
    meta_graph = serving_meta_graph(read_saved_model(version_dir))
    problems = []
    xla_nodes = xla_must_compile_nodes(meta_graph)
    if xla_nodes:
        problems.append(f"{len(xla_nodes)} nodes must be compiled by XLA, which TF Serving "
                        f"disables by default (e.g. {xla_nodes[:3]}); Keras' "
                        "Conv2D(groups=...) makes them: use GroupedConv2D")
    bad = invalid_signatures(meta_graph)
    if bad:
        problems.append(f"signatures TF Serving cannot serve: {bad}")
    if "serving_default" not in meta_graph.signature_def:
        problems.append("no 'serving_default' signature (requests without a "
                        "signature_name use it)")
    if problems:
        raise ValueError(f"{version_dir} is not servable: " + "; ".join(problems))
    return meta_graph
