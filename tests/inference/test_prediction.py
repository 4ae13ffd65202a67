"""`python -m alexnet_tf.predict`: its top-5 is the in-memory model's own top-5."""
import json

import numpy as np
import pytest
import tensorflow as tf

from alexnet_tf.inference import loader as inference, prediction
import tools_support


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    work = tools_support.make_workdir(root)
    images = tools_support.make_images(root / "images")
    bad = root / "images" / "broken.png"
    good = open(images[0], "rb").read()
    bad.write_bytes(good[:len(good) // 2])                      # a PNG cut in half
    return work, images, str(bad)


def _reference_top5(work, paths, model=None, mean_rgb=tools_support.MEAN_RGB):
    """The model's own answer: the file decoded by TF, shorter side to 76, central 67x67,
    minus the statistics' mean, times the input scale, through the loaded .keras model."""
    import keras
    model = model or keras.saving.load_model(work / "model.keras")
    mean = np.asarray(mean_rgb, np.float32)
    batch = []
    for path in paths:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = image[top:top + side, left:left + side]
        resized = tf.image.resize(square, [76, 76], method="bilinear", antialias=True)
        resized = tf.clip_by_value(tf.round(resized), 0, 255).numpy()
        crop = resized[4:71, 4:71]
        batch.append((crop - mean) / 127.5)
    logits = model.predict(np.stack(batch), verbose=0)
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    order = np.argsort(-probabilities, axis=1)[:, :5]
    return order, np.take_along_axis(probabilities, order, 1)


def test_top5_matches_the_models_own(workdir):
    work, images, _ = workdir
    classifier = inference.load_classifier(work)
    assert classifier.cfg.name == "tiny" and classifier.class_names.labels[3] == "three"
    result = prediction.predict_files(classifier, images, k=5)
    order, probabilities = _reference_top5(work, images)
    assert [p["image"] for p in result["predictions"]] == images and not result["errors"]
    for prediction_, ref_order, ref_probs in zip(result["predictions"], order, probabilities):
        assert [t["index"] for t in prediction_["top"]] == ref_order.tolist()
        np.testing.assert_allclose([t["probability"] for t in prediction_["top"]], ref_probs,
                                   rtol=2e-3, atol=1e-5)  # a resized pixel may round differently
        assert [t["rank"] for t in prediction_["top"]] == [1, 2, 3, 4, 5]
        assert prediction_["top"][0]["label"] == tools_support.CLASS_LABELS[ref_order[0]]


def test_a_bad_file_is_reported_and_the_rest_classified(workdir):
    work, images, bad = workdir
    classifier = inference.load_classifier(work / "model.keras")   # side files found beside it
    result = prediction.predict_files(classifier, [images[0], bad, "/no/such.jpg"], k=3)
    assert [p["image"] for p in result["predictions"]] == [images[0]]
    assert len(result["predictions"][0]["top"]) == 3
    errors = {e["image"]: e["error"] for e in result["errors"]}
    assert errors[bad].startswith(bad) and "truncated" in errors[bad], errors[bad]
    assert "No such file" in errors["/no/such.jpg"]
    lines = prediction.format_text(result).splitlines()
    assert lines[0] == images[0] and lines[1].lstrip().startswith("1.") and len(lines) == 6
    assert lines[4].startswith(f"{bad}: skipped:")


def test_missing_model_gets_one_clear_error(tmp_path):
    with pytest.raises(inference.InputError, match="no model at"):
        inference.load_classifier(tmp_path / "nothing.keras")


@pytest.mark.slow
def test_command_line_json_and_exit_status(workdir):
    work, images, bad = workdir
    done = tools_support.run_module("alexnet_tf.predict", f"--model={work}", "--json",
                                    images[1], bad)
    assert done.returncode == 2, done.stderr[-2000:]       # one file skipped
    result = json.loads(done.stdout)
    order, probabilities = _reference_top5(work, [images[1]])
    assert [t["index"] for t in result["predictions"][0]["top"]] == order[0].tolist()
    assert result["errors"][0]["image"] == bad


def test_bvlc_npy_weights_are_read_as_caffe_does(tmp_path, workdir):
    """A caffe-tensorflow dict (conv1 reading BGR) in the tiny shape: the classifier's model
    holds the same weights with conv1's input channels reversed, Caffe's conventions and
    Caffe's mean, and predicts what that model predicts."""
    import keras
    from alexnet_tf import config
    from alexnet_tf.network import pretrained
    _, images, _ = workdir
    source = keras.saving.load_model(workdir[0] / "model.keras")
    weights = {layer.name: layer.get_weights() for layer in source.layers if layer.weights}
    weights["conv1"] = [weights["conv1"][0][:, :, ::-1, :], weights["conv1"][1]]
    np.save(tmp_path / "bvlc_alexnet.npy", weights, allow_pickle=True)
    classifier = inference.load_classifier(tmp_path / "bvlc_alexnet.npy", preset="tiny")
    assert classifier.cfg.model.lrn.alpha_over_window and classifier.cfg.model.lrn.groups == 1
    np.testing.assert_array_equal(classifier.model.get_layer("conv1").get_weights()[0],
                                  source.get_layer("conv1").get_weights()[0])
    np.testing.assert_allclose(classifier.statistics.mean_rgb, pretrained.CAFFE_MEAN_RGB,
                               rtol=1e-6)
    expected = pretrained.caffe_config(config.get_config("tiny"))
    assert classifier.cfg == expected and len(classifier.class_names) == 10
    from alexnet_tf.network.model import build_alexnet
    reference = build_alexnet(expected.model)
    reference.set_weights(source.get_weights())
    order, probabilities = _reference_top5(None, images[:2], reference,
                                           pretrained.CAFFE_MEAN_RGB)
    result = prediction.predict_files(classifier, images[:2], k=5)
    for prediction_, ref_order, ref_probs in zip(result["predictions"], order, probabilities):
        assert [t["index"] for t in prediction_["top"]] == ref_order.tolist()
        np.testing.assert_allclose([t["probability"] for t in prediction_["top"]], ref_probs,
                                   rtol=2e-3, atol=1e-5)  # a resized pixel may round differently
