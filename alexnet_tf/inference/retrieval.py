"""Exact k-nearest-neighbour search by Euclidean distance over a memory-mapped matrix.

    indices, distances = nearest_neighbours(queries, store.features, k=6)

The paper's Figure 4 (right) shows, for a test image, the training images whose fc7
vectors are closest in Euclidean distance (§6.1). The gallery (1.2 M x 4096 for ImageNet)
is read in chunks of rows; each chunk's squared distances come from one matrix product,
||q||^2 - 2 q.x + ||x||^2 in float32, and a running top-k is kept per query. The k
winners are then re-measured exactly (float64, directly from their rows) and sorted, so
the reported distances do not carry the product's rounding.
"""
from __future__ import annotations

import numpy as np

DEFAULT_CHUNK_BYTES = 256 << 20   # float32 bytes of gallery rows read at once
QUERY_BLOCK = 512                 # queries handled together (bounds the distance matrix)


def chunk_rows_for(dim: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    return max(1, chunk_bytes // (4 * max(1, dim)))


def nearest_neighbours(queries, gallery, k: int, *, rows: int | None = None, valid=None,
                       chunk_rows: int | None = None, progress=None):
    """The k gallery rows nearest to each query.

    Args:
      queries: [Q, D] array.
      gallery: [N, D] array or memory map (float16 or float32); only the first `rows`
        rows are searched (default all).
      valid: optional bool [N]; rows marked False (images that could not be read) are
        never returned.
      k: neighbours per query, 1 <= k <= number of valid rows searched.
      chunk_rows: gallery rows per chunk (default: 256 MB of float32).
      progress: optional callable(rows_done) called after each chunk.

    Returns:
      (indices int64 [Q, k], distances float64 [Q, k]), nearest first.
    """
    queries = np.asarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None]
    rows = gallery.shape[0] if rows is None else int(rows)
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"queries {queries.shape} and gallery {gallery.shape} must be "
                         "[Q, D] and [N, D] with the same D")
    searchable = rows if valid is None else int(np.count_nonzero(valid[:rows]))
    if not 1 <= k <= searchable:
        raise ValueError(f"k={k} must be between 1 and the gallery size {searchable}")
    chunk_rows = chunk_rows or chunk_rows_for(gallery.shape[1])
    num_queries = len(queries)
    best_d = np.full((num_queries, k), np.inf, dtype=np.float32)
    best_i = np.full((num_queries, k), -1, dtype=np.int64)
    query_norms = np.einsum("qd,qd->q", queries, queries)
    for start in range(0, rows, chunk_rows):
        stop = min(rows, start + chunk_rows)
        chunk = np.asarray(gallery[start:stop], dtype=np.float32)
        chunk_norms = np.einsum("nd,nd->n", chunk, chunk)
        if valid is not None:
            chunk_norms = np.where(np.asarray(valid[start:stop]), chunk_norms, np.inf)
        for q0 in range(0, num_queries, QUERY_BLOCK):
            q1 = min(num_queries, q0 + QUERY_BLOCK)
            d2 = query_norms[q0:q1, None] - 2 * (queries[q0:q1] @ chunk.T) + chunk_norms[None]
            take = min(k, stop - start)
            part = np.argpartition(d2, take - 1, axis=1)[:, :take]
            cand_d = np.concatenate([best_d[q0:q1], np.take_along_axis(d2, part, axis=1)], 1)
            cand_i = np.concatenate([best_i[q0:q1], part + start], axis=1)
            keep = np.argpartition(cand_d, k - 1, axis=1)[:, :k]
            best_d[q0:q1] = np.take_along_axis(cand_d, keep, axis=1)
            best_i[q0:q1] = np.take_along_axis(cand_i, keep, axis=1)
        if progress is not None:
            progress(stop)
    return _exact_order(queries, gallery, best_i)


def _exact_order(queries, gallery, indices):
    """Re-measures the winners in float64 and sorts them, nearest first (ties by index)."""
    distances = np.empty(indices.shape, dtype=np.float64)
    for q0 in range(0, len(queries), QUERY_BLOCK):
        block = indices[q0:q0 + QUERY_BLOCK]
        flat = np.unique(block)
        rows = np.asarray(gallery[flat], dtype=np.float64)   # reads only these rows
        diffs = rows[np.searchsorted(flat, block)] - queries[q0:q0 + QUERY_BLOCK, None, :]
        distances[q0:q0 + QUERY_BLOCK] = np.sqrt(np.einsum("qkd,qkd->qk", diffs, diffs))
    order = np.lexsort((indices, distances), axis=1)
    return np.take_along_axis(indices, order, 1), np.take_along_axis(distances, order, 1)
