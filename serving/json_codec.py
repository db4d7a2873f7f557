"""TF Serving's REST JSON formats: predict row ("instances") and columnar
("inputs") requests, classify/regress "examples", and their responses."""

import base64
import json
import math

import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import types_pb2

from serving import tensors
from serving.errors import invalid_argument

_NUMERIC_KINDS = {
    types_pb2.DT_FLOAT: "float", types_pb2.DT_DOUBLE: "float",
    types_pb2.DT_HALF: "float",
    types_pb2.DT_INT8: "int", types_pb2.DT_INT16: "int", types_pb2.DT_INT32: "int",
    types_pb2.DT_INT64: "int", types_pb2.DT_UINT8: "int", types_pb2.DT_UINT16: "int",
    types_pb2.DT_UINT32: "int", types_pb2.DT_UINT64: "int",
    types_pb2.DT_BOOL: "bool", types_pb2.DT_STRING: "string",
}


def _finite_float(text):
    value = float(text)
    if math.isinf(value):
        # rapidjson (TF Serving's parser) refuses it; Python would read infinity.
        raise _NumberTooBig(text)
    return value


class _NumberTooBig(ValueError):
    pass


def parse_body(body):
    """Decodes a request body, reporting errors the way TF Serving words them."""
    if not body or not body.strip():
        raise invalid_argument("JSON Parse error: The document is empty. at offset: 0")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_argument(
            f"JSON Parse error: Invalid encoding in string. at offset: {exc.start}"
        ) from None
    try:
        return json.loads(text, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise invalid_argument(
            f"JSON Parse error: {exc.msg} at offset: {exc.pos}") from None
    except _NumberTooBig as exc:
        raise invalid_argument(
            "JSON Parse error: Number too big to be stored in double. at offset: "
            f"{text.find(str(exc))}") from None
    except RecursionError:
        raise invalid_argument(
            "JSON Parse error: The document is nested too deeply.") from None


def _value_text(value):
    return json.dumps(value)[:200]


def _json_type(value):
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


# What rapidjson's IsInt/IsInt64/IsUint/IsUint64 admit for each integer dtype (TF Serving's AddValueToTensor).
_INT32 = (-2 ** 31, 2 ** 31 - 1)
_INT_RANGES = {types_pb2.DT_INT8: _INT32, types_pb2.DT_INT16: _INT32, types_pb2.DT_INT32: _INT32,
               types_pb2.DT_UINT8: _INT32, types_pb2.DT_UINT16: _INT32,
               types_pb2.DT_INT64: (-2 ** 63, 2 ** 63 - 1), types_pb2.DT_UINT32: (0, 2 ** 32 - 1),
               types_pb2.DT_UINT64: (0, 2 ** 64 - 1)}


def _b64decode(value):
    try:
        return base64.b64decode(value["b64"], validate=True)
    except ValueError:
        raise invalid_argument("Unable to base64 decode") from None


def _is_b64(value):
    return isinstance(value, dict) and len(value) == 1 and isinstance(
        value.get("b64"), str)


def _leaf(value, dtype):
    kind = _NUMERIC_KINDS.get(dtype)
    if kind == "string":
        if isinstance(value, str):
            return value.encode("utf-8")
        if _is_b64(value):
            return _b64decode(value)
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool) and \
                _INT_RANGES[dtype][0] <= value <= _INT_RANGES[dtype][1]:
            return value
    elif kind == "bool":
        if isinstance(value, bool):
            return value
    else:
        raise invalid_argument(
            f"Conversion of JSON Value: {_value_text(value)} to type: "
            f"{types_pb2.DataType.Name(dtype)} is not supported")
    raise invalid_argument(
        f"JSON Value: {_value_text(value)} Type: {_json_type(value)} is not of "
        f"expected type: {tensors.dtype_name(dtype)}")


def _shape(value):
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _flatten(value, shape, level, dtype, out):
    if not isinstance(value, list):
        if level != len(shape):
            raise invalid_argument(
                f"JSON Value: {_value_text(value)} found at incorrect level: "
                f"{level + 1} in the JSON DOM. Expected at level: {len(shape)}")
        out.append(_leaf(value, dtype))
        return
    if level >= len(shape):
        raise invalid_argument(
            f"Encountered list at unexpected level: {level} expected < {len(shape)}")
    if len(value) != shape[level]:
        raise invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} "
            f"expected size: {shape[level]}")
    for item in value:
        _flatten(item, shape, level + 1, dtype, out)


def to_array(value, dtype):
    """A dense numpy array from nested JSON lists, typed by the signature."""
    shape = _shape(value)
    flat = []
    _flatten(value, shape, 0, dtype, flat)
    numpy_type = tensors.numpy_dtype(dtype)
    if dtype == types_pb2.DT_STRING:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
    else:
        array = np.array(flat, dtype=numpy_type)
    return array.reshape(shape)


def _rows_to_columns(body, signature):
    names = sorted(signature.inputs)
    instances = body["instances"]
    if not isinstance(instances, list):
        raise invalid_argument(
            f"JSON Value: {_value_text(body)} Excepting 'instances' to be an list/array")
    if not instances:
        raise invalid_argument(f"JSON Value: {_value_text(body)} No values in 'instances' array")
    single = len(names) == 1
    columns = {name: [] for name in names}
    shapes = {}  # input name -> the shape of its first element: every element must have it
    for index, instance in enumerate(instances):
        if isinstance(instance, dict) and not _is_b64(instance):
            missing = set(names) - set(instance)
            extra = set(instance) - set(names)
            if extra:
                raise invalid_argument(
                    f"JSON object: does not have named input: {sorted(extra)[0]}")
            if missing:
                raise invalid_argument(
                    f"Failed to process element: {instances.index(instance)} key: "
                    f"{sorted(missing)[0]} of 'instances' list. Error: "
                    "missing named input")
            for name in names:
                _same_shape(shapes, name, instance[name], index, f" key: {name}")
                columns[name].append(instance[name])
        elif single:
            _same_shape(shapes, names[0], instance, index, "")
            columns[names[0]].append(instance)
        else:
            raise invalid_argument(
                "Expecting object but got list at item 0 of input list"
                if isinstance(instance, list) else
                f"Expecting object at item of input list, got {_value_text(instance)}")
    return columns


def _same_shape(shapes, name, value, index, key):
    """TF Serving's check that each element of 'instances' has the first element's shape."""
    shape = _shape(value)
    first = shapes.setdefault(name, shape)
    if shape == first:
        return
    size, expected = math.prod(shape), math.prod(first)
    detail = (f"Expecting tensor size: {expected} but got: {size}" if size != expected else
              f"Expecting shape [{','.join(map(str, first))}] but got: [{','.join(map(str, shape))}]")
    raise invalid_argument(f"Failed to process element: {index}{key} of 'instances' list. Error: "
                           f"INVALID_ARGUMENT: {detail}")


def _signature_name(body):
    """The body's "signature_name" ("" if absent); the body must be a JSON object."""
    if not isinstance(body, dict):
        raise invalid_argument("Request body must be a JSON object.")
    signature_name = body.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise invalid_argument(
            f"JSON Value: {_value_text(signature_name)} not formatted correctly. "
            "'signature_name' key must be a string value.")
    return signature_name


def predict_inputs(body, signature_for):
    """(signature_name, {input: TensorProto}, format) from a predict body.

    `signature_for(name)` returns the SignatureDef whose dtypes type the JSON.
    """
    signature_name = _signature_name(body)
    if "instances" in body and "inputs" in body:
        raise invalid_argument("Not formatted correctly expecting only one of "
                               "'inputs' or 'instances' keys exists")
    if "instances" not in body and "inputs" not in body:
        raise invalid_argument("Missing 'inputs' or 'instances' key")
    signature = signature_for(signature_name)
    if "instances" in body:
        fmt, columns = "row", _rows_to_columns(body, signature)
    else:
        fmt, inputs = "columnar", body["inputs"]
        names = sorted(signature.inputs)
        if isinstance(inputs, dict) and not _is_b64(inputs):
            columns = inputs
        elif len(names) == 1:
            columns = {names[0]: inputs}
        else:
            raise invalid_argument("'inputs' must be an object with one key per "
                                   "input when the signature has several inputs.")
    protos = {}
    for name, value in columns.items():
        info = signature.inputs.get(name)
        if info is None:
            raise invalid_argument(f"JSON object: does not have named input: {name}")
        protos[name] = tensors.to_tensor_proto(to_array(value, info.dtype), info.dtype)
    return signature_name, protos, fmt


def _jsonable(name, proto):
    array = tensors.to_numpy(proto, name)
    if proto.dtype == types_pb2.DT_STRING:
        as_b64 = name.endswith("_bytes")

        def convert(item):
            if not as_b64:
                try:
                    return item.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {"b64": base64.b64encode(item).decode("ascii")}
        return np.vectorize(convert, otypes=[object])(array).tolist() \
            if array.size else array.tolist()
    if array.dtype == np.float32 or array.dtype == np.float16:
        # Shortest repr of the float32 value: 0.1 rather than 0.10000000149.
        return array.astype(str).astype(np.float64).tolist()
    return array.tolist()


def predict_response(outputs, fmt):
    values = {name: _jsonable(name, proto) for name, proto in outputs.items()}
    if fmt == "columnar":
        if len(values) == 1:
            return {"outputs": next(iter(values.values()))}
        return {"outputs": values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    sizes = {name: len(v) if isinstance(v, list) else None for name, v in values.items()}
    batch = next(iter(sizes.values()))
    for name, size in sizes.items():
        if size is None or size != batch:
            raise invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {size} "
                f"expecting: {batch}")
    return {"predictions": [{name: values[name][row] for name in values}
                            for row in range(batch)]}


def _feature(name, value):
    feature = feature_pb2.Feature()
    items = value if isinstance(value, list) else [value]
    if all(isinstance(i, str) or _is_b64(i) for i in items) and items:
        feature.bytes_list.value.extend(
            _b64decode(i) if _is_b64(i) else i.encode("utf-8") for i in items)
    elif all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        feature.int64_list.value.extend(items)
    elif all(isinstance(i, (int, float)) and not isinstance(i, bool) for i in items):
        feature.float_list.value.extend(items)
    else:
        raise invalid_argument(
            f"Feature: {name} has values of unsupported or mixed types: "
            f"{_value_text(value)}")
    return feature


def _example(obj, what):
    if not isinstance(obj, dict):
        raise invalid_argument(f"'{what}' must be a JSON object of features, got "
                               f"{_value_text(obj)}")
    example = example_pb2.Example()
    for name, value in obj.items():
        example.features.feature[name].CopyFrom(_feature(name, value))
    return example


def fill_examples_request(body, request):
    """Fills signature_name and input of a Classification/RegressionRequest."""
    signature_name = _signature_name(body)
    request.model_spec.signature_name = signature_name
    if "examples" not in body:
        raise invalid_argument(f"JSON Value: {_value_text(body)} When method is classify, key 'examples' is "
                               "expected and was not found")
    examples = body["examples"]
    if not isinstance(examples, list):
        raise invalid_argument(
            f"JSON Value: {_value_text(body)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid_argument(f"JSON Value: {_value_text(body)} 'examples' value is an empty array")
    if "context" in body:
        target = request.input.example_list_with_context
        target.context.CopyFrom(_example(body["context"], "context"))
    else:
        target = request.input.example_list
    for item in examples:
        target.examples.add().CopyFrom(_example(item, "examples"))


def classify_response(result):
    return {"results": [
        [[c.label, _float(c.score)] for c in classification.classes]
        for classification in result.classifications]}


def regress_response(result):
    return {"results": [_float(r.value) for r in result.regressions]}


def _float(value):
    # float32 scores round-trip through their shortest decimal form.
    return value if math.isnan(value) or math.isinf(value) else float(
        str(np.float32(value)))


def dumps(obj):
    return json.dumps(obj, allow_nan=True).encode("utf-8")
