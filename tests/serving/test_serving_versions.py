"""Version lifecycle: hot swap under load, broken versions, warmup, and
in-flight requests finishing on the version they started on."""

import os
import shutil
import threading
import time

import grpc
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

import serving_test_models as models
from serving_test_helpers import RPC_TIMEOUT, make_base_path, wait_until, write_model_config

POLL_SECONDS = 1
RETRY_SECONDS = 0.5
State = get_model_status_pb2.ModelVersionStatus


@pytest.fixture(scope="module")
def env(start_server, model_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("versions")
    bases = {
        "swap": make_base_path(root, "swap", model_store["half_plus_two"], (1,)),
        "broken": make_base_path(root, "broken", model_store["half_plus_two"], (1,)),
        "warm": make_base_path(root, "warm", model_store["half_plus_two"], ()),
        "partial": make_base_path(root, "partial", model_store["half_plus_two"], (1,)),
    }
    config = write_model_config(root / "models.config",
                                [(n, b, "") for n, b in bases.items()])
    endpoint = start_server(model_config_file=config,
                            file_system_poll_wait_seconds=POLL_SECONDS,
                            load_retry_interval_micros=int(RETRY_SECONDS * 1e6))
    return endpoint, bases, model_store


def predict(stub, model, value=2.0):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(value)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    return stub.Predict(request, RPC_TIMEOUT)


def statuses(channel, model):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    try:
        response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            request, RPC_TIMEOUT)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return {}  # nothing tracked yet
        raise
    return {s.version: s for s in response.model_version_status}


def test_hot_swap_under_load(env):
    endpoint, bases, store = env
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    failures, seen, stop = [], {}, threading.Event()
    lock = threading.Lock()

    def client():
        while not stop.is_set():
            try:
                response = predict(stub, "swap")
            except grpc.RpcError as exc:
                with lock:
                    failures.append(exc.code())
                continue
            version = response.model_spec.version.value
            with lock:
                seen.setdefault(version, time.monotonic())
            time.sleep(0.002)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: 1 in seen)
        pushed = {}
        for version, template in ((2, "half_plus_three"), (3, "half_plus_two")):
            pushed[version] = time.monotonic()
            models.push_version(store[template], bases["swap"], version)
            wait_until(lambda v=version: v in seen, timeout=10 * POLL_SECONDS)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    delays = {v: round(seen[v] - pushed[v], 2) for v in (2, 3)}
    print("swap delays (s):", delays)
    # A version is noticed at the next poll (at most one interval), then loaded while 8 clients and the other
    # test worker share 2 cores: a fresh clone's run measured 1.15 and 2.11 s. Two intervals of slack for the load.
    assert all(delay <= 3 * POLL_SECONDS for delay in delays.values()), delays
    wait_until(lambda: statuses(endpoint.channel, "swap")[1].state == State.END)
    assert statuses(endpoint.channel, "swap")[3].state == State.AVAILABLE
    assert predict(stub, "swap").model_spec.version.value == 3


def test_version_without_saved_model_is_never_served(env):
    endpoint, bases, _ = env
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    incomplete = os.path.join(bases["broken"], "5")
    os.makedirs(os.path.join(incomplete, "variables"))
    wait_until(lambda: 5 in statuses(endpoint.channel, "broken"),
               timeout=4 * POLL_SECONDS)
    status = wait_until(
        lambda: (s := statuses(endpoint.channel, "broken")[5]).state == State.END and s)
    assert status.status.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert "saved_model" in status.status.error_message.lower() or \
        "SavedModel" in status.status.error_message
    time.sleep(POLL_SECONDS * 1.5)
    assert predict(stub, "broken").model_spec.version.value == 1
    shutil.rmtree(incomplete)


def test_corrupt_version_leaves_previous_serving_then_recovers(env):
    endpoint, bases, store = env
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    corrupt = os.path.join(bases["broken"], "6")
    os.makedirs(corrupt)
    with open(os.path.join(corrupt, "saved_model.pb"), "wb") as handle:
        handle.write(b"\x00not a saved model\xff" * 10)
    status = wait_until(
        lambda: (s := statuses(endpoint.channel, "broken").get(6)) is not None
        and s.state == State.END and s, timeout=6 * POLL_SECONDS)
    assert status.status.error_code != 0
    assert statuses(endpoint.channel, "broken")[1].state == State.AVAILABLE
    assert list(predict(stub, "broken").outputs["y"].float_val) == [3.0]
    # A fixed export under the same number is retried and then served.
    shutil.rmtree(corrupt)
    models.push_version(store["half_plus_three"], bases["broken"], 6)
    wait_until(lambda: predict(stub, "broken").model_spec.version.value == 6,
               timeout=6 * POLL_SECONDS)
    assert list(predict(stub, "broken").outputs["y"].float_val) == [4.0]


def test_half_copied_version_is_retried_until_complete(env):
    """saved_model.pb arrives before variables/, as with a plain recursive
    copy: the failed load is retried on the retry interval and then served."""
    endpoint, bases, store = env
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    target = os.path.join(bases["partial"], "2")
    os.makedirs(target)
    shutil.copy(os.path.join(store["half_plus_three"], "saved_model.pb"), target)
    wait_until(lambda: (s := statuses(endpoint.channel, "partial").get(2)) is not None
               and s.state == State.END and s.status.error_code != 0,
               timeout=6 * POLL_SECONDS)
    assert predict(stub, "partial").model_spec.version.value == 1
    shutil.copytree(os.path.join(store["half_plus_three"], "variables"),
                    os.path.join(target, "variables"))
    wait_until(lambda: predict(stub, "partial").model_spec.version.value == 2,
               timeout=4 * POLL_SECONDS + RETRY_SECONDS)
    assert list(predict(stub, "partial").outputs["y"].float_val) == [4.0]


def test_warmup_runs_before_available(env, tmp_path):
    endpoint, bases, store = env
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    staged = tmp_path / "warm7"
    shutil.copytree(store["half_plus_two"], staged)
    models.write_warmup(str(staged))
    models.push_version(str(staged), bases["warm"], 7)
    wait_until(lambda: statuses(endpoint.channel, "warm").get(7) is not None
               and statuses(endpoint.channel, "warm")[7].state == State.AVAILABLE,
               timeout=6 * POLL_SECONDS)
    assert predict(stub, "warm").model_spec.version.value == 7


def test_failing_warmup_fails_the_load(env, tmp_path):
    endpoint, bases, store = env
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    staged = tmp_path / "warm8"
    shutil.copytree(store["text"], staged)  # no input "x": warmup request fails
    models.write_warmup(str(staged))
    models.push_version(str(staged), bases["warm"], 8)
    status = wait_until(
        lambda: (s := statuses(endpoint.channel, "warm").get(8)) is not None
        and s.state == State.END and s, timeout=6 * POLL_SECONDS)
    assert "warm up" in status.status.error_message
    assert predict(stub, "warm").model_spec.version.value == 7


def test_in_flight_request_finishes_on_its_version(model_store, tmp_path):
    """Unloading waits for outstanding handles (checked on the manager itself)."""
    from tensorflow_serving.config import model_server_config_pb2

    from serving.servable import Servable
    from serving.version_manager import ModelVersions

    base = make_base_path(tmp_path, "m", model_store["half_plus_two"], (1,))
    config = model_server_config_pb2.ModelConfig(name="m", base_path=base)
    manager = ModelVersions(config, Servable.load)
    manager.poll()
    handle = manager.acquire()
    models.push_version(model_store["half_plus_three"], base, 2)
    manager.poll()
    with manager.acquire() as newest:
        assert newest.version == 2
    old = dict((v, s) for v, s, _ in manager.statuses())
    assert old[1] == State.UNLOADING
    outputs = handle.servable.run("serving_default", {"x": [[2.0]]}, ["y"])
    assert outputs["y"].tolist() == [[3.0]]
    handle.__exit__(None, None, None)
    wait_until(lambda: dict((v, s) for v, s, _ in manager.statuses())[1] == State.END)
    manager.retire_all()
