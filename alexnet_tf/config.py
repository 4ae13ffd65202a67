"""Every number of the paper, in one place, each tagged with its section.

Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks", NIPS 2012. Nothing else in the package holds one of these
numbers as a literal: code reads them from a `Config`.

    from alexnet_tf import config
    cfg = config.get_config("paper")            # the network as published
    cfg = config.get_config("digits")           # the embedded default (small images)
    cfg = config.override(cfg, ["train.batch_size=64", "model.num_classes=10"])

Presets:
- `paper`: ILSVRC-2012, 1000 classes, 227x227 input, the paper's init and recipe.
- `digits`: the embedded default (scikit-learn's 8x8 digit scans, upscaled); the
  architecture's shape (same kernels, strides, pooling, groups, LRN) at 67x67 input
  and a quarter of the widths, with He init and [-1, 1] inputs: the paper's init does
  not learn at this size (docs/design.md, "Initialisation and input scale of the small
  presets").
- `tiny`: the same shape, eighth widths, for fast tests.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from alexnet_tf.precision import REQUESTS

PAPER_INIT_STDDEV = 0.01  # §5: weights ~ N(0, 0.01)
PAPER_BIAS_ONE_LAYERS = ("conv2", "conv4", "conv5", "fc6", "fc7")  # §5: biases = 1
PAPER_BIAS_ONE_VALUE = 1.0  # §5: "initialized the neuron biases ... with the constant 1"


@dataclass(frozen=True)
class LRNConfig:
    """Local response normalization, §3.3.

    b = a / (bias + alpha * sum_{window} a^2)^beta over `2 * depth_radius + 1` maps.
    The paper's formula as printed: alpha is NOT divided by the window size.
    Caffe and cuda-convnet divide it (`alpha_over_window=True`; Caffe also bias=1).
    """
    depth_radius: int = 2             # §3.3: n = 5 adjacent maps -> radius 2
    bias: float = 2.0                 # §3.3: k = 2
    alpha: float = 1e-4               # §3.3: alpha = 10^-4
    beta: float = 0.75                # §3.3: beta = 0.75
    alpha_over_window: bool = False   # §3.3 as printed; True for Caffe / cuda-convnet
    groups: int = 2                   # §3.2/§3.3: each GPU normalises its own half


@dataclass(frozen=True)
class ModelConfig:
    """The architecture, §3 and Figure 2."""
    num_classes: int = 1000                          # §2: ILSVRC-2012 has 1000 classes
    image_size: int = 227                            # decision: 224 in the paper cannot give 55x55
    channels: int = 3                                # §2: raw RGB
    # One entry per conv layer, conv1 first. Fewer than five entries build the first ones
    # only (the small net of Figure 1, `alexnet_tf.experiments.claims`); the paper has five.
    conv_filters: tuple = (96, 256, 384, 384, 256)   # §3.5
    conv_kernel_sizes: tuple = (11, 5, 3, 3, 3)      # §3.5
    conv_strides: tuple = (4, 1, 1, 1, 1)            # §3.5: stride 4 in conv1
    conv_groups: tuple = (1, 2, 1, 2, 2)             # §3.2: conv2/4/5 read only their own GPU's half
    conv_padding: tuple = ("valid", "same", "same", "same", "same")  # 227 -> 55 needs no padding
    lrn_after: tuple = ("conv1", "conv2")            # §3.3: LRN after ReLU of conv1 and conv2
    pool_after: tuple = ("conv1", "conv2", "conv5")  # §3.4: after norm1, norm2 and conv5
    pool_size: int = 3                               # §3.4: z = 3
    pool_stride: int = 2                             # §3.4: s = 2 (overlapping)
    fc_units: tuple = (4096, 4096)                   # §3.5: fc6, fc7 (fewer: fc8 comes sooner)
    activation: str = "relu"                         # §3.1: ReLU; "tanh" for Figure 1's comparison
    dropout_rate: float = 0.5                        # §4.2: dropout on the outputs of fc6, fc7
    lrn: LRNConfig = field(default_factory=LRNConfig)
    # Initialisation, §5: N(0, 0.01) weights, biases 1 in conv2/4/5, fc6, fc7.
    kernel_init: str = "normal"                      # "normal" (paper) or "he_normal"
    kernel_init_stddev: float = PAPER_INIT_STDDEV    # used by "normal"
    bias_one_layers: tuple = PAPER_BIAS_ONE_LAYERS   # every other bias starts at 0
    bias_one_value: float = PAPER_BIAS_ONE_VALUE


@dataclass(frozen=True)
class DataConfig:
    """Input and augmentation, §2 and §4.1."""
    dataset: str = "imagenet2012"
    resize_size: int = 256            # §2: shorter side -> 256, central 256x256 crop
    input_scale: float = 1.0          # §2: raw 0-255 RGB minus the mean image
    pca_stddev: float = 0.1           # §4.1: alpha_i ~ N(0, 0.1)
    num_eval_crops: int = 10          # §4.1: corners + centre and reflections (not read: the
                                      # view follows random_flip, see preprocessing)
    mean: str = "image"               # §2: per-pixel mean image; "channel": its RGB means;
                                      # "fallback": fallback_mean_rgb (no statistics pass)
    random_flip: bool = True          # §4.1: horizontal reflections of the training patches
    random_crop: bool = True          # §4.1: random patches; False trains on the centre patch
    # Not in the paper: train on this fraction of the training images (a fixed, class-
    # stratified subset; sources that list their images: digits, folder). A harder setting
    # for small-scale experiments.
    train_fraction: float = 1.0
    # §4.1 adds sum_i alpha_i * lambda_i * p_i. "eigenvalue" is the formula as printed, with
    # lambda_i the covariance eigenvalues of 0-255 pixels: on photos lambda_1 is ~16,000, a
    # shift of ~1,600 levels per sigma. "stddev" uses sqrt(lambda_i), as Krizhevsky's
    # cuda-convnet2 code does (its `color_stdevs`): ~13 levels. Decision: "stddev".
    pca_magnitude: str = "stddev"
    data_dir: str = ""                # TFDS data_dir / image-folder root / TFRecord directory
    manual_dir: str = ""              # where ILSVRC2012_img_{train,val}.tar are (TFDS manual_dir)
    statistics_path: str = ""         # mean image + RGB eigen; "" = beside the data
    max_image_pixels: int = 8192 * 8192  # larger headers are refused before decoding
    shuffle_buffer: int = 10_000      # examples, for record-based sources (files: full shuffle)
    # Not in the paper: ImageNet's RGB means as Caffe/VGG use them, subtracted only with
    # data.mean=fallback (then no statistics are computed and no PCA noise is added).
    fallback_mean_rgb: tuple = (123.68, 116.779, 103.939)


@dataclass(frozen=True)
class TrainConfig:
    """The learning recipe, §5."""
    batch_size: int = 128             # §5
    momentum: float = 0.9             # §5
    weight_decay: float = 0.0005      # §5: inside the momentum (L2 on the gradient)
    learning_rate: float = 0.01       # §5: same for all layers
    lr_decay_factor: float = 0.1      # §5: divided by 10 when validation error stops improving
    max_lr_reductions: int = 3        # §5: reduced three times
    epochs: int = 90                  # §5: roughly 90 cycles
    # Not in the paper ("stops improving"): our reading, documented in the README.
    plateau_patience: int = 5
    plateau_min_delta: float = 0.001
    # Not in the paper: "plateau" (above) or "fixed", the rate divided by lr_decay_factor
    # after each epoch listed in lr_step_epochs, whatever the validation error does (the
    # experiments' arms share one schedule).
    lr_schedule: str = "plateau"
    lr_step_epochs: tuple = (30, 60, 80)
    # Not in the paper: seeds the initial weights, the data order, crops and dropout. A
    # work directory resumes only with the seed it started with.
    seed: int = 0
    # Not in the paper: float32, bfloat16 or mixed_float16 (alexnet_tf.precision); "auto"
    # asks a new run to choose from the hardware. A run records what it used and why, and
    # resumes with it (a config.json without these fields was trained in float32).
    precision: str = "auto"
    precision_reason: str = ""


@dataclass(frozen=True)
class Config:
    name: str = "paper"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def _scaled(widths, factor):
    return tuple(max(1, w // factor) for w in widths)


def paper() -> Config:
    return Config()


def digits() -> Config:
    """The embedded default: scikit-learn digits upscaled to 67x67.

    67 = 4 * (15 - 1) + 11 keeps conv1's 11x11 stride-4 geometry: 67 -> 15 -> 7 -> 3 -> 1.
    """
    base = ModelConfig()
    model = dataclasses.replace(
        base,
        num_classes=10,
        image_size=67,
        conv_filters=_scaled(base.conv_filters, 4),
        fc_units=_scaled(base.fc_units, 8),
        kernel_init="he_normal",
        bias_one_layers=(),
    )
    # Mirrored digits are other glyphs: no flips.
    data = DataConfig(dataset="digits", resize_size=76, input_scale=1 / 127.5, mean="channel",
                      random_flip=False)
    train = TrainConfig(batch_size=32, epochs=20, plateau_patience=3, lr_step_epochs=(12, 16))
    return Config(name="digits", model=model, data=data, train=train)


def tiny() -> Config:
    """Smallest net of the paper's shape, for fast tests."""
    cfg = digits()
    model = dataclasses.replace(
        cfg.model,
        conv_filters=_scaled(ModelConfig().conv_filters, 8),
        fc_units=(64, 64),
    )
    return dataclasses.replace(cfg, name="tiny", model=model,
                               train=dataclasses.replace(cfg.train, batch_size=8, epochs=2))


PRESETS = {"paper": paper, "digits": digits, "tiny": tiny}


def get_config(name: str) -> Config:
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


def _parse_value(text: str, current: Any) -> Any:
    if isinstance(current, bool):
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"expected a boolean, got {text!r}")
    if isinstance(current, tuple):
        items = [t.strip() for t in text.strip("()[] ").split(",") if t.strip()]
        kind = type(current[0]) if current else str
        return tuple(kind(t) for t in items)
    if isinstance(current, float):
        return float(text)
    if isinstance(current, int):
        return int(text)
    return text


def override(cfg: Config, assignments) -> Config:
    """Returns `cfg` with `section.field=value` (or `model.lrn.field=value`) applied."""
    for assignment in assignments:
        if "=" not in assignment:
            raise ValueError(f"config override {assignment!r} is not of the form path=value")
        path, text = assignment.split("=", 1)
        keys = path.strip().split(".")
        cfg = _replace_path(cfg, keys, text.strip(), path)
    return cfg


def _replace_path(obj, keys, text, full_path):
    names = {f.name for f in dataclasses.fields(obj)}
    if keys[0] not in names:
        raise ValueError(f"unknown config field {full_path!r}; "
                         f"{type(obj).__name__} has {sorted(names)}")
    current = getattr(obj, keys[0])
    if len(keys) == 1:
        if dataclasses.is_dataclass(current):
            raise ValueError(f"{full_path!r} is a section; set one of its fields")
        try:
            value = _parse_value(text, current)
        except ValueError as e:
            raise ValueError(f"bad value for {full_path!r}: {e}") from None
        return dataclasses.replace(obj, **{keys[0]: value})
    if not dataclasses.is_dataclass(current):
        raise ValueError(f"{full_path!r}: {keys[0]!r} has no fields")
    return dataclasses.replace(obj, **{keys[0]: _replace_path(current, keys[1:], text, full_path)})


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


# Names the model gives its layers (model.py holds the same tuples; config stays import-free).
_CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
_LAYERS = _CONV_LAYERS + ("fc6", "fc7", "fc8")
# §2: a per-pixel mean image, per-channel means, or (asked for explicitly) ImageNet's
# usual RGB means where the data has no statistics of its own.
MEAN_MODES = ("image", "channel", "fallback")

ACTIVATIONS = ("relu", "tanh")
LR_SCHEDULES = ("plateau", "fixed")

_CHOICES = {"model.kernel_init": ("normal", "he_normal"), "data.mean": MEAN_MODES,
            "data.pca_magnitude": ("stddev", "eigenvalue"), "model.activation": ACTIVATIONS,
            "train.lr_schedule": LR_SCHEDULES, "train.precision": REQUESTS}


def validate(cfg: Config) -> Config:
    """Raises ValueError (one line naming the field and what it allows) if any field of
    `cfg` cannot train; returns `cfg`. Checked before a run writes anything, so a refused
    command leaves nothing behind that would block the corrected one."""
    for path, value in _leaves(cfg):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{path} must be a finite number, got {value}")
        if path in _CHOICES and value not in _CHOICES[path]:
            raise ValueError(f"{path} must be one of {list(_CHOICES[path])}, got {value!r}")
    m, d, t = cfg.model, cfg.data, cfg.train
    _at_least("model.num_classes", m.num_classes, 2)
    if m.channels != 3:
        raise ValueError(f"model.channels must be 3 (the input pipeline decodes RGB), "
                         f"got {m.channels}")
    _at_least("model.image_size", m.image_size, 1)
    _in_range("model.dropout_rate", m.dropout_rate, 0, 1)
    _above("model.kernel_init_stddev", m.kernel_init_stddev, 0)
    conv_layers = _CONV_LAYERS[:len(m.conv_filters)]
    if not m.conv_filters or len(m.conv_filters) > len(_CONV_LAYERS):
        raise ValueError(f"model.conv_filters needs 1 to {len(_CONV_LAYERS)} entries (one per "
                         f"conv layer), got {m.conv_filters}")
    for name in ("conv_kernel_sizes", "conv_strides", "conv_groups", "conv_padding"):
        if len(getattr(m, name)) != len(conv_layers):
            raise ValueError(f"model.{name} needs {len(conv_layers)} entries (one per conv "
                             f"layer, as model.conv_filters), got {getattr(m, name)}")
    if len(m.fc_units) > 2:
        raise ValueError(f"model.fc_units has at most 2 entries (fc6, fc7), got {m.fc_units}")
    for name, values in (("conv_filters", m.conv_filters), ("conv_kernel_sizes",
                         m.conv_kernel_sizes), ("conv_strides", m.conv_strides),
                         ("conv_groups", m.conv_groups), ("fc_units", m.fc_units)):
        for i, value in enumerate(values):
            _at_least(f"model.{name}[{i}]", value, 1)
    for i, padding in enumerate(m.conv_padding):
        if padding not in ("valid", "same"):
            raise ValueError(f"model.conv_padding[{i}] must be 'valid' or 'same', got "
                             f"{padding!r}")
    for name, allowed in (("lrn_after", conv_layers), ("pool_after", conv_layers),
                          ("bias_one_layers", _LAYERS)):
        unknown = [layer for layer in getattr(m, name) if layer not in allowed]
        if unknown:
            raise ValueError(f"model.{name} names no layer {unknown[0]!r}; the layers are "
                             f"{list(allowed)}")
    _at_least("model.pool_size", m.pool_size, 1)
    _at_least("model.pool_stride", m.pool_stride, 1)
    _at_least("model.lrn.depth_radius", m.lrn.depth_radius, 0)
    _above("model.lrn.bias", m.lrn.bias, 0)
    _at_least("model.lrn.alpha", m.lrn.alpha, 0)
    _at_least("model.lrn.beta", m.lrn.beta, 0)
    _at_least("model.lrn.groups", m.lrn.groups, 1)
    channels = m.channels
    for i, layer in enumerate(conv_layers):
        groups, filters = m.conv_groups[i], m.conv_filters[i]
        if channels % groups or filters % groups:
            raise ValueError(f"model.conv_groups[{i}]={groups} must divide both the "
                             f"{channels} input channels and the {filters} filters of {layer}")
        if layer in m.lrn_after and filters % m.lrn.groups:
            raise ValueError(f"model.lrn.groups={m.lrn.groups} must divide the {filters} "
                             f"channels of {layer}")
        channels = filters
    if _feature_size(m, m.image_size) < 1:
        smallest = next(size for size in range(1, 100_000) if _feature_size(m, size) >= 1)
        raise ValueError(f"model.image_size={m.image_size} is too small for the layers (the "
                         f"feature map vanishes before fc6); it must be >= {smallest}")
    if not d.dataset:
        raise ValueError("data.dataset must name a dataset, got ''")
    if d.resize_size < m.image_size:
        raise ValueError(f"data.resize_size must be >= model.image_size={m.image_size} (the "
                         f"crops are cut from the resized image), got {d.resize_size}")
    _above("data.input_scale", d.input_scale, 0)
    _at_least("data.pca_stddev", d.pca_stddev, 0)
    _at_least("data.max_image_pixels", d.max_image_pixels, 1)
    _at_least("data.shuffle_buffer", d.shuffle_buffer, 1)
    if not 0 < d.train_fraction <= 1:
        raise ValueError(f"data.train_fraction must be in (0, 1], got {d.train_fraction}")
    if len(d.fallback_mean_rgb) != 3:
        raise ValueError(f"data.fallback_mean_rgb needs 3 entries (R, G, B), got "
                         f"{d.fallback_mean_rgb}")
    _at_least("train.batch_size", t.batch_size, 1)
    _at_least("train.epochs", t.epochs, 1)
    _above("train.learning_rate", t.learning_rate, 0)
    _in_range("train.momentum", t.momentum, 0, 1)
    _at_least("train.weight_decay", t.weight_decay, 0)
    if not 0 < t.lr_decay_factor < 1:
        raise ValueError(f"train.lr_decay_factor must be in (0, 1), got {t.lr_decay_factor}")
    _at_least("train.max_lr_reductions", t.max_lr_reductions, 0)
    _at_least("train.plateau_patience", t.plateau_patience, 1)
    _at_least("train.plateau_min_delta", t.plateau_min_delta, 0)
    for i, epoch in enumerate(t.lr_step_epochs):
        _at_least(f"train.lr_step_epochs[{i}]", epoch, 1)
        if i and epoch <= t.lr_step_epochs[i - 1]:
            raise ValueError(f"train.lr_step_epochs must increase (epochs after which the "
                             f"rate drops), got {t.lr_step_epochs}")
    return cfg


def _leaves(obj, prefix=""):
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, f"{prefix}{f.name}.")
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                yield f"{prefix}{f.name}[{i}]", item
            yield f"{prefix}{f.name}", value
        else:
            yield f"{prefix}{f.name}", value


def _at_least(path, value, low):
    if not value >= low:
        raise ValueError(f"{path} must be >= {low}, got {value}")


def _above(path, value, low):
    if not value > low:
        raise ValueError(f"{path} must be > {low}, got {value}")


def _in_range(path, value, low, high):
    if not low <= value < high:
        raise ValueError(f"{path} must be in [{low}, {high}), got {value}")


def _feature_size(m: ModelConfig, size: int) -> int:
    """The side of the feature map after the conv and pooling layers (< 1: vanished)."""
    for i, layer in enumerate(_CONV_LAYERS[:len(m.conv_filters)]):
        kernel, stride = m.conv_kernel_sizes[i], m.conv_strides[i]
        size = (size - kernel) // stride + 1 if m.conv_padding[i] == "valid" \
            else -(-size // stride)
        if layer in m.pool_after:
            size = (size - m.pool_size) // m.pool_stride + 1
        if size < 1:
            return size
    return size


def from_command_line(preset: str, *, dataset=None, epochs=None, batch_size=None, seed=None,
                      overrides=()) -> Config:
    """The Config a command line asks for: the preset, then the shortcut flags, then the
    `section.field=value` overrides in order; validated."""
    shortcuts = [f"{path}={value}" for path, value in (
        ("data.dataset", dataset), ("train.epochs", epochs),
        ("train.batch_size", batch_size), ("train.seed", seed)) if value not in (None, "")]
    return validate(override(get_config(preset), [*shortcuts, *overrides]))
