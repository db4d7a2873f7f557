"""Sampled request logging: PredictionLog records appended to TFRecord files.

Configured per model with ModelConfig.logging_config exactly as for TF
Serving (sampling_config.sampling_rate, log_collector_config.filename_prefix);
models without a logging_config are never logged, so it is off by default.
"""

import logging
import os
import random
import threading
import time

from tensorflow_serving.apis import prediction_log_pb2

log = logging.getLogger(__name__)

_LOG_FIELDS = {
    "predict_log": prediction_log_pb2.PredictLog,
    "classify_log": prediction_log_pb2.ClassifyLog,
    "regress_log": prediction_log_pb2.RegressLog,
    "multi_inference_log": prediction_log_pb2.MultiInferenceLog,
}


class RequestLogger:
    def __init__(self, rng=None):
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._writers = {}  # filename prefix -> (path, TFRecordWriter)

    def maybe_log(self, model_config, kind, request, response):
        if not model_config.HasField("logging_config"):
            return
        config = model_config.logging_config
        rate = config.sampling_config.sampling_rate
        prefix = config.log_collector_config.filename_prefix
        if rate <= 0 or not prefix or self._rng.random() >= rate:
            return
        record = prediction_log_pb2.PredictionLog()
        record.log_metadata.model_spec.CopyFrom(response.model_spec
                                                if hasattr(response, "model_spec")
                                                else request.tasks[0].model_spec)
        record.log_metadata.sampling_config.CopyFrom(config.sampling_config)
        entry = _LOG_FIELDS[kind](request=request, response=response)
        getattr(record, kind).CopyFrom(entry)
        self._write(prefix, record.SerializeToString())

    def _write(self, prefix, payload):
        with self._lock:
            writer = self._writers.get(prefix)
            if writer is None:
                import tensorflow as tf

                os.makedirs(os.path.dirname(prefix) or ".", exist_ok=True)
                # One file per process and start time: several servers may share
                # a prefix, and TFRecord files must never be appended by two.
                path = f"{prefix}-{os.getpid()}-{int(time.time() * 1000)}.tfrecord"
                writer = (path, tf.io.TFRecordWriter(path))
                self._writers[prefix] = writer
                log.info("Request log for prefix %s writes to %s", prefix, path)
            writer[1].write(payload)
            writer[1].flush()

    def close(self):
        with self._lock:
            for _, writer in self._writers.values():
                writer.close()
            self._writers.clear()
