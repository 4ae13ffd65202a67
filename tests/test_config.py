"""The config module carries the paper's numbers (PAPER.md), and overrides work."""
import dataclasses

import pytest

from alexnet_tf import config


def test_paper_preset_holds_the_papers_numbers():
    cfg = config.get_config("paper")
    m, d, t = cfg.model, cfg.data, cfg.train
    assert m.num_classes == 1000 and m.image_size == 227
    assert m.conv_filters == (96, 256, 384, 384, 256)
    assert m.conv_kernel_sizes == (11, 5, 3, 3, 3)
    assert m.conv_strides[0] == 4
    assert m.conv_groups == (1, 2, 1, 2, 2)
    assert m.fc_units == (4096, 4096) and m.dropout_rate == 0.5
    assert (m.lrn.depth_radius * 2 + 1, m.lrn.bias, m.lrn.alpha, m.lrn.beta) == (5, 2.0, 1e-4, 0.75)
    assert m.lrn.groups == 2 and not m.lrn.alpha_over_window
    assert (m.pool_size, m.pool_stride) == (3, 2)
    assert m.kernel_init == "normal" and m.kernel_init_stddev == 0.01
    assert set(m.bias_one_layers) == {"conv2", "conv4", "conv5", "fc6", "fc7"}
    assert d.resize_size == 256 and d.pca_stddev == 0.1 and d.num_eval_crops == 10
    assert d.input_scale == 1.0
    assert (t.batch_size, t.momentum, t.weight_decay, t.learning_rate) == (128, 0.9, 0.0005, 0.01)
    assert (t.lr_decay_factor, t.max_lr_reductions, t.epochs) == (0.1, 3, 90)


@pytest.mark.parametrize("name", ["digits", "tiny"])
def test_small_presets_keep_the_shape_with_their_own_init(name):
    cfg = config.get_config(name)
    paper = config.get_config("paper").model
    for field in ("conv_kernel_sizes", "conv_strides", "conv_groups", "conv_padding",
                  "lrn_after", "pool_after", "pool_size", "pool_stride", "lrn"):
        assert getattr(cfg.model, field) == getattr(paper, field), field
    assert cfg.model.kernel_init == "he_normal" and cfg.model.bias_one_layers == ()
    assert cfg.data.input_scale == pytest.approx(1 / 127.5)
    assert cfg.data.resize_size > cfg.model.image_size


def test_override_parses_types_and_nested_fields():
    cfg = config.override(config.get_config("paper"), [
        "train.batch_size=64", "model.lrn.alpha_over_window=true",
        "model.fc_units=(1024, 512)", "train.learning_rate=0.02", "data.dataset=folder"])
    assert cfg.train.batch_size == 64 and cfg.train.learning_rate == 0.02
    assert cfg.model.lrn.alpha_over_window is True
    assert cfg.model.fc_units == (1024, 512)
    assert cfg.data.dataset == "folder"
    assert dataclasses.replace(cfg, name="x").name == "x"


@pytest.mark.parametrize("bad, message", [
    (["train.bogus=1"], "unknown config field"),
    (["train.batch_size=abc"], "bad value"),
    (["model=1"], "is a section"),
    (["noequals"], "path=value"),
])
def test_override_errors_name_the_problem(bad, message):
    with pytest.raises(ValueError, match=message):
        config.override(config.get_config("paper"), bad)


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset"):
        config.get_config("vgg")
