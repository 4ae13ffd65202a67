"""Centre-crop / 10-crop top-1/top-5 error and ensembles, against NumPy on the model's outputs."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from alexnet_tf.training import checkpoints as checkpointing

from alexnet_tf import config

from alexnet_tf.inference import evaluation, loader as inference

from alexnet_tf.data import pipeline as input_pipeline
from alexnet_tf.network.model import build_alexnet
from alexnet_tf.training.loop import RunOptions, train_and_evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
           PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))


def numpy_softmax(logits):
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def numpy_top_k_error(probabilities, labels, k):
    top = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
    return float(np.mean([label not in row for row, label in zip(top, labels)]))


def _model_probabilities(model, images):
    """Per-image softmax, one image at a time, in NumPy (crops averaged if 5-D)."""
    out = []
    for image in images:
        crops = image if image.ndim == 4 else image[None]
        out.append(numpy_softmax(model(crops, training=False).numpy()).mean(axis=0))
    return np.stack(out)


@pytest.fixture(scope="module")
def models():
    cfg = config.get_config("tiny")
    tf.keras.utils.set_random_seed(3)
    return [build_alexnet(cfg.model), build_alexnet(cfg.model)]


def test_center_ten_crop_and_ensemble_errors_match_numpy(models):
    rng = np.random.RandomState(0)
    ten = rng.uniform(-1, 1, (12, 10, 67, 67, 3)).astype("float32")
    center = ten[:, 4]
    # Labels the untrained models rank at varied places, so top-1 and top-5 differ.
    labels = rng.randint(0, 10, 12).astype("int32")

    def dataset_fn(ten_crop):
        return tf.data.Dataset.from_tensor_slices((ten if ten_crop else center, labels)).batch(5)

    for members in ([models[0]], models):
        result = evaluation.evaluate_models(members, dataset_fn)
        for mode, images in (("center", center), ("ten_crop", ten)):
            probs = np.mean([_model_probabilities(m, images) for m in members], axis=0)
            for k in (1, 5):
                assert result[mode][f"top{k}_error"] == pytest.approx(
                    numpy_top_k_error(probs, labels, k), abs=1e-9), (len(members), mode, k)
            assert result[mode]["images"] == 12
            nll = -np.mean(np.log(probs[np.arange(12), labels]))
            assert result[mode]["loss"] == pytest.approx(nll, rel=1e-4)


def test_max_images_and_bad_ensembles(models):
    data = tf.data.Dataset.from_tensor_slices(
        (np.zeros((9, 67, 67, 3), "float32"), np.zeros(9, "int32"))).batch(4)
    result = evaluation.evaluate_models(models[:1], lambda ten_crop: data, modes=("center",),
                                        max_images=6)
    assert result["center"]["images"] == 6
    bigger = build_alexnet(config.override(config.get_config("tiny"),
                                           ["model.num_classes=12"]).model)
    with pytest.raises(ValueError, match="one input shape and class count"):
        evaluation.evaluate_models([models[0], bigger], lambda ten_crop: data)
    with pytest.raises(ValueError, match="unknown evaluation mode"):
        evaluation.evaluate_models(models[:1], lambda ten_crop: data, modes=("five",))


@pytest.fixture(scope="module")
def trained_workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("trained")
    cfg = config.override(config.get_config("tiny"), ["train.epochs=1"])
    train_and_evaluate(cfg, workdir, RunOptions(strategy="single", progress=False),
                       log=lambda *a: None)
    return workdir, cfg


@pytest.mark.slow
def test_run_evaluation_on_a_work_dir_uses_its_config_and_checkpoint(trained_workdir):
    workdir, cfg = trained_workdir
    results = evaluation.run_evaluation([str(workdir)], split="validation",
                                        crops=["center", "ten_crop"], batch_size=64,
                                        max_images=100)
    model = checkpointing.load_model(workdir)
    for mode in ("center", "ten_crop"):
        batches = list(input_pipeline.build_dataset(cfg, "validation", training=False,
                                                    batch_size=100,
                                                    ten_crop=(mode == "ten_crop")).take(1))
        images, labels = batches[0][0].numpy(), batches[0][1].numpy()
        probs = _model_probabilities(model, images)
        for k in (1, 5):
            assert results[mode][f"top{k}_error"] == pytest.approx(
                numpy_top_k_error(probs, labels, k), abs=1e-9)
    with pytest.raises(inference.InputError, match=f"^no model at {workdir / 'missing'} "):
        evaluation.run_evaluation([str(workdir / "missing")], split="validation",
                                  crops=["center"], batch_size=8)


def test_the_multi_crop_view_of_a_config_without_flips_is_five_unreflected_patches(
        trained_workdir):
    """tiny, like digits, trains without reflections: its multi-crop view is the four corner
    patches and the centre patch, with NumPy slicing as the reference."""
    from alexnet_tf.data import preprocessing
    from alexnet_tf.data.sources import digits
    workdir, cfg = trained_workdir
    assert not cfg.data.random_flip
    n, size, crop = 24, cfg.data.resize_size, cfg.model.image_size
    results = evaluation.run_evaluation([str(workdir)], split="validation",
                                        crops=["ten_crop"], batch_size=10, max_images=n)
    images, labels = digits.load_split()["validation"]
    mean = input_pipeline.dataset_statistics(cfg).mean_rgb.astype(np.float64)
    m, c = size - crop, (size - crop) // 2
    crops = []
    for image in images[:n]:
        resized = preprocessing.resize_and_center_crop(image, size).numpy().astype(np.float64)
        crops.append([(resized[t:t + crop, l:l + crop] - mean) * cfg.data.input_scale
                      for t, l in [(0, 0), (0, m), (m, 0), (m, m), (c, c)]])
    probs = _model_probabilities(checkpointing.load_model(workdir),
                                 np.asarray(crops, np.float32))
    nll = -np.mean(np.log(probs[np.arange(n), labels[:n]]))
    assert results["ten_crop"]["loss"] == pytest.approx(nll, rel=1e-4)
    for k in (1, 5):
        assert results["ten_crop"][f"top{k}_error"] == pytest.approx(
            numpy_top_k_error(probs, labels[:n], k), abs=1e-9)
    assert results["ten_crop"]["crops"] == 5
    assert "no reflections" in results["ten_crop"]["view"]


@pytest.mark.slow
def test_the_evaluate_command_prints_both_crops(trained_workdir, tmp_path):
    workdir, _ = trained_workdir
    out_json = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "alexnet_tf.evaluate", f"--model={workdir}",
         f"--model={workdir / 'model.keras'}", "--max_images=40", f"--output={out_json}"],
        capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ensemble of" in result.stdout
    # The view is named for what it is: tiny trains without flips, so five patches.
    assert "centre" in result.stdout and "5 crops" in result.stdout
    assert "no reflections" in result.stdout and "10 crops" not in result.stdout
    saved = json.loads(out_json.read_text())["results"]
    assert saved["center"]["images"] == 40 and saved["ten_crop"]["images"] == 40
    assert (saved["center"]["crops"], saved["ten_crop"]["crops"]) == (1, 5)
    assert "no reflections" in saved["ten_crop"]["view"]


def test_results_name_the_ten_patches_where_the_config_trains_with_flips(models):
    data = tf.data.Dataset.from_tensor_slices(
        (np.zeros((3, 10, 67, 67, 3), "float32"), np.zeros(3, "int32"))).batch(2)
    result = evaluation.evaluate_models(models[:1], lambda ten_crop: data, modes=("ten_crop",))
    assert result["ten_crop"]["crops"] == 10
    text = evaluation.format_results(result, ["m"])
    assert "10 crops" in text and "reflections" in text and "no reflections" not in text
