"""Chunked nearest-neighbour search and the on-disk feature store, against brute force."""
import json

import numpy as np
import pytest

from alexnet_tf.inference import feature_store, retrieval
from alexnet_tf.inference.feature_store import FeatureStore, FeatureStoreWriter


def _brute_force(queries, gallery, k):
    """NumPy reference: every distance, fully sorted."""
    diffs = queries.astype(np.float64)[:, None, :] - gallery.astype(np.float64)[None]
    distances = np.sqrt((diffs ** 2).sum(-1))
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(distances, order, 1)


class _CountingGallery:
    """A gallery that records how many rows each read touches."""

    def __init__(self, array):
        self.array, self.shape, self.ndim, self.largest_read = array, array.shape, array.ndim, 0

    def __getitem__(self, item):
        out = self.array[item]
        self.largest_read = max(self.largest_read, len(out))
        return out


@pytest.mark.parametrize("chunk_rows", [1, 37, 500, 10_000])
@pytest.mark.parametrize("k", [1, 5, 500])
def test_matches_brute_force(chunk_rows, k):
    rng = np.random.default_rng(chunk_rows + k)
    gallery = rng.normal(size=(500, 24)).astype(np.float32)
    queries = rng.normal(size=(9, 24)).astype(np.float32)
    indices, distances = retrieval.nearest_neighbours(queries, gallery, k, chunk_rows=chunk_rows)
    ref_indices, ref_distances = _brute_force(queries, gallery, k)
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(distances, ref_distances, rtol=1e-12)


def test_many_queries_across_query_blocks(monkeypatch):
    monkeypatch.setattr(retrieval, "QUERY_BLOCK", 4)
    rng = np.random.default_rng(3)
    gallery = rng.normal(size=(300, 16)).astype(np.float32)
    queries = rng.normal(size=(11, 16)).astype(np.float32)
    indices, _ = retrieval.nearest_neighbours(queries, gallery, 7, chunk_rows=64)
    np.testing.assert_array_equal(indices, _brute_force(queries, gallery, 7)[0])


def test_query_equal_to_a_gallery_row_finds_it_at_distance_zero():
    rng = np.random.default_rng(4)
    gallery = rng.normal(size=(200, 8)).astype(np.float32) * 50
    indices, distances = retrieval.nearest_neighbours(gallery[[17, 150]], gallery, 3,
                                                      chunk_rows=30)
    assert indices[:, 0].tolist() == [17, 150]
    assert np.all(distances[:, 0] == 0)


def test_reads_the_gallery_only_in_chunks():
    rng = np.random.default_rng(5)
    gallery = _CountingGallery(rng.normal(size=(1000, 8)).astype(np.float32))
    queries = rng.normal(size=(3, 8)).astype(np.float32)
    indices, _ = retrieval.nearest_neighbours(queries, gallery, 4, chunk_rows=100)
    assert gallery.largest_read <= 100
    np.testing.assert_array_equal(indices, _brute_force(queries, gallery.array, 4)[0])
    assert retrieval.chunk_rows_for(4096) * 4096 * 4 <= retrieval.DEFAULT_CHUNK_BYTES


def test_bad_requests_are_refused():
    gallery = np.zeros((10, 4), np.float32)
    with pytest.raises(ValueError, match="between 1 and the gallery size 10"):
        retrieval.nearest_neighbours(np.zeros((1, 4)), gallery, 11)
    with pytest.raises(ValueError, match="same D"):
        retrieval.nearest_neighbours(np.zeros((1, 5)), gallery, 1)


def _store(tmp_path, features, dtype="float16", **kwargs):
    keys = [f"images/{i:03d}.png" for i in range(len(features))]
    labels = np.arange(len(features)) % 4
    return keys, labels, FeatureStoreWriter(tmp_path / "store", keys,
                                            dim=features.shape[1], dtype=dtype, **kwargs)


def test_store_round_trip_and_search_over_its_memory_map(tmp_path):
    rng = np.random.default_rng(6)
    features = np.maximum(rng.normal(size=(130, 32)), 0).astype(np.float32)
    keys, labels, writer = _store(tmp_path, features, source={"model": "m.keras"})
    for start in range(0, 130, 50):
        writer.write(start, features[start:start + 50], labels=labels[start:start + 50])
    store = writer.close()
    assert store.complete and store.keys == keys and store.labels.tolist() == labels.tolist()
    assert isinstance(store.features, np.memmap) and store.features.dtype == np.float16
    np.testing.assert_array_equal(store.features, features.astype(np.float16))
    queries = rng.normal(size=(4, 32)).astype(np.float32)
    indices, _ = retrieval.nearest_neighbours(queries, store.features, 6, chunk_rows=16)
    np.testing.assert_array_equal(
        indices, _brute_force(queries, features.astype(np.float16), 6)[0])


def test_interrupted_store_resumes_and_keeps_written_rows(tmp_path):
    features = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    _, _, writer = _store(tmp_path, features, dtype="float32")
    writer.write(0, features[:15])
    del writer                                   # the run dies here
    partial = FeatureStore(tmp_path / "store")
    assert partial.written == 15 and not partial.complete
    assert partial.labels[:15].tolist() == [-1] * 15   # written without labels: unknown
    _, _, writer = _store(tmp_path, features, dtype="float32")
    assert writer.written == 15
    writer.write(15, features[15:])
    np.testing.assert_array_equal(writer.close().features, features)


def test_store_refuses_mismatches_and_overflow(tmp_path):
    features = np.ones((5, 3), np.float32)
    _, _, writer = _store(tmp_path, features)
    with pytest.raises(ValueError, match="in order"):
        writer.write(2, features[:1])
    with pytest.raises(ValueError, match="float32"):
        writer.write(0, features[:1] * 1e6)      # above float16's 65504
    assert json.loads((tmp_path / "store" / feature_store.META_FILE).read_text())["written"] == 0
    with pytest.raises(FileExistsError, match="another gallery"):
        FeatureStoreWriter(tmp_path / "store", ["other"], dim=3)
    with pytest.raises(FileNotFoundError, match="not a feature store"):
        FeatureStore(tmp_path / "nothing")
    with pytest.raises(ValueError, match="line break"):
        FeatureStoreWriter(tmp_path / "s2", ["a\nb"], dim=3)


def test_rows_of_unreadable_images_are_never_returned(tmp_path):
    rng = np.random.default_rng(7)
    features = rng.normal(size=(60, 8)).astype(np.float32)
    valid = np.ones(60, bool)
    valid[[3, 20, 41]] = False
    _, _, writer = _store(tmp_path, features, dtype="float32")
    writer.write(0, features[:30], valid=valid[:30])
    writer.write(30, features[30:], valid=valid[30:])
    store = writer.close()
    assert store.meta["skipped"] == 3 and not store.valid[20]
    assert np.all(store.features[20] == 0)
    queries = features[[3, 20, 41]]         # each would find itself first if it were valid
    indices, _ = retrieval.nearest_neighbours(queries, store.features, 5, valid=store.valid,
                                              chunk_rows=7)
    keep = np.flatnonzero(valid)
    expected = keep[_brute_force(queries, features[keep], 5)[0]]
    np.testing.assert_array_equal(indices, expected)
    with pytest.raises(ValueError, match="gallery size 57"):
        retrieval.nearest_neighbours(queries, store.features, 58, valid=store.valid)
