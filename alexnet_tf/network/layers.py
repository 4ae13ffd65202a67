"""The custom Keras layers of AlexNet: grouped convolution, LRN, device-split dense.

Each layer can pin parts of its work to devices (`devices=[...]`): this is how the
paper's two-GPU model parallelism (§3.2) is expressed without changing a layer's
weights, so a checkpoint moves unchanged between single-device and tower models.
"""
from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

from alexnet_tf.network import lrn_ops
from alexnet_tf.config import LRNConfig

_LRN = LRNConfig()


def _device_scope(devices, index, parts):
    """The scope for part `index` of `parts` when work is split over `devices`."""
    if not devices:
        return contextlib.nullcontext()
    return tf.device(devices[index * len(devices) // parts])


def _check_devices(devices, size, what):
    if devices is None:
        return None
    devices = list(devices)
    if not devices or size % len(devices):
        raise ValueError(f"{what}={size} cannot be split evenly over devices {devices}")
    return devices


@keras.saving.register_keras_serializable(package="alexnet_tf")
class GroupedConv2D(keras.layers.Layer):
    """`groups` independent convolutions over equal channel slices, concatenated in order.

    Written as split -> one convolution per group -> concat, never through Keras'
    `Conv2D(groups=...)`, which forces XLA on TensorFlow: many times slower on CPU, and
    unservable under TF Serving's default flags (docs/design.md, "Grouped convolution").
    The kernel has the layout of `Conv2D(groups=g)`: (kh, kw, in_channels / groups,
    filters), output channels grouped in order, so weights move between the two unchanged.

    With `devices`, the output channels are cut into `max(groups, len(devices))` equal
    chunks; each chunk reads only its own input group and runs on its device
    (the paper's two GPUs, §3.2).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, devices=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.padding = padding.lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        self.groups = int(groups)
        if self.groups < 1 or self.filters % self.groups:
            raise ValueError(f"filters={filters} is not divisible by groups={groups}")
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.devices = _check_devices(devices, self.filters, "filters")
        if self.devices and max(self.groups, len(self.devices)) % min(self.groups, len(self.devices)):
            raise ValueError(f"groups={groups} and {len(self.devices)} devices do not nest")
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        if in_channels is None or in_channels % self.groups:
            raise ValueError(f"{self.name}: input channels {in_channels} are not divisible by "
                             f"groups={self.groups}")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, in_channels // self.groups, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                        initializer=self.bias_initializer)
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: in_channels})

    def call(self, inputs):
        kernel = tf.cast(self.kernel, self.compute_dtype)
        bias = tf.cast(self.bias, self.compute_dtype) if self.use_bias else None
        chunks = max(self.groups, len(self.devices or ()))
        group_inputs = tf.split(inputs, self.groups, axis=-1) if self.groups > 1 else [inputs]
        kernels = tf.split(kernel, chunks, axis=-1) if chunks > 1 else [kernel]
        biases = tf.split(bias, chunks) if (chunks > 1 and bias is not None) else [bias]
        if chunks > 1 and not self.devices:
            y = tf.concat([tf.nn.conv2d(group_inputs[c], kernels[c], strides=self.strides,
                                        padding=self.padding.upper()) for c in range(chunks)],
                          axis=-1)
            if bias is not None:
                y = tf.nn.bias_add(y, bias)
            return self.activation(y)
        outputs = []
        for c in range(chunks):
            with _device_scope(self.devices, c, chunks):
                y = tf.nn.conv2d(group_inputs[c * self.groups // chunks], kernels[c],
                                 strides=self.strides, padding=self.padding.upper())
                if bias is not None:
                    y = tf.nn.bias_add(y, biases[c])
                outputs.append(self.activation(y))
        return outputs[0] if chunks == 1 else tf.concat(outputs, axis=-1)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (batch, _conv_length(height, self.kernel_size[0], self.strides[0], self.padding),
                _conv_length(width, self.kernel_size[1], self.strides[1], self.padding),
                self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            groups=self.groups,
            activation=keras.activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
            devices=self.devices,
        )
        return config


@keras.saving.register_keras_serializable(package="alexnet_tf")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels, §3.3.

    b_i = a_i / (bias + alpha' * sum_{j=i-r}^{i+r} a_j^2)^beta, the window clipped at the
    edges of each channel group; alpha' = alpha, or alpha / (2r + 1) with
    `alpha_over_window=True` (Caffe: bias=1; cuda-convnet: bias=2). With `groups=2` the
    window never crosses the boundary between the two halves, as on the paper's two GPUs.
    Computed in bfloat16 under a bfloat16 policy, else in float32 (float16 loses range;
    TFLite's builtin, below, is float32 only). Training uses `lrn_ops.banded_lrn` (the
    same function, a faster gradient), inference `lrn_ops.banded_lrn_inference` (a fused
    1x1 convolution); inside `lrn_ops.builtin_lrn()` (the TFLite export)
    `tf.nn.local_response_normalization`.
    """

    def __init__(self, depth_radius=_LRN.depth_radius, bias=_LRN.bias, alpha=_LRN.alpha,
                 beta=_LRN.beta, alpha_over_window=_LRN.alpha_over_window, groups=1,
                 devices=None, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.alpha_over_window = bool(alpha_over_window)
        self.groups = int(groups)
        if self.groups < 1:
            raise ValueError(f"groups must be >= 1, got {groups}")
        self.devices = list(devices) if devices else None

    @property
    def effective_alpha(self):
        """The alpha of `tf.nn.local_response_normalization`, which never divides by n."""
        if self.alpha_over_window:
            return self.alpha / (2 * self.depth_radius + 1)
        return self.alpha

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.groups:
            raise ValueError(f"{self.name}: {channels} channels are not divisible by "
                             f"groups={self.groups}")
        self._bands = {}

    def _pieces(self):
        """How the channels are cut: one piece per group, placed on its device. With more
        devices than groups a cut would change the function: one piece, no placement."""
        devices = self.devices
        if devices and self.groups % len(devices):
            devices = None
        return self.groups, devices

    def _band(self, channels, groups=1):
        key = (channels, groups)
        if key not in self._bands:  # NumPy: a tensor would be tied to one graph
            self._bands[key] = lrn_ops.band_matrix(channels, self.depth_radius, groups)
        return self._bands[key]

    def call(self, inputs, training=None):
        builtin = lrn_ops.use_builtin_lrn() and not training
        x = tf.cast(inputs, tf.bfloat16 if self.compute_dtype == "bfloat16" and not builtin
                    else tf.float32)
        parts, devices = self._pieces()
        if not devices and not builtin:
            # One product with a block-diagonal band: the same windows as one piece per
            # group, without split and concat copies (in training, kept for the backward).
            y = self._banded(x, self._band(x.shape[-1], parts), training)
            return tf.cast(y, self.compute_dtype)
        pieces = tf.split(x, parts, axis=-1) if parts > 1 else [x]
        outputs = []
        for p, piece in enumerate(pieces):
            with _device_scope(devices, p, parts):
                if builtin:  # TFLite's builtin LRN (`lrn_ops.builtin_lrn`)
                    outputs.append(tf.nn.local_response_normalization(
                        piece, depth_radius=self.depth_radius, bias=self.bias,
                        alpha=self.effective_alpha, beta=self.beta))
                else:
                    outputs.append(self._banded(piece, self._band(piece.shape[-1]), training))
        y = outputs[0] if parts == 1 else tf.concat(outputs, axis=-1)
        return tf.cast(y, self.compute_dtype)

    def _banded(self, x, band, training):
        """Training: the closed-form gradient (`lrn_ops.banded_lrn`); inference: the
        window sum as one fused 1x1 convolution (`lrn_ops.banded_lrn_inference`)."""
        lrn = lrn_ops.banded_lrn if training else lrn_ops.banded_lrn_inference
        return lrn(x, band, bias=self.bias, alpha=self.effective_alpha, beta=self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha,
                      beta=self.beta, alpha_over_window=self.alpha_over_window,
                      groups=self.groups, devices=self.devices)
        return config


@tf.custom_gradient
def _training_product(x, kernel):
    """x @ kernel for training: forward and dL/dx through `BatchMatMulV2`, which oneDNN runs
    as its brgemm matmul, faster than the sgemm `MatMul` goes to at training batch sizes.
    Inference keeps `MatMul` (Dense's own call), the faster of the two at batch 1
    (docs/performance.md has the measurements)."""
    def grad(upstream):
        return (tf.raw_ops.BatchMatMulV2(x=upstream, y=kernel, adj_y=True),
                tf.linalg.matmul(x, upstream, transpose_a=True))
    return tf.raw_ops.BatchMatMulV2(x=x, y=kernel), grad


@keras.saving.register_keras_serializable(package="alexnet_tf")
class PartitionedDense(keras.layers.Dense):
    """`keras.layers.Dense` whose output units can be split over devices (§3.2: half of
    fc6's and fc7's neurons on each GPU, each reading the whole input). The weights are
    exactly a Dense layer's, so checkpoints move between placements unchanged."""

    def __init__(self, units, devices=None, **kwargs):
        super().__init__(units, **kwargs)
        self.devices = _check_devices(devices, self.units, "units")

    def call(self, inputs, training=None):
        if not self.devices:
            if not training:
                return super().call(inputs, training=training)
            y = _training_product(inputs, tf.cast(self.kernel, self.compute_dtype))
            if self.use_bias:
                y = tf.nn.bias_add(y, tf.cast(self.bias, self.compute_dtype))
            return self.activation(y)
        kernel = tf.cast(self.kernel, self.compute_dtype)
        parts = len(self.devices)
        kernels = tf.split(kernel, parts, axis=-1)
        biases = tf.split(tf.cast(self.bias, self.compute_dtype), parts) if self.use_bias else None
        outputs = []
        for p in range(parts):
            with _device_scope(self.devices, p, parts):
                y = tf.matmul(inputs, kernels[p])
                if biases is not None:
                    y = tf.nn.bias_add(y, biases[p])
                outputs.append(self.activation(y))
        return tf.concat(outputs, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(devices=self.devices)
        return config


@keras.saving.register_keras_serializable(package="alexnet_tf")
class TowerMaxPooling2D(keras.layers.MaxPooling2D):
    """`keras.layers.MaxPooling2D` that pools each device's channel slice on that device,
    so a towers model's activations stay on their tower (§3.2). No weights; the same
    result as MaxPooling2D."""

    def __init__(self, pool_size=2, strides=None, devices=None, **kwargs):
        super().__init__(pool_size=pool_size, strides=strides, **kwargs)
        self.devices = list(devices) if devices else None

    def call(self, inputs):
        if not self.devices:
            return super().call(inputs)
        parts = len(self.devices)
        outputs = []
        for p, piece in enumerate(tf.split(inputs, parts, axis=-1)):
            with _device_scope(self.devices, p, parts):
                outputs.append(super().call(piece))
        return tf.concat(outputs, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(devices=self.devices)
        return config


def _pair(value):
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"expected an int or a pair, got {value}")
    return value


def _conv_length(length, kernel, stride, padding):
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    return (length - kernel) // stride + 1
