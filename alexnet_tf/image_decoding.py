"""Decoding real-world image files safely, as TensorFlow graph ops.

Everything here runs inside `tf.data` and inside a SavedModel. Before any pixel
is decoded the header is read: the format is recognised from its magic bytes
(JPEG, PNG, GIF, BMP), width and height come from the header (for JPEG, the main
image's SOF marker as libjpeg's header reader finds it, so an EXIF thumbnail is
not mistaken for it), and the file is checked to be complete (JPEG: an EOI marker
after the last scan; PNG: the IEND chunk; BMP: the whole pixel array). An image
above `max_pixels` is refused before decoding: TensorFlow has no limit of its own
and trusts the header (FACTS.md, "Decoding real-world images").

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

import tensorflow as tf

# Why an image was refused; index into PROBLEMS.
OK, EMPTY, NOT_AN_IMAGE, TRUNCATED, TOO_LARGE, BAD_HEADER = range(6)
PROBLEMS = ("ok", "empty", "not an image (not JPEG, PNG, GIF or BMP)", "truncated",
            "too large", "malformed header")

_HEADER_BYTES = 64
_MCU = 16  # the largest JPEG minimum coded unit (4:2:0 chroma subsampling)


def _field(header, offset, dtype, little_endian=True):
    """The integer at `offset` of the (zero-padded) header, as int64."""
    width = tf.dtypes.as_dtype(dtype).size
    raw = tf.io.decode_raw(tf.strings.substr(header, offset, width), dtype,
                           little_endian=little_endian)
    return tf.cast(raw[0], tf.int64)


def _contains(data, needle: bytes):
    return tf.size(tf.strings.split(data, sep=needle)) > 1


def _jpeg_size(encoded, has_scan):
    """(height, width) from the main image's SOF marker, read by libjpeg's header parser.

    That parser stops at the first scan, so an EXIF thumbnail is never mistaken for
    the image; it runs only when a scan (SOS) marker exists, so a file cut inside
    its header is reported as truncated instead of failing there.
    """
    def read():
        shape = tf.image.extract_jpeg_shape(encoded, output_type=tf.int64)
        return shape[0], shape[1]

    minus_one = tf.constant(-1, tf.int64)
    return tf.cond(has_scan, read, lambda: (minus_one, minus_one))


def inspect_image(encoded, max_pixels):
    """Reads the header only: (problem int32 index into PROBLEMS, height, width int64)."""
    encoded = tf.convert_to_tensor(encoded, tf.string)
    size = tf.cast(tf.strings.length(encoded), tf.int64)
    header = tf.strings.substr(
        tf.strings.join([tf.strings.substr(encoded, 0, _HEADER_BYTES), b"\0" * _HEADER_BYTES]),
        0, _HEADER_BYTES)
    magic = tf.strings.substr(header, 0, 8)
    is_jpeg = tf.strings.substr(magic, 0, 3) == b"\xff\xd8\xff"
    is_png = magic == b"\x89PNG\r\n\x1a\n"
    is_gif = tf.strings.substr(magic, 0, 4) == b"GIF8"
    is_bmp = tf.strings.substr(magic, 0, 2) == b"BM"

    # JPEG: entropy-coded data escapes 0xFF, so FF DA only starts a scan and FF D9
    # after the last scan is the end-of-image marker a complete file has.
    scans = tf.strings.split(encoded, sep=b"\xff\xda")
    has_scan = is_jpeg & (tf.size(scans) > 1)
    jpeg_h, jpeg_w = _jpeg_size(encoded, has_scan)
    jpeg_complete = _contains(scans[-1], b"\xff\xd9")

    # PNG: IHDR holds big-endian width, height; a complete file ends with IEND
    # (some writers leave a few bytes after it).
    png_w = _field(header, 16, tf.int32, little_endian=False)
    png_h = _field(header, 20, tf.int32, little_endian=False)
    tail = tf.strings.substr(encoded, tf.maximum(size - 64, 0), 64)
    png_complete = _contains(tail, b"IEND")

    # GIF: the logical screen size; giflib decodes a GIF whose trailer is missing.
    gif_w, gif_h = _field(header, 6, tf.uint16), _field(header, 8, tf.uint16)

    # BMP: BITMAPINFOHEADER; a negative height means rows stored top-down.
    bmp_w = _field(header, 18, tf.int32)
    bmp_h = tf.abs(_field(header, 22, tf.int32))
    bpp = _field(header, 28, tf.uint16)
    compression = _field(header, 30, tf.int32)
    pixel_offset = _field(header, 10, tf.int32)
    row_bytes = (bmp_w * bpp + 31) // 32 * 4
    bmp_complete = size >= pixel_offset + row_bytes * bmp_h
    bmp_supported = (((bpp == 8) | (bpp == 24) | (bpp == 32))
                     & ((compression == 0) | (compression == 3)))

    def pick(jpeg, png, gif, bmp, other):
        return tf.where(is_jpeg, jpeg, tf.where(is_png, png, tf.where(
            is_gif, gif, tf.where(is_bmp, bmp, other))))

    minus_one = tf.constant(-1, tf.int64)
    h = pick(jpeg_h, png_h, gif_h, bmp_h, minus_one)
    w = pick(jpeg_w, png_w, gif_w, bmp_w, minus_one)
    complete = pick(jpeg_complete, png_complete, tf.constant(True), bmp_complete,
                    tf.constant(False))
    header_ok = pick(has_scan, size >= 33, size >= 13, bmp_supported & (size >= 54),
                     tf.constant(False))
    recognised = is_jpeg | is_png | is_gif | is_bmp
    jpeg_cut_in_header = is_jpeg & tf.logical_not(has_scan)

    problem = tf.where(size == 0, EMPTY,
              tf.where(tf.logical_not(recognised), NOT_AN_IMAGE,
              tf.where(jpeg_cut_in_header, TRUNCATED,
              tf.where(tf.logical_not(header_ok) | (h <= 0) | (w <= 0), BAD_HEADER,
              tf.where(h * w > tf.cast(max_pixels, tf.int64), TOO_LARGE,
              tf.where(complete, OK, TRUNCATED))))))
    return tf.cast(problem, tf.int32), h, w


def _decode_rgb(encoded):
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _blank():
    return tf.zeros([1, 1, 3], tf.uint8)


def decode_image(encoded, max_pixels):
    """Returns (image uint8 [H, W, 3], ok bool); never raises on a bad file."""
    problem, _, _ = inspect_image(encoded, max_pixels)
    ok = tf.equal(problem, OK)
    image = tf.cond(ok, lambda: _decode_rgb(encoded), _blank)
    return image, ok


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
    """(central min(H, W) square uint8 [s, s, 3], ok bool); never raises on a bad file.

    Equal to cropping `decode_image`'s output; JPEGs decode only the square's rows.
    """
    encoded = tf.convert_to_tensor(encoded, tf.string)
    problem, h, w = inspect_image(encoded, max_pixels)
    ok = tf.equal(problem, OK)
    window = tf.cast(center_square_window(h, w), tf.int32)
    is_jpeg = tf.strings.substr(encoded, 0, 3) == b"\xff\xd8\xff"

    def decode():
        def fused():
            # Chroma upsampling at a crop's edge reads pixels beyond it: decode a margin
            # of one 16-pixel MCU around the square so its pixels equal a full decode's.
            top = tf.maximum(window[0] - _MCU, 0)
            left = tf.maximum(window[1] - _MCU, 0)
            bottom = tf.minimum(window[0] + window[2] + _MCU, tf.cast(h, tf.int32))
            right = tf.minimum(window[1] + window[3] + _MCU, tf.cast(w, tf.int32))
            image = tf.io.decode_and_crop_jpeg(
                encoded, tf.stack([top, left, bottom - top, right - left]), channels=3)
            image = image[window[0] - top:window[0] - top + window[2],
                          window[1] - left:window[1] - left + window[3]]
            image.set_shape([None, None, 3])
            return image

        def full():
            return _decode_rgb(encoded)[window[0]:window[0] + window[2],
                                        window[1]:window[1] + window[3]]

        return tf.cond(is_jpeg, fused, full)

    return tf.cond(ok, decode, _blank), ok
