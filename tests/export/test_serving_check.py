"""The serving check bites: a Keras `Conv2D(groups=2)` export (XLA-must-compile nodes) fails
under it exactly as TF Serving fails under its default flags, and runs when XLA is left on.

Without this, a passing serving test could mean the harness does not disable XLA at all
(`tf.config.optimizer.set_jit(False)` does not: docs/serving.md)."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from alexnet_tf.export import servability, serving_session
from alexnet_tf.export.serving_export import verify_like_the_server


@pytest.fixture(scope="module")
def grouped_conv_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("grouped")
    inputs = keras.Input((67, 67, 3))
    x = keras.layers.Conv2D(8, 11, strides=4, activation="relu")(inputs)
    x = keras.layers.Conv2D(8, 3, groups=2)(x)             # Keras wraps this in XLA
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, x)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", lambda images: {"y": model(images)},
                         input_signature=[tf.TensorSpec([None, 67, 67, 3], tf.float32,
                                                        name="images")])
    version_dir = root / "model" / "1"
    archive.write_out(str(version_dir), verbose=False)
    requests = root / "requests"
    requests.mkdir()
    x = np.random.RandomState(0).rand(2, 67, 67, 3).astype(np.float32)
    with open(requests / "float.rest.json", "w") as f:
        json.dump({"instances": x.tolist()}, f)
    return version_dir, requests, model(x).numpy()


def test_static_check_names_the_xla_nodes(grouped_conv_export):
    version_dir, _, _ = grouped_conv_export
    meta_graph = servability.serving_meta_graph(servability.read_saved_model(version_dir))
    assert servability.xla_must_compile_nodes(meta_graph)
    with pytest.raises(ValueError, match="must be compiled by XLA"):
        servability.check_servable(version_dir)


@pytest.mark.slow
def test_fails_with_xla_disabled_like_the_server(grouped_conv_export, tmp_path):
    version_dir, requests, _ = grouped_conv_export
    code, report, stderr = serving_session.run_in_subprocess(
        str(version_dir), str(requests), str(tmp_path), disable_xla=True)
    assert report is not None, stderr[-2000:]
    assert report["xla_compilation_disabled"] and report["failed"] == ["float"]
    with open(tmp_path / "float.error.json") as f:
        error = json.load(f)
    assert error["code"] == "InternalError"
    assert "XLA compilation disabled" in error["error"]
    assert code != 0                      # and the preflight check fails as a whole


def test_runs_when_xla_is_left_enabled(grouped_conv_export):
    """The same loader and requests in this process, which never disabled XLA."""
    version_dir, requests, expected = grouped_conv_export
    servable = serving_session.SessionServable(str(version_dir))
    with open(requests / "float.rest.json") as f:
        predictions = servable.rest(json.load(f))["predictions"]
    servable.close()
    np.testing.assert_allclose(np.array(predictions), expected, rtol=1e-4, atol=1e-5)


def test_export_refuses_to_publish_what_the_server_cannot_run(grouped_conv_export):
    version_dir, _, _ = grouped_conv_export
    with pytest.raises(ValueError, match="must be compiled by XLA"):
        verify_like_the_server(str(version_dir))
