"""`applications.AlexNet`: the keras.applications-style constructor, against the model
built directly and NumPy formulas on its outputs."""
import keras
import numpy as np
import pytest

from alexnet_tf import config
from alexnet_tf.network.applications import AlexNet
from alexnet_tf.network.model import build_alexnet, fc7_features


@pytest.fixture(scope="module")
def trained_like(tmp_path_factory):
    """A tiny model with non-default weights, saved as .keras and .weights.h5."""
    keras.utils.set_random_seed(7)
    model = build_alexnet(config.get_config("tiny").model)
    folder = tmp_path_factory.mktemp("weights")
    model.save(folder / "model.keras")
    model.save_weights(folder / "model.weights.h5")
    x = np.random.RandomState(1).randn(3, 67, 67, 3).astype("float32")
    return model, folder, x


def _softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_random_init_paper_preset_has_the_papers_parameter_count():
    model = AlexNet()
    assert model.count_params() == 60_965_224
    assert model.output_shape == (None, 1000)


def test_keras_weights_give_the_saved_models_softmax(trained_like):
    model, folder, x = trained_like
    got = AlexNet(weights=folder / "model.keras")(x).numpy()
    np.testing.assert_allclose(got, _softmax(model(x).numpy()), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(-1), 1.0, rtol=1e-5)


def test_weights_h5_with_config_and_logits(trained_like):
    model, folder, x = trained_like
    got = AlexNet(weights=folder / "model.weights.h5", config="tiny",
                  classifier_activation=None)(x).numpy()
    np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_fc7_top_equals_the_fc7_features(trained_like):
    model, folder, x = trained_like
    features = AlexNet(weights=folder / "model.keras", include_top=False, top="fc7")
    expected = fc7_features(model)(x).numpy()
    assert features.output_shape == (None, 64)
    np.testing.assert_allclose(features(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert (expected >= 0).all()            # after ReLU


def test_pool5_base_at_another_input_size_shares_the_weights(trained_like):
    model, folder, x = trained_like
    base = AlexNet(weights=folder / "model.keras", include_top=False, input_shape=(99, 99, 3))
    # 99 -> conv1 23 -> pool1 11 -> pool2 5 -> pool5 2
    assert base.output_shape == (None, 2, 2, model.get_layer("conv5").filters)
    same_size = AlexNet(weights=folder / "model.keras", include_top=False)
    pool5 = keras.Model(model.input, model.get_layer("pool5").output)(x).numpy()
    np.testing.assert_allclose(same_size(x).numpy(), pool5, rtol=1e-5, atol=1e-6)
    big = np.random.RandomState(2).randn(2, 99, 99, 3).astype("float32")
    maps = base(big).numpy()
    avg = AlexNet(weights=folder / "model.keras", include_top=False, input_shape=(99, 99, 3),
                  pooling="avg")(big).numpy()
    mx = AlexNet(weights=folder / "model.keras", include_top=False, input_shape=(99, 99, 3),
                 pooling="max")(big).numpy()
    np.testing.assert_allclose(avg, maps.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mx, maps.max(axis=(1, 2)), rtol=1e-6)


def test_classes_for_a_new_head():
    model = AlexNet(config="tiny", classes=3)
    assert model.output_shape == (None, 3)


def test_bad_arguments_give_one_clear_error(trained_like):
    _, folder, _ = trained_like
    with pytest.raises(ValueError, match="classes=5, but the weights have 10"):
        AlexNet(weights=folder / "model.keras", classes=5)
    with pytest.raises(ValueError, match="needs input_shape=\\(67, 67, 3\\)"):
        AlexNet(config="tiny", input_shape=(99, 99, 3))
    with pytest.raises(ValueError, match="pooling applies only"):
        AlexNet(config="tiny", pooling="avg")
    with pytest.raises(ValueError, match="top must be one of"):
        AlexNet(config="tiny", include_top=False, top="fc6")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        AlexNet(weights=folder / "absent.keras")
    (folder / "weights.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="expected None, a .keras"):
        AlexNet(weights=folder / "weights.bin")
