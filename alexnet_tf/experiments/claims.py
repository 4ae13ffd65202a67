"""The paper's measured claims and the runs that check them: the grid.

Each claim compares two arms, the paper's design and a variant that changes one thing,
and each arm is a list of config overrides (`section.field=value`) of one preset: the
variants are built by the same model builder and input pipeline as every other run. The
claims are restated in our words with their sections.

Arms share what makes a comparison fair (`fair_overrides`): a fixed learning-rate schedule
(a plateau schedule driven by the validation error would move differently in each arm),
the epochs, the seeds and the precision (float32, set by the runner).
"""
from __future__ import annotations

import dataclasses

from alexnet_tf import config as config_lib

BASELINE = "baseline"


@dataclasses.dataclass(frozen=True)
class Claim:
    key: str            # what --only names
    section: str
    statement: str      # the claim in our words
    paper_effect: str   # what the paper measured, in our words
    arms: tuple         # (the paper's arm, the variant)
    measures: tuple     # names from MEASURES, the first is the headline


# What each measure is, per run (runner.run_numbers computes them from the history).
MEASURES = {
    "top1_error": "validation top-1 error after the last epoch (centre patch)",
    "top5_error": "validation top-5 error after the last epoch (centre patch)",
    "overfitting": "overfitting gap after the last epoch: validation top-1 error minus the "
                   "top-1 error on training images seen as evaluation sees them (centre "
                   "patch, no dropout); larger means more overfitting",
    "epochs_to_converge": "epochs to converge: the first epoch whose validation top-1 "
                          "error is within the tolerance of the lowest that run reaches",
}
# §6's comparison: the baseline's trained models, validation top-1 error with the centre
# patch (arm "center") and averaged over the multi-crop view (arm "ten_crop").

CLAIMS = (
    Claim("groups", "3.2",
          "Splitting the convolutional layers into two groups (the paper's two GPUs) gives "
          "lower error than one group with half as many kernels in each convolutional "
          "layer; that one-group net keeps the full last convolutional layer and "
          "full-size fully connected layers, so both nets have about as many parameters.",
          "top-1 error 1.7 points and top-5 error 1.2 points higher without the two groups",
          (BASELINE, "one_group_half_width"), ("top1_error", "top5_error")),
    Claim("lrn", "3.3",
          "Local response normalisation lowers the error.",
          "top-1 error 1.4 points and top-5 error 1.2 points higher without it",
          (BASELINE, "no_lrn"), ("top1_error", "top5_error")),
    Claim("pooling", "3.4",
          "Overlapping pooling (window 3, stride 2) gives lower error than non-overlapping "
          "pooling (window 2, stride 2) with outputs of the same size, and overfits "
          "slightly less.",
          "top-1 error 0.4 points and top-5 error 0.3 points higher with non-overlapping "
          "pooling; those nets overfit slightly more easily",
          (BASELINE, "pool_2x2"), ("top1_error", "top5_error", "overfitting")),
    Claim("crops", "4.1",
          "Training on random patches (and their reflections) prevents substantial "
          "overfitting.",
          "substantial overfitting without them (no number given)",
          (BASELINE, "no_crops_or_flips"), ("overfitting", "top1_error")),
    Claim("pca", "4.1",
          "Altering the intensities of the RGB channels along their principal components "
          "lowers the error.",
          "top-1 error over 1 point higher without it",
          (BASELINE, "no_pca_lighting"), ("top1_error", "top5_error")),
    Claim("dropout", "4.2",
          "Without dropout the net overfits substantially; dropout roughly doubles the "
          "iterations needed to converge.",
          "substantial overfitting without dropout; about half the iterations to converge",
          (BASELINE, "no_dropout"), ("overfitting", "epochs_to_converge", "top1_error")),
    Claim("ten_crop", "6",
          "Every error the paper reports averages the predictions over ten patches (the "
          "four corners, the centre and their reflections).",
          "no centre-patch figure is given for the same net",
          ("ten_crop", "center"), ("top1_error",)),
)

FIGURE1 = Claim(
    "figure1", "3.1, Figure 1",
    "A four-layer convolutional net with ReLUs reaches 25% training error several times "
    "faster than the same net with tanh units, each with the learning rate that makes it "
    "train fastest and without any regularisation.",
    "six times fewer epochs with ReLUs (on CIFAR-10)",
    ("relu", "tanh"), ("epochs_to_target",))

ALL_KEYS = tuple(claim.key for claim in CLAIMS) + (FIGURE1.key,)


def variant_overrides(cfg: config_lib.Config) -> dict:
    """{arm name: overrides of `cfg`} for the ablation arms (the baseline: none)."""
    m = cfg.model
    filters = m.conv_filters
    half = tuple(max(1, f // 2) for f in filters[:-1]) + filters[-1:]
    return {
        BASELINE: [],
        # §3.2 footnote: half the kernels in every conv layer but the last, one group, and
        # LRN over all channels of a layer (one GPU's view).
        "one_group_half_width": [_tuple("model.conv_filters", half),
                                 _tuple("model.conv_groups", (1,) * len(filters)),
                                 "model.lrn.groups=1"],
        "no_lrn": ["model.lrn_after="],
        "pool_2x2": ["model.pool_size=2", "model.pool_stride=2"],
        "no_crops_or_flips": ["data.random_crop=false", "data.random_flip=false"],
        "no_pca_lighting": ["data.pca_stddev=0"],
        "no_dropout": ["model.dropout_rate=0"],
    }


def figure1_overrides(cfg: config_lib.Config, activation: str, learning_rate: float) -> list:
    """The small net of Figure 1, built from the preset's layers (the paper does not print
    its layers): conv1-conv3 of the preset (one group, no LRN), max pooling after each, then
    the classifier fc8: four layers with weights. No regularisation of any kind: no dropout
    (there is no fc6/fc7), no weight decay, no random crops, reflections or PCA lighting.
    A constant learning rate."""
    m = cfg.model
    return [_tuple("model.conv_filters", m.conv_filters[:3]),
            _tuple("model.conv_kernel_sizes", m.conv_kernel_sizes[:3]),
            _tuple("model.conv_strides", m.conv_strides[:3]),
            "model.conv_groups=1,1,1", _tuple("model.conv_padding", m.conv_padding[:3]),
            "model.lrn_after=", "model.pool_after=conv1,conv2,conv3", "model.fc_units=",
            "model.dropout_rate=0", f"model.activation={activation}",
            "train.weight_decay=0", "data.random_crop=false", "data.random_flip=false",
            "data.pca_stddev=0", f"train.learning_rate={learning_rate!r}",
            "train.lr_step_epochs="]


def fair_overrides(cfg: config_lib.Config, epochs: int | None = None) -> list:
    """What every arm shares: `epochs` (default the preset's) and a fixed schedule, the
    preset's rate drops at the same fractions of the run (the plateau schedule would move
    differently in each arm), and float32 arithmetic (a comparison must not depend on the
    CPU that `--precision=auto` reads)."""
    epochs = epochs or cfg.train.epochs
    steps = sorted({max(1, round(e * epochs / cfg.train.epochs))
                    for e in cfg.train.lr_step_epochs})
    steps = [e for e in steps if e < epochs]
    return [f"train.epochs={epochs}", "train.lr_schedule=fixed", "train.precision=float32",
            "train.lr_step_epochs=" + ",".join(str(e) for e in steps)]


def select(only) -> tuple:
    """The claims `only` names (all when empty): (claims, include Figure 1)."""
    only = [key.strip() for key in only if key.strip()]
    unknown = [key for key in only if key not in ALL_KEYS]
    if unknown:
        raise ValueError(f"--only names no claim {unknown[0]!r}; the claims are "
                         f"{', '.join(ALL_KEYS)}")
    chosen = tuple(c for c in CLAIMS if not only or c.key in only)
    return chosen, (not only or FIGURE1.key in only)


def pooled_sizes(m: config_lib.ModelConfig) -> list:
    """The side of the feature map after each pooling layer."""
    sizes, size = [], m.image_size
    for i, layer in enumerate(config_lib._CONV_LAYERS[:len(m.conv_filters)]):
        size = ((size - m.conv_kernel_sizes[i]) // m.conv_strides[i] + 1
                if m.conv_padding[i] == "valid" else -(-size // m.conv_strides[i]))
        if layer in m.pool_after:
            size = (size - m.pool_size) // m.pool_stride + 1
            sizes.append(size)
    return sizes


def _tuple(path, values) -> str:
    return f"{path}=" + ",".join(str(v) for v in values)
