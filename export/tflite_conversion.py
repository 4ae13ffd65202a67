"""TFLite files of a trained AlexNet, converted with built-in ops only and verified against
the Keras model (`export_tflite`; the command is `export.tflite`).

Kinds:
- `float32`: the model as is;
- `float16`: weights stored as float16 (computed in float32 on CPU);
- `dynamic_int8`: int8 weights, activations quantized on the fly;
- `full_int8`: int8 weights and activations, calibrated on a representative sample of the
  training split from the input pipeline. Input and output stay float32. TFLite has no
  int8 local response normalization: the converter keeps LRN in float32, with DEQUANTIZE /
  QUANTIZE around it (docs/design.md, "TFLite's LRN"), listed as `float_ops` in the report.

All models take preprocessed images (`preprocessing.eval_preprocess`) and output the
softmax probabilities. Built-in ops only: conversion fails if a Flex (Select TF) or custom
op would be needed. Each file is run with ai-edge-litert's interpreter with its default op
resolver (TFLite's *reference* LRN kernel sums one channel too few) on images from the
validation split and compared with the Keras model: float32 probabilities within 1e-5 and
float16 within 5e-3 or the export fails; top-1 agreement is reported for every kind.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os

import keras
import numpy as np
import tensorflow as tf

from alexnet_tf.network import lrn_ops
from alexnet_tf.network.model import with_softmax
from alexnet_tf import atomic

KINDS = ("float32", "float16", "dynamic_int8", "full_int8")
REPORT_FILE = "tflite_report.json"
TOLERANCES = {"float32": 1e-5, "float16": 5e-3}     # max |p_tflite - p_keras|


class UnsupportedOpsError(ValueError):
    """The converted model needs Flex (Select TF) or custom ops."""


def convert(model: keras.Model, kind: str, representative_images=None) -> bytes:
    """`model` (logits) -> a .tflite flatbuffer of its softmax, built-in ops only."""
    if kind not in KINDS:
        raise ValueError(f"unknown TFLite kind {kind!r}; choose from {KINDS}")
    with lrn_ops.builtin_lrn():  # TFLite's builtin LRN op, not the 1x1-convolution form
        return _convert(model, kind, representative_images)


def _convert(model, kind, representative_images):
    converter = tf.lite.TFLiteConverter.from_keras_model(with_softmax(model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if kind != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if kind == "full_int8":
        if representative_images is None or len(representative_images) == 0:
            raise ValueError("full_int8 needs representative images for calibration")

        def representative_dataset():
            for image in representative_images:
                yield [np.asarray(image, np.float32)[None]]

        converter.representative_dataset = representative_dataset
    try:
        # Keras prints the SavedModel it exports for the converter ("Saved artifact at
        # ..."): a temporary file, not the user's output.
        with contextlib.redirect_stdout(io.StringIO()):
            flatbuffer = converter.convert()
    except Exception as e:        # the converter raises its own ConverterError types
        raise UnsupportedOpsError(f"{kind}: conversion with TFLite built-in ops only failed: "
                                  f"{_converter_reason(str(e))}") from e
    check_builtin_ops(flatbuffer)
    return flatbuffer


def _converter_reason(text: str) -> str:
    """The converter's words naming the offending ops, not its MLIR dump."""
    import re
    keep = re.findall(r"'tf\.\w+' op is neither a custom op nor a flex op", text)
    keep += [line.strip() for line in text.splitlines()
             if line.startswith(("Custom ops:", "Flex ops:"))]
    return "; ".join(dict.fromkeys(keep)) or text.strip().splitlines()[0]


def operators(flatbuffer: bytes) -> list:
    """[(op name, custom code or None, input tensor types)] of every operator, in order."""
    from ai_edge_litert import schema_py_generated as schema
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        custom = code.CustomCode()
        codes.append((builtin.get(number, f"UNKNOWN_{number}"),
                      custom.decode() if custom else None))
    found = []
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for j in range(graph.OperatorsLength()):
            op = graph.Operators(j)
            name, custom = codes[op.OpcodeIndex()]
            inputs = tuple(types[graph.Tensors(op.Inputs(k)).Type()]
                           for k in range(op.InputsLength()) if op.Inputs(k) >= 0)
            found.append((name, custom, inputs))
    return found


def check_builtin_ops(flatbuffer: bytes):
    extra = sorted({custom or name for name, custom, _ in operators(flatbuffer)
                    if name == "CUSTOM" or custom or name.startswith("UNKNOWN")})
    if extra:
        raise UnsupportedOpsError(f"the model needs non-built-in ops {extra} (Flex/custom); "
                                  "only TFLite built-in ops are allowed")


def float_ops(flatbuffer: bytes) -> list:
    """Ops computing on float32 inputs (QUANTIZE/DEQUANTIZE aside): in a full-int8 model,
    what stayed in float."""
    return sorted({name for name, _, inputs in operators(flatbuffer)
                   if "FLOAT32" in inputs and name not in ("QUANTIZE", "DEQUANTIZE")})


def run_tflite(flatbuffer: bytes, images, batch_size=32) -> np.ndarray:
    """Probabilities from ai-edge-litert's interpreter (default op resolver)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    images = np.asarray(images, np.float32)
    interpreter = Interpreter(model_content=flatbuffer,
                              experimental_op_resolver_type=OpResolverType.AUTO)
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    outputs, allocated = [], None
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        if allocated != batch.shape:
            interpreter.resize_tensor_input(input_index, batch.shape)
            interpreter.allocate_tensors()
            allocated = batch.shape
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output_index).copy())
    return np.concatenate(outputs)


@dataclasses.dataclass
class Parity:
    kind: str
    bytes: int
    max_abs_difference: float
    top1_agreement: float
    images: int
    tolerance: float | None
    float_ops: list

    @property
    def within_tolerance(self):
        return self.tolerance is None or self.max_abs_difference <= self.tolerance


def keras_probabilities(model: keras.Model, images, batch_size=64) -> np.ndarray:
    probabilities = with_softmax(model)
    images = np.asarray(images, np.float32)
    return np.concatenate([probabilities(images[i:i + batch_size], training=False).numpy()
                           for i in range(0, len(images), batch_size)])


def parity(flatbuffer: bytes, kind: str, images, expected) -> Parity:
    """The TFLite file on `images` against the Keras model's probabilities `expected`."""
    got = run_tflite(flatbuffer, images)
    return Parity(kind=kind, bytes=len(flatbuffer),
                  max_abs_difference=float(np.abs(got - expected).max()),
                  top1_agreement=float((got.argmax(-1) == expected.argmax(-1)).mean()),
                  images=len(images), tolerance=TOLERANCES.get(kind),
                  float_ops=float_ops(flatbuffer) if kind == "full_int8" else [])


def pipeline_images(cfg, split: str, count: int, statistics=None) -> np.ndarray:
    """`count` evaluation-preprocessed images of `split` from the input pipeline."""
    from alexnet_tf.data import pipeline as input_pipeline
    dataset = input_pipeline.build_dataset(cfg, split, training=False, batch_size=64,
                                           statistics=statistics)
    images = []
    for batch, *_ in dataset:
        images.append(batch.numpy())
        if sum(len(b) for b in images) >= count:
            break
    if not images:
        raise ValueError(f"the {split!r} split of {cfg.data.dataset!r} gave no images")
    return np.concatenate(images)[:count]


def export_tflite(model: keras.Model, output_dir, *, calibration_images, verification_images,
                  kinds=KINDS, name="alexnet", progress=print) -> dict:
    """Writes one .tflite per kind and tflite_report.json; fails on a float tolerance miss.
    Returns {kind: Parity}."""
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown TFLite kinds {unknown}; choose from {KINDS}")
    os.makedirs(output_dir, exist_ok=True)
    expected = keras_probabilities(model, verification_images)
    results, written = {}, []

    def write(path, data):
        try:
            atomic.publish(path, data)
        except OSError as e:
            if not atomic.is_disk_full(e):
                raise
            message = f"the {os.path.basename(path)} there before " \
                      f"(if any) is intact"
            if os.path.basename(path) != REPORT_FILE:
                message += f" and {REPORT_FILE} was not updated"
            if written:
                message += f" (written before it: {', '.join(written)})"
            raise atomic.DiskFullError(path, message) from None
        written.append(os.path.basename(path))

    for kind in kinds:
        flatbuffer = convert(model, kind, representative_images=calibration_images)
        result = parity(flatbuffer, kind, verification_images, expected)
        write(os.path.join(output_dir, f"{name}_{kind}.tflite"), flatbuffer)
        results[kind] = result
        progress(f"{kind:>12}: {result.bytes / 2**20:8.2f} MiB, max |dp| "
                 f"{result.max_abs_difference:.2e}, top-1 agreement "
                 f"{100 * result.top1_agreement:.1f}% on {result.images} images"
                 + (f", float ops: {result.float_ops}" if result.float_ops else ""))
    report = {kind: dataclasses.asdict(r) | {"within_tolerance": r.within_tolerance}
              for kind, r in results.items()}
    write(os.path.join(output_dir, REPORT_FILE), json.dumps(report, indent=1))
    misses = [k for k, r in results.items() if not r.within_tolerance]
    if misses:
        raise ValueError(f"TFLite outputs differ from the Keras model beyond tolerance for "
                         f"{misses}: {report}")
    return results


def export_tflite_from_pipeline(trained, output_dir, *, kinds=KINDS, calibration_count=200,
                                verification_count=360) -> dict:
    """`export_tflite` of a loaded model (`inference.loader.Classifier`), calibrated on `calibration_count` training
    images and verified on `verification_count` validation images of its dataset."""
    calibration = pipeline_images(trained.cfg, "train", calibration_count, trained.statistics)
    verification = pipeline_images(trained.cfg, "validation", verification_count,
                                   trained.statistics)
    return export_tflite(trained.model, output_dir, calibration_images=calibration,
                         verification_images=verification, kinds=kinds)
