"""Serving benchmark: latency and throughput of the embedded TF Serving-protocol
server over gRPC and REST, with and without batching, and during a hot swap.

Reference: the same SavedModel signature called directly in-process, so the
difference is what the server layer costs (TF Serving's own layer is ~10 us per
request excluding gRPC; see /work/shared/docs/tfserving-protocol.md).

Server and client threads share one process (one TF process on a 2-core box),
so absolute numbers include client cost under the same GIL: compare rows with
each other, not with a production deployment. --target HOST:GRPC_PORT:REST_PORT
benchmarks an already running server instead (e.g. the real binary).

    .venv/bin/python bench/serving.py [--model_base_path work/serving/sentiment]
        [--model_name sentiment] [--example-feature text] [--seconds 4] [--out work/bench/serving.json]
Without --model_base_path a tiny text model is built (tests/serving fixtures).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder is sys.path[0] and its own name would
# shadow the `serving` package; the repository root must come first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(ROOT))
sys.modules.pop("serving", None)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TEXTS = ["the crew was wonderful and the flight was good",
         "two hours on the tarmac with no information"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile_ms(latencies: list, p: float) -> float:
    ordered = sorted(latencies) or [float("nan")]
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 3)


def summarize(name: str, latencies: list, errors: int, seconds: float) -> dict:
    ordered = sorted(latencies) or [float("nan")]

    def pct(p):
        return percentile_ms(ordered, p)

    return {"scenario": name, "requests": len(latencies), "errors": errors,
            "qps": round(len(latencies) / seconds, 1), "p50_ms": pct(50),
            "p90_ms": pct(90), "p99_ms": pct(99),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 3)}


def hammer(call, clients: int, seconds: float, events=None) -> tuple:
    """Runs call() from `clients` threads for `seconds`; returns
    ([(start_time, latency)], errors)."""
    samples, errors, lock = [], [0], threading.Lock()
    deadline = time.monotonic() + seconds

    def worker():
        local, failed = [], 0
        while time.monotonic() < deadline:
            start = time.monotonic()
            try:
                call()
            except Exception:  # counted, not raised: the bench measures failures
                failed += 1
                continue
            local.append((start, time.monotonic() - start))
        with lock:
            samples.extend(local)
            errors[0] += failed

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for action_at, action in (events or []):
        time.sleep(max(0.0, action_at - (time.monotonic() - (deadline - seconds))))
        action()
    for thread in threads:
        thread.join()
    return samples, errors[0]


def build_requests(grpc_target: str, rest_url: str, model: str, example_feature):
    import grpc
    import numpy as np
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving import tensors
    from serving.client import GrpcClient, _example_bytes

    host, port = grpc_target.rsplit(":", 1)
    with GrpcClient(host, int(port)) as client:
        (input_key,) = client.signature_inputs(model)
    payload = [_example_bytes(example_feature, t) if example_feature else t.encode()
               for t in TEXTS]
    array = np.empty(len(payload), dtype=object)
    array[:] = payload
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs[input_key].CopyFrom(tensors.to_tensor_proto(array))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(grpc_target))

    import base64
    rows = [{"b64": base64.b64encode(p).decode()} if example_feature else p.decode()
            for p in payload]
    body = json.dumps({"inputs": {input_key: rows}}).encode()
    url = f"{rest_url}/v1/models/{model}:predict"

    def grpc_call():
        stub.Predict(request, timeout=10)

    def rest_call():
        http_request = urllib.request.Request(url, data=body, method="POST")
        with urllib.request.urlopen(http_request, timeout=10) as response:
            response.read()

    return input_key, array, grpc_call, rest_call


def embedded_server(base_path: str, model: str, batching: bool, poll: int = 1):
    from serving.options import ServerOptions
    from serving.server import ModelServer

    flags = dict(port=0, rest_api_port=free_port(), model_name=model,
                 model_base_path=base_path, file_system_poll_wait_seconds=poll)
    if batching:
        params = Path(tempfile.mkdtemp()) / "batching.txt"
        params.write_text("max_batch_size { value: 8 } batch_timeout_micros { value: 1000 } "
                          "num_batch_threads { value: 2 }")
        flags.update(enable_batching=True, batching_parameters_file=str(params))
    server = ModelServer(ServerOptions(**flags)).start()
    return server, f"127.0.0.1:{server.grpc_port}", f"http://127.0.0.1:{server.rest_port}"


def tiny_model(workdir: Path) -> str:
    sys.path.insert(0, str(ROOT / "tests" / "serving"))
    import serving_test_models

    base = workdir / "text"
    serving_test_models.build_text_model(str(base / "1"))
    return str(base)


def latest_version_dir(base_path: str) -> Path:
    versions = [int(p.name) for p in Path(base_path).iterdir() if p.name.isdigit()]
    return Path(base_path) / str(max(versions))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_base_path")
    parser.add_argument("--model_name", default="text")
    parser.add_argument("--example-feature", dest="example_feature")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--target", help="HOST:GRPC_PORT:REST_PORT of a running server")
    parser.add_argument("--out", default=str(ROOT / "work" / "bench" / "serving.json"))
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench_serving_"))
    results = []
    try:
        if args.model_base_path:
            # A private copy: the hot-swap scenario pushes versions into it.
            base = str(workdir / "model")
            shutil.copytree(latest_version_dir(args.model_base_path), Path(base) / "1")
        elif not args.target:
            base = tiny_model(workdir)

        def run_suite(label, grpc_target, rest_url, batching):
            _, array, grpc_call, rest_call = build_requests(
                grpc_target, rest_url, args.model_name, args.example_feature)
            for clients in (1, args.clients):
                for proto, call in (("grpc", grpc_call), ("rest", rest_call)):
                    if batching and proto == "rest":
                        continue
                    samples, errors = hammer(call, clients, args.seconds)
                    results.append(summarize(f"{label} {proto} c={clients}",
                                             [s[1] for s in samples], errors, args.seconds))
                    print(json.dumps(results[-1]), flush=True)
            return array

        if args.target:
            host, grpc_port, rest_port = args.target.split(":")
            run_suite("external", f"{host}:{grpc_port}", f"http://{host}:{rest_port}",
                      batching=False)
        else:
            server, grpc_target, rest_url = embedded_server(base, args.model_name, False)
            array = run_suite("embedded", grpc_target, rest_url, batching=False)
            # Direct reference: the same signature without any server.
            from tensorflow_serving.apis import model_pb2

            with server.registry.acquire(model_pb2.ModelSpec(name=args.model_name)) as handle:
                servable = handle.servable
            key = next(iter(servable.signature_defs["serving_default"].inputs))
            samples, errors = hammer(lambda: servable.run("serving_default", {key: array}, None),
                                     1, args.seconds)
            results.append(summarize("direct signature call c=1", [s[1] for s in samples],
                                     errors, args.seconds))
            print(json.dumps(results[-1]), flush=True)
            results.append(hot_swap(server, grpc_target, rest_url, base, args))
            print(json.dumps(results[-1]), flush=True)
            server.stop()

            server, grpc_target, rest_url = embedded_server(base, args.model_name, True)
            run_suite("batching", grpc_target, rest_url, batching=True)
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


def hot_swap(server, grpc_target, rest_url, base, args) -> dict:
    """gRPC load for 3 x seconds; a new version is pushed a third of the way in.
    Reports latency before the push and in the window after it, and errors."""
    _, _, grpc_call, _ = build_requests(grpc_target, rest_url, args.model_name,
                                        args.example_feature)
    total = 3 * args.seconds
    pushed = {}

    def push():
        staging = Path(base) / ".staging"
        shutil.copytree(latest_version_dir(base), staging)
        pushed["at"] = time.monotonic()
        staging.rename(Path(base) / str(int(latest_version_dir(base).name) + 1))

    samples, errors = hammer(grpc_call, 4, total, events=[(total / 3, push)])
    window = min(3.0, total * 2 / 3)
    before = [lat for start, lat in samples if start < pushed["at"]]
    during = [lat for start, lat in samples if pushed["at"] <= start < pushed["at"] + window]
    row = summarize(f"hot swap grpc c=4 (during {window:g} s after push)", during, errors,
                    window)
    row["p99_ms_before_push"] = percentile_ms(before, 99)
    return row


if __name__ == "__main__":
    main()
