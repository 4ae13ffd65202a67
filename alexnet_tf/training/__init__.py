"""Training: the compiled step, the epoch loop, the run's state and its checkpoints, the
work directory, distribution strategies, the paper's optimizer and schedule, metrics, and
the logs a run leaves.

    from alexnet_tf.training import RunOptions, train_and_evaluate
    summary = train_and_evaluate(get_config("digits"), "runs/digits", RunOptions())
"""
_LOOP = ("train_and_evaluate", "RunOptions", "Trainer", "PRECISIONS", "NonFiniteLossError",
         "WorkDirError", "prepare_workdir", "PREEMPTED_EXIT_CODE", "NONFINITE_EXIT_CODE")


def __getattr__(name):  # the loop's names, without importing TensorFlow for the package
    if name not in _LOOP:
        raise AttributeError(f"module 'alexnet_tf.training' has no attribute {name!r}")
    from alexnet_tf.training import loop
    return getattr(loop, name)
