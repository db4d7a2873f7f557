"""TF Serving's REST API (/v1/models/...) plus the Prometheus endpoint, on the
standard library's threading HTTP server."""

import concurrent.futures
import logging
import os
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    predict_pb2,
    regression_pb2,
)

from serving import json_codec, request_ids
from serving.errors import ServingError, invalid_argument

log = logging.getLogger(__name__)

_VERSION = r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
_PREDICTION_PATH = re.compile(
    rf"/v1/models/(?P<model>[^/:]+){_VERSION}:(?P<method>classify|regress|predict)",
    re.IGNORECASE)
_STATUS_PATH = re.compile(
    rf"/v1/models/(?P<model>[^/:]+){_VERSION}(?P<metadata>/metadata)?", re.IGNORECASE)


def _spec(spec, match):
    spec.name = match["model"]
    if match["version"]:
        spec.version.value = int(match["version"])
    elif match["label"]:
        spec.version_label = match["label"]


def _proto_dict(message):
    return json_format.MessageToDict(message, including_default_value_fields=True,
                                     preserving_proto_field_name=True)


class RestApi:
    """Request handling independent of the HTTP plumbing, easy to test."""

    def __init__(self, core):
        self.core = core

    def handle(self, method, path, body, request_id=""):
        """(http_status, json_object) for one request."""
        try:
            return 200, self._route(method, path, body, request_id)
        except ServingError as exc:
            return exc.http_status, {"error": exc.message}
        except Exception as exc:  # a bug must still produce a JSON answer
            log.exception("REST %s %s failed", method, path)
            return 500, {"error": f"Internal error: {exc}"}

    def _route(self, method, path, body, request_id):
        if method == "POST":
            match = _PREDICTION_PATH.fullmatch(path)
            if match:
                return getattr(self, "_" + match["method"].lower())(
                    match, json_codec.parse_body(body), request_id)
        elif method == "GET":
            match = _STATUS_PATH.fullmatch(path)
            if match:
                return self._metadata(match) if match["metadata"] else self._status(match)
        raise invalid_argument(f"Malformed request: {method} {path}")

    def _signature_for(self, match):
        def lookup(name):
            spec = predict_pb2.PredictRequest().model_spec
            _spec(spec, match)
            signature = self.core.signature_defs(spec).get(name or "serving_default")
            if signature is None:
                raise invalid_argument(
                    f'Serving signature name: "{name or "serving_default"}" not '
                    "found in signature def")
            return signature
        return lookup

    def _predict(self, match, body, request_id):
        signature_name, inputs, fmt = json_codec.predict_inputs(
            body, self._signature_for(match))
        request = predict_pb2.PredictRequest()
        _spec(request.model_spec, match)
        request.model_spec.signature_name = signature_name
        for name, proto in inputs.items():
            request.inputs[name].CopyFrom(proto)
        response = self.core.predict(request, entrypoint="REST", request_id=request_id)
        return json_codec.predict_response(response.outputs, fmt)

    def _classify(self, match, body, request_id):
        request = classification_pb2.ClassificationRequest()
        _spec(request.model_spec, match)
        json_codec.fill_examples_request(body, request)
        response = self.core.classify(request, entrypoint="REST", request_id=request_id)
        return json_codec.classify_response(response.result)

    def _regress(self, match, body, request_id):
        request = regression_pb2.RegressionRequest()
        _spec(request.model_spec, match)
        json_codec.fill_examples_request(body, request)
        response = self.core.regress(request, entrypoint="REST", request_id=request_id)
        return json_codec.regress_response(response.result)

    def _status(self, match):
        request = get_model_status_pb2.GetModelStatusRequest()
        _spec(request.model_spec, match)
        if match["label"]:
            request.model_spec.version.value = self.core.label_version(match["model"], match["label"])
        return _proto_dict(self.core.model_status(request))

    def _metadata(self, match):
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        _spec(request.model_spec, match)
        request.metadata_field.append("signature_def")
        response = self.core.model_metadata(request, entrypoint="REST")
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        return {"model_spec": _proto_dict(response.model_spec),
                "metadata": {"signature_def": _proto_dict(signatures)}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients expect from TF Serving
    # Headers and body leave in two writes; with Nagle's algorithm on, the body then waits for the client's
    # delayed ACK, about 40 ms per keep-alive request.
    disable_nagle_algorithm = True
    server_version = "TensorFlowServingPython"
    api = None  # set on the subclass built by start_rest_server
    executor = None
    timeout_s = 30.0
    max_body_bytes = 0
    metrics_path = None
    metrics = None

    def log_message(self, fmt, *args):
        log.debug("%s - " + fmt, self.address_string(), *args)

    def _send(self, status, payload, content_type="application/json", request_id=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if request_id:
            self.send_header("X-Request-Id", request_id)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(self, status, obj, request_id=None):
        self._send(status, json_codec.dumps(obj), request_id=request_id)

    def do_GET(self):
        if self.metrics_path and self.path == self.metrics_path:
            self._send(200, self.metrics.prometheus_text().encode("utf-8"),
                       "text/plain; version=0.0.4; charset=utf-8")
            return
        self._dispatch(b"")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.max_body_bytes:
            # Refuse before reading, so a huge upload costs no memory.
            self.close_connection = True
            self._send_json(413, {"error": f"Request body of {length} bytes exceeds "
                                           f"the limit of {self.max_body_bytes} bytes"})
            return
        self._dispatch(self.rfile.read(length) if length else b"")

    def _dispatch(self, body):
        path = self.path.split("?", 1)[0]
        if not path.lower().startswith("/v1/"):
            self._send_json(404, {"error": f"Not found: {path}"})
            return
        request_id = request_ids.choose(self.headers.get(request_ids.HEADER))
        future = self.executor.submit(self.api.handle, self.command, path, body, request_id)
        try:
            status, obj = future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            code = grpc.StatusCode.DEADLINE_EXCEEDED
            status, obj = ServingError(code, "Request timed out").http_status, {
                "error": "Request timed out"}
        self._send_json(status, obj, request_id)


def start_rest_server(core, host, port, timeout_ms=30000, max_body_bytes=4 << 20,
                      metrics_path=None, metrics=None, num_threads=0):
    """Starts serving in a daemon thread; returns the ThreadingHTTPServer."""
    import threading

    workers = num_threads or 4 * (os.cpu_count() or 1)
    handler = type("RestHandler", (_Handler,), {
        "api": RestApi(core),
        "executor": concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="rest"),
        "timeout_s": timeout_ms / 1000.0,
        "max_body_bytes": max_body_bytes,
        "metrics_path": metrics_path,
        "metrics": metrics,
    })
    # socketserver's default listen backlog of 5 reset connections under 32 concurrent clients.
    server_class = type("RestServer", (ThreadingHTTPServer,), {"request_queue_size": 128})
    server = server_class((host, port), handler)
    server.daemon_threads = True
    server.executor = handler.executor  # shut down with the server
    threading.Thread(target=server.serve_forever, daemon=True, name="rest").start()
    return server
