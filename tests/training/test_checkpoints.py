"""Faults users hit: damaged checkpoints and latest.json, debris of killed saves, a history
an epoch behind its checkpoint, two runs on one work directory, the seed, a full disk."""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys

import faults
import keras
import pytest
import tensorflow as tf
from random_images import RandomImages, tiny

from alexnet_tf.inference import evaluation, loader as inference
from alexnet_tf.training import checkpoints as checkpointing, logs as training_logs
from alexnet_tf.training.loop import RunOptions, WorkDirError, train_and_evaluate
from alexnet_tf.training.logs import weights_fingerprint
from alexnet_tf.training.workdir_lock import WorkDirInUseError, WorkDirLock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
           PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))


def _train(cfg, workdir, log=None, **options):
    options = RunOptions(**{"strategy": "single", "progress": False, **options})
    return train_and_evaluate(cfg, workdir, options, data=RandomImages(),
                              log=log or (lambda *a: None))


def _listed(workdir):
    return json.loads((workdir / "checkpoints" / "latest.json").read_text())["checkpoints"]


def _cut_in_half(path):
    os.truncate(path, path.stat().st_size // 2)   # what a crash or a full disk leaves


def _data_file(workdir, name):
    return next((workdir / "checkpoints").glob(f"{name}.data-*"))


# Item 2: a damaged newest checkpoint, a damaged or missing latest.json.

@pytest.mark.slow
def test_a_truncated_newest_checkpoint_falls_back_in_training_evaluate_and_predict(
        tmp_path, capsys):
    cfg = tiny("train.epochs=3")
    _train(cfg, tmp_path, max_steps=6, checkpoint_every_steps=2)
    assert _listed(tmp_path) == ["ckpt-6", "ckpt-4", "ckpt-2"]
    ckpt = tmp_path / "checkpoints"
    expected = weights_fingerprint(checkpointing.load_model(ckpt / "ckpt-4"))
    _cut_in_half(_data_file(tmp_path, "ckpt-6"))
    skipped = (f"skipped checkpoint {ckpt / 'ckpt-6'}: unreadable (IndexError: Read less "
               f"bytes than requested); trying ckpt-4")

    capsys.readouterr()   # evaluate and predict load a work directory through load_model
    assert weights_fingerprint(checkpointing.load_model(tmp_path)) == expected
    classifier = inference.load_classifier(tmp_path)
    assert weights_fingerprint(classifier.model) == expected
    results = evaluation.run_evaluation([str(tmp_path)], split="validation", crops=["center"],
                                        batch_size=16, max_images=16)
    assert results["center"]["images"] == 16
    assert capsys.readouterr().err.splitlines() == [f"warning: {skipped}"] * 3

    log = []
    summary = _train(cfg, tmp_path, log=log.append, max_steps=8, checkpoint_every_steps=2)
    assert f"warning: {skipped}" in log
    assert any(line.startswith(f"resumed from {ckpt / 'ckpt-4'}:") for line in log)
    assert summary["global_step"] == 8
    assert _listed(tmp_path) == ["ckpt-8", "ckpt-6", "ckpt-4"]
    checkpointing.load_model(ckpt / "ckpt-6")  # written anew, readable


def test_a_work_dir_with_no_readable_checkpoint_falls_back_to_its_model_keras(tmp_path):
    _train(tiny("train.epochs=1"), tmp_path)   # ckpt-4 and model.keras
    _cut_in_half(_data_file(tmp_path, "ckpt-4"))
    lines = []
    model = checkpointing.load_model(tmp_path, report=lines.append)
    reference = keras.saving.load_model(tmp_path / "model.keras")
    assert weights_fingerprint(model) == weights_fingerprint(reference)
    assert lines == [f"could not read a checkpoint in {tmp_path / 'checkpoints'} (ckpt-4: "
                     f"IndexError: Read less bytes than requested); using "
                     f"{tmp_path / 'model.keras'}"]
    (tmp_path / "model.keras").unlink()
    with pytest.raises(checkpointing.CheckpointError, match="^could not read a checkpoint in"):
        checkpointing.load_model(tmp_path)


@pytest.mark.parametrize("text,why", [
    (None, "is missing"),
    ('{"checkpoints": null}', 'does not hold {"checkpoints": ["ckpt-<step>", ...]}'),
    ('["ckpt-30", "ckpt-10"]', 'does not hold {"checkpoints": ["ckpt-<step>", ...]}'),
    ('{"checkpoints": ["../ckpt-30"]}', 'does not hold {"checkpoints": ["ckpt-<step>", ...]}'),
    ('{"checkp', "is unreadable (Unterminated string starting at: line 1 column 2 (char 1))"),
], ids=["missing", "null", "list", "outside", "cut"])
def test_a_missing_or_damaged_latest_json_says_so_and_uses_the_newest_readable_on_disk(
        tmp_path, capsys, text, why):
    value = tf.Variable(0.0)
    saver = checkpointing.CheckpointSaver(tmp_path, keep=3, value=value)
    for step in (2, 10, 30):   # by name ckpt-10 < ckpt-2 < ckpt-30; by step 30 > 10 > 2
        value.assign(float(step))
        saver.save(step)
    _cut_in_half(next(tmp_path.glob("ckpt-30.data-*")))
    latest = tmp_path / "latest.json"
    if text is None:
        latest.unlink()
    else:
        latest.write_text(text)
    capsys.readouterr()
    assert saver.restore_latest() == str(tmp_path / "ckpt-10") and value.numpy() == 10.0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (f"warning: {latest} {why}; found ckpt-30, ckpt-10, ckpt-2 on disk: "
                        f"using the newest readable one")
    assert lines[1].startswith(f"warning: skipped checkpoint {tmp_path / 'ckpt-30'}: "
                               f"unreadable (")
    assert len(lines) == 2
    saver.save(11)   # a new latest.json, newest step first; nothing on disk deleted unread
    assert json.loads(latest.read_text()) == {"checkpoints": ["ckpt-11", "ckpt-10", "ckpt-2"]}


def test_no_readable_checkpoint_is_one_line_naming_each(tmp_path):
    saver = checkpointing.CheckpointSaver(tmp_path, keep=3, value=tf.Variable(1.0))
    for step in (1, 2):
        saver.save(step)
    for path in tmp_path.glob("ckpt-*.data-*"):
        _cut_in_half(path)
    with pytest.raises(Exception) as error:
        saver.restore_latest()
    assert isinstance(error.value, checkpointing.CheckpointError), error.value
    message = str(error.value)
    assert len(message.splitlines()) == 1
    assert "ckpt-2: IndexError" in message and "ckpt-1: IndexError" in message


def test_a_deleted_latest_json_resumes_from_the_newest_checkpoint_on_disk(tmp_path):
    cfg = tiny("train.epochs=3")
    _train(cfg, tmp_path, max_steps=4, checkpoint_every_steps=2)
    (tmp_path / "checkpoints" / "latest.json").unlink()
    log = []
    summary = _train(cfg, tmp_path, log=log.append, max_steps=6, checkpoint_every_steps=2)
    latest = tmp_path / "checkpoints" / "latest.json"
    assert f"warning: {latest} is missing; found ckpt-4, ckpt-2 on disk: using the newest " \
           f"readable one" in log
    assert any(line.startswith("resumed from") and line.endswith("step 0 of 4")
               for line in log), log   # ckpt-4 ended epoch 1
    assert summary["global_step"] == 6 and _listed(tmp_path) == ["ckpt-6", "ckpt-4", "ckpt-2"]


# Item 3: what killed saves leave behind.

def test_debris_of_killed_saves_and_writes_is_removed_at_start(tmp_path):
    cfg = tiny("train.epochs=3")
    _train(cfg, tmp_path, max_steps=4, checkpoint_every_steps=2)
    ckpt = tmp_path / "checkpoints"
    # What SIGKILL during a save left (observed): TF's staging folder with a part file.
    (ckpt / "ckpt-6_temp").mkdir()
    (ckpt / "ckpt-6_temp" / "part-00000-of-00001.data-00000-of-00001.tempstate42").write_bytes(
        b"\0" * 4096)
    (ckpt / ".latest.json.k2j4.tmp").write_text('{"checkpoints"')
    # A save killed after its files were complete, before latest.json named them.
    for path in ckpt.glob("ckpt-4.*"):
        shutil.copy(path, ckpt / path.name.replace("ckpt-4", "ckpt-5"))
    debris = [tmp_path / ".model.tmp.keras", tmp_path / ".history.json.x81q.tmp",
              tmp_path / ".write_test", tmp_path / "tmpq0w1.npz.tmp"]
    for path in debris:
        path.write_bytes(b"partial")
    others = [tmp_path / "notes.txt", ckpt / "notes.tmp", tmp_path / ".history.json.bak",
              ckpt / "ckpt-5-mine"]
    for path in others:
        path.write_text("the user's")
    log = []
    _train(cfg, tmp_path, log=log.append, max_steps=4, checkpoint_every_steps=2)
    assert sorted(p.name for p in ckpt.iterdir()) == sorted(
        [p.name for p in others if p.parent == ckpt] + ["latest.json"] +
        [f"ckpt-{s}.{kind}" for s in (2, 4) for kind in ("index", "data-00000-of-00001")])
    assert not any(path.exists() for path in debris)
    assert all(path.read_text() == "the user's" for path in others)
    removed = [line for line in log if line.startswith("removed what interrupted writes left")]
    assert len(removed) == 1 and "ckpt-6_temp" in removed[0] and ".model.tmp.keras" in removed[0]


def test_the_work_directorys_temporary_files_of_every_writer_are_removed(tmp_path):
    """What killed writes of statistics.npz (the previous writer's mkstemp name and the
    current one), model.keras, config.json and class_names.txt leave; the user's files
    that merely look alike stay."""
    debris = [".statistics.npz.k2j4x9q1.tmp", ".statistics.npz.0a1b2c3d.tmp.npz",
              ".model.keras.0a1b2c3d.tmp.keras", ".config.json.9f8e7d6c.tmp",
              ".class_names.txt.abcd0123.tmp"]
    others = [".statistics.npz.bak", "model.keras.tmp", "notes.tmp", ".notes.txt.1234.tmp"]
    for name in debris + others:
        (tmp_path / name).write_text("x")
    assert checkpointing.WorkDir(tmp_path).clean_debris() == sorted(debris)
    assert sorted(os.listdir(tmp_path)) == sorted(others)


def test_a_save_removes_debris_and_what_its_own_failed_write_left(tmp_path, monkeypatch):
    saver = checkpointing.CheckpointSaver(tmp_path, keep=2, value=tf.Variable(1.0))
    saver.save(1)
    (tmp_path / "ckpt-2_temp").mkdir()
    (tmp_path / ".latest.json.abc.tmp").write_text("")
    saver.save(3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-1.data-00000-of-00001", "ckpt-1.index", "ckpt-3.data-00000-of-00001",
        "ckpt-3.index", "latest.json"]

    real_write = tf.train.Checkpoint.write

    def write_then_fail(self, prefix, options=None):
        real_write(self, prefix)
        os.makedirs(f"{prefix}_temp")
        raise KeyboardInterrupt("killed after the data, before the listing")

    monkeypatch.setattr(tf.train.Checkpoint, "write", write_then_fail)
    with pytest.raises(KeyboardInterrupt):
        saver.save(4)
    assert json.loads((tmp_path / "latest.json").read_text())["checkpoints"] == [
        "ckpt-3", "ckpt-1"]
    assert not list(tmp_path.glob("ckpt-4*"))


# Item 4: history.json and TensorBoard are durable with the checkpoint.

def _tensorboard_rows(workdir):
    """epoch -> how many learning_rate scalars and conv1 images the event files hold."""
    scalars, images = {}, {}
    for path in sorted((workdir / "tensorboard").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                counts = {"learning_rate": scalars, "conv1_kernels": images}.get(value.tag)
                if counts is not None:
                    counts[event.step] = counts.get(event.step, 0) + 1
    return scalars, images


@pytest.mark.slow
def test_the_history_catches_up_with_a_checkpoint_written_just_before_a_kill(
        tmp_path, monkeypatch):
    cfg = tiny("train.epochs=2")
    rows = []
    real_epoch_end = training_logs.TrainingLogs.epoch_end

    def killed_at_epoch(epoch):
        def epoch_end(self, row, model, history):
            rows.append(dict(row))
            if row["epoch"] == epoch:   # the checkpoint is listed; history.json not yet
                raise KeyboardInterrupt("SIGKILL")
            return real_epoch_end(self, row, model, history)
        return epoch_end

    monkeypatch.setattr(training_logs.TrainingLogs, "epoch_end", killed_at_epoch(1))
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, tmp_path)
    monkeypatch.undo()
    assert not (tmp_path / "history.json").exists() and _listed(tmp_path)[0] == "ckpt-4"
    _train(cfg, tmp_path, max_steps=4)   # resumes and stops at once: the logs caught up
    assert json.loads((tmp_path / "history.json").read_text()) == rows[:1]
    assert _tensorboard_rows(tmp_path) == ({1: 1}, {1: 1})

    monkeypatch.setattr(training_logs.TrainingLogs, "epoch_end", killed_at_epoch(2))
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, tmp_path)    # the last epoch: the restart trains nothing
    monkeypatch.undo()
    summary = _train(cfg, tmp_path)
    assert summary["status"] == "completed" and summary["epochs"] == 2
    assert json.loads((tmp_path / "history.json").read_text()) == rows[:2]
    assert _tensorboard_rows(tmp_path) == ({1: 1, 2: 1}, {1: 1, 2: 1})


# Item 5: one run per work directory; the seed is part of the run.

def test_a_second_run_on_a_work_dir_in_use_is_refused_before_writing(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    with WorkDirLock(workdir):
        with pytest.raises(WorkDirInUseError,
                           match=rf"{workdir} is in use by another training run \(pid "
                                 rf"{os.getpid()}, started \d{{4}}-"):
            _train(tiny(), workdir)
        assert sorted(p.name for p in workdir.iterdir()) == [".training.lock"]
    assert _train(tiny("train.epochs=1"), workdir)["status"] == "completed"
    with WorkDirLock(workdir):   # the finished run released it
        pass


@pytest.mark.slow
def test_a_lock_left_by_a_killed_run_does_not_block(tmp_path):
    code = ("import os, signal, sys; from alexnet_tf.training.workdir_lock import WorkDirLock; "
            "WorkDirLock(sys.argv[1]).acquire(); os.kill(os.getpid(), signal.SIGKILL)")
    killed = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=ENV, cwd=ROOT)
    assert killed.wait(timeout=120) == -signal.SIGKILL
    assert f"pid {killed.pid}" in (tmp_path / ".training.lock").read_text()
    assert _train(tiny("train.epochs=1"), tmp_path)["status"] == "completed"


def test_a_file_system_without_locks_warns_and_still_trains(tmp_path, monkeypatch, capsys):
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    assert _train(tiny("train.epochs=1"), tmp_path)["status"] == "completed"
    assert f"warning: {tmp_path} cannot be locked (No locks available): nothing stops a " \
           f"second run there" in capsys.readouterr().err


@pytest.mark.slow
def test_the_train_command_refuses_a_work_dir_in_use_in_one_line(tmp_path):
    with WorkDirLock(tmp_path):
        result = subprocess.run(
            [sys.executable, "-m", "alexnet_tf.train", "--preset=tiny", f"--workdir={tmp_path}",
             "--max_steps=1", "--progress=false"],
            capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors and errors[0].startswith(
        f"error: {tmp_path} is in use by another training run (pid {os.getpid()}, started ")
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".training.lock"]


def test_the_seed_is_recorded_and_a_resume_with_another_is_refused(tmp_path):
    _train(tiny("train.epochs=1", "train.seed=5"), tmp_path, max_steps=2)
    assert json.loads((tmp_path / "config.json").read_text())["train"]["seed"] == 5
    with pytest.raises(WorkDirError, match=r"train.seed \(saved 5, now 0\)"):
        _train(tiny("train.epochs=1"), tmp_path)
    summary = _train(tiny("train.epochs=1", "train.seed=5"), tmp_path)
    assert summary["status"] == "completed"


@pytest.mark.slow
def test_a_work_dir_from_before_the_seed_was_recorded_still_resumes(tmp_path):
    _train(tiny("train.epochs=1"), tmp_path, max_steps=2)
    saved = json.loads((tmp_path / "config.json").read_text())
    for field in ("seed", "precision", "precision_reason"):  # written before they existed
        del saved["train"][field]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert checkpointing.load_config(tmp_path) == tiny("train.epochs=1")
    with pytest.raises(WorkDirError, match=r"train.seed \(not saved, so 0, now 3\)"):
        _train(tiny("train.epochs=1", "train.seed=3"), tmp_path)
    assert _train(tiny("train.epochs=1"), tmp_path)["global_step"] == 4


def test_a_work_dir_from_before_the_experiment_switches_still_resumes(tmp_path):
    """config.json written before model.activation, data.random_crop, data.train_fraction,
    train.lr_schedule and train.lr_step_epochs existed: each counts as its preset's value."""
    from alexnet_tf import config
    from alexnet_tf.training.state import prepare_workdir
    cfg = tiny("train.epochs=1")
    saved = config.to_dict(cfg)
    for section, key in (("model", "activation"), ("data", "random_crop"),
                         ("data", "train_fraction"), ("train", "lr_schedule"),
                         ("train", "lr_step_epochs")):
        del saved[section][key]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    prepare_workdir(tmp_path, cfg).lock.release()
    assert checkpointing.load_config(tmp_path) == cfg
    with pytest.raises(WorkDirError, match=r"model.activation \(not saved, so 'relu', now "
                                           r"'tanh'\)"):
        prepare_workdir(tmp_path, tiny("train.epochs=1", "model.activation=tanh"))


# Item 9: a full disk during training.

def _no_space(path):
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def _full_at_checkpoint(step):
    real_write = tf.train.Checkpoint.write

    def write(self, prefix, options=None):
        if prefix.endswith(f"ckpt-{step}"):
            os.makedirs(f"{prefix}_temp")   # what TF leaves when SaveV2 fails
            raise tf.errors.ResourceExhaustedError(
                None, None, f"{prefix}_temp/part-00000-of-00001.data-00000-of-00001.tempstate1; "
                            f"No space left on device")
        return real_write(self, prefix)
    return tf.train.Checkpoint, "write", write


def _full_at_history():
    real_open = os.open

    def open_(path, flags, mode=0o777, **kwargs):
        fd = real_open(path, flags, mode, **kwargs)
        if os.path.basename(os.fsdecode(path)).startswith(".history.json."):  # its temporary
            os.close(fd)
            fd = real_open("/dev/full", os.O_WRONLY)   # every write: ENOSPC
        return fd
    return os, "open", open_


def _full_at_model():
    def save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise _no_space(filepath)
    return keras.Model, "save", save


def _full_at_tensorboard():
    def scalar(name, data, step=None, description=None):
        raise tf.errors.ResourceExhaustedError(
            None, None, "tensorboard/events.out.tfevents.1.host.v2; No space left on device")
    return tf.summary, "scalar", scalar


@pytest.mark.parametrize("inject,written,intact", [
    (lambda: _full_at_checkpoint(6), "checkpoints/ckpt-6", "ckpt-4"),
    (_full_at_history, "history.json", "ckpt-4"),
    (_full_at_tensorboard, "tensorboard", "ckpt-4"),
    (_full_at_model, "model.keras", "ckpt-8"),
    (lambda: _full_at_checkpoint(2), "checkpoints/ckpt-2", None),
], ids=["checkpoint", "history", "tensorboard", "model", "first-checkpoint"])
@pytest.mark.slow
def test_a_full_disk_is_one_error_naming_the_file_and_the_intact_checkpoint(
        tmp_path, monkeypatch, inject, written, intact):
    cfg = tiny("train.epochs=2")
    monkeypatch.setattr(*inject())
    with pytest.raises(Exception) as error:
        _train(cfg, tmp_path, checkpoint_every_steps=2)
    monkeypatch.undo()
    last = (f"the last complete checkpoint, {tmp_path / 'checkpoints' / intact}, is intact"
            if intact else "no checkpoint had been written yet")
    assert str(error.value) == f"disk full writing {tmp_path / written}; {last}"
    assert isinstance(error.value, checkpointing.DiskFullError)   # the command: exit 2
    if intact:
        assert _listed(tmp_path)[0] == intact
    leftovers = [p.name for p in tmp_path.rglob("*") if "tmp" in p.name or "_temp" in p.name]
    assert leftovers == []
    summary = _train(cfg, tmp_path, checkpoint_every_steps=2)   # after freeing space
    assert summary["status"] == "completed" and summary["global_step"] == 8
    assert [row["epoch"] for row in json.loads((tmp_path / "history.json").read_text())] == [1, 2]
    assert _tensorboard_rows(tmp_path)[0] == {1: 1, 2: 1}


def test_a_start_on_a_full_disk_leaves_no_write_test(tmp_path, monkeypatch):
    import pathlib
    real_write_text = pathlib.Path.write_text

    def write_text(self, *args, **kwargs):
        if self.name == ".write_test":
            self.touch()   # the file is created, its first byte does not fit
            raise _no_space(self)
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)
    with pytest.raises(Exception) as error:
        _train(tiny(), tmp_path)
    assert str(error.value) == f"disk full writing {tmp_path}; no checkpoint had been written yet"
    assert isinstance(error.value, checkpointing.DiskFullError)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".training.lock"]


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MB tmpfs: the tiny preset fills it at its third checkpoint."""
    with faults.tmpfs(tmp_path / "small", "1m") as mount:
        yield mount


def _train_command(workdir):
    return subprocess.run(
        [sys.executable, "-m", "alexnet_tf.train", "--preset=tiny", f"--workdir={workdir}",
         "--max_steps=60", "--checkpoint_every_steps=10", "--steps_per_call=10",
         "--progress=false"],
        capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=600)


@pytest.mark.slow
def test_the_train_command_on_a_full_disk_exits_2_in_one_line_and_resumes(small_tmpfs):
    workdir = small_tmpfs / "run"
    result = _train_command(workdir)
    ckpt = workdir / "checkpoints"
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: disk full writing {ckpt / 'ckpt-30'}; the last complete "
                      f"checkpoint, {ckpt / 'ckpt-20'}, is intact"], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert _listed(workdir) == ["ckpt-20", "ckpt-10"] and not (ckpt / "ckpt-30_temp").exists()

    filler = small_tmpfs / "filler"
    with open(filler, "wb", buffering=0) as f:   # nothing left: the start itself fails
        with pytest.raises(OSError) as full:
            while True:
                f.write(b"\0" * 4096)
        assert full.value.errno == errno.ENOSPC
    result = _train_command(workdir)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.splitlines()[-1].startswith(f"error: disk full writing {workdir}")
    assert "ckpt-20, is intact" in result.stderr and "Traceback" not in result.stderr
    assert not (workdir / ".write_test").exists()

    filler.unlink()
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_tmpfs)], check=True)
    result = _train_command(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed from {ckpt / 'ckpt-20'}: epoch 1, step 20 of 179" in result.stdout


def test_a_checkpoint_skipped_as_unreadable_leaves_the_list_at_the_next_save(tmp_path):
    """Resumed past a damaged ckpt-6 with another cadence (ckpt-6 is not written again) and
    room for five: the next save lists only readable checkpoints (it used to keep listing
    the damaged one) and removes the damaged one's files."""
    cfg = tiny("train.epochs=3")
    _train(cfg, tmp_path, max_steps=6, checkpoint_every_steps=2)
    _cut_in_half(_data_file(tmp_path, "ckpt-6"))
    _train(cfg, tmp_path, max_steps=7, checkpoint_every_steps=7, keep_checkpoints=5)
    assert _listed(tmp_path) == ["ckpt-7", "ckpt-4", "ckpt-2"]
    assert not list((tmp_path / "checkpoints").glob("ckpt-6.*"))
