"""alexnet_tf: the 2012 AlexNet (Krizhevsky, Sutskever, Hinton) in TensorFlow/Keras."""
from alexnet_tf import stop_signals as _stop_signals

if _stop_signals.running_the_command():  # before Keras loads: a SIGTERM then still exits 42
    _stop_signals.for_command()

from alexnet_tf import layers  # registers the custom layers for keras.saving.load_model
from alexnet_tf.config import Config, get_config
from alexnet_tf.layers import GroupedConv2D, LocalResponseNormalization, PartitionedDense
from alexnet_tf.model import build_alexnet, fc7_features, with_softmax

__version__ = "0.1.0"
__all__ = [
    "Config", "get_config", "GroupedConv2D", "LocalResponseNormalization", "PartitionedDense",
    "build_alexnet", "fc7_features", "with_softmax", "layers",
]
