r"""`python -m tools.similarity_search` (`alexnet-similarity-search`): Figure 4 (right) of
the paper, for each query image the gallery images whose fc7 feature vectors are nearest in
Euclidean distance (§6.1).

    python -m tools.similarity_search --model=workdir/ --gallery=photos/ \
        --store=/tmp/fc7_photos --queries=q1.jpg,q2.jpg --out=figure4_right.png
    python -m tools.similarity_search --model=runs/digits --gallery_split=train \
        --store=/tmp/fc7_digits_train --query_split=validation --query_count=5

The gallery's features are computed once, in batches with a progress bar, into `--store`
(a memory-mapped float16 [N, 4096] matrix plus its keys, labels and a valid mask: 9.8 GB
for ImageNet's 1.2 M training images); an interrupted run resumes, a finished store is
reused. The search reads the matrix in chunks, so the gallery never has to fit in memory
(`alexnet_tf.figures.neighbours`). Exit codes (`alexnet_tf.command`): 0 written, 1
unexpected, 2 usage or bad input; also 2 when some query images could not be read: each
is reported (`skipped: ...`) and the figure shows the others.
"""
from __future__ import annotations

import sys

from alexnet_tf import command


def define_flags(flags):
    command.define_model_flags(flags)
    flags.DEFINE_list("queries", None, "Query image files and/or folders.")
    flags.DEFINE_string("query_split", None, "Or queries from a split of the model's dataset "
                        "(e.g. validation, against --gallery_split=train as in the paper).")
    flags.DEFINE_integer("query_count", 5, "Queries to take from --query_split.")
    flags.DEFINE_integer("query_start", 0, "Position in --query_split to start from.")
    flags.DEFINE_string("gallery", None, "A folder of gallery images (searched recursively; "
                        "a first-level folder named like a class gives the label).")
    flags.DEFINE_string("gallery_split", None, "Or a split ('train', 'validation') of the "
                        "model's dataset (its config's data.dataset / --data_dir).")
    flags.DEFINE_string("data_dir", None, "Overrides the config's data.data_dir.")
    flags.DEFINE_string("store", None, "Directory for the gallery's fc7 features "
                        "(created, resumed or reused).", required=True)
    flags.DEFINE_integer("k", 6, "Neighbours per query.")
    flags.DEFINE_string("out", "figure4_neighbours.png", "Where to write the PNG.")
    flags.DEFINE_integer("batch_size", 128, "Images per batch for the features.")
    flags.DEFINE_enum("dtype", "float16", ["float16", "float32"], "Stored feature precision.")
    flags.DEFINE_bool("exclude_self", True, "Drop a gallery image that is the query file.")


def main(args):
    from absl.flags import FLAGS
    from alexnet_tf.figures import neighbours
    result = neighbours.similarity_figure(
        FLAGS.model, FLAGS.queries, FLAGS.out, store_dir=FLAGS.store,
        gallery_folder=FLAGS.gallery, gallery_split=FLAGS.gallery_split,
        query_split=FLAGS.query_split, query_count=FLAGS.query_count,
        query_start=FLAGS.query_start, k=FLAGS.k, batch_size=FLAGS.batch_size,
        dtype=FLAGS.dtype, exclude_self=FLAGS.exclude_self, data_dir=FLAGS.data_dir,
        **command.model_arguments())
    for path, row in zip(result["queries"], result["neighbours"]):
        print(path + ": " + ", ".join(f"{key} ({d:.3g})" for key, d in row))
    return command.wrote([result["figure"]], result["skipped"])


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
