"""Damaged `.keras` files: every loader, and every command that loads a model, names the
file and what is wrong with it in one line (exit code 2), never a traceback."""
import shutil
import zipfile

import keras
import numpy as np
import pytest

from alexnet_tf.training import checkpoints as checkpointing

from alexnet_tf import config

from alexnet_tf.inference import model_files
from alexnet_tf.network.applications import AlexNet
from alexnet_tf.network.model import build_alexnet
import tools_support


def _double(x):      # a named function: not registered, so Keras cannot find it to load
    return x * 2


def _truncated(good: bytes, path):
    path.write_bytes(good[:len(good) // 2])


def _text(good: bytes, path):
    path.write_text("this is a text file, not a model\n")


def _empty(good: bytes, path):
    path.write_bytes(b"")


def _member_data_offset(good_path, name):
    """Where `name`'s stored bytes start: after its local header (30 bytes + name + extra)."""
    with zipfile.ZipFile(good_path) as archive:
        info = archive.getinfo(name)
    with open(good_path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_length, extra_length = np.frombuffer(f.read(4), "<u2")
    return info.header_offset + 30 + int(name_length) + int(extra_length), info.compress_size


def _flipped(good: bytes, path, good_path):
    start, size = _member_data_offset(good_path, "model.weights.h5")
    data = bytearray(good)
    data[start + size // 2] ^= 0xFF         # one byte inside the weights member
    path.write_bytes(bytes(data))


def _garbage_weights(good: bytes, path, good_path):
    with zipfile.ZipFile(good_path) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "model.weights.h5":
                data = b"garbage, not HDF5 " * 64       # a valid zip member, not HDF5
            target.writestr(info, data)


def _lambda_model(function):
    inputs = keras.Input((67, 67, 3))
    x = keras.layers.Lambda(function)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="fc8")(x))


# kind -> (what it says about the file)
DAMAGE = {
    "truncated": "truncated or damaged zip archive",
    "text": "not a .keras file (not a zip archive)",
    "empty": "not a .keras file (an empty file)",
    "flipped_byte": "truncated or damaged zip archive (Bad CRC-32 for file 'model.weights.h5')",
    "garbage_weights": "its weights file is unreadable",
    "lambda_named_function": "refused: it has Lambda layer(s)",
    "lambda_expression": "refused: it has Lambda layer(s)",
}


def _make(kind, good_path, path):
    good = good_path.read_bytes()
    if kind == "truncated":
        _truncated(good, path)
    elif kind == "text":
        _text(good, path)
    elif kind == "empty":
        _empty(good, path)
    elif kind == "flipped_byte":
        _flipped(good, path, good_path)
    elif kind == "garbage_weights":
        _garbage_weights(good, path, good_path)
    elif kind == "lambda_named_function":
        _lambda_model(_double).save(path)
    elif kind == "lambda_expression":
        _lambda_model(lambda t: t * 2).save(path)
    else:
        raise AssertionError(kind)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """A good tiny work directory, and one copy of it per kind with its model.keras damaged."""
    root = tmp_path_factory.mktemp("damaged")
    good = tools_support.make_workdir(root / "good")
    images = tools_support.make_images(root / "images", per_class=1, classes=(0, 3))
    workdirs = {}
    for kind in DAMAGE:
        workdir = root / kind
        shutil.copytree(good, workdir)
        (workdir / "model.keras").unlink()
        _make(kind, good / "model.keras", workdir / "model.keras")
        workdirs[kind] = workdir
    return dict(root=root, good=good, images=images, workdirs=workdirs)


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_each_damage_is_one_line_naming_the_file(damaged, kind):
    path = damaged["workdirs"][kind] / "model.keras"
    assert path.exists()
    for load in (lambda: checkpointing.load_model(path),                  # the .keras file
                 lambda: checkpointing.load_model(path.parent),           # its work directory
                 lambda: AlexNet(weights=path)):
        with pytest.raises(ValueError) as raised:
            load()
        message = str(raised.value)
        assert isinstance(raised.value, model_files.ModelFileError)
        assert message.startswith(f"{path}: ") and DAMAGE[kind] in message, message
        assert "\n" not in message


def test_the_good_file_still_loads_with_its_weights(damaged):
    path = damaged["good"] / "model.keras"
    model = model_files.load_keras_file(path)
    reference = keras.saving.load_model(path)
    x = np.random.RandomState(0).randn(2, 67, 67, 3).astype("float32")
    np.testing.assert_array_equal(model(x).numpy(), reference(x).numpy())


def test_a_missing_file_and_a_directory(tmp_path):
    with pytest.raises(model_files.ModelFileError, match="no such model file"):
        checkpointing.load_model(tmp_path / "absent.keras")
    (tmp_path / "folder.keras").mkdir()
    with pytest.raises(model_files.ModelFileError, match="is a directory, not a .keras file"):
        checkpointing.load_model(tmp_path / "folder.keras")


def test_a_damaged_weights_h5_for_applications(tmp_path):
    garbage = tmp_path / "garbage.weights.h5"
    garbage.write_bytes(b"\x00not hdf5" * 100)
    with pytest.raises(model_files.ModelFileError, match="not a readable HDF5 weights file"):
        AlexNet(weights=garbage, config="tiny")
    other = build_alexnet(config.override(config.get_config("tiny"),
                                          ["model.num_classes=5"]).model)
    other.save_weights(tmp_path / "five.weights.h5")
    with pytest.raises(model_files.ModelFileError, match="do not fit the model"):
        AlexNet(weights=tmp_path / "five.weights.h5", config="tiny")


def _command_lines(damaged, kind, tmp):
    """Every command that loads a model, each given one damaged file (kinds taken in turn)."""
    model = damaged["workdirs"][kind] / "model.keras"
    images = damaged["root"] / "images"
    return model, {
        "alexnet_tf.evaluate": [f"--model={model}", "--max_images=4"],
        "alexnet_tf.predict": [f"--model={model}", damaged["images"][0]],
        "export.saved_model": [f"--model={model}", f"--output={tmp / 'served' / 'alexnet'}"],
        "export.tflite": [f"--model={model}", f"--output={tmp / 'tflite'}",
                          "--kinds=float32"],
        "tools.figure_kernels": [f"--model={model}", f"--out={tmp / 'k.png'}"],
        "tools.figure_top5": [f"--model={model}", f"--images={images}",
                              f"--out={tmp / 't.png'}"],
        "tools.similarity_search": [f"--model={model}", f"--queries={images}",
                                    f"--gallery={images}", f"--store={tmp / 'store'}",
                                    f"--out={tmp / 's.png'}"],
        "tools.visualize": [f"--model={model}", f"--images={images}",
                            f"--out_dir={tmp / 'v'}", "--steps=1"],
    }


@pytest.mark.slow
def test_every_command_says_one_line_and_exits_2(damaged, tmp_path):
    kinds = sorted(DAMAGE)
    modules = list(_command_lines(damaged, kinds[0], tmp_path)[1])
    for first in range(0, len(modules), 4):           # four processes at a time
        runs = {}
        for i, module in enumerate(modules[first:first + 4], start=first):
            kind = kinds[i % len(kinds)]
            model, commands = _command_lines(damaged, kind, tmp_path / module)
            runs[module] = (kind, model,
                            tools_support.start_module(module, *commands[module]))
        for module, (kind, model, process) in runs.items():
            out, err = process.communicate(timeout=300)
            errors = [line for line in err.splitlines() if line.startswith("error:")]
            assert process.returncode == 2, (module, kind, err[-2000:])
            assert "Traceback" not in err, (module, kind, err[-2000:])
            assert len(errors) == 1 and errors[0].startswith(f"error: {model}: "), (module, err)
            assert DAMAGE[kind] in errors[0], (module, errors[0])
    assert not (tmp_path / "export.saved_model" / "served").exists()   # nothing published
