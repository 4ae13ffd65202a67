"""The paper's SGD (§5): momentum with the weight decay inside the momentum.

    v <- momentum * v - weight_decay * lr * w - lr * g
    w <- w + v

This is an L2 term added to the gradient before the momentum, not Keras' decoupled
`weight_decay` (which shrinks w after the step and never enters v). In float32 it is
computed as Caffe computes it, the decay joining the gradient first:
v <- momentum * v - lr * (g + weight_decay * w), then TF's fused momentum kernel
(`ResourceApplyKerasMomentum`) updates v and w in one pass over them: the same bits as
that formula in NumPy (no fused multiply-add in TF's element-wise kernels), and faster
than four separate in-place passes.

Which variables are decayed (a decision; §5 says "weight decay" without naming them):
the kernels of conv1-conv5 and fc6-fc8, not the biases. cuda-convnet's layer files for
this network set the decay (`wc`) on weights only, and Caffe's bvlc_alexnet uses
`decay_mult: 0` for every bias. `decay_biases=True` decays every trainable variable.

    opt = PaperSGD.from_train_config(get_config("paper").train)
"""
from __future__ import annotations

import keras
import tensorflow as tf

from alexnet_tf.config import TrainConfig

DECAYED_VARIABLE_NAME = "kernel"


def _tf_variable(variable):
    """The TensorFlow variable under a Keras one (as Keras' own `assign` unwraps it)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


@keras.saving.register_keras_serializable(package="alexnet_tf")
class PaperSGD(keras.optimizers.Optimizer):
    """SGD with momentum and the weight decay inside the momentum (§5).

    `learning_rate` is a variable (`optimizer.learning_rate.assign(...)`): the plateau
    schedule divides it by 10 between epochs.
    """

    def __init__(self, learning_rate=TrainConfig.learning_rate, momentum=TrainConfig.momentum,
                 weight_decay=TrainConfig.weight_decay, decay_biases=False, name="paper_sgd",
                 **kwargs):
        kwargs.pop("weight_decay", None)
        # Keras' own `weight_decay` (decoupled) stays None: ours is inside the momentum.
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.momentum = float(momentum)
        self.paper_weight_decay = float(weight_decay)
        self.decay_biases = bool(decay_biases)

    @classmethod
    def from_train_config(cls, train: TrainConfig, **kwargs) -> "PaperSGD":
        return cls(learning_rate=train.learning_rate, momentum=train.momentum,
                   weight_decay=train.weight_decay, **kwargs)

    def is_decayed(self, variable) -> bool:
        """True for the variables the weight decay applies to (kernels, or all)."""
        return self.decay_biases or variable.name.split(":")[0] == DECAYED_VARIABLE_NAME

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.velocities = [self.add_variable_from_reference(v, name="velocity")
                           for v in variables]
        self._decayed = [self.is_decayed(v) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        velocity = self.velocities[index]
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        g = tf.cast(tf.convert_to_tensor(gradient), dtype)
        if self._decayed[index] and self.paper_weight_decay:
            # w is read only once g exists: otherwise d * w can be formed at the start of
            # the step and held through the forward and backward passes (more peak memory)
            with tf.control_dependencies([g]):
                g = g + tf.cast(self.paper_weight_decay, dtype) * variable
        # One pass over w, v and g in TF's fused kernel: v <- v * m - g * lr; w <- w + v
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=_tf_variable(variable).handle, accum=_tf_variable(velocity).handle,
            lr=lr, grad=g, momentum=tf.cast(self.momentum, dtype), use_nesterov=False)

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, weight_decay=self.paper_weight_decay,
                      decay_biases=self.decay_biases)
        return config
