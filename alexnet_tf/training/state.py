"""One training run's state: model, optimizer, schedule, counters, data, checkpoint.

`Trainer` builds everything under the strategy's scope and knows how to rebuild the
data of any (epoch, step) - the training data of an epoch is a pure function of
(seed, epoch) - and what a checkpoint holds; `training.train_and_evaluate` drives it.
"""
from __future__ import annotations

import dataclasses
import json

import keras
import tensorflow as tf

from alexnet_tf import atomic, precision as precision_lib
from alexnet_tf.training import checkpoints as checkpointing, metrics
from alexnet_tf import config as config_lib
from alexnet_tf.config import Config
from alexnet_tf.config import validate as validate_config
from alexnet_tf.training.distribute import Distribution, make_distribution
from alexnet_tf.network.model import build_alexnet
from alexnet_tf.training.optimizer import PaperSGD
from alexnet_tf.training import schedule as schedules
from alexnet_tf.training.step import EvalStep, TrainStep
from alexnet_tf.training.inputs import PipelineData, SyntheticData
from alexnet_tf.training.workdir_lock import WorkDirLock

PRECISIONS = precision_lib.REQUESTS
# Recorded in config.json by the run that chose them, compared by `run_precision`.
PRECISION_FIELDS = ("train.precision", "train.precision_reason")
EVAL_BATCH_SIZE = 128  # at least this many validation images per call (no gradients kept)


class NonFiniteLossError(RuntimeError):
    pass


class WorkDirError(ValueError):
    pass


@dataclasses.dataclass
class RunOptions:
    """How to run (not what to train: that is the Config)."""
    strategy: str = "auto"
    precision: str = "auto"             # alexnet_tf.precision; "auto": the config's, else chosen
    xla: bool = False
    checkpoint_every_steps: int = 500
    steps_per_call: int = 10
    keep_checkpoints: int = 3
    max_steps: int | None = None        # stop after this global step (benchmarks, tests)
    deterministic: bool = False         # tf.config.experimental.enable_op_determinism()
    synthetic_data: bool = False
    nan_at_step: int | None = None      # fault injection: the loss of this step is NaN
    progress: bool = True
    # Also measure the error on about this many training images in evaluation mode (centre
    # patch, no dropout) after every epoch: `clean_train_*` in the history. 0: not measured.
    clean_train_images: int = 0

    def validate(self):
        precision_lib.canonical(self.precision)
        if self.clean_train_images < 0:
            raise ValueError(f"clean_train_images must be >= 0, got {self.clean_train_images}")
        for name in ("checkpoint_every_steps", "steps_per_call", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {self.max_steps}")


def run_precision(cfg: Config, workdir, requested: str = "auto", *,
                  hardware: precision_lib.Hardware | None = None) -> tuple:
    """(`cfg` with the precision its run uses and why in `train.precision` and
    `train.precision_reason`, the `precision_lib.Choice`): a resumed run keeps the one its
    config.json records (another one asked for is a WorkDirError), a new run takes
    `requested` (the config's own when `requested` is auto), `auto` choosing from the
    hardware (`precision_lib.choose`)."""
    requested = precision_lib.canonical(requested)
    if requested == precision_lib.AUTO:
        requested = precision_lib.canonical(cfg.train.precision)
    config_file = checkpointing.WorkDir(workdir).config
    try:
        saved = json.loads(config_file.read_text()).get("train", {})
    except (FileNotFoundError, NotADirectoryError):   # a new run (or no work directory:
        saved = None                                   # `prepare_workdir` says why)
    except (OSError, ValueError, AttributeError) as e:
        raise WorkDirError(f"cannot read {config_file}: {e}") from None
    if saved is None:
        choice = precision_lib.choose(requested, hardware=hardware)
    elif "precision" not in saved:   # written before precision was recorded
        choice = precision_lib.resumed(None, source=config_file, requested=requested,
                                       hardware=hardware)
    else:
        try:
            recorded = precision_lib.canonical(saved["precision"])
        except ValueError as e:
            raise WorkDirError(f"{config_file}: {e}") from None
        if requested not in (precision_lib.AUTO, recorded):
            raise WorkDirError(
                f"{config_file.parent} holds a run trained in {recorded}; resume it with "
                f"--precision={recorded} (or auto), or choose a new --workdir for "
                f"{requested}")
        choice = precision_lib.resumed(recorded, saved.get("precision_reason", ""),
                                       source=config_file, hardware=hardware)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(
        cfg.train, precision=choice.precision, precision_reason=choice.reason))
    return cfg, choice


def prepare_workdir(workdir, cfg: Config, is_chief=True) -> checkpointing.WorkDir:
    """Checks the work directory and takes it (the chief only): `paths.lock` holds the
    work directory's lock from here on; release it with `paths.lock.release()`."""
    paths = checkpointing.WorkDir(workdir)
    if not is_chief:
        return paths
    try:
        paths.root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if atomic.is_disk_full(e):
            raise atomic.DiskFullError(paths.root) from None
        raise WorkDirError(f"cannot write to work directory {paths.root}: {e.strerror}") from None
    lock = WorkDirLock(paths.root)
    try:
        lock.acquire()
    except OSError as e:
        if atomic.is_disk_full(e):
            raise atomic.DiskFullError(lock.path) from None
        raise WorkDirError(f"cannot write to work directory {paths.root}: {e.strerror}") from None
    if lock.unsupported:
        checkpointing.warn(lock.unsupported)
    try:
        _check_and_claim(paths, cfg)
    except BaseException:
        lock.release()
        raise
    paths.lock = lock
    return paths


def _check_and_claim(paths, cfg):
    probe = paths.root / ".write_test"
    try:
        probe.write_text("ok")
    except OSError as e:
        if atomic.is_disk_full(e):
            raise atomic.DiskFullError(paths.root) from None
        raise WorkDirError(f"cannot write to work directory {paths.root}: {e.strerror}") from None
    finally:
        probe.unlink(missing_ok=True)
    if paths.config.exists():
        saved_tree = json.loads(paths.config.read_text())
        saved = dict(_leaves(saved_tree))
        wanted = dict(_leaves(json.loads(json.dumps(dataclasses.asdict(cfg)))))
        for key in PRECISION_FIELDS:   # `run_precision` has compared them
            saved.pop(key, None)
            wanted.pop(key, None)
        # A field the saved config lacks (written before the field existed) has the value
        # its preset gives it, so new fields do not lock old work directories out.
        name = saved_tree.get("name")
        base = config_lib.get_config(name) if name in config_lib.PRESETS else Config()
        defaults = dict(_leaves(json.loads(json.dumps(dataclasses.asdict(base)))))
        implied = {k: defaults[k] for k in wanted.keys() - saved.keys() if k in defaults}
        saved.update(implied)
        changed = sorted(k for k in saved.keys() | wanted.keys() if saved.get(k) != wanted.get(k))
        if changed:
            shown = ", ".join(
                f"{k} ({'not saved, so' if k in implied else 'saved'} {saved.get(k, 'absent')!r}"
                f", now {wanted.get(k, 'absent')!r})" for k in changed[:4])
            raise WorkDirError(
                f"{paths.root} holds a run with a different configuration: {shown}"
                f"{' ...' if len(changed) > 4 else ''}; resume it with the same preset and "
                f"overrides, or choose a new --workdir")
    else:
        checkpointing.save_config(cfg, paths.root)


def _leaves(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


class Trainer:
    """Holds the model, optimizer, schedule and run state of one training run."""

    def __init__(self, cfg: Config, workdir, options: RunOptions,
                 distribution: Distribution | None = None, data=None):
        validate_config(cfg)  # before anything is written: nothing left to block a rerun
        options.validate()
        if not cfg.train.precision_reason:   # not chosen by `train_and_evaluate`
            cfg, _ = run_precision(cfg, workdir, options.precision)
        self.cfg, self.options = cfg, options
        if options.deterministic:
            tf.config.experimental.enable_op_determinism()
        self.distribution = distribution or make_distribution(options.strategy)
        self.data = data or (SyntheticData(cfg) if options.synthetic_data else PipelineData(
            cfg, statistics_fallback=checkpointing.WorkDir(workdir).statistics,
            progress=options.progress))
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
        try:
            keras.utils.set_random_seed(cfg.train.seed)
            self._build()
        except BaseException:
            self.close()
            raise

    def close(self):
        """Releases the work directory (also released when the process ends)."""
        if self.paths.lock is not None:
            self.paths.lock.release()

    def clean_debris(self) -> list:
        """Removes what interrupted saves and writes left (the chief only)."""
        if not self.distribution.is_chief:
            return []
        return self.saver.clean_debris() + self.paths.clean_debris()

    def _build(self):
        cfg, strategy = self.cfg, self.distribution.strategy
        with strategy.scope():
            devices = self.distribution.tower_devices
            pairs = self.distribution.replica_tower_devices
            previous_policy = keras.mixed_precision.dtype_policy()
            keras.mixed_precision.set_dtype_policy(  # read by the layers
                precision_lib.training_policy(cfg.train.precision))
            try:
                self.model = build_alexnet(cfg.model,
                                           devices=devices or (pairs[0] if pairs else None))
            finally:
                keras.mixed_precision.set_dtype_policy(previous_policy)
            optimizer = PaperSGD.from_train_config(cfg.train)
            if cfg.train.precision == precision_lib.MIXED_FLOAT16:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
            self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False,
                                             name="step_in_epoch")
            self.skipped_files = tf.Variable(0, dtype=tf.int64, trainable=False,
                                             name="skipped_files")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.history_json = tf.Variable("[]", dtype=tf.string, trainable=False, name="history")
        self.schedule = schedules.from_train_config(cfg.train)
        self.totals = metrics.RunningTotals()
        self.steady_rate = SteadyRate()
        self._validation = None
        self._clean_train = None
        self.saver = checkpointing.CheckpointSaver(
            self.paths.checkpoints, keep=self.options.keep_checkpoints,
            model=checkpointing.model_variables(self.model),
            optimizer=checkpointing.optimizer_variables(self.optimizer, self.model),
            schedule=self.schedule,
            state={"global_step": self.global_step, "epoch": self.epoch,
                   "step_in_epoch": self.step_in_epoch, "history": self.history_json,
                   "skipped_files": self.skipped_files,
                   **self.totals.totals})
        self.train_step = TrainStep(
            self.model, self.optimizer, self.distribution, global_batch_size=self.global_batch,
            totals=self.totals, global_step=self.global_step, step_in_epoch=self.step_in_epoch,
            skipped_files=self.skipped_files,
            xla=self.options.xla, nan_at_step=self.options.nan_at_step)
        self.eval_step = EvalStep(self.model)

    @property
    def history(self) -> list:
        return json.loads(self.history_json.numpy().decode())

    def restore(self, report=checkpointing.warn):
        """Resumes from the newest readable checkpoint; returns its prefix or None.
        `report` gets a line for each checkpoint skipped and why."""
        prefix = self.saver.restore_latest(report=report)
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
            dataset = self.data.train(seed=self.cfg.train.seed, epoch=epoch,
                                      batch_size=per_replica, shard=shard)
            dataset = dataset.take(self.steps_per_epoch * per_pipeline).skip(
                skip_steps * per_pipeline)
            # A length tf.distribute cannot know: the training loop is traced once for the
            # iterators of every epoch, and get_next_as_optional bakes a known length into
            # that trace (0, as on a resume where the data ended, would read "empty" forever).
            return dataset.filter(lambda *batch: True)

        return strategy.distribute_datasets_from_function(dataset_fn)

    def save(self):
        if self.distribution.is_chief and not self.options.synthetic_data:
            return self.saver.save(int(self.global_step.numpy()))
        return None

    def evaluate(self) -> dict:
        if not self.data.validation_examples:
            return {}
        if self._validation is None:  # the same every epoch: build the pipeline once
            self._validation = self.data.validation(
                batch_size=max(self.global_batch, EVAL_BATCH_SIZE))
        return self._errors(self._validation)

    def evaluate_clean_train(self) -> dict:
        """The error on every k-th training image (k = train examples //
        options.clean_train_images, at least 1) as evaluation sees an image: the centre
        patch, no dropout. {} when not asked for."""
        if not self.options.clean_train_images or not self.data.train_examples:
            return {}
        if self._clean_train is None:
            every = max(1, self.data.train_examples // self.options.clean_train_images)
            self._clean_train = self.data.clean_train(
                batch_size=max(self.global_batch, EVAL_BATCH_SIZE), every=every)
        return self._errors(self._clean_train)

    def _errors(self, dataset) -> dict:
        totals = {key: 0.0 for key in metrics.RunningTotals.KEYS}
        for batch in dataset:
            sums = self.eval_step.run(batch[0], batch[1])
            for key, value in sums.items():
                totals[key] += float(value)
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
