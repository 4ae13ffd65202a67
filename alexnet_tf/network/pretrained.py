"""Import of `bvlc_alexnet.npy`, the caffe-tensorflow conversion of Caffe's bvlc_alexnet.

    model = pretrained.load_bvlc_alexnet("bvlc_alexnet.npy")   # logits, RGB input
    stats = statistics.DatasetStatistics.per_channel(pretrained.CAFFE_MEAN_RGB, size=256)

The file is a pickled dict from layer name to `[kernel, bias]` (or, as caffe-tensorflow's
own `Network.load` writes it, to `{"weights": kernel, "biases": bias}`). Its converter
transposed conv kernels from Caffe's (out, in/groups, h, w) to (h, w, in/groups, out) —
`GroupedConv2D`'s layout — and re-ordered fc6's rows from Caffe's CxHxW flatten of pool5 to
the HxWxC order of an NHWC flatten, so every array loads unchanged (docs/design.md, "Pretrained
weights in the wild").

The net those weights come from follows Caffe's conventions, which `caffe_config` sets as
config overrides: LRN across all channels (`groups=1`), alpha divided by the window
(`alpha_over_window=True`) and k = 1. Caffe also takes BGR input: with the default
`channel_order="rgb"` conv1's input channels are reversed on import, so the model takes
RGB images like every other model of this package and computes exactly what Caffe computes
on the same image in BGR; `channel_order="bgr"` keeps Caffe's kernel as it is.

`.npy` dicts are pickles, which can run code when loaded with `np.load(allow_pickle=True)`;
they are read here with an unpickler that accepts NumPy arrays, dicts and lists only.
"""
from __future__ import annotations

import pickle

import keras
import numpy as np

from alexnet_tf import config as config_lib
from alexnet_tf.network.model import CONV_NAMES, FC_NAMES, LOGITS_NAME, build_alexnet

LAYER_NAMES = CONV_NAMES + FC_NAMES + (LOGITS_NAME,)
# Caffe's per-channel ImageNet mean (models/bvlc_alexnet, ilsvrc_2012_mean averaged over
# the image: B 104, G 117, R 123), here in RGB order for `DatasetStatistics.per_channel`.
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
CAFFE_OVERRIDES = (
    "model.lrn.groups=1",               # one GPU: the window spans all channels
    "model.lrn.alpha_over_window=True",  # Caffe's LRN divides alpha by local_size
    "model.lrn.bias=1.0",               # Caffe's default k
    "data.mean=channel",
)

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
    ("__builtin__", "object"), ("builtins", "object"),
}


def caffe_config(base: config_lib.Config | str = "paper") -> config_lib.Config:
    """`base` (a preset name or Config) with Caffe's conventions for bvlc_alexnet."""
    cfg = config_lib.get_config(base) if isinstance(base, str) else base
    return config_lib.override(cfg, CAFFE_OVERRIDES)


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a weights file holds only arrays")
        return super().find_class(module, name)


def read_caffe_tensorflow_npy(path) -> dict:
    """{layer name: (kernel, bias)} from a caffe-tensorflow `.npy`, without running code."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)(f)
            if header[2] != np.dtype(object):
                raise ValueError(f"{path} holds a plain {header[2]} array, not the "
                                 "caffe-tensorflow dict of layer weights")
            # Python 2 pickles (the widely shared file) need latin1 for their byte strings.
            content = _ArraysOnlyUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise FileNotFoundError(f"no weights file at {path}") from None
    except (pickle.UnpicklingError, EOFError) as e:
        raise ValueError(f"{path} is not a readable caffe-tensorflow weights file: {e}") from None
    layers = content.item() if isinstance(content, np.ndarray) else content
    if not isinstance(layers, dict):
        raise ValueError(f"{path} does not hold a dict of layer weights")
    return {name: _kernel_and_bias(path, name, params) for name, params in layers.items()}


def _kernel_and_bias(path, name, params):
    if isinstance(params, dict):
        if set(params) != {"weights", "biases"}:
            raise ValueError(f"{path}: layer {name!r} has keys {sorted(params)}, "
                             "expected 'weights' and 'biases'")
        params = [params["weights"], params["biases"]]
    if len(params) != 2:
        raise ValueError(f"{path}: layer {name!r} holds {len(params)} arrays, expected 2")
    return np.asarray(params[0], np.float32), np.asarray(params[1], np.float32)


def set_caffe_tensorflow_weights(model: keras.Model, weights: dict, channel_order="rgb",
                                 source="weights"):
    """Copies {layer: (kernel, bias)} into an AlexNet built with `caffe_config`."""
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    missing = [name for name in LAYER_NAMES if name not in weights]
    if missing:
        raise ValueError(f"{source} has no weights for layers {missing} "
                         f"(it has {sorted(weights)})")
    for name in LAYER_NAMES:
        layer = model.get_layer(name)
        kernel, bias = weights[name]
        if name == CONV_NAMES[0] and channel_order == "rgb":
            kernel = kernel[:, :, ::-1, :]          # Caffe's conv1 reads B, G, R
        expected = [tuple(w.shape) for w in layer.weights]
        if [kernel.shape, bias.shape] != expected:
            raise ValueError(
                f"{source}: layer {name!r} has kernel {kernel.shape} and bias {bias.shape}, "
                f"but the model config expects {expected[0]} and {expected[1]}; "
                "pass the config the weights were trained with")
        layer.set_weights([kernel, bias])
    return model


def load_bvlc_alexnet(path, cfg: config_lib.Config | None = None,
                      channel_order="rgb") -> keras.Model:
    """The bvlc_alexnet logits model from a caffe-tensorflow `.npy` (see the module doc)."""
    cfg = cfg or caffe_config()
    model = build_alexnet(cfg.model, name="bvlc_alexnet")
    return set_caffe_tensorflow_weights(model, read_caffe_tensorflow_npy(path),
                                        channel_order=channel_order, source=str(path))
