"""The one loader: each kind of model reference gets the config, statistics and class names
its work directory holds (else the preset's and the dataset's, else one error), and
`predict` and `evaluate` give the same answer, or the same error line, for it.

References: what the work directory's files hold (read with json/NumPy), the presets'
numbers, the in-memory models whose weights were written, a NumPy preprocessing."""
import json
import pathlib
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from alexnet_tf import config
from alexnet_tf.data.statistics import DatasetStatistics
from alexnet_tf.inference import loader
from alexnet_tf.network.model import build_alexnet
from alexnet_tf.training import checkpoints as checkpointing
import tools_support

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "legacy_0.1"
DIGIT_LABELS = [str(i) for i in range(10)]
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)   # Caffe's bvlc_alexnet mean, in RGB order


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny work directory whose checkpoint holds other weights than its model.keras (so
    each reference shows which it read), that model.keras alone in another folder, a
    checkpoint copied out of any work directory, and a few images."""
    root = tmp_path_factory.mktemp("loader")
    workdir = tools_support.make_workdir(root)
    keras.utils.set_random_seed(7)
    checkpoint_model = build_alexnet(config.get_config("tiny").model)
    checkpointing.CheckpointSaver(workdir / checkpointing.CHECKPOINT_DIR,
                                  model=checkpointing.model_variables(checkpoint_model)).save(3)
    bare = root / "elsewhere" / "model.keras"
    bare.parent.mkdir()
    shutil.copy(workdir / checkpointing.MODEL_FILE, bare)
    loose = root / "loose" / "ckpt-3"            # no config.json two levels up
    loose.parent.mkdir()
    for path in (workdir / checkpointing.CHECKPOINT_DIR).glob("ckpt-3.*"):
        shutil.copy(path, loose.parent / path.name)
    return {"root": root, "workdir": workdir, "bare": bare, "loose": loose,
            "checkpoint_model": checkpoint_model,
            "keras_model": keras.saving.load_model(workdir / checkpointing.MODEL_FILE),
            "images": tools_support.make_images(root / "images", per_class=1)}


def _held(workdir):
    """What the work directory's files say, read without the package."""
    workdir = pathlib.Path(workdir)
    with np.load(workdir / checkpointing.STATISTICS_FILE) as data:
        mean_image = data["mean_image"]
    return {"config": json.loads((workdir / checkpointing.CONFIG_FILE).read_text()),
            "mean_image": mean_image,
            "labels": (workdir / checkpointing.CLASS_NAMES_FILE).read_text().split()}


def _as_json(cfg):
    return json.loads(json.dumps(config.to_dict(cfg)))


def _assert_same_weights(model, expected):
    for got, want in zip(model.get_weights(), expected.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def _digits_train_mean():
    from alexnet_tf.data.sources import digits
    images, _ = digits.load_split()["train"]
    return np.asarray(images, np.float64).mean(axis=(0, 1, 2))


def _no_config_error(path, where):
    return (f"{path} has no config.json {where}: pass --preset=paper|digits|tiny (the preset "
            "it was trained with)")


# -- each kind of reference ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["workdir", "checkpoint", "keras"])
def test_a_reference_inside_a_work_directory_gets_what_the_directory_holds(trained, kind):
    workdir = trained["workdir"]
    reference, weights = {
        "workdir": (workdir, trained["checkpoint_model"]),      # its newest checkpoint
        "checkpoint": (workdir / "checkpoints" / "ckpt-3", trained["checkpoint_model"]),
        "keras": (workdir / "model.keras", trained["keras_model"]),
    }[kind]
    classifier = loader.load_classifier(reference)
    held = _held(workdir)
    assert _as_json(classifier.cfg) == held["config"]
    np.testing.assert_array_equal(classifier.statistics.mean_image, held["mean_image"])
    np.testing.assert_allclose(classifier.statistics.mean_rgb, tools_support.MEAN_RGB)
    assert list(classifier.class_names.labels) == held["labels"] == list(
        tools_support.CLASS_LABELS)
    _assert_same_weights(classifier.model, weights)
    assert classifier.source == str(reference) and classifier.workdir == workdir


def test_a_bare_keras_file_takes_the_preset_the_datasets_statistics_and_numbered_classes(
        trained):
    classifier = loader.load_classifier(trained["bare"], preset="tiny",
                                        overrides=["train.epochs=9"])
    cfg = classifier.cfg
    assert cfg.name == "tiny" and cfg.train.epochs == 9 and cfg.data.dataset == "digits"
    assert (cfg.model.image_size, cfg.model.num_classes, cfg.model.conv_filters) == (
        67, 10, (12, 32, 48, 48, 32))
    expected = config.to_dict(config.get_config("tiny"))
    expected["train"]["epochs"] = 9
    assert config.to_dict(cfg) == expected
    # The digits' own statistics: the mean of the training scans (grey, so one value).
    np.testing.assert_allclose(classifier.statistics.mean_rgb, _digits_train_mean(), atol=0.05)
    assert list(classifier.class_names.labels) == DIGIT_LABELS
    _assert_same_weights(classifier.model, trained["keras_model"])
    assert classifier.workdir is None


@pytest.mark.parametrize("kind", ["keras", "directory", "checkpoint"])
def test_a_model_without_a_config_json_and_no_preset_is_one_error(trained, kind):
    """Nothing is guessed from the input size: the error names the file and the flag."""
    if kind == "keras":
        reference, message = trained["bare"], _no_config_error(trained["bare"], "beside it")
    elif kind == "directory":
        reference = trained["bare"].parent
        message = _no_config_error(reference, "in it")
    else:
        reference = trained["loose"]
        message = _no_config_error(reference, f"in {trained['root']}")
    with pytest.raises(loader.InputError) as error:
        loader.load_classifier(reference)
    assert str(error.value) == message


def test_a_preset_is_checked_against_the_config_json(trained):
    """The config.json is what the model was trained with: the preset it was made from is
    accepted (and changes nothing), another one is refused naming both."""
    workdir = trained["workdir"]
    same = loader.load_classifier(workdir / "model.keras", preset="tiny")
    assert _as_json(same.cfg) == _held(workdir)["config"]
    with pytest.raises(loader.InputError) as error:
        loader.load_classifier(workdir / "model.keras", preset="digits")
    assert str(error.value) == (
        f"--preset=digits contradicts {workdir / 'config.json'} (preset 'tiny', what "
        f"{workdir / 'model.keras'} was trained with): drop --preset (change single fields "
        "with --set section.field=value)")
    with_override = loader.load_classifier(workdir, overrides=["data.max_image_pixels=4096"])
    assert with_override.cfg.data.max_image_pixels == 4096
    assert with_override.cfg.train == same.cfg.train


def test_a_config_the_model_does_not_fit_is_refused(trained, tmp_path):
    with pytest.raises(loader.InputError) as error:
        loader.load_classifier(trained["bare"], preset="paper")
    assert str(error.value) == (
        f"{trained['bare']} takes 67x67 images and has 10 classes, but preset 'paper' says "
        "227x227 and 1000: pass the preset it was trained with (--preset=paper|digits|tiny)")
    with pytest.raises(ValueError, match="unknown preset 'large'"):
        loader.load_classifier(trained["bare"], preset="large")
    shutil.copy(trained["bare"], tmp_path / "model.keras")       # beside another config.json
    checkpointing.save_config(config.get_config("paper"), tmp_path)
    with pytest.raises(loader.InputError) as error:
        loader.load_classifier(tmp_path / "model.keras")
    assert str(error.value) == (
        f"{tmp_path / 'model.keras'} takes 67x67 images and has 10 classes, but "
        f"{tmp_path / 'config.json'} says 227x227 and 1000: it was not trained with that "
        "config: move it out of that directory and pass the preset it was trained with "
        "(--preset=paper|digits|tiny)")


@pytest.mark.parametrize("content", ['{"name": "tiny", "model": {', "[1, 2]",
                                     '{"model": {"image_size": "big"}}'])
def test_a_damaged_config_json_is_named_not_bypassed(trained, tmp_path, content):
    shutil.copy(trained["bare"], tmp_path / "model.keras")
    (tmp_path / "config.json").write_text(content)
    for preset in (None, "tiny"):
        with pytest.raises(loader.InputError) as error:
            loader.load_classifier(tmp_path / "model.keras", preset=preset)
        message = str(error.value)
        assert message.startswith(f"{tmp_path / 'config.json'} is unreadable (")
        assert message.endswith("): repair it, or move it away and pass --preset")


def test_given_statistics_and_class_names_come_before_the_work_directorys(trained, tmp_path):
    statistics = tmp_path / "statistics.npz"
    DatasetStatistics.per_channel((10.0, 20.0, 30.0), size=76).save(statistics)
    names = tmp_path / "names.txt"
    names.write_text("".join(f"digit{i}\n" for i in range(10)))
    for given in (statistics, DatasetStatistics.load(statistics)):
        classifier = loader.load_classifier(trained["workdir"], statistics=given,
                                            class_names=names)
        np.testing.assert_allclose(classifier.statistics.mean_rgb, (10, 20, 30))
        assert list(classifier.class_names.labels) == [f"digit{i}" for i in range(10)]
    with pytest.raises(FileNotFoundError, match="no dataset statistics at"):
        loader.load_classifier(trained["workdir"], statistics=tmp_path / "absent.npz")
    DatasetStatistics.per_channel((10.0, 20.0, 30.0), size=64).save(tmp_path / "s64.npz")
    with pytest.raises(loader.InputError, match="of 64x64 images, but its data.resize_size is"):
        loader.load_classifier(trained["workdir"], statistics=tmp_path / "s64.npz")
    names.write_text("a\nb\n")
    with pytest.raises(loader.InputError, match="2 class names for .* 10 outputs"):
        loader.load_classifier(trained["workdir"], class_names=names)


def test_no_statistics_anywhere_is_one_error_naming_the_flag(trained):
    bare = trained["bare"]
    with pytest.raises(loader.InputError) as error:
        loader.load_classifier(bare, preset="tiny", overrides=["data.dataset=folder"])
    message = str(error.value)
    assert message.startswith(
        f"no dataset statistics for {bare}: no statistics.npz in {bare.parent}, and its "
        "dataset 'folder' has none (")
    assert message.endswith("pass --statistics=<statistics.npz> (the mean it was trained "
                            "with; training writes it to its work directory)")
    assert "\n" not in message


def test_a_bvlc_npy_is_caffes_whatever_lies_beside_it(trained, tmp_path):
    """Caffe's conventions on the preset (paper unless given), Caffe's mean, class names by
    count; a config.json beside the file is not its config."""
    source = trained["keras_model"]
    weights = {layer.name: layer.get_weights() for layer in source.layers if layer.weights}
    npy = tmp_path / "bvlc_alexnet.npy"
    np.save(npy, weights, allow_pickle=True)
    shutil.copy(trained["workdir"] / "config.json", tmp_path / "config.json")
    classifier = loader.load_classifier(npy, preset="tiny", overrides=["train.epochs=5"])
    lrn = classifier.cfg.model.lrn
    assert (lrn.groups, lrn.alpha_over_window, lrn.bias) == (1, True, 1.0)
    assert classifier.cfg.data.mean == "channel" and classifier.cfg.train.epochs == 5
    assert classifier.cfg.model.conv_filters == (12, 32, 48, 48, 32)
    np.testing.assert_allclose(classifier.statistics.mean_rgb, CAFFE_MEAN_RGB, rtol=1e-6)
    assert list(classifier.class_names.labels) == DIGIT_LABELS
    np.testing.assert_array_equal(classifier.model.get_layer("fc8").get_weights()[0],
                                  source.get_layer("fc8").get_weights()[0])


def test_missing_and_unknown_references_are_one_error(trained):
    index = trained["workdir"] / "checkpoints" / "ckpt-3.index"
    for reference, start in ((trained["root"] / "absent.keras", "no model at"),
                             (trained["workdir"] / "class_names.txt", "is not a model file"),
                             (trained["root"] / "images", "no model in"),
                             (index, f"{index} is a checkpoint's index file: pass its prefix "
                                     f"{index.with_suffix('')}$")):
        with pytest.raises(loader.InputError, match=start):
            loader.load_classifier(reference)


# -- a work directory written by release 0.1 ------------------------------------------------

def test_the_legacy_fixture_is_small_and_complete():
    files = {str(p.relative_to(FIXTURE)): p.stat().st_size
             for p in FIXTURE.rglob("*") if p.is_file()}
    assert set(files) == {
        "expected.npz", "workdir/config.json", "workdir/model.keras",
        "workdir/statistics.npz", "workdir/class_names.txt",
        "workdir/checkpoints/latest.json", "workdir/checkpoints/ckpt-4.index",
        "workdir/checkpoints/ckpt-4.data-00000-of-00001"}
    assert sum(files.values()) < 1_000_000


@pytest.mark.parametrize("reference, logits", [
    ("workdir/model.keras", "logits_keras"),
    ("workdir/checkpoints/ckpt-4", "logits_checkpoint"),
    ("workdir", "logits_checkpoint"),
])
def test_a_release_0_1_work_directory_gives_its_stored_logits(reference, logits):
    """The .keras file and the checkpoint that release 0.1 wrote load through the one loader
    after the re-layout, with the config, statistics and names of their work directory, and
    compute the logits 0.1 computed on the same inputs."""
    with np.load(FIXTURE / "expected.npz") as data:
        expected = {key: data[key] for key in data.files}
    classifier = loader.load_classifier(FIXTURE / reference)
    held = _held(FIXTURE / "workdir")
    assert "seed" not in held["config"]["train"]         # 0.1 had no train.seed: it is 0
    held["config"]["train"]["seed"] = 0
    # nor train.precision: the defaults (training resumes it in float32, `run_precision`)
    held["config"]["train"].update(precision="auto", precision_reason="")
    # nor the switches of the paper's ablations: 0.1's network and recipe (ReLU, random
    # patches, all the training images, the plateau schedule; the digits preset's drop
    # epochs, unused by that schedule)
    for section, fields in {"model": {"activation": "relu"},
                            "data": {"random_crop": True, "train_fraction": 1.0},
                            "train": {"lr_schedule": "plateau", "lr_step_epochs": [12, 16]}
                            }.items():
        assert not set(fields) & set(held["config"][section])
        held["config"][section].update(fields)
    assert _as_json(classifier.cfg) == held["config"]
    np.testing.assert_array_equal(classifier.statistics.mean_image, held["mean_image"])
    assert list(classifier.class_names.labels) == held["labels"]
    np.testing.assert_array_equal(classifier.model.get_layer("conv1").get_weights()[0],
                                  expected["conv1_kernel"])
    got = classifier.model(expected["images"], training=False).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected[logits], rtol=1e-5, atol=1e-6)


# -- through the commands --------------------------------------------------------------------

def _run(module, argv, capsys):
    """The command's own `run` (flags, exit code, error line), in this process. Flags other
    than absl's and TensorFlow's (modules that declare theirs on import, earlier commands)
    are set aside meanwhile and put back afterwards, so any command can run next."""
    from absl import flags
    from alexnet_tf import command
    libraries = {flag.name for declaring, declared in flags.FLAGS.flags_by_module_dict().items()
                 if declaring.split(".")[0] not in command.COMMAND_PACKAGES
                 for flag in declared}
    aside = {name: flags.FLAGS[name] for name in list(flags.FLAGS)
             if name not in libraries and flags.FLAGS[name].name == name}
    for name in aside:
        delattr(flags.FLAGS, name)
    before = set(flags.FLAGS)
    capsys.readouterr()
    try:
        code = module.run([module.__name__, *map(str, argv)])
    finally:
        for name in set(flags.FLAGS) - before:
            if name in flags.FLAGS:            # a short name goes with its flag
                delattr(flags.FLAGS, name)
        for name, flag in aside.items():
            flags.FLAGS[name] = flag
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _reference_probabilities(model, paths, mean_rgb):
    """Decoded by TF, centre square, shorter side to 76, central 67x67, minus the mean,
    times 1/127.5 (the tiny preset), through `model`."""
    batch = []
    for path in paths:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        h, w = image.shape[:2]
        side = min(h, w)
        square = image[(h - side) // 2:(h - side) // 2 + side,
                       (w - side) // 2:(w - side) // 2 + side]
        resized = tf.image.resize(square, [76, 76], method="bilinear", antialias=True)
        resized = tf.clip_by_value(tf.round(resized), 0, 255).numpy()
        batch.append((resized[4:71, 4:71] - np.asarray(mean_rgb, np.float32)) / 127.5)
    logits = model.predict(np.stack(batch), verbose=0).astype(np.float64)
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _evaluate_reference(model, mean_rgb, count):
    """Centre-crop loss of `model` on the first `count` digits validation images, with the
    per-channel mean `mean_rgb`, in NumPy."""
    from alexnet_tf.data import preprocessing
    from alexnet_tf.data.sources import digits
    images, labels = digits.load_split()["validation"]
    batch = []
    for image in images[:count]:
        resized = preprocessing.resize_and_center_crop(image, 76).numpy().astype(np.float64)
        batch.append((resized[4:71, 4:71] - np.asarray(mean_rgb, np.float64)) / 127.5)
    logits = model(np.asarray(batch, np.float32), training=False).numpy().astype(np.float64)
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = z / z.sum(axis=1, keepdims=True)
    return -np.mean(np.log(probabilities[np.arange(count), labels[:count]]))


@pytest.mark.parametrize("kind", ["workdir", "checkpoint", "keras", "bare_with_preset"])
def test_predict_and_evaluate_read_a_reference_alike(trained, kind, capsys, tmp_path):
    from alexnet_tf import evaluate, predict
    workdir = trained["workdir"]
    reference, model, mean, labels, flags_ = {
        "workdir": (workdir, trained["checkpoint_model"], tools_support.MEAN_RGB,
                    tools_support.CLASS_LABELS, []),
        "checkpoint": (workdir / "checkpoints" / "ckpt-3", trained["checkpoint_model"],
                       tools_support.MEAN_RGB, tools_support.CLASS_LABELS, []),
        "keras": (workdir / "model.keras", trained["keras_model"], tools_support.MEAN_RGB,
                  tools_support.CLASS_LABELS, []),
        "bare_with_preset": (trained["bare"], trained["keras_model"], _digits_train_mean(),
                             DIGIT_LABELS, ["--preset=tiny"]),
    }[kind]
    images = trained["images"][:2]
    code, out, err = _run(predict, [f"--model={reference}", *flags_, "--json", "--k=10",
                                    *images], capsys)
    assert code == 0, err
    result = json.loads(out)
    expected = _reference_probabilities(model, images, mean)
    for prediction, probabilities in zip(result["predictions"], expected, strict=True):
        by_index = {entry["index"]: entry for entry in prediction["top"]}
        np.testing.assert_allclose([by_index[i]["probability"] for i in range(10)],
                                   probabilities, rtol=2e-3, atol=1e-5)
        assert [by_index[i]["label"] for i in range(10)] == list(labels)

    output = tmp_path / "results.json"
    code, out, err = _run(evaluate, [f"--model={reference}", *flags_, "--crops=center",
                                     "--max_images=12", "--batch_size=12",
                                     f"--output={output}"], capsys)
    assert code == 0, err
    loss = json.loads(output.read_text())["results"]["center"]["loss"]
    assert loss == pytest.approx(_evaluate_reference(model, mean, 12), rel=1e-4)


@pytest.mark.parametrize("case", ["no_config", "contradicting_preset", "no_statistics"])
def test_predict_and_evaluate_fail_with_the_same_line(trained, case, capsys):
    from alexnet_tf import evaluate, predict
    bare, workdir = trained["bare"], trained["workdir"]
    flags_, message = {
        "no_config": ([f"--model={bare}"], _no_config_error(bare, "beside it")),
        "contradicting_preset": (
            [f"--model={workdir}", "--preset=paper"],
            f"--preset=paper contradicts {workdir / 'config.json'} (preset 'tiny', what "
            f"{workdir} was trained with): drop --preset (change single fields with --set "
            "section.field=value)"),
        "no_statistics": ([f"--model={bare}", "--preset=tiny", "--set=data.dataset=folder"],
                          f"no dataset statistics for {bare}: "),
    }[case]
    lines = []
    for module, extra in ((predict, [trained["images"][0]]), (evaluate, [])):
        code, out, err = _run(module, [*flags_, *extra], capsys)
        assert (code, out) == (2, "")
        assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
        lines.append(err)
    assert lines[0] == lines[1]


@pytest.mark.slow
def test_the_installed_commands_give_the_same_error_for_a_bare_keras_file(trained):
    bare = trained["bare"]
    running = [tools_support.start_module("alexnet_tf.predict", f"--model={bare}",
                                          trained["images"][0]),
               tools_support.start_module("alexnet_tf.evaluate", f"--model={bare}")]
    for process in running:
        out, err = process.communicate(timeout=300)
        assert (process.returncode, out) == (2, "")
        assert err == f"error: {_no_config_error(bare, 'beside it')}\n"
