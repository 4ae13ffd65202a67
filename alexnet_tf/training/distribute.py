"""Where training runs: one device, the paper's two towers, replicas, or several workers.

Modes (`--strategy`):
- `single`: one device (the first GPU, else the CPU).
- `towers`: the paper's model parallelism (§3.2) on two devices: half of every layer's
  output channels and of fc6/fc7's neurons on each (`build_alexnet(devices=...)`).
- `mirrored`: data-parallel replicas over the local devices (`MirroredStrategy`).
- `towers_mirrored`: two `MirroredStrategy` replicas, each spanning a pair of devices
  with the channel halves pinned within its pair (4 devices): the paper's card read
  literally as "two replicas, channel groups pinned to each GPU".
- `multi_worker`: `MultiWorkerMirroredStrategy` configured by `TF_CONFIG`; each worker
  reads its own shard; only the chief writes.
- `auto` (default): `towers` when two GPUs are present, else `single`.

`split_cpu(n)` makes n logical CPU devices so every mode runs, and is tested, without
GPUs. It must run before TensorFlow touches a device.
"""
from __future__ import annotations

import dataclasses
import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "single", "towers", "mirrored", "towers_mirrored", "multi_worker")
DEVICE_SPLIT_LAYERS = ("GroupedConv2D", "LocalResponseNormalization", "PartitionedDense",
                       "TowerMaxPooling2D")


class DistributionError(ValueError):
    """A strategy that cannot run on this machine as asked."""


def split_cpu(count: int):
    """Splits the physical CPU into `count` logical devices (before TF initialises)."""
    if count < 1:
        raise DistributionError(f"--cpu_devices must be >= 1, got {count}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError:
        present = len(tf.config.list_logical_devices("CPU"))
        if present != count:
            raise DistributionError(
                f"TensorFlow is already initialised with {present} CPU device(s); "
                f"split the CPU before any other TensorFlow call") from None


@dataclasses.dataclass
class Distribution:
    """A strategy and the device layout the model needs under it."""
    name: str
    strategy: tf.distribute.Strategy
    tower_devices: list | None = None          # `towers`: the model's device pair
    replica_tower_devices: list | None = None  # `towers_mirrored`: a pair per replica
    is_chief: bool = True
    num_workers: int = 1
    worker_index: int = 0

    @property
    def num_replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    def describe(self) -> str:
        text = f"{self.name}: {self.num_replicas} replica(s)"
        if self.tower_devices:
            text += f", towers on {self.tower_devices}"
        if self.replica_tower_devices:
            text += f", tower pairs {self.replica_tower_devices}"
        if self.num_workers > 1:
            text += f", worker {self.worker_index} of {self.num_workers}"
        return text


def _compute_devices():
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    return gpus if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]


def make_distribution(name: str) -> Distribution:
    if name not in STRATEGIES:
        raise DistributionError(f"unknown strategy {name!r}; choose one of {list(STRATEGIES)}")
    if name == "multi_worker":
        return _multi_worker()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    devices = _compute_devices()
    if name == "auto":
        name = "towers" if len(gpus) >= 2 else "single"
    if name == "single":
        return Distribution("single", tf.distribute.OneDeviceStrategy(devices[0]))
    if name == "towers":
        _need(devices, 2, name)
        return Distribution("towers", tf.distribute.OneDeviceStrategy(devices[0]),
                            tower_devices=devices[:2])
    if name == "mirrored":
        return Distribution("mirrored", _mirrored(devices))
    _need(devices, 4, name)
    pairs = [devices[0:2], devices[2:4]]
    return Distribution("towers_mirrored", _mirrored([pair[0] for pair in pairs]),
                        replica_tower_devices=pairs)


def _mirrored(devices):
    # On CPUs NCCL does not apply; reducing on one device is what MirroredStrategy would
    # pick itself, said here so the choice is visible.
    ops = None if "GPU" in devices[0].upper() else tf.distribute.ReductionToOneDevice()
    return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=ops)


def _need(devices, count, name):
    if len(devices) < count:
        raise DistributionError(
            f"--strategy={name} needs {count} devices, this machine has {len(devices)} "
            f"({', '.join(devices) or 'none'}); with fewer GPUs, split the CPU with "
            f"--cpu_devices={count}")


def _multi_worker() -> Distribution:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise DistributionError("--strategy=multi_worker needs TF_CONFIG (cluster and task) "
                                "in the environment of every worker")
    try:
        tf_config = json.loads(raw)
        task = tf_config["task"]
        workers = tf_config["cluster"]["worker"]
    except (ValueError, KeyError, TypeError) as e:
        raise DistributionError(f"TF_CONFIG is not valid ({e}); expected "
                                '{"cluster": {"worker": [...]}, "task": {"type": "worker", '
                                '"index": i}}') from None
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    index = int(task.get("index", 0))
    chief = task.get("type") == "chief" or (
        task.get("type") == "worker" and index == 0 and "chief" not in tf_config["cluster"])
    return Distribution("multi_worker", strategy, is_chief=chief, num_workers=len(workers),
                        worker_index=index)


def replica_index() -> int:
    """The replica being traced (0 outside a replica context)."""
    context = tf.distribute.get_replica_context()
    if context is None:
        return 0
    return int(tf.get_static_value(context.replica_id_in_sync_group) or 0)


def pin_towers(model, devices):
    """Points every device-split layer of `model` at `devices` (the current replica's pair).

    Called while a replica's step is traced: MirroredStrategy traces one replica at a
    time, and placement is fixed into the traced graph, so each replica's ops land on
    its own pair. Weights are untouched."""
    for layer in model.layers:
        if type(layer).__name__ in DEVICE_SPLIT_LAYERS:
            layer.devices = list(devices)
