"""The compiled training step's guard against non-finite gradients with a finite loss."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from alexnet_tf.training import metrics
from alexnet_tf.training.distribute import Distribution
from alexnet_tf.training.optimizer import PaperSGD
from alexnet_tf.training.step import TrainStep


class PoisonedGradient(keras.layers.Layer):
    """Identity forward; its backward pass multiplies by `factor` (NaN or inf poisons it)."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        @tf.custom_gradient
        def identity(x):
            return tf.identity(x), lambda g: g * self.factor
        return identity(x)


def _train_step(model):
    return TrainStep(model, PaperSGD(learning_rate=0.01),
                     Distribution("single", tf.distribute.get_strategy()),
                     global_batch_size=8, totals=metrics.RunningTotals(),
                     global_step=tf.Variable(0, dtype=tf.int64),
                     step_in_epoch=tf.Variable(0, dtype=tf.int64),
                     skipped_files=tf.Variable(0, dtype=tf.int64))


def _step(factor):
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, name="poisoned")(inputs)
    outputs = keras.layers.Dense(6)(PoisonedGradient(factor)(hidden))
    model = keras.Model(inputs, outputs)
    step = _train_step(model)
    rng = np.random.RandomState(0)
    data = tf.data.Dataset.from_tensors((rng.normal(size=(8, 4)).astype("float32"),
                                         rng.randint(0, 6, 8).astype("int32"))).repeat()
    nonfinite, ran = step.run(iter(data), tf.constant(1))
    assert int(ran) == 1
    nonfinite = nonfinite.numpy()
    loss = step.totals.totals["loss"].numpy()
    return nonfinite, loss, model.get_layer("poisoned").kernel.numpy()


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_a_non_finite_gradient_under_a_finite_loss_is_caught(poison):
    nonfinite, loss, kernel = _step(poison)
    assert np.isfinite(loss)               # the loss alone would not have told
    assert not np.all(np.isfinite(kernel))  # the update spread the poison to the weights
    assert nonfinite == 1.0


def test_a_finite_step_is_not_flagged():
    nonfinite, loss, kernel = _step(1.0)
    assert np.isfinite(loss) and np.all(np.isfinite(kernel))
    assert nonfinite == 0.0


def test_a_call_stops_where_the_data_ends_and_says_how_many_steps_it_ran():
    """3 batches (running skipped-file counts 1, 1, 4) asked for 5 steps: 3 run, then a
    call on the spent iterator runs none; nothing reads past the end."""
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(6)(inputs))
    step = _train_step(model)
    rng = np.random.RandomState(0)
    data = tf.data.Dataset.from_tensor_slices((
        rng.normal(size=(3, 8, 4)).astype("float32"), rng.randint(0, 6, (3, 8)).astype("int32"),
        np.array([1, 1, 4], np.int64)))
    iterator = iter(data)
    nonfinite, ran = step.run(iterator, tf.constant(5, tf.int64))
    assert (int(ran), float(nonfinite)) == (3, 0.0)
    assert (int(step.global_step.numpy()), int(step.step_in_epoch.numpy())) == (3, 3)
    assert int(step.skipped_files.numpy()) == 4
    assert step.totals.result()["images"] == 24
    nonfinite, ran = step.run(iterator, tf.constant(5, tf.int64))
    assert int(ran) == 0 and int(step.global_step.numpy()) == 3
