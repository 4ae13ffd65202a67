"""PaperSGD against the update rule of §5 computed in NumPy."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from alexnet_tf import config
from alexnet_tf.network.model import build_alexnet
from alexnet_tf.training.optimizer import PaperSGD

F32 = np.float32


def numpy_paper_step(w, v, g, lr, momentum, decay):
    """§5: v <- 0.9 v - 0.0005 lr w - lr g ; w <- w + v, in float32 with Caffe's
    association: the decay joins the gradient first, v <- m v - lr (g + d w)."""
    v = F32(momentum) * v - F32(lr) * (g + F32(decay) * w)
    return w + v, v


def _variables(rng):
    kernel = keras.Variable(rng.randn(3, 4).astype("float32"), name="kernel")
    bias = keras.Variable(rng.randn(4).astype("float32"), name="bias")
    return kernel, bias


@pytest.mark.parametrize("decay_biases", [False, True])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tf_function"])
def test_three_steps_equal_the_papers_rule_in_numpy(decay_biases, compiled):
    rng = np.random.RandomState(0)
    kernel, bias = _variables(rng)
    opt = PaperSGD(learning_rate=0.01, momentum=0.9, weight_decay=0.0005,
                   decay_biases=decay_biases)
    w = {"kernel": kernel.numpy(), "bias": bias.numpy()}
    v = {"kernel": np.zeros_like(w["kernel"]), "bias": np.zeros_like(w["bias"])}
    def apply(grad_kernel, grad_bias):
        opt.apply_gradients([(grad_kernel, kernel), (grad_bias, bias)])
    if compiled:
        apply = tf.function(apply)
    for _ in range(3):
        grads = {"kernel": rng.randn(3, 4).astype("float32"),
                 "bias": rng.randn(4).astype("float32")}
        apply(tf.constant(grads["kernel"]), tf.constant(grads["bias"]))
        for name in ("kernel", "bias"):
            decay = 0.0005 if (name == "kernel" or decay_biases) else 0.0
            w[name], v[name] = numpy_paper_step(w[name], v[name], grads[name], 0.01, 0.9, decay)
    np.testing.assert_array_equal(kernel.numpy(), w["kernel"])
    np.testing.assert_array_equal(bias.numpy(), w["bias"])
    assert int(opt.iterations.numpy()) == 3


def test_decay_is_inside_the_momentum_not_decoupled():
    """With a zero gradient the weight still shrinks through v, and keeps shrinking
    afterwards through the momentum alone (decoupled decay would not carry over)."""
    kernel = keras.Variable(np.ones((2, 2), "float32"), name="kernel")
    opt = PaperSGD(learning_rate=0.1, momentum=0.9, weight_decay=0.5)
    opt.apply_gradients([(tf.zeros((2, 2)), kernel)])
    np.testing.assert_allclose(kernel.numpy(), 1 - 0.5 * 0.1, rtol=1e-7)
    np.testing.assert_allclose(opt.velocities[0].numpy(), -0.05, rtol=1e-6)
    assert opt.weight_decay is None  # Keras' decoupled decay is off


def test_on_the_model_kernels_are_decayed_and_biases_are_not():
    model = build_alexnet(config.get_config("tiny").model)
    opt = PaperSGD()
    opt.build(model.trainable_variables)
    decayed = {v.path for v, d in zip(model.trainable_variables, opt._decayed) if d}
    expected = {f"{n}/kernel" for n in ("conv1", "conv2", "conv3", "conv4", "conv5",
                                         "fc6", "fc7", "fc8")}
    assert decayed == expected


def test_learning_rate_is_assignable_and_config_round_trips():
    opt = PaperSGD.from_train_config(config.get_config("paper").train)
    assert opt.momentum == 0.9 and opt.paper_weight_decay == 0.0005
    assert np.isclose(float(opt.learning_rate.numpy()), 0.01)
    opt.learning_rate.assign(0.001)
    assert np.isclose(float(opt.learning_rate.numpy()), 0.001)
    clone = PaperSGD.from_config(opt.get_config())
    assert (clone.momentum, clone.paper_weight_decay, clone.decay_biases) == (0.9, 0.0005, False)


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="momentum"):
        PaperSGD(momentum=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        PaperSGD(weight_decay=-1.0)


def test_large_weights_take_the_same_bits_as_numpy():
    """Big enough for the vectorized, multi-threaded kernels (TF's fused training ops)."""
    rng = np.random.RandomState(3)
    kernel = keras.Variable(rng.randn(517, 1031).astype("float32"), name="kernel")
    bias = keras.Variable(rng.randn(1031).astype("float32"), name="bias")
    opt = PaperSGD(learning_rate=0.01, momentum=0.9, weight_decay=0.0005)
    apply = tf.function(lambda gk, gb: opt.apply_gradients([(gk, kernel), (gb, bias)]))
    w = {"kernel": kernel.numpy(), "bias": bias.numpy()}
    v = {k: np.zeros_like(x) for k, x in w.items()}
    for _ in range(2):
        grads = {"kernel": rng.randn(517, 1031).astype("float32"),
                 "bias": rng.randn(1031).astype("float32")}
        apply(tf.constant(grads["kernel"]), tf.constant(grads["bias"]))
        for name, decay in (("kernel", 0.0005), ("bias", 0.0)):
            w[name], v[name] = numpy_paper_step(w[name], v[name], grads[name], 0.01, 0.9, decay)
    np.testing.assert_array_equal(kernel.numpy(), w["kernel"])
    np.testing.assert_array_equal(bias.numpy(), w["bias"])
    np.testing.assert_array_equal(opt.velocities[0].numpy(), v["kernel"])
