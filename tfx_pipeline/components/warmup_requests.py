"""TF Serving warmup requests for a pushed version: a few real texts from the latest span's eval split.

TF Serving (and the embedded server) replay <version>/assets.extra/tf_serving_warmup_requests before a version
becomes AVAILABLE, so the first client request does not pay for graph initialisation.
"""
from __future__ import annotations

import csv
import io
import os
import re
from typing import List

from tfx.dsl.io import fileio

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
_SPAN = re.compile(r"span-(\d+)")


def latest_span_texts(pattern: str, text_column: str, count: int) -> List[str]:
    """The first `count` non-empty texts of the highest-numbered span file matching `pattern`."""
    # fileio, not glob and open: the data root may be a gs:// URI.
    files = sorted(fileio.glob(pattern), key=lambda p: int(_SPAN.search(p).group(1)) if _SPAN.search(p) else -1)
    if not files:
        return []
    with fileio.open(files[-1], "rb") as f:
        texts = [row.get(text_column, "") for row in csv.DictReader(io.StringIO(f.read().decode("utf-8"),
                                                                                newline=""))]
    return [t for t in texts if t][:count]


def write_warmup_requests(version_dir: str, model_name: str, signature: str, input_key: str,
                          texts: List[str]) -> int:
    """Writes one PredictRequest per text as a PredictionLog TFRecord; returns how many were written."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path = os.path.join(version_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for text in texts:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
            request.inputs[input_key].CopyFrom(tf.make_tensor_proto([text], dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return len(texts)
