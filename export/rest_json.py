"""TF Serving's REST JSON predict format, both ways (what its HTTP front end does).

Row format: `{"instances": [...]}`, one entry per example (an object of input names when
the signature has several inputs), answered `{"predictions": [...]}`. Columnar format:
`{"inputs": value or {name: value}}`, answered `{"outputs": ...}`. Bytes travel as
`{"b64": "..."}` and are decoded only for DT_STRING inputs; string outputs whose name ends in
`_bytes` are sent back base64-encoded, other strings as UTF-8 text.
"""
from __future__ import annotations

import base64

import numpy as np
import tensorflow as tf


def _invalid(message):
    return tf.errors.InvalidArgumentError(None, None, message)


def request_inputs(body: dict, signature):
    """({input key: ndarray}, row_format) from a REST predict body."""
    input_keys = sorted(signature.inputs)
    if ("instances" in body) == ("inputs" in body):
        raise _invalid("a REST predict body holds exactly one of 'instances' (row format) "
                       "or 'inputs' (columnar format)")
    if "instances" in body:
        return _rows_to_inputs(body["instances"], input_keys, signature), True
    return _columns_to_inputs(body["inputs"], input_keys, signature), False


def response_body(outputs: dict, row_format: bool) -> dict:
    if row_format:
        return {"predictions": _outputs_to_rows(outputs)}
    return {"outputs": _outputs_to_columns(outputs)}


def _decode_json_value(value, dtype):
    """REST JSON -> ndarray: {"b64": ...} objects become bytes for DT_STRING inputs."""
    if dtype == tf.string:
        def convert(v):
            if isinstance(v, list):
                return [convert(x) for x in v]
            if isinstance(v, dict):
                if set(v) != {"b64"}:
                    raise _invalid(f"a JSON object in a string input must be "
                                   f"{{\"b64\": ...}}, got keys {sorted(v)}")
                try:
                    return base64.b64decode(v["b64"], validate=True)
                except ValueError as e:
                    raise _invalid(f"invalid base64 in a \"b64\" value: {e}") from None
            if isinstance(v, str):
                return v.encode("utf-8")
            raise _invalid(f"a string input got a JSON {type(v).__name__}")
        return np.array(convert(value), dtype=object)
    try:
        return np.array(value, dtype=dtype.as_numpy_dtype)
    except (TypeError, ValueError) as e:
        raise _invalid(f"cannot read a {dtype.name} tensor from the JSON: {e}") from None


def _rows_to_inputs(instances, input_keys, signature):
    if not isinstance(instances, list) or not instances:
        raise _invalid("'instances' must be a non-empty list")
    named = len(input_keys) > 1 or all(
        isinstance(i, dict) and set(i) == set(input_keys) for i in instances)
    columns = {key: [] for key in input_keys}
    for instance in instances:
        if named:
            if not isinstance(instance, dict) or set(instance) != set(input_keys):
                raise _invalid(f"each instance must be an object with keys {input_keys}")
            for key in input_keys:
                columns[key].append(instance[key])
        else:
            columns[input_keys[0]].append(instance)
    return {key: _decode_json_value(values, tf.dtypes.as_dtype(signature.inputs[key].dtype))
            for key, values in columns.items()}


def _columns_to_inputs(inputs, input_keys, signature):
    if not (isinstance(inputs, dict) and set(inputs) == set(input_keys)):
        if len(input_keys) != 1:
            raise _invalid(f"'inputs' must be an object with keys {input_keys}")
        inputs = {input_keys[0]: inputs}
    return {key: _decode_json_value(value, tf.dtypes.as_dtype(signature.inputs[key].dtype))
            for key, value in inputs.items()}


def _json_value(key, value):
    value = np.asarray(value)
    if value.dtype.kind in "SO":
        encode = ((lambda b: {"b64": base64.b64encode(b).decode("ascii")})
                  if key.endswith("_bytes") else (lambda b: b.decode("utf-8")))
        return np.vectorize(encode, otypes=[object])(value).tolist() if value.ndim else \
            encode(value.item())
    return value.tolist()


def _outputs_to_rows(outputs):
    keys = sorted(outputs)
    batch = {len(np.asarray(outputs[k])) for k in keys}
    if len(batch) != 1:
        raise _invalid("outputs differ in batch size: use the columnar ('inputs') format")
    rows = []
    for i in range(batch.pop()):
        if len(keys) == 1:
            rows.append(_json_value(keys[0], outputs[keys[0]][i]))
        else:
            rows.append({k: _json_value(k, outputs[k][i]) for k in keys})
    return rows


def _outputs_to_columns(outputs):
    if len(outputs) == 1:
        (key, value), = outputs.items()
        return _json_value(key, value)
    return {k: _json_value(k, v) for k, v in outputs.items()}
