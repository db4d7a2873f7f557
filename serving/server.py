"""The embedded model server: wires options into the registry, gRPC and REST
front ends, pollers, batching, monitoring and request logging."""

import logging
import threading

from serving import grpc_server, inference
from serving import options as opts
from serving import warmup
from serving.batching import Batcher
from serving.errors import ServingError
from serving.model_registry import ModelRegistry
from serving.monitoring import DEFAULT_PATH, Metrics
from serving.request_log import RequestLogger
from serving.servable import Servable
from serving.service_core import ServingCore

log = logging.getLogger(__name__)
# gRPC logs a traceback for every request body that is not a valid message ("Exception deserializing
# message!") and answers it INTERNAL anyway: one line per garbage request would let any client fill the log.
logging.getLogger("grpc._common").setLevel(logging.CRITICAL)


def _set_tf_threads(options):
    import tensorflow as tf

    # Only possible before TF creates its runtime; in a process that already
    # ran TF (tests, notebooks) the existing settings stay.
    try:
        if options.tensorflow_intra_op_parallelism:
            tf.config.threading.set_intra_op_parallelism_threads(
                options.tensorflow_intra_op_parallelism)
        if options.tensorflow_inter_op_parallelism:
            tf.config.threading.set_inter_op_parallelism_threads(
                options.tensorflow_inter_op_parallelism)
    except RuntimeError as exc:
        log.warning("TensorFlow thread settings not applied: %s", exc)


class ModelServer:
    def __init__(self, options):
        self.options = options
        self.metrics = None
        self.request_logger = None
        self.batcher = None
        self.registry = None
        self.core = None
        self.grpc_port = None
        self.rest_port = None
        self._grpc_server = None
        self._rest_server = None
        self._stop = threading.Event()
        self._threads = []
        self._file_config = None
        self._tags = [t.strip() for t in options.saved_model_tags.split(",") if t.strip()]

    def _load(self, name, version, path):
        servable = Servable.load(name, version, path, self._tags)
        if self.options.enable_model_warmup:
            records = warmup.read_warmup_logs(path)
            for _ in range(max(1, self.options.num_request_iterations_for_warmup)):
                warmup.run_warmup(servable, records,
                                  self.options.enable_signature_method_name_check)
        return servable

    def _on_load(self, name, version, path, error):
        if self.metrics:
            self.metrics.observe_load(path, error)

    def start(self):
        """Loads the initial models and opens the ports; raises ServingError
        for an unusable configuration, like the real server failing to start."""
        try:
            return self._start()
        except BaseException:
            self.stop(grace=0)  # release threads, ports and loaded models
            raise

    def _start(self):
        options = self.options
        _set_tf_threads(options)
        config = opts.model_server_config(options)
        monitoring = opts.monitoring_config(options)
        prometheus = monitoring.prometheus_config
        self.metrics = Metrics(extra_files=[options.monitoring_extra_file] if options.monitoring_extra_file else ())
        self.request_logger = RequestLogger(opts.log_settings(options), metrics=self.metrics)
        if options.enable_batching:
            self.batcher = Batcher(**opts.batching_parameters(options),
                                   observe_runtime=lambda name, seconds: self.metrics.observe_runtime(
                                       name, "Predict", seconds))
        self.registry = ModelRegistry(
            self._load, on_load=self._on_load,
            max_load_retries=options.max_num_load_retries,
            load_retry_interval=options.load_retry_interval_micros / 1e6,
            allow_unavailable_labels=options.allow_version_labels_for_unavailable_models)
        self.core = ServingCore(self.registry, self.batcher, self.metrics,
                                self.request_logger,
                                options.enable_signature_method_name_check,
                                # Padding a tensor may not outgrow what a request may carry.
                                inference.Limits(padded_bytes=options.max_request_bytes,
                                                 rows=options.max_request_rows))
        self.registry.apply_config(config)
        if options.model_config_file:
            self._file_config = config
        self._grpc_server = grpc_server.start(self.core, options)
        self.grpc_port = self._grpc_server.port
        if options.rest_api_port:
            from serving.rest_api import start_rest_server

            self._rest_server = start_rest_server(
                self.core, options.host, options.rest_api_port,
                timeout_ms=options.rest_api_timeout_in_ms,
                max_body_bytes=options.max_request_bytes,
                metrics_path=(prometheus.path or DEFAULT_PATH)
                if prometheus.enable else None,
                metrics=self.metrics,
                num_threads=options.rest_api_num_threads)
            self.rest_port = self._rest_server.server_address[1]
        if options.file_system_poll_wait_seconds > 0:
            self._spawn(self.registry.poll_all, options.file_system_poll_wait_seconds,
                        "fs-poll")
        if options.model_config_file and options.model_config_file_poll_wait_seconds > 0:
            self._spawn(self._reload_config_file,
                        options.model_config_file_poll_wait_seconds, "config-poll")
        log.info("Serving gRPC on %s:%s%s", options.host, self.grpc_port,
                 f", REST on {options.host}:{self.rest_port}" if self.rest_port else "")
        return self

    def _spawn(self, step, interval, name):
        def loop():
            while not self._stop.wait(interval):
                try:
                    step()
                except Exception:  # a poll failure must not end polling
                    log.exception("%s step failed", name)
        thread = threading.Thread(target=loop, daemon=True, name=name)
        thread.start()
        self._threads.append(thread)

    def _reload_config_file(self):
        try:
            config = opts.read_model_config_file(self.options.model_config_file)
        except ServingError as exc:
            log.error("Keeping current model config: %s", exc.message)
            return
        if config == self._file_config:
            return
        log.info("Model config file changed; reloading")
        try:
            self.registry.apply_config(config)
        except ServingError as exc:
            log.error("Rejected new model config: %s", exc.message)
        self._file_config = config

    def wait(self):
        self._stop.wait()

    def stop(self, grace=1.0):
        self._stop.set()
        if self._rest_server is not None:
            self._rest_server.shutdown()
            self._rest_server.server_close()
            self._rest_server.executor.shutdown(wait=False)
        if self._grpc_server is not None:
            self._grpc_server.stop(grace)
        for thread in self._threads:
            thread.join(timeout=5)
        if self.batcher is not None:
            self.batcher.stop()
        if self.registry is not None:
            self.registry.retire_all()
        if self.request_logger is not None:
            self.request_logger.close()
