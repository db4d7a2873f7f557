"""Conversion between TensorProto and numpy, writing typed *_val fields.

tf.make_tensor_proto packs numeric data into tensor_content; TF Serving
answers in the typed repeated fields (float_val, int64_val, ...), and clients
written against it read those, so responses are built here instead.

Decoding follows tf.make_ndarray value for value (tensor_content first, then
the typed field, a short field padded with its last value) but without its
dtype and numpy.prod overhead, which was a measurable share of a small
request; dtypes outside the table, and any proto the fast path cannot decode,
go through tf.make_ndarray itself so its results and errors stay the
reference.
"""

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from serving.errors import invalid_argument

# dtype enum -> (numpy dtype, TensorProto field holding the values)
_TYPED_FIELDS = {
    types_pb2.DT_FLOAT: (np.float32, "float_val"),
    types_pb2.DT_DOUBLE: (np.float64, "double_val"),
    types_pb2.DT_INT32: (np.int32, "int_val"),
    types_pb2.DT_INT16: (np.int16, "int_val"),
    types_pb2.DT_INT8: (np.int8, "int_val"),
    types_pb2.DT_UINT8: (np.uint8, "int_val"),
    types_pb2.DT_UINT16: (np.uint16, "int_val"),
    types_pb2.DT_INT64: (np.int64, "int64_val"),
    types_pb2.DT_UINT32: (np.uint32, "uint32_val"),
    types_pb2.DT_UINT64: (np.uint64, "uint64_val"),
    types_pb2.DT_BOOL: (np.bool_, "bool_val"),
    types_pb2.DT_STRING: (np.object_, "string_val"),
    types_pb2.DT_HALF: (np.float16, "half_val"),
}

_NUMPY_TO_DTYPE = {
    np.dtype(np.float32): types_pb2.DT_FLOAT,
    np.dtype(np.float64): types_pb2.DT_DOUBLE,
    np.dtype(np.int32): types_pb2.DT_INT32,
    np.dtype(np.int16): types_pb2.DT_INT16,
    np.dtype(np.int8): types_pb2.DT_INT8,
    np.dtype(np.uint8): types_pb2.DT_UINT8,
    np.dtype(np.uint16): types_pb2.DT_UINT16,
    np.dtype(np.int64): types_pb2.DT_INT64,
    np.dtype(np.uint32): types_pb2.DT_UINT32,
    np.dtype(np.uint64): types_pb2.DT_UINT64,
    np.dtype(np.bool_): types_pb2.DT_BOOL,
    np.dtype(np.float16): types_pb2.DT_HALF,
}


def dtype_name(dtype_enum):
    """'float' for DT_FLOAT, matching the wording of TF's own errors."""
    return types_pb2.DataType.Name(dtype_enum)[3:].lower()


def numpy_dtype(dtype_enum):
    try:
        return _TYPED_FIELDS[dtype_enum][0]
    except KeyError:
        raise invalid_argument(
            f"Unsupported tensor dtype: {types_pb2.DataType.Name(dtype_enum)}"
        ) from None


def dtype_of(array):
    if array.dtype.kind in ("O", "S", "U"):
        return types_pb2.DT_STRING
    try:
        return _NUMPY_TO_DTYPE[array.dtype]
    except KeyError:
        raise invalid_argument(f"Unsupported numpy dtype: {array.dtype}") from None


def shape_proto(shape):
    proto = tensor_shape_pb2.TensorShapeProto()
    for size in shape:
        proto.dim.add().size = -1 if size is None else int(size)
    return proto


def fill_tensor_proto(proto, value, dtype=None):
    """Writes array-like data into an empty TensorProto (e.g. a response's
    outputs[key]) in the typed value field, without an intermediate copy."""
    array = np.asarray(value)
    if dtype is None:
        dtype = dtype_of(array)
    entry = _TYPED_FIELDS.get(dtype)
    if entry is None:
        raise invalid_argument(
            f"Unsupported tensor dtype: {types_pb2.DataType.Name(dtype)}")
    numpy_type, field = entry
    proto.dtype = dtype
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add(size=size)
    flat = array.reshape(-1)
    if dtype == types_pb2.DT_STRING:
        values = flat.tolist()
        try:
            proto.string_val.extend(values)
        except TypeError:  # str or other objects among the bytes
            del proto.string_val[:]
            proto.string_val.extend(
                v if isinstance(v, bytes) else str(v).encode("utf-8") for v in values)
    elif dtype == types_pb2.DT_HALF:
        # half_val carries the raw 16-bit patterns, not the float values.
        proto.half_val.extend(flat.astype(np.float16).view(np.uint16).tolist())
    else:
        getattr(proto, field).extend(flat.astype(numpy_type, copy=False).tolist())
    return proto


def to_tensor_proto(value, dtype=None):
    """Builds a TensorProto with typed value fields from array-like data."""
    return fill_tensor_proto(tensor_pb2.TensorProto(), value, dtype)


def _decode(proto):
    """tf.make_ndarray for the dtypes in _TYPED_FIELDS; None for the rest."""
    entry = _TYPED_FIELDS.get(proto.dtype)
    if entry is None:
        return None
    numpy_type, field = entry
    shape = [d.size for d in proto.tensor_shape.dim]
    count = 1
    for size in shape:
        count *= size
    if proto.tensor_content:
        if numpy_type is np.object_:
            return None  # not decodable; TF raises its own error
        return np.frombuffer(proto.tensor_content, dtype=numpy_type).copy().reshape(shape)
    if numpy_type is np.object_:
        values = list(proto.string_val)
        if count > len(values):
            # TF pads with the last value, or with "" (a str) when there is none.
            values.extend([values[-1] if values else ""] * (count - len(values)))
        return np.array(values, dtype=object).reshape(shape)
    if numpy_type is np.float16:
        values = np.fromiter(proto.half_val, dtype=np.uint16).view(np.float16)
    else:
        values = np.fromiter(getattr(proto, field), dtype=numpy_type)
    if values.size == 0:
        return np.zeros(shape, numpy_type)
    if values.size != count:
        values = np.pad(values, (0, count - values.size), "edge")
    return values.reshape(shape)


# TF's TensorShape allows at most 254 dimensions.
MAX_DIMS = 254
# A tensor may declare more elements than it carries (TF pads with the last value), but not so many that padding
# would allocate more than this (or than the values it carries): one small request must not claim gigabytes.
DEFAULT_MAX_PADDED_BYTES = 4 * 1024 * 1024
# Bytes per element where numpy's item size does not tell: a TF string is a 24-byte tstring plus its pointer.
_ELEMENT_BYTES = {types_pb2.DT_STRING: 32, types_pb2.DT_COMPLEX64: 8, types_pb2.DT_COMPLEX128: 16,
                  types_pb2.DT_BFLOAT16: 2}
_COMPLEX_FIELDS = {types_pb2.DT_COMPLEX64: "scomplex_val", types_pb2.DT_COMPLEX128: "dcomplex_val"}


def _parsing_error(alias, why):
    return invalid_argument(f"tensor parsing error: {alias} ({why})")


def _element_bytes(dtype_enum):
    if dtype_enum in _ELEMENT_BYTES:
        return _ELEMENT_BYTES[dtype_enum]
    entry = _TYPED_FIELDS.get(dtype_enum)
    return np.dtype(entry[0]).itemsize if entry else 8


def _carried_values(proto):
    if proto.dtype in _COMPLEX_FIELDS:
        return len(getattr(proto, _COMPLEX_FIELDS[proto.dtype])) // 2
    entry = _TYPED_FIELDS.get(proto.dtype)
    if entry is None:
        return None
    return len(proto.half_val if proto.dtype == types_pb2.DT_HALF else getattr(proto, entry[1]))


def check_declared_size(proto, alias="input", max_padded_bytes=DEFAULT_MAX_PADDED_BYTES):
    """Refuses, before anything is allocated, a tensor whose shape is invalid or whose declared size (elements
    times element size) its content does not back and the padding limit does not allow."""
    shape = proto.tensor_shape
    if shape.unknown_rank:
        raise _parsing_error(alias, "a tensor needs a known rank")
    if len(shape.dim) > MAX_DIMS:
        raise _parsing_error(alias, f"{len(shape.dim)} dimensions, more than {MAX_DIMS}")
    elements = 1
    for dim in shape.dim:
        if dim.size < 0:
            raise _parsing_error(alias, f"dimension {dim.size} is negative")
        elements *= dim.size
        if elements > 1 << 62:
            raise _parsing_error(alias, "its element count overflows")
    declared = elements * _element_bytes(proto.dtype)
    if proto.tensor_content:
        if proto.dtype in _TYPED_FIELDS and proto.dtype != types_pb2.DT_STRING and \
                len(proto.tensor_content) != declared:
            raise _parsing_error(alias, f"shape {shape_string(shape)} needs {declared} bytes of tensor_content, "
                                        f"got {len(proto.tensor_content)}")
        return
    carried = _carried_values(proto)
    if carried is None or elements <= carried:
        return
    limit = max(max_padded_bytes, carried * _element_bytes(proto.dtype))
    if declared > limit:
        raise _parsing_error(alias, f"shape {shape_string(shape)} declares {elements} values and carries "
                                    f"{carried}; padding it would take {declared} bytes, above the limit of "
                                    f"{limit}")


def to_numpy(proto, alias="input", max_padded_bytes=DEFAULT_MAX_PADDED_BYTES):
    """Decodes a TensorProto in either typed-field or tensor_content form, once its declared size is checked."""
    check_declared_size(proto, alias, max_padded_bytes)
    try:
        array = _decode(proto)
    except Exception:  # let TF decide, and word the error, as before
        array = None
    if array is not None:
        return array
    import tensorflow as tf  # deferred: importing TF costs seconds

    try:
        return tf.make_ndarray(proto)
    except Exception as exc:  # malformed protos raise many exception types
        raise invalid_argument(f"tensor parsing error: {alias} ({exc})") from None


def shape_compatible(actual, expected_proto):
    """True when a concrete shape fits a signature shape (-1 = any size)."""
    if expected_proto.unknown_rank:
        return True
    expected = [d.size for d in expected_proto.dim]
    if len(expected) != len(actual):
        return False
    return all(e < 0 or e == a for e, a in zip(expected, actual))


def shape_string(shape_proto_or_tuple):
    if isinstance(shape_proto_or_tuple, tensor_shape_pb2.TensorShapeProto):
        if shape_proto_or_tuple.unknown_rank:
            return "<unknown>"
        dims = [d.size for d in shape_proto_or_tuple.dim]
    else:
        dims = list(shape_proto_or_tuple)
    return "[" + ",".join("?" if d is None or d < 0 else str(d) for d in dims) + "]"
