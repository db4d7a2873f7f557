"""Conversion between TensorProto and numpy, writing typed *_val fields.

tf.make_tensor_proto packs numeric data into tensor_content; TF Serving
answers in the typed repeated fields (float_val, int64_val, ...), and clients
written against it read those, so responses are built here instead.
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


def to_tensor_proto(value, dtype=None):
    """Builds a TensorProto with typed value fields from array-like data."""
    array = np.asarray(value)
    if dtype is None:
        dtype = dtype_of(array)
    field = _TYPED_FIELDS.get(dtype, (None, None))[1]
    if field is None:
        raise invalid_argument(
            f"Unsupported tensor dtype: {types_pb2.DataType.Name(dtype)}"
        )
    proto = tensor_pb2.TensorProto(dtype=dtype)
    proto.tensor_shape.CopyFrom(shape_proto(array.shape))
    flat = array.ravel()
    if dtype == types_pb2.DT_STRING:
        proto.string_val.extend(
            v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat
        )
    elif dtype == types_pb2.DT_HALF:
        # half_val carries the raw 16-bit patterns, not the float values.
        proto.half_val.extend(flat.astype(np.float16).view(np.uint16).tolist())
    else:
        getattr(proto, field).extend(flat.astype(_TYPED_FIELDS[dtype][0]).tolist())
    return proto


def to_numpy(proto, alias="input"):
    """Decodes a TensorProto in either typed-field or tensor_content form."""
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
