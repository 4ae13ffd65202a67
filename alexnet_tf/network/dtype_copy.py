"""The same network and weights under another Keras dtype policy.

    serving = dtype_copy(model, cfg.model, "bfloat16")   # bfloat16 variables, cast once
    portable = dtype_copy(model, cfg.model, "float32")   # what model.keras holds

Variables are matched by `<layer name>/<variable name>`, so any model `build_alexnet` made
(single-device or towers, any policy) copies into any other. A "bfloat16" copy stores its
weights in bfloat16: a call reads them as they are instead of casting every float32 weight
(fc6-fc8 alone are 234 MB in float32) on each call, as a mixed policy does.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from alexnet_tf.config import ModelConfig
from alexnet_tf.network.model import build_alexnet


def named_variables(model: keras.Model) -> dict:
    """`layer/variable` -> variable for every variable of the model, incl. RNG states."""
    variables = {}
    for layer in model.layers:
        for variable in layer.variables:
            key = f"{layer.name}/{variable.name}"
            if key in variables:
                raise ValueError(f"two variables of {model.name} are both named {key!r}")
            variables[key] = variable
    return variables


def dtype_copy(model: keras.Model, model_cfg: ModelConfig, policy: str,
               name: str | None = None) -> keras.Model:
    """A model of `model_cfg` built under `policy` (no device placement) holding `model`'s
    weights, each cast once to its new variable's dtype."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        copy = build_alexnet(model_cfg, name=name or model.name)
    finally:
        keras.config.set_dtype_policy(previous)
    source = named_variables(model)
    for key, variable in named_variables(copy).items():
        variable.assign(tf.cast(source[key], variable.dtype))
    return copy
