"""Decoding real-world image files safely, as TensorFlow graph ops.

Everything here runs inside `tf.data` and inside a SavedModel. Before any pixel
is decoded the header is read: the format is recognised from its magic bytes
(JPEG, PNG, GIF, BMP, WebP), width and height come from the header (for JPEG, the main
image's SOF marker as libjpeg's header reader finds it, so an EXIF thumbnail is
not mistaken for it), and the file is checked to be complete (JPEG: an EOI marker
after the last scan; PNG: the IEND chunk; BMP: the whole pixel array). An image
above `max_pixels` is refused before decoding: TensorFlow has no limit of its own
and trusts the header (docs/design.md, "Decoding real-world images").

- `decode_image` does not raise for empty, truncated, non-image or oversized
  files: it gives `ok=False` and a 1x1x3 zero image. A file that passes these
  checks but is corrupt inside (a JPEG whose header segments or entropy data are
  damaged, a GIF cut inside its frame) still fails in TensorFlow's decoder; the
  input pipeline skips and counts those too.
- `decode_image_strict` raises `tf.errors.InvalidArgumentError` naming the problem.
- `decode_center_square` crops the central square while decoding (JPEG: the
  fused `decode_and_crop_jpeg`, which skips the rest of the file's rows).

Grayscale, CMYK, palette and RGBA images all come out as 3-channel RGB (alpha
dropped); a PNG named `.JPEG` decodes as the PNG it is.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

# Why an image was refused; index into PROBLEMS.
OK, EMPTY, NOT_AN_IMAGE, TRUNCATED, TOO_LARGE, BAD_HEADER, UNSUPPORTED = range(7)
PROBLEMS = ("ok", "empty", "not an image (not JPEG, PNG, GIF, BMP or WebP)", "truncated",
            "too large", "malformed header", "unsupported (animated WebP)")

_MCU = 16  # the largest JPEG minimum coded unit (4:2:0 chroma subsampling)

# Header fields of every format as (offset, bytes, byte order); the first HEADER_BYTES
# bytes are read once and all fields computed by one matrix product (few ops per file).
_FIELDS = (
    ("magic3", 0, 3, "big"), ("magic4", 0, 4, "big"), ("magic4b", 4, 4, "big"),
    ("png_width", 16, 4, "big"), ("png_height", 20, 4, "big"),
    ("gif_width", 6, 2, "little"), ("gif_height", 8, 2, "little"),
    ("bmp_offset", 10, 4, "little"), ("bmp_width", 18, 4, "little"),
    ("bmp_height", 22, 4, "little"), ("bmp_bpp", 28, 2, "little"),
    ("bmp_compression", 30, 4, "little"),
    ("riff_size", 4, 4, "little"), ("webp_tag", 8, 4, "big"), ("webp_chunk", 12, 4, "big"),
    ("vp8x_width", 24, 3, "little"), ("vp8x_height", 27, 3, "little"),
    ("vp8_width", 26, 2, "little"), ("vp8_height", 28, 2, "little"),
    ("vp8l_size", 21, 4, "little"), ("vp8x_flags", 20, 1, "little"),
)
_HEADER_BYTES = 36
_TAIL_BYTES = 64
# A valid JPEG header of 1x1 pixels: what the header reader parses when the file is not
# a complete JPEG (its output is then unused), so it never sees a file it could fail on.
_TINY_JPEG = bytes.fromhex("ffd8ffc0000b080001000101011100ffda000801010000003f00ffd9")
# A 1x1 black BMP: what the decoder decodes in place of a refused file (no branch needed).
_BLANK_BMP = bytes.fromhex(
    "424d3a0000000000000036000000280000000100000001000000010018000000000004000000c40e0000"
    "c40e0000000000000000000000000000")


def _field_weights():
    weights = np.zeros((len(_FIELDS), _HEADER_BYTES), np.float64)
    for row, (_, offset, length, order) in enumerate(_FIELDS):
        for k in range(length):
            power = length - 1 - k if order == "big" else k
            weights[row, offset + k] = 256.0 ** power
    return weights


_FIELD_WEIGHTS = _field_weights()


def _pairs(data, first, second):
    """Whether byte `first` is directly followed by `second` anywhere in uint8 `data`."""
    return tf.reduce_any((data[:-1] == first) & (data[1:] == second))


def _scan_jpeg(encoded):
    """(has a scan, ends with EOI after its last scan) from the whole file.

    Entropy-coded data escapes 0xFF, so FF DA only starts a scan and FF D9 after the
    last scan is the end-of-image marker of a complete file.
    """
    data = tf.io.decode_raw(encoded, tf.uint8)
    markers = data[:-1] == 0xFF
    positions = tf.range(tf.size(markers, out_type=tf.int64))
    last_scan = tf.reduce_max(tf.where(markers & (data[1:] == 0xDA), positions, -1))
    last_end = tf.reduce_max(tf.where(markers & (data[1:] == 0xD9), positions, -1))
    return last_scan >= 0, last_end > last_scan


def inspect_image(encoded, max_pixels):
    """Reads the header only: (problem int32 index into PROBLEMS, height, width int64)."""
    encoded = tf.convert_to_tensor(encoded, tf.string)
    size = tf.cast(tf.strings.length(encoded), tf.int64)
    header = tf.io.decode_raw(tf.strings.substr(tf.strings.join(
        [tf.strings.substr(encoded, 0, _HEADER_BYTES), b"\0" * _HEADER_BYTES]),
        0, _HEADER_BYTES), tf.uint8)
    fields = tf.cast(tf.linalg.matvec(tf.constant(_FIELD_WEIGHTS),
                                      tf.cast(header, tf.float64)), tf.int64)
    f = dict(zip((name for name, *_ in _FIELDS), tf.unstack(fields)))
    is_jpeg = f["magic3"] == 0xFFD8FF
    is_png = (f["magic4"] == 0x89504E47) & (f["magic4b"] == 0x0D0A1A0A)
    is_gif = f["magic4"] == 0x47494638                      # "GIF8"
    is_bmp = f["magic3"] // 256 == 0x424D                   # "BM"
    is_webp = (f["magic4"] == 0x52494646) & (f["webp_tag"] == 0x57454250)  # "RIFF", "WEBP"
    last = tf.strings.substr(encoded, tf.maximum(size - _TAIL_BYTES, 0), _TAIL_BYTES)
    tail = tf.io.decode_raw(tf.strings.substr(tf.strings.join([b"\0" * _TAIL_BYTES, last]),
                                              tf.strings.length(last), _TAIL_BYTES), tf.uint8)

    # JPEG: a file that ends with EOI is complete; otherwise scan it (rare: truncated
    # files, or data appended after the image).
    has_scan, jpeg_complete = tf.cond(
        is_jpeg & tf.logical_not(_pairs(tail, 0xFF, 0xD9)),
        lambda: _scan_jpeg(encoded), lambda: (is_jpeg, is_jpeg))
    # libjpeg's header reader finds the main image's SOF (not an EXIF thumbnail's).
    jpeg_shape = tf.image.extract_jpeg_shape(
        tf.where(has_scan, encoded, tf.constant(_TINY_JPEG)), output_type=tf.int64)

    # PNG: complete files end with the IEND chunk (some writers add a few bytes after it).
    iend = tf.reduce_any((tail[:-3] == 73) & (tail[1:-2] == 69) & (tail[2:-1] == 78)
                         & (tail[3:] == 68))
    # BMP: a negative height means rows stored top-down.
    bmp_height = tf.where(f["bmp_height"] >= 2 ** 31, 2 ** 32 - f["bmp_height"],
                          f["bmp_height"])
    row_bytes = (f["bmp_width"] * f["bmp_bpp"] + 31) // 32 * 4
    bmp_complete = size >= f["bmp_offset"] + row_bytes * bmp_height
    bpp, compression = f["bmp_bpp"], f["bmp_compression"]
    bmp_supported = (((bpp == 8) | (bpp == 24) | (bpp == 32))
                     & ((compression == 0) | (compression == 3)) & (size >= 54))

    # WebP: the canvas (VP8X), the lossy frame (VP8, 14-bit fields) or the lossless
    # header (VP8L, 14-bit fields minus one); complete when the RIFF size fits.
    chunk = f["webp_chunk"]
    vp8l = f["vp8l_size"]
    webp_width = tf.where(chunk == 0x56503858, f["vp8x_width"] + 1,                # "VP8X"
                 tf.where(chunk == 0x56503820, f["vp8_width"] % 16384,           # "VP8 "
                 tf.where(chunk == 0x5650384C, vp8l % 16384 + 1, -1)))           # "VP8L"
    webp_height = tf.where(chunk == 0x56503858, f["vp8x_height"] + 1,
                  tf.where(chunk == 0x56503820, f["vp8_height"] % 16384,
                  tf.where(chunk == 0x5650384C, vp8l // 16384 % 16384 + 1, -1)))
    webp_complete = size >= f["riff_size"] + 8
    # TensorFlow decodes animated WebP only as RGBA frames.
    animated = is_webp & (chunk == 0x56503858) & (f["vp8x_flags"] // 2 % 2 == 1)

    flags = tf.stack([is_jpeg, is_png, is_gif, is_bmp, is_webp])
    recognised = tf.reduce_any(flags)
    kind = tf.where(recognised, tf.argmax(tf.cast(flags, tf.int32), output_type=tf.int32) + 1, 0)
    one = tf.constant(1, tf.int64)
    # Per format: height, width, complete, header well formed. giflib decodes a GIF whose
    # trailer is missing; one cut inside its data fails in the decoder (the pipeline
    # skips and counts it).
    table = tf.stack([
        tf.stack([-one, -one, 0 * one, 0 * one]),
        tf.stack([jpeg_shape[0], jpeg_shape[1], tf.cast(jpeg_complete, tf.int64),
                  tf.cast(has_scan, tf.int64)]),
        tf.stack([f["png_height"], f["png_width"], tf.cast(iend, tf.int64),
                  tf.cast(size >= 33, tf.int64)]),
        tf.stack([f["gif_height"], f["gif_width"], one, tf.cast(size >= 13, tf.int64)]),
        tf.stack([bmp_height, f["bmp_width"], tf.cast(bmp_complete, tf.int64),
                  tf.cast(bmp_supported, tf.int64)]),
        tf.stack([webp_height, webp_width, tf.cast(webp_complete, tf.int64),
                  tf.cast(size >= 30, tf.int64)]),
    ])
    h, w, complete, well_formed = tf.unstack(tf.gather(table, kind))

    problem = tf.where(size == 0, EMPTY,
              tf.where(tf.logical_not(recognised), NOT_AN_IMAGE,
              tf.where(animated, UNSUPPORTED,
              tf.where(is_jpeg & tf.logical_not(has_scan), TRUNCATED,
              tf.where((well_formed == 0) | (h <= 0) | (w <= 0), BAD_HEADER,
              tf.where(h * w > tf.cast(max_pixels, tf.int64), TOO_LARGE,
              tf.where(complete == 1, OK, TRUNCATED)))))))
    return tf.cast(problem, tf.int32), h, w


def _decode_rgb(encoded):
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def decode_image(encoded, max_pixels):
    """Returns (image uint8 [H, W, 3], ok bool); a refused file gives a 1x1x3 zero image."""
    encoded = tf.convert_to_tensor(encoded, tf.string)
    problem, _, _ = inspect_image(encoded, max_pixels)
    ok = tf.equal(problem, OK)
    return _decode_rgb(tf.where(ok, encoded, tf.constant(_BLANK_BMP))), ok


def _problem_message(problem, h, w, max_pixels):
    size = tf.strings.format("declares {}x{} pixels, above the limit of {}",
                             (w, h, tf.cast(max_pixels, tf.int64)))
    return tf.where(tf.equal(problem, TOO_LARGE), size,
                    tf.gather(tf.constant(PROBLEMS), problem))


def decode_image_strict(encoded, max_pixels):
    """Returns image uint8 [H, W, 3] or raises InvalidArgumentError naming the problem."""
    problem, h, w = inspect_image(encoded, max_pixels)
    message = _problem_message(problem, h, w, max_pixels)
    check = tf.debugging.Assert(tf.equal(problem, OK), ["image rejected:", message])
    with tf.control_dependencies([check]):
        return _decode_rgb(tf.identity(encoded))


def center_square_window(height, width):
    """[top, left, side, side] of the central square: where §2's centre crop comes from."""
    side = tf.minimum(height, width)
    return tf.stack([(height - side) // 2, (width - side) // 2, side, side])


def decode_center_square(encoded, max_pixels):
    """(central min(H, W) square uint8 [s, s, 3], ok bool); a refused file gives 1x1x3 zeros.

    Equal to cropping `decode_image`'s output. A portrait JPEG decodes only the square's
    rows (`decode_and_crop_jpeg`; libjpeg skips whole rows, not columns, so a landscape
    image gains nothing from it and is decoded whole).
    """
    encoded = tf.convert_to_tensor(encoded, tf.string)
    problem, h, w = inspect_image(encoded, max_pixels)
    ok = tf.equal(problem, OK)
    source = tf.where(ok, encoded, tf.constant(_BLANK_BMP))
    h, w = tf.where(ok, h, 1), tf.where(ok, w, 1)
    window = tf.cast(center_square_window(h, w), tf.int32)
    portrait_jpeg = ok & (h > w) & (tf.strings.substr(encoded, 0, 3) == b"\xff\xd8\xff")

    def fused():
        # Chroma upsampling at a crop's edge reads pixels beyond it: decode a margin of
        # one 16-pixel MCU above and below so the square equals a full decode's pixels.
        top = tf.maximum(window[0] - _MCU, 0)
        bottom = tf.minimum(window[0] + window[2] + _MCU, tf.cast(h, tf.int32))
        image = tf.io.decode_and_crop_jpeg(
            source, tf.stack([top, 0, bottom - top, tf.cast(w, tf.int32)]), channels=3)
        return image[window[0] - top:window[0] - top + window[2]]

    def full():
        return _decode_rgb(source)[window[0]:window[0] + window[2],
                                   window[1]:window[1] + window[3]]

    image = tf.cond(portrait_jpeg, fused, full)
    image.set_shape([None, None, 3])
    return image, ok
