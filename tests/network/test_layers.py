"""GroupedConv2D and LocalResponseNormalization against independent references."""
import contextlib

import numpy as np
import pytest
import tensorflow as tf
import keras

from alexnet_tf.network.layers import GroupedConv2D, LocalResponseNormalization, PartitionedDense
from reference import grouped_conv2d, lrn


@pytest.mark.parametrize("shape", [(2, 5, 5, 16), (1, 3, 4, 96), (3, 2, 2, 10)])
def test_lrn_is_the_papers_formula_across_all_channels(shape):
    a = np.random.RandomState(0).uniform(0, 40, shape).astype("float32")
    out = LocalResponseNormalization()(a).numpy()
    np.testing.assert_allclose(out, lrn(a), rtol=1e-5)


@pytest.mark.parametrize("shape, groups", [((2, 5, 5, 16), 2), ((1, 3, 3, 96), 2),
                                           ((2, 4, 4, 12), 3)])
def test_lrn_window_stays_within_each_group(shape, groups):
    a = np.random.RandomState(1).uniform(0, 40, shape).astype("float32")
    out = LocalResponseNormalization(groups=groups)(a).numpy()
    np.testing.assert_allclose(out, lrn(a, groups=groups), rtol=1e-5)
    assert not np.allclose(out, lrn(a, groups=1), rtol=1e-5)


def test_lrn_group_boundary_blocks_the_window():
    a = np.zeros((1, 1, 1, 8), "float32")
    a[..., 3] = 1.0
    a[..., 4] = 100.0  # first channel of group 1: must not reach channel 3 of group 0
    out = LocalResponseNormalization(groups=2)(a).numpy()
    assert out[0, 0, 0, 3] == pytest.approx(1.0 / (2 + 1e-4 * 1.0) ** 0.75, rel=1e-6)


def test_lrn_caffe_convention_matches_caffes_formula():
    a = np.random.RandomState(2).uniform(0, 100, (2, 3, 3, 20)).astype("float32")
    caffe = LocalResponseNormalization(bias=1.0, alpha=1e-4, alpha_over_window=True)
    np.testing.assert_allclose(caffe(a).numpy(), lrn(a, k=1.0, alpha_over_n=True), rtol=1e-5)
    assert caffe.effective_alpha == pytest.approx(2e-5)
    cuda_convnet = LocalResponseNormalization(alpha_over_window=True)
    np.testing.assert_allclose(cuda_convnet(a).numpy(), lrn(a, k=2.0, alpha_over_n=True),
                               rtol=1e-5)


def test_lrn_computes_in_float32_under_mixed_float16():
    a = np.random.RandomState(3).uniform(0, 300, (1, 2, 2, 8)).astype("float32")
    layer = LocalResponseNormalization(dtype="mixed_float16")
    out = layer(a)
    assert out.dtype == tf.float16
    np.testing.assert_allclose(out.numpy().astype("float64"), lrn(a.astype("float16")),
                               rtol=2e-3)


# bfloat16's unit roundoff: 8 significant bits, round to nearest.
BF16_U = 2.0 ** -9


def _bfloat16_values(x):
    return tf.cast(tf.cast(x, tf.bfloat16), tf.float32).numpy()


@pytest.mark.parametrize("groups, low, high", [(1, -60, 60), (2, -300, 300), (2, -5, 5)])
def test_lrn_under_bfloat16_computes_in_bfloat16_within_its_rounding_of_the_formula(
        groups, low, high):
    """Forward: x^2, alpha rounded into the band, the product's result, + k: d within 4u;
    sqrt(d) 3u, d*sqrt(d) 8u, its rsqrt 5u, times x: y within 6u of the float32/64 formula
    on the same (bfloat16) inputs, to first order. Gradient: its two terms each carry
    about as many roundings, so its error is held to 8u of the largest gradient."""
    from reference import lrn_gradient
    rng = np.random.RandomState(9)
    a = _bfloat16_values(rng.uniform(low, high, (2, 5, 5, 96)).astype("float32"))
    upstream = _bfloat16_values(rng.randn(*a.shape).astype("float32"))
    layer = LocalResponseNormalization(groups=groups, dtype="mixed_bfloat16")
    expected, expected_gradient = lrn(a, groups=groups), lrn_gradient(a, upstream,
                                                                      groups=groups)
    for training in (True, False):
        @tf.function
        def forward_backward(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=training)
                loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
            return y, tape.gradient(loss, x)

        traced = forward_backward.get_concrete_function(tf.TensorSpec(a.shape, tf.float32))
        kinds = set()
        for graph in (traced.graph, *(f.graph for f in traced.graph._functions.values())):
            kinds |= {(op.type, op.get_attr("T")) for op in graph.get_operations()
                      if op.type in ("MatMul", "Conv2D", "Rsqrt", "RealDiv", "Square")}
        assert kinds and {dtype for _, dtype in kinds} == {tf.bfloat16}, kinds
        y, gradient = forward_backward(tf.constant(a))
        assert y.dtype == tf.bfloat16
        np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), expected,
                                   rtol=6 * BF16_U * 1.01)
        np.testing.assert_allclose(gradient.numpy(), expected_gradient, rtol=0,
                                   atol=8 * BF16_U * np.abs(expected_gradient).max())


def _grouped_layer(filters, kernel_size, groups, padding="valid", strides=1, **kw):
    return GroupedConv2D(filters, kernel_size, strides=strides, padding=padding, groups=groups,
                         kernel_initializer="random_normal", bias_initializer="random_normal", **kw)


@pytest.mark.parametrize("groups, padding, strides", [(2, "same", 1), (2, "valid", 2),
                                                      (4, "same", 1), (1, "valid", 3)])
def test_grouped_conv_is_independent_convolutions_on_channel_slices(groups, padding, strides):
    x = np.random.RandomState(4).randn(2, 9, 9, 8).astype("float32")
    layer = _grouped_layer(12, 3, groups, padding=padding, strides=strides)
    out = layer(x).numpy()
    kernel, bias = (w.numpy() for w in layer.weights)
    assert kernel.shape == (3, 3, 8 // groups, 12)
    pad = 1 if padding == "same" else 0
    expected = grouped_conv2d(x, kernel, bias, groups, stride=strides, pad=pad)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_grouped_conv_equals_keras_conv2d_groups_with_the_same_weights():
    x = np.random.RandomState(5).randn(2, 7, 7, 6).astype("float32")
    ours = _grouped_layer(10, 3, 2, padding="same", activation="relu")
    theirs = keras.layers.Conv2D(10, 3, padding="same", groups=2, activation="relu")
    ours.build(x.shape)
    theirs.build(x.shape)
    assert tuple(ours.kernel.shape) == tuple(theirs.kernel.shape)
    theirs.set_weights(ours.get_weights())          # weights move unchanged, one way ...
    np.testing.assert_allclose(ours(x).numpy(), theirs(x).numpy(), rtol=1e-5, atol=1e-5)
    fresh = _grouped_layer(10, 3, 2, padding="same", activation="relu")
    fresh.build(x.shape)
    fresh.set_weights(theirs.get_weights())         # ... and back
    np.testing.assert_allclose(fresh(x).numpy(), theirs(x).numpy(), rtol=1e-5, atol=1e-5)


def test_no_connection_across_groups():
    x = tf.constant(np.random.RandomState(6).randn(1, 6, 6, 8).astype("float32"))
    layer = _grouped_layer(6, 3, 2, padding="same")
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        group0 = tf.reduce_sum(y[..., :3])
    grad = tape.gradient(group0, x).numpy()
    assert np.all(grad[..., 4:] == 0.0)
    assert np.any(grad[..., :4] != 0.0)


@pytest.mark.parametrize("groups", [1, 2])
def test_device_placement_does_not_change_the_function(groups):
    x = np.random.RandomState(7).randn(2, 7, 7, 4).astype("float32")
    plain = _grouped_layer(8, 3, groups, padding="same", activation="relu")
    placed = _grouped_layer(8, 3, groups, padding="same", activation="relu",
                            devices=["/CPU:0", "/CPU:0"])
    plain.build(x.shape)
    placed.build(x.shape)
    placed.set_weights(plain.get_weights())
    np.testing.assert_allclose(placed(x).numpy(), plain(x).numpy(), rtol=1e-6, atol=1e-6)
    dense, split = keras.layers.Dense(6), PartitionedDense(6, devices=["/CPU:0", "/CPU:0"])
    flat = x.reshape(2, -1)
    dense.build(flat.shape)
    split.build(flat.shape)
    split.set_weights(dense.get_weights())
    np.testing.assert_allclose(split(flat).numpy(), dense(flat).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_dense_and_its_gradients_are_the_formula_in_both_modes(training):
    """Training runs its own product (BatchMatMulV2 with a written gradient); both modes
    against NumPy: relu(x W + b), dL/dx = (g * relu') W^T, dL/dW = x^T (g * relu')."""
    rng = np.random.RandomState(11)
    x, upstream = rng.randn(5, 37).astype("float32"), rng.randn(5, 23).astype("float32")
    layer = PartitionedDense(23, activation="relu")
    layer.build(x.shape)
    w, b = rng.randn(37, 23).astype("float32"), rng.randn(23).astype("float32")
    layer.set_weights([w, b])
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=training)
        loss = tf.reduce_sum(y * upstream)
    dx, dw, db = tape.gradient(loss, [xt, layer.kernel, layer.bias])
    pre = x.astype(np.float64) @ w + b
    g = upstream * (pre > 0)
    np.testing.assert_allclose(y.numpy(), np.maximum(pre, 0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx.numpy(), g @ w.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw.numpy(), x.T @ g, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(db.numpy(), g.sum(0), rtol=1e-5, atol=1e-5)


def test_bad_shapes_give_clear_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        GroupedConv2D(10, 3, groups=3)
    with pytest.raises(ValueError, match="input channels 5"):
        GroupedConv2D(10, 3, groups=2)(np.zeros((1, 4, 4, 5), "float32"))
    with pytest.raises(ValueError, match="not divisible"):
        LocalResponseNormalization(groups=2)(np.zeros((1, 2, 2, 5), "float32"))
    with pytest.raises(ValueError, match="split evenly"):
        PartitionedDense(5, devices=["/CPU:0", "/CPU:0"])


@pytest.mark.parametrize("layer", [
    GroupedConv2D(8, (3, 5), strides=2, padding="same", groups=2, activation="relu",
                  kernel_regularizer=keras.regularizers.L2(1e-3), devices=["/CPU:0"]),
    LocalResponseNormalization(depth_radius=3, bias=1.0, alpha=2e-4, beta=0.5,
                               alpha_over_window=True, groups=2),
    PartitionedDense(4, activation="relu", devices=["/CPU:0", "/CPU:0"]),
])
def test_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    x = np.random.RandomState(8).rand(2, 6, 6, 4).astype("float32")
    if isinstance(layer, PartitionedDense):
        x = x.reshape(2, -1)
    layer(x)
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), layer(x).numpy(), rtol=1e-6)


@pytest.mark.parametrize("groups, alpha_over_window", [(1, False), (2, False), (2, True),
                                                       (4, False)])
def test_lrn_training_path_is_the_same_function_with_the_formulas_gradient(
        groups, alpha_over_window):
    from reference import lrn_gradient
    rng = np.random.RandomState(9)
    a = rng.uniform(-60, 60, (2, 3, 3, 16)).astype("float32")
    upstream = rng.randn(*a.shape).astype("float32")
    layer = LocalResponseNormalization(groups=groups, alpha_over_window=alpha_over_window,
                                       bias=1.0 if alpha_over_window else 2.0)
    n_alpha = dict(k=layer.bias, alpha=layer.alpha / 5 if alpha_over_window else layer.alpha)
    x = tf.constant(a)
    results = {}
    for training in (True, False):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * upstream)
        results[training] = (y.numpy(), tape.gradient(loss, x).numpy())
        np.testing.assert_allclose(results[training][0], lrn(a, groups=groups, **n_alpha),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(results[training][1],
                                   lrn_gradient(a, upstream, groups=groups, **n_alpha),
                                   rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(results[True][1], results[False][1], rtol=1e-5, atol=1e-7)


def test_lrn_on_more_devices_than_groups_keeps_the_window_whole():
    a = np.random.RandomState(10).uniform(0, 40, (1, 2, 2, 8)).astype("float32")
    placed = LocalResponseNormalization(groups=1, devices=["/CPU:0", "/CPU:0"])
    for training in (False, True):
        np.testing.assert_allclose(placed(a, training=training).numpy(), lrn(a), rtol=1e-5)


@pytest.mark.parametrize("groups, beta", [(2, 0.75), (1, 0.5)])
def test_lrn_inference_forms_are_the_formula_and_builtin_lrn_emits_tflites_op(groups, beta):
    from alexnet_tf.network import lrn_ops
    a = np.random.RandomState(11).uniform(0, 50, (2, 4, 4, 16)).astype("float32")
    layer = LocalResponseNormalization(groups=groups, beta=beta)
    expected = lrn(a, groups=groups, beta=beta)
    ops = {}
    for builtin in (False, True):
        with lrn_ops.builtin_lrn() if builtin else contextlib.nullcontext():
            f = tf.function(lambda x: layer(x, training=False))
            graph = f.get_concrete_function(tf.TensorSpec(a.shape, tf.float32)).graph
            ops[builtin] = {op.type for op in graph.get_operations()}
            np.testing.assert_allclose(f(a).numpy(), expected, rtol=1e-5)
    assert "LRN" in ops[True] and "Conv2D" not in ops[True]
    assert "LRN" not in ops[False] and "Conv2D" in ops[False]
    assert not lrn_ops.use_builtin_lrn()  # the context restores the default
