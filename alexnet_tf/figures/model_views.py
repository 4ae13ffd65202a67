"""tf-keras-vis views of a trained AlexNet as figures: what its units respond to, where
it looks (`visualize`; the computations are in `saliency`).

- `activation_maximization_<layer>.png`: an input image that maximises each chosen filter
  of a conv layer (its mean activation);
- `activation_maximization_fc8.png`: the same for chosen classes (their fc8 logits);
- `attribution.png`: per input image, the image, its SmoothGrad saliency map and Grad-CAM
  and Grad-CAM++ heat maps (at conv5) overlaid, for the predicted class.
"""
from __future__ import annotations

import pathlib

import matplotlib
import numpy as np

from alexnet_tf.figures import plotting as figures

CELL = 150           # pixels per image cell
TITLE_HEIGHT = 36    # two lines of title above each image
HEADING_HEIGHT = 26


def grid_size(count: int, columns: int) -> tuple:
    """(width, height) in pixels of `render_grid` for `count` images."""
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    return columns * CELL, HEADING_HEIGHT + rows * (CELL + TITLE_HEIGHT)


def _place(fig, width, height, left, top, size):
    return fig.add_axes([left / width, 1 - (top + size) / height, size / width, size / height])


def render_grid(images, titles, heading: str, columns: int = 8):
    """Images in rows of `columns`, each under its title, with a heading."""
    count = len(images)
    columns = max(1, min(columns, count))
    width, height = grid_size(count, columns)
    fig = figures.new_figure(width, height)
    fig.text(6 / width, 1 - 6 / height, heading, va="top", ha="left",
             fontsize=figures.FONT_SIZE + 1, weight="bold")
    for n, (image, title) in enumerate(zip(images, titles)):
        row, column = divmod(n, columns)
        top = HEADING_HEIGHT + row * (CELL + TITLE_HEIGHT) + TITLE_HEIGHT
        ax = _place(fig, width, height, column * CELL + 5, top, CELL - 10)
        figures.show_image(ax, figures.to_display(image))
        fig.text((column * CELL + CELL / 2) / width, 1 - (top - 2) / height, title,
                 ha="center", va="bottom", fontsize=figures.FONT_SIZE - 1, linespacing=1.1)
    return fig


ATTRIBUTION_COLUMNS = ("input", "saliency (SmoothGrad)", "Grad-CAM", "Grad-CAM++")


def attribution_size(count: int) -> tuple:
    return len(ATTRIBUTION_COLUMNS) * CELL, HEADING_HEIGHT + count * (CELL + TITLE_HEIGHT)


def render_attribution(images, saliency_maps, cams, cams_plus, titles, layer: str):
    """One row per image: the image, saliency, Grad-CAM and Grad-CAM++ overlays."""
    width, height = attribution_size(len(images))
    fig = figures.new_figure(width, height)
    fig.text(6 / width, 1 - 6 / height, f"Where the model looks (predicted class; "
             f"Grad-CAM at {layer})", va="top", ha="left", fontsize=figures.FONT_SIZE + 1,
             weight="bold")
    jet = matplotlib.colormaps["jet"]
    for r, image in enumerate(images):
        image = figures.to_display(image)
        top = HEADING_HEIGHT + r * (CELL + TITLE_HEIGHT) + TITLE_HEIGHT
        panels = [image, saliency_maps[r],
                  _overlay(image, cams[r], jet), _overlay(image, cams_plus[r], jet)]
        for c, panel in enumerate(panels):
            ax = _place(fig, width, height, c * CELL + 5, top, CELL - 10)
            if c == 1:
                figures.show_image(ax, panel, cmap="inferno", vmin=0, vmax=1)
            else:
                figures.show_image(ax, panel)
            title = titles[r] if c == 0 else ATTRIBUTION_COLUMNS[c]
            fig.text((c * CELL + CELL / 2) / width, 1 - (top - 2) / height, title,
                     ha="center", va="bottom", fontsize=figures.FONT_SIZE - 1, linespacing=1.1)
    return fig


def _overlay(image, heat, colormap, alpha: float = 0.45) -> np.ndarray:
    coloured = colormap(np.clip(heat, 0, 1))[..., :3] * 255
    return np.round((1 - alpha) * image + alpha * coloured).astype(np.uint8)


def parse_units(text: str, limit: int, what: str) -> list:
    """"0,3,5-7" -> [0, 3, 5, 6, 7], each checked against `limit`."""
    units = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        low, _, high = part.partition("-")
        try:
            units.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            raise ValueError(f"{what}: {part!r} is not a number or range like 3-7") from None
    bad = [u for u in units if not 0 <= u < limit]
    if bad or not units:
        raise ValueError(f"{what} must lie in 0..{limit - 1}; got {text!r}")
    return units


# Regularisation of activation maximisation, picked by looking at the digits model: a conv
# filter's response has a far smaller gradient than a class logit, so it gets less.
CONV_REGULARIZATION = dict(total_variation=0.3, norm=0.1)
CLASS_REGULARIZATION = dict(total_variation=3.0, norm=1.0)
AUTO_FILTERS = 8


def visualize(model, out_dir, *, images=None, split=None, count: int = 4,
              conv_layer: str = "conv5", filters: str = "auto", classes: str | None = None,
              steps: int = 300, cam_layer: str = "conv5", grey: bool | None = None,
              preset=None, overrides=(), statistics=None, class_names=None) -> dict:
    """Writes the figures; returns {"figures": {"conv", "classes", "attribution" (with
    images): path}, "skipped": [what could not be read]}. `filters="auto"`: the 8 filters
    of `conv_layer` most active on the given images (without images: 0-7)."""
    from alexnet_tf.figures import image_sets, saliency as visualization
    from alexnet_tf.inference import loader as inference
    from alexnet_tf.data import preprocessing
    classifier = inference.load_classifier(model, preset=preset, overrides=overrides,
                                           statistics=statistics, class_names=class_names)
    cfg, names, net = classifier.cfg, classifier.class_names.names, classifier.model
    out_dir = pathlib.Path(out_dir)
    affine = visualization.AffinePreprocessing.from_function(
        lambda image: preprocessing.eval_preprocess(image, cfg, classifier.statistics).numpy(),
        cfg.model.image_size)
    if grey is None:                   # the embedded digits are grey scans
        grey = cfg.data.dataset == "digits"
    chosen = None
    if images is not None or split is not None:
        chosen = (image_sets.from_files(classifier, images) if images is not None
                  else image_sets.from_split(classifier, split, count))
        if not chosen.patches:
            raise ValueError("no readable images for the saliency and Grad-CAM views" +
                             (": " + "; ".join(chosen.skipped) if chosen.skipped else ""))
    written = {}

    channels = visualization.layer_output_model(net, conv_layer).output.shape[-1]
    if filters == "auto":
        conv_units = list(range(min(AUTO_FILTERS, channels)))
        if chosen is not None:
            responses = visualization.layer_output_model(net, conv_layer).predict(
                chosen.inputs, verbose=0).mean(axis=(0, 1, 2))
            conv_units = sorted(np.argsort(-responses)[:AUTO_FILTERS].tolist())
    else:
        conv_units = parse_units(filters, channels, f"--filters of {conv_layer}")
    pixels = visualization.activation_maximization(net, affine, conv_layer, conv_units,
                                                   steps=steps, grey=grey,
                                                   **CONV_REGULARIZATION)
    fig = render_grid(pixels, [f"{conv_layer} filter {u}" for u in conv_units],
                      f"Activation maximisation: {conv_layer} filters ({steps} steps)")
    written["conv"] = figures.save_png(fig, out_dir / f"activation_maximization_{conv_layer}.png")

    num_classes = len(names)
    class_units = parse_units(classes or f"0-{min(num_classes, 8) - 1}", num_classes,
                              "--classes")
    pixels = visualization.activation_maximization(net, affine, "fc8", class_units,
                                                   steps=steps, grey=grey,
                                                   **CLASS_REGULARIZATION)
    fig = render_grid(pixels, [f"{u}: {figures.shorten(names[u], 18)}" for u in class_units],
                      f"Activation maximisation: fc8 classes ({steps} steps)")
    written["classes"] = figures.save_png(fig, out_dir / "activation_maximization_fc8.png")

    if chosen is not None:
        patches, inputs, labels = chosen.patches, chosen.inputs, chosen.labels
        probabilities = classifier.probabilities(inputs)
        predicted = probabilities.argmax(axis=1)
        maps = visualization.saliency(net, inputs, predicted)
        cams = visualization.grad_cam(net, inputs, predicted, layer_name=cam_layer)
        cams_plus = visualization.grad_cam(net, inputs, predicted, layer_name=cam_layer,
                                           plus_plus=True)
        titles = [f"predicted {figures.shorten(names[p], 14)} "
                  f"({100 * probabilities[n, p]:.0f}%)\n"
                  + (f"true {figures.shorten(names[labels[n]], 18)}" if labels[n] >= 0
                     else "true label unknown") for n, p in enumerate(predicted)]
        fig = render_attribution(patches, maps, cams, cams_plus, titles, cam_layer)
        written["attribution"] = figures.save_png(fig, out_dir / "attribution.png")
    return {"figures": {name: str(path) for name, path in written.items()},
            "skipped": chosen.skipped if chosen is not None else []}
