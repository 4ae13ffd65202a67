"""A saved `.keras` model loads in a fresh process that only imports alexnet_tf."""
import pytest
import os
import subprocess
import sys
import textwrap

import numpy as np

import alexnet_tf
from alexnet_tf import config
from alexnet_tf.network.model import build_alexnet

# The checkout (or Bazel runfiles tree) the package under test comes from.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(alexnet_tf.__file__)))


@pytest.mark.slow
def test_keras_file_loads_in_a_fresh_process_with_safe_mode(tmp_path):
    model = build_alexnet(config.get_config("tiny").model)
    x = np.random.RandomState(0).randn(4, 67, 67, 3).astype("float32")
    expected = model(x, training=False).numpy()
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import numpy as np, keras
        import alexnet_tf  # registers the layers; nothing else
        model = keras.saving.load_model({str(path)!r})  # safe_mode=True, no custom_objects
        x = np.load({str(tmp_path / "x.npy")!r})
        np.save({str(tmp_path / "y.npy")!r}, model(x, training=False).numpy())
        print(sorted({{type(l).__name__ for l in model.layers}}))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, cwd=str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "GroupedConv2D" in result.stdout and "LocalResponseNormalization" in result.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


def test_no_lambda_layers_anywhere():
    model = build_alexnet(config.get_config("paper").model)
    import keras
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


def test_a_training_step_lowers_the_loss_on_a_fixed_batch():
    import keras
    cfg = config.get_config("tiny")
    model = build_alexnet(cfg.model)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.RandomState(0)
    x = rng.randn(16, 67, 67, 3).astype("float32")
    y = rng.randint(0, 10, 16)
    before = [w.numpy().copy() for w in model.trainable_weights]
    first = model.train_on_batch(x, y)
    for _ in range(15):
        last = model.train_on_batch(x, y)
    after = model.trainable_weights
    assert all(not np.array_equal(b, a.numpy()) for b, a in zip(before, after))
    assert np.isfinite(last) and last < first
