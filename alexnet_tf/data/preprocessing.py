"""The paper's preprocessing and augmentation as pure TensorFlow functions (§2, §4.1).

Every function gives the same result eagerly and inside `tf.data`; the random ones
take an explicit stateless seed (a [2] integer tensor), so a training input is a
pure function of its seed: reproducible, different when the seed differs, and
safe to checkpoint (docs/design.md, "Training state and resume").

- §2: shorter side -> R (`cfg.data.resize_size`, 256), central R x R crop; subtract
  the training set's mean image (or per-channel mean, `cfg.data.mean`).
- §4.1 training: a random S x S patch (S = `cfg.model.image_size`, 227: 30 x 30
  positions in 256; the centre one with `cfg.data.random_crop=False`) and its horizontal
  reflection; PCA colour noise
  sum_i alpha_i lambda_i p_i with alpha_i ~ N(0, `cfg.data.pca_stddev`) per image.
- §4.1 evaluation: the centre patch (`eval_preprocess`, also what serving and
  predict call) or the multi-crop view (`ten_crop_preprocess`): the ten patches
  (`ten_crop`: four corners and centre, then their reflections) where training
  reflects (`cfg.data.random_flip`), else those five without reflections
  (`five_crop`): a model that never saw a mirrored image is not asked about one.

Pixels stay on the 0-255 scale until the very end, where `cfg.data.input_scale`
multiplies the mean-subtracted (and colour-shifted) image: the statistics and the
PCA noise are therefore always in 0-255 units.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from alexnet_tf.data import decoding as image_decoding
def _square_to(square, size):
    """Resizes a square image to size x size, keeping uint8.

    Bilinear while the image shrinks by less than 2x (or grows); for larger reductions
    area averaging, which does not alias. TensorFlow's antialiased bilinear would do
    both but costs more than decoding a photo-sized JPEG.
    """
    def resize():
        side = tf.shape(square)[0]
        resized = tf.cond(
            side >= 2 * size,
            lambda: tf.image.resize(square, [size, size], method="area"),
            lambda: tf.image.resize(square, [size, size], method="bilinear"))
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), square.dtype)

    out = tf.cond(tf.equal(tf.shape(square)[0], size), lambda: square, resize)
    out.set_shape([size, size, 3])
    return out


def center_square(image):
    """The central min(H, W) x min(H, W) square of an [H, W, C] image."""
    shape = tf.shape(image)
    window = image_decoding.center_square_window(shape[0], shape[1])
    return image[window[0]:window[0] + window[2], window[1]:window[1] + window[3]]


def resize_and_center_crop(image, size):
    """§2: shorter side -> size, central size x size crop. uint8 in, uint8 out.

    Cropping the central square first and resizing it keeps the pixels exactly
    square (no rounding of the longer side), and lets JPEGs decode only that square
    (`image_decoding.decode_center_square`) with the same result.
    """
    image = tf.convert_to_tensor(image)
    return _square_to(center_square(image), size)


def center_crop(image, crop_size):
    shape = tf.shape(image)
    top, left = (shape[0] - crop_size) // 2, (shape[1] - crop_size) // 2
    out = image[top:top + crop_size, left:left + crop_size]
    out.set_shape([crop_size, crop_size, image.shape[-1]])
    return out


def five_crop(image, crop_size):
    """[5, S, S, C]: top-left, top-right, bottom-left, bottom-right, centre patches."""
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    corners = [(0, 0), (0, w - crop_size), (h - crop_size, 0), (h - crop_size, w - crop_size),
               ((h - crop_size) // 2, (w - crop_size) // 2)]
    crops = tf.stack([image[t:t + crop_size, l:l + crop_size] for t, l in corners])
    crops.set_shape([5, crop_size, crop_size, image.shape[-1]])
    return crops


def ten_crop(image, crop_size):
    """§4.1: [10, S, S, C] = `five_crop`, then the same five mirrored, in the same order."""
    crops = five_crop(image, crop_size)
    crops = tf.concat([crops, tf.reverse(crops, axis=[2])], axis=0)
    crops.set_shape([10, crop_size, crop_size, image.shape[-1]])
    return crops


def multi_crop_count(cfg) -> int:
    """Patches of the multi-crop view: 10 where training reflects, else 5."""
    return 10 if cfg.data.random_flip else 5


def multi_crop_view(cfg) -> str:
    """What the multi-crop view is, in words, for reports."""
    if cfg.data.random_flip:
        return "10 crops (corners + centre and their reflections, §4.1)"
    return "5 crops (corners + centre; no reflections: this config trains without flips)"


def _split_seed(seed, num):
    return tf.unstack(tf.random.experimental.stateless_split(seed, num=num))


def crop_window(image_shape, crop_size, seed):
    """(top, left, flip) of a random patch: every in-bounds position equally likely."""
    crop_seed, flip_seed = _split_seed(seed, 2)
    limits = tf.stack([image_shape[0], image_shape[1]]) - crop_size + 1
    offsets = tf.random.stateless_uniform([2], seed=crop_seed, minval=0, maxval=tf.int32.max,
                                          dtype=tf.int32) % limits
    flip = tf.random.stateless_uniform([], seed=flip_seed) < 0.5
    return offsets[0], offsets[1], flip


def apply_crop_window(image, top, left, flip, crop_size):
    out = image[top:top + crop_size, left:left + crop_size]
    out = tf.cond(flip, lambda: tf.reverse(out, axis=[1]), lambda: out)
    out.set_shape([crop_size, crop_size, image.shape[-1]])
    return out


def random_crop_and_flip(image, crop_size, seed, flip=True):
    """§4.1: a random crop_size x crop_size patch, mirrored with probability 1/2."""
    image = tf.convert_to_tensor(image)
    top, left, do_flip = crop_window(tf.shape(image), crop_size, seed)
    return apply_crop_window(image, top, left, do_flip & flip, crop_size)


def pca_noise(eigenvalues, eigenvectors, alpha):
    """§4.1: the RGB shift sum_i alpha_i * lambda_i * p_i (p_i = eigenvectors[:, i])."""
    eigenvalues = tf.cast(eigenvalues, tf.float32)
    alpha = tf.cast(alpha, tf.float32)
    return tf.linalg.matvec(tf.cast(eigenvectors, tf.float32), alpha * eigenvalues)


def pca_lighting(image, eigenvalues, eigenvectors, alpha):
    """Adds the same §4.1 shift to every pixel of a float image [..., 3]."""
    return tf.cast(image, tf.float32) + pca_noise(eigenvalues, eigenvectors, alpha)


def draw_pca_alpha(seed, stddev):
    """alpha_i ~ N(0, stddev), i = 1..3, from a stateless seed (§4.1: 0.1)."""
    return tf.random.stateless_normal([3], seed=seed, stddev=stddev)


def pca_magnitudes(eigenvalues, magnitude):
    """lambda_i as the config's `pca_magnitude` reads them (see config.DataConfig)."""
    eigenvalues = tf.cast(eigenvalues, tf.float32)
    if magnitude == "eigenvalue":
        return eigenvalues
    if magnitude == "stddev":
        return tf.sqrt(eigenvalues)
    raise ValueError(f"unknown pca_magnitude {magnitude!r}; use 'eigenvalue' or 'stddev'")


def _check_mean(cfg, stats):
    mean = stats.mean(cfg.data.mean)
    if cfg.data.mean == "image" and mean.shape[0] != cfg.data.resize_size:
        raise ValueError(f"the statistics' mean image is {mean.shape[0]}x{mean.shape[1]}, "
                         f"but the data is resized to {cfg.data.resize_size}: recompute them")
    return mean


def _normalise(patch, mean_patch, shift, cfg):
    """(patch - mean + shift) * input_scale with as few full-size float passes as possible.

    A per-channel add is the slowest of these on CPU (a broadcast over the innermost
    axis), so the channel mean and the PCA shift share one; a scale of 1 is skipped.
    """
    image = tf.cast(patch, tf.float32)
    if mean_patch is not None:
        image = image - mean_patch
    if shift is not None:
        image = image + shift
    if cfg.data.input_scale != 1.0:
        image = image * tf.constant(cfg.data.input_scale, tf.float32)
    return image


def _channel_offset(cfg, stats):
    """-mean_rgb for data.mean=channel (a [3] constant), None for the mean image."""
    if cfg.data.mean == "image":
        return None
    return tf.constant(-_check_mean(cfg, stats).reshape(3), tf.float32)


def eval_preprocess(image_uint8, cfg, stats):
    """The one evaluation/serving preprocessing: float32 [S, S, 3] (§2, §4.1 centre patch)."""
    size, crop = cfg.data.resize_size, cfg.model.image_size
    mean = _check_mean(cfg, stats)
    patch = center_crop(resize_and_center_crop(image_uint8, size), crop)
    mean_patch = center_crop(tf.constant(mean, tf.float32), crop) if cfg.data.mean == "image" \
        else None
    return _normalise(patch, mean_patch, _channel_offset(cfg, stats), cfg)


def ten_crop_preprocess(image_uint8, cfg, stats):
    """§4.1 test-time patches, each preprocessed as eval_preprocess: float32 [C, S, S, 3].

    The view of evaluation's `ten_crop` mode, following the training augmentation: the ten
    patches where `cfg.data.random_flip` (C = 10), else the five unreflected ones (C = 5).
    """
    crops = ten_crop if cfg.data.random_flip else five_crop
    mean = _check_mean(cfg, stats)
    image = resize_and_center_crop(image_uint8, cfg.data.resize_size)
    mean_image = tf.constant(mean, tf.float32) if cfg.data.mean == "image" else None
    return _normalise(crops(image, cfg.model.image_size),
                      None if mean_image is None else crops(mean_image, cfg.model.image_size),
                      _channel_offset(cfg, stats), cfg)


def train_preprocess(image_uint8, cfg, stats, seed):
    """§4.1 training input: float32 [S, S, 3] from a stateless seed ([2] integers).

    An already resized R x R image (TFRecord shards, `decode_center_square` output
    resized) passes through the resize unchanged.
    """
    size, crop = cfg.data.resize_size, cfg.model.image_size
    mean = _check_mean(cfg, stats)
    window_seed, alpha_seed = _split_seed(seed, 2)
    image = resize_and_center_crop(image_uint8, size)
    top, left, flip = crop_window(tf.shape(image), crop, window_seed)
    if not cfg.data.random_crop:   # the centre patch, as evaluation takes it
        top = left = tf.constant((size - crop) // 2, tf.int32)
    flip = flip & cfg.data.random_flip
    patch = apply_crop_window(image, top, left, flip, crop)
    mean_patch = None
    if cfg.data.mean == "image":
        # The mean of a mirrored patch is the same window of the mirrored mean image.
        means = tf.constant(np.stack([mean, mean[:, ::-1]]), tf.float32)
        column = tf.where(flip, size - crop - left, left)
        mean_patch = means[tf.cast(flip, tf.int32), top:top + crop, column:column + crop]
    shift = None
    if cfg.data.pca_stddev > 0:
        alpha = draw_pca_alpha(alpha_seed, cfg.data.pca_stddev)
        shift = pca_noise(pca_magnitudes(stats.eigenvalues, cfg.data.pca_magnitude),
                          stats.eigenvectors, alpha)
    offset = _channel_offset(cfg, stats)
    if offset is not None:
        shift = offset if shift is None else shift + offset
    out = _normalise(patch, mean_patch, shift, cfg)
    out.set_shape([crop, crop, 3])
    return out


def serving_preprocess(encoded_batch, cfg, stats, max_pixels=None):
    """Encoded image files tf.string [B] -> float32 [B, S, S, 3] for the model.

    Strict decoding: an empty, truncated, non-image or oversized file raises
    InvalidArgumentError naming the problem.
    """
    max_pixels = cfg.data.max_image_pixels if max_pixels is None else max_pixels
    crop = cfg.model.image_size

    def one(encoded):
        return eval_preprocess(image_decoding.decode_image_strict(encoded, max_pixels), cfg, stats)

    return tf.map_fn(one, tf.convert_to_tensor(encoded_batch, tf.string),
                     fn_output_signature=tf.TensorSpec([crop, crop, 3], tf.float32))
