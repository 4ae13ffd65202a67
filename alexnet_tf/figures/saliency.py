"""What a trained AlexNet looks at, through tf-keras-vis (0.8.7).

    pixels = activation_maximization(model, preprocessing, "conv5", [0, 1, 2])
    pixels = activation_maximization(model, preprocessing, "fc8", [class_id])
    heat = saliency(model, preprocessed_images, class_ids)       # [B, S, S] in [0, 1]
    heat = grad_cam(model, preprocessed_images, class_ids)       # [B, S, S] in [0, 1]

`model` is the logits model (no softmax: tf-keras-vis' `ReplaceToLinear` is not needed).
`preprocessing` is the network's input map written as pixels * scale + offset
(`AffinePreprocessing.from_function(eval_preprocess...)`): activation maximisation keeps
its search within what real 0-255 pixels can give and maps the result back to pixels, so
it is an image a person can look at.

Two things in tf-keras-vis 0.8.7 do not fit this package under Keras 3 / TF 2.21:
- Grad-CAM looks for its "penultimate Conv layer" with `isinstance(layer, BaseConv)`
  (`keras.src.layers.convolutional.base_conv`). `GroupedConv2D` is not a Keras `Conv`
  subclass (it must not be `Conv2D(groups=...)`: docs/design.md, "Grouped convolution"),
  so both the automatic search and `penultimate_layer="conv5"` fail with "Unable to
  determine penultimate `Conv` layer".
  Passing the layer by name with `seek_penultimate_conv_layer=False` skips that check: the
  flag the maintainer added for custom conv layers (keisen/tf-keras-vis#4).
- Model modifiers (`ExtractIntermediateLayer`, `ReplaceToLinear`) clone the model with
  `tf.keras.models.clone_model`; sub-models are built here directly instead (no clone).
Saliency, Grad-CAM(++) and activation maximisation otherwise run unchanged; each call
makes Keras 3 warn "The structure of `inputs` doesn't match the expected structure"
(tf-keras-vis passes a one-element list to a one-input model), which is silenced here.
Activation maximisation's defaults needed retuning (see `activation_maximization`).
"""
from __future__ import annotations

import dataclasses
import warnings

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class AffinePreprocessing:
    """The network's input map as preprocessed = pixels * scale + offset.

    Evaluation preprocessing (resize, centre crop, mean subtraction, scaling: §2) is affine
    per pixel once the crop is taken, so two constant images measure it exactly.
    """
    scale: np.ndarray    # [S, S, 3]
    offset: np.ndarray   # [S, S, 3]

    @classmethod
    def from_function(cls, preprocess, size: int) -> "AffinePreprocessing":
        """`preprocess(uint8 [size, size, 3]) -> float32 [size, size, 3]`."""
        low = np.asarray(preprocess(np.zeros((size, size, 3), np.uint8)), np.float32)
        high = np.asarray(preprocess(np.full((size, size, 3), 255, np.uint8)), np.float32)
        return cls(scale=(high - low) / 255.0, offset=low)

    def apply(self, pixels):
        return np.asarray(pixels, np.float32) * self.scale + self.offset

    def invert(self, preprocessed) -> np.ndarray:
        return (np.asarray(preprocessed, np.float32) - self.offset) / self.scale


def layer_output_model(model: keras.Model, layer_name: str) -> keras.Model:
    try:
        layer = model.get_layer(layer_name)
    except ValueError:
        names = [layer.name for layer in model.layers if layer.weights]
        raise ValueError(f"the model has no layer {layer_name!r}; layers with weights: "
                         f"{names}") from None
    return keras.Model(model.input, layer.output, name=f"{model.name}_{layer_name}")


def pre_activation_model(model: keras.Model, layer_name: str) -> keras.Model:
    """The output of `layer_name` before its activation (ReLU), as a model.

    A ReLU unit that is off for the starting image has no gradient, and most conv5 units
    of a trained net are off for the mean image, so activation maximisation would never
    move; maximising the linear response avoids that. The layer is rebuilt with
    `activation="linear"` and the same weights on the same input tensor.
    """
    layer_output_model(model, layer_name)          # a clear error for a wrong name
    layer = model.get_layer(layer_name)
    if getattr(layer, "activation", None) in (None, keras.activations.linear):
        return layer_output_model(model, layer_name)
    linear = type(layer).from_config({**layer.get_config(), "activation": "linear",
                                      "name": f"{layer_name}_linear"})
    outputs = linear(layer.input)
    linear.set_weights(layer.get_weights())
    return keras.Model(model.input, outputs, name=f"{model.name}_{layer_name}_linear")


def _unit_score(units):
    """Score of unit units[i] for sample i: a conv filter's mean activation or a logit."""
    units = list(units)

    def score(output):
        if len(output.shape) == 4:
            return [keras.ops.mean(output[i, :, :, u]) for i, u in enumerate(units)]
        return [output[i, u] for i, u in enumerate(units)]
    return score


def _greyscale_modifier():
    from tf_keras_vis.activation_maximization.input_modifiers import InputModifier

    class Greyscale(InputModifier):
        """Sets every channel to the pixel's mean over channels."""

        def __call__(self, seed_input):
            return keras.ops.repeat(keras.ops.mean(seed_input, axis=-1, keepdims=True), 3,
                                    axis=-1)
    return Greyscale()


def activation_maximization(model: keras.Model, preprocessing: AffinePreprocessing,
                            layer_name: str, units, *, steps: int = 300, seed: int = 0,
                            learning_rate: float = 0.02, total_variation: float = 3.0,
                            norm: float = 1.0, jitter: int | None = None,
                            grey: bool = False) -> np.ndarray:
    """Images (uint8 [len(units), S, S, 3]) that maximise each unit of `layer_name`:
    the mean response of a conv filter (before its ReLU, `pre_activation_model`), or a
    class logit of fc8.

    The search runs in the network's input space, clipped to what real pixels can give,
    from the mean image plus a little noise; the L1 norm there pulls towards the mean
    image, total variation towards smooth images. Upstream's defaults (RMSprop(1.0),
    TV 1, L1 0.3, rotation) are tuned for VGG16 on 0-255 inputs (maintainer's note,
    keisen/tf-keras-vis#34): on the digits model's [-1, 1] inputs their unit steps drive
    every pixel to black or white. Adam with a step of `learning_rate` times the input
    range, TV 3 and L1 1 were picked by looking at the digits model's images.
    `grey=True` keeps the three channels equal: a model trained on grey scans never
    learnt what colour does, and in colour shows colour noise.
    """
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.activation_maximization.input_modifiers import Jitter
    from tf_keras_vis.activation_maximization.regularizers import Norm, TotalVariation2D

    units = [int(u) for u in units]
    target = pre_activation_model(model, layer_name)
    channels = target.output.shape[-1]
    bad = [u for u in units if not 0 <= u < channels]
    if bad or not units:
        raise ValueError(f"{layer_name} has units 0..{channels - 1}; got {units}")
    size = model.input.shape[1]
    low = float(preprocessing.offset.min())
    high = float((preprocessing.offset + 255 * preprocessing.scale).max())
    jitter = max(1, size // 33) if jitter is None else jitter
    rng = np.random.default_rng(seed)
    start = preprocessing.apply(rng.uniform(118, 138, size=(len(units), size, size, 3)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs`")
        result = ActivationMaximization(target, clone=False)(
            _unit_score(units), seed_input=start.astype(np.float32), input_range=(low, high),
            steps=steps, optimizer=keras.optimizers.Adam(learning_rate * (high - low)),
            input_modifiers=[Jitter(jitter=jitter)] + ([_greyscale_modifier()] if grey else []),
            regularizers=[TotalVariation2D(weight=total_variation), Norm(weight=norm, p=1)])
    result = np.asarray(result)
    if grey:     # the modifier runs before each step; the last step's update is not grey
        result = np.repeat(result.mean(axis=-1, keepdims=True), 3, axis=-1)
    pixels = preprocessing.invert(result)
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def saliency(model: keras.Model, images, class_ids, *, smooth_samples: int = 20,
             smooth_noise: float = 0.2) -> np.ndarray:
    """SmoothGrad saliency (|d logit / d input|, max over colour), [B, S, S] in [0, 1]."""
    from tf_keras_vis.saliency import Saliency
    images = np.asarray(images, np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs`")
        maps = Saliency(model, clone=False)(_unit_score(class_ids), images,
                                            smooth_samples=smooth_samples,
                                            smooth_noise=smooth_noise)
    return np.asarray(maps, np.float32).reshape(images.shape[:3])


def grad_cam(model: keras.Model, images, class_ids, *, layer_name: str = "conv5",
             plus_plus: bool = False) -> np.ndarray:
    """Grad-CAM (or Grad-CAM++) heat maps at `layer_name`, resized to the input,
    [B, S, S] in [0, 1]. The layer is passed by name with the Conv-class check off (see
    the module doc)."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    layer_output_model(model, layer_name)          # a clear error for a wrong name
    images = np.asarray(images, np.float32)
    cam = (GradcamPlusPlus if plus_plus else Gradcam)(model, clone=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs`")
        maps = cam(_unit_score(class_ids), images, penultimate_layer=layer_name,
                   seek_penultimate_conv_layer=False)
    return np.nan_to_num(np.asarray(maps, np.float32)).reshape(images.shape[:3])
