"""serving.tensors decodes TensorProtos without TensorFlow's helpers on the hot
path; tf.make_ndarray and tf.make_tensor_proto stay the reference, value for
value, dtype and shape, for every dtype the fast path handles."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving import tensors
from serving.errors import ServingError

NUMERIC = [np.float32, np.float64, np.float16, np.int8, np.int16, np.int32,
           np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_]
SHAPES = [(), (1,), (3,), (2, 3), (2, 0, 4), (0,), (1, 1, 1)]
NON_UTF8 = [b"\xff\xfe", b"caf\xc3\xa9", b"", b"\x00nul\x00", "ünïcode".encode()]


def sample(dtype, shape):
    count = int(np.prod(shape))
    if dtype is np.bool_:
        return (np.arange(count) % 2 == 0).reshape(shape)
    info = np.finfo(dtype) if np.issubdtype(dtype, np.floating) else np.iinfo(dtype)
    values = np.linspace(0, 1, count) * float(info.max) / 3 + float(info.min) / 3
    return values.astype(dtype).reshape(shape)


def typed_proto(array, dtype_enum):
    """A request built the way TF Serving clients write them: typed *_val."""
    proto = tensor_pb2.TensorProto(dtype=dtype_enum)
    for size in array.shape:
        proto.tensor_shape.dim.add().size = size
    field = tensors._TYPED_FIELDS[dtype_enum][1]
    flat = array.reshape(-1)
    if dtype_enum == types_pb2.DT_HALF:
        proto.half_val.extend(flat.view(np.uint16).tolist())
    else:
        getattr(proto, field).extend(flat.tolist())
    return proto


def assert_same(actual, expected):
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    if actual.dtype == object:
        assert actual.tolist() == expected.tolist()
    else:
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", NUMERIC, ids=lambda d: np.dtype(d).name)
def test_numeric_decode_matches_make_ndarray(dtype, shape):
    array = sample(dtype, shape)
    packed = tf.make_tensor_proto(array)  # tensor_content (or typed for tiny ones)
    typed = typed_proto(array, packed.dtype)
    for proto in (packed, typed):
        assert_same(tensors.to_numpy(proto), tf.make_ndarray(proto))
    assert_same(tensors.to_numpy(typed), array)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", NUMERIC, ids=lambda d: np.dtype(d).name)
def test_encode_writes_typed_fields_that_decode_back(dtype, shape):
    array = sample(dtype, shape)
    proto = tensors.to_tensor_proto(array)
    assert proto.tensor_content == b""
    assert [d.size for d in proto.tensor_shape.dim] == list(shape)
    assert_same(tf.make_ndarray(proto), array)
    reference = tf.make_tensor_proto(array)
    assert proto.dtype == reference.dtype


@pytest.mark.parametrize("shape", [(5,), (1, 5), (5, 1)], ids=str)
def test_strings_with_non_utf8_bytes_round_trip(shape):
    array = np.array(NON_UTF8, dtype=object).reshape(shape)
    proto = tensors.to_tensor_proto(array)
    assert list(proto.string_val) == NON_UTF8
    reference = tf.make_tensor_proto(array)
    assert_same(tensors.to_numpy(proto), tf.make_ndarray(reference))
    assert_same(tensors.to_numpy(reference), tf.make_ndarray(reference))


def test_str_and_numpy_string_arrays_encode_as_utf8():
    for array in (np.array(["a", "ü"], dtype=object), np.array(["a", "ü"]),
                  np.array([b"a", b"\xff"]), np.array([b"a", "ü", 3], dtype=object)):
        proto = tensors.to_tensor_proto(array)
        assert proto.dtype == types_pb2.DT_STRING
        expected = [v if isinstance(v, bytes) else str(v).encode() for v in array.tolist()]
        assert list(proto.string_val) == expected


def test_empty_and_scalar_strings():
    for array in (np.array([], dtype=object), np.array(b"x", dtype=object),
                  np.empty((2, 0), dtype=object)):
        proto = tensors.to_tensor_proto(array)
        assert_same(tensors.to_numpy(proto), tf.make_ndarray(proto))


@pytest.mark.parametrize("dtype_enum,field,values", [
    (types_pb2.DT_FLOAT, "float_val", [1.5]),
    (types_pb2.DT_INT64, "int64_val", [7, 8]),
    (types_pb2.DT_BOOL, "bool_val", [True]),
    (types_pb2.DT_STRING, "string_val", [b"a", b"\xff"]),
    (types_pb2.DT_STRING, "string_val", []),
    (types_pb2.DT_HALF, "half_val", []),
    (types_pb2.DT_INT32, "int_val", []),
])
def test_short_value_lists_are_padded_like_tensorflow(dtype_enum, field, values):
    proto = tensor_pb2.TensorProto(dtype=dtype_enum)
    proto.tensor_shape.dim.add().size = 2
    proto.tensor_shape.dim.add().size = 2
    getattr(proto, field).extend(values)
    assert_same(tensors.to_numpy(proto), tf.make_ndarray(proto))


def test_unknown_dimension_in_request_shape_is_refused_as_tf_serving_refuses_it():
    # tf.make_ndarray passes -1 to numpy's reshape, which infers it; TF Serving parses requests with C++
    # Tensor::FromProto, whose TensorShape::IsValid refuses any negative size: "tensor parsing error".
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING)
    proto.tensor_shape.dim.add().size = -1
    proto.string_val.extend([b"a", b"b"])
    with pytest.raises(ServingError) as info:
        tensors.to_numpy(proto, "text")
    assert info.value.code.name == "INVALID_ARGUMENT"
    assert info.value.message == "tensor parsing error: text (dimension -1 is negative)"


@pytest.mark.parametrize("build", [
    # Too many values for the shape.
    lambda: tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1, 2, 3],
                                   tensor_shape={"dim": [{"size": 2}]}),
    # tensor_content of the wrong length.
    lambda: tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=b"abc",
                                   tensor_shape={"dim": [{"size": 1}]}),
    # Strings cannot come as tensor_content.
    lambda: tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_content=b"abcd",
                                   tensor_shape={"dim": [{"size": 1}]}),
    # Negative size with no values.
    lambda: tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32,
                                   tensor_shape={"dim": [{"size": -3}]}),
], ids=["too-many-values", "bad-content-length", "string-content", "negative-size"])
def test_malformed_protos_fail_as_invalid_argument_with_tensorflow_error(build):
    proto = build()
    with pytest.raises(Exception):  # TensorFlow refuses it too
        tf.make_ndarray(proto)
    with pytest.raises(ServingError) as info:
        tensors.to_numpy(proto, "x")
    assert info.value.code.name == "INVALID_ARGUMENT"
    assert info.value.message.startswith("tensor parsing error: x (")  # TF Serving's words, then the reason


@pytest.mark.parametrize("dtype", [tf.complex64, tf.bfloat16, tf.qint8],
                         ids=lambda d: d.name)
def test_other_dtypes_decode_through_tensorflow(dtype):
    proto = tf.make_tensor_proto(np.ones((2, 2)), dtype=dtype)
    assert_same(tensors.to_numpy(proto), tf.make_ndarray(proto))


def test_fill_tensor_proto_writes_into_a_response_field():
    from tensorflow_serving.apis import predict_pb2

    response = predict_pb2.PredictResponse()
    tensors.fill_tensor_proto(response.outputs["y"], np.array([[1.0, 2.0]], np.float32),
                              types_pb2.DT_FLOAT)
    assert list(response.outputs["y"].float_val) == [1.0, 2.0]
    assert [d.size for d in response.outputs["y"].tensor_shape.dim] == [1, 2]
    with pytest.raises(ServingError):
        tensors.to_tensor_proto(np.ones(2), types_pb2.DT_COMPLEX64)


def test_typed_dtypes_never_reach_tensorflow(monkeypatch):
    def refuse(proto):
        raise AssertionError("tf.make_ndarray called on the fast path")

    monkeypatch.setattr(tf, "make_ndarray", refuse)
    for dtype in NUMERIC:
        array = sample(dtype, (2, 3))
        tensors.to_numpy(tf.make_tensor_proto(array))
        tensors.to_numpy(tensors.to_tensor_proto(array))
    tensors.to_numpy(tensors.to_tensor_proto(np.array(NON_UTF8, dtype=object)))
