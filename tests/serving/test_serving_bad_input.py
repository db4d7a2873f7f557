"""Bad input over both protocols: each gets the right status code and the
server stays healthy afterwards."""

import json

import grpc
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving_test_helpers import RPC_TIMEOUT, http, make_base_path, write_model_config

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def endpoint(start_server, model_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input")
    config = write_model_config(root / "models.config", [
        ("default", make_base_path(root, "default", model_store["half_plus_two"]), ""),
        ("text", make_base_path(root, "text", model_store["text"], (1,)), ""),
    ])
    return start_server(model_config_file=config, max_request_bytes=LIMIT)


def text_request(values, shape=None, dtype=types_pb2.DT_STRING):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "text"
    tensor = request.inputs["text"]
    tensor.dtype = dtype
    if dtype == types_pb2.DT_STRING:
        tensor.string_val.extend(values)
    else:
        tensor.float_val.extend(values)
    for size in shape or [len(values)]:
        tensor.tensor_shape.dim.add().size = size
    return request


def grpc_code(endpoint, request):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    try:
        stub.Predict(request, RPC_TIMEOUT)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def assert_healthy(endpoint):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    response = stub.Predict(text_request([b"good"]), RPC_TIMEOUT)
    assert response.outputs["label"].string_val == [b"positive"]
    status, body = http("POST", f"{endpoint.rest_url}/v1/models/default:predict",
                        {"instances": [2.0]})
    assert (status, body) == (200, {"predictions": [3.0]})


@pytest.mark.parametrize("request_factory, code", [
    (lambda: text_request([1.0], dtype=types_pb2.DT_FLOAT),
     grpc.StatusCode.INVALID_ARGUMENT),                      # wrong dtype
    (lambda: text_request([b"a"], shape=[1, 1]),
     grpc.StatusCode.INVALID_ARGUMENT),                      # wrong shape
    (lambda: text_request([b"a", b"b", b"c"], shape=[2]),
     grpc.StatusCode.INVALID_ARGUMENT),                      # values vs shape
    (lambda: text_request([b"x" * (2 * LIMIT)]),
     grpc.StatusCode.RESOURCE_EXHAUSTED),                    # oversized payload
    (lambda: text_request([b"caf\xe9 good \xff\xfe"]),
     grpc.StatusCode.OK),                                    # DT_STRING is bytes
], ids=["dtype", "shape", "values-vs-shape", "oversized", "non-utf8-bytes"])
def test_grpc_bad_input(endpoint, request_factory, code):
    assert grpc_code(endpoint, request_factory()) == code
    assert_healthy(endpoint)


@pytest.mark.parametrize("path, raw, code, fragment", [
    ("text:predict", json.dumps({"instances": [1.5]}).encode(), 400,
     "is not of expected type: string"),
    ("text:predict", json.dumps({"instances": [["a"], ["b"]]}).encode(), 400,
     "incompatible"),
    ("default:predict", b'{"instances": [2.0,', 400, "JSON Parse error"),
    ("default:predict", b"", 400, "The document is empty"),
    ("text:predict", b'{"instances": ["caf\xe9"]}', 400, "Invalid encoding"),
    ("text:predict", json.dumps({"instances": ["x" * (2 * LIMIT)]}).encode(), 413,
     "exceeds the limit"),
    ("nope:predict", b'{"instances": [1]}', 404, "Servable not found"),
    ("default/versions/7:predict", b'{"instances": [1.0]}', 404, "Specific(default, 7)"),
    ("default/labels/x:predict", b'{"instances": [1.0]}', 400,
     "Unrecognized servable version label: x"),
    ("default:predict", b'{"signature_name": "s", "instances": [1.0]}', 400,
     '"s" not found'),
], ids=["dtype", "shape", "malformed-json", "empty-body", "non-utf8", "oversized",
        "unknown-model", "unknown-version", "unknown-label", "unknown-signature"])
def test_rest_bad_input(endpoint, path, raw, code, fragment):
    status, body = http("POST", f"{endpoint.rest_url}/v1/models/{path}", raw=raw)
    assert status == code
    assert fragment in body["error"]
    assert_healthy(endpoint)
