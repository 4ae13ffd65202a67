"""The config module carries the paper's numbers (docs/design.md, "The paper's numbers
that the tests pin"), and overrides work."""
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


@pytest.mark.parametrize("name", sorted(config.PRESETS))
def test_every_preset_is_valid(name):
    assert config.validate(config.get_config(name)) == config.get_config(name)


@pytest.mark.parametrize("bad, message", [
    ("train.batch_size=0", "train.batch_size must be >= 1, got 0"),
    ("train.epochs=0", "train.epochs must be >= 1, got 0"),
    ("train.epochs=-2", "train.epochs must be >= 1, got -2"),
    ("data.resize_size=60", "data.resize_size must be >= model.image_size=67"),
    ("model.num_classes=1", "model.num_classes must be >= 2, got 1"),
    ("train.learning_rate=0", "train.learning_rate must be > 0, got 0.0"),
    ("train.learning_rate=inf", "train.learning_rate must be a finite number"),
    ("train.momentum=nan", "train.momentum must be a finite number"),
    ("train.momentum=1", r"train.momentum must be in \[0, 1\), got 1.0"),
    ("model.dropout_rate=1", r"model.dropout_rate must be in \[0, 1\), got 1.0"),
    ("train.weight_decay=-1e-4", "train.weight_decay must be >= 0"),
    ("train.lr_decay_factor=10", r"train.lr_decay_factor must be in \(0, 1\)"),
    ("train.plateau_patience=0", "train.plateau_patience must be >= 1"),
    ("data.input_scale=0", "data.input_scale must be > 0"),
    ("data.mean=pixel", r"data.mean must be one of \['image', 'channel', 'fallback'\]"),
    ("model.kernel_init=glorot", "model.kernel_init must be one of"),
    ("model.channels=1", "model.channels must be 3"),
    ("model.dropout_rate=-0.1", r"model.dropout_rate must be in \[0, 1\)"),
    ("model.lrn.bias=0", "model.lrn.bias must be > 0"),
    ("model.fc_units=64,64,64", r"model.fc_units has at most 2 entries \(fc6, fc7\)"),
    ("model.conv_filters=8,16,24,24,16,8", "model.conv_filters needs 1 to 5 entries"),
    ("model.conv_filters=8,16,24", r"model.conv_kernel_sizes needs 3 entries \(one per conv "
                                   r"layer, as model.conv_filters\)"),
    ("model.activation=sigmoid", r"model.activation must be one of \['relu', 'tanh'\]"),
    ("train.lr_schedule=cosine", r"train.lr_schedule must be one of \['plateau', 'fixed'\]"),
    ("train.lr_step_epochs=5,5", "train.lr_step_epochs must increase"),
    ("train.lr_step_epochs=0,5", r"train.lr_step_epochs\[0\] must be >= 1, got 0"),
    ("data.train_fraction=0", r"data.train_fraction must be in \(0, 1\], got 0.0"),
    ("data.train_fraction=1.5", r"data.train_fraction must be in \(0, 1\], got 1.5"),
    ("model.conv_padding=valid,same,full,same,same", "model.conv_padding\\[2\\] must be"),
    ("model.lrn_after=conv1,conv6", "model.lrn_after names no layer 'conv6'"),
    # tiny's conv2 has 256 / 8 = 32 filters, which 3 groups cannot split
    ("model.conv_groups=1,3,1,2,2", r"model.conv_groups\[1\]=3 must divide both the 12 "
                                    r"input channels and the 32 filters of conv2"),
    ("model.lrn.groups=5", "model.lrn.groups=5 must divide the 12 channels of conv1"),
    # 67 = 4 * (15 - 1) + 11: conv1 -> 15, pool1 -> 7, pool2 -> 3, pool5 -> 1
    ("model.image_size=66", "model.image_size=66 is too small .* it must be >= 67"),
])
def test_validate_names_the_field_and_what_it_allows(bad, message):
    cfg = config.override(config.get_config("tiny"), [bad])
    with pytest.raises(ValueError, match=message) as error:
        config.validate(cfg)
    assert "\n" not in str(error.value)


def test_the_presets_keep_their_behaviour_with_the_experiment_switches():
    """The switches the experiments add default to what every preset did before."""
    for name in config.PRESETS:
        cfg = config.get_config(name)
        assert cfg.model.activation == "relu"
        assert cfg.data.random_crop is True and cfg.data.train_fraction == 1.0
        assert cfg.train.lr_schedule == "plateau"
        assert len(cfg.model.conv_filters) == 5 and len(cfg.model.fc_units) == 2


def test_the_experiment_variants_validate_and_round_trip_through_config_json():
    from alexnet_tf.training import checkpoints
    variant = config.override(config.get_config("digits"), [
        "model.activation=tanh", "model.lrn_after=", "model.fc_units=",
        "model.conv_filters=24,64,96", "model.conv_kernel_sizes=11,5,3",
        "model.conv_strides=4,1,1", "model.conv_groups=1,1,1",
        "model.conv_padding=valid,same,same", "model.pool_after=conv1,conv2,conv3",
        "model.pool_size=2", "model.dropout_rate=0", "data.random_crop=false",
        "data.pca_stddev=0", "data.train_fraction=0.25", "train.lr_schedule=fixed",
        "train.lr_step_epochs=7", "train.weight_decay=0"])
    config.validate(variant)
    assert variant.model.lrn_after == () and variant.model.fc_units == ()
    assert variant.model.conv_filters == (24, 64, 96) and variant.train.lr_step_epochs == (7,)
    assert checkpoints.config_from_dict(config.to_dict(variant)) == variant
    constant = config.override(variant, ["train.lr_step_epochs="])
    assert checkpoints.config_from_dict(config.to_dict(constant)).train.lr_step_epochs == ()


def test_a_pooling_layer_of_a_layer_not_built_is_refused():
    cfg = config.override(config.get_config("digits"), [
        "model.conv_filters=24,64,96", "model.conv_kernel_sizes=11,5,3",
        "model.conv_strides=4,1,1", "model.conv_groups=1,1,1",
        "model.conv_padding=valid,same,same", "model.lrn_after=", "model.pool_after=conv1,conv5"])
    with pytest.raises(ValueError, match="model.pool_after names no layer 'conv5'; the layers "
                                         r"are \['conv1', 'conv2', 'conv3'\]"):
        config.validate(cfg)
