"""Malformed and hostile requests, one function per kind, shared by tests/serving/test_serving_fuzz.py and
bench/reliability.py. Each kind sends its request to a running server and returns what came back: a gRPC
status code name, or an HTTP status (an int), or "closed" when the server closed the connection.

The server is expected to serve two models: "text" (raw strings in "text", outputs label/scores/classes) and
"default" (half_plus_two: float "x" -> "y"). Every kind is answered by the server, never by the client refusing
to send, unless its note says otherwise.
"""
from __future__ import annotations

import base64
import json
import select
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Union

import grpc
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_service_pb2_grpc

Outcome = Union[str, int]
LIMIT = 4 * 1024 * 1024  # the server's --max_request_bytes (TF Serving's default gRPC receive limit)


@dataclass
class Target:
    grpc_target: str
    rest_url: str
    rest_timeout_s: float  # the server's --rest_api_timeout_in_ms / 1000

    def channel(self, **options):
        return grpc.insecure_channel(self.grpc_target, options=list(options.items()))


@dataclass
class Kind:
    name: str
    protocol: str  # grpc | rest
    send: Callable[[Target], Outcome]
    expected: Outcome


def _call(target: Target, method: str, request, metadata=None, channel_options=None) -> str:
    """One PredictionService call (Predict, Classify, ...): the status code's name, "OK" on success."""
    with target.channel(**(channel_options or {})) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            getattr(stub, method)(request, timeout=30, metadata=metadata)
        except grpc.RpcError as exc:
            return exc.code().name
    return "OK"


def _predict(target: Target, request, metadata=None, channel_options=None) -> str:
    return _call(target, "Predict", request, metadata, channel_options)


def _text_request(values=(b"good",), dims=None, dtype=types_pb2.DT_STRING, model="text", key="text"):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    tensor = request.inputs[key]
    tensor.dtype = dtype
    if dtype == types_pb2.DT_STRING:
        tensor.string_val.extend(values)
    elif dtype in (types_pb2.DT_FLOAT,):
        tensor.float_val.extend(values)
    for size in (len(values),) if dims is None else dims:
        tensor.tensor_shape.dim.add().size = size
    return request


def _grpc(build: Callable[[], predict_pb2.PredictRequest], **kwargs) -> Callable[[Target], str]:
    return lambda target: _predict(target, build(), **kwargs)


def _raw_grpc(payload: bytes) -> Callable[[Target], str]:
    """Bytes that are no PredictRequest, sent on the Predict method."""
    def send(target: Target) -> str:
        with target.channel() as channel:
            call = channel.unary_unary("/tensorflow.serving.PredictionService/Predict",
                                       request_serializer=None, response_deserializer=None)
            try:
                call(payload, timeout=30)
            except grpc.RpcError as exc:
                return exc.code().name
        return "OK"
    return send


def _classify_unknown_signature(target: Target) -> str:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "text"
    request.model_spec.signature_name = "nope"
    request.input.example_list.examples.add().features.feature["text"].bytes_list.value.append(b"good")
    return _call(target, "Classify", request)


def _with(request, change):
    change(request)
    return request


def _http(target: Target, path: str, body: bytes, headers=None) -> int:
    request = urllib.request.Request(f"{target.rest_url}{path}", data=body, method="POST",
                                     headers=headers or {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code
    except (ConnectionError, urllib.error.URLError):
        return "closed"


def _rest(path: str, body: Union[bytes, Callable[[], bytes]], headers=None) -> Callable[[Target], int]:
    return lambda target: _http(target, path, body() if callable(body) else body, headers)


def _raw_http(head: bytes, body: bytes = b"", then_wait: bool = False, trickle: bytes = b"") -> Callable:
    """Writes bytes on a socket as given (a lying Content-Length, a body that never ends, a trickled request
    line) and reads what the server answers, or "closed"."""
    def send(target: Target) -> Outcome:
        host, port = target.rest_url.rsplit("/", 1)[-1].split(":")
        deadline = time.monotonic() + target.rest_timeout_s + 10
        with socket.create_connection((host, int(port)), timeout=target.rest_timeout_s + 10) as sock:
            sock.sendall(head + body)
            for byte in trickle:
                if time.monotonic() > deadline:
                    return "not closed"
                if select.select([sock], [], [], 0.5)[0]:
                    break  # the server answered (or closed) mid-trickle: read what it said
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    return "closed"
            data = b""
            try:
                while time.monotonic() < deadline:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                    if not then_wait and b"\r\n\r\n" in data:
                        break
            except socket.timeout:
                return "not closed"
            except OSError:
                return "closed"
        if not data:
            return "closed"
        return int(data.split(b" ", 2)[1])
    return send


def _json(obj) -> bytes:
    return json.dumps(obj).encode()


def _deep_nesting() -> bytes:
    return b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def _huge_base64() -> bytes:
    value = base64.b64encode(b"\x00" * (LIMIT // 2)).decode()  # 2.8 MB of base64, inside the 4 MiB limit
    return _json({"instances": [{"b64": value}]})


def _many_strings():
    # 1.3 million one-letter texts fit in a 4 MiB message; answering would take a minute and a gigabyte.
    return _text_request([b"a"] * 1_300_000)


def _context_amplification(target: Target) -> str:
    """A 2 MB context and 1,000 empty examples: merged, 2 GB."""
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "text"
    with_context = request.input.example_list_with_context
    with_context.context.features.feature["pad"].bytes_list.value.append(b"p" * 2_000_000)
    for _ in range(1000):
        with_context.examples.add()
    return _call(target, "Classify", request)


KINDS = [
    # gRPC
    Kind("grpc-wrong-dtype", "grpc", _grpc(lambda: _text_request([1.0], dtype=types_pb2.DT_FLOAT)),
         "INVALID_ARGUMENT"),
    Kind("grpc-negative-dim", "grpc", _grpc(lambda: _text_request([b"a"], dims=[-5])), "INVALID_ARGUMENT"),
    Kind("grpc-zero-dim", "grpc", _grpc(lambda: _text_request([], dims=[0])), "OK"),
    Kind("grpc-300-dims", "grpc", _grpc(lambda: _text_request([b"a"], dims=[1] * 300)), "INVALID_ARGUMENT"),
    Kind("grpc-millions-declared", "grpc", _grpc(lambda: _text_request([b"a"], dims=[50_000_000])),
         "INVALID_ARGUMENT"),
    Kind("grpc-billion-floats-declared", "grpc",
         _grpc(lambda: _text_request([1.0], dims=[1_000_000_000], dtype=types_pb2.DT_FLOAT, model="default",
                                     key="x")), "INVALID_ARGUMENT"),
    Kind("grpc-overflowing-shape", "grpc", _grpc(lambda: _text_request([b"a"], dims=[1 << 40, 1 << 40])),
         "INVALID_ARGUMENT"),
    Kind("grpc-shape-disagrees", "grpc", _grpc(lambda: _text_request([b"a", b"b", b"c"], dims=[2])),
         "INVALID_ARGUMENT"),
    Kind("grpc-content-length-wrong", "grpc", _grpc(lambda: _with(
        _text_request([], dims=[4], dtype=types_pb2.DT_FLOAT, model="default", key="x"),
        lambda r: setattr(r.inputs["x"], "tensor_content", b"\x00" * 7))), "INVALID_ARGUMENT"),
    Kind("grpc-string-as-content", "grpc", _grpc(lambda: _with(
        _text_request([], dims=[1]), lambda r: setattr(r.inputs["text"], "tensor_content", b"abcd"))),
         "INVALID_ARGUMENT"),
    Kind("grpc-unknown-rank", "grpc", _grpc(lambda: _with(
        _text_request([b"a"], dims=[]), lambda r: setattr(r.inputs["text"].tensor_shape, "unknown_rank", True))),
         "INVALID_ARGUMENT"),
    Kind("grpc-invalid-utf8", "grpc", _grpc(lambda: _text_request([b"\xff\xfe caf\xe9 \xc3"])), "OK"),
    Kind("grpc-unknown-signature", "grpc", _grpc(lambda: _with(
        _text_request(), lambda r: setattr(r.model_spec, "signature_name", "nope"))), "FAILED_PRECONDITION"),
    Kind("grpc-unknown-input", "grpc", _grpc(lambda: _text_request(key="nope")), "INVALID_ARGUMENT"),
    Kind("grpc-unknown-output", "grpc", _grpc(lambda: _with(
        _text_request(), lambda r: r.output_filter.append("nope"))), "INVALID_ARGUMENT"),
    Kind("grpc-unknown-model", "grpc", _grpc(lambda: _text_request(model="nope")), "NOT_FOUND"),
    Kind("grpc-unknown-version", "grpc", _grpc(lambda: _with(
        _text_request(), lambda r: setattr(r.model_spec.version, "value", 999))), "NOT_FOUND"),
    Kind("grpc-no-model-spec", "grpc", _grpc(lambda: _with(
        _text_request(), lambda r: r.ClearField("model_spec"))), "INVALID_ARGUMENT"),
    Kind("grpc-over-size-limit", "grpc", _grpc(lambda: _text_request([b"x" * (LIMIT + 1024)]),
                                                 channel_options={"grpc.max_send_message_length": 16 << 20}),
         "RESOURCE_EXHAUSTED"),
    Kind("grpc-oversized-metadata", "grpc", _grpc(lambda: _text_request(),
                                                    metadata=[("x-padding", "p" * 20_000)]),
         "RESOURCE_EXHAUSTED"),
    Kind("grpc-garbage-bytes", "grpc", _raw_grpc(bytes(range(256)) * 16), "INTERNAL"),
    Kind("grpc-classify-unknown-signature", "grpc", _classify_unknown_signature, "INVALID_ARGUMENT"),
    Kind("grpc-1.3M-strings", "grpc", _grpc(_many_strings), "INVALID_ARGUMENT"),
    Kind("grpc-context-amplification", "grpc", _context_amplification, "INVALID_ARGUMENT"),
    # REST
    Kind("rest-wrong-dtype", "rest", _rest("/v1/models/text:predict", _json({"instances": [1.5]})), 400),
    Kind("rest-deep-nesting", "rest", _rest("/v1/models/text:predict", _deep_nesting), 400),
    Kind("rest-huge-base64", "rest", _rest("/v1/models/text:predict", _huge_base64), 200),
    Kind("rest-invalid-base64", "rest", _rest("/v1/models/text:predict",
                                              _json({"instances": [{"b64": "%%not base64%%"}]})), 400),
    Kind("rest-invalid-utf8", "rest", _rest("/v1/models/text:predict", b'{"instances": ["caf\xe9 \xff"]}'), 400),
    Kind("rest-number-overflows-double", "rest", _rest("/v1/models/default:predict",
                                                      b'{"instances": [1e999999]}'), 400),
    Kind("rest-empty-instances", "rest", _rest("/v1/models/text:predict", _json({"instances": []})), 400),
    Kind("rest-unknown-signature", "rest", _rest("/v1/models/text:predict",
                                                 _json({"signature_name": "nope", "instances": ["a"]})), 400),
    Kind("rest-unknown-input", "rest", _rest("/v1/models/text:predict",
                                             _json({"inputs": {"nope": ["a"]}})), 400),
    Kind("rest-unknown-model", "rest", _rest("/v1/models/nope:predict", _json({"instances": ["a"]})), 404),
    Kind("rest-traversal-model", "rest", _rest("/v1/models/..%2F..%2Fetc:predict",
                                               _json({"instances": ["a"]})), 404),
    # Refused on its Content-Length, before the body is read (a client still sending it then sees a reset).
    Kind("rest-body-over-limit", "rest", _raw_http(
        f"POST /v1/models/text:predict HTTP/1.1\r\nHost: x\r\nContent-Length: {LIMIT + 10}\r\n\r\n".encode(),
        b'{"instances": ["xxxx'), 413),
    Kind("rest-invalid-content-length", "rest", _raw_http(
        b"POST /v1/models/text:predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"), 400),
    Kind("rest-chunked-over-limit", "rest", _raw_http(
        b"POST /v1/models/text:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{LIMIT + 1:x}\r\n".encode()), 413),
    Kind("rest-never-finished-body", "rest", _raw_http(
        b"POST /v1/models/text:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", b'{"instances"',
        then_wait=True), 408),
    Kind("rest-slow-body", "rest", _raw_http(
        b"POST /v1/models/text:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n",
        trickle=b'{"instances": ["' + b"a" * 150), 408),
    Kind("rest-trickled-request-line", "rest", _raw_http(b"", trickle=b"POST /v1/models/text:predict " * 4),
         "closed"),
    Kind("rest-oversized-header", "rest", _raw_http(
        b"GET /v1/models/text HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 70_000 + b"\r\n\r\n"), 431),
]
