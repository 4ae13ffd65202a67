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
measurements). Both compute in the dtype of their input, float32 or bfloat16 (TF's own
LRN kernel has no bfloat16 on CPU): in bfloat16 every product and element-wise pass runs
on half the bytes; the value stays within 6 units of bfloat16 rounding (2^-9) of the
formula on the same inputs: d carries 4 roundings, d^-3/4 5, the product 6.

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


def _scaled_band(band, scale, dtype):
    """`scale * band` as a constant of `dtype`, the product taken in float32 (one rounding)."""
    return tf.constant(np.float32(scale) * np.asarray(band, np.float32), dtype=dtype)


def banded_lrn(x, band, *, bias: float, alpha: float, beta: float):
    """LRN of `x` [..., C] (float32 or bfloat16, computed in that dtype) with the window
    given by the NumPy 0/1 `band` [C, C] (symmetric)."""
    channels, dtype = band.shape[0], x.dtype
    # alpha rides on the band and k is a bias: one fused matrix product + bias
    window = _scaled_band(band, alpha, dtype)
    back_window = _scaled_band(band, -2.0 * alpha * beta, dtype)
    k = tf.constant(np.full((channels,), bias, np.float32), dtype=dtype)

    @tf.custom_gradient
    def _lrn(x):
        shape = tf.shape(x)
        flat = tf.reshape(x, [-1, channels])
        d = tf.nn.bias_add(tf.linalg.matmul(tf.square(flat), window), k)
        y = flat * _negative_power(d, beta)

        def grad(upstream):
            # Keeps only `flat` and `d` alive for the backward pass; d^-beta is recomputed
            # here (element-wise, no measurable step-time cost) instead of held, which
            # lowers the step's peak memory. t = g * d^-beta is
            # formed once and the constant -2*alpha*beta rides on the band: fewer
            # full-size temporaries alive at once.
            t = tf.reshape(upstream, tf.shape(flat)) * _negative_power(d, beta)
            back = tf.linalg.matmul(t * flat / d, back_window, transpose_b=True)
            return tf.reshape(t + flat * back, shape)

        return tf.reshape(y, shape), grad

    return _lrn(x)


def banded_lrn_inference(x, band, *, bias: float, alpha: float, beta: float):
    """The same function as `banded_lrn` for NHWC `x` (float32 or bfloat16), forward only:
    the window sum is a 1x1 convolution with alpha * band and k as its bias (one fused
    oneDNN op)."""
    channels = band.shape[0]
    kernel = _scaled_band(band, alpha, x.dtype)[None, None]
    d = tf.nn.bias_add(tf.nn.conv2d(tf.square(x), kernel, strides=1, padding="VALID"),
                       tf.constant(np.full((channels,), bias, np.float32), dtype=x.dtype))
    return x * _negative_power(d, beta)
