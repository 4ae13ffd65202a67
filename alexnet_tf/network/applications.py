"""`AlexNet(...)` in the style of `keras.applications`.

    model = AlexNet()                                       # paper preset, softmax, random init
    model = AlexNet(weights="workdir/model.keras")          # a trained model, softmax on top
    model = AlexNet(weights="bvlc_alexnet.npy")             # Caffe's weights (pretrained.py)
    feats = AlexNet(weights=..., include_top=False, top="fc7")         # 4096-d fc7 vectors
    base = AlexNet(include_top=False, input_shape=(291, 291, 3), pooling="avg")  # pool5, avg

Inputs are preprocessed images (`alexnet_tf.data.preprocessing.eval_preprocess`: mean
subtracted, times the preset's `input_scale`; RGB).

`include_top=False` ends the model at `top="pool5"` (the default: the convolutional base,
any input size the strides allow, `pooling` None / "avg" / "max" as in keras.applications)
or at `top="fc7"` (the 4096-d features after ReLU, paper §6.1: needs the config's input size).
"""
from __future__ import annotations

import os

import keras

from alexnet_tf import config as config_lib
from alexnet_tf.inference import model_files
from alexnet_tf.network import pretrained
from alexnet_tf.network.model import FEATURES_NAME, LOGITS_NAME, build_alexnet

POOL5_NAME = "pool5"
_TOPS = (POOL5_NAME, FEATURES_NAME)


def AlexNet(weights=None, include_top=True, input_shape=None, pooling=None, classes=None,
            classifier_activation="softmax", top=POOL5_NAME, config="paper",
            name="alexnet"):  # noqa: N802 (the keras.applications naming)
    """An AlexNet; see the module doc.

    Args:
      weights: None (random init from `config`), or a path to a `.keras` model, a
        `.weights.h5` file of a model built from `config`, or a caffe-tensorflow
        `bvlc_alexnet.npy` (then Caffe's conventions are applied to `config`:
        `pretrained.caffe_config`).
      include_top: keep fc6-fc8 and the classifier.
      input_shape: (height, width, 3); defaults to the config's. With the top (or
        `top="fc7"`) it must be the config's size.
      pooling: with `include_top=False, top="pool5"`: None (4-D maps), "avg" or "max".
      classes: number of classes with the top; defaults to the config's (or the weights');
        a value that disagrees with the weights is an error.
      classifier_activation: "softmax" (default), None for logits, or any Keras activation.
      top: where `include_top=False` ends: "pool5" or "fc7".
      config: a preset name or `Config` (ignored for `.keras` weights, which carry theirs).
    """
    if top not in _TOPS:
        raise ValueError(f"top must be one of {_TOPS}, got {top!r}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")
    if pooling and (include_top or top != POOL5_NAME):
        raise ValueError("pooling applies only with include_top=False and top='pool5'")
    logits_model = _logits_model(weights, config, classes)
    size = logits_model.input_shape[1:]
    if include_top:
        _check_classes(logits_model, classes)
        _check_fixed_input(input_shape, size, "include_top=True")
        outputs = logits_model.output
        if classifier_activation is not None:
            outputs = keras.layers.Activation(classifier_activation, dtype="float32",
                                              name="predictions")(outputs)
        return keras.Model(logits_model.input, outputs, name=name)
    if top == FEATURES_NAME:
        _check_fixed_input(input_shape, size, "top='fc7'")
        return keras.Model(logits_model.input, logits_model.get_layer(FEATURES_NAME).output,
                           name=name)
    return _convolutional_base(logits_model, input_shape or size, pooling, name)


def _logits_model(weights, config, classes):
    if weights is None:
        cfg = _config(config)
        return build_alexnet(_with_classes(cfg, classes).model)
    path = os.fspath(weights)
    if not os.path.exists(path):
        raise FileNotFoundError(f"weights file {path} does not exist")
    if path.endswith(".keras"):
        loaded = model_files.load_keras_file(path)      # safe mode; damage: one line
        try:
            logits = loaded.get_layer(LOGITS_NAME).output
        except ValueError:
            raise ValueError(f"{path} is not an AlexNet model (no layer {LOGITS_NAME!r})") from None
        return keras.Model(loaded.input, logits, name=loaded.name)
    if path.endswith(".npy"):
        cfg = pretrained.caffe_config(_config(config))
        return pretrained.load_bvlc_alexnet(path, _with_classes(cfg, classes))
    if path.endswith(".weights.h5"):
        model = build_alexnet(_with_classes(_config(config), classes).model)
        model_files.load_weights_file(model, path)
        return model
    raise ValueError(f"weights={path!r}: expected None, a .keras, .weights.h5 or "
                     "caffe-tensorflow .npy file")


def _config(config):
    return config_lib.get_config(config) if isinstance(config, str) else config


def _with_classes(cfg, classes):
    if classes is None or classes == cfg.model.num_classes:
        return cfg
    return config_lib.override(cfg, [f"model.num_classes={int(classes)}"])


def _check_classes(model, classes):
    have = model.output_shape[-1]
    if classes is not None and classes != have:
        raise ValueError(f"classes={classes}, but the weights have {have} classes; "
                         "use include_top=False to put your own classifier on top")


def _check_fixed_input(input_shape, size, what):
    if input_shape is not None and tuple(input_shape) != tuple(size):
        raise ValueError(f"{what} needs input_shape={tuple(size)} (fc6 reads a fixed-size "
                         f"pool5), got {tuple(input_shape)}")


def _convolutional_base(logits_model, input_shape, pooling, name):
    """conv1 ... pool5 applied to a new input: same layer objects, so same weights."""
    if len(input_shape) != 3 or input_shape[-1] != logits_model.input_shape[-1]:
        raise ValueError(f"input_shape must be (height, width, "
                         f"{logits_model.input_shape[-1]}), got {tuple(input_shape)}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for layer in logits_model.layers[1:]:
        x = layer(x)
        if layer.name == POOL5_NAME:
            break
    else:
        raise ValueError(f"{logits_model.name} has no layer {POOL5_NAME!r}")
    if pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return keras.Model(inputs, x, name=name)
