"""alexnet_tf: the 2012 AlexNet (Krizhevsky, Sutskever, Hinton) in TensorFlow/Keras.

    alexnet_tf.network    layers, the model, applications, Caffe weight import
    alexnet_tf.data       sources, decoding, preprocessing, statistics, the input pipeline
    alexnet_tf.training   the step, the loop, checkpoints, distribution, optimizer, logs
    alexnet_tf.inference  loading a trained model, evaluation, prediction, fc7 retrieval
    alexnet_tf.figures    Figure 3 and 4 and saliency maps
    alexnet_tf.export     SavedModel for TF Serving, TFLite (the repository's export/)
    alexnet_tf.tools      the figure, data and benchmark commands (the repository's tools/)
"""
from alexnet_tf import _imports, command

_imports.install()
command.start()  # in a command's process: its stop signals, a quiet TensorFlow import

from alexnet_tf.network import layers  # noqa: E402  (registers the layers for load_model)
from alexnet_tf.config import Config, get_config  # noqa: E402
from alexnet_tf.network.applications import AlexNet  # noqa: E402
from alexnet_tf.network.layers import (  # noqa: E402
    GroupedConv2D, LocalResponseNormalization, PartitionedDense)
from alexnet_tf.network.model import build_alexnet, fc7_features, with_softmax  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "AlexNet", "Config", "get_config", "GroupedConv2D", "LocalResponseNormalization",
    "PartitionedDense", "build_alexnet", "fc7_features", "with_softmax", "layers",
]
