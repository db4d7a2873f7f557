"""Helpers shared by the serving tests (kept out of conftest.py so test
modules import them by a name no other test directory uses)."""

import glob
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import grpc
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from net_helpers import free_port  # noqa: F401  (serving tests import it from here)
from serving.tfrecord import read_records

RPC_TIMEOUT = 10.0


def make_base_path(root, name, template, versions=(123,)):
    base = os.path.join(str(root), name)
    os.makedirs(base, exist_ok=True)
    for version in versions:
        shutil.copytree(template, os.path.join(base, str(version)))
    return base


class Endpoint:
    """Where a server under test listens, whichever implementation it is."""

    def __init__(self, grpc_port, rest_port, server=None, process=None):
        self.grpc_target = f"127.0.0.1:{grpc_port}"
        self.rest_url = f"http://127.0.0.1:{rest_port}" if rest_port else None
        self.server = server
        self.process = process
        self.channel = grpc.insecure_channel(self.grpc_target)

    def close(self):
        self.channel.close()
        if self.server is not None:
            self.server.stop(grace=0)
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


def real_binary():
    return os.environ.get("TF_SERVING_BINARY") or shutil.which("tensorflow_model_server")


def start_binary(flags):
    binary = real_binary()
    if not binary:
        pytest.skip("real-binary variant: tensorflow_model_server not on PATH and "
                    "TF_SERVING_BINARY unset (no Docker/binary on this machine)")
    grpc_port, rest_port = free_port(), free_port()
    args = [binary, f"--port={grpc_port}", f"--rest_api_port={rest_port}"]
    args += [f"--{k}={v}" for k, v in flags.items() if k not in ("host",)]
    process = subprocess.Popen(args)
    endpoint = Endpoint(grpc_port, rest_port, process=process)
    grpc.channel_ready_future(endpoint.channel).result(timeout=60)
    time.sleep(1.0)  # the binary opens its port before models finish loading
    return endpoint


def start_embedded(flags):
    from serving.options import ServerOptions
    from serving.server import ModelServer

    flags = dict(flags)
    flags.setdefault("port", 0)
    flags.setdefault("rest_api_port", free_port())
    flags.setdefault("rest_api_timeout_in_ms", 5000)
    server = ModelServer(ServerOptions(**flags)).start()
    return Endpoint(server.grpc_port, server.rest_port, server=server)


def wait_until(condition, timeout=10.0, interval=0.05):
    """Polls condition() until truthy; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")


def write_model_config(path, models):
    """models: [(name, base_path, extra_text)] -> text ModelServerConfig file."""
    entries = "".join(
        f'  config {{ name: "{name}" base_path: "{base}" '
        f'model_platform: "tensorflow" {extra} }}\n'
        for name, base, extra in models)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"model_config_list {{\n{entries}}}\n")
    return str(path)


def http(method, url, body=None, raw=None, timeout=RPC_TIMEOUT):
    """(status, parsed JSON or text) for one REST call; never raises on 4xx/5xx."""
    data = raw if raw is not None else (
        json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload, kind = (response.status, response.read(),
                                     response.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as exc:
        status, payload, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    if "json" in kind:
        return status, json.loads(payload)
    return status, payload.decode("utf-8")


def read_logs(folder):
    """{(model, version): [PredictionLog]} of every file under a request log folder, oldest file first."""
    found = {}
    for path in sorted(glob.glob(os.path.join(str(folder), "*", "*", "*.tfrecord"))):
        model, version = path.split(os.sep)[-3:-1]
        with open(path, "rb") as f:
            found.setdefault((model, int(version)), []).extend(
                prediction_log_pb2.PredictionLog.FromString(r) for r in read_records(f))
    return found


def predict_request(model, value):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(value)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    return request
