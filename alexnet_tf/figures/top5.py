"""Figure 4 (left) of the paper: images with the model's five most probable labels.

    top5_figure("runs/digits", "figure4_left.png", split="validation", count=8)
    top5_figure("workdir/", "figure4_left.png", images=["photos/"])

Under each image: its correct label (when known) and one bar per top-5 class, as long as
its probability; the correct class's bar is red, as in the paper, and its name bold.
Images come from files (a folder's first-level sub-folder named like a class gives the
correct label) or from a split of the model's dataset (labels known). The model sees
exactly the serving preprocessing; the picture shows that centre patch.
"""
from __future__ import annotations

import numpy as np

from alexnet_tf.figures import plotting as figures

CELL_WIDTH = 230
IMAGE_SIZE = 160
LABEL_HEIGHT = 22
BAR_HEIGHT = 18
MARGIN = 8
CORRECT_COLOUR = "#d62728"
OTHER_COLOUR = "#9ecae1"


def cell_height(k: int) -> int:
    return MARGIN + IMAGE_SIZE + LABEL_HEIGHT + k * BAR_HEIGHT + MARGIN


def figure_size(count: int, k: int, columns: int) -> tuple:
    """(width, height) in pixels of the figure for `count` images."""
    rows = -(-count // columns)
    return columns * CELL_WIDTH, rows * cell_height(k)


def render_top5(images, top_indices, top_probabilities, class_names, true_labels=None,
                columns: int = 4):
    """The figure: `images` uint8 [S, S, 3] each; `top_indices`/`top_probabilities` [B, k]
    most probable first; `true_labels` [B] (-1 or None: unknown)."""
    count, k = np.shape(top_indices)
    columns = max(1, min(columns, count))
    width, height = figure_size(count, k, columns)
    fig = figures.new_figure(width, height)
    true_labels = [-1] * count if true_labels is None else [
        -1 if t is None else int(t) for t in true_labels]
    for n in range(count):
        row, column = divmod(n, columns)
        left, top = column * CELL_WIDTH, row * cell_height(k)
        image_left = left + (CELL_WIDTH - IMAGE_SIZE) / 2
        ax = fig.add_axes([image_left / width, 1 - (top + MARGIN + IMAGE_SIZE) / height,
                           IMAGE_SIZE / width, IMAGE_SIZE / height])
        figures.show_image(ax, figures.to_display(images[n]))
        truth = true_labels[n]
        fig.text((left + CELL_WIDTH / 2) / width,
                 1 - (top + MARGIN + IMAGE_SIZE + 3) / height,
                 figures.shorten(class_names[truth], 30) if truth >= 0 else "(label unknown)",
                 ha="center", va="top", fontsize=figures.FONT_SIZE, weight="bold")
        bars_top = top + MARGIN + IMAGE_SIZE + LABEL_HEIGHT
        bars = fig.add_axes([(left + MARGIN) / width, 1 - (bars_top + k * BAR_HEIGHT) / height,
                             (CELL_WIDTH - 2 * MARGIN) / width, k * BAR_HEIGHT / height])
        indices, probabilities = top_indices[n], top_probabilities[n]
        colours = [CORRECT_COLOUR if int(i) == truth else OTHER_COLOUR for i in indices]
        positions = np.arange(k)
        bars.barh(positions, probabilities, height=0.8, color=colours)
        for y, i, p in zip(positions, indices, probabilities):
            style = dict(va="center", fontsize=figures.FONT_SIZE - 1)
            if int(i) == truth:          # marked in words too: a 0.0% bar has no length
                style.update(weight="bold", color="#7f0000" if p > 0.05 else CORRECT_COLOUR)
            bars.text(0.01, y, f"{figures.shorten(class_names[int(i)], 26)}", ha="left",
                      **style)
            bars.text(0.99, y, f"{100 * p:.1f}%", ha="right", **style)
        bars.set_xlim(0, 1)
        bars.set_ylim(k - 0.5, -0.5)
        bars.set_xticks([])
        bars.set_yticks([])
        for side in ("top", "right", "left"):
            bars.spines[side].set_visible(False)
    return fig


def top5_figure(model, out, *, images=None, split=None, count: int = 8, start: int = 0,
                k: int = 5, columns: int = 4, preset=None, overrides=(), statistics=None,
                class_names=None) -> dict:
    """Classifies the images and draws the figure; returns what it drew. `model` is a
    model reference or a loaded model (`inference.loader`, which takes the rest)."""
    from alexnet_tf.figures import image_sets
    from alexnet_tf.inference import loader as inference
    if (images is None) == (split is None):
        raise ValueError("give images (files/folders) or a dataset split, not both")
    classifier = inference.load_classifier(model, preset=preset, overrides=overrides,
                                           statistics=statistics, class_names=class_names)
    if images is not None:
        chosen = image_sets.from_files(classifier, images, limit=count)
    else:
        chosen = image_sets.from_split(classifier, split, count, start)
    patches, inputs, labels, skipped = (chosen.patches, chosen.inputs, chosen.labels,
                                        chosen.skipped)
    if not patches:
        raise ValueError("no readable images to show" +
                         (": " + "; ".join(skipped) if skipped else ""))
    indices, probabilities = inference.top_k(classifier.probabilities(inputs), k)
    fig = render_top5(patches, indices, probabilities, classifier.class_names.names, labels,
                      columns=columns)
    return {"figure": str(figures.save_png(fig, out)), "top": indices.tolist(),
            "probabilities": probabilities.tolist(), "labels": labels, "skipped": skipped}
