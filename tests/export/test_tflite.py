"""TFLite files against the Keras model, on real images from the input pipeline, run with
ai-edge-litert's interpreter and its default op resolver."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from alexnet_tf import config
from alexnet_tf.data.pipeline import build_dataset
from alexnet_tf.network.model import build_alexnet, with_softmax
from alexnet_tf.export import tflite_conversion as tflite

pytestmark = pytest.mark.slow  # builds, exports and serves real models
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny model trained for one epoch on digits (so its softmax is not flat), written
    in all four kinds."""
    cfg = config.get_config("tiny")
    keras.utils.set_random_seed(11)
    model = build_alexnet(cfg.model)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(build_dataset(cfg, "train", training=True, batch_size=32), epochs=1, verbose=0)
    calibration = tflite.pipeline_images(cfg, "train", 64)
    images = tflite.pipeline_images(cfg, "validation", 128)
    folder = tmp_path_factory.mktemp("tflite")
    results = tflite.export_tflite(model, folder, calibration_images=calibration,
                                   verification_images=images, progress=lambda _: None)
    expected = with_softmax(model)(images, training=False).numpy()
    return dict(model=model, folder=folder, images=images, expected=expected, results=results)


def _run(path, images):
    """Batch-1 invocations, as on a device, with the default op resolver."""
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert inp["dtype"] == np.float32 and list(inp["shape"]) == [1, 67, 67, 3]
    results = []
    for image in images:
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        results.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.array(results)


def test_float32_within_1e_5(exported):
    got = _run(exported["folder"] / "alexnet_float32.tflite", exported["images"])
    assert np.abs(got - exported["expected"]).max() <= 1e-5


def test_float16_within_5e_3(exported):
    got = _run(exported["folder"] / "alexnet_float16.tflite", exported["images"])
    assert np.abs(got - exported["expected"]).max() <= 5e-3


def test_int8_top1_agreement_is_reported(exported):
    report = json.loads((exported["folder"] / "tflite_report.json").read_text())
    for kind in ("dynamic_int8", "full_int8"):
        got = _run(exported["folder"] / f"alexnet_{kind}.tflite", exported["images"])
        agreement = (got.argmax(-1) == exported["expected"].argmax(-1)).mean()
        # The report ran batches of 32: int8 kernels may round a near-tie differently.
        assert report[kind]["top1_agreement"] == pytest.approx(agreement, abs=2 / 128)
        assert agreement >= 0.75, f"{kind}: only {agreement:.1%} top-1 agreement"


def test_only_builtin_ops_and_full_int8_keeps_lrn_in_float(exported):
    for kind in tflite.KINDS:
        flatbuffer = (exported["folder"] / f"alexnet_{kind}.tflite").read_bytes()
        names = {name for name, custom, _ in tflite.operators(flatbuffer)}
        assert not {n for n, c, _ in tflite.operators(flatbuffer) if c or n == "CUSTOM"}
        assert {"CONV_2D", "LOCAL_RESPONSE_NORMALIZATION", "FULLY_CONNECTED",
                "SOFTMAX"} <= names
    full = (exported["folder"] / "alexnet_full_int8.tflite").read_bytes()
    ops = tflite.operators(full)
    lrn_inputs = {inputs[0] for name, _, inputs in ops if name == "LOCAL_RESPONSE_NORMALIZATION"}
    conv_inputs = {inputs[0] for name, _, inputs in ops if name == "CONV_2D"}
    assert lrn_inputs == {"FLOAT32"} and conv_inputs == {"INT8"}
    assert "LOCAL_RESPONSE_NORMALIZATION" in exported["results"]["full_int8"].float_ops


def test_file_sizes_shrink_with_precision(exported):
    sizes = {kind: r.bytes for kind, r in exported["results"].items()}
    assert sizes["float16"] < 0.6 * sizes["float32"]
    assert sizes["dynamic_int8"] < 0.4 * sizes["float32"]   # + a fixed overhead
    assert sizes["full_int8"] < 0.4 * sizes["float32"]


def test_a_flex_op_fails_the_conversion():
    @keras.saving.register_keras_serializable(package="test_tflite")
    class IncompleteGamma(keras.layers.Layer):
        def call(self, x):
            return tf.math.igamma(tf.abs(x) + 1.0, tf.abs(x) + 2.0)   # no TFLite builtin

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(IncompleteGamma()(inputs)))
    with pytest.raises(tflite.UnsupportedOpsError, match="Igamma"):
        tflite.convert(model, "float32")


def test_full_int8_needs_calibration_images():
    model = build_alexnet(config.get_config("tiny").model)
    with pytest.raises(ValueError, match="representative images"):
        tflite.convert(model, "full_int8")
