"""The learning-rate schedules: §5's plateau schedule (the default) and a fixed one.

`train.lr_schedule=plateau`: divide by 10 when validation error stops improving (§5).

"Stops improving" is our reading (the paper gives no numbers): the error has not gone
below `best - min_delta` for `patience` epochs in a row (`train.plateau_patience`,
`train.plateau_min_delta`). Each reduction multiplies the rate by `train.lr_decay_factor`
(0.1) and restarts the patience count; after `train.max_lr_reductions` (3) reductions
the rate stays. The state is held in variables so a checkpoint carries it.

`train.lr_schedule=fixed`: the rate is multiplied by `train.lr_decay_factor` after each
epoch listed in `train.lr_step_epochs`, whatever the validation error does, so runs that
differ in one switch (the experiments' arms) share their schedule. Not in the paper.

    schedule = from_train_config(cfg.train)
    lr = schedule.update(validation_top1_error)   # once per epoch
"""
from __future__ import annotations

import tensorflow as tf

from alexnet_tf.config import TrainConfig


class PlateauSchedule(tf.Module):

    driven_by_validation = True   # without validation images it keeps its rate

    def __init__(self, initial_learning_rate, *, factor, patience, min_delta, max_reductions,
                 name="plateau_schedule"):
        super().__init__(name=name)
        if initial_learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {initial_learning_rate}")
        if not 0 < factor < 1:
            raise ValueError(f"lr_decay_factor must be in (0, 1), got {factor}")
        if patience < 1:
            raise ValueError(f"plateau_patience must be >= 1, got {patience}")
        if min_delta < 0 or max_reductions < 0:
            raise ValueError("plateau_min_delta and max_lr_reductions must be >= 0")
        self.initial_learning_rate = float(initial_learning_rate)
        self.factor = float(factor)
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.max_reductions = int(max_reductions)
        self.best_error = tf.Variable(float("inf"), dtype=tf.float64, trainable=False,
                                      name="best_error")
        self.epochs_without_improvement = tf.Variable(0, dtype=tf.int64, trainable=False,
                                                      name="epochs_without_improvement")
        self.reductions = tf.Variable(0, dtype=tf.int64, trainable=False, name="reductions")

    @classmethod
    def from_train_config(cls, train: TrainConfig) -> "PlateauSchedule":
        return cls(train.learning_rate, factor=train.lr_decay_factor,
                   patience=train.plateau_patience, min_delta=train.plateau_min_delta,
                   max_reductions=train.max_lr_reductions)

    @property
    def learning_rate(self) -> float:
        return self.initial_learning_rate * self.factor ** int(self.reductions.numpy())

    def update(self, validation_error: float) -> float:
        """Records one epoch's validation error; returns the rate for the next epoch."""
        error = float(validation_error)
        if error < float(self.best_error.numpy()) - self.min_delta:
            self.best_error.assign(error)
            self.epochs_without_improvement.assign(0)
            return self.learning_rate
        self.epochs_without_improvement.assign_add(1)
        if (int(self.epochs_without_improvement.numpy()) >= self.patience
                and int(self.reductions.numpy()) < self.max_reductions):
            self.reductions.assign_add(1)
            self.epochs_without_improvement.assign(0)
        return self.learning_rate


class FixedSchedule(tf.Module):
    """The rate for epoch e+1 is learning_rate * factor ** (steps <= e completed epochs)."""

    driven_by_validation = False

    def __init__(self, initial_learning_rate, *, factor, step_epochs, name="fixed_schedule"):
        super().__init__(name=name)
        if initial_learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {initial_learning_rate}")
        if not 0 < factor < 1:
            raise ValueError(f"lr_decay_factor must be in (0, 1), got {factor}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.factor = float(factor)
        self.step_epochs = tuple(int(e) for e in step_epochs)
        self.epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")

    @property
    def learning_rate(self) -> float:
        done = int(self.epochs_done.numpy())
        return self.initial_learning_rate * self.factor ** sum(e <= done for e in self.step_epochs)

    def update(self, validation_error=None) -> float:
        """Records the end of one epoch; returns the rate for the next."""
        self.epochs_done.assign_add(1)
        return self.learning_rate


def from_train_config(train: TrainConfig):
    """The schedule `train.lr_schedule` names."""
    if train.lr_schedule == "fixed":
        return FixedSchedule(train.learning_rate, factor=train.lr_decay_factor,
                             step_epochs=train.lr_step_epochs)
    if train.lr_schedule == "plateau":
        return PlateauSchedule.from_train_config(train)
    raise ValueError(f"unknown train.lr_schedule {train.lr_schedule!r}; use 'plateau' or "
                     f"'fixed'")
