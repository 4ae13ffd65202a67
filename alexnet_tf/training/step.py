"""The compiled training and validation steps (the hot path).

One `tf.function` call runs up to `steps` training steps in a `tf.range` loop, so Python
runs once per call, not once per step; it stops early where the data ends (an epoch is
what the data yields: unreadable files skipped leave fewer batches than estimated). The
loss is the sum of per-example cross-entropies over the GLOBAL batch, so summing gradients
over replicas (what the optimizer does under a strategy) gives the same update as one
device on the whole batch. Softmax and loss are float32 under every precision policy (the
logits are cast to float32 first: under bfloat16 fc8 computes in bfloat16).
"""
from __future__ import annotations

import keras
import tensorflow as tf

from alexnet_tf.training import metrics
from alexnet_tf.training.distribute import Distribution, pin_towers, replica_index

NONFINITE = "nonfinite"


def cross_entropy(labels, logits):
    return keras.losses.sparse_categorical_crossentropy(
        labels, tf.cast(logits, tf.float32), from_logits=True)


def _all_finite(tensors):
    return tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(t)) for t in tensors]))


class TrainStep:
    """`run(iterator, steps)`: up to `steps` SGD steps, fewer if the data ends; adds their
    sums to `totals`; returns (non-finite flag, steps run)."""

    def __init__(self, model, optimizer, distribution: Distribution, *, global_batch_size,
                 totals: metrics.RunningTotals, global_step: tf.Variable,
                 step_in_epoch: tf.Variable, skipped_files: tf.Variable, xla=False,
                 nan_at_step=None):
        self.model = model
        self.optimizer = optimizer
        self.distribution = distribution
        self.strategy = distribution.strategy
        self.global_batch_size = int(global_batch_size)
        self.totals = totals
        self.global_step = global_step
        self.step_in_epoch = step_in_epoch
        self.skipped_files = skipped_files
        self.nan_at_step = nan_at_step
        self.loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        self._gradients = tf.function(self._loss_and_gradients, jit_compile=True) if xla \
            else self._loss_and_gradients
        self.run = tf.function(self._run)

    def _loss_and_gradients(self, images, labels):
        with tf.GradientTape() as tape:
            logits = self.model(images, training=True)
            per_example = cross_entropy(labels, logits)
            if self.nan_at_step is not None:  # fault injection for the NaN guard's test
                poison = tf.equal(self.global_step, self.nan_at_step)
                per_example = tf.where(poison, float("nan"), per_example)
            loss = tf.reduce_sum(per_example) / self.global_batch_size
            scaled = self.optimizer.scale_loss(loss) if self.loss_scaled else loss
        gradients = tape.gradient(scaled, self.model.trainable_variables)
        return per_example, logits, gradients

    def _replica_step(self, images, labels):
        pairs = self.distribution.replica_tower_devices
        if pairs:
            pin_towers(self.model, pairs[replica_index()])
        per_example, logits, gradients = self._gradients(images, labels)
        self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))
        sums = metrics.batch_sums(per_example, logits, labels)
        finite = tf.reduce_all(tf.math.is_finite(per_example))
        sums[NONFINITE] = 1.0 - tf.cast(finite, tf.float32)
        return sums

    def _replicas_short_of_a_batch(self, labels):
        """How many replicas (over all workers) got no batch: the data ended for them."""
        per_replica = self.global_batch_size // self.strategy.num_replicas_in_sync
        short = self.strategy.run(
            lambda labels: tf.cast(tf.shape(labels)[0] < per_replica, tf.int32), args=(labels,))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, short, axis=None)

    def _run(self, iterator, steps):
        nonfinite = tf.constant(0.0)
        done = tf.constant(0, tf.int64)
        for _ in tf.range(steps):
            # The optional is empty once every replica's data has ended; while only some
            # have, the others get empty stand-in batches (tf.distribute's partial batches).
            optional = iterator.get_next_as_optional()
            if not optional.has_value():
                break
            batch = optional.get_value()
            images, labels = batch[0], batch[1]
            if len(batch) > 2:  # the pipeline's count of unreadable files skipped this epoch
                local = self.strategy.experimental_local_results(batch[2])
                self.skipped_files.assign(tf.maximum(
                    self.skipped_files, tf.reduce_max(tf.cast(tf.stack(local), tf.int64))))
            if self.strategy.num_replicas_in_sync > 1:
                if self._replicas_short_of_a_batch(labels) > 0:
                    break
            per_replica = self.strategy.run(self._replica_step, args=(images, labels))
            sums = {key: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                    for key, value in per_replica.items()}
            nonfinite += sums.pop(NONFINITE)
            self.totals.add(sums)
            self.global_step.assign_add(1)
            self.step_in_epoch.assign_add(1)
            done += 1
        if not self.loss_scaled:  # the loss-scale optimizer skips non-finite gradients itself
            # A non-finite gradient leaves non-finite weights behind (NaN stays NaN), so
            # the weights are checked once per call, before anything can be saved: a norm
            # over the gradients at every step kept all of them alive to the end of the
            # step (a sizeable share of the peak memory) and read them all again.
            nonfinite += 1.0 - tf.cast(_all_finite(self.model.trainable_variables), tf.float32)
        return nonfinite, done


class EvalStep:
    """Validation sums of one batch (no dropout). With 10 crops per image ([B,10,S,S,3])
    the softmax is averaged over the crops (§4.1)."""

    def __init__(self, model):
        self.model = model
        self.run = tf.function(self._run)  # two traces: full and last batch

    def _run(self, images, labels):
        if images.shape.rank == 5:
            crops = tf.shape(images)[1]
            flat = tf.reshape(images, tf.concat([[-1], tf.shape(images)[2:]], axis=0))
            probs = tf.nn.softmax(tf.cast(self.model(flat, training=False), tf.float32))
            probs = tf.reduce_mean(tf.reshape(probs, [-1, crops, probs.shape[-1]]), axis=1)
            per_example = keras.losses.sparse_categorical_crossentropy(labels, probs)
            return metrics.batch_sums(per_example, probs, labels)
        logits = self.model(images, training=False)
        return metrics.batch_sums(cross_entropy(labels, logits), logits, labels)
