"""Server-side batching: concurrent Predict calls share model runs and each
caller still gets exactly its own rows back."""

import threading
import time

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving_test_helpers import RPC_TIMEOUT, make_base_path, wait_until

from serving.batching import Batcher
from serving.errors import ServingError


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


def test_request_bigger_than_a_batch_runs_alone(endpoint):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    response = stub.Predict(request_for([float(i) for i in range(10)]), RPC_TIMEOUT)
    assert list(response.outputs["y"].float_val) == [0.5 * i + 2.0 for i in range(10)]


def test_abandoned_call_leaves_the_server_healthy(endpoint):
    # The 20 ms batch timeout outlasts this deadline: the server's coroutine is
    # cancelled while its task still sits in a batch that runs later.
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request_for([1.0]), 0.005)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(0.05)
    response = stub.Predict(request_for([4.0]), RPC_TIMEOUT)
    assert list(response.outputs["y"].float_val) == [4.0]


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


def submit_all(batcher, servable, arrays, keys=("y",)):
    """Submits each array from its own thread; returns {index: outputs}."""
    results, errors = {}, []

    def call(i, array):
        try:
            results[i] = batcher.submit(servable, "s", {"x": array}, list(keys))
        except ServingError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i, a)) for i, a in enumerate(arrays)]
    for thread in threads:
        thread.start()
    return threads, results, errors


class GatedServable(RecordingServable):
    """Blocks in run() until released, so tests can hold the batch thread."""

    def __init__(self):
        super().__init__()
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def run(self, signature, inputs, keys):
        self.entered.release()
        self.release.wait(10)
        return super().run(signature, inputs, keys)


def test_open_batch_grows_while_every_batch_thread_is_busy():
    # As in TF Serving: a timed-out batch is only closed when a thread is free
    # to take it, so tasks arriving meanwhile join it.
    batcher = Batcher(max_batch_size=8, batch_timeout_micros=0, num_batch_threads=1)
    servable = GatedServable()
    first, results, errors = submit_all(batcher, servable, [np.ones((1, 1))])
    assert servable.entered.acquire(timeout=10)
    rest, more, _ = submit_all(batcher, servable, [np.full((1, 1), i) for i in range(5)])
    wait_until(lambda: batcher.pending_rows() == 5)
    servable.release.set()
    for thread in first + rest:
        thread.join(10)
    batcher.stop()
    assert errors == []
    assert servable.batch_rows == [1, 5]
    assert {i: out["y"].tolist() for i, out in more.items()} == {
        i: [[2.0 * i]] for i in range(5)}


def test_tasks_that_do_not_fit_or_differ_in_shape_start_new_batches():
    batcher = Batcher(max_batch_size=4, batch_timeout_micros=0, num_batch_threads=1,
                      max_enqueued_batches=10)
    servable = GatedServable()
    first, _, _ = submit_all(batcher, servable, [np.ones((1, 1))])
    assert servable.entered.acquire(timeout=10)
    arrays = [np.ones((3, 1)), np.ones((2, 1)), np.ones((1, 2)), np.ones((1, 2))]
    threads = []
    for array in arrays:  # one at a time, so the batches form in this order
        started, results, errors = submit_all(batcher, servable, [array])
        threads += started
        wait_until(lambda n=len(threads): batcher.pending_rows()
                   == sum(a.shape[0] for a in arrays[:n]))
    servable.release.set()
    for thread in first + threads:
        thread.join(10)
    batcher.stop()
    assert servable.batch_rows == [1, 3, 2, 2]


def test_a_lone_task_waits_for_the_timeout_and_a_full_batch_does_not():
    batcher = Batcher(max_batch_size=2, batch_timeout_micros=300000, num_batch_threads=1)
    servable = RecordingServable()
    start = time.monotonic()
    batcher.submit(servable, "s", {"x": np.ones((1, 1))}, ["y"])
    assert time.monotonic() - start >= 0.29
    start = time.monotonic()
    batcher.submit(servable, "s", {"x": np.ones((2, 1))}, ["y"])
    assert time.monotonic() - start < 0.25
    batcher.stop()
    assert servable.batch_rows == [1, 2]


def test_stop_runs_queued_tasks_and_refuses_new_ones():
    batcher = Batcher(max_batch_size=8, batch_timeout_micros=10_000_000,
                      num_batch_threads=2)
    servable = RecordingServable()
    threads, results, errors = submit_all(batcher, servable,
                                          [np.ones((1, 1)) for _ in range(3)])
    wait_until(lambda: batcher.pending_rows() == 3)
    batcher.stop()
    for thread in threads:
        thread.join(10)
    assert errors == [] and len(results) == 3
    with pytest.raises(ServingError) as info:
        batcher.submit(servable, "s", {"x": np.ones((1, 1))}, ["y"])
    assert info.value.code == grpc.StatusCode.UNAVAILABLE


def test_model_errors_reach_every_task_of_the_batch():
    class Broken:
        def run(self, signature, inputs, keys):
            raise ValueError("kaputt")

    batcher = Batcher(max_batch_size=4, batch_timeout_micros=50000, num_batch_threads=1)
    threads, results, errors = submit_all(batcher, Broken(),
                                          [np.ones((1, 1)) for _ in range(3)])
    for thread in threads:
        thread.join(10)
    batcher.stop()
    assert results == {} and len(errors) == 3
    assert all(e.code == grpc.StatusCode.INTERNAL and "kaputt" in e.message
               for e in errors)
