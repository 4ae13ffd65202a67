"""Command-line tools: the paper's figures, dataset statistics and records, benchmarks.

The figure commands call `alexnet_tf.figures`; the data commands `alexnet_tf.data`. The
benchmarks (`benchmark`, `benchmark_input`, `benchmark_similarity_search`, `profile_step`)
are maintainers' tools and keep their measuring code here.

Installed, this folder is `alexnet_tf.tools`; in a checkout `python -m tools.<name>` works
too, as an alias of the same modules (`alexnet_tf._imports`)."""
if __name__ != "alexnet_tf.tools":
    import alexnet_tf._imports

    alexnet_tf._imports.alias_top_level(__name__)
