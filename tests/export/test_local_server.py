"""The gRPC client of docs/serving.md and the README's REST call, against
`export.local_server` on 127.0.0.1 (XLA compilation disabled, as the real server), compared
with the in-memory model."""
import base64
import json
import subprocess
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import tools_support
from alexnet_tf.data import preprocessing
from alexnet_tf.export import warmup
from alexnet_tf.export.serving_export import export_saved_model
from alexnet_tf.network.model import with_softmax

pytestmark = pytest.mark.slow  # builds, exports and serves real models


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("local_server")
    trained = tools_support.tiny_trained([127.0, 120.0, 110.0], seed=21)
    cfg, model, stats = trained.cfg, trained.model, trained.statistics
    export_saved_model(trained, root / "models" / "alexnet", verify=False)
    port_file = root / "ports.json"
    process = tools_support.start_module(
        "export.local_server", f"--model_dir={root / 'models' / 'alexnet'}", "--grpc_port=0",
        "--rest_port=0", f"--port_file={port_file}", "--max_seconds=300")
    deadline = time.monotonic() + 180
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"local server did not start: {process.communicate()[1][-3000:]}")
        time.sleep(0.5)
    ports = json.loads(port_file.read_text())
    yield dict(ports=ports, model=model, cfg=cfg, stats=stats)
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def _expected(server, images):
    x = tf.stack([preprocessing.eval_preprocess(
        tf.io.decode_image(i, channels=3, expand_animations=False), server["cfg"],
        server["stats"]) for i in images])
    return with_softmax(server["model"])(x, training=False).numpy()


def test_grpc_predict_as_in_the_readme(server):
    jpeg = warmup.sample_images()[0]
    channel = grpc.insecure_channel(f"127.0.0.1:{server['ports']['grpc']}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "alexnet"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto([jpeg]))
    response = stub.Predict(request, timeout=60.0)
    probabilities = tf.make_ndarray(response.outputs["probabilities"])
    np.testing.assert_allclose(probabilities, _expected(server, [jpeg]), rtol=1e-4, atol=1e-6)
    names = tf.make_ndarray(response.outputs["top_k_names"])
    assert names.shape == (1, 5)

    request.inputs["images"].CopyFrom(tf.make_tensor_proto([b"not an image"]))
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(request, timeout=60.0)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not an image" in error.value.details()
    channel.close()


def test_grpc_classify_api_over_tf_examples(server):
    from tensorflow_serving.apis import classification_pb2
    images = warmup.sample_images()[:2]
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(f"127.0.0.1:{server['ports']['grpc']}"))
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "alexnet"
    request.model_spec.signature_name = "classify"
    for image in images:
        request.input.example_list.examples.add().CopyFrom(
            tf.train.Example.FromString(warmup.example_bytes(image)))
    response = stub.Classify(request, timeout=60.0)
    expected = _expected(server, images)
    for result, probabilities in zip(response.result.classifications, expected):
        top = np.argsort(-probabilities)[:5]
        assert [c.label for c in result.classes] == [str(i) for i in top]  # digits: "0".."9"
        np.testing.assert_allclose([c.score for c in result.classes], probabilities[top],
                                   rtol=1e-4, atol=1e-6)
    request.model_spec.signature_name = "serving_default"
    with pytest.raises(grpc.RpcError) as error:
        stub.Classify(request, timeout=60.0)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _post(server, path, body):
    request = urllib.request.Request(f"http://127.0.0.1:{server['ports']['rest']}{path}",
                                     data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_rest_predict_as_in_the_readme(server):
    images = warmup.sample_images()[:2]
    body = {"instances": [{"b64": base64.b64encode(i).decode()} for i in images]}
    status, answer = _post(server, "/v1/models/alexnet:predict", body)
    assert status == 200, answer
    np.testing.assert_allclose([p["probabilities"] for p in answer["predictions"]],
                               _expected(server, images), rtol=1e-4, atol=1e-6)
    status, answer = _post(server, "/v1/models/alexnet/versions/1:predict",
                           {"signature_name": "features",
                            "inputs": {"images": body["instances"]}})
    assert status == 200 and np.array(answer["outputs"]).shape == (2, 64)

    status, answer = _post(server, "/v1/models/alexnet:predict",
                           {"instances": [{"b64": base64.b64encode(images[0][:500]).decode()}]})
    assert status == 400 and "truncated" in answer["error"]
    status, answer = _post(server, "/v1/models/other:predict", body)
    assert status == 404
    with urllib.request.urlopen(
            f"http://127.0.0.1:{server['ports']['rest']}/v1/models/alexnet", timeout=30) as r:
        assert json.loads(r.read())["model_version_status"][0]["state"] == "AVAILABLE"
