"""`export.saved_model --precision=bfloat16`: bfloat16 variables, the four signatures with
their inputs and float32 outputs, checked like the server runs it (XLA off), and the same
top-1 as the float32 export of the same trained model on the digits validation set."""
import json

import numpy as np
import pytest
import tensorflow as tf
from random_images import tiny

from alexnet_tf.export import serving_export, servability
from alexnet_tf.inference.loader import load_classifier
from alexnet_tf.training.inputs import PipelineData
from alexnet_tf.training.loop import RunOptions, train_and_evaluate

pytestmark = pytest.mark.slow  # trains, exports twice and runs the server check twice


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("bfloat16_export")
    cfg = tiny("train.epochs=2")        # the embedded digits: a model with real margins
    train_and_evaluate(cfg, root / "run", RunOptions(strategy="single", progress=False,
                                                     precision="float32"),
                       log=lambda *a: None)
    trained = load_classifier(str(root / "run"))
    summaries = {precision: serving_export.export_saved_model(
        trained, root / precision, precision=precision, verify=True)
        for precision in ("float32", "bfloat16")}
    return trained, summaries


def _version(exports, precision):
    return exports[1][precision]["path"]


def test_the_bfloat16_export_stores_bfloat16_weights_once_in_half_the_bytes(exports):
    trained, _ = exports
    for precision in ("float32", "bfloat16"):
        reader = tf.train.load_checkpoint(f"{_version(exports, precision)}/variables/variables")
        kinds = reader.get_variable_to_dtype_map()
        shapes = reader.get_variable_to_shape_map()
        weights = {k: kinds[k] for k in kinds if k != "_CHECKPOINTABLE_OBJECT_GRAPH"
                   and kinds[k].is_floating}
        assert set(weights.values()) == {tf.as_dtype(precision)}, weights
        assert sum(int(np.prod(shapes[k])) for k in weights) == trained.model.count_params()
        info = json.loads(open(f"{_version(exports, precision)}/assets.extra/"
                               "export_info.json").read())
        assert info["precision"] == precision
    variables = {p: serving_export.directory_bytes(f"{_version(exports, p)}/variables")
                 for p in ("float32", "bfloat16")}
    assert variables["bfloat16"] < 0.55 * variables["float32"], variables


def test_the_bfloat16_export_keeps_the_signatures_inputs_and_float32_outputs(exports):
    meta = {precision: servability.check_servable(_version(exports, precision))
            for precision in ("float32", "bfloat16")}
    assert servability.xla_must_compile_nodes(meta["bfloat16"]) == []
    names = {"serving_default", "predict_images", "features", "classify"}
    assert names <= set(meta["bfloat16"].signature_def)
    for name in names:
        signature = meta["float32"].signature_def[name]
        theirs = meta["bfloat16"].signature_def[name]
        assert {k: (v.dtype, v.tensor_shape) for k, v in signature.inputs.items()} == \
            {k: (v.dtype, v.tensor_shape) for k, v in theirs.inputs.items()}, name
        assert {k: v.dtype for k, v in signature.outputs.items()} == \
            {k: v.dtype for k, v in theirs.outputs.items()}, name
        kinds = {v.dtype for v in theirs.outputs.values()}
        assert tf.float32.as_datatype_enum in kinds, name
        assert not kinds & {t.as_datatype_enum for t in (tf.bfloat16, tf.float16)}, name


def test_the_bfloat16_export_answers_the_float32_exports_top1_on_digits_validation(exports):
    trained, _ = exports
    validation = PipelineData(trained.cfg, progress=False, log=lambda *a: None).validation(
        batch_size=64)
    probabilities = {p: [] for p in ("float32", "bfloat16")}
    labels = []
    for precision in probabilities:
        serve = tf.saved_model.load(_version(exports, precision)).signatures["predict_images"]
        for images, batch_labels in validation:
            probabilities[precision].append(serve(images=images)["probabilities"].numpy())
            if precision == "float32":
                labels.append(batch_labels.numpy())
    full, half = (np.concatenate(probabilities[p]) for p in ("float32", "bfloat16"))
    labels = np.concatenate(labels)
    largest_difference = float(np.abs(full - half).max())
    top_full, top_half = full.argmax(-1), half.argmax(-1)
    agree = float(np.mean(top_full == top_half))
    ordered = np.sort(full, axis=-1)
    margin = ordered[:, -1] - ordered[:, -2]
    print(f"\n{len(labels)} digits validation images: bfloat16 top-1 = float32 top-1 on "
          f"{agree:.2%}; largest probability difference {largest_difference:.4f}; accuracy "
          f"float32 {np.mean(top_full == labels):.2%}, bfloat16 {np.mean(top_half == labels):.2%}")
    assert np.mean(top_full == labels) > 0.3   # chance is 0.1: a model with margins to keep
    # An image may change its top-1 only where float32's top two are closer than the two
    # exports' probabilities differ: a tie within bfloat16 rounding.
    assert np.all(margin[top_full != top_half] <= 2 * largest_difference)
    assert agree >= 0.98 and largest_difference < 0.05
