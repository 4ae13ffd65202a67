"""A SavedModel run the way TensorFlow Serving runs it under its default flags (the command
is `export.serving_check`).

What the server does, and `check` does, in order:
1. XLA compilation is disabled process-wide (the server's default; docs/serving.md): the C++
   function `tensorflow::DisableXlaCompilation()` from `libtensorflow_cc.so.2`, called
   through ctypes. It is global and one-way, so `run_in_subprocess` runs it in a process
   of its own. (`tf.config.optimizer.set_jit(False)` does NOT reproduce it.)
2. The version is loaded with the TF1 session loader, tag `serve` (`SessionServable`).
3. The warmup records in `assets.extra/tf_serving_warmup_requests` are replayed; one
   failure fails the load.
4. Requests are fed and fetched by the SignatureDef's tensor names: gRPC `PredictRequest`
   protos (`*.predict.pb`) and REST bodies (`*.rest.json`, row or columnar format, `{"b64":
   ...}` for bytes), answered as `*.response.pb` / `*.response.json`, or `*.error.json`
   holding the error code and message the server would return.
`report.json` in the responses folder records what happened, with the peak memory.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import time

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError

from alexnet_tf import command
from alexnet_tf.export import rest_json, servability
from alexnet_tf.export.versioning import versions

_DISABLE_XLA_SYMBOL = "_ZN10tensorflow21DisableXlaCompilationEv"


def disable_xla_compilation():
    """What TF Serving does at start-up unless given `--xla_cpu_compilation_enabled`."""
    library = os.path.join(os.path.dirname(tf.__file__), "libtensorflow_cc.so.2")
    try:
        getattr(ctypes.CDLL(library), _DISABLE_XLA_SYMBOL)()
    except (OSError, AttributeError) as e:
        raise RuntimeError(f"cannot call tensorflow::DisableXlaCompilation() from {library}: "
                           f"{e}") from None


def resolve_version_dir(model_dir) -> str:
    """A version directory, or the highest version under a base path (as the server picks)."""
    if os.path.exists(os.path.join(model_dir, "saved_model.pb")):
        return model_dir
    present = versions(model_dir)
    if not present:
        raise FileNotFoundError(f"{model_dir} holds neither saved_model.pb nor integer "
                                "version directories")
    return os.path.join(model_dir, str(present[-1]))


class SessionServable:
    """A loaded version: `predict(PredictRequest)` and `rest(body)` as the server answers."""

    def __init__(self, version_dir, model_name="alexnet"):
        self.version_dir = version_dir
        self.model_name = model_name
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        # The server's own (TF1) loader, on purpose: its deprecation notice is not news.
        logger = tf.get_logger()
        level = logger.level
        logger.setLevel("ERROR")
        try:
            meta_graph = tf.compat.v1.saved_model.loader.load(
                self.session, [servability.SERVE_TAG], version_dir)
        finally:
            logger.setLevel(level)
        self.signatures = dict(meta_graph.signature_def)

    def close(self):
        self.session.close()

    def signature(self, name):
        name = name or "serving_default"     # the server's default
        if name not in self.signatures:
            raise tf.errors.InvalidArgumentError(
                None, None, f"Serving signature name: \"{name}\" not found in signature def "
                f"(have {sorted(k for k in self.signatures if not k.startswith('__'))})")
        return self.signatures[name]

    def run(self, signature_name, inputs: dict, output_filter=()):
        """{input key: ndarray} -> {output key: ndarray}, checked like the server checks."""
        signature = self.signature(signature_name)
        expected = set(signature.inputs)
        if set(inputs) != expected:
            raise tf.errors.InvalidArgumentError(
                None, None, f"request inputs {sorted(inputs)} do not match the signature's "
                f"{sorted(expected)}")
        feeds = {}
        for key, value in inputs.items():
            info = signature.inputs[key]
            want = tf.dtypes.as_dtype(info.dtype)
            value = np.asarray(value)
            # The server feeds a request's tensor as it comes: its dtype must match.
            matches = (value.dtype.kind in "SO" if want == tf.string
                       else value.dtype == want.as_numpy_dtype)
            if not matches:
                raise tf.errors.InvalidArgumentError(
                    None, None, f"input {key!r} expects {want.name}, got {value.dtype}")
            feeds[info.name] = value
        keys = list(output_filter) or list(signature.outputs)
        unknown = [k for k in keys if k not in signature.outputs]
        if unknown:
            raise tf.errors.InvalidArgumentError(None, None, f"output_filter {unknown} names "
                                                 f"no output of the signature")
        fetches = {k: signature.outputs[k].name for k in keys}
        return self.session.run(fetches, feeds)

    def predict(self, request):
        """A `tensorflow_serving.apis.predict_pb2.PredictRequest` -> PredictResponse."""
        from tensorflow_serving.apis import predict_pb2
        inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
        name = request.model_spec.signature_name or "serving_default"
        outputs = self.run(name, inputs, request.output_filter)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name or self.model_name
        response.model_spec.signature_name = name
        version = os.path.basename(os.path.normpath(self.version_dir))
        if version.isdigit():
            response.model_spec.version.value = int(version)
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    def classify(self, request):
        """A `classification_pb2.ClassificationRequest` (tf.Examples) -> its response, run
        through a classify-method signature as the server's Classify API does."""
        from tensorflow_serving.apis import classification_pb2
        name = request.model_spec.signature_name or "serving_default"
        signature = self.signature(name)
        if signature.method_name != "tensorflow/serving/classify":
            raise tf.errors.InvalidArgumentError(
                None, None, f"signature {name!r} is not a classification signature "
                f"(method {signature.method_name!r}); use 'classify'")
        kind = request.input.WhichOneof("kind")
        if kind != "example_list":
            raise tf.errors.InvalidArgumentError(
                None, None, f"expected input.example_list, got {kind}")
        examples = np.array([e.SerializeToString()
                             for e in request.input.example_list.examples], dtype=object)
        outputs = self.run(name, {"inputs": examples})
        response = classification_pb2.ClassificationResponse()
        response.model_spec.name = request.model_spec.name or self.model_name
        response.model_spec.signature_name = name
        for labels, scores in zip(outputs["classes"], outputs["scores"]):
            classifications = response.result.classifications.add()
            for label, score in zip(labels, scores):
                classifications.classes.add(label=label.decode("utf-8"), score=float(score))
        return response

    def rest(self, body: dict) -> dict:
        """A REST predict body (row or columnar) -> the JSON the server returns."""
        name = body.get("signature_name") or "serving_default"
        inputs, row_format = rest_json.request_inputs(body, self.signature(name))
        return rest_json.response_body(self.run(name, inputs), row_format)

    def replay_warmup(self) -> int:
        """Runs every record of the warmup file, as the server does at load; returns count."""
        path = os.path.join(self.version_dir, servability.WARMUP_DIR, servability.WARMUP_FILE)
        if not os.path.exists(path):
            return 0
        from tensorflow_serving.apis import prediction_log_pb2
        count = 0
        for record in tf.data.TFRecordDataset(path):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            if log.WhichOneof("log_type") != "predict_log":
                raise ValueError(f"warmup record {count} is a {log.WhichOneof('log_type')}; "
                                 "only predict_log is written here")
            self.predict(log.predict_log.request)
            count += 1
        return count


def _error(e) -> dict:
    """The gRPC status the server would send: the error class names the code."""
    message = e.message if isinstance(e, tf.errors.OpError) else str(e)
    return {"code": type(e).__name__, "error": message}


def answer_requests(servable: SessionServable, requests_dir, responses_dir) -> dict:
    """Answers every `*.predict.pb` / `*.rest.json` in `requests_dir`; returns a summary."""
    from tensorflow_serving.apis import predict_pb2
    os.makedirs(responses_dir, exist_ok=True)
    answered, failed = [], []
    for name in sorted(os.listdir(requests_dir)):
        path = os.path.join(requests_dir, name)
        if name.endswith(".predict.pb"):
            stem, kind = name[:-len(".predict.pb")], "grpc"
        elif name.endswith(".rest.json"):
            stem, kind = name[:-len(".rest.json")], "rest"
        else:
            continue
        try:
            if kind == "grpc":
                with open(path, "rb") as f:
                    request = predict_pb2.PredictRequest.FromString(f.read())
                response = servable.predict(request)
                with open(os.path.join(responses_dir, stem + ".response.pb"), "wb") as f:
                    f.write(response.SerializeToString())
            else:
                with open(path, encoding="utf-8") as f:
                    body = json.load(f)
                with open(os.path.join(responses_dir, stem + ".response.json"), "w") as f:
                    json.dump(servable.rest(body), f)
            answered.append(stem)
        except (tf.errors.OpError, ValueError, DecodeError) as e:
            with open(os.path.join(responses_dir, stem + ".error.json"), "w") as f:
                json.dump(_error(e), f)
            failed.append(stem)
    return {"answered": answered, "failed": failed}


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # KiB on Linux


def check(model_dir, requests_dir=None, responses_dir=None, disable_xla=True,
          warmup=True) -> dict:
    """Steps 1-4 of the module doc; returns the report (also written as report.json)."""
    if disable_xla:
        disable_xla_compilation()
    version_dir = resolve_version_dir(model_dir)
    report = {"version_dir": version_dir, "xla_compilation_disabled": bool(disable_xla)}
    start = time.perf_counter()
    servable = SessionServable(version_dir)
    report["load_seconds"] = time.perf_counter() - start
    report["signatures"] = sorted(k for k in servable.signatures if not k.startswith("__"))
    try:
        report["warmup_records"] = servable.replay_warmup() if warmup else 0
        if requests_dir:
            report.update(answer_requests(servable, requests_dir, responses_dir))
    finally:
        servable.close()
    report["peak_rss_bytes"] = peak_rss_bytes()
    if responses_dir:
        os.makedirs(responses_dir, exist_ok=True)
        with open(os.path.join(responses_dir, "report.json"), "w") as f:
            json.dump(report, f, indent=1)
    return report


class NotServableError(command.UserError, RuntimeError):
    """The version does not load or run the way TF Serving runs it."""


def preflight(model_dir, requests_dir=None, responses_dir=None, disable_xla=True,
              warmup=True) -> dict:
    """`check`, then the static checks of `servability`: the report, or NotServableError
    naming what the server would fail on."""
    try:
        report = check(model_dir, requests_dir, responses_dir, disable_xla=disable_xla,
                       warmup=warmup)
        servability.check_servable(report["version_dir"])
    except (tf.errors.OpError, ValueError, FileNotFoundError) as e:
        message = e.message if isinstance(e, tf.errors.OpError) else str(e)
        raise NotServableError(f"not servable under TF Serving's default flags: "
                               f"{type(e).__name__}: {message}") from None
    return report


def run_in_subprocess(model_dir, requests_dir=None, responses_dir=None, disable_xla=True,
                      warmup=True, timeout=600):
    """`check` in a fresh Python process (DisableXlaCompilation is process-wide and one-way).

    Returns (returncode, report or None, stderr)."""
    import subprocess
    args = [f"--model_dir={os.path.abspath(model_dir)}",
            f"--disable_xla={str(disable_xla).lower()}", f"--warmup={str(warmup).lower()}"]
    if requests_dir:
        responses_dir = os.path.abspath(responses_dir or requests_dir)
        args += [f"--requests={os.path.abspath(requests_dir)}", f"--responses={responses_dir}"]
    result = subprocess.run(**command.child_process("alexnet_tf.export.serving_check", *args),
                            capture_output=True, text=True, timeout=timeout,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    report = None
    if responses_dir and os.path.exists(os.path.join(responses_dir, "report.json")):
        with open(os.path.join(responses_dir, "report.json")) as f:
            report = json.load(f)
    return result.returncode, report, result.stderr
