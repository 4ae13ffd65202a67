"""Decoding real-world files: odd formats decode to the right RGB, bad files are refused.

References are Pillow's decoders and the arrays the files were written from.
"""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_tf.data import decoding as image_decoding
LIMIT = 10_000_000
RNG = np.random.default_rng(7)
# Smooth content so JPEG round trips stay close to the source.
_Y, _X = np.mgrid[0:48, 0:64]
PIXELS = np.clip(np.stack([_X * 4, _Y * 5, 255 - _X * 2], -1)
                 + RNG.normal(0, 3, (48, 64, 3)), 0, 255).astype(np.uint8)


def encode(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def pil_rgb(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


IMAGE = Image.fromarray(PIXELS)
JPEG = encode(IMAGE, "JPEG", quality=95)


def _exif_with_thumbnail():
    # A JPEG whose EXIF block carries a smaller JPEG (its own SOF) before the main image.
    thumb = encode(IMAGE.resize((16, 12)), "JPEG")
    tiff = (b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x00" + b"\x00\x00\x00\x1a"
            + b"\x00\x02" + b"\x02\x01\x00\x04\x00\x00\x00\x01\x00\x00\x00\x38"
            + b"\x02\x02\x00\x04\x00\x00\x00\x01" + len(thumb).to_bytes(4, "big")
            + b"\x00\x00\x00\x00")
    payload = b"Exif\x00\x00" + tiff + thumb
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return JPEG[:2] + app1 + JPEG[2:]


# name: (file bytes, lossless source or None, largest mean |difference| to Pillow's decode)
GOOD = {
    "jpeg": (JPEG, None, 1.5),
    "png_named_jpeg": (encode(IMAGE, "PNG"), PIXELS, 0),
    "progressive": (encode(IMAGE, "JPEG", quality=95, progressive=True), None, 1.5),
    "bmp": (encode(IMAGE, "BMP"), PIXELS, 0),
    "gif": (encode(IMAGE.convert("P"), "GIF"), None, 0),
    "rgba_png": (encode(IMAGE.convert("RGBA"), "PNG"), PIXELS, 0),
    "grayscale_jpeg": (encode(IMAGE.convert("L"), "JPEG", quality=95), None, 1.5),
    "grayscale_png": (encode(IMAGE.convert("L"), "PNG"), None, 0),
    "cmyk_jpeg": (encode(IMAGE.convert("CMYK"), "JPEG", quality=95), None, 3.0),
    "exif_thumbnail": (_exif_with_thumbnail(), None, 1.5),
    "webp_lossy": (encode(IMAGE, "WEBP", quality=90), None, 1.0),
    "webp_lossless": (encode(IMAGE.convert("RGBA"), "WEBP", lossless=True), PIXELS, 0),
}
BAD = {
    "empty": (b"", "empty"),
    "garbage": (b"this is not an image at all" * 10, "not an image"),
    "truncated_jpeg": (JPEG[: len(JPEG) // 2], "truncated"),
    "jpeg_cut_in_header": (JPEG[:40], "truncated"),
    "truncated_png": (encode(IMAGE, "PNG")[:-40], "truncated"),
    "truncated_bmp": (encode(IMAGE, "BMP")[:-100], "truncated"),
    "truncated_webp": (encode(IMAGE, "WEBP")[:-60], "truncated"),
    "animated_webp": (encode(IMAGE, "WEBP", save_all=True, append_images=[IMAGE.rotate(180)]),
                      "unsupported"),
}


def _bomb():
    # A 20000 x 20000 PNG header (400 M pixels) in front of a tiny file.
    png = encode(Image.new("RGB", (1, 1)), "PNG")
    header = bytearray(png)
    header[16:24] = (20000).to_bytes(4, "big") + (20000).to_bytes(4, "big")
    return bytes(header)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_odd_files_decode_to_rgb(name):
    data, source, tolerance = GOOD[name]
    image, ok = image_decoding.decode_image(data, LIMIT)
    assert bool(ok)
    assert image.dtype == tf.uint8 and image.shape == (48, 64, 3)
    if source is not None:  # lossless formats give back exactly what was written
        np.testing.assert_array_equal(image.numpy(), source)
    # JPEG decoders differ by a few levels (IDCT, chroma upsampling, CMYK conversion).
    diff = np.abs(image.numpy().astype(int) - pil_rgb(data).astype(int))
    assert diff.mean() <= tolerance and diff.max() <= 24 * tolerance


def test_grayscale_gives_three_equal_channels():
    image, _ = image_decoding.decode_image(GOOD["grayscale_png"][0], LIMIT)
    gray = np.asarray(IMAGE.convert("L"))
    np.testing.assert_array_equal(image.numpy(), np.repeat(gray[..., None], 3, axis=-1))


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_are_refused_without_raising(name):
    data, problem = BAD[name]
    image, ok = image_decoding.decode_image(data, LIMIT)
    assert not bool(ok)
    assert image.shape == (1, 1, 3) and image.dtype == tf.uint8
    with pytest.raises(tf.errors.InvalidArgumentError, match=problem):
        image_decoding.decode_image_strict(data, LIMIT)


def test_absurd_header_is_refused_before_decoding():
    bomb = _bomb()
    problem, height, width = image_decoding.inspect_image(bomb, LIMIT)
    assert image_decoding.PROBLEMS[int(problem)] == "too large"
    assert (int(height), int(width)) == (20000, 20000)
    _, ok = image_decoding.decode_image(bomb, LIMIT)
    assert not bool(ok)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="declares 20000x20000 pixels, above the limit of 10000000"):
        image_decoding.decode_image_strict(bomb, LIMIT)


def test_header_sizes_match_the_files():
    for name, (data, _, _) in GOOD.items():
        problem, height, width = image_decoding.inspect_image(data, LIMIT)
        assert (int(problem), int(height), int(width)) == (0, 48, 64), name


def test_same_results_inside_tf_data():
    files = [GOOD[n][0] for n in sorted(GOOD)] + [BAD[n][0] for n in sorted(BAD)]
    dataset = tf.data.Dataset.from_tensor_slices(files).map(
        lambda data: image_decoding.decode_image(data, LIMIT))
    for data, (image, ok) in zip(files, dataset):
        eager_image, eager_ok = image_decoding.decode_image(data, LIMIT)
        assert bool(ok) == bool(eager_ok)
        np.testing.assert_array_equal(image.numpy(), eager_image.numpy())


@pytest.mark.parametrize("shape", [(48, 64), (64, 48), (37, 37)])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_center_square_equals_cropping_the_full_decode(shape, fmt):
    pixels = RNG.integers(0, 256, shape + (3,), dtype=np.uint8)
    data = encode(Image.fromarray(pixels), fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    full, _ = image_decoding.decode_image(data, LIMIT)
    square, ok = image_decoding.decode_center_square(data, LIMIT)
    side = min(shape)
    top, left = (shape[0] - side) // 2, (shape[1] - side) // 2
    assert bool(ok)
    np.testing.assert_array_equal(square.numpy(), full.numpy()[top:top + side, left:left + side])
    _, bad_ok = image_decoding.decode_center_square(data[:len(data) // 2], LIMIT)
    assert not bool(bad_ok)
