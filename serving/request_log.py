"""Request logging: sampled PredictionLog records (TF Serving's own format) in TFRecord files, per model and
version, rotated by size and age, and written by one background thread from a bounded queue.

Open-source TF Serving cannot log requests (server_core.cc creates its request logger with no collector: "No
request-logger-creator provided"), so this is the embedded server's own, also run by the logging proxy in front
of the real binary (serving/proxy.py). A request never waits for its record nor fails because of it: when the
queue is full or a write fails (a full disk, an unwritable folder) the record is dropped and counted
(:mlops:request_log:dropped_records on the Prometheus endpoint).

Layout: <directory>/<model>/<version>/requests-<UTC start>-<pid>-<n>.tfrecord. LogMetadata carries the model
spec that answered, the sampling rate, timestamp_secs and, in request_origin ("request origin identifier"), the
request id: the client's x-request-id, or the one the server made and returned. A model whose TF Serving
ModelConfig has a logging_config is also logged under its log_collector_config.filename_prefix.
"""

import dataclasses
import logging
import os
import queue
import random
import threading
import time

from tensorflow_serving.apis import prediction_log_pb2

from serving.tfrecord import frame

log = logging.getLogger(__name__)

KINDS = ("predict_log", "classify_log", "regress_log", "multi_inference_log")
_STOP = object()
_FLUSH_SECONDS = 0.5


@dataclasses.dataclass(frozen=True)
class LogSettings:
    directory: str = ""  # "" = no server-wide log; models with a logging_config are still logged
    sampling_rate: float = 1.0
    max_file_bytes: int = 64 << 20
    max_file_seconds: float = 3600.0
    queue_size: int = 10000


class _File:
    def __init__(self, path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.path = path
        self.handle = open(path, "ab", buffering=1 << 16)
        self.opened = time.monotonic()
        self.size = 0

    def close(self):
        try:
            self.handle.close()
        except OSError:
            pass  # a full disk may refuse the last flush; the complete records before it stay readable


class RequestLogger:
    """log() is called on the request path and only samples and enqueues; the writer thread does the rest."""

    def __init__(self, settings=LogSettings(), metrics=None, rng=None):
        self.settings = settings
        self._metrics = metrics
        self._rng = rng or random.Random()
        self._queue = queue.Queue(maxsize=max(1, settings.queue_size))
        self._files = {}  # (destination, model, version) -> _File
        self._sequence = 0
        self._error_logged = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="request-log")
        self._thread.start()

    def log(self, model_config, kind, request, response, request_id=""):
        """Samples and queues one record; returns at once, whatever happens to it."""
        destinations = []
        if self.settings.directory and self._rng.random() < self.settings.sampling_rate:
            destinations.append((self.settings.directory, self.settings.sampling_rate, True))
        if model_config is not None and model_config.HasField("logging_config"):
            config = model_config.logging_config
            rate, prefix = config.sampling_config.sampling_rate, config.log_collector_config.filename_prefix
            if rate > 0 and prefix and self._rng.random() < rate:
                destinations.append((prefix, rate, False))
        if not destinations:
            return
        model = response.model_spec if hasattr(response, "model_spec") else request.tasks[0].model_spec
        item = (kind, request, response, model.name, model.version.value, model.signature_name, request_id,
                int(time.time()), destinations)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._count(model.name, "queue_full", len(destinations))

    def _count(self, model_name, outcome, count=1):
        """outcome: written, or why a record was dropped (queue_full, write_error)."""
        if self._metrics is not None:
            self._metrics.count_request_log(model_name, outcome, count)

    def _run(self):
        last_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=_FLUSH_SECONDS)
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            if isinstance(item, threading.Event):  # flush(): everything queued before it is written now
                self._flush()
                item.set()
                continue
            if item is not None:
                self._write(item)
            if item is None or time.monotonic() - last_flush >= _FLUSH_SECONDS:
                self._flush()
                last_flush = time.monotonic()
        self._flush()
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def _write(self, item):
        kind, request, response, name, version, signature, request_id, timestamp, destinations = item
        record = prediction_log_pb2.PredictionLog()
        metadata = record.log_metadata
        metadata.model_spec.name = name
        metadata.model_spec.version.value = version
        metadata.model_spec.signature_name = signature
        metadata.timestamp_secs = timestamp
        metadata.request_origin = request_id
        entry = getattr(record, kind)
        entry.request.CopyFrom(request)
        entry.response.CopyFrom(response)
        for destination, rate, by_folder in destinations:
            metadata.sampling_config.sampling_rate = rate
            data = frame(record.SerializeToString())
            try:
                target = self._file_for(destination, name, version, by_folder)
                target.handle.write(data)
                target.size += len(data)
            except OSError as exc:
                self._close(destination, name, version)
                self._count(name, "write_error")
                if not self._error_logged:  # once per failing spell, not once per record
                    log.error("Request log: cannot write under %s (%s); dropping records until it can", destination,
                              exc)
                    self._error_logged = True
                continue
            self._error_logged = False
            self._count(name, "written")

    def _file_for(self, destination, name, version, by_folder):
        key = (destination, name, version)
        current = self._files.get(key)
        if current is not None and (current.size >= self.settings.max_file_bytes or
                                    time.monotonic() - current.opened >= self.settings.max_file_seconds):
            self._close(destination, name, version)
            current = None
        if current is None:
            self._sequence += 1
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            if by_folder:
                path = os.path.join(destination, name, str(version),
                                    f"requests-{stamp}-{os.getpid()}-{self._sequence}.tfrecord")
            else:  # TF Serving's filename_prefix
                path = f"{destination}-{stamp}-{os.getpid()}-{self._sequence}.tfrecord"
            current = self._files[key] = _File(path)
            log.info("Request log of %s version %s: %s", name, version, path)
        return current

    def _close(self, destination, name, version):
        current = self._files.pop((destination, name, version), None)
        if current is not None:
            current.close()

    def _flush(self):
        for key, current in list(self._files.items()):
            try:
                current.handle.flush()
            except OSError as exc:
                self._close(*key)
                log.error("Request log: cannot flush %s (%s)", current.path, exc)

    def flush(self, timeout=10.0):
        """Waits until the records queued so far are written and flushed; False if that took over `timeout`."""
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def close(self):
        try:
            self._queue.put(_STOP, timeout=5)
        except queue.Full:
            pass
        self._thread.join(timeout=10)
