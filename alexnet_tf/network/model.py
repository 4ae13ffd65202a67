"""AlexNet as in Figure 2 of the paper, built from a `ModelConfig`.

    model = build_alexnet(get_config("paper").model)   # logits, 60,965,224 parameters
    probs = with_softmax(model)                        # the 1000-way softmax (§3.5)
    feats = fc7_features(model)                        # the 4096-d vectors of §6.1

The model takes preprocessed images (mean subtracted, scaled: `alexnet_tf.data.preprocessing`)
and returns logits, which keeps the loss numerically sound; `with_softmax` gives
probabilities for serving. Layer names are the paper's (`conv1` ... `fc8`): checkpoints,
tools and tests rely on them.
"""
from __future__ import annotations

import keras

from alexnet_tf.config import ModelConfig
from alexnet_tf.network.layers import (GroupedConv2D, LocalResponseNormalization, PartitionedDense,
                               TowerMaxPooling2D)

CONV_NAMES = ("conv1", "conv2", "conv3", "conv4", "conv5")
FC_NAMES = ("fc6", "fc7")
LOGITS_NAME = "fc8"
FEATURES_NAME = "fc7"


def _kernel_initializer(cfg: ModelConfig):
    if cfg.kernel_init == "normal":
        return keras.initializers.RandomNormal(mean=0.0, stddev=cfg.kernel_init_stddev)
    if cfg.kernel_init == "he_normal":
        return keras.initializers.HeNormal()
    raise ValueError(f"unknown kernel_init {cfg.kernel_init!r}; use 'normal' or 'he_normal'")


def _bias_initializer(cfg: ModelConfig, layer_name: str):
    if layer_name in cfg.bias_one_layers:
        return keras.initializers.Constant(cfg.bias_one_value)
    return keras.initializers.Zeros()


def build_alexnet(cfg: ModelConfig, devices=None, name="alexnet") -> keras.Model:
    """The paper's network. `devices` (e.g. two GPUs) pins half of every layer's output
    channels and of fc6/fc7's neurons to each device (§3.2); weights and names do not
    change with placement.

    Fewer entries in `cfg.conv_filters` (and the other conv tuples) or `cfg.fc_units` build
    only the first conv layers or fc layers, e.g. conv1-conv3 and fc8: the small net of the
    experiments' Figure 1 (`alexnet_tf.experiments.claims.figure1_overrides`)."""
    if not 1 <= len(cfg.conv_filters) <= len(CONV_NAMES):
        raise ValueError(f"conv_filters needs 1 to {len(CONV_NAMES)} entries, got "
                         f"{cfg.conv_filters}")
    if len(cfg.fc_units) > len(FC_NAMES):
        raise ValueError(f"fc_units has at most {len(FC_NAMES)} entries, got {cfg.fc_units}")
    devices = list(devices) if devices else None
    inputs = keras.Input(shape=(cfg.image_size, cfg.image_size, cfg.channels), name="image")
    x = inputs
    for i, conv_name in enumerate(CONV_NAMES[:len(cfg.conv_filters)]):
        x = GroupedConv2D(
            filters=cfg.conv_filters[i],
            kernel_size=cfg.conv_kernel_sizes[i],
            strides=cfg.conv_strides[i],
            padding=cfg.conv_padding[i],
            groups=cfg.conv_groups[i],
            activation=cfg.activation,                            # §3.1: relu
            kernel_initializer=_kernel_initializer(cfg),
            bias_initializer=_bias_initializer(cfg, conv_name),
            devices=devices,
            name=conv_name,
        )(x)
        index = conv_name[len("conv"):]
        if conv_name in cfg.lrn_after:
            x = LocalResponseNormalization(
                depth_radius=cfg.lrn.depth_radius, bias=cfg.lrn.bias, alpha=cfg.lrn.alpha,
                beta=cfg.lrn.beta, alpha_over_window=cfg.lrn.alpha_over_window,
                groups=cfg.lrn.groups, devices=devices, name=f"norm{index}",
            )(x)
        if conv_name in cfg.pool_after:
            pool = dict(pool_size=cfg.pool_size, strides=cfg.pool_stride, name=f"pool{index}")
            x = (TowerMaxPooling2D(devices=devices, **pool) if devices
                 else keras.layers.MaxPooling2D(**pool))(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for fc_name, units in zip(FC_NAMES, cfg.fc_units):
        x = PartitionedDense(units, activation=cfg.activation, devices=devices,
                             kernel_initializer=_kernel_initializer(cfg),
                             bias_initializer=_bias_initializer(cfg, fc_name), name=fc_name)(x)
        x = keras.layers.Dropout(cfg.dropout_rate, name=f"dropout{fc_name[len('fc'):]}")(x)
    logits = keras.layers.Dense(cfg.num_classes, kernel_initializer=_kernel_initializer(cfg),
                                bias_initializer=_bias_initializer(cfg, LOGITS_NAME),
                                dtype=_float32_policy(), name=LOGITS_NAME)(x)
    return keras.Model(inputs, logits, name=name)


def _float32_policy():
    """fc8 stays float32 under mixed_float16 (float16 logits lose range); under bfloat16
    it computes in bfloat16 like fc6 and fc7, its logits cast to float32 for the softmax
    and the loss (`with_softmax`, `training.step.cross_entropy`)."""
    return "float32" if keras.config.dtype_policy().compute_dtype == "float16" else None


def with_softmax(model: keras.Model) -> keras.Model:
    """The same weights, ending in the 1000-way softmax (float32)."""
    probabilities = keras.layers.Activation("softmax", dtype="float32",
                                            name="probabilities")(model.output)
    return keras.Model(model.input, probabilities, name=f"{model.name}_softmax")


def fc7_features(model: keras.Model) -> keras.Model:
    """The 4096-d output of fc7 after ReLU (before dropout): the features of §6.1."""
    return keras.Model(model.input, model.get_layer(FEATURES_NAME).output,
                       name=f"{model.name}_fc7")
