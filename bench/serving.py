"""Serving benchmark: latency and throughput of the embedded TF Serving-protocol
server over gRPC and REST, batching off and on, at 1, 8 and 32 concurrent
clients, a hot swap under load, and the same SavedModel signature called
in-process (the floor), both one request's texts at a time and in batches of
max_batch_size texts (the batched floor). Ends with a markdown table and the
serving issue's three target checks:

  1. gRPC p50 at 1 client (batching off) <= in-process p50 + 1 ms
  2. batching on, gRPC at 32 clients: texts/s >= 70% of the in-process batched rate
  3. REST p50 <= 2 x gRPC p50 (every batching mode and client count)

Where the server runs (--server):
  process  `python -m serving --embedded ...` as a subprocess; clients and the
           floors run in this process, so server and clients do not share a GIL
           (default; what docs/benchmarks.md records).
  thread   server threads inside this process: server and clients share one GIL,
           so the rows include client cost and GIL contention.
--target HOST:GRPC_PORT:REST_PORT benchmarks an already running server (e.g.
the real binary) instead; its batching setting is whatever it was started with.

gRPC clients are coroutines on one event loop, each with its own channel and one
call in flight (bench/grpc_load.py; --grpc-load threads for one thread per
client, as in the earlier recorded runs); REST clients are threads. The
"ceiling" rows run the same gRPC load against bench/canned_grpc.py, which
answers with a canned copy of the server's response: the most this load
generator and Python gRPC reach on this machine with no server work at all.

    .venv/bin/python bench/serving.py --model_base_path work/bench/sentiment/serving/sentiment
        --model_name sentiment [--seconds 5] [--clients 1,8,32] [--server process|thread]
        [--batching_parameters_file serving/deploy/batching_parameters.txt]
        [--example-feature text] [--out work/bench/serving.json]
        [--modes off,on] [--protocols grpc,rest] [--grpc-load asyncio|threads]
        [--no-hot-swap] [--no-ceiling]
Without --model_base_path a tiny text model is built (tests/serving fixtures).
"""
from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
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
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
sys.modules.pop("serving", None)
from net_helpers import free_port  # noqa: E402  (tests/net_helpers.py: the tests' helper, shared)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TEXTS = ["the crew was wonderful and the flight was good",
         "two hours on the tarmac with no information"]
DEFAULT_BATCHING = ROOT / "serving" / "deploy" / "batching_parameters.txt"


def percentile_ms(latencies: list, p: float) -> float:
    ordered = sorted(latencies) or [float("nan")]
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 3)


def summarize(mode: str, protocol: str, clients: int, latencies: list, errors: int,
              seconds: float, texts_per_call: int) -> dict:
    ordered = sorted(latencies) or [float("nan")]
    rps = len(latencies) / seconds
    return {"mode": mode, "protocol": protocol, "clients": clients,
            "requests": len(latencies), "errors": errors,
            "rps": round(rps, 1), "texts_per_s": round(rps * texts_per_call, 1),
            "texts_per_call": texts_per_call,
            "p50_ms": percentile_ms(ordered, 50), "p90_ms": percentile_ms(ordered, 90),
            "p99_ms": percentile_ms(ordered, 99),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 3)}


def hammer(factory, clients: int, seconds: float, events=None) -> tuple:
    """Runs `clients` threads for `seconds`; each gets its own (call, close) from
    factory() (its own channel or connection) and calls call() in a loop.
    Returns ([(start_time, latency)], errors)."""
    samples, errors, kinds, lock = [], [0], {}, threading.Lock()
    ready = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker():
        call, close = factory()
        local, failed = [], 0
        ready.wait()
        try:
            while time.perf_counter() < deadline[0]:
                start = time.perf_counter()
                try:
                    call()
                except Exception as exc:  # counted, not raised: the bench measures failures
                    failed += 1
                    kind = f"{type(exc).__name__}: {str(exc)[:120]}"
                    with lock:
                        kinds[kind] = kinds.get(kind, 0) + 1
                    continue
                local.append((start, time.perf_counter() - start))
        finally:
            close()
        with lock:
            samples.extend(local)
            errors[0] += failed

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    ready.wait()
    for action_at, action in (events or []):
        time.sleep(max(0.0, action_at - (time.perf_counter() - began)))
        action()
    for thread in threads:
        thread.join()
    if kinds:
        print(f"# errors: {kinds}", flush=True)
    return samples, errors[0]


def measure(load, clients, seconds, warmup, mode, protocol, texts_per_call):
    """load(clients, seconds) -> (samples, errors): a hammer bound to its callers."""
    started = time.strftime("%H:%M:%S")
    if warmup > 0:
        load(clients, warmup)  # connections, caches, TF kernels; discarded
    samples, errors = load(clients, seconds)
    row = summarize(mode, protocol, clients, [s[1] for s in samples], errors, seconds,
                    texts_per_call)
    row["started"] = started  # wall clock, to match rows against other jobs on the box
    print(json.dumps(row), flush=True)
    return row


def payload(example_feature, texts):
    from serving.client import example_bytes

    return [example_bytes(example_feature, t) if example_feature else t.encode()
            for t in texts]


def object_array(items):
    import numpy as np

    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


class Callers:
    """Per-client gRPC and REST Predict callers for one server."""

    def __init__(self, grpc_target: str, rest_url: str, model: str, example_feature,
                 texts, rest_new_connection=False):
        import base64

        from tensorflow_serving.apis import predict_pb2

        from serving import tensors
        from serving.client import GrpcClient

        host, port = grpc_target.rsplit(":", 1)
        with GrpcClient(host, int(port)) as client:
            (self.input_key,) = client.signature_inputs(model)
        items = payload(example_feature, texts)
        self.request = predict_pb2.PredictRequest()
        self.request.model_spec.name = model
        self.request.inputs[self.input_key].CopyFrom(
            tensors.to_tensor_proto(object_array(items)))
        rows = [{"b64": base64.b64encode(p).decode()} if example_feature else p.decode()
                for p in items]
        self.body = json.dumps({"inputs": {self.input_key: rows}}).encode()
        self.grpc_target = grpc_target
        rest = urllib.request.urlparse(rest_url)
        self.rest_host, self.rest_port = rest.hostname, rest.port
        self.rest_path = f"/v1/models/{model}:predict"
        self.rows = len(texts)
        self.rest_new_connection = rest_new_connection

    def grpc_load(self, kind):
        """A load(clients, seconds, events) for measure() and hot_swap()."""
        return grpc_load_for(kind, self.grpc_target, self.request)

    def rest(self):
        """One keep-alive HTTP/1.1 connection per client (like requests.Session);
        with rest_new_connection, a new connection per request (Connection: close)."""
        conn = [None]
        headers = {"Content-Type": "application/json"}
        if self.rest_new_connection:
            headers["Connection"] = "close"

            def call_new():
                fresh = http.client.HTTPConnection(self.rest_host, self.rest_port, timeout=10)
                try:
                    fresh.request("POST", self.rest_path, self.body, headers)
                    response = fresh.getresponse()
                    data = response.read()
                finally:
                    fresh.close()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")

            return call_new, lambda: None

        def call():
            if conn[0] is None:
                conn[0] = http.client.HTTPConnection(self.rest_host, self.rest_port,
                                                     timeout=10)
            try:
                conn[0].request("POST", self.rest_path, self.body, headers)
                response = conn[0].getresponse()
                data = response.read()
            except Exception:
                conn[0].close()
                conn[0] = None
                raise
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")

        def close():
            if conn[0] is not None:
                conn[0].close()

        return call, close

    def check(self):
        """One call each way; fails loudly if the answers are not per-text rows."""
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        with grpc.insecure_channel(self.grpc_target) as channel:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                self.request, timeout=30)
        outputs = {k: list(v.tensor_shape.dim) for k, v in response.outputs.items()}
        for key, dims in outputs.items():
            if not dims or dims[0].size != self.rows:
                raise SystemExit(f"gRPC output {key} has shape {dims}, expected "
                                 f"{self.rows} rows")
        conn = http.client.HTTPConnection(self.rest_host, self.rest_port, timeout=30)
        conn.request("POST", self.rest_path, self.body, {"Content-Type": "application/json"})
        answer = conn.getresponse()
        data = json.loads(answer.read())
        conn.close()
        if answer.status != 200 or "outputs" not in data:
            raise SystemExit(f"REST predict failed: {answer.status} {data}")
        self.response = response
        return sorted(outputs)


def grpc_load_for(kind, target, request):
    """Predict load on `target`: asyncio clients (bench/grpc_load.py) or one
    thread per client, each client with its own channel (HTTP/2 connection)."""
    if kind == "asyncio":
        from bench import grpc_load

        return functools.partial(grpc_load.hammer, target, request)

    def factory():
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        channel = grpc.insecure_channel(target,
                                        options=[("grpc.use_local_subchannel_pool", 1)])
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return (lambda: stub.Predict(request, timeout=10)), channel.close

    return functools.partial(hammer, factory)


class ThreadServer:
    """The embedded server inside this process (shares the GIL with the clients)."""

    def __init__(self, base_path, model, batching_file, poll=1):
        from serving.options import ServerOptions
        from serving.server import ModelServer

        flags = dict(port=0, rest_api_port=free_port(), model_name=model,
                     model_base_path=base_path, file_system_poll_wait_seconds=poll)
        if batching_file:
            flags.update(enable_batching=True, batching_parameters_file=str(batching_file))
        self.server = ModelServer(ServerOptions(**flags)).start()
        self.grpc_target = f"127.0.0.1:{self.server.grpc_port}"
        self.rest_url = f"http://127.0.0.1:{self.server.rest_port}"

    def batches_run(self):
        batcher = self.server.batcher
        return batcher.batches_run if batcher is not None else None

    def stop(self):
        self.server.stop()


class ProcessServer:
    """`python -m serving --embedded ...` as a subprocess: its own interpreter and
    GIL, so client threads here do not slow the server's Python code."""

    def __init__(self, base_path, model, batching_file, log_dir: Path, poll=1,
                 ready_timeout=180.0, extra_flags=()):
        grpc_port, rest_port = free_port(), free_port()
        cmd = [sys.executable, "-m", "serving", "--embedded", f"--port={grpc_port}",
               f"--rest_api_port={rest_port}", f"--model_name={model}",
               f"--model_base_path={base_path}",
               f"--file_system_poll_wait_seconds={poll}"]
        if batching_file:
            cmd += ["--enable_batching=true", f"--batching_parameters_file={batching_file}"]
        cmd += list(extra_flags)
        self.log_path = log_dir / f"server-{grpc_port}.log"
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         env=env)
        self.grpc_target = f"127.0.0.1:{grpc_port}"
        self.rest_url = f"http://127.0.0.1:{rest_port}"
        deadline = time.monotonic() + ready_timeout
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}:\n"
                                 + self.log_path.read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{self.rest_url}/v1/models/{model}",
                                            timeout=2) as response:
                    states = [v["state"] for v in
                              json.loads(response.read())["model_version_status"]]
                if "AVAILABLE" in states:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"server not ready after {ready_timeout:g} s:\n"
                                 + self.log_path.read_text()[-3000:])
            time.sleep(0.25)

    def batches_run(self):
        return None  # not observable from outside the process

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def tiny_model(workdir: Path) -> str:
    sys.path.insert(0, str(ROOT / "tests" / "serving"))
    import serving_test_models

    base = workdir / "text"
    serving_test_models.build_text_model(str(base / "1"))
    return str(base)


def latest_version_dir(base_path: str) -> Path:
    versions = [int(p.name) for p in Path(base_path).iterdir() if p.name.isdigit()]
    return Path(base_path) / str(max(versions))


def read_batching(path) -> dict:
    from serving import options as opts

    return opts.batching_parameters(opts.ServerOptions(batching_parameters_file=str(path)))


def floors(version_dir: Path, args, texts, batch_size, batch_threads) -> list:
    """The serving signature called in-process through the same Servable.run the
    server uses (numpy in, tf.constant, signature call, numpy out): one request's
    texts per call at one client, and batches of max_batch_size texts, from one
    thread and from min(num_batch_threads, cores) threads."""
    from serving.servable import Servable

    servable = Servable.load(args.model_name, 1, str(version_dir))
    key = next(iter(servable.signature_defs["serving_default"].inputs))
    single = object_array(payload(args.example_feature, texts))
    batched_texts = [TEXTS[i % len(TEXTS)] for i in range(batch_size)]
    batched = object_array(payload(args.example_feature, batched_texts))

    def caller(array):
        def factory():
            return (lambda: servable.run("serving_default", {key: array}, None)), (lambda: None)
        return factory

    rows = [measure(functools.partial(hammer, caller(single)), 1, args.seconds,
                    args.warmup, "in-process floor", "direct", len(texts))]
    for threads in sorted({1, batch_threads}):
        rows.append(measure(functools.partial(hammer, caller(batched)), threads,
                            args.seconds, args.warmup,
                            f"in-process batched floor ({batch_size} texts/call)",
                            "direct", batch_size))
    return rows


def run_suite(server, mode, args, texts, batching: bool) -> list:
    callers = Callers(server.grpc_target, server.rest_url, args.model_name,
                      args.example_feature, texts, args.rest_connection == "new")
    print(f"# {mode}: outputs {callers.check()}", flush=True)
    loads = {"grpc": callers.grpc_load(args.grpc_load),
             "rest": functools.partial(hammer, callers.rest)}
    rows = []
    for clients in args.clients:
        for protocol in args.protocols:
            before = server.batches_run()
            row = measure(loads[protocol], clients, args.seconds, args.warmup, mode,
                          protocol, len(texts))
            after = server.batches_run()
            if batching and before is not None:
                # Counted over warmup + measurement; shows the protocol really batches.
                row["batches_run"] = after - before
            rows.append(row)
    # What the ceiling's canned server is asked and answers.
    server.request, server.response = callers.request, callers.response
    return rows


def ceiling(request, response, args, texts, workdir: Path) -> list:
    """The gRPC load against bench/canned_grpc.py answering `response`."""
    path = workdir / "canned_response.pb"
    path.write_bytes(response.SerializeToString())
    port = free_port()
    log_path = workdir / "canned.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "canned_grpc.py"),
                                 f"--port={port}", f"--response={path}"],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    try:
        deadline = time.monotonic() + 120
        while "CANNED-SERVER-LISTENING" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("canned server did not start:\n" + log_path.read_text())
            time.sleep(0.2)
        load = grpc_load_for(args.grpc_load, f"127.0.0.1:{port}", request)
        return [measure(load, clients, args.seconds, args.warmup,
                        "ceiling: canned response, no server work", "grpc", len(texts))
                for clients in args.clients]
    finally:
        proc.terminate()
        proc.wait(30)


def hot_swap(server, base, args, texts) -> dict:
    """gRPC load from 4 clients for 3 x seconds; a new version is pushed a third of
    the way in. Latency in the window after the push, p99 before it, and errors."""
    callers = Callers(server.grpc_target, server.rest_url, args.model_name,
                      args.example_feature, texts)
    total = 3 * args.seconds
    pushed = {}

    def push():
        staging = Path(base) / ".staging"
        shutil.copytree(latest_version_dir(base), staging)
        pushed["at"] = time.perf_counter()
        staging.rename(Path(base) / str(int(latest_version_dir(base).name) + 1))

    started = time.strftime("%H:%M:%S")
    callers.check()
    samples, errors = callers.grpc_load(args.grpc_load)(4, total,
                                                        events=[(total / 3, push)])
    window = min(3.0, total * 2 / 3)
    before = [lat for start, lat in samples if start < pushed["at"]]
    during = [lat for start, lat in samples if pushed["at"] <= start < pushed["at"] + window]
    row = summarize(f"hot swap (batching off, {window:g} s after a version push)", "grpc",
                    4, during, errors, window, len(texts))
    row["p99_ms_before_push"] = percentile_ms(before, 99)
    row["started"] = started
    print(json.dumps(row), flush=True)
    return row


def find(rows, mode_prefix, protocol, clients):
    for row in rows:
        if (row["mode"].startswith(mode_prefix) and row["protocol"] == protocol
                and row["clients"] == clients):
            return row
    return None


def target_checks(rows, clients_list) -> list:
    checks = []
    floor = find(rows, "in-process floor", "direct", 1)
    grpc1 = find(rows, "batching off", "grpc", 1)
    if floor and grpc1:
        limit = floor["p50_ms"] + 1.0
        checks.append({
            "target": "gRPC p50 at 1 client <= in-process p50 + 1 ms",
            "measured": f"gRPC p50 {grpc1['p50_ms']:.3f} ms vs in-process "
                        f"{floor['p50_ms']:.3f} ms + 1 = {limit:.3f} ms "
                        f"(overhead {grpc1['p50_ms'] - floor['p50_ms']:.3f} ms)",
            "pass": grpc1["p50_ms"] <= limit})
    batched_floors = [r for r in rows if r["mode"].startswith("in-process batched floor")]
    top = max(clients_list)
    if batched_floors:
        best = max(batched_floors, key=lambda r: r["texts_per_s"])
        for protocol in ("grpc", "rest"):
            row = find(rows, "batching on", protocol, top)
            if row is None:
                continue
            ratio = row["texts_per_s"] / best["texts_per_s"]
            checks.append({
                "target": f"batching on, {protocol} at {top} clients >= 70% of the "
                          "in-process batched rate"
                          + ("" if protocol == "grpc" else " (REST: informational)"),
                "measured": f"{row['texts_per_s']:.0f} texts/s vs {best['texts_per_s']:.0f} "
                            f"texts/s ({best['clients']} thread(s), "
                            f"{best['texts_per_call']} texts/call) = {ratio:.0%}",
                "pass": ratio >= 0.7,
                "informational": protocol != "grpc"})
    ceiling_row = find(rows, "ceiling", "grpc", top)
    if batched_floors and ceiling_row:
        ratio = ceiling_row["texts_per_s"] / best["texts_per_s"]
        checks.append({
            "target": f"canned-response gRPC at {top} clients (no server work) vs the "
                      "in-process batched rate",
            "measured": f"{ceiling_row['texts_per_s']:.0f} vs {best['texts_per_s']:.0f} "
                        f"texts/s = {ratio:.0%}",
            "pass": ratio >= 0.7, "informational": True})
    pairs, ok = [], True
    for mode in ("batching off", "batching on"):
        for clients in clients_list:
            grpc_row, rest_row = (find(rows, mode, p, clients) for p in ("grpc", "rest"))
            if grpc_row and rest_row:
                ratio = rest_row["p50_ms"] / grpc_row["p50_ms"]
                ok &= ratio <= 2.0
                pairs.append(f"{mode} c={clients}: {rest_row['p50_ms']:.2f}/"
                             f"{grpc_row['p50_ms']:.2f} ms = {ratio:.2f}x")
    if pairs:
        checks.append({"target": "REST p50 <= 2 x gRPC p50 (every mode and client count)",
                       "measured": "; ".join(pairs), "pass": ok})
    return checks


def markdown(rows, checks) -> str:
    lines = ["| mode | protocol | clients | p50 ms | p99 ms | req/s | texts/s | errors |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        extra = (f" (p99 before push {r['p99_ms_before_push']:.2f})"
                 if "p99_ms_before_push" in r else "")
        lines.append(f"| {r['mode']} | {r['protocol']} | {r['clients']} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f}{extra} | {r['rps']:.0f} | {r['texts_per_s']:.0f} | "
                     f"{r['errors']} |")
    lines.append("")
    for c in checks:
        verdict = "PASS" if c["pass"] else "FAIL"
        if c.get("informational"):
            verdict = f"({verdict}, not a target)"
        lines.append(f"- {verdict}: {c['target']}: {c['measured']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_base_path")
    parser.add_argument("--model_name", default="text")
    parser.add_argument("--example-feature", dest="example_feature")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="unmeasured seconds before each row, same concurrency")
    parser.add_argument("--clients", default="1,8,32",
                        help="comma-separated concurrent client counts")
    parser.add_argument("--texts-per-request", dest="texts_per_request", type=int, default=2)
    parser.add_argument("--batching_parameters_file", default=str(DEFAULT_BATCHING),
                        help="BatchingParameters for the batching-on server")
    parser.add_argument("--server", choices=("process", "thread"), default="process",
                        help="embedded server as a subprocess (own GIL) or in this process")
    parser.add_argument("--rest-connection", dest="rest_connection",
                        choices=("keepalive", "new"), default="keepalive",
                        help="REST clients keep one HTTP/1.1 connection open, or open "
                             "a new one per request")
    parser.add_argument("--no-hot-swap", dest="hot_swap", action="store_false")
    parser.add_argument("--no-ceiling", dest="ceiling", action="store_false",
                        help="skip the canned-response gRPC rows")
    parser.add_argument("--modes", default="off,on",
                        help="server runs: batching off and/or on")
    parser.add_argument("--protocols", default="grpc,rest")
    parser.add_argument("--grpc-load", dest="grpc_load", choices=("asyncio", "threads"),
                        default="asyncio",
                        help="gRPC clients as coroutines on one event loop, or one "
                             "thread each")
    parser.add_argument("--target", help="HOST:GRPC_PORT:REST_PORT of a running server")
    parser.add_argument("--out", default=str(ROOT / "work" / "bench" / "serving.json"))
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    args.modes = args.modes.split(",")
    args.protocols = args.protocols.split(",")
    texts = [TEXTS[i % len(TEXTS)] for i in range(args.texts_per_request)]
    batching = read_batching(args.batching_parameters_file)
    batch_threads = max(1, min(batching["num_batch_threads"], os.cpu_count() or 1))
    load_before = os.getloadavg()

    workdir = Path(tempfile.mkdtemp(prefix="bench_serving_"))
    rows = []
    try:
        base = None
        if args.model_base_path:
            # A private copy: the hot-swap scenario pushes versions into it.
            base = str(workdir / "model")
            shutil.copytree(latest_version_dir(args.model_base_path), Path(base) / "1")
        elif not args.target:
            base = tiny_model(workdir)

        if base:
            rows += floors(latest_version_dir(base), args, texts,
                           batching["max_batch_size"], batch_threads)
        if args.target:
            host, grpc_port, rest_port = args.target.split(":")

            class External:
                grpc_target = f"{host}:{grpc_port}"
                rest_url = f"http://{host}:{rest_port}"

                @staticmethod
                def batches_run():
                    return None

            rows += run_suite(External, "external server", args, texts, batching=False)
        else:
            def start(batching_file):
                if args.server == "thread":
                    return ThreadServer(base, args.model_name, batching_file)
                return ProcessServer(base, args.model_name, batching_file, workdir)

            server = None
            for mode in args.modes:
                server = start(args.batching_parameters_file if mode == "on" else None)
                try:
                    rows += run_suite(server, f"batching {mode}", args, texts,
                                      batching=mode == "on")
                    if mode == "off" and args.hot_swap:
                        rows.append(hot_swap(server, base, args, texts))
                finally:
                    server.stop()
            if args.ceiling and server is not None and "grpc" in args.protocols:
                rows += ceiling(server.request, server.response, args, texts, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    checks = target_checks(rows, args.clients)
    import tensorflow as tf

    meta = {"server": "external " + args.target if args.target else args.server,
            "model_base_path": args.model_base_path, "model_name": args.model_name,
            "texts_per_request": len(texts), "rest_connection": args.rest_connection,
            "seconds": args.seconds, "warmup": args.warmup,
            "batching_parameters_file": args.batching_parameters_file,
            "batching": batching, "cpu_count": os.cpu_count(),
            "tensorflow": tf.__version__, "python": platform.python_version(),
            "gpus": len(tf.config.list_physical_devices("GPU")),
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            # REST predict goes through ServingCore.predict like gRPC, so the
            # batcher sees both front ends' requests (serving/rest_api.py).
            "rest_batched": True, "grpc_load": args.grpc_load}
    print()
    print(f"server: {meta['server']}; {meta['cpu_count']} cores, {meta['gpus']} GPUs, "
          f"TF {meta['tensorflow']}; {len(texts)} texts/request; REST connection "
          f"{args.rest_connection}; gRPC load {args.grpc_load}; batching "
          f"max_batch_size={batching['max_batch_size']} "
          f"batch_timeout_micros={batching['batch_timeout_micros']} "
          f"num_batch_threads={batching['num_batch_threads']}; load average before "
          f"{load_before[0]:.2f}, after {meta['loadavg_after'][0]:.2f}")
    print(markdown(rows, checks), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows, "checks": checks},
                                         indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
