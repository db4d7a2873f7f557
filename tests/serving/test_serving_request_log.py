"""Request logging: PredictionLog records (read back with tensorflow-serving-api's own protos and by TensorFlow's
TFRecord reader) that match each request and response, per model and version, with the request id; sampling;
rotation; and a log that never fails a request: an unwritable folder or a full queue drops records and counts."""

import glob
import threading
import urllib.request

import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from serving_test_helpers import RPC_TIMEOUT, http, make_base_path, predict_request, read_logs, write_model_config

from serving import request_ids
from serving.monitoring import REQUEST_LOG_DROPPED, REQUEST_LOG_WRITTEN
from serving.request_log import LogSettings, RequestLogger
from serving.tfrecord import frame, read_records


@pytest.fixture(scope="module")
def logged(start_server, model_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("request_log")
    base = make_base_path(root, "models", model_store["half_plus_two"], (7,))
    text_base = make_base_path(root, "text", model_store["text"], (3,))
    config = write_model_config(root / "models.config", [("default", base, ""), ("text", text_base, "")])
    endpoint = start_server(model_config_file=config, request_log_dir=str(root / "logs"))
    return endpoint, root / "logs"


def test_grpc_and_rest_requests_are_logged_as_tf_serving_prediction_logs_with_their_ids(logged):
    endpoint, folder = logged
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    responses, ids = [], []
    for value, given in ((1.0, "client-id-1"), (2.0, None)):
        response, call = stub.Predict.with_call(predict_request("default", value), RPC_TIMEOUT,
                                                metadata=[("x-request-id", given)] if given else None)
        responses.append(response)
        ids.append(dict(call.initial_metadata())[request_ids.HEADER])
    assert ids[0] == "client-id-1" and len(ids[1]) == 32  # the client's, else one the server made
    request = urllib.request.Request(f"{endpoint.rest_url}/v1/models/text:predict", method="POST",
                                     data=b'{"instances": ["so good"]}', headers={"X-Request-Id": "rest-7"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.headers["X-Request-Id"] == "rest-7"
    status, _ = http("POST", f"{endpoint.rest_url}/v1/models/text:predict", {"instances": ["meh"]})
    assert status == 200
    assert endpoint.server.request_logger.flush()

    logs = read_logs(folder)
    assert sorted(logs) == [("default", 7), ("text", 3)]
    grpc_records = logs[("default", 7)]
    assert [r.log_metadata.request_origin for r in grpc_records] == ids
    for record, value, response in zip(grpc_records, (1.0, 2.0), responses):
        assert record.WhichOneof("log_type") == "predict_log"
        assert record.predict_log.request == predict_request("default", value)
        assert record.predict_log.response == response
        assert record.log_metadata.model_spec.name == "default" and record.log_metadata.model_spec.version.value == 7
        assert record.log_metadata.sampling_config.sampling_rate == 1.0 and record.log_metadata.timestamp_secs > 0
    rest_records = logs[("text", 3)]
    assert rest_records[0].log_metadata.request_origin == "rest-7" and rest_records[1].log_metadata.request_origin
    assert rest_records[0].predict_log.request.inputs["text"].string_val == [b"so good"]
    assert rest_records[0].predict_log.response.outputs["label"].string_val == [b"positive"]
    assert endpoint.server.metrics.counter(REQUEST_LOG_WRITTEN, ("default",)) == 2
    # TensorFlow reads the files as its own TFRecords.
    [path] = glob.glob(str(folder / "default" / "7" / "*.tfrecord"))
    assert [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)] == \
        grpc_records


def test_an_unusable_client_id_is_replaced(logged):
    endpoint, _ = logged
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    _, call = stub.Predict.with_call(predict_request("default", 1.0), RPC_TIMEOUT,
                                     metadata=[("x-request-id", "has spaces and \"quotes\"")])
    chosen = dict(call.initial_metadata())[request_ids.HEADER]
    assert chosen != "has spaces and \"quotes\"" and len(chosen) == 32


def test_with_an_unwritable_log_folder_requests_succeed_and_the_drop_counter_rises(start_server, model_store,
                                                                                   tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the log folder should be")
    endpoint = start_server(model_name="default", request_log_dir=str(blocked), rest_api_port=0,
                            model_base_path=make_base_path(tmp_path, "m", model_store["half_plus_two"]))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    for value in range(5):
        assert stub.Predict(predict_request("default", float(value)), RPC_TIMEOUT).outputs["y"].float_val
    assert endpoint.server.request_logger.flush()
    assert endpoint.server.metrics.counter(REQUEST_LOG_DROPPED, ("default", "write_error")) == 5
    assert endpoint.server.metrics.counter(REQUEST_LOG_WRITTEN, ("default",)) == 0
    text = endpoint.server.metrics.prometheus_text()
    assert f'{REQUEST_LOG_DROPPED}{{model_name="default",reason="write_error"}} 5' in text


class _Metrics:
    def __init__(self):
        self.counts = {}

    def count_request_log(self, model, outcome, count=1):
        self.counts[outcome] = self.counts.get(outcome, 0) + count


def _response(model="m", version=1):
    response = predict_pb2.PredictResponse()
    response.model_spec.name = model
    response.model_spec.version.value = version
    return response


def test_a_full_queue_drops_and_counts_instead_of_waiting(tmp_path, monkeypatch):
    metrics = _Metrics()
    logger = RequestLogger(LogSettings(directory=str(tmp_path), queue_size=2), metrics=metrics)
    holding, release = threading.Event(), threading.Event()
    # A writer stuck on a slow disk.
    monkeypatch.setattr(logger, "_write", lambda item: (holding.set(), release.wait(10)))
    logger.log(None, "predict_log", predict_pb2.PredictRequest(), _response(), "id")
    assert holding.wait(5)
    for _ in range(5):
        logger.log(None, "predict_log", predict_pb2.PredictRequest(), _response(), "id")
    # One record in the writer's hands, two queued, three dropped at once.
    assert metrics.counts == {"queue_full": 3}
    release.set()
    logger.close()


class FixedRandom:
    def __init__(self, values):
        self._values = iter(values)

    def random(self):
        return next(self._values)


def test_the_sampling_rate_is_honoured_and_a_tf_serving_logging_config_is_obeyed(tmp_path):
    config = model_server_config_pb2.ModelConfig(name="m")
    config.logging_config.log_collector_config.filename_prefix = str(tmp_path / "prefix")
    config.logging_config.sampling_config.sampling_rate = 0.5
    logger = RequestLogger(LogSettings(directory=str(tmp_path / "folder"), sampling_rate=0.25),
                           rng=FixedRandom([0.1, 0.1, 0.7, 0.7, 0.2, 0.4, 0.9, 0.9]))
    for _ in range(4):
        logger.log(config, "predict_log", predict_pb2.PredictRequest(), _response())
    logger.close()
    [prefixed] = glob.glob(str(tmp_path / "prefix-*.tfrecord"))
    assert sum(1 for _ in tf.data.TFRecordDataset(prefixed)) == 2  # 0.1 and 0.4 < 0.5
    assert len(read_logs(tmp_path / "folder")[("m", 1)]) == 2  # 0.1 and 0.2 < 0.25


def test_files_rotate_by_size_and_age(tmp_path, monkeypatch):
    logger = RequestLogger(LogSettings(directory=str(tmp_path), max_file_bytes=1, max_file_seconds=3600))
    for _ in range(3):
        logger.log(None, "predict_log", predict_pb2.PredictRequest(), _response(version=4))
    assert logger.flush()
    assert len(glob.glob(str(tmp_path / "m" / "4" / "*.tfrecord"))) == 3
    logger.close()
    aged = RequestLogger(LogSettings(directory=str(tmp_path / "aged"), max_file_seconds=0))
    for _ in range(2):
        aged.log(None, "predict_log", predict_pb2.PredictRequest(), _response(version=4))
    aged.close()
    assert len(glob.glob(str(tmp_path / "aged" / "m" / "4" / "*.tfrecord"))) == 2


def test_a_file_cut_mid_record_reads_up_to_its_last_whole_record(tmp_path):
    import io

    data = frame(b"first") + frame(b"second")
    assert list(read_records(io.BytesIO(data))) == [b"first", b"second"]
    assert list(read_records(io.BytesIO(data[:-3]))) == [b"first"]
    damaged = bytearray(data)
    damaged[len(frame(b"first")) + 14] ^= 0xFF
    with pytest.raises(ValueError, match="checksum"):
        list(read_records(io.BytesIO(bytes(damaged))))


def test_the_logging_is_off_without_a_folder_or_a_logging_config(start_server, model_store, tmp_path):
    endpoint = start_server(model_name="default", rest_api_port=0,
                            model_base_path=make_base_path(tmp_path, "m", model_store["half_plus_two"]))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    stub.Predict(predict_request("default", 1.0), RPC_TIMEOUT)
    assert endpoint.server.request_logger.flush()
    assert endpoint.server.metrics.counter(REQUEST_LOG_WRITTEN, ("default",)) == 0
    assert endpoint.server.request_logger.settings.directory == ""
