"""`assets.extra/tf_serving_warmup_requests`: PredictionLog records the server replays
when it loads a version, so the first real request does not pay for graph set-up.

One record per signature at batch 1, and the default signature also at a batch of
several images of different formats and sizes (TF Serving allows at most 1000 records).
"""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from alexnet_tf import atomic
from alexnet_tf.export import signatures
from alexnet_tf.export.servability import WARMUP_DIR, WARMUP_FILE


def sample_images(seed=0) -> list:
    """Encoded images a camera or browser would send: JPEG and PNG, landscape, portrait,
    grayscale, of a smooth random scene (real decoding and resizing work)."""
    rng = np.random.RandomState(seed)
    images = []
    for height, width, channels, encoder in ((240, 320, 3, "jpeg"), (500, 375, 3, "jpeg"),
                                              (256, 256, 1, "png"), (300, 400, 3, "png")):
        coarse = rng.uniform(0, 255, size=(8, 8, channels)).astype(np.float32)
        scene = tf.image.resize(coarse, (height, width), method="bicubic")
        pixels = tf.cast(tf.clip_by_value(scene, 0, 255), tf.uint8)
        encode = tf.io.encode_jpeg if encoder == "jpeg" else tf.io.encode_png
        images.append(encode(pixels).numpy())
    return images


def example_bytes(encoded_image: bytes) -> bytes:
    feature = {signatures.EXAMPLE_IMAGE_KEY: tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[encoded_image]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def predict_request(model_name, signature_name, key, value):
    from tensorflow_serving.apis import predict_pb2
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request


def warmup_requests(model_name: str, image_size: int, channels: int = 3, images=None) -> list:
    images = images or sample_images()
    one = np.array(images[:1], dtype=object)
    pixels = np.zeros((1, image_size, image_size, channels), np.float32)
    return [
        predict_request(model_name, signatures.DEFAULT_SIGNATURE, "images", one),
        predict_request(model_name, signatures.DEFAULT_SIGNATURE, "images",
                        np.array(images, dtype=object)),
        predict_request(model_name, signatures.FLOAT_SIGNATURE, "images", pixels),
        predict_request(model_name, signatures.FEATURES_SIGNATURE, "images", one),
        predict_request(model_name, signatures.CLASSIFY_SIGNATURE, "inputs",
                        np.array([example_bytes(images[0])], dtype=object)),
    ]


def write_warmup_file(version_dir, requests) -> str:
    from tensorflow_serving.apis import prediction_log_pb2
    folder = os.path.join(version_dir, WARMUP_DIR)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, WARMUP_FILE)
    if len(requests) > 1000:
        raise ValueError(f"{len(requests)} warmup records; TF Serving reads at most 1000")
    with atomic.publishing(path) as temporary, tf.io.TFRecordWriter(str(temporary)) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path
