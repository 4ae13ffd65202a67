"""Train, evaluate and save into a work directory: the library behind `alexnet_tf.train`.

    summary = train_and_evaluate(get_config("digits"), "runs/digits", RunOptions())

Resume: the checkpoint holds the model (incl. dropout RNG states), the optimizer, the
plateau schedule, the global step, the epoch and the step within it, and the history.
The training data of an epoch is a pure function of (seed, epoch), so a restart rebuilds
the epoch's dataset and skips the batches already done. Single-device on CPU with
`deterministic=True` the final weights are bitwise those of an uninterrupted run.

Exit paths: SIGTERM/SIGINT -> checkpoint, then `status="preempted"` (the command exits
with PREEMPTED_EXIT_CODE); a NaN/Inf loss -> `NonFiniteLossError` before anything is
saved, so the last checkpoint and model.keras stay the last good ones.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import signal
import time

import keras
import numpy as np
import tensorflow as tf

from alexnet_tf import checkpointing, metrics
from alexnet_tf.config import Config
from alexnet_tf.distribute import Distribution, make_distribution
from alexnet_tf.model import build_alexnet
from alexnet_tf.optimizer import PaperSGD
from alexnet_tf.progress import ProgressBar, format_duration
from alexnet_tf.schedule import PlateauSchedule
from alexnet_tf.train_step import EvalStep, TrainStep
from alexnet_tf.training_data import PipelineData, SyntheticData
from alexnet_tf import training_logs

PREEMPTED_EXIT_CODE = 42   # same code as tf.distribute's PreemptionCheckpointHandler
NONFINITE_EXIT_CODE = 3
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


class NonFiniteLossError(RuntimeError):
    pass


class WorkDirError(ValueError):
    pass


@dataclasses.dataclass
class RunOptions:
    """How to run (not what to train: that is the Config)."""
    strategy: str = "auto"
    precision: str = "float32"
    xla: bool = False
    seed: int = 0
    checkpoint_every_steps: int = 500
    steps_per_call: int = 10
    keep_checkpoints: int = 3
    max_steps: int | None = None        # stop after this global step (benchmarks, tests)
    deterministic: bool = False         # tf.config.experimental.enable_op_determinism()
    synthetic_data: bool = False
    nan_at_step: int | None = None      # fault injection: the loss of this step is NaN
    progress: bool = True

    def validate(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of "
                             f"{list(PRECISIONS)}")
        for name in ("checkpoint_every_steps", "steps_per_call", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {self.max_steps}")


def prepare_workdir(workdir, cfg: Config, is_chief=True) -> checkpointing.WorkDir:
    paths = checkpointing.WorkDir(workdir)
    if not is_chief:
        return paths
    try:
        paths.root.mkdir(parents=True, exist_ok=True)
        probe = paths.root / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise WorkDirError(f"cannot write to work directory {paths.root}: {e.strerror}") from None
    if paths.config.exists():
        saved = json.loads(paths.config.read_text())
        if saved != json.loads(json.dumps(dataclasses.asdict(cfg))):
            raise WorkDirError(
                f"{paths.root} holds a run with a different configuration; resume it with the "
                f"same preset and overrides, or choose a new --workdir")
    else:
        checkpointing.save_config(cfg, paths.root)
    return paths


class Trainer:
    """Holds the model, optimizer, schedule and run state of one training run."""

    def __init__(self, cfg: Config, workdir, options: RunOptions,
                 distribution: Distribution | None = None, data=None):
        options.validate()
        self.cfg, self.options = cfg, options
        if options.deterministic:
            tf.config.experimental.enable_op_determinism()
        self.distribution = distribution or make_distribution(options.strategy)
        self.data = data or (SyntheticData(cfg) if options.synthetic_data else PipelineData(cfg))
        if self.data.num_classes != cfg.model.num_classes:
            raise ValueError(f"the dataset has {self.data.num_classes} classes but "
                             f"model.num_classes={cfg.model.num_classes}; pass "
                             f"--set model.num_classes={self.data.num_classes}")
        self.global_batch = cfg.train.batch_size
        replicas = self.distribution.num_replicas
        if self.global_batch % replicas:
            raise ValueError(f"train.batch_size={self.global_batch} is not divisible by the "
                             f"{replicas} replicas")
        self.steps_per_epoch = self.data.train_examples // self.global_batch
        if self.steps_per_epoch < 1:
            raise ValueError(f"{self.data.train_examples} training images are fewer than one "
                             f"batch of {self.global_batch}")
        # Only once the data and the layout are known good: a failed start leaves no config
        # behind that would block the corrected command.
        self.paths = prepare_workdir(workdir, cfg, self.distribution.is_chief)
        keras.utils.set_random_seed(options.seed)
        self._build()

    def _build(self):
        cfg, strategy = self.cfg, self.distribution.strategy
        with strategy.scope():
            devices = self.distribution.tower_devices
            pairs = self.distribution.replica_tower_devices
            previous_policy = keras.mixed_precision.dtype_policy()
            keras.mixed_precision.set_dtype_policy(self.options.precision)  # read by the layers
            try:
                self.model = build_alexnet(cfg.model,
                                           devices=devices or (pairs[0] if pairs else None))
            finally:
                keras.mixed_precision.set_dtype_policy(previous_policy)
            optimizer = PaperSGD.from_train_config(cfg.train)
            if self.options.precision == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
            self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False,
                                             name="step_in_epoch")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.history_json = tf.Variable("[]", dtype=tf.string, trainable=False, name="history")
        self.schedule = PlateauSchedule.from_train_config(cfg.train)
        self.totals = metrics.RunningTotals()
        self.steady_rate = SteadyRate()
        self.saver = checkpointing.CheckpointSaver(
            self.paths.checkpoints, keep=self.options.keep_checkpoints,
            model=checkpointing.model_variables(self.model),
            optimizer=checkpointing.optimizer_variables(self.optimizer, self.model),
            schedule=self.schedule,
            state={"global_step": self.global_step, "epoch": self.epoch,
                   "step_in_epoch": self.step_in_epoch, "history": self.history_json,
                   **self.totals.totals})
        self.train_step = TrainStep(
            self.model, self.optimizer, self.distribution, global_batch_size=self.global_batch,
            totals=self.totals, global_step=self.global_step, step_in_epoch=self.step_in_epoch,
            xla=self.options.xla, nan_at_step=self.options.nan_at_step)
        self.eval_step = EvalStep(self.model)

    @property
    def history(self) -> list:
        return json.loads(self.history_json.numpy().decode())

    def restore(self):
        """Resumes from the newest readable checkpoint; returns its prefix or None."""
        prefix = self.saver.restore_latest()
        if prefix is not None:
            self.optimizer_learning_rate().assign(self.schedule.learning_rate)
        return prefix

    def optimizer_learning_rate(self):
        return getattr(self.optimizer, "inner_optimizer", self.optimizer).learning_rate

    def train_dataset(self, epoch: int, skip_steps: int):
        strategy = self.distribution.strategy

        def dataset_fn(context: tf.distribute.InputContext):
            per_replica = context.get_per_replica_batch_size(self.global_batch)
            per_pipeline = strategy.num_replicas_in_sync // context.num_input_pipelines
            shard = ((context.num_input_pipelines, context.input_pipeline_id)
                     if context.num_input_pipelines > 1 else None)
            dataset = self.data.train(seed=self.options.seed, epoch=epoch,
                                      batch_size=per_replica, shard=shard)
            return dataset.take(self.steps_per_epoch * per_pipeline).skip(
                skip_steps * per_pipeline)

        return strategy.distribute_datasets_from_function(dataset_fn)

    def save(self):
        if self.distribution.is_chief and not self.options.synthetic_data:
            return self.saver.save(int(self.global_step.numpy()))
        return None

    def evaluate(self) -> dict:
        if not self.data.validation_examples:
            return {}
        totals = {key: 0.0 for key in metrics.RunningTotals.KEYS}
        for batch in self.data.validation(batch_size=self.global_batch):
            sums = self.eval_step.run(batch[0], batch[1])
            for key in totals:
                totals[key] += float(sums[key].numpy())
        return metrics.errors_from_sums(totals)


class SteadyRate:
    """Training images/s over the calls of this process after the first (which traces
    and compiles): what a benchmark wants to see."""

    def __init__(self):
        self.calls, self.images, self.seconds = 0, 0, 0.0

    def add(self, images, seconds):
        self.calls += 1
        if self.calls > 1:
            self.images += images
            self.seconds += seconds

    @property
    def images_per_second(self):
        return self.images / self.seconds if self.seconds else None


class _StopSignals:
    """SIGTERM/SIGINT set a flag the loop checks between calls (then save and exit)."""

    def __init__(self):
        self.received = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        self.received = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def train_and_evaluate(cfg: Config, workdir, options: RunOptions | None = None, *,
                       distribution: Distribution | None = None, data=None, log=print) -> dict:
    """Trains `cfg` for `cfg.train.epochs` (or `options.max_steps`); returns a summary."""
    options = options or RunOptions()
    trainer = Trainer(cfg, workdir, options, distribution=distribution, data=data)
    dist, paths = trainer.distribution, trainer.paths
    resumed_from = trainer.restore()
    logs = training_logs.TrainingLogs(paths, enabled=dist.is_chief)
    if dist.is_chief:
        logs.write_class_names(trainer.data.class_names)
        logs.write_statistics(trainer.data.statistics())
    log(f"alexnet_tf: preset {cfg.name}, {trainer.data.train_examples} training / "
        f"{trainer.data.validation_examples} validation images, batch {trainer.global_batch}, "
        f"{trainer.steps_per_epoch} steps per epoch, {dist.describe()}, {options.precision}"
        + (", XLA" if options.xla else ""))
    if resumed_from:
        log(f"resumed from {resumed_from}: epoch {int(trainer.epoch.numpy()) + 1}, "
            f"step {int(trainer.step_in_epoch.numpy())} of {trainer.steps_per_epoch}")
    start_time = time.perf_counter()
    status = "completed"
    with _StopSignals() as signals:
        while int(trainer.epoch.numpy()) < cfg.train.epochs:
            status = _train_one_epoch(trainer, logs, signals, log)
            if status != "epoch_done":
                break
            status = "completed"
    if status == "preempted":
        log(f"stopped by {signals.received}: checkpoint saved at step "
            f"{int(trainer.global_step.numpy())}; run the same command again to resume")
    elif dist.is_chief and not options.synthetic_data:
        training_logs.save_portable_model(trainer.model, cfg, paths.model)
    summary = {"status": status, "global_step": int(trainer.global_step.numpy()),
               "epochs": int(trainer.epoch.numpy()), "history": trainer.history,
               "seconds": time.perf_counter() - start_time,
               "train_images_per_second": trainer.steady_rate.images_per_second,
               "weights_sha256": training_logs.weights_fingerprint(trainer.model),
               "workdir": str(paths.root)}
    logs.close()
    return summary


def _train_one_epoch(trainer: Trainer, logs, signals, log) -> str:
    cfg, options = trainer.cfg, trainer.options
    epoch = int(trainer.epoch.numpy())
    first = int(trainer.step_in_epoch.numpy())
    if first == 0:
        trainer.totals.reset()
    iterator = iter(trainer.train_dataset(epoch, first))
    bar = ProgressBar(trainer.steps_per_epoch, title=f"epoch {epoch + 1}/{cfg.train.epochs}",
                      enabled=options.progress and trainer.distribution.is_chief)
    step, started, images = first, time.perf_counter(), 0
    while step < trainer.steps_per_epoch:
        global_step = int(trainer.global_step.numpy())
        if options.max_steps is not None and global_step >= options.max_steps:
            bar.close()
            if global_step % options.checkpoint_every_steps:
                trainer.save()
            return "max_steps"
        every = options.checkpoint_every_steps
        count = min(options.steps_per_call, trainer.steps_per_epoch - step,
                    every - global_step % every)
        if options.max_steps is not None:
            count = min(count, options.max_steps - global_step)
        call_started = time.perf_counter()
        nonfinite = float(trainer.train_step.run(iterator, tf.constant(count, tf.int64)))
        trainer.steady_rate.add(count * trainer.global_batch, time.perf_counter() - call_started)
        if nonfinite:
            bar.close()
            raise NonFiniteLossError(_nonfinite_message(trainer, global_step, count))
        step += count
        images += count * trainer.global_batch
        rate = images / max(time.perf_counter() - started, 1e-9)
        if bar.enabled:
            running = trainer.totals.result()
            bar.update(step, loss=running["loss"], accuracy=running["accuracy"],
                       images_per_second=rate)
        if int(trainer.global_step.numpy()) % every == 0 or signals.received:
            if step < trainer.steps_per_epoch:
                trainer.save()
        if signals.received:
            bar.close()
            if step >= trainer.steps_per_epoch:
                break
            return "preempted"
    seconds = time.perf_counter() - started
    train = trainer.totals.result()
    validation = trainer.evaluate()
    learning_rate = trainer.schedule.learning_rate
    if validation:
        trainer.optimizer_learning_rate().assign(trainer.schedule.update(validation["top1_error"]))
    row = {"epoch": epoch + 1, "global_step": int(trainer.global_step.numpy()),
           "learning_rate": learning_rate, "seconds": seconds,
           "images_per_second": images / max(seconds, 1e-9),
           **{f"train_{k}": v for k, v in train.items()},
           **{f"validation_{k}": v for k, v in validation.items()}}
    trainer.history_json.assign(json.dumps(trainer.history + [row]))
    trainer.epoch.assign_add(1)
    trainer.step_in_epoch.assign(0)
    trainer.save()
    logs.epoch_end(row, trainer.model, trainer.history)
    bar.close(_epoch_line(row))
    if signals.received:
        return "preempted"
    return "epoch_done"


def _epoch_line(row) -> str:
    text = (f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}, top-1 error "
            f"{100 * row['train_top1_error']:.2f}%")
    if "validation_loss" in row:
        text += (f" | validation loss {row['validation_loss']:.4f}, top-1 error "
                 f"{100 * row['validation_top1_error']:.2f}%, top-5 error "
                 f"{100 * row['validation_top5_error']:.2f}%")
    return text + (f" | lr {row['learning_rate']:g}, {row['images_per_second']:,.0f} img/s, "
                   f"{format_duration(row['seconds'])}")


def _nonfinite_message(trainer: Trainer, global_step: int, count: int) -> str:
    listed = trainer.saver.listed() if trainer.distribution.is_chief else []
    last = f"the last good checkpoint, {listed[0]}, is intact" if listed else \
        "no checkpoint had been written yet"
    return (f"the loss became NaN or infinite between steps {global_step + 1} and "
            f"{global_step + count}; stopped without saving: {last}. Lower the learning "
            f"rate (--set train.learning_rate=...) or check the input data, then rerun")
