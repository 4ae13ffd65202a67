"""A tiny in-memory dataset the training tests run on instead of the input pipeline."""
import numpy as np
import tensorflow as tf

from alexnet_tf import config


class RandomImages:
    """64 fixed random training images (4 steps of 16) and 16 validation images, in the
    interface `training.inputs` gives the loop."""
    num_classes, class_names = 10, [str(i) for i in range(10)]
    train_examples, validation_examples = 64, 16

    def __init__(self, size=67):
        rng = np.random.RandomState(0)
        self.x = rng.uniform(-1, 1, (80, size, size, 3)).astype("float32")
        self.y = rng.randint(0, 10, 80).astype("int32")

    def train(self, *, seed, epoch, batch_size, shard=None):
        data = tf.data.Dataset.from_tensor_slices((self.x[:64], self.y[:64]))
        return data.shuffle(64, seed=seed * 1000 + epoch).batch(batch_size, drop_remainder=True)

    def validation(self, *, batch_size, ten_crop=False):
        return tf.data.Dataset.from_tensor_slices((self.x[64:], self.y[64:])).batch(batch_size)

    def statistics(self):
        return None


def tiny(*overrides):
    """The tiny preset at batch 16 (4 steps an epoch of RandomImages), with overrides."""
    return config.override(config.get_config("tiny"), ["train.batch_size=16", *overrides])
