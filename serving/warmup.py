"""Replays assets.extra/tf_serving_warmup_requests against a fresh version,
so the first real request does not pay for lazy initialisation."""

import logging
import os

from serving import inference
from serving.errors import ServingError, invalid_argument

log = logging.getLogger(__name__)

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # same cap as TF Serving


def read_warmup_logs(version_path):
    """PredictionLog records from the version's warmup file ([] if none)."""
    path = os.path.join(version_path, WARMUP_FILE)
    if not os.path.exists(path):
        return []
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    records = []
    for raw in tf.data.TFRecordDataset(path):
        if len(records) >= MAX_WARMUP_RECORDS:
            raise invalid_argument(
                f"Number of warmup records exceeds the maximum "
                f"({MAX_WARMUP_RECORDS}) at {path}")
        record = prediction_log_pb2.PredictionLog()
        record.ParseFromString(raw.numpy())
        records.append(record)
    return records


def run_warmup(servable, prediction_logs, check_method_name=False):
    """Runs each logged request on `servable`; any failure fails the load."""
    for record in prediction_logs:
        kind = record.WhichOneof("log_type")
        try:
            if kind == "predict_log":
                inference.predict(servable, record.predict_log.request, servable.run)
            elif kind == "classify_log":
                inference.classify(servable, record.classify_log.request,
                                   check_method_name)
            elif kind == "regress_log":
                inference.regress(servable, record.regress_log.request,
                                  check_method_name)
            elif kind == "multi_inference_log":
                inference.multi_inference(servable,
                                          record.multi_inference_log.request,
                                          check_method_name)
            else:
                raise invalid_argument(f"Unsupported log_type for warmup: {kind}")
        except ServingError as exc:
            raise ServingError(
                exc.code, f"Failed to warm up {servable.name} version "
                f"{servable.version}: {exc.message}") from None
    if prediction_logs:
        log.info("Finished reading warmup data for model at %s. Number of warmup "
                 "records read: %d.", servable.path, len(prediction_logs))
