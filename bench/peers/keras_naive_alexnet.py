"""Benchmark peer: AlexNet as a typical Keras 3 user writes it in one file.

Keras' `Conv2D(groups=2)` for the grouped layers (which Keras compiles with XLA on the
TensorFlow backend), `tf.nn.local_response_normalization` in a Lambda (over all channels),
plain SGD with momentum; `model.fit` / `model.predict` on synthetic data. 60,965,224
parameters, like the `paper` preset. Runs with TensorFlow's interpreter:

    python bench/peers/keras_naive_alexnet.py --mode train --batch 64 --steps 10

The last line printed is `keras-naive <mode> <images/s>` (total images over the total
time after the first batch, which traces): tools/benchmark.py reads it.
"""
from __future__ import annotations

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers


def alexnet(num_classes: int = 1000) -> keras.Sequential:
    def lrn():
        return layers.Lambda(
            lambda t: tf.nn.local_response_normalization(t, 2, 2.0, 1e-4, 0.75))
    return keras.Sequential([
        keras.Input((227, 227, 3)),
        layers.Conv2D(96, 11, strides=4, activation="relu"), lrn(), layers.MaxPool2D(3, 2),
        layers.Conv2D(256, 5, padding="same", groups=2, activation="relu"), lrn(),
        layers.MaxPool2D(3, 2),
        layers.Conv2D(384, 3, padding="same", activation="relu"),
        layers.Conv2D(384, 3, padding="same", groups=2, activation="relu"),
        layers.Conv2D(256, 3, padding="same", groups=2, activation="relu"),
        layers.MaxPool2D(3, 2),
        layers.Flatten(),
        layers.Dense(4096, activation="relu"), layers.Dropout(0.5),
        layers.Dense(4096, activation="relu"), layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ])


class Timer(keras.callbacks.Callback):
    """Time from the end of the first batch (which traces) to the end of training."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.start = time.perf_counter()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="timed steps after warm-up")
    parser.add_argument("--mode", choices=["train", "infer"], default="train")
    args = parser.parse_args()
    if args.batch < 1 or args.steps < 1:
        parser.error("--batch and --steps must be at least 1")
    keras.utils.set_random_seed(0)
    model = alexnet()
    x = np.random.randn(args.batch * (args.steps + 1), 227, 227, 3).astype("float32")
    y = np.random.randint(0, 1000, len(x))
    if args.mode == "train":
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                      "sparse_categorical_crossentropy")
        timer = Timer()
        model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, callbacks=[timer],
                  shuffle=False)
        seconds = timer.seconds
    else:
        model.predict(x[:args.batch], batch_size=args.batch, verbose=0)
        start = time.perf_counter()
        model.predict(x[args.batch:], batch_size=args.batch, verbose=0)
        seconds = time.perf_counter() - start
    print(f"params {model.count_params()}")
    print(f"keras-naive {args.mode} {args.batch * args.steps / seconds:.1f}")


if __name__ == "__main__":
    main()
