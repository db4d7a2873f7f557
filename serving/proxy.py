"""A logging pass-through in front of a TF Serving-protocol server (the real tensorflow_model_server, which cannot
log requests): it answers gRPC and REST by forwarding each call to the upstream server's gRPC port and writes the
same request logs as the embedded server (serving/request_log.py). Kubeflow's answer was a logging sidecar; this
is one, speaking TF Serving's own protocol on both sides.

gRPC calls are forwarded as they are, request id included (x-request-id metadata), and the upstream's answer or
status comes back unchanged. REST calls are decoded here (serving/rest_api.py) and forwarded as gRPC calls: TF
Serving's REST responses do not say which version answered, and the log needs it. With the upstream's REST port
(HOST:GRPC_PORT:REST_PORT), the proxy's Prometheus endpoint serves the upstream's metrics followed by the
request log's counters.
"""

import logging
import threading
import time
import urllib.request

import grpc
from tensorflow_serving.apis import (get_model_metadata_pb2, model_pb2, model_service_pb2_grpc,
                                     prediction_service_pb2_grpc)

from serving import grpc_server, request_ids
from serving.errors import ServingError, invalid_argument
from serving.monitoring import DEFAULT_PATH, Metrics
from serving.options import log_settings, monitoring_config
from serving.request_log import RequestLogger

log = logging.getLogger(__name__)

_METADATA_SECONDS = 30.0  # how long a model's signatures are trusted before they are asked again


def parse_upstream(value):
    """'HOST:GRPC_PORT[:REST_PORT]' -> (host, grpc_port, rest_port or None)."""
    parts = value.split(":")
    try:
        if len(parts) in (2, 3) and parts[0]:
            return parts[0], int(parts[1]), int(parts[2]) if len(parts) == 3 else None
    except ValueError:
        pass
    raise invalid_argument(f"--proxy_to {value!r}: expected HOST:GRPC_PORT or HOST:GRPC_PORT:REST_PORT")


class ProxyCore:
    """ServingCore's interface, answered by the upstream server."""

    def __init__(self, host, port, request_logger, metrics, timeout=30.0, max_message_bytes=64 << 20):
        self._channel = grpc.insecure_channel(f"{host}:{port}", [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes)])
        self._predict = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._logger = request_logger
        self._metrics = metrics
        self._timeout = timeout
        self._signatures = {}  # (name, version, label) -> (fetched at, SignatureDef map)
        self._lock = threading.Lock()

    def _call(self, method, request, request_id=""):
        metadata = [(request_ids.HEADER, request_id)] if request_id else None
        try:
            return method(request, timeout=self._timeout, metadata=metadata)
        except grpc.RpcError as exc:
            raise ServingError(exc.code(), exc.details() or "") from None

    def _forward(self, api, entrypoint, method, request, spec, request_id, log_kind):
        start, status = time.perf_counter(), "OK"
        try:
            response = self._call(method, request, request_id)
        except ServingError as exc:
            status = exc.code.name
            raise
        finally:
            self._metrics.observe_request(spec.name, api, entrypoint, status, time.perf_counter() - start)
        if log_kind:
            self._logger.log(None, log_kind, request, response, request_id)
        return response

    def predict(self, request, entrypoint="GRPC", request_id=""):
        return self._forward("Predict", entrypoint, self._predict.Predict, request, request.model_spec, request_id,
                             "predict_log")

    def classify(self, request, entrypoint="GRPC", request_id=""):
        return self._forward("Classify", entrypoint, self._predict.Classify, request, request.model_spec,
                             request_id, "classify_log")

    def regress(self, request, entrypoint="GRPC", request_id=""):
        return self._forward("Regress", entrypoint, self._predict.Regress, request, request.model_spec, request_id,
                             "regress_log")

    def multi_inference(self, request, entrypoint="GRPC", request_id=""):
        spec = request.tasks[0].model_spec if request.tasks else model_pb2.ModelSpec()
        return self._forward("MultiInference", entrypoint, self._predict.MultiInference, request, spec, request_id,
                             "multi_inference_log")

    def model_metadata(self, request, entrypoint="GRPC", request_id=""):
        return self._forward("GetModelMetadata", entrypoint, self._predict.GetModelMetadata, request,
                             request.model_spec, request_id, None)

    def model_status(self, request):
        return self._call(self._models.GetModelStatus, request)

    def reload_config(self, request):
        return self._call(self._models.HandleReloadConfigRequest, request)

    def signature_defs(self, spec):
        key = (spec.name, spec.version.value if spec.HasField("version") else None, spec.version_label)
        with self._lock:
            cached = self._signatures.get(key)
        if cached and time.monotonic() - cached[0] < _METADATA_SECONDS:
            return cached[1]
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.CopyFrom(spec)
        response = self._call(self._predict.GetModelMetadata, request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        found = dict(signatures.signature_def)
        with self._lock:
            self._signatures[key] = (time.monotonic(), found)
        return found

    def label_version(self, model_name, label):
        raise invalid_argument(f"Version label {label}: the proxy cannot resolve labels for a status request; ask "
                               "the upstream server, or name the version")

    def close(self):
        self._channel.close()


class _ProxyMetrics:
    """The upstream's Prometheus text (when its REST port is known) and the request log's counters."""

    def __init__(self, own, upstream_url):
        self._own = own
        self._upstream_url = upstream_url

    def prometheus_text(self):
        own = self._own.prometheus_text()
        if not self._upstream_url:
            return own
        try:
            with urllib.request.urlopen(self._upstream_url, timeout=5) as reply:
                upstream = reply.read().decode("utf-8")
        except OSError as exc:
            upstream = f"# upstream metrics unavailable: {exc}\n"
        # TF Serving's own series come from the upstream; of the proxy's, only the request log's are added.
        kept, keep = [], False
        for line in own.splitlines():
            if line.startswith("# TYPE"):
                keep = ":mlops:" in line
            if keep:
                kept.append(line)
        return upstream.rstrip("\n") + "\n" + "\n".join(kept) + "\n"


class ProxyServer:
    """Listens like ModelServer (--port, --rest_api_port, --host, TLS, request log options) and forwards."""

    def __init__(self, options):
        self.options = options
        host, port, rest_port = parse_upstream(options.proxy_to)
        self.metrics = Metrics()
        self.request_logger = RequestLogger(log_settings(options), metrics=self.metrics)
        self.core = ProxyCore(host, port, self.request_logger, self.metrics,
                              timeout=options.rest_api_timeout_in_ms / 1000.0)
        prometheus = monitoring_config(options).prometheus_config
        path = prometheus.path or DEFAULT_PATH
        self._metrics_view = _ProxyMetrics(self.metrics, f"http://{host}:{rest_port}{path}" if rest_port else "")
        self._grpc = None
        self._rest = None
        self.grpc_port = self.rest_port = None

    def start(self):
        options = self.options
        try:
            # Threaded whatever --enable_batching says: batching is the upstream's business.
            self._grpc = grpc_server.ThreadedGrpcServer(self.core, options)
            self.grpc_port = self._grpc.port
            if options.rest_api_port:
                from serving.rest_api import start_rest_server

                prometheus = monitoring_config(options).prometheus_config
                self._rest = start_rest_server(
                    self.core, options.host, options.rest_api_port, timeout_ms=options.rest_api_timeout_in_ms,
                    max_body_bytes=options.max_request_bytes,
                    metrics_path=(prometheus.path or DEFAULT_PATH) if prometheus.enable else None,
                    metrics=self._metrics_view, num_threads=options.rest_api_num_threads)
                self.rest_port = self._rest.server_address[1]
        except BaseException:
            self.stop(grace=0)
            raise
        log.info("Proxying gRPC on %s:%s%s to %s", options.host, self.grpc_port,
                 f", REST on {options.host}:{self.rest_port}" if self.rest_port else "", options.proxy_to)
        return self

    def stop(self, grace=1.0):
        if self._rest is not None:
            self._rest.shutdown()
            self._rest.server_close()
            self._rest.executor.shutdown(wait=False)
        if self._grpc is not None:
            self._grpc.stop(grace)
        self.request_logger.close()
        self.core.close()
