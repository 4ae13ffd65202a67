"""A local stand-in for `tensorflow_model_server`, to try clients without the binary (the
command is `export.local_server`).

`serve` loads the highest version under a base path the way `serving_session` runs it (XLA
compilation disabled, TF1 session loader, warmup replayed) and answers on 127.0.0.1 only:
- gRPC `tensorflow.serving.PredictionService/Predict` and `/Classify` (tf.Examples through
  the `classify` signature), with tensorflow-serving-api's stub;
- REST `POST /v1/models/<name>[/versions/<n>]:predict` (row or columnar JSON) and
  `GET /v1/models/<name>` (version status).
Errors come back as the server sends them: gRPC status INVALID_ARGUMENT / INTERNAL with the
message, REST HTTP 400 / 500 with `{"error": message}`. It is a development aid — one model,
no batching, no version polling — and stops by itself after `max_seconds`.
"""
from __future__ import annotations

import errno
import json
import os
import re
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import tensorflow as tf

from alexnet_tf import command
from alexnet_tf.export import serving_session

_PREDICT_PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?:predict$")
_STATUS_PATH = re.compile(r"^/v1/models/([^/:]+)$")
_LOOPBACK = "127.0.0.1"


class PortInUseError(command.UserError):
    def __init__(self, front_end: str, port: int):
        super().__init__(f"{front_end} port {port} on {_LOOPBACK} is in use (another server? "
                         f"--{front_end.lower()}_port=0 picks a free one)")


def _status(error):
    import grpc
    if isinstance(error, tf.errors.InvalidArgumentError):
        return grpc.StatusCode.INVALID_ARGUMENT, 400
    if isinstance(error, tf.errors.NotFoundError):
        return grpc.StatusCode.NOT_FOUND, 404
    return grpc.StatusCode.INTERNAL, 500


class LocalServer:
    """gRPC and REST front ends over one `SessionServable`."""

    def __init__(self, servable: serving_session.SessionServable, model_name="alexnet"):
        self.servable = servable
        self.model_name = model_name
        self.version = os.path.basename(os.path.normpath(servable.version_dir))
        self._grpc = None
        self._http = None

    def _check_model(self, name, version=None):
        if name != self.model_name or (version and version != self.version):
            raise tf.errors.NotFoundError(None, None, f"Servable not found for request: "
                                          f"Specific({name}, {version or 'latest'})")

    def _check_spec(self, spec):
        self._check_model(spec.name, spec.version.value and str(spec.version.value))

    def predict(self, request):
        self._check_spec(request.model_spec)
        return self.servable.predict(request)

    def classify(self, request):
        self._check_spec(request.model_spec)
        return self.servable.classify(request)

    def start(self, grpc_port=0, rest_port=0) -> dict:
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        server = self

        def answer(method, request, context):
            try:
                return method(request)
            except (tf.errors.OpError, ValueError) as e:
                message = e.message if isinstance(e, tf.errors.OpError) else str(e)
                context.abort(_status(e)[0], message)

        class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
            def Predict(self, request, context):  # noqa: N802 (gRPC method names)
                return answer(server.predict, request, context)

            def Classify(self, request, context):  # noqa: N802
                return answer(server.classify, request, context)

        try:
            self._http = ThreadingHTTPServer((_LOOPBACK, rest_port), self._rest_handler())
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PortInUseError("REST", rest_port) from None
            raise
        # gRPC would share a port another process listens on (SO_REUSEPORT) and split the
        # requests between the two: the port must be this server's alone.
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                                 options=[("grpc.so_reuseport", 0)])
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(),
                                                                             self._grpc)
        try:
            bound_grpc = self._grpc.add_insecure_port(f"{_LOOPBACK}:{grpc_port}")
        except RuntimeError:            # grpcio >= 1.60 raises; older ones return 0
            bound_grpc = 0
        if not bound_grpc:
            self._http.server_close()
            self._grpc = self._http = None
            raise PortInUseError("gRPC", grpc_port)
        self._grpc.start()
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return {"grpc": bound_grpc, "rest": self._http.server_address[1]}

    def stop(self):
        if self._grpc:
            self._grpc.stop(grace=1)
        if self._http:
            self._http.shutdown()

    def _rest_handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, code, body):
                data = json.dumps(body).encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 (http.server's name)
                match = _STATUS_PATH.match(self.path)
                if not match or match.group(1) != server.model_name:
                    return self._reply(404, {"error": f"no model at {self.path}"})
                self._reply(200, {"model_version_status": [{
                    "version": server.version, "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""}}]})

            def do_POST(self):  # noqa: N802
                match = _PREDICT_PATH.match(self.path)
                if not match:
                    return self._reply(404, {"error": f"unknown path {self.path}"})
                try:
                    server._check_model(match.group(1), match.group(2))
                    length = int(self.headers.get("Content-Length", 0))
                    try:
                        body = json.loads(self.rfile.read(length) or b"null")
                    except ValueError as e:
                        raise tf.errors.InvalidArgumentError(None, None,
                                                             f"JSON parse error: {e}") from None
                    if not isinstance(body, dict):
                        raise tf.errors.InvalidArgumentError(None, None,
                                                             "the body must be a JSON object")
                    self._reply(200, server.servable.rest(body))
                except (tf.errors.OpError, ValueError) as e:
                    message = e.message if isinstance(e, tf.errors.OpError) else str(e)
                    self._reply(_status(e)[1], {"error": message})

            def log_message(self, *args):
                pass

        return Handler


def serve(model_dir, *, model_name="alexnet", grpc_port=8500, rest_port=8501, port_file=None,
          max_seconds=3600, announce=print):
    """Serves the highest version under `model_dir` until `max_seconds` have passed (or
    Ctrl-C). `port_file`, once the ports are bound: {"grpc": port, "rest": port} as JSON."""
    serving_session.disable_xla_compilation()
    servable = serving_session.SessionServable(
        serving_session.resolve_version_dir(model_dir), model_name=model_name)
    try:
        records = servable.replay_warmup()
        server = LocalServer(servable, model_name=model_name)
        ports = server.start(grpc_port, rest_port)
        try:
            announce(f"serving {servable.version_dir} as {model_name!r} on {_LOOPBACK}: gRPC "
                     f"{ports['grpc']}, REST {ports['rest']} ({records} warmup records "
                     f"replayed; XLA compilation disabled); stopping after {max_seconds} s")
            if port_file:
                temporary = f"{port_file}.tmp"
                with open(temporary, "w") as f:
                    json.dump(ports, f)
                os.replace(temporary, port_file)
            time.sleep(max_seconds)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
    finally:
        servable.close()
