"""Matplotlib plumbing shared by the figure tools: exact pixel sizes, safe saving.

Every figure is drawn on the Agg backend (no display needed) at `DPI` dots per inch and
saved without `bbox_inches="tight"`, so a figure built as `new_figure(width_px, height_px)`
becomes a PNG of exactly that many pixels: the tests and the README can state the size.
"""
from __future__ import annotations

import os
import pathlib
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 100
FONT_SIZE = 9


def new_figure(width_px: int, height_px: int):
    """A blank figure that saves as width_px x height_px pixels."""
    fig = plt.figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    fig.patch.set_facecolor("white")
    return fig


def save_png(fig, path) -> pathlib.Path:
    """Writes the figure as a PNG (whole or not at all: `_write_whole`) and closes it."""
    try:
        return _write_whole(path, lambda temporary: fig.savefig(
            temporary, dpi=DPI, format="png", facecolor=fig.get_facecolor()))
    finally:
        plt.close(fig)


def save_image(image: np.ndarray, path) -> pathlib.Path:
    """Writes a uint8 (H, W, 3) array as a PNG of exactly that size."""
    from PIL import Image
    return _write_whole(path, lambda temporary: Image.fromarray(
        np.asarray(image, dtype=np.uint8)).save(temporary, format="PNG"))


def _write_whole(path, write) -> pathlib.Path:
    """`write(temporary path)`, then the file renamed into place: readers see the previous
    file or the new one, never half of one. A failure (a full disk) leaves the previous file
    and no temporary file, and its OSError names `path`. The file gets the mode any new file
    gets (the umask's), not a temporary file's private one."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException as e:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(e, OSError):
            e.filename = str(path)
        raise
    return path


def show_image(ax, image, title: str | None = None, colour: str = "black", **imshow_kwargs):
    """An image panel without ticks, optionally titled."""
    ax.imshow(image, **imshow_kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=FONT_SIZE, color=colour)


def shorten(text: str, width: int) -> str:
    """`text`, cut to `width` characters with an ellipsis."""
    text = str(text)
    return text if len(text) <= width else text[:max(1, width - 1)] + "\u2026"


def to_display(image) -> np.ndarray:
    """Any (H, W, 3) or (H, W) image as uint8 RGB for imshow."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.dtype != np.uint8:
        image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return image
