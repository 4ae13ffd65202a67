"""Figure 4 (right) on a tiny model and tiny images: the feature store and the neighbours
against a brute-force NumPy search over fc7 computed directly, and the PNG's size."""
import json

import numpy as np
import pytest

import tools_support
from alexnet_tf.figures import neighbours
from alexnet_tf.inference import feature_store, loader as inference
from alexnet_tf.network.model import fc7_features


def _fc7_reference(work, paths):
    """fc7 of the in-memory model on the served preprocessing, computed directly."""
    classifier = inference.load_classifier(work)
    return fc7_features(classifier.model).predict(classifier.preprocess_files(paths), verbose=0)


@pytest.mark.slow
def test_similarity_search_store_neighbours_and_figure(figure_inputs, tmp_path):
    root, work, gallery, queries = figure_inputs
    store_dir = tmp_path / "store"
    result = neighbours.similarity_figure(
        work, [str(root / "queries")], tmp_path / "sim.png", store_dir=store_dir,
        gallery_folder=root / "gallery", k=4, batch_size=5, dtype="float32", progress=False)
    store = feature_store.FeatureStore(store_dir)
    assert store.complete and store.count == len(gallery) and store.keys == sorted(gallery)
    reference = _fc7_reference(work, store.keys)
    np.testing.assert_allclose(store.features, reference, rtol=1e-4, atol=1e-4)
    assert store.labels.tolist() == [tools_support.CLASS_LABELS.index(k.split("/")[-2])
                                     for k in store.keys]
    # the neighbours are a brute-force NumPy search over the reference features
    query_features = _fc7_reference(work, sorted(queries))
    distances = np.linalg.norm(query_features[:, None] - reference[None], axis=-1)
    expected = np.argsort(distances, axis=1)[:, :4]
    got = [[store.keys.index(key) for key, _ in row] for row in result["neighbours"]]
    assert got == expected.tolist()
    np.testing.assert_allclose([[d for _, d in row] for row in result["neighbours"]],
                               np.take_along_axis(distances, expected, 1), rtol=1e-4)
    width = 5 * neighbours.CELL + 3 * neighbours.MARGIN
    height = 2 * (neighbours.CELL + neighbours.TEXT_HEIGHT) + \
        2 * neighbours.MARGIN + 24
    pixels = tools_support.png_pixels(result["figure"])
    assert pixels.shape[:2] == (height, width)
    tools_support.assert_not_blank(pixels)


def test_similarity_search_excludes_the_query_itself_and_reuses_the_store(figure_inputs, tmp_path):
    root, work, gallery, _ = figure_inputs
    store_dir = tmp_path / "store"
    kwargs = dict(store_dir=store_dir, gallery_folder=root / "gallery", k=2, batch_size=4,
                  progress=False)
    first = neighbours.similarity_figure(work, [gallery[0]], tmp_path / "a.png",
                                                **kwargs)
    assert all(key != gallery[0] for key, _ in first["neighbours"][0])
    meta = json.loads((store_dir / feature_store.META_FILE).read_text())
    assert meta["dtype"] == "float16" and meta["written"] == len(gallery)
    features = np.load(store_dir / feature_store.FEATURES_FILE, mmap_mode="r+")
    features[7] = 1000.0                     # a mark: recomputing would overwrite it
    features.flush()
    del features
    again = neighbours.similarity_figure(work, [gallery[0]], tmp_path / "b.png",
                                                exclude_self=False, **kwargs)
    key, distance = again["neighbours"][0][0]
    assert key == str(sorted(gallery)[sorted(gallery).index(gallery[0])]) == gallery[0]
    assert distance < 0.01                   # itself, up to float16 rounding
    assert np.all(feature_store.FeatureStore(store_dir).features[7] == 1000.0)


def test_similarity_search_over_a_dataset_split(figure_inputs, tmp_path):
    """Validation images against the validation split itself: each query's own row is left
    out, and the patches drawn are those of the rows found."""
    _, work, _, _ = figure_inputs
    result = neighbours.similarity_figure(
        work, None, tmp_path / "split.png", store_dir=tmp_path / "store",
        gallery_split="validation", query_split="validation", query_count=2, k=3,
        batch_size=120, progress=False)
    store = feature_store.FeatureStore(tmp_path / "store")
    assert store.keys[:2] == ["validation:0", "validation:1"] and store.complete
    for query, row in zip(result["queries"], result["neighbours"]):
        assert len(row) == 3 and query not in [key for key, _ in row]
    from alexnet_tf.inference import gallery as gallery_lib
    classifier = inference.load_classifier(work)
    split = gallery_lib.split_gallery(classifier.cfg, "validation")
    rows = [int(key.split(":")[1]) for key, _ in result["neighbours"][0]]
    expected = [inference.display_patch(image, classifier.cfg)
                for n, (image, ok, _) in enumerate(split.decoded(0, 10 ** 8).take(max(rows) + 1))
                if n in rows]
    got = split.patches(sorted(rows), classifier.cfg)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    tools_support.assert_not_blank(tools_support.png_pixels(result["figure"]))
