"""Loading `.keras` files so that a damaged one is named in one line, not a traceback.

A `.keras` file is a zip archive holding `config.json` (the architecture) and
`model.weights.h5`. Keras reports its damage in its own terms — "File not found" for a file
that exists but is not a zip, a `BadZipFile` or h5py `OSError` traceback for a damaged
member, a `TypeError` for a Lambda layer it will not load — so every command that loads a
model goes through `load_keras_file`, which keeps safe mode on and says instead what is
wrong with the file:

    <path>: not a .keras file (not a zip archive)
    <path>: truncated or damaged zip archive (...)
    <path>: its weights file is unreadable (...)
    <path>: refused: it has Lambda layer(s) '...', whose Python code safe mode does not load
"""
from __future__ import annotations

import json
import pathlib
import zipfile
import zlib

import keras

CONFIG_MEMBER = "config.json"
WEIGHTS_MEMBER = "model.weights.h5"
WEIGHTS_MEMBERS = (WEIGHTS_MEMBER, "model.weights.npz")    # Keras writes one of them
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")   # a member's header; an empty archive


class ModelFileError(ValueError):
    """A model file a user gave is missing, damaged or refused; the message names it."""


def load_keras_file(path) -> keras.Model:
    """`keras.saving.load_model(path)` in safe mode; any damage raises ModelFileError."""
    path = pathlib.Path(path)
    _check_archive(path)
    try:
        return keras.saving.load_model(path)          # safe_mode=True
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise ModelFileError(f"{path}: truncated or damaged zip archive ({_first_line(e)})") \
            from None
    except OSError as e:
        if e.errno is None:       # h5py's errors carry no errno: the member is not HDF5
            raise ModelFileError(f"{path}: its weights file is unreadable ({WEIGHTS_MEMBER}: "
                                 f"{_h5py_reason(e)})") from None
        raise ModelFileError(f"cannot read {path}: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: its {CONFIG_MEMBER} is unreadable ({e})") from None
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        if "could not be loaded" in str(e):    # Keras's words for weights of other shapes
            raise ModelFileError(f"{path}: its weights do not fit its architecture "
                                 f"({_loading_failure(e)})") from None
        lambdas = _lambda_layers(path)
        if lambdas:
            raise ModelFileError(
                f"{path}: refused: it has Lambda layer(s) {', '.join(lambdas)}, whose Python "
                "code safe mode does not load; rebuild the model without Lambda layers (the "
                "AlexNet layers need none)") from None
        raise ModelFileError(f"{path}: not a model this package can load "
                             f"({type(e).__name__}: {_first_line(e)})") from None


def load_weights_file(model: keras.Model, path):
    """`model.load_weights(path)` for a `.weights.h5` file; damage raises ModelFileError."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ModelFileError(f"no such weights file: {path}")
    try:
        model.load_weights(path)
    except OSError as e:
        if e.errno is None:
            raise ModelFileError(f"{path}: not a readable HDF5 weights file "
                                 f"({_h5py_reason(e)})") from None
        raise ModelFileError(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise ModelFileError(f"{path}: its weights do not fit the model "
                             f"({_loading_failure(e)})") from None


def _check_archive(path: pathlib.Path):
    """What can be said before Keras parses anything: missing, not a zip, no config."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise ModelFileError(f"no such model file: {path}") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a directory, not a .keras file") from None
    except OSError as e:
        raise ModelFileError(f"cannot read {path}: {e.strerror or e}") from None
    if not zipfile.is_zipfile(path):
        if head in _ZIP_SIGNATURES:
            raise ModelFileError(f"{path}: truncated or damaged zip archive (its central "
                                 "directory, at the end of the file, is missing)")
        what = "an empty file" if not head else "not a zip archive"
        raise ModelFileError(f"{path}: not a .keras file ({what})")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ModelFileError(f"{path}: truncated or damaged zip archive ({_first_line(e)})") \
            from None
    missing = [m for m in (CONFIG_MEMBER,) if m not in names]
    if not any(m in names for m in WEIGHTS_MEMBERS):
        missing.append(WEIGHTS_MEMBER)
    if missing:
        raise ModelFileError(f"{path}: not a .keras file, or a damaged one (the archive has "
                             f"{sorted(names)}, no {' or '.join(missing)})")


def _lambda_layers(path) -> list:
    """Names of the Lambda layers in the file's architecture (empty if it cannot tell)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read(CONFIG_MEMBER))
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        return []
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("class_name") == "Lambda":
                found.append(repr((node.get("config") or {}).get("name", "?")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return found


def _loading_failure(error) -> str:
    """The example Keras gives of a variable that could not be loaded."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    example = lines[1] if len(lines) > 1 else _first_line(error)
    return example.split(" Target variable:")[0]     # not the variable's values


def _h5py_reason(error) -> str:
    """h5py's words without its "Unable to synchronously open file" preamble."""
    text = _first_line(error)
    start, end = text.find("("), text.rfind(")")
    return text[start + 1:end] if 0 <= start < end else text


def _first_line(error) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
