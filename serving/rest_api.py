"""TF Serving's REST API (/v1/models/...) plus the Prometheus endpoint, on the
standard library's threading HTTP server."""

import concurrent.futures
import logging
import os
import re
import socket
import threading
import time
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
        version = int(match["version"])
        if version >= 1 << 63:  # TF Serving parses the version into an int64
            raise invalid_argument(f"Failed to convert version: {match['version']} to numeric.")
        spec.version.value = version
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

    def handle_one_request(self):
        # From here until the body is read the connection is "reading": the reaper closes it when that takes
        # longer than the request timeout, so a client that trickles its request cannot hold a thread.
        self.raw_requestline = b""  # until the request line is in, the connection may just be idle
        self.server.reading(self, True)
        try:
            super().handle_one_request()
        finally:
            self.server.reading(self, False)

    def _refuse(self, status, message):
        self.close_connection = True
        self._send_json(status, {"error": message})

    def _too_large(self, size):
        self._refuse(413, f"Request body of {size} bytes exceeds the limit of {self.max_body_bytes} bytes")

    def _read_chunked(self):
        """A chunked body, refused (None) once it passes the size limit."""
        chunks, size = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                length = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self._refuse(400, "Malformed chunked request body")
                return None
            if length == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            size += length
            if size > self.max_body_bytes:
                self._too_large(size)
                return None
            chunk = self.rfile.read(length + 2)[:length]
            if len(chunk) < length:
                self.close_connection = True  # the client went away mid-body
                return None
            chunks.append(chunk)

    def _read_body(self):
        """The request body, or None when it was refused (the answer is sent) or never finished."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        declared = self.headers.get("Content-Length")
        try:
            length = int(declared or 0)
            if length < 0:
                raise ValueError
        except ValueError:
            self._refuse(400, f"Invalid Content-Length: {declared!r}")
            return None
        if length > self.max_body_bytes:
            self._too_large(length)  # refused before reading, so a huge upload costs no memory
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True  # closed, or cut by the reaper, before the body was complete
            return None
        return body

    def do_POST(self):
        body = self._read_body()
        if body is not None:
            self._dispatch(body)

    def _dispatch(self, body):
        self.server.reading(self, False)
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
    """Starts serving in a daemon thread; returns the RestServer."""

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
    server = RestServer((host, port), handler, read_timeout_s=timeout_ms / 1000.0)
    server.executor = handler.executor  # shut down with the server
    threading.Thread(target=server.serve_forever, daemon=True, name="rest").start()
    return server


def _closing_response(status, message):
    """A whole HTTP answer as bytes, for when no handler thread is there to write it."""
    body = json_codec.dumps({"error": message})
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


class RestServer(ThreadingHTTPServer):
    """A thread per connection, with two bounds a hostile client cannot lift: at most MAX_CONNECTIONS open at
    once (more are answered 503 and closed), and a request (its line, headers and body) must arrive within the
    read timeout, else the connection is closed; an idle keep-alive connection counts as reading."""
    # socketserver's default listen backlog of 5 reset connections under 32 concurrent clients.
    request_queue_size = 128
    daemon_threads = True
    MAX_CONNECTIONS = 2048
    _TIMEOUT_RESPONSE = _closing_response("408 Request Timeout", "Request timed out")
    _BUSY_RESPONSE = _closing_response("503 Service Unavailable", "Too many open connections")

    def __init__(self, address, handler, read_timeout_s=30.0):
        super().__init__(address, handler)
        self.read_timeout_s = read_timeout_s
        self._lock = threading.Lock()
        self._open = 0
        self._reading = {}  # handler -> when its current request started
        self._closed = threading.Event()
        threading.Thread(target=self._reap, daemon=True, name="rest-reaper").start()

    def server_close(self):
        self._closed.set()
        super().server_close()

    def process_request(self, request, client_address):
        with self._lock:
            busy = self._open >= self.MAX_CONNECTIONS
            if not busy:
                self._open += 1
        if busy:
            try:
                request.sendall(self._BUSY_RESPONSE)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._open -= 1

    def reading(self, handler, started):
        with self._lock:
            if started:
                self._reading[handler] = time.monotonic()
            else:
                self._reading.pop(handler, None)

    def _reap(self):
        while not self._closed.wait(min(1.0, self.read_timeout_s / 4)):
            now = time.monotonic()
            with self._lock:
                late = [h for h, since in self._reading.items() if now - since > self.read_timeout_s]
                for handler in late:
                    del self._reading[handler]
            for handler in late:
                if handler.raw_requestline:  # a request had begun: say why it ends (an idle one just closes)
                    try:
                        handler.connection.send(self._TIMEOUT_RESPONSE)
                    except OSError:
                        pass
                try:
                    handler.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        # A client that vanished mid-answer is not the server's error; keep it off stderr.
        log.debug("REST connection from %s ended with an error", client_address, exc_info=True)
