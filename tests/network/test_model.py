"""The paper's network: parameter counts, shapes, initialisation (§3, §5; docs/design.md)."""
import keras
import numpy as np
import pytest

from alexnet_tf import config
from alexnet_tf.network.model import build_alexnet, fc7_features, with_softmax

# §3 with 227 input and 1000 classes, grouped (docs/design.md, "The paper's numbers").
PAPER_PARAMS = {
    "conv1": 34_944, "conv2": 307_456, "conv3": 885_120, "conv4": 663_936, "conv5": 442_624,
    "fc6": 37_752_832, "fc7": 16_781_312, "fc8": 4_097_000,
}
# Figure 2: output of each layer for a 227x227 input.
PAPER_SHAPES = {
    "conv1": (55, 55, 96), "norm1": (55, 55, 96), "pool1": (27, 27, 96),
    "conv2": (27, 27, 256), "norm2": (27, 27, 256), "pool2": (13, 13, 256),
    "conv3": (13, 13, 384), "conv4": (13, 13, 384), "conv5": (13, 13, 256),
    "pool5": (6, 6, 256), "fc6": (4096,), "fc7": (4096,), "fc8": (1000,),
}
# §3.5: neurons in the remaining layers (conv1's 253,440 is a known misprint).
PAPER_NEURONS = {"conv2": 186_624, "conv3": 64_896, "conv4": 64_896, "conv5": 43_264,
                 "fc6": 4096, "fc7": 4096, "fc8": 1000}


@pytest.fixture(scope="module")
def paper_model():
    return build_alexnet(config.get_config("paper").model)


def test_parameter_count_is_the_papers(paper_model):
    assert paper_model.count_params() == 60_965_224
    for name, count in PAPER_PARAMS.items():
        assert paper_model.get_layer(name).count_params() == count, name


def test_parameter_count_without_groups():
    import dataclasses
    cfg = dataclasses.replace(config.get_config("paper").model, conv_groups=(1, 1, 1, 1, 1))
    assert build_alexnet(cfg).count_params() == 62_378_344


def test_output_shapes_and_neuron_counts(paper_model):
    for name, shape in PAPER_SHAPES.items():
        assert tuple(paper_model.get_layer(name).output.shape[1:]) == shape, name
    for name, neurons in PAPER_NEURONS.items():
        assert int(np.prod(paper_model.get_layer(name).output.shape[1:])) == neurons, name
    assert int(np.prod(PAPER_SHAPES["conv1"])) == 290_400


def test_layer_order_reads_like_figure_2(paper_model):
    names = [layer.name for layer in paper_model.layers]
    assert names == ["image", "conv1", "norm1", "pool1", "conv2", "norm2", "pool2", "conv3",
                     "conv4", "conv5", "pool5", "flatten", "fc6", "dropout6", "fc7",
                     "dropout7", "fc8"]
    assert paper_model.get_layer("norm1").groups == 2
    assert paper_model.get_layer("conv2").groups == 2
    assert paper_model.get_layer("conv3").groups == 1
    assert paper_model.get_layer("dropout6").rate == 0.5
    assert paper_model.get_layer("pool1").pool_size == (3, 3)
    assert paper_model.get_layer("pool1").strides == (2, 2)


def test_paper_initialisation(paper_model):
    for layer in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        kernel, bias = (w.numpy() for w in paper_model.get_layer(layer).weights)
        assert abs(kernel.mean()) < 2e-3, layer
        assert kernel.std() == pytest.approx(0.01, rel=0.05), layer
        expected = 1.0 if layer in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0
        assert np.all(bias == expected), layer


def test_small_preset_uses_he_init_and_zero_biases():
    model = build_alexnet(config.get_config("digits").model)
    kernel, bias = (w.numpy() for w in model.get_layer("conv3").weights)
    fan_in = np.prod(kernel.shape[:3])
    assert kernel.std() == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.1)
    assert np.all(bias == 0)


def test_softmax_and_features_share_the_weights():
    model = build_alexnet(config.get_config("tiny").model)
    x = np.random.RandomState(0).randn(3, 67, 67, 3).astype("float32")
    logits = model(x, training=False).numpy()
    probs = with_softmax(model)(x, training=False).numpy()
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)
    features = fc7_features(model)(x, training=False).numpy()
    assert features.shape == (3, 64) and (features >= 0).all()
    fc8_kernel, fc8_bias = (w.numpy() for w in model.get_layer("fc8").weights)
    np.testing.assert_allclose(features @ fc8_kernel + fc8_bias, logits, rtol=1e-4, atol=1e-5)


def test_dropout_only_in_training():
    model = build_alexnet(config.get_config("tiny").model)
    x = np.random.RandomState(1).randn(2, 67, 67, 3).astype("float32")
    a, b = model(x, training=False).numpy(), model(x, training=False).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(model(x, training=True).numpy(), a)


def test_bad_config_is_refused():
    import dataclasses
    model = config.get_config("tiny").model
    with pytest.raises(ValueError, match="conv_filters needs 1 to 5 entries"):
        build_alexnet(dataclasses.replace(model, conv_filters=(12, 32, 48, 48, 32, 8)))
    with pytest.raises(ValueError, match="fc_units has at most 2 entries"):
        build_alexnet(dataclasses.replace(model, fc_units=(64, 64, 64)))


def test_a_four_layer_net_from_the_same_layers():
    """Figure 1's small net as the experiments build it from the paper preset: conv1-conv3
    (one group, no LRN), pooling after each, fc8 straight after pool3. Counted by hand:
    conv1 11*11*3*96+96, conv2 5*5*96*256+256, conv3 3*3*256*384+384; 227 -> 55 -> 27 ->
    27 -> 13 -> 13 -> 6, so fc8 reads 6*6*384 = 13,824 values."""
    cfg = config.override(config.get_config("paper"), [
        "model.conv_filters=96,256,384", "model.conv_kernel_sizes=11,5,3",
        "model.conv_strides=4,1,1", "model.conv_groups=1,1,1",
        "model.conv_padding=valid,same,same", "model.lrn_after=",
        "model.pool_after=conv1,conv2,conv3", "model.fc_units=", "model.dropout_rate=0"])
    model = build_alexnet(config.validate(cfg).model)
    names = [layer.name for layer in model.layers[1:]]
    assert names == ["conv1", "pool1", "conv2", "pool2", "conv3", "pool3", "flatten", "fc8"]
    expected = {"conv1": 11 * 11 * 3 * 96 + 96, "conv2": 5 * 5 * 96 * 256 + 256,
                "conv3": 3 * 3 * 256 * 384 + 384, "fc8": 6 * 6 * 384 * 1000 + 1000}
    for name, count in expected.items():
        assert model.get_layer(name).count_params() == count, name
    assert tuple(model.get_layer("pool3").output.shape[1:]) == (6, 6, 384)


def test_tanh_units_where_the_paper_has_relus():
    """model.activation=tanh: every conv and fc layer's output is tanh of its affine part
    (NumPy convolution and matrix product, tests/support/reference.py)."""
    import reference
    cfg = config.override(config.get_config("tiny"), ["model.activation=tanh",
                                                      "model.dropout_rate=0"]).model
    model = build_alexnet(cfg)
    x = np.random.default_rng(0).normal(size=(2, 67, 67, 3)).astype("float32")
    conv1 = model.get_layer("conv1")
    kernel, bias = (w.numpy() for w in conv1.weights)
    got = keras.Model(model.input, conv1.output)(x).numpy()
    np.testing.assert_allclose(got, np.tanh(reference.conv2d(x, kernel, bias, stride=4)),
                               rtol=1e-4, atol=1e-5)
    fc6, fc7 = model.get_layer("fc6"), model.get_layer("fc7")
    h6 = keras.Model(model.input, fc6.output)(x).numpy()
    w7, b7 = (w.numpy() for w in fc7.weights)
    h7 = keras.Model(model.input, fc7.output)(x).numpy()
    np.testing.assert_allclose(h7, np.tanh(h6 @ w7 + b7), rtol=1e-4, atol=1e-5)
    assert np.any(h7 < 0)                                   # tanh, not relu


def test_under_mixed_bfloat16_every_layer_computes_in_bfloat16_on_float32_weights():
    """The training policy of --precision=bfloat16: convolutions, LRN, pooling and fc6-fc8
    in bfloat16 (fc8's logits too: the loss and softmax cast them to float32)."""
    import keras
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_alexnet(config.get_config("tiny").model)
    finally:
        keras.config.set_dtype_policy(previous)
    computing = [layer for layer in model.layers
                 if not isinstance(layer, keras.layers.InputLayer)]
    assert {layer.output.dtype for layer in computing} == {"bfloat16"}, \
        {layer.name: layer.output.dtype for layer in computing}
    assert {"norm1", "pool1", "conv1", "fc8"} <= {layer.name for layer in computing}
    assert {w.dtype for w in model.weights} == {"float32"}
    assert with_softmax(model).output.dtype == "float32"
