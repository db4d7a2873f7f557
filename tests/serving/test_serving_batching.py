"""Server-side batching: concurrent Predict calls share model runs and each
caller still gets exactly its own rows back."""

import threading

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving_test_helpers import RPC_TIMEOUT, make_base_path, wait_until

from serving.batching import Batcher


@pytest.fixture(scope="module")
def endpoint(start_server, model_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("batching")
    params = root / "batching_parameters.txt"
    params.write_text("max_batch_size { value: 8 }\n"
                      "batch_timeout_micros { value: 20000 }\n"
                      "num_batch_threads { value: 1 }\n")
    base = make_base_path(root, "default", model_store["half_plus_two"])
    return start_server(model_name="default", model_base_path=base,
                        enable_batching=True, batching_parameters_file=str(params))


def request_for(values, shape=None):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.extend(values)
    for size in (shape if shape is not None else [len(values)]):
        request.inputs["x"].tensor_shape.dim.add().size = size
    return request


def test_concurrent_predicts_are_batched(endpoint):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    batcher = endpoint.server.batcher
    before = batcher.batches_run
    results, errors = {}, []
    barrier = threading.Barrier(16)

    def call(i):
        barrier.wait()
        try:
            response = stub.Predict(request_for([float(i)]), RPC_TIMEOUT)
            results[i] = list(response.outputs["y"].float_val)
        except grpc.RpcError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == {i: [0.5 * i + 2.0] for i in range(16)}
    assert batcher.batches_run - before < 16


def test_scalar_input_is_rejected_when_batching(endpoint):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request_for([2.0], shape=[]), RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at least one dimension" in info.value.details()


class RecordingServable:
    """Stands in for a model: doubles its input and records batch shapes."""

    def __init__(self):
        self.batch_rows = []

    def run(self, signature, inputs, keys):
        self.batch_rows.append(inputs["x"].shape[0])
        return {"y": inputs["x"] * 2}


def test_batches_are_padded_to_allowed_sizes():
    batcher = Batcher(max_batch_size=4, batch_timeout_micros=200000,
                      num_batch_threads=1, allowed_batch_sizes=[2, 4])
    servable = RecordingServable()
    outputs = {}
    barrier = threading.Barrier(3)

    def call(i):
        barrier.wait()
        outputs[i] = batcher.submit(servable, "sig", {"x": np.array([[float(i)]])},
                                    ["y"])["y"].tolist()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.stop()
    assert outputs == {i: [[2.0 * i]] for i in range(3)}
    assert all(rows in (2, 4) for rows in servable.batch_rows)
    assert sum(servable.batch_rows) >= 3 and len(servable.batch_rows) < 3


def test_full_queue_is_unavailable():
    batcher = Batcher(max_batch_size=1, batch_timeout_micros=0,
                      max_enqueued_batches=1, num_batch_threads=1)
    started, release = threading.Event(), threading.Event()

    class Slow:
        def run(self, signature, inputs, keys):
            started.set()
            release.wait(5)
            return {"y": inputs["x"]}

    servable = Slow()
    first = threading.Thread(target=batcher.submit,
                             args=(servable, "s", {"x": np.ones((1, 1))}, ["y"]))
    first.start()
    started.wait(5)
    second = threading.Thread(target=batcher.submit,
                              args=(servable, "s", {"x": np.ones((1, 1))}, ["y"]))
    second.start()
    from serving.errors import ServingError

    try:
        wait_until(lambda: batcher.pending_rows() == 1)  # `second` holds the slot
        with pytest.raises(ServingError) as info:
            batcher.submit(servable, "s", {"x": np.ones((1, 1))}, ["y"])
        assert info.value.code == grpc.StatusCode.UNAVAILABLE
    finally:
        release.set()
        first.join()
        second.join()
        batcher.stop()
