"""The paper's preprocessing (§2, §4.1) against NumPy references, eagerly and in tf.data."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_tf import config

from alexnet_tf.data import preprocessing
from alexnet_tf.data.statistics import DatasetStatistics

PAPER = config.get_config("paper")
R, S = PAPER.data.resize_size, PAPER.model.image_size        # 256, 227
RNG = np.random.default_rng(3)


def coordinate_image(size=R):
    """Pixel (y, x) holds (y, x, y ^ x): every window has a unique content."""
    y, x = np.mgrid[0:size, 0:size]
    return np.stack([y, x, y ^ x], -1).astype(np.uint8)


def random_statistics(size=R):
    a = RNG.normal(size=(3, 3))
    return DatasetStatistics.from_moments(RNG.uniform(0, 255, (size, size, 3)),
                                          a @ a.T * 400.0, num_images=10)


def in_tf_data(fn, *args):
    """fn(*args) computed inside a tf.data map (args captured as dataset elements)."""
    dataset = tf.data.Dataset.from_tensors(tuple(tf.constant(a) for a in args)).map(fn)
    return next(iter(dataset))


def test_resize_and_center_crop_takes_the_central_square():
    # A 300 x 500 image: central 300 x 300 square in one colour, the side bands in others.
    image = np.zeros((300, 500, 3), np.uint8)
    image[:, :100] = (255, 0, 0)
    image[:, 400:] = (0, 0, 255)
    image[:, 100:400] = (10, 200, 30)
    out = preprocessing.resize_and_center_crop(image, R).numpy()
    assert out.shape == (R, R, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.broadcast_to([10, 200, 30], (R, R, 3)))
    portrait = np.transpose(image, (1, 0, 2))
    np.testing.assert_array_equal(preprocessing.resize_and_center_crop(portrait, R), out)


def test_resize_keeps_an_image_of_the_target_size():
    image = RNG.integers(0, 256, (R, R, 3), dtype=np.uint8)
    np.testing.assert_array_equal(preprocessing.resize_and_center_crop(image, R), image)


@pytest.mark.parametrize("height, size", [(16, 8), (24, 16), (8, 12)])
def test_resize_scales_the_shorter_side(height, size):
    # A linear ramp survives any normalised filter away from the borders: output pixel j
    # (centre (j + 0.5) * scale in input coordinates) holds the ramp's value there.
    # 16 -> 8 averages areas (a 2x reduction); 24 -> 16 and 8 -> 12 are bilinear.
    width = height + 8
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([4 * y, 4 * x, np.full_like(x, 77)], -1).astype(np.uint8)
    out = preprocessing.resize_and_center_crop(image, size).numpy().astype(int)
    scale = height / size
    centre = (np.arange(size) + 0.5) * scale - 0.5
    interior = slice(2, size - 2)
    np.testing.assert_allclose(out[interior, 0, 0], (4 * centre)[interior], atol=1)
    np.testing.assert_allclose(out[0, interior, 1], (4 * (4 + centre))[interior], atol=1)
    np.testing.assert_array_equal(out[..., 2], 77)


def test_random_crops_stay_in_bounds_and_reach_all_30x30_positions():
    image = tf.constant(coordinate_image())
    seeds = tf.data.Dataset.range(8000).map(lambda i: tf.stack([i, 17]))
    corners = seeds.map(lambda seed: preprocessing.random_crop_and_flip(
        image, S, seed, flip=False)[0, 0, :2]).batch(1000)
    positions = np.concatenate([c.numpy() for c in corners]).astype(int)
    assert positions.min() >= 0 and positions.max() <= R - S
    reached = {tuple(p) for p in positions}
    assert len(reached) == (R - S + 1) ** 2 == 900       # §4.1: 30 x 30 positions


def test_random_crop_is_the_window_and_flips_are_exact_mirrors():
    image = coordinate_image()
    flips = []
    for i in range(12):
        seed = tf.constant([i, 5])
        crop = preprocessing.random_crop_and_flip(image, S, seed).numpy()
        top = int(crop[0, 0, 0])
        corner = int(min(crop[0, 0, 1], crop[0, -1, 1]))
        window = image[top:top + S, corner:corner + S]
        flipped = crop[0, 0, 1] > crop[0, -1, 1]
        np.testing.assert_array_equal(crop, window[:, ::-1] if flipped else window)
        flips.append(flipped)
    assert any(flips) and not all(flips)


def test_random_ops_are_the_same_eagerly_and_in_tf_data():
    image = RNG.integers(0, 256, (300, 280, 3), dtype=np.uint8)
    stats = random_statistics()
    seed = np.array([11, 3], np.int64)
    eager = preprocessing.train_preprocess(image, PAPER, stats, seed)
    graph = in_tf_data(lambda i, s: preprocessing.train_preprocess(i, PAPER, stats, s), image, seed)
    np.testing.assert_array_equal(eager.numpy(), graph.numpy())
    for fn in (lambda i, s: preprocessing.random_crop_and_flip(i, S, s),
               lambda i, s: preprocessing.draw_pca_alpha(s, 0.1)):
        np.testing.assert_array_equal(fn(image, seed).numpy(), in_tf_data(fn, image, seed).numpy())
    for fn in (lambda i: preprocessing.resize_and_center_crop(i, R),
               lambda i: preprocessing.ten_crop(i, S),
               lambda i: preprocessing.eval_preprocess(i, PAPER, stats),
               lambda i: preprocessing.ten_crop_preprocess(i, PAPER, stats)):
        np.testing.assert_array_equal(fn(image).numpy(), in_tf_data(fn, image).numpy())


def test_seeds_reproduce_and_differ():
    image = RNG.integers(0, 256, (R, R, 3), dtype=np.uint8)
    stats = random_statistics()
    a = preprocessing.train_preprocess(image, PAPER, stats, tf.constant([1, 2]))
    b = preprocessing.train_preprocess(image, PAPER, stats, tf.constant([1, 2]))
    c = preprocessing.train_preprocess(image, PAPER, stats, tf.constant([1, 3]))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_ten_crop_windows():
    image = coordinate_image()
    crops = preprocessing.ten_crop(image, S).numpy()
    m, c = R - S, (R - S) // 2
    windows = [image[t:t + S, l:l + S] for t, l in [(0, 0), (0, m), (m, 0), (m, m), (c, c)]]
    expected = np.stack(windows + [w[:, ::-1] for w in windows])
    np.testing.assert_array_equal(crops, expected)


def test_multi_crop_view_follows_the_training_flips():
    """Ten patches where training reflects (§4.1), the five unreflected ones where it never
    does: the model is not asked about images it never saw (a mirrored digit)."""
    image = coordinate_image()
    stats = random_statistics()
    m, c = R - S, (R - S) // 2
    corners = [(0, 0), (0, m), (m, 0), (m, m), (c, c)]

    def windows(array):
        return [array[t:t + S, l:l + S].astype(np.float64) for t, l in corners]

    patches = [0.25 * (w - mean) for w, mean in zip(windows(image), windows(stats.mean_image))]
    mirrored = [p[:, ::-1] for p in patches]
    for flips, expected in ((False, patches), (True, patches + mirrored)):
        cfg = config.override(PAPER, ["data.input_scale=0.25", f"data.random_flip={flips}"])
        out = preprocessing.ten_crop_preprocess(image, cfg, stats).numpy()
        assert out.shape == (len(expected), S, S, 3)
        np.testing.assert_allclose(out, np.stack(expected), rtol=1e-5, atol=1e-3)
        assert preprocessing.multi_crop_count(cfg) == len(expected)
    for preset, count in (("paper", 10), ("digits", 5), ("tiny", 5)):
        assert preprocessing.multi_crop_count(config.get_config(preset)) == count


def test_pca_lighting_follows_the_formula():
    stats = random_statistics()
    image = RNG.uniform(-100, 100, (5, 7, 3)).astype(np.float32)
    alpha = np.array([0.3, -1.2, 0.05], np.float32)
    lam, p = stats.eigenvalues.astype(np.float64), stats.eigenvectors.astype(np.float64)
    shift = sum(alpha[i] * lam[i] * p[:, i] for i in range(3))     # §4.1: sum alpha_i lambda_i p_i
    out = preprocessing.pca_lighting(image, stats.eigenvalues, stats.eigenvectors, alpha)
    np.testing.assert_allclose(out.numpy(), image + shift, rtol=1e-5, atol=1e-3)
    zero = preprocessing.pca_lighting(image, stats.eigenvalues, stats.eigenvectors, np.zeros(3))
    np.testing.assert_array_equal(zero.numpy(), image)


def test_pca_alpha_has_the_papers_standard_deviation():
    draws = tf.data.Dataset.range(20000).map(
        lambda i: preprocessing.draw_pca_alpha(tf.stack([i, 99]), PAPER.data.pca_stddev))
    alphas = np.concatenate([d.numpy() for d in draws.batch(5000)])
    assert alphas.shape == (20000, 3)
    # §4.1: N(0, 0.1); the standard error of the estimate is 0.1 / sqrt(2 * 20000) = 0.0005.
    np.testing.assert_allclose(alphas.std(axis=0), 0.1, atol=0.002)
    np.testing.assert_allclose(alphas.mean(axis=0), 0.0, atol=0.003)


@pytest.mark.parametrize("magnitude", ["stddev", "eigenvalue"])
def test_train_preprocess_composes_crop_mean_noise_and_scale(magnitude):
    cfg = config.override(PAPER, ["data.input_scale=0.5", f"data.pca_magnitude={magnitude}"])
    stats = random_statistics()
    image = coordinate_image()
    seed = tf.constant([4, 4])
    out = preprocessing.train_preprocess(image, cfg, stats, seed).numpy()
    # Recover the window from the coordinate content, the noise from the paper's formula.
    window_seed, alpha_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    top, left, flip = (int(v) for v in preprocessing.crop_window(tf.constant([R, R, 3]), S,
                                                                   window_seed))
    alpha = preprocessing.draw_pca_alpha(alpha_seed, 0.1).numpy()
    # lambda_i as printed, or its square root as cuda-convnet2 does (config.DataConfig).
    lam = stats.eigenvalues if magnitude == "eigenvalue" else np.sqrt(stats.eigenvalues)
    shift = stats.eigenvectors @ (alpha * lam)
    centred = image.astype(np.float64) - stats.mean_image
    window = centred[top:top + S, left:left + S]
    expected = (window[:, ::-1] if flip else window) + shift
    np.testing.assert_allclose(out, 0.5 * expected, rtol=1e-5, atol=1e-3)


def test_digits_preset_never_flips():
    cfg = config.get_config("digits")
    image = coordinate_image(cfg.data.resize_size)
    stats = DatasetStatistics.per_channel([0, 0, 0], size=cfg.data.resize_size)
    for i in range(20):
        out = preprocessing.train_preprocess(image, cfg, stats, tf.constant([i, 0])).numpy()
        x = out[0, :, 1] / cfg.data.input_scale
        assert np.all(np.diff(x) > 0)


def test_eval_preprocess_is_centre_crop_minus_mean_times_scale():
    cfg = config.override(PAPER, ["data.input_scale=0.25"])
    stats = random_statistics()
    image = RNG.integers(0, 256, (R, R, 3), dtype=np.uint8)
    c = (R - S) // 2
    window = (slice(c, c + S), slice(c, c + S))
    expected = 0.25 * (image[window].astype(np.float64) - stats.mean_image[window])
    np.testing.assert_allclose(preprocessing.eval_preprocess(image, cfg, stats), expected,
                               rtol=1e-5, atol=1e-3)
    channel = config.override(cfg, ["data.mean=channel"])
    expected = 0.25 * (image[c:c + S, c:c + S].astype(np.float64) - stats.mean_rgb)
    np.testing.assert_allclose(preprocessing.eval_preprocess(image, channel, stats), expected,
                               rtol=1e-5, atol=1e-3)


def test_serving_preprocess_matches_eval_and_names_bad_input():
    stats = random_statistics()
    images = [RNG.integers(0, 256, shape, dtype=np.uint8) for shape in [(300, 260, 3), (R, R, 3)]]
    encoded = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "PNG")
        encoded.append(buffer.getvalue())
    out = preprocessing.serving_preprocess(tf.constant(encoded), PAPER, stats)
    expected = np.stack([preprocessing.eval_preprocess(i, PAPER, stats) for i in images])
    np.testing.assert_array_equal(out.numpy(), expected)
    with pytest.raises(tf.errors.InvalidArgumentError, match="truncated"):
        preprocessing.serving_preprocess(tf.constant([encoded[0][:-50]]), PAPER, stats)
    with pytest.raises(tf.errors.InvalidArgumentError, match="above the limit of 1000"):
        preprocessing.serving_preprocess(tf.constant(encoded[:1]), PAPER, stats, max_pixels=1000)


def test_mean_image_of_the_wrong_size_is_a_clear_error():
    stats = random_statistics(size=64)
    with pytest.raises(ValueError, match="resized to 256"):
        preprocessing.eval_preprocess(np.zeros((R, R, 3), np.uint8), PAPER, stats)


def test_without_random_crops_training_takes_the_centre_patch_and_still_flips():
    """data.random_crop=false (§4.1's ablation): the centre window evaluation takes, for
    every seed; reflections still follow data.random_flip (the mean image mirrored too)."""
    cfg = config.override(PAPER, ["data.random_crop=false", "data.pca_stddev=0"])
    stats = random_statistics()
    image = coordinate_image()
    c = (R - S) // 2
    centre = image[c:c + S, c:c + S].astype(np.float64) - stats.mean_image[c:c + S, c:c + S]
    flips = []
    for i in range(12):
        seed = tf.constant([i, 7])
        out = preprocessing.train_preprocess(image, cfg, stats, seed).numpy()
        window_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))[0]
        flip = bool(preprocessing.crop_window(tf.constant([R, R, 3]), S, window_seed)[2])
        np.testing.assert_allclose(out, centre[:, ::-1] if flip else centre, rtol=1e-5,
                                   atol=1e-3)
        flips.append(flip)
    assert any(flips) and not all(flips)
