"""Local response normalization as a product over channels, for training and inference.

`tf.nn.local_response_normalization` and especially its gradient kernel
are slow on CPU, and LRN is a large share of a training step (docs/design.md, "Local
response normalization"). The window sum of
§3.3 is a product with a 0/1 band matrix over channels,
    d = k + alpha * (a^2 @ B),  b = a * d^-beta,
and the gradient has the closed form
    dL/da = g * d^-beta - 2 * alpha * beta * a * ((g * b / d) @ B^T),
so both passes are one small matrix product plus element-wise work: faster than the TF
kernels on CPU, equal to them within float32 rounding (docs/performance.md has the
measurements).

Inference (`banded_lrn_inference`) writes the window sum as a 1x1 convolution with the
band (alpha folded in) and k as its fused bias, which is faster than the TF op on CPU.
TFLite has a builtin LRN, so its export traces the model inside
`builtin_lrn()`, which makes the layer emit `tf.nn.local_response_normalization`.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np
import tensorflow as tf

_state = threading.local()


@contextlib.contextmanager
def builtin_lrn():
    """Within: LRN layers trace to `tf.nn.local_response_normalization` (TFLite's LRN op)."""
    previous = getattr(_state, "builtin", False)
    _state.builtin = True
    try:
        yield
    finally:
        _state.builtin = previous


def use_builtin_lrn() -> bool:
    return getattr(_state, "builtin", False)


def band_matrix(channels: int, depth_radius: int, groups: int = 1) -> np.ndarray:
    """B[i, j] = 1 where channels i and j are within `depth_radius` in the same group."""
    if channels % groups:
        raise ValueError(f"{channels} channels are not divisible by groups={groups}")
    size = channels // groups
    index = np.arange(size)
    band = (np.abs(index[:, None] - index[None, :]) <= depth_radius).astype(np.float32)
    return np.kron(np.eye(groups, dtype=np.float32), band)


def _negative_power(d, beta):
    if beta == 0.75:  # d^-3/4 = rsqrt(d * sqrt(d)): three passes, and pow is far slower
        return tf.math.rsqrt(d * tf.sqrt(d))
    return tf.pow(d, -beta)


def banded_lrn(x, band, *, bias: float, alpha: float, beta: float):
    """LRN of float32 `x` [..., C] with the window given by `band` [C, C] (symmetric)."""
    band = tf.constant(band) if isinstance(band, np.ndarray) else band

    @tf.custom_gradient
    def _lrn(x):
        shape = tf.shape(x)
        flat = tf.reshape(x, [-1, band.shape[0]])
        # alpha rides on the band and k is a bias: one fused matrix product + bias
        d = tf.nn.bias_add(tf.linalg.matmul(tf.square(flat), band * alpha),
                           tf.fill([band.shape[0]], tf.constant(bias, tf.float32)))
        y = flat * _negative_power(d, beta)

        def grad(upstream):
            # Keeps only `flat` and `d` alive for the backward pass; d^-beta is recomputed
            # here (element-wise, no measurable step-time cost) instead of held, which
            # lowers the step's peak memory. t = g * d^-beta is
            # formed once and the constant -2*alpha*beta rides on the band: fewer
            # full-size temporaries alive at once.
            t = tf.reshape(upstream, tf.shape(flat)) * _negative_power(d, beta)
            back = tf.linalg.matmul(t * flat / d, band * (-2.0 * alpha * beta),
                                    transpose_b=True)
            return tf.reshape(t + flat * back, shape)

        return tf.reshape(y, shape), grad

    return _lrn(x)


def banded_lrn_inference(x, band, *, bias: float, alpha: float, beta: float):
    """The same function as `banded_lrn` for NHWC float32 `x`, forward only: the window
    sum is a 1x1 convolution with alpha * band and k as its bias (one fused oneDNN op)."""
    channels = band.shape[0]
    kernel = tf.constant((np.float32(alpha) * np.asarray(band, np.float32))[None, None])
    d = tf.nn.bias_add(tf.nn.conv2d(tf.square(x), kernel, strides=1, padding="VALID"),
                       tf.constant(np.full((channels,), bias, np.float32)))
    return x * _negative_power(d, beta)
