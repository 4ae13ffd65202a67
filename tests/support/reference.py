"""Independent NumPy references for the tests: the paper's formulas, written plainly."""
import numpy as np


def lrn(a, n=5, k=2.0, alpha=1e-4, beta=0.75, groups=1, alpha_over_n=False):
    """§3.3: b_i = a_i / (k + alpha * sum_{j=max(0,i-n/2)}^{min(N-1,i+n/2)} a_j^2)^beta,
    with N the channels of one group. Caffe's across-channel LRN divides alpha by n."""
    a = np.asarray(a, np.float64)
    out = np.empty_like(a)
    size = a.shape[-1] // groups
    scale = alpha / n if alpha_over_n else alpha
    for g in range(groups):
        block = a[..., g * size:(g + 1) * size]
        for i in range(size):
            lo, hi = max(0, i - n // 2), min(size - 1, i + n // 2)
            s = (block[..., lo:hi + 1] ** 2).sum(-1)
            out[..., g * size + i] = block[..., i] / (k + scale * s) ** beta
    return out


def conv2d(x, kernel, bias, stride=1, pad=0):
    """A direct NHWC convolution (cross-correlation) with symmetric zero padding."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kh, kw, cin, cout = kernel.shape
    n, h, w, _ = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.zeros((n, oh, ow, cout))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out + bias


def grouped_conv2d(x, kernel, bias, groups, stride=1, pad=0):
    """`groups` independent convolutions on equal channel slices, outputs in order."""
    cin = x.shape[-1] // groups
    cout = kernel.shape[-1] // groups
    return np.concatenate([
        conv2d(x[..., g * cin:(g + 1) * cin], kernel[..., g * cout:(g + 1) * cout],
               bias[g * cout:(g + 1) * cout], stride, pad) for g in range(groups)], axis=-1)


def lrn_gradient(a, upstream, n=5, k=2.0, alpha=1e-4, beta=0.75, groups=1):
    """dL/da of §3.3's LRN for dL/db = `upstream`, by the chain rule written term by term:
    db_i/da_j = [i == j] d_i^-beta - 2 alpha beta a_i a_j d_i^(-beta-1) [j in window(i)]."""
    a = np.asarray(a, np.float64)
    g = np.asarray(upstream, np.float64)
    out = np.zeros_like(a)
    size = a.shape[-1] // groups
    for grp in range(groups):
        block = a[..., grp * size:(grp + 1) * size]
        gb = g[..., grp * size:(grp + 1) * size]
        d = np.empty_like(block)
        for i in range(size):
            lo, hi = max(0, i - n // 2), min(size - 1, i + n // 2)
            d[..., i] = k + alpha * (block[..., lo:hi + 1] ** 2).sum(-1)
        for j in range(size):
            total = gb[..., j] * d[..., j] ** -beta
            for i in range(max(0, j - n // 2), min(size - 1, j + n // 2) + 1):
                total = total - 2 * alpha * beta * gb[..., i] * block[..., i] * block[..., j] \
                    * d[..., i] ** (-beta - 1)
            out[..., grp * size + j] = total
    return out
