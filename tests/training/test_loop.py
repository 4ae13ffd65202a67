"""The training library: learning, the NaN guard, crash-safe checkpoints, work dirs, loading."""
import dataclasses
import hashlib
import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from random_images import RandomImages, tiny

from alexnet_tf import config
from alexnet_tf.training import checkpoints as checkpointing
from alexnet_tf.training.loop import (NonFiniteLossError, RunOptions, WorkDirError,
                                      train_and_evaluate)
from alexnet_tf.training.logs import weights_fingerprint


def _quiet(**kwargs):
    return RunOptions(strategy="single", progress=False, **kwargs)


class FewerBatches(RandomImages):
    """Lists 64 training images, as a file source does, but yields only 3 batches of 16
    per epoch, carrying the pipeline's running count of unreadable files skipped (2, 7,
    13): what an image folder with 13 bad files gives at batch 16."""
    skipped = (2, 7, 13)

    def train(self, *, seed, epoch, batch_size, shard=None):
        data = tf.data.Dataset.from_tensor_slices((self.x[:48], self.y[:48]))
        data = data.shuffle(48, seed=seed * 1000 + epoch).batch(batch_size, drop_remainder=True)
        counts = tf.data.Dataset.from_tensor_slices(tf.constant(self.skipped, tf.int64))
        return tf.data.Dataset.zip(data, counts).map(lambda batch, count: (*batch, count))


@pytest.mark.slow
def test_an_epoch_ends_where_the_data_ends_with_the_skipped_files_counted(tmp_path):
    """64 // 16 = 4 steps estimated, 3 in the data: each epoch runs 3 steps, ends cleanly
    (it used to read past the end: OutOfRangeError) and reports the 13 files skipped."""
    cfg = tiny("train.epochs=2")
    lines = []
    summary = train_and_evaluate(cfg, tmp_path, _quiet(steps_per_call=2), data=FewerBatches(),
                                 log=lines.append)
    assert summary["status"] == "completed" and summary["global_step"] == 6
    history = summary["history"]
    assert [(row["epoch"], row["global_step"], row["steps"], row["skipped_files"])
            for row in history] == [(1, 3, 3, 13), (2, 6, 3, 13)]
    assert all(row["train_images"] == 48 for row in history)
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 2
    assert all("13 unreadable files skipped: 3 steps, not the 4 estimated" in line
               for line in epoch_lines), epoch_lines
    assert (tmp_path / "model.keras").exists()


def test_a_stop_where_the_data_ends_resumes_into_the_epochs_end(tmp_path):
    """Stopped after step 3 (the last step of epoch 1's data, before the loop has seen
    the end), the restart ends epoch 1 without a step and goes on with epoch 2."""
    cfg = tiny("train.epochs=2")
    summary = train_and_evaluate(cfg, tmp_path, _quiet(max_steps=3), data=FewerBatches(),
                                 log=lambda *a: None)
    assert summary["status"] == "max_steps" and summary["history"] == []
    summary = train_and_evaluate(cfg, tmp_path, _quiet(), data=FewerBatches(),
                                 log=lambda *a: None)
    assert summary["status"] == "completed" and summary["global_step"] == 6
    assert [(row["global_step"], row["steps"], row["skipped_files"])
            for row in summary["history"]] == [(3, 3, 13), (6, 3, 13)]


def test_nan_loss_stops_before_saving_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = tiny("train.epochs=3")
    options = _quiet(nan_at_step=9, checkpoint_every_steps=4, steps_per_call=2)
    with pytest.raises(NonFiniteLossError, match="NaN or infinite between steps 9 and 10"):
        train_and_evaluate(cfg, tmp_path, options, data=RandomImages(), log=lambda *a: None)
    saver = checkpointing.CheckpointSaver(tmp_path / "checkpoints")
    assert os.path.basename(saver.listed()[0]) == "ckpt-8"  # epoch 2 ended at step 8
    model = checkpointing.load_model(tmp_path)
    assert all(np.all(np.isfinite(v.numpy())) for v in model.variables)
    assert not (tmp_path / "model.keras").exists()
    assert len(json.loads((tmp_path / "history.json").read_text())) == 2


def test_a_save_interrupted_before_its_pointer_update_leaves_the_previous_checkpoint(
        tmp_path, monkeypatch):
    value = tf.Variable(0.0)
    saver = checkpointing.CheckpointSaver(tmp_path, keep=2, value=value)
    for step in (1, 2):
        value.assign(float(step))
        saver.save(step)
    value.assign(3.0)

    def crash(*args):
        raise KeyboardInterrupt("killed while saving")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        saver.save(3)  # the data files of ckpt-3 are written, latest.json is not updated
    monkeypatch.undo()
    assert (tmp_path / "ckpt-3.index").exists()
    value.assign(-1.0)
    assert saver.restore_latest().endswith("ckpt-2") and value.numpy() == 2.0


def test_an_unreadable_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    value = tf.Variable(0.0)
    saver = checkpointing.CheckpointSaver(tmp_path, keep=3, value=value)
    for step in (1, 2):
        value.assign(float(step))
        saver.save(step)
    (tmp_path / "ckpt-2.index").write_bytes(b"truncated")
    assert saver.restore_latest().endswith("ckpt-1") and value.numpy() == 1.0
    assert len(saver.listed()) == 2 and not (tmp_path / "ckpt-0.index").exists()


def test_old_checkpoints_are_pruned_to_keep(tmp_path):
    saver = checkpointing.CheckpointSaver(tmp_path, keep=2, value=tf.Variable(1.0))
    for step in (1, 2, 3):
        saver.save(step)
    assert [os.path.basename(p) for p in saver.listed()] == ["ckpt-3", "ckpt-2"]
    assert not list(tmp_path.glob("ckpt-1.*"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    cfg = tiny("train.epochs=2")
    summary = train_and_evaluate(cfg, workdir, _quiet(), data=RandomImages(),
                                 log=lambda *a: None)
    return workdir, cfg, summary


def test_a_run_writes_the_work_directory(finished_run):
    workdir, cfg, summary = finished_run
    assert summary["status"] == "completed" and summary["global_step"] == 8
    history = json.loads((workdir / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    for key in ("train_loss", "train_top1_error", "train_top5_error", "validation_loss",
                "validation_top1_error", "validation_top5_error", "learning_rate",
                "images_per_second"):
        assert all(math.isfinite(row[key]) for row in history), key
    saved = checkpointing.load_config(workdir)
    assert saved.train.precision == "float32" and "no AMX" in saved.train.precision_reason
    assert saved == dataclasses.replace(cfg, train=dataclasses.replace(
        cfg.train, precision=saved.train.precision,
        precision_reason=saved.train.precision_reason))
    assert (workdir / "class_names.txt").read_text().split() == [str(i) for i in range(10)]
    events = list((workdir / "tensorboard").glob("events.out.tfevents.*"))
    tags = set()
    for event in tf.compat.v1.train.summary_iterator(str(events[0])):
        tags.update(value.tag for value in event.summary.value)
    assert {"train/loss", "validation/top1_error", "validation/top5_error", "learning_rate",
            "images_per_second", "conv1_kernels"} <= tags


def test_load_model_from_workdir_keras_file_and_prefix_gives_the_trained_weights(finished_run):
    workdir, cfg, summary = finished_run
    from_dir = checkpointing.load_model(workdir)
    from_file = checkpointing.load_model(workdir / "model.keras")
    from_prefix = checkpointing.load_model(workdir / "checkpoints" / "ckpt-8")
    for model in (from_dir, from_file, from_prefix):
        assert weights_fingerprint(model) == summary["weights_sha256"]
    x = np.random.RandomState(1).uniform(-1, 1, (2, 67, 67, 3)).astype("float32")
    np.testing.assert_array_equal(from_file(x).numpy(), from_dir(x).numpy())
    with pytest.raises(checkpointing.CheckpointError, match="not a .keras file"):
        checkpointing.load_model(workdir / "nothing-here")


def test_a_work_dir_holding_another_config_is_refused(finished_run):
    workdir, cfg, _ = finished_run
    with pytest.raises(WorkDirError, match="different configuration"):
        train_and_evaluate(tiny("train.epochs=3"), workdir, _quiet(), data=RandomImages())


def test_an_unwritable_work_dir_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(WorkDirError, match="cannot write to work directory"):
        train_and_evaluate(tiny(), blocker / "run", _quiet(), data=RandomImages())


def test_config_round_trips_through_its_json(tmp_path):
    for name in ("paper", "digits", "tiny"):
        cfg = config.get_config(name)
        checkpointing.save_config(cfg, tmp_path)
        assert checkpointing.load_config(tmp_path) == cfg


@pytest.mark.parametrize("precision,xla", [("mixed_float16", False), ("mixed_bfloat16", False),
                                           ("float32", True)])
@pytest.mark.slow
def test_mixed_precision_and_xla_train(tmp_path, precision, xla):
    cfg = tiny("train.epochs=1")
    summary = train_and_evaluate(cfg, tmp_path, _quiet(precision=precision, xla=xla),
                                 data=RandomImages(), log=lambda *a: None)
    row = summary["history"][-1]
    assert summary["status"] == "completed" and math.isfinite(row["train_loss"])
    assert keras.mixed_precision.dtype_policy().name == "float32"  # nothing leaks
    model = checkpointing.load_model(tmp_path / "model.keras")
    assert model.get_layer("conv1").kernel.dtype == "float32"


@pytest.mark.slow
def test_three_epochs_on_the_embedded_digits_lower_the_loss_well_below_chance(tmp_path):
    """The real pipeline (sklearn digits, 67x67): chance is ln(10) = 2.30."""
    cfg = config.override(config.get_config("digits"), ["train.epochs=3"])
    summary = train_and_evaluate(cfg, tmp_path, _quiet(), log=lambda *a: None)
    first, last = summary["history"][0], summary["history"][-1]
    assert last["validation_loss"] < 0.5 * math.log(10)
    assert last["train_loss"] < first["train_loss"]
    assert last["validation_top1_error"] < 0.5
    assert (tmp_path / "statistics.npz").exists()


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
           PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))


@pytest.mark.parametrize("args,message", [
    (["--precision=fp8"], "--precision=fp8: value should be one of"),        # absl parsing
    (["--strategy=towers"], "--strategy=towers needs 2 devices, this machine has 1"),
    (["--batch_size=0"], "train.batch_size must be >= 1, got 0"),           # was a traceback
    (["--epochs=0"], "train.epochs must be >= 1, got 0"),                   # was an empty run
    (["--set", "model.num_classes=1"], "model.num_classes must be >= 2, got 1"),
])
@pytest.mark.slow
def test_user_errors_give_one_clear_message_and_exit_2(tmp_path, args, message):
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "alexnet_tf.train", "--preset=tiny", *args,
                             f"--workdir={tmp_path / 'run'}"],
                            capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)
    assert result.returncode == 2
    errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "config.json").exists()


@pytest.mark.slow
def test_a_refused_config_writes_nothing_and_the_corrected_command_then_runs(tmp_path):
    """data.resize_size below the 67-pixel crop used to fail in the pipeline after
    config.json was written, which then refused the corrected command."""
    import subprocess
    import sys
    command = [sys.executable, "-m", "alexnet_tf.train", "--preset=tiny", "--progress=false",
               f"--workdir={tmp_path / 'run'}", "--max_steps=2"]
    result = subprocess.run([*command, "--set", "data.resize_size=60"], capture_output=True,
                            text=True, env=ENV, cwd=ROOT, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert errors == ["error: data.resize_size must be >= model.image_size=67 (the crops are "
                      "cut from the resized image), got 60"]
    assert not (tmp_path / "run").exists()
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=ROOT,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("precision: "), result.stdout[:500]   # printed first
    assert (tmp_path / "run" / "config.json").exists()


@pytest.mark.slow
def test_a_stray_positional_argument_is_one_line_not_the_flag_list(tmp_path):
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "alexnet_tf.train", "--preset=tiny", "foo",
                             f"--workdir={tmp_path / 'run'}"],
                            capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)
    assert result.returncode == 2
    errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: unexpected argument(s): foo")
    assert "--checkpoint_every_steps" not in result.stderr + result.stdout  # no flag list
    assert not (tmp_path / "run").exists()


def test_the_library_refuses_a_config_that_cannot_train_before_writing(tmp_path):
    with pytest.raises(ValueError, match="train.epochs must be >= 1, got 0"):
        train_and_evaluate(tiny("train.epochs=0"), tmp_path / "run", _quiet(),
                           data=RandomImages())
    assert not (tmp_path / "run").exists()


def test_an_unknown_dataset_is_a_value_error_the_command_prints_in_one_line(tmp_path):
    from alexnet_tf.command import error_line
    cfg = config.override(tiny(), ["data.dataset=no_such_dataset"])
    with pytest.raises(ValueError, match="unknown dataset 'no_such_dataset'") as error:
        train_and_evaluate(cfg, tmp_path / "run", _quiet())
    assert len(error_line(error.value).splitlines()) == 1
    assert not (tmp_path / "run").exists()  # a failed start leaves nothing behind


def test_config_flags_and_set_overrides_reach_the_config():
    from alexnet_tf import train
    overrides = []
    rest = train._take_config_flags(
        ["prog", "--config.train.learning_rate=0.02", "--preset=tiny",
         "--config.model.lrn.groups=1"], overrides)
    assert rest == ["prog", "--preset=tiny"]
    assert overrides == ["train.learning_rate=0.02", "model.lrn.groups=1"]
    cfg = config.from_command_line("tiny", epochs=7, seed=3,
                                   overrides=["train.momentum=0.5", *overrides])
    assert (cfg.name, cfg.train.momentum, cfg.train.epochs) == ("tiny", 0.5, 7)
    assert cfg.train.seed == 3  # --seed is a shortcut: the seed is recorded in config.json
    assert (cfg.train.learning_rate, cfg.model.lrn.groups) == (0.02, 1)


@pytest.mark.slow
def test_unreadable_files_are_skipped_and_counted_in_the_history(tmp_path):
    """An image folder with one corrupt file: training goes on, the epoch reports it."""
    from PIL import Image
    rng = np.random.RandomState(0)
    for split, per_class in (("train", 6), ("val", 2)):
        for label in ("a", "b"):
            folder = tmp_path / "data" / split / label
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.randint(0, 256, (80, 90, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    (tmp_path / "data" / "train" / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    cfg = config.override(config.get_config("tiny"), [
        "data.dataset=folder", f"data.data_dir={tmp_path / 'data'}", "model.num_classes=2",
        "train.batch_size=4", "train.epochs=1"])
    lines = []
    summary = train_and_evaluate(cfg, tmp_path / "run", _quiet(), log=lines.append)
    assert summary["status"] == "completed"
    assert summary["history"][0]["skipped_files"] == 1
    assert summary["history"][0]["validation_images"] == 4
    assert any("1 unreadable files skipped" in line for line in lines)


def test_the_plateau_schedule_drives_the_optimizer_at_most_three_times(tmp_path):
    """min_delta=1 makes every epoch after the first a plateau: with patience 1 the rate is
    divided by 10 after epochs 2, 3 and 4, then stays (§5: reduced three times)."""
    cfg = tiny("train.epochs=6", "train.plateau_patience=1", "train.plateau_min_delta=1.0")
    summary = train_and_evaluate(cfg, tmp_path, _quiet(), data=RandomImages(),
                                 log=lambda *a: None)
    rates = [row["learning_rate"] for row in summary["history"]]
    np.testing.assert_allclose(rates, [1e-2, 1e-2, 1e-3, 1e-4, 1e-5, 1e-5], rtol=1e-9)
    reader = tf.train.load_checkpoint(str(tmp_path / "checkpoints" / "ckpt-24"))
    key = [k for k in reader.get_variable_to_shape_map() if "optimizer/learning_rate" in k][0]
    assert reader.get_tensor(key) == pytest.approx(1e-5, rel=1e-6)  # what SGD actually used


class NoValidation(RandomImages):
    validation_examples = 0

    def validation(self, *, batch_size, ten_crop=False):
        return super().validation(batch_size=batch_size).take(0)


def test_the_fixed_schedule_drives_the_optimizer_with_or_without_validation(tmp_path):
    """train.lr_schedule=fixed, steps after epochs 2 and 3: 1e-2, 1e-2, 1e-3, 1e-4, 1e-4 by
    hand; the same with no validation images (the plateau schedule would never move)."""
    cfg = tiny("train.epochs=5", "train.lr_schedule=fixed", "train.lr_step_epochs=2,3")
    for name, data in (("with", RandomImages()), ("without", NoValidation())):
        summary = train_and_evaluate(cfg, tmp_path / name, _quiet(), data=data,
                                     log=lambda *a: None)
        rates = [row["learning_rate"] for row in summary["history"]]
        np.testing.assert_allclose(rates, [1e-2, 1e-2, 1e-3, 1e-4, 1e-4], rtol=1e-9)
    reader = tf.train.load_checkpoint(str(tmp_path / "without" / "checkpoints" / "ckpt-20"))
    key = [k for k in reader.get_variable_to_shape_map() if "optimizer/learning_rate" in k][0]
    assert reader.get_tensor(key) == pytest.approx(1e-4, rel=1e-6)  # what SGD actually used


class WithCleanTrain(RandomImages):
    def clean_train(self, *, batch_size, every=1):
        return tf.data.Dataset.from_tensor_slices((self.x[:64:every], self.y[:64:every])).batch(
            batch_size)


def test_the_clean_training_error_is_the_trained_models_error_on_the_training_images(
        tmp_path):
    """RunOptions(clean_train_images=32): every 2nd of the 64 training images in evaluation
    mode after each epoch; the last epoch's number is the final model's top-1 error on
    them, computed here with the model itself."""
    summary = train_and_evaluate(tiny("train.epochs=2"), tmp_path,
                                 _quiet(clean_train_images=32), data=WithCleanTrain(),
                                 log=lambda *a: None)
    last = summary["history"][-1]
    data = WithCleanTrain()
    model = checkpointing.load_model(tmp_path)
    predicted = np.argmax(model(data.x[:64:2], training=False).numpy(), axis=-1)
    assert last["clean_train_images"] == 32
    assert last["clean_train_top1_error"] == pytest.approx(np.mean(predicted != data.y[:64:2]))
    assert {"clean_train_loss", "clean_train_top5_error"} <= set(last)
    assert "clean_train_top1_error" not in train_and_evaluate(
        tiny("train.epochs=1"), tmp_path / "off", _quiet(), data=WithCleanTrain(),
        log=lambda *a: None)["history"][0]


def test_weights_fingerprint_is_sha256_of_each_weights_key_and_bytes():
    from alexnet_tf.network.model import build_alexnet
    from alexnet_tf.training.logs import _flat_chunks
    model = build_alexnet(tiny().model)
    expected = hashlib.sha256()
    for layer in sorted(model.layers, key=lambda layer: layer.name):
        for variable in sorted(layer.variables, key=lambda v: v.name):
            if variable.name != "seed_generator_state":
                expected.update(f"{layer.name}/{variable.name}".encode())
                expected.update(np.asarray(variable).tobytes())
    assert weights_fingerprint(model) == expected.hexdigest()
    kernel = model.get_layer("conv2").kernel  # chunks of 7 elements, the last one short
    np.testing.assert_array_equal(np.concatenate(list(_flat_chunks(kernel, size=7))),
                                  np.asarray(kernel).ravel())
