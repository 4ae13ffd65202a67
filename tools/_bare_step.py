"""The package's model, `PaperSGD` and loss in one compiled training step, without the
training command around it: what `tools.benchmark` times and `tools.profile_step` profiles."""
from __future__ import annotations


def compiled_train_step(model, optimizer):
    """`step(images, labels)` -> mean loss, one SGD step per call, in a `tf.function`."""
    import tensorflow as tf
    from alexnet_tf.training.step import cross_entropy

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(cross_entropy(labels, model(images, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step
