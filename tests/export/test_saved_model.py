"""The exported SavedModel, run the way TensorFlow Serving runs it, against the in-memory model.

One export (through the command line, from a training work directory) and one run of
`export.serving_check` in its own process — XLA compilation disabled as the server does,
TF1 session loader, warmup replay — answering gRPC `PredictRequest` protos and REST JSON
bodies; each test then checks its answers against the Keras model in this process."""
import base64
import io
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from PIL import Image
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from alexnet_tf.training import checkpoints as checkpointing

from alexnet_tf import config

from alexnet_tf.data import preprocessing
from alexnet_tf.network.model import build_alexnet, fc7_features, with_softmax
from alexnet_tf.data.statistics import DatasetStatistics
from alexnet_tf.export import servability, serving_session, signatures, versioning
import tools_support

pytestmark = pytest.mark.slow  # builds, exports and serves real models
LIMITS = dict(max_batch_size=8, max_image_bytes=300_000, max_request_bytes=1_000_000, top_k=3)
CLASS_NAMES = [f"class_{i}" for i in range(10)]


def _scene(height, width, seed):
    rng = np.random.RandomState(seed)
    coarse = rng.uniform(0, 255, size=(6, 6, 3)).astype(np.uint8)
    return Image.fromarray(coarse).resize((width, height), Image.BICUBIC)


def _encode(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def good_images():
    """JPEG, grayscale PNG, RGBA PNG, GIF, BMP and CMYK JPEG, of different sizes."""
    return [
        _encode(_scene(240, 320, 0), "JPEG", quality=90),
        _encode(_scene(200, 150, 1).convert("L"), "PNG"),
        _encode(_scene(120, 180, 2).convert("RGBA"), "PNG"),
        _encode(_scene(100, 100, 3).convert("P"), "GIF"),
        _encode(_scene(90, 130, 4), "BMP"),
        _encode(_scene(160, 160, 5).convert("CMYK"), "JPEG"),
    ]


def png_declaring(width, height):
    """A valid PNG signature and IHDR claiming width x height, with nothing behind it."""
    import struct
    import zlib
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    idat = b"IDAT" + zlib.compress(b"\0" * 1000)
    idat_chunk = struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))
    return b"\x89PNG\r\n\x1a\n" + body + idat_chunk + end


def largest_allowed_png():
    """8192 x 8192 = the tiny preset's max_image_pixels, compressed to ~200 KB."""
    side = int(round(config.get_config("tiny").data.max_image_pixels ** 0.5))
    return _encode(Image.new("RGB", (side, side), (120, 30, 200)), "PNG")


def _b64(data):
    return {"b64": base64.b64encode(data).decode("ascii")}


def _grpc(signature_name, key, value, output_filter=()):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "alexnet"
    request.model_spec.signature_name = signature_name
    request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    request.output_filter.extend(output_filter)
    return request


def _example(encoded):
    feature = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def build_requests(folder, images, pixels):
    """Every request the tests check, as a client would send it."""
    jpeg = images[0]
    strings = lambda items: np.array(items, dtype=object)  # noqa: E731
    grpc = {
        "default_all_formats": _grpc("", "images", strings(images)),
        "pixels": _grpc("predict_images", "images", pixels),
        "features": _grpc("features", "images", strings(images[:2])),
        "classify": _grpc("classify", "inputs", strings([_example(i) for i in images[:2]])),
        "filtered": _grpc("serving_default", "images", strings(images[:1]),
                          output_filter=["top_k_names"]),
        "garbage": _grpc("", "images", strings([b"this is not an image at all"])),
        "truncated": _grpc("", "images", strings([jpeg[:len(jpeg) // 2]])),
        "empty_image": _grpc("", "images", strings([b""])),
        "bomb": _grpc("", "images", strings([png_declaring(60000, 60000)])),
        "one_bad_in_batch": _grpc("", "images", strings([jpeg, b"definitely not an image"])),
        "too_many": _grpc("", "images", strings([jpeg] * 9)),
        "too_many_pixels_batch": _grpc("predict_images", "images",
                                       np.zeros((9, 67, 67, 3), np.float32)),
        "image_too_big": _grpc("", "images", strings([jpeg + b"\0" * 300_000])),
        "request_too_big": _grpc("", "images", strings([jpeg + b"\0" * 200_000] * 5)),
        "empty_batch": _grpc("", "images", np.array([], dtype=object)),
        "largest_allowed": _grpc("", "images", strings([largest_allowed_png()] * 2)),
        "wrong_dtype": _grpc("predict_images", "images", strings([jpeg])),
        "unknown_signature": _grpc("nope", "images", strings([jpeg])),
    }
    rest = {
        "rest_row": {"instances": [_b64(i) for i in images[:3]]},
        "rest_columnar": {"signature_name": "serving_default",
                          "inputs": {"images": [_b64(i) for i in images[:3]]}},
        "rest_pixels": {"signature_name": "predict_images", "instances": pixels.tolist()},
        "rest_bad_b64": {"instances": [{"b64": "***"}]},
    }
    for name, request in grpc.items():
        (folder / f"{name}.predict.pb").write_bytes(request.SerializeToString())
    for name, body in rest.items():
        (folder / f"{name}.rest.json").write_text(json.dumps(body))
    (folder / "corrupt_grpc.predict.pb").write_bytes(b"\xff\xfe not a protocol buffer")
    (folder / "corrupt_rest.rest.json").write_text("{not json")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    trained = tools_support.tiny_trained([131.0, 118.0, 102.0], seed=3)
    cfg, model, stats = trained.cfg, trained.model, trained.statistics
    workdir = root / "workdir"
    workdir.mkdir()
    checkpointing.save_config(cfg, workdir)
    model.save(workdir / checkpointing.MODEL_FILE)
    stats.save(workdir / checkpointing.STATISTICS_FILE)
    (workdir / checkpointing.CLASS_NAMES_FILE).write_text("\n".join(CLASS_NAMES) + "\n")

    base = root / "models" / "alexnet"
    flags = [f"--{k}={v}" for k, v in LIMITS.items()]
    result = tools_support.run_module("export.saved_model", f"--model={workdir}",
                                      f"--output={base}", "--serving_base_path=/models/alexnet",
                                      *flags, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    version_dir = base / "1"

    images = good_images()
    pixels = np.random.RandomState(5).randn(3, 67, 67, 3).astype(np.float32)
    requests = root / "requests"
    requests.mkdir()
    build_requests(requests, images, pixels)
    responses = root / "responses"
    code, report, stderr = serving_session.run_in_subprocess(str(base), str(requests),
                                                           str(responses))
    assert report is not None, stderr[-3000:]
    return dict(cfg=cfg, model=model, stats=stats, base=base, version_dir=version_dir,
                images=images, pixels=pixels, responses=responses, report=report,
                stdout=result.stdout, code=code)


def grpc_response(served, name):
    path = served["responses"] / f"{name}.response.pb"
    assert path.exists(), (served["responses"] / f"{name}.error.json").read_text()
    response = predict_pb2.PredictResponse.FromString(path.read_bytes())
    return {key: tf.make_ndarray(value) for key, value in response.outputs.items()}


def error_of(served, name):
    path = served["responses"] / f"{name}.error.json"
    assert path.exists(), f"{name} was answered, expected an error"
    return json.loads(path.read_text())


def expected_probabilities(served, images):
    """The in-memory model on the evaluation preprocessing, run eagerly."""
    x = tf.stack([preprocessing.eval_preprocess(tf.io.decode_image(i, channels=3,
                                                                   expand_animations=False),
                                                served["cfg"], served["stats"])
                  for i in images])
    return with_softmax(served["model"])(x, training=False).numpy(), x


def test_command_wrote_an_integer_version_and_server_files(served):
    assert versioning.versions(served["base"]) == [1]
    assert not [n for n in os.listdir(served["base"]) if n.startswith(".")]
    assert "tensorflow_model_server --port=8500 --rest_api_port=8501" in served["stdout"]
    extra = served["version_dir"] / "assets.extra"
    assert (extra / "tf_serving_warmup_requests").exists()
    info = json.loads((extra / "export_info.json").read_text())
    assert info["class_names"] == CLASS_NAMES and info["limits"]["max_batch_size"] == 8


def test_loaded_with_xla_disabled_and_warmup_replayed(served):
    report = served["report"]
    assert report["xla_compilation_disabled"]
    assert report["signatures"] == ["classify", "features", "predict_images", "serving_default"]
    assert report["warmup_records"] == 5
    assert served["code"] == 0


def test_warmup_records_are_prediction_logs_for_every_signature(served):
    path = served["version_dir"] / "assets.extra" / "tf_serving_warmup_requests"
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(str(path))]
    names = {log.predict_log.request.model_spec.signature_name for log in logs}
    assert names == {"serving_default", "predict_images", "features", "classify"}
    assert all(log.predict_log.request.model_spec.name == "alexnet" for log in logs)


def test_no_xla_nodes_and_servable_signatures(served):
    meta_graph = servability.check_servable(served["version_dir"])
    assert servability.xla_must_compile_nodes(meta_graph) == []
    assert meta_graph.signature_def["classify"].method_name == "tensorflow/serving/classify"
    assert meta_graph.signature_def["serving_default"].method_name == \
        "tensorflow/serving/predict"


def test_every_weight_is_stored_once(served):
    reader = tf.train.load_checkpoint(str(served["version_dir"] / "variables" / "variables"))
    stored = sum(int(np.prod(shape)) for key, shape in reader.get_variable_to_shape_map().items()
                 if key != "_CHECKPOINTABLE_OBJECT_GRAPH")
    assert stored == served["model"].count_params()


def test_default_signature_over_every_format_matches_keras(served):
    out = grpc_response(served, "default_all_formats")
    expected, _ = expected_probabilities(served, served["images"])
    np.testing.assert_allclose(out["probabilities"], expected, rtol=1e-4, atol=1e-6)
    top = np.argsort(-expected, axis=-1)[:, :3]
    np.testing.assert_array_equal(out["top_k_class_ids"], top)
    np.testing.assert_allclose(out["top_k_probabilities"],
                               np.take_along_axis(expected, top, -1), rtol=1e-4, atol=1e-6)
    names = np.vectorize(lambda b: b.decode())(out["top_k_names"])
    np.testing.assert_array_equal(names, np.array(CLASS_NAMES)[top])


def test_float_signature_matches_keras(served):
    out = grpc_response(served, "pixels")
    expected = with_softmax(served["model"])(served["pixels"], training=False).numpy()
    np.testing.assert_allclose(out["probabilities"], expected, rtol=1e-5, atol=1e-6)


def test_features_signature_is_fc7(served):
    out = grpc_response(served, "features")
    _, x = expected_probabilities(served, served["images"][:2])
    expected = fc7_features(served["model"])(x, training=False).numpy()
    assert out["fc7"].shape == (2, 64)
    np.testing.assert_allclose(out["fc7"], expected, rtol=1e-4, atol=1e-5)


def test_classify_signature_over_tf_examples(served):
    out = grpc_response(served, "classify")
    expected, _ = expected_probabilities(served, served["images"][:2])
    top = np.argsort(-expected, axis=-1)[:, :3]
    classes = np.vectorize(lambda b: b.decode())(out["classes"])
    np.testing.assert_array_equal(classes, np.array(CLASS_NAMES)[top])
    np.testing.assert_allclose(out["scores"], np.take_along_axis(expected, top, -1), rtol=1e-4)


def test_output_filter(served):
    assert set(grpc_response(served, "filtered")) == {"top_k_names"}


def test_rest_row_and_columnar_b64(served):
    expected, _ = expected_probabilities(served, served["images"][:3])
    row = json.loads((served["responses"] / "rest_row.response.json").read_text())
    columnar = json.loads((served["responses"] / "rest_columnar.response.json").read_text())
    np.testing.assert_allclose([p["probabilities"] for p in row["predictions"]], expected,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(columnar["outputs"]["probabilities"], expected, rtol=1e-4,
                               atol=1e-6)
    top = np.argsort(-expected, axis=-1)[:, :3]
    assert columnar["outputs"]["top_k_names"] == np.array(CLASS_NAMES)[top].tolist()
    assert row["predictions"][0]["top_k_labels"] == np.array(CLASS_NAMES)[top[0]].tolist()
    pixels = json.loads((served["responses"] / "rest_pixels.response.json").read_text())
    np.testing.assert_allclose(
        [p["probabilities"] for p in pixels["predictions"]],
        with_softmax(served["model"])(served["pixels"], training=False).numpy(),
        rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, message", [
    ("garbage", "not an image"),
    ("truncated", "truncated"),
    ("empty_image", "empty"),
    ("bomb", "declares 60000x60000 pixels, above the limit of"),
    ("one_bad_in_batch", "not an image"),
    ("too_many", "request holds 9 images; the limit is 8 per request"),
    ("too_many_pixels_batch", "request holds 9 images; the limit is 8 per request"),
    ("image_too_big", "bytes is above the limit of 300000 bytes per image"),
    ("request_too_big", "the limit is 1000000 bytes per request"),
    ("empty_batch", "empty request"),
    ("wrong_dtype", "expects float32"),
    ("unknown_signature", "not found"),
    ("rest_bad_b64", "base64"),
])
def test_bad_requests_get_invalid_argument_naming_the_problem(served, name, message):
    error = error_of(served, name)
    assert error["code"] == "InvalidArgumentError", error
    assert message in error["error"], error


def test_unreadable_request_files_are_reported_not_fatal(served):
    assert error_of(served, "corrupt_grpc")["code"] == "DecodeError"
    assert error_of(served, "corrupt_rest")["code"] == "JSONDecodeError"
    assert served["code"] == 0          # the rest were answered


def test_memory_stays_bounded(served):
    """The largest images allowed are decoded one at a time; the bomb never is (a decoded
    60000x60000 RGB image alone would take 10.8 GB)."""
    out = grpc_response(served, "largest_allowed")
    assert out["probabilities"].shape == (2, 10)
    assert served["report"]["peak_rss_bytes"] < 3 * 2**30


def test_models_config_and_batching_parameters(served):
    from tensorflow_serving.config import model_server_config_pb2
    folder = served["base"].parent
    config_proto = text_format.Parse((folder / "models.config").read_text(),
                                     model_server_config_pb2.ModelServerConfig())
    (model,) = config_proto.model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == \
        ("alexnet", "/models/alexnet", "tensorflow")
    batching = text_format.Parse((folder / "batching_parameters.txt").read_text(),
                                 _batching_parameters_class()())
    assert batching.max_batch_size.value == LIMITS["max_batch_size"]
    sizes = list(batching.allowed_batch_sizes)
    assert sizes == sorted(sizes) and sizes[-1] == LIMITS["max_batch_size"]


def _batching_parameters_class():
    """BatchingParameters as tensorflow_serving/servables/tensorflow/session_bundle_config
    .proto declares it (tensorflow-serving-api does not ship it): parse strictly against it."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(name="batching.proto", package="tfs_test",
                                              syntax="proto3",
                                              dependency=["google/protobuf/wrappers.proto"])
    message = file.message_type.add(name="BatchingParameters")
    F = descriptor_pb2.FieldDescriptorProto
    for number, name, kind, type_name, label in [
            (1, "max_batch_size", F.TYPE_MESSAGE, ".google.protobuf.Int64Value", F.LABEL_OPTIONAL),
            (2, "batch_timeout_micros", F.TYPE_MESSAGE, ".google.protobuf.Int64Value",
             F.LABEL_OPTIONAL),
            (3, "max_enqueued_batches", F.TYPE_MESSAGE, ".google.protobuf.Int64Value",
             F.LABEL_OPTIONAL),
            (4, "num_batch_threads", F.TYPE_MESSAGE, ".google.protobuf.Int64Value",
             F.LABEL_OPTIONAL),
            (5, "thread_pool_name", F.TYPE_MESSAGE, ".google.protobuf.StringValue",
             F.LABEL_OPTIONAL),
            (6, "allowed_batch_sizes", F.TYPE_INT64, None, F.LABEL_REPEATED),
            (7, "pad_variable_length_inputs", F.TYPE_BOOL, None, F.LABEL_OPTIONAL)]:
        field = message.field.add(name=name, number=number, type=kind, label=label)
        if type_name:
            field.type_name = type_name
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(
        "tfs_test.BatchingParameters"))


def test_tfsm_layer_wraps_the_export(served):
    pixels_layer = keras.layers.TFSMLayer(str(served["version_dir"]),
                                          call_endpoint="predict_images")
    inputs = keras.Input((67, 67, 3))
    wrapped = keras.Model(inputs, pixels_layer(inputs)["probabilities"])
    expected = with_softmax(served["model"])(served["pixels"], training=False).numpy()
    np.testing.assert_allclose(wrapped(served["pixels"]).numpy(), expected, rtol=1e-5,
                               atol=1e-6)
    bytes_layer = keras.layers.TFSMLayer(str(served["version_dir"]),
                                         call_endpoint="serving_default")
    out = bytes_layer(tf.constant(served["images"][:2]))
    np.testing.assert_allclose(out["probabilities"].numpy(),
                               expected_probabilities(served, served["images"][:2])[0],
                               rtol=1e-4, atol=1e-6)


def test_versions_are_written_atomically(tmp_path):
    base = tmp_path / "m"
    with versioning.write_version(base) as pending:
        open(os.path.join(pending.staging, "saved_model.pb"), "w").close()
        assert versioning.versions(base) == []          # invisible while being written
    assert pending.version == 1 and versioning.versions(base) == [1]
    with pytest.raises(RuntimeError):
        with versioning.write_version(base) as pending:
            open(os.path.join(pending.staging, "saved_model.pb"), "w").close()
            raise RuntimeError("crash half-way")
    assert versioning.versions(base) == [1] and sorted(os.listdir(base)) == ["1"]
    with pytest.raises(FileExistsError, match="already exists"):
        with versioning.write_version(base, version=1):
            pass
    (base / "7").mkdir()
    (base / "notes").mkdir()
    assert versioning.next_version(base) == 8


def _concurrently(count, work):
    """Runs work(i, barrier) in `count` threads; returns their results or raises the first
    error. The barrier lets each writer stop just before publishing until all are there."""
    import threading
    barrier = threading.Barrier(count, timeout=120)
    results, errors = [None] * count, []

    def run(i):
        try:
            results[i] = work(i, barrier)
        except BaseException as e:     # noqa: BLE001 (re-raised below, in the test thread)
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def test_concurrent_writers_each_publish_a_version(tmp_path):
    """Three writers pick version 1 at the start; at publish time two find it taken and
    take the next free numbers instead of failing."""
    base = tmp_path / "m"

    def write(i, barrier):
        with versioning.write_version(base) as pending:
            assert pending.version == 1              # all started before any published
            with open(os.path.join(pending.staging, "writer.txt"), "w") as f:
                f.write(str(i))
            barrier.wait()                           # every writer is about to publish
        return pending

    published = _concurrently(3, write)
    assert sorted(p.version for p in published) == [1, 2, 3]
    assert sorted(os.listdir(base)) == ["1", "2", "3"]   # no staging directory left
    for i, pending in enumerate(published):
        assert pending.path == os.path.join(base, str(pending.version))
        with open(os.path.join(pending.path, "writer.txt")) as f:
            assert f.read() == str(i)                # each path holds its own writer's files


def test_an_explicit_version_taken_meanwhile_is_refused_cleanly(tmp_path):
    base = tmp_path / "m"
    with pytest.raises(FileExistsError, match=r"cannot publish .*/5: another writer "
                                              r"published version 5 meanwhile"):
        with versioning.write_version(base, version=5) as pending:
            open(os.path.join(pending.staging, "mine.txt"), "w").close()
            with versioning.write_version(base, version=5) as other:   # wins the race
                open(os.path.join(other.staging, "theirs.txt"), "w").close()
    assert sorted(os.listdir(base)) == ["5"]                            # nothing left behind
    assert os.listdir(base / "5") == ["theirs.txt"]                     # theirs untouched


def test_two_concurrent_exports_report_what_they_published(tmp_path, monkeypatch):
    """Two `export_saved_model`s into one base path, both past their checks before either
    publishes: both succeed, each summary names its own version, and each version serves
    its own model."""
    from alexnet_tf.data import class_names
    from alexnet_tf.export.serving_export import export_saved_model
    from alexnet_tf.inference.loader import Classifier
    cfg = config.get_config("tiny")
    stats = DatasetStatistics.per_channel([120.0, 115.0, 100.0], size=cfg.data.resize_size)
    classes = class_names.for_classes(10, cfg.data.dataset)
    models = [build_alexnet(cfg.model) for _ in range(2)]
    barriers = {}
    check_servable = servability.check_servable

    def check_then_wait(version_dir):               # the last step before publishing
        check_servable(version_dir)
        barriers["barrier"].wait()

    monkeypatch.setattr(servability, "check_servable", check_then_wait)

    def export(i, barrier):
        barriers["barrier"] = barrier
        return export_saved_model(Classifier(models[i], cfg, stats, classes),
                                  tmp_path / "models" / "alexnet", verify=False)

    summaries = _concurrently(2, export)
    assert sorted(s["version"] for s in summaries) == [1, 2]
    assert sorted(os.listdir(tmp_path / "models" / "alexnet")) == ["1", "2"]
    x = np.random.RandomState(2).randn(2, 67, 67, 3).astype("float32")
    for model, summary in zip(models, summaries):
        assert summary["path"] == str(tmp_path / "models" / "alexnet" / str(summary["version"]))
        served = tf.saved_model.load(summary["path"]).signatures[signatures.FLOAT_SIGNATURE]
        np.testing.assert_allclose(served(images=tf.constant(x))["probabilities"].numpy(),
                                   with_softmax(model)(x).numpy(), rtol=1e-4, atol=1e-6)


def test_a_bare_keras_file_needs_its_preset_and_statistics(tmp_path, served, capsys):
    """Outside a work directory the one loader needs --preset, and statistics where the
    preset's dataset has none of its own (a folder)."""
    from alexnet_tf.export import saved_model
    from alexnet_tf.inference.loader import InputError, load_classifier
    path = tmp_path / "model.keras"
    served["model"].save(path)
    with pytest.raises(InputError, match="has no config.json beside it: pass --preset"):
        load_classifier(path)
    with pytest.raises(InputError, match="pass --statistics=<statistics.npz>"):
        load_classifier(path, preset="tiny", overrides=["data.dataset=folder"])
    trained = load_classifier(path, preset="tiny",
                              statistics=served["base"].parent.parent / "workdir" /
                              "statistics.npz")
    assert trained.class_names.names == tuple(str(i) for i in range(10))

    code = saved_model.run(["alexnet-export", f"--model={tmp_path / 'absent.keras'}",
                            f"--output={tmp_path / 'models'}"])
    errors = capsys.readouterr().err.splitlines()
    assert code == 2 and errors == [f"error: no model at {tmp_path / 'absent.keras'} (expected "
                                    "a .keras file, a training work directory, a checkpoint "
                                    "prefix <workdir>/checkpoints/ckpt-N or bvlc_alexnet.npy)"]
    assert not (tmp_path / "models").exists()


def test_imagenet_classes_come_out_as_synsets_and_names(tmp_path):
    """1000 ImageNet classes (as the paper preset has): labels are synset ids, names come
    from the shipped table, in TFDS label order."""
    from alexnet_tf.export.serving_export import export_saved_model
    trained = tools_support.tiny_trained(overrides=["model.num_classes=1000",
                                                    "data.dataset=imagenet2012"])
    table = trained.class_names
    summary = export_saved_model(trained, tmp_path / "m", verify=False)
    serve = tf.saved_model.load(summary["path"]).signatures["serving_default"]
    out = serve(images=tf.constant(good_images()[:1]))
    ids = out["top_k_class_ids"].numpy()[0]
    labels = [b.decode() for b in out["top_k_labels"].numpy()[0]]
    names = [b.decode() for b in out["top_k_names"].numpy()[0]]
    assert len(ids) == 5
    assert labels == [table.labels[i] for i in ids] and all(l.startswith("n") for l in labels)
    assert names == [table.names[i] for i in ids]
