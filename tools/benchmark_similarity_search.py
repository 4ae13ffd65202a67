r"""`python -m tools.benchmark_similarity_search` (`alexnet-benchmark-similarity-search`):
chunked exact k-NN over a memory-mapped feature store of ImageNet's size.

    python -m tools.benchmark_similarity_search --rows=1200000 --dim=4096 --dir=/tmp/bench

Writes a synthetic store (non-negative random float16 rows, like fc7 after its ReLU) of
`--rows` x `--dim` once, then searches it for `--queries` queries and prints the time, the
gallery rows per second and the peak private (anonymous) memory of the process, which
stays near one chunk however large the store is: the matrix is read through the page
cache, never copied into the process as a whole.
"""
from __future__ import annotations

import pathlib
import sys
import time

import numpy as np

from alexnet_tf import command
from alexnet_tf.inference import retrieval
from alexnet_tf.inference.feature_store import FeatureStore, FeatureStoreWriter


def private_memory_mb() -> float:
    """RssAnon of this process in MB (Linux): memory that is not a mapped file's pages."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def synthetic_store(directory, rows: int, dim: int, dtype: str, batch: int = 16384):
    directory = pathlib.Path(directory)
    try:
        store = FeatureStore(directory)
        if store.complete and (store.count, store.dim) == (rows, dim):
            return store
    except FileNotFoundError:
        pass
    writer = FeatureStoreWriter(directory, (f"synthetic:{i}" for i in range(rows)), dim=dim,
                                dtype=dtype, source={"synthetic": True}, overwrite=True)
    rng = np.random.default_rng(0)
    for start in range(writer.written, rows, batch):
        n = min(batch, rows - start)
        writer.write(start, np.maximum(rng.standard_normal((n, dim), np.float32), 0))
    return writer.close()


def measure(directory, rows, dim, queries, k, dtype):
    started = time.perf_counter()
    store = synthetic_store(directory, rows, dim, dtype)
    print(f"store: {rows:,} x {dim} {dtype} ({store.features.nbytes / 2**30:.1f} GiB) ready in "
          f"{time.perf_counter() - started:.0f} s")
    query_rows = np.random.default_rng(1).integers(0, rows, size=queries)
    query = np.asarray(store.features[np.sort(query_rows)], np.float32)
    peak = [private_memory_mb()]
    started = time.perf_counter()
    indices, distances = retrieval.nearest_neighbours(
        query, store.features, k, valid=store.valid,
        progress=lambda done: peak.append(private_memory_mb()))
    seconds = time.perf_counter() - started
    found_self = np.mean(indices[:, 0] == np.sort(query_rows))
    print(f"search: {queries} queries, k={k}: {seconds:.1f} s, {rows / seconds:,.0f} gallery "
          f"rows/s, peak private memory {max(peak):,.0f} MB "
          f"(chunk: {retrieval.chunk_rows_for(dim):,} rows); each query found itself first: "
          f"{100 * found_self:.0f}%")


def define_flags(flags):
    flags.DEFINE_string("dir", "/tmp/alexnet_tf_knn_bench", "Where the synthetic store lives.")
    flags.DEFINE_integer("rows", 1_200_000, "Gallery rows (ImageNet train: 1,281,167).")
    flags.DEFINE_integer("dim", 4096, "Feature size (fc7: 4096).")
    flags.DEFINE_integer("queries", 16, "Queries searched together.")
    flags.DEFINE_integer("k", 6, "Neighbours per query.")
    flags.DEFINE_enum("dtype", "float16", ["float16", "float32"], "Stored precision.")


def main(args):
    from absl.flags import FLAGS
    measure(FLAGS.dir, FLAGS.rows, FLAGS.dim, FLAGS.queries, FLAGS.k, FLAGS.dtype)


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
