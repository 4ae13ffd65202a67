"""Saliency and Grad-CAM through tf-keras-vis against a GradientTape of our own."""
import numpy as np
import pytest
import tensorflow as tf

from alexnet_tf.figures import saliency as visualization
from alexnet_tf.inference import loader as inference


def test_saliency_is_the_input_gradient_and_grad_cam_is_normalised(figure_inputs):
    """Saliency without smoothing: max over colour of |d logit / d input|, scaled to [0, 1]
    (tf-keras-vis' normalisation), against a GradientTape of our own."""
    _, work, _, queries = figure_inputs
    classifier = inference.load_classifier(work)
    inputs = classifier.preprocess_files(queries)
    target = [2, 7]
    maps = visualization.saliency(classifier.model, inputs, target, smooth_samples=0)
    x = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = classifier.model(x, training=False)
        score = tf.reduce_sum(tf.gather(logits, target, axis=1, batch_dims=1))
    gradient = np.abs(tape.gradient(score, x).numpy()).max(axis=-1)
    low = gradient.min(axis=(1, 2), keepdims=True)
    high = gradient.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(maps, (gradient - low) / (high - low), atol=1e-4)
    cams = visualization.grad_cam(classifier.model, inputs, target)
    assert cams.shape == inputs.shape[:3] and cams.min() >= 0 and cams.max() <= 1 + 1e-6
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        visualization.grad_cam(classifier.model, inputs, target, layer_name="conv9")
