"""Train, evaluate and save into a work directory: the library behind `alexnet_tf.train`.

    summary = train_and_evaluate(get_config("digits"), "runs/digits", RunOptions())

Resume: the checkpoint holds the model (incl. dropout RNG states), the optimizer, the
learning-rate schedule, the global step, the epoch and the step within it, and the history.
The training data of an epoch is a pure function of (seed, epoch), so a restart rebuilds
the epoch's dataset and skips the batches already done. Single-device on CPU with
`deterministic=True` the final weights are bitwise those of an uninterrupted run.

Exit paths: SIGTERM/SIGINT -> checkpoint, then `status="preempted"` (the command exits
with PREEMPTED_EXIT_CODE); a NaN/Inf loss -> `NonFiniteLossError` before anything is
saved, so the last checkpoint and model.keras stay the last good ones; a full disk ->
`atomic.DiskFullError` naming the file and the checkpoint still intact.
"""
from __future__ import annotations

import contextlib
import json
import time

import tensorflow as tf

from alexnet_tf import atomic
from alexnet_tf.training import checkpoints as checkpointing, logs as training_logs
from alexnet_tf.config import Config
from alexnet_tf.training.distribute import Distribution
from alexnet_tf.progress import ProgressBar, format_duration
from alexnet_tf.training.stop_signals import PREEMPTED_EXIT_CODE, StopSignals  # noqa: F401
from alexnet_tf.training.state import (  # noqa: F401
    PRECISIONS, NonFiniteLossError, RunOptions, Trainer, WorkDirError, prepare_workdir,
    run_precision)

NONFINITE_EXIT_CODE = 3


def train_and_evaluate(cfg: Config, workdir, options: RunOptions | None = None, *,
                       distribution: Distribution | None = None, data=None, log=print,
                       signals: StopSignals | None = None) -> dict:
    """Trains `cfg` for `cfg.train.epochs` (or `options.max_steps`); returns a summary.

    Holds the work directory's lock while it runs (`WorkDirInUseError` if another run
    has it). A full disk raises `atomic.DiskFullError`. `signals`: installed
    StopSignals the caller owns (the command installs them at its start); by default
    SIGTERM/SIGINT are caught around the training loop."""
    options = options or RunOptions()
    trainer = None
    try:
        options.validate()
        cfg, choice = run_precision(cfg, workdir, options.precision)
        log(choice.line())
        if choice.warning:
            checkpointing.warn(choice.warning)
        trainer = Trainer(cfg, workdir, options, distribution=distribution, data=data)
        return _train_and_evaluate(trainer, log, signals)
    except atomic.DiskFullError as e:
        e.intact = _intact_checkpoint(trainer, workdir)
        raise
    except (OSError, tf.errors.OpError) as e:
        if not atomic.is_disk_full(e):
            raise
        raise atomic.DiskFullError(getattr(e, "filename", None) or workdir,
                                          _intact_checkpoint(trainer, workdir)) from None
    finally:
        if trainer is not None:
            trainer.close()


def _intact_checkpoint(trainer, workdir) -> str:
    if trainer is not None:
        last = trainer.saver.last_good  # restored or saved by this run: known readable
    else:
        try:
            listed = checkpointing.CheckpointSaver(
                checkpointing.WorkDir(workdir).checkpoints).listed()
        except OSError:
            listed = []
        last = listed[0] if listed else None
    return (f"the last complete checkpoint, {last}, is intact" if last
            else "no checkpoint had been written yet")


def _train_and_evaluate(trainer: Trainer, log, signals: StopSignals | None) -> dict:
    cfg, options = trainer.cfg, trainer.options
    dist, paths = trainer.distribution, trainer.paths
    removed = trainer.clean_debris()
    if removed:
        log(f"removed what interrupted writes left in {paths.root}: {', '.join(removed)}")
    resumed_from = trainer.restore(report=lambda line: log(f"warning: {line}"))
    logs = training_logs.TrainingLogs(paths, enabled=dist.is_chief)
    if resumed_from:
        logs.catch_up(trainer.history, trainer.model, int(trainer.global_step.numpy()))
    if dist.is_chief:
        logs.write_class_names(trainer.data.class_names)
        logs.write_statistics(trainer.data.statistics())
    log(f"alexnet_tf: preset {cfg.name}, {trainer.data.train_examples} training / "
        f"{trainer.data.validation_examples} validation images, batch {trainer.global_batch}, "
        f"{trainer.steps_per_epoch} steps per epoch, {dist.describe()}, {cfg.train.precision}"
        + (", XLA" if options.xla else ""))
    if resumed_from:
        log(f"resumed from {resumed_from}: epoch {int(trainer.epoch.numpy()) + 1}, "
            f"step {int(trainer.step_in_epoch.numpy())} of {trainer.steps_per_epoch}")
    start_time = time.perf_counter()
    status = "completed"
    with contextlib.nullcontext(signals) if signals is not None else StopSignals() as signals:
        in_start_up = bool(signals.received)  # before any step: nothing of this run to save
        if in_start_up:
            status = "preempted"
        while not in_start_up and int(trainer.epoch.numpy()) < cfg.train.epochs:
            status = _train_one_epoch(trainer, logs, signals, log)
            if status != "epoch_done":
                break
            status = "completed"
    step = int(trainer.global_step.numpy())
    if in_start_up:
        log(f"stopped by {signals.received} during start-up: nothing trained yet in this run, "
            f"nothing to save; run the same command again to "
            + (f"resume from step {step}" if resumed_from else "start"))
    elif status == "preempted":
        log(f"stopped by {signals.received}: checkpoint saved at step {step}; run the same "
            f"command again to resume")
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
        trainer.skipped_files.assign(0)
    iterator = iter(trainer.train_dataset(epoch, first))
    bar = ProgressBar(trainer.steps_per_epoch, title=f"epoch {epoch + 1}/{cfg.train.epochs}",
                      enabled=options.progress and trainer.distribution.is_chief)
    step, started, images = first, time.perf_counter(), 0
    data_left = True  # steps_per_epoch counts every listed file: skipped ones end it sooner
    while data_left and step < trainer.steps_per_epoch:
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
        nonfinite, ran = trainer.train_step.run(iterator, tf.constant(count, tf.int64))
        nonfinite, ran = float(nonfinite), int(ran)
        data_left = ran == count
        trainer.steady_rate.add(ran * trainer.global_batch, time.perf_counter() - call_started)
        if nonfinite:
            bar.close()
            raise NonFiniteLossError(_nonfinite_message(trainer, global_step, max(ran, 1)))
        step += ran
        images += ran * trainer.global_batch
        rate = images / max(time.perf_counter() - started, 1e-9)
        if bar.enabled:
            running = trainer.totals.result()
            bar.update(step, loss=running["loss"], accuracy=running["accuracy"],
                       images_per_second=rate)
        epoch_over = not data_left or step >= trainer.steps_per_epoch  # its end saves
        if int(trainer.global_step.numpy()) % every == 0 or signals.received:
            if not epoch_over:
                trainer.save()
        if signals.received:
            bar.close()
            if epoch_over:
                break
            return "preempted"
    if step == 0:
        bar.close()
        raise ValueError(f"epoch {epoch + 1} gave no full batch of {trainer.global_batch} "
                         f"images: too few of the {trainer.data.train_examples} training "
                         f"files are readable")
    seconds = time.perf_counter() - started
    train = trainer.totals.result()
    validation = trainer.evaluate()
    clean_train = trainer.evaluate_clean_train()
    learning_rate = trainer.schedule.learning_rate
    if validation or not trainer.schedule.driven_by_validation:
        trainer.optimizer_learning_rate().assign(
            trainer.schedule.update(validation.get("top1_error")))
    row = {"epoch": epoch + 1, "global_step": int(trainer.global_step.numpy()),
           "learning_rate": learning_rate, "seconds": seconds,
           "images_per_second": images / max(seconds, 1e-9),
           "steps": step, "skipped_files": int(trainer.skipped_files.numpy()),
           **{f"train_{k}": v for k, v in train.items()},
           **{f"validation_{k}": v for k, v in validation.items()},
           **{f"clean_train_{k}": v for k, v in clean_train.items()}}
    trainer.history_json.assign(json.dumps(trainer.history + [row]))
    trainer.epoch.assign_add(1)
    trainer.step_in_epoch.assign(0)
    trainer.save()
    logs.epoch_end(row, trainer.model, trainer.history)
    bar.close()
    if trainer.distribution.is_chief:
        log(_epoch_line(row, estimated_steps=trainer.steps_per_epoch))
    if signals.received:
        return "preempted"
    return "epoch_done"


def _epoch_line(row, estimated_steps=None) -> str:
    text = (f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}, top-1 error "
            f"{100 * row['train_top1_error']:.2f}%")
    if "validation_loss" in row:
        text += (f" | validation loss {row['validation_loss']:.4f}, top-1 error "
                 f"{100 * row['validation_top1_error']:.2f}%, top-5 error "
                 f"{100 * row['validation_top5_error']:.2f}%")
    text += (f" | lr {row['learning_rate']:g}, {row['images_per_second']:,.0f} img/s, "
             f"{format_duration(row['seconds'])}")
    notes = []
    if row.get("skipped_files"):
        notes.append(f"{row['skipped_files']} unreadable files skipped")
    if estimated_steps and row.get("steps", estimated_steps) < estimated_steps:
        notes.append(f"{row['steps']} steps, not the {estimated_steps} estimated")
    if notes:
        text += " | " + ": ".join(notes)
    return text


def _nonfinite_message(trainer: Trainer, global_step: int, count: int) -> str:
    good = trainer.saver.last_good if trainer.distribution.is_chief else None
    last = f"the last good checkpoint, {good}, is intact" if good else \
        "no checkpoint had been written yet"
    return (f"the loss became NaN or infinite between steps {global_step + 1} and "
            f"{global_step + count}; stopped without saving: {last}. Lower the learning "
            f"rate (--set train.learning_rate=...) or check the input data, then rerun")
