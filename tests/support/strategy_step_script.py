"""Run by tests/test_distribute.py in a fresh process (the CPU split must come first).

    python strategy_step_script.py <cpu_devices> <workdir> <mode> [<mode> ...]

Trains each mode for two steps on the same fixed batches from the same initial weights
(dropout off) and prints one JSON object: the weights after the steps (as lists), the
devices of each replica's ops, whether each mode's checkpoint restores bitwise into
the next mode's model, and how many steps a call runs when the data ends inside it.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from alexnet_tf.training import distribute  # noqa: E402

distribute.split_cpu(int(sys.argv[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from alexnet_tf import config  # noqa: E402
from alexnet_tf.training import checkpoints as checkpointing  # noqa: E402
from alexnet_tf.training.loop import RunOptions, Trainer  # noqa: E402

STEPS = 2


class FixedBatches:
    """Four fixed batches of 16 random images; the order depends on nothing."""
    num_classes, class_names = 10, [str(i) for i in range(10)]
    train_examples, validation_examples = 64, 0

    def __init__(self, size):
        rng = np.random.RandomState(0)
        self.images = rng.uniform(-1, 1, (64, size, size, 3)).astype("float32")
        self.labels = rng.randint(0, 10, 64).astype("int32")

    def train(self, *, seed, epoch, batch_size, shard=None):
        return tf.data.Dataset.from_tensor_slices((self.images, self.labels)).batch(
            batch_size, drop_remainder=True)

    def statistics(self):
        return None


def op_devices(trainer):
    """{replica: sorted devices} of the Conv2D/MaxPool/LRN/MatMul ops of the step."""
    graph = trainer.train_step.run._list_all_concrete_functions()[0].graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    devices = {}
    for node in nodes:
        if node.op in ("Conv2D", "MaxPool", "LRN", "MatMul") and node.device:
            replica = 1 if "replica_1" in node.name else 0
            devices.setdefault(replica, set()).add(node.device.split("/")[-1])
    return {str(k): sorted(v) for k, v in devices.items()}


def main():
    workdir, modes = sys.argv[2], sys.argv[3:]
    cfg = config.override(config.get_config("tiny"),
                          ["model.dropout_rate=0.0", "train.batch_size=16"])
    data = FixedBatches(cfg.model.image_size)
    out = {"weights": {}, "devices": {}, "replicas": {}, "restored_bitwise": {}}
    trainers = {}
    for mode in modes:
        trainer = Trainer(cfg, os.path.join(workdir, mode), RunOptions(strategy=mode), data=data)
        iterator = iter(trainer.train_dataset(0, 0))
        trainer.train_step.run(iterator, tf.constant(STEPS, tf.int64))
        trainer.save()
        trainers[mode] = trainer
        out["weights"][mode] = [v.numpy().tolist() for v in trainer.model.trainable_variables]
        out["devices"][mode] = op_devices(trainer)
        out["replicas"][mode] = trainer.distribution.num_replicas
    for source, target in zip(modes, modes[1:] + modes[:1]):
        model = checkpointing.load_model(trainers[source].paths.checkpoints /
                                         f"ckpt-{STEPS}", cfg=cfg)
        fresh = Trainer(cfg, os.path.join(workdir, f"{source}_into_{target}"),
                        RunOptions(strategy=target), data=data)
        fresh.saver.checkpoint.read(str(trainers[source].paths.checkpoints / f"ckpt-{STEPS}"))
        same = all(np.array_equal(a.numpy(), b.numpy()) for a, b in
                   zip(trainers[source].model.variables, fresh.model.variables))
        same = same and all(np.array_equal(a.numpy(), b.numpy()) for a, b in
                            zip(trainers[source].model.variables, model.variables))
        out["restored_bitwise"][f"{source}->{target}"] = bool(same)
    out["steps_until_data_end"] = {mode: steps_until_the_data_ends(trainers[mode], data)
                                   for mode in modes}
    print("RESULT " + json.dumps(out))


def steps_until_the_data_ends(trainer, data):
    """One call asked for 10 steps over 56 images at global batch 16: the steps it ran.
    (Under 2 replicas the 7th batch of 8 leaves one replica without a batch.)"""
    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(16)
        images = tf.data.Dataset.from_tensor_slices((data.images[:56], data.labels[:56]))
        return images.batch(per_replica, drop_remainder=True).filter(lambda *batch: True)

    dataset = trainer.distribution.strategy.distribute_datasets_from_function(dataset_fn)
    _, ran = trainer.train_step.run(iter(dataset), tf.constant(10, tf.int64))
    return int(ran)


if __name__ == "__main__":
    main()
