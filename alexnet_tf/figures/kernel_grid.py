"""First-layer kernels as one picture: the paper's Figure 3 (§6.1).

    grid = kernel_grid(model.get_layer("conv1").kernel.numpy())   # uint8 RGB (H, W, 3)

The 96 conv1 kernels (11x11x3) are drawn as a grid, each contrast-normalised on its own,
the output channels cut into `groups` equal halves shown one above the other with a label:
in the paper the first 48 kernels lived on GPU 1 and came out largely colour-agnostic, the
other 48 on GPU 2 largely colour-specific. Training writes this grid to TensorBoard every
epoch and `tools/figure_kernels.py` saves it as a PNG, so both show the same picture.

Layout (all in pixels; `layout = grid_layout(...)` gives the numbers): every kernel weight
becomes a `scale` x `scale` square; cells are `spacing` apart and `margin` from the edge;
group g is a band made of a `header_height` label strip and `rows_per_group` rows of
`columns` cells, kernel i of the group in row i // columns, column i % columns; bands are
`group_gap` apart. Kernel i of group g is output channel g * (N / groups) + i.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

BACKGROUND = 255            # white gaps, as in the paper's figure
TEXT_COLOUR = (0, 0, 0)
_WIDTH_TO_HEIGHT = 16 / 3   # Figure 3: each GPU's 48 kernels in 3 rows of 16


@dataclasses.dataclass(frozen=True)
class GridLayout:
    kernel_height: int
    kernel_width: int
    groups: int
    per_group: int
    columns: int
    rows_per_group: int
    scale: int
    spacing: int
    margin: int
    header_height: int
    group_gap: int

    @property
    def cell_height(self) -> int:
        return self.kernel_height * self.scale

    @property
    def cell_width(self) -> int:
        return self.kernel_width * self.scale

    @property
    def band_height(self) -> int:
        rows = self.rows_per_group
        return self.header_height + rows * self.cell_height + (rows - 1) * self.spacing

    @property
    def height(self) -> int:
        return (2 * self.margin + self.groups * self.band_height
                + (self.groups - 1) * self.group_gap)

    @property
    def width(self) -> int:
        return 2 * self.margin + self.columns * self.cell_width + (self.columns - 1) * self.spacing

    def band_top(self, group: int) -> int:
        return self.margin + group * (self.band_height + self.group_gap)

    def cell_origin(self, group: int, index: int) -> tuple:
        """(top, left) pixel of kernel `index` (0-based, within its group) of `group`."""
        row, column = divmod(index, self.columns)
        top = self.band_top(group) + self.header_height + row * (self.cell_height + self.spacing)
        left = self.margin + column * (self.cell_width + self.spacing)
        return top, left


def grid_layout(kernel_shape, groups: int = 2, *, columns: int | None = None, scale: int = 4,
                spacing: int = 2, labels: bool = True, font_size: int = 14) -> GridLayout:
    """The geometry `kernel_grid` uses for a kernel of `kernel_shape` (kh, kw, c, N)."""
    if len(kernel_shape) != 4:
        raise ValueError(f"expected a conv kernel (height, width, channels, kernels), "
                         f"got shape {tuple(kernel_shape)}")
    kernel_height, kernel_width, _, count = (int(d) for d in kernel_shape)
    if groups < 1 or count % groups:
        raise ValueError(f"{count} kernels cannot be cut into {groups} equal groups")
    if scale < 1 or spacing < 0:
        raise ValueError(f"scale must be >= 1 and spacing >= 0, got {scale} and {spacing}")
    per_group = count // groups
    if columns is None:
        columns = min(per_group, max(1, math.ceil(math.sqrt(per_group * _WIDTH_TO_HEIGHT))))
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    return GridLayout(
        kernel_height=kernel_height, kernel_width=kernel_width, groups=groups,
        per_group=per_group, columns=columns, rows_per_group=math.ceil(per_group / columns),
        scale=scale, spacing=spacing, margin=spacing,
        header_height=font_size + 8 if labels else 0,
        group_gap=3 * spacing + (scale if groups > 1 else 0),
    )


def normalize_kernels(kernel) -> np.ndarray:
    """Each kernel (last axis) mapped to [0, 1] by its own min and max over all its
    weights and channels, so colours keep their relative strength; a constant kernel
    becomes mid-grey."""
    kernel = np.asarray(kernel, dtype=np.float64)
    low = kernel.min(axis=(0, 1, 2), keepdims=True)
    span = kernel.max(axis=(0, 1, 2), keepdims=True) - low
    flat = span == 0
    return np.where(flat, 0.5, (kernel - low) / np.where(flat, 1.0, span))


def default_group_labels(count: int, groups: int) -> list:
    per_group = count // groups
    if groups == 1:
        return [f"kernels 0-{count - 1}"]
    return [f"GPU {g + 1}: kernels {g * per_group}-{(g + 1) * per_group - 1}"
            for g in range(groups)]


def kernel_grid(kernel, groups: int = 2, *, columns: int | None = None, scale: int = 4,
                spacing: int = 2, labels=True, font_size: int = 14) -> np.ndarray:
    """The kernels of a first conv layer as one uint8 RGB image (H, W, 3).

    Args:
      kernel: (kh, kw, channels, N) weights, channels 3 (RGB) or 1 (drawn grey).
      groups: how many equal halves of the N output channels to draw as separate bands
        (2: the paper's two GPUs).
      columns: kernels per row (default: 16 for 48 kernels per group, as in Figure 3).
      scale: pixels per weight; spacing: pixels between cells.
      labels: True for default group labels, False for none, or one string per group.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[2] not in (1, 3):
        raise ValueError(f"kernel_grid draws first-layer kernels of shape "
                         f"(height, width, 3 or 1 channels, kernels); got {kernel.shape}")
    if not np.all(np.isfinite(kernel)):
        raise ValueError("kernel holds NaN or infinite weights")
    show_labels = labels is not False and labels is not None
    layout = grid_layout(kernel.shape, groups, columns=columns, scale=scale, spacing=spacing,
                         labels=show_labels, font_size=font_size)
    pixels = np.round(normalize_kernels(kernel) * 255).astype(np.uint8)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    pixels = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
    image = np.full((layout.height, layout.width, 3), BACKGROUND, dtype=np.uint8)
    for g in range(groups):
        for i in range(layout.per_group):
            top, left = layout.cell_origin(g, i)
            image[top:top + layout.cell_height, left:left + layout.cell_width] = (
                pixels[..., g * layout.per_group + i])
    if show_labels:
        texts = default_group_labels(kernel.shape[3], groups) if labels is True else list(labels)
        if len(texts) != groups:
            raise ValueError(f"need one label per group ({groups}), got {len(texts)}")
        image = _draw_labels(image, layout, texts, font_size)
    return image


def _draw_labels(image, layout: GridLayout, texts, font_size: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont  # Pillow comes with tf-keras-vis
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    room = layout.width - 2 * layout.margin
    for g, text in enumerate(texts):
        size = font_size
        font = ImageFont.load_default(size=size)
        while size > 6 and font.getlength(text) > room:   # narrow grids: shrink, never clip
            size -= 1
            font = ImageFont.load_default(size=size)
        draw.text((layout.margin, layout.band_top(g) + 2), text, fill=TEXT_COLOUR, font=font)
    return np.asarray(canvas, dtype=np.uint8).copy()
