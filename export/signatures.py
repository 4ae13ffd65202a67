"""The serving signatures of the exported SavedModel.

- `serving_default`: `images` — a batch of encoded image bytes (JPEG, PNG, GIF or BMP;
  tf.string [B]; REST clients send `{"b64": ...}`), preprocessed in-graph by
  `preprocessing.serving_preprocess`, the same function evaluation uses (strict decoding,
  shorter side -> resize size, centre crop, mean subtraction). Outputs the top-k
  `top_k_class_ids`, `top_k_labels` (synset ids / folder names), `top_k_names`
  (human-readable), `top_k_probabilities`, and the full `probabilities` vector.
- `predict_images`: `images` float32 [B, S, S, 3], already preprocessed; same outputs.
- `features`: encoded image bytes -> `fc7`, the 4096-d vectors of §6.1 (similarity search).
- `classify`: the standard Classify signature over serialized `tf.Example`s holding
  `image/encoded`; outputs `classes` (labels) and `scores`, top-k.

Every signature guards its input before any decoding: at most `max_batch_size` items per
request, each at most `max_image_bytes`, all together at most `max_request_bytes`; an
empty request is refused. Decoding then refuses empty, garbage, truncated and oversized
(header-declared) images with an InvalidArgument error naming the problem.
"""
from __future__ import annotations

import dataclasses
import os

import keras
import tensorflow as tf

from alexnet_tf.data import preprocessing
from alexnet_tf.data.class_names import ClassNames
from alexnet_tf.network.model import fc7_features, with_softmax

DEFAULT_SIGNATURE = "serving_default"
FLOAT_SIGNATURE = "predict_images"
FEATURES_SIGNATURE = "features"
CLASSIFY_SIGNATURE = "classify"
CLASSIFY_METHOD_NAME = "tensorflow/serving/classify"
EXAMPLE_IMAGE_KEY = "image/encoded"


@dataclasses.dataclass(frozen=True)
class ServingLimits:
    """What one request may hold. `max_batch_size` must be at least the server-side
    batching `max_batch_size` (the batcher merges requests into one call)."""
    max_batch_size: int = 64
    max_image_bytes: int = 16 * 2**20
    max_request_bytes: int = 64 * 2**20
    top_k: int = 5                      # five guesses, as the paper's top-5 error counts

    def __post_init__(self):
        for field in dataclasses.fields(self):
            if getattr(self, field.name) < 1:
                raise ValueError(f"ServingLimits.{field.name} must be >= 1")


def _guard_request(items, limits: ServingLimits, item="image"):
    """Fails the request, with a message naming the limit, before any decoding."""
    count = tf.size(items)
    lengths = tf.cast(tf.strings.length(items), tf.int64)
    largest = tf.reduce_max(tf.concat([lengths, [0]], 0))
    total = tf.reduce_sum(lengths)
    checks = [
        tf.debugging.Assert(count > 0, [f"empty request: send at least one {item}"]),
        tf.debugging.Assert(count <= limits.max_batch_size, [tf.strings.format(
            "request holds {} " + item + "s; the limit is " + str(limits.max_batch_size) +
            " per request", count)]),
        tf.debugging.Assert(largest <= limits.max_image_bytes, [tf.strings.format(
            "an " + item + " of {} bytes is above the limit of " +
            str(limits.max_image_bytes) + " bytes per image", largest)]),
        tf.debugging.Assert(total <= limits.max_request_bytes, [tf.strings.format(
            "request holds {} bytes; the limit is " + str(limits.max_request_bytes) +
            " bytes per request", total)]),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(items)


def _guard_batch(images, limits: ServingLimits):
    count = tf.shape(images)[0]
    checks = [
        tf.debugging.Assert(count > 0, ["empty request: send at least one image"]),
        tf.debugging.Assert(count <= limits.max_batch_size, [tf.strings.format(
            "request holds {} images; the limit is " + str(limits.max_batch_size) +
            " per request", count)]),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(images)


def build_archive(model: keras.Model, cfg, stats, classes: ClassNames,
                  limits: ServingLimits = ServingLimits()) -> keras.export.ExportArchive:
    """An ExportArchive holding the four signatures over `model` (a logits model)."""
    size = cfg.model.image_size
    if tuple(model.input_shape[1:]) != (size, size, cfg.model.channels):
        raise ValueError(f"the model takes {model.input_shape[1:]} but the config's input is "
                         f"{(size, size, cfg.model.channels)}: pass the config it was "
                         "trained with")
    num_classes = model.output_shape[-1]
    if len(classes) != num_classes:
        raise ValueError(f"{len(classes)} class names for a model with {num_classes} "
                         "outputs")
    probabilities_model = with_softmax(model)
    features_model = fc7_features(model)
    top_k = min(limits.top_k, num_classes)
    labels = tf.constant(list(classes.labels))
    names = tf.constant(list(classes.names))
    max_pixels = cfg.data.max_image_pixels

    def preprocess(encoded):
        encoded = _guard_request(encoded, limits)
        return preprocessing.serving_preprocess(encoded, cfg, stats, max_pixels)

    def classification(images):
        probabilities = probabilities_model(images, training=False)
        top_probabilities, top_ids = tf.math.top_k(probabilities, k=top_k)
        return {
            "top_k_class_ids": top_ids,
            "top_k_labels": tf.gather(labels, top_ids),
            "top_k_names": tf.gather(names, top_ids),
            "top_k_probabilities": top_probabilities,
            "probabilities": probabilities,
        }

    def serve_encoded(images):
        return classification(preprocess(images))

    def serve_pixels(images):
        return classification(_guard_batch(images, limits))

    def serve_features(images):
        # float32 whatever the model computes in (a bfloat16 export's fc7 is bfloat16)
        return {"fc7": tf.cast(features_model(preprocess(images), training=False),
                               tf.float32)}

    def serve_examples(inputs):
        inputs = _guard_request(inputs, limits, item="example")
        parsed = tf.io.parse_example(
            inputs, {EXAMPLE_IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)})
        images = preprocessing.serving_preprocess(parsed[EXAMPLE_IMAGE_KEY], cfg, stats,
                                                  max_pixels)
        outputs = classification(images)
        return {"classes": outputs["top_k_labels"], "scores": outputs["top_k_probabilities"]}

    # No `archive.track(model)`: the endpoints capture the variables themselves, and
    # tracking the Keras wrappers as well stores every weight twice (keras-team/keras#23553:
    # a 2x SavedModel and 2x variable memory in TF Serving).
    archive = keras.export.ExportArchive()
    encoded_spec = [tf.TensorSpec([None], tf.string, name="images")]
    archive.add_endpoint(DEFAULT_SIGNATURE, serve_encoded, input_signature=encoded_spec)
    archive.add_endpoint(FLOAT_SIGNATURE, serve_pixels, input_signature=[
        tf.TensorSpec([None, size, size, cfg.model.channels], tf.float32, name="images")])
    archive.add_endpoint(FEATURES_SIGNATURE, serve_features, input_signature=encoded_spec)
    archive.add_endpoint(CLASSIFY_SIGNATURE, serve_examples,
                         input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    return archive


def mark_classify_signature(saved_model_dir):
    """TF2 saves every signature as a Predict one; TF Serving's Classify API needs the
    classify method name. Rewrites it in saved_model.pb (and the fingerprint of that file)."""
    from tensorflow.python.saved_model import fingerprinting_utils

    from alexnet_tf.export import servability
    proto = servability.read_saved_model(saved_model_dir)
    meta_graph = servability.serving_meta_graph(proto)
    meta_graph.signature_def[CLASSIFY_SIGNATURE].method_name = CLASSIFY_METHOD_NAME
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "wb") as f:
        f.write(proto.SerializeToString())
    fingerprinting_utils.write_fingerprint(saved_model_dir)
