"""bvlc_alexnet.npy import, checked against an independent NumPy forward pass in Caffe's
own layout and conventions (NCHW, (out, in/groups, h, w) kernels, (out, in) fc weights,
CxHxW flatten, BGR input, LRN over all channels with alpha/n and k=1, ceil-mode pooling),
on small random weights: no download."""
import os
import pickle

import numpy as np
import pytest
import reference

from alexnet_tf import config
from alexnet_tf.network import pretrained

# A Caffe-shaped net small enough for NumPy: 131 -> conv1 31 -> pool1 15 -> pool2 7 ->
# pool5 3x3, so fc6's row order (CxHxW vs HxWxC) matters.
SMALL = ("model.image_size=131", "model.conv_filters=8,12,16,16,10", "model.fc_units=24,20",
         "model.num_classes=7")
GROUPS = {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}
PADS = {"conv1": 0, "conv2": 2, "conv3": 1, "conv4": 1, "conv5": 1}
STRIDES = {"conv1": 4, "conv2": 1, "conv3": 1, "conv4": 1, "conv5": 1}
KERNELS = {"conv1": 11, "conv2": 5, "conv3": 3, "conv4": 3, "conv5": 3}


def small_caffe_config():
    return pretrained.caffe_config(config.override(config.get_config("paper"), SMALL))


def caffe_blobs(rng, cfg):
    """Random weights in Caffe's layout: conv (out, in/groups, h, w), fc (out, in)."""
    m = cfg.model
    blobs, channels = {}, m.channels
    for name, filters in zip(("conv1", "conv2", "conv3", "conv4", "conv5"), m.conv_filters):
        k = KERNELS[name]
        fan_in = channels // GROUPS[name] * k * k
        blobs[name] = (rng.randn(filters, channels // GROUPS[name], k, k) / np.sqrt(fan_in),
                       rng.randn(filters) * 0.1)
        channels = filters
    inputs = channels * 3 * 3
    for name, units in (("fc6", m.fc_units[0]), ("fc7", m.fc_units[1]), ("fc8", m.num_classes)):
        blobs[name] = (rng.randn(units, inputs) / np.sqrt(inputs), rng.randn(units) * 0.1)
        inputs = units
    return {k: (w.astype(np.float32), b.astype(np.float32)) for k, (w, b) in blobs.items()}


def caffe_conv(x, w, b, stride, pad, groups):
    """NCHW convolution as Caffe's Convolution layer computes it."""
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = x.shape
    out_c, in_per_group, k, _ = w.shape
    oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
    out = np.zeros((n, out_c, oh, ow))
    per_group = out_c // groups
    for o in range(out_c):
        g = o // per_group
        xs = x[:, g * in_per_group:(g + 1) * in_per_group]
        for i in range(oh):
            for j in range(ow):
                patch = xs[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
                out[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3)) + b[o]
    return out


def caffe_max_pool(x, k=3, s=2):
    """Caffe's pooling rounds the output size up."""
    n, c, h, w = x.shape
    oh, ow = -(-(h - k) // s) + 1, -(-(w - k) // s) + 1
    out = np.full((n, c, oh, ow), -np.inf)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = x[:, :, i * s:min(i * s + k, h), j * s:min(j * s + k, w)].max((2, 3))
    return out


def caffe_lrn(x):
    """ACROSS_CHANNELS LRN, local_size 5, alpha 1e-4 (divided by 5), beta 0.75, k 1."""
    nhwc = reference.lrn(x.transpose(0, 2, 3, 1), n=5, k=1.0, alpha=1e-4, beta=0.75,
                         groups=1, alpha_over_n=True)
    return nhwc.transpose(0, 3, 1, 2)


def caffe_forward(blobs, bgr_nchw):
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    x = np.asarray(bgr_nchw, np.float64)
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5"):
        x = relu(caffe_conv(x, *blobs[name], STRIDES[name], PADS[name], GROUPS[name]))
        if name in ("conv1", "conv2"):
            x = caffe_lrn(x)
        if name in ("conv1", "conv2", "conv5"):
            x = caffe_max_pool(x)
    x = x.reshape(len(x), -1)                      # Caffe flattens C x H x W
    for name in ("fc6", "fc7"):
        w, b = blobs[name]
        x = relu(x @ w.T + b)
    w, b = blobs["fc8"]
    return x @ w.T + b


def to_caffe_tensorflow(blobs, pool5_shape, as_dicts=False):
    """What caffe-tensorflow's converter writes: conv (h, w, in/groups, out); fc (in, out)
    with fc6's rows re-ordered from CxHxW to the HxWxC of an NHWC flatten."""
    c, h, w = pool5_shape
    out = {}
    for name, (kernel, bias) in blobs.items():
        if kernel.ndim == 4:
            kernel = kernel.transpose(2, 3, 1, 0)
        elif name == "fc6":
            kernel = kernel.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1)
        else:
            kernel = kernel.T
        out[name] = {"weights": kernel, "biases": bias} if as_dicts else [kernel, bias]
    return out


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    cfg = small_caffe_config()
    rng = np.random.RandomState(0)
    blobs = caffe_blobs(rng, cfg)
    bgr = rng.uniform(-100, 100, size=(2, 3, 131, 131))
    expected = caffe_forward(blobs, bgr)
    path = tmp_path_factory.mktemp("npy") / "bvlc_alexnet.npy"
    np.save(path, to_caffe_tensorflow(blobs, (10, 3, 3)), allow_pickle=True)
    return cfg, blobs, bgr, expected, path


def test_caffe_config_is_caffes_lrn():
    cfg = pretrained.caffe_config()
    lrn = cfg.model.lrn
    assert (lrn.groups, lrn.bias, lrn.alpha_over_window) == (1, 1.0, True)
    from alexnet_tf.network.layers import LocalResponseNormalization
    layer = LocalResponseNormalization(depth_radius=lrn.depth_radius, bias=lrn.bias,
                                       alpha=lrn.alpha, alpha_over_window=True)
    assert layer.effective_alpha == pytest.approx(2e-5)   # Caffe's LRN in TF terms
    assert cfg.model.num_classes == 1000 and cfg.model.image_size == 227


def test_bgr_import_computes_what_caffe_computes(case):
    cfg, _, bgr, expected, path = case
    model = pretrained.load_bvlc_alexnet(path, cfg, channel_order="bgr")
    got = model(bgr.transpose(0, 2, 3, 1).astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_rgb_import_on_rgb_images_equals_caffe_on_bgr(case):
    cfg, _, bgr, expected, path = case
    model = pretrained.load_bvlc_alexnet(path, cfg)            # channel_order="rgb"
    rgb_nhwc = bgr[:, ::-1].transpose(0, 2, 3, 1).astype(np.float32)
    got = model(rgb_nhwc, training=False).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_caffe_tensorflow_dict_of_dicts_layout_loads(case, tmp_path):
    cfg, blobs, bgr, expected, _ = case
    path = tmp_path / "dicts.npy"
    np.save(path, to_caffe_tensorflow(blobs, (10, 3, 3), as_dicts=True), allow_pickle=True)
    model = pretrained.load_bvlc_alexnet(path, cfg, channel_order="bgr")
    got = model(bgr.transpose(0, 2, 3, 1).astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_applications_alexnet_takes_the_npy(case):
    from alexnet_tf.network.applications import AlexNet
    cfg, _, bgr, expected, path = case
    model = AlexNet(weights=str(path), config=cfg, classes=7, classifier_activation=None)
    got = model(bgr[:, ::-1].transpose(0, 2, 3, 1).astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo owned > /dev/null",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.npy"
    np.save(path, np.array({"conv1": _RunsCode()}, dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="refusing to load"):
        pretrained.read_caffe_tensorflow_npy(path)


def test_wrong_shapes_name_the_layer(case):
    _, _, _, _, path = case
    paper = pretrained.caffe_config()
    with pytest.raises(ValueError, match="layer 'conv1' has kernel"):
        pretrained.load_bvlc_alexnet(path, paper)


def test_missing_file_and_plain_array_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no weights file"):
        pretrained.read_caffe_tensorflow_npy(tmp_path / "absent.npy")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not the caffe-tensorflow dict"):
        pretrained.read_caffe_tensorflow_npy(tmp_path / "plain.npy")
    with open(tmp_path / "pickle.npy", "wb") as f:
        pickle.dump({"a": 1}, f)
    with pytest.raises(ValueError):
        pretrained.read_caffe_tensorflow_npy(tmp_path / "pickle.npy")
