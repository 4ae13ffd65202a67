"""Figure 4 (right) of the paper: for each query image, the gallery images whose fc7
feature vectors are nearest in Euclidean distance (§6.1).

    similarity_figure("runs/digits", None, "figure4_right.png", store_dir="/tmp/fc7",
                      gallery_split="train", query_split="validation", query_count=5)

The gallery's features are computed once, in batches with a progress bar, into a feature
store (a memory-mapped float16 [N, 4096] matrix plus its keys, labels and a valid mask:
9.8 GB for ImageNet's 1.2 M training images); an interrupted run resumes, a finished store
is reused. The search reads the matrix in chunks, so the gallery never has to fit in memory.
"""
from __future__ import annotations

import pathlib

import numpy as np

from alexnet_tf.figures import plotting as figures

CELL = 150           # pixels per thumbnail cell (square image + two lines of text)
TEXT_HEIGHT = 34
MARGIN = 8


def render_neighbours(query_images, query_titles, neighbour_images, neighbour_titles,
                      neighbour_colours=None):
    """One row per query: the query, a gap, then its neighbours nearest first.

    Size: (k + 1) * CELL + 3 * MARGIN wide, rows * (CELL + TEXT_HEIGHT) + 2 * MARGIN + 24
    high (24: the heading).
    """
    rows, k = len(query_images), len(neighbour_images[0])
    width = (k + 1) * CELL + 3 * MARGIN
    height = rows * (CELL + TEXT_HEIGHT) + 2 * MARGIN + 24
    fig = figures.new_figure(width, height)
    fig.text(MARGIN / width, 1 - 6 / height, "query", va="top", ha="left",
             fontsize=figures.FONT_SIZE + 1, weight="bold")
    fig.text((2 * MARGIN + CELL) / width, 1 - 6 / height,
             f"{k} nearest gallery images by Euclidean distance of fc7 features (nearest first)",
             va="top", ha="left", fontsize=figures.FONT_SIZE + 1, weight="bold")
    for r in range(rows):
        top = MARGIN + 24 + r * (CELL + TEXT_HEIGHT)
        for c in range(k + 1):
            left = MARGIN + c * CELL + (MARGIN if c else 0)
            image = query_images[r] if c == 0 else neighbour_images[r][c - 1]
            title = query_titles[r] if c == 0 else neighbour_titles[r][c - 1]
            colour = "black"
            if c and neighbour_colours is not None:
                colour = neighbour_colours[r][c - 1]
            ax = fig.add_axes([(left + 4) / width, 1 - (top + CELL - 4) / height,
                               (CELL - 8) / width, (CELL - 8) / height])
            if image is None:
                ax.text(0.5, 0.5, "unreadable", ha="center", va="center",
                        fontsize=figures.FONT_SIZE)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                figures.show_image(ax, figures.to_display(image))
            fig.text((left + CELL / 2) / width, 1 - (top + CELL) / height, title,
                     ha="center", va="top", fontsize=figures.FONT_SIZE - 1, color=colour,
                     linespacing=1.1)
    return fig


def similarity_figure(model, queries, out, *, store_dir, gallery_folder=None,
                      gallery_split=None, query_split=None, query_count: int = 5,
                      query_start: int = 0, k: int = 6, batch_size: int = 128,
                      dtype: str = "float16", exclude_self: bool = True, progress: bool = True,
                      chunk_rows: int | None = None, preset=None, overrides=(),
                      statistics=None, class_names=None, data_dir=None) -> dict:
    """Builds (or reuses) the gallery's feature store, searches, draws the figure.

    Queries are image files/folders (`queries`) or the first `query_count` images of
    `query_split` of the model's dataset (e.g. validation images against the training set,
    as in the paper); `data_dir` overrides where that dataset is (its config's
    data.data_dir). Returns {"figure": path, "queries": [...], "skipped": [...],
    "neighbours": [[(key, distance), ...]]}."""
    from alexnet_tf.inference import gallery as gallery_lib, loader as inference, retrieval
    from alexnet_tf.figures import image_sets
    from alexnet_tf.network.model import fc7_features
    if (gallery_folder is None) == (gallery_split is None):
        raise ValueError("give exactly one gallery: a folder or a dataset split")
    if (queries is None) == (query_split is None):
        raise ValueError("give query images (files/folders) or a query split, not both")
    overrides = [*overrides, *([f"data.data_dir={data_dir}"] if data_dir else [])]
    classifier = inference.load_classifier(model, preset=preset, overrides=overrides,
                                           statistics=statistics, class_names=class_names)
    cfg, names = classifier.cfg, classifier.class_names.names
    if gallery_folder is not None:
        gallery = gallery_lib.folder_gallery(gallery_folder, classifier.class_names)
    else:
        gallery = gallery_lib.split_gallery(cfg, gallery_split)
    store = gallery_lib.build_feature_store(classifier, gallery, store_dir,
                                            batch_size=batch_size, dtype=dtype,
                                            progress=progress)
    if queries is not None:
        chosen = image_sets.from_files(classifier, queries)
        query_keys = [str(pathlib.Path(name).resolve()) for name in chosen.names]
        query_titles = [figures.shorten(pathlib.Path(name).name, 22) for name in chosen.names]
    else:
        chosen = image_sets.from_split(classifier, query_split, query_count, query_start)
        query_keys = chosen.names
        query_titles = [f"{name}\n{figures.shorten(names[label], 20)}"
                        for name, label in zip(chosen.names, chosen.labels)]
    if not chosen.patches:
        raise ValueError("no readable query images" +
                         (": " + "; ".join(chosen.skipped) if chosen.skipped else ""))
    paths, inputs, query_images, query_labels = (chosen.names, chosen.inputs, chosen.patches,
                                                 chosen.labels)
    query_features = fc7_features(classifier.model).predict(inputs, batch_size=batch_size,
                                                            verbose=0)
    extra = 1 if exclude_self else 0
    available = int(np.count_nonzero(store.valid))
    take = min(k + extra, available)
    indices, distances = retrieval.nearest_neighbours(
        query_features, store.features, take, valid=store.valid, chunk_rows=chunk_rows)
    neighbours = []
    for q, same in enumerate(query_keys):
        row = [(int(i), float(d)) for i, d in zip(indices[q], distances[q])
               if not (exclude_self and store.keys[i] == same)]
        neighbours.append(row[:k])
    k = min(len(row) for row in neighbours)
    neighbours = [row[:k] for row in neighbours]
    patches = gallery.patches([i for row in neighbours for i, _ in row], cfg)
    neighbour_images = [patches[r * k:(r + 1) * k] for r in range(len(paths))]

    def label_text(label):
        return figures.shorten(names[label], 20) if label >= 0 else "?"
    neighbour_titles = [[f"{label_text(int(store.labels[i]))}\nd = {d:.3g}" for i, d in row]
                        for row in neighbours]
    colours = [[_match_colour(query_labels[q], int(store.labels[i])) for i, _ in row]
               for q, row in enumerate(neighbours)]
    fig = render_neighbours(query_images, query_titles, neighbour_images, neighbour_titles,
                            colours)
    figure_path = figures.save_png(fig, out)
    return {"figure": str(figure_path), "queries": paths, "skipped": chosen.skipped,
            "neighbours": [[(store.keys[i], d) for i, d in row] for row in neighbours]}


def _match_colour(query_label: int, label: int) -> str:
    """Green: the query's class; red: another class; black: either is unknown."""
    if query_label < 0 or label < 0:
        return "black"
    return "#2ca02c" if query_label == label else "#d62728"
