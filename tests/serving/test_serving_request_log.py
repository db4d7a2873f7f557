"""Request logging: off unless a model's logging_config asks for it; then
sampled PredictionLog records land in TFRecord files."""

import glob

import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    predict_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

from serving_test_helpers import RPC_TIMEOUT, make_base_path, write_model_config

from serving.request_log import RequestLogger


@pytest.fixture(scope="module")
def env(start_server, model_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("request_log")
    prefix = root / "logs" / "requests"
    config = write_model_config(root / "models.config", [
        ("logged", make_base_path(root, "logged", model_store["half_plus_two"]),
         f'logging_config {{ log_collector_config {{ filename_prefix: "{prefix}" }} '
         "sampling_config { sampling_rate: 1.0 } }"),
        ("quiet", make_base_path(root, "quiet", model_store["half_plus_two"]), ""),
    ])
    return start_server(model_config_file=config), root


def send(endpoint, model, value):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(value)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    return stub.Predict(request, RPC_TIMEOUT)


def test_logged_model_writes_prediction_logs(env):
    endpoint, root = env
    for value in (1.0, 2.0, 3.0):
        send(endpoint, "logged", value)
    for value in (1.0, 2.0):
        send(endpoint, "quiet", value)
    files = glob.glob(str(root / "logs" / "requests-*.tfrecord"))
    assert len(files) == 1
    records = []
    for raw in tf.data.TFRecordDataset(files[0]):
        record = prediction_log_pb2.PredictionLog()
        record.ParseFromString(raw.numpy())
        records.append(record)
    assert len(records) == 3
    assert {r.log_metadata.model_spec.name for r in records} == {"logged"}
    assert [r.predict_log.request.inputs["x"].float_val[0] for r in records] == \
        [1.0, 2.0, 3.0]
    assert [r.predict_log.response.outputs["y"].float_val[0] for r in records] == \
        [2.5, 3.0, 3.5]


class FixedRandom:
    def __init__(self, values):
        self._values = iter(values)

    def random(self):
        return next(self._values)


def test_sampling_rate_is_honoured(tmp_path):
    config = model_server_config_pb2.ModelConfig(name="m")
    config.logging_config.log_collector_config.filename_prefix = str(tmp_path / "s")
    config.logging_config.sampling_config.sampling_rate = 0.5
    logger = RequestLogger(rng=FixedRandom([0.1, 0.7, 0.4, 0.9]))
    request = predict_pb2.PredictRequest()
    response = predict_pb2.PredictResponse()
    response.model_spec.name = "m"
    for _ in range(4):
        logger.maybe_log(config, "predict_log", request, response)
    logger.close()
    files = glob.glob(str(tmp_path / "s-*.tfrecord"))
    assert len(files) == 1
    assert sum(1 for _ in tf.data.TFRecordDataset(files[0])) == 2
