"""Benchmark for operating the served model (docs/benchmarks.md, "Monitoring").

1. Request logging overhead: gRPC p50 / p99 and throughput at 1 and 8 concurrent clients of two embedded servers
   of the same model, request log off and on, running side by side and asked in turn in 1-second slices. And
   the cost without the box's noise: RequestLogger.log() per call on the request thread, and its writer's
   records/s.
2. `mlops monitor` wall time and peak memory for 10k and 100k logged requests (a process each, its RSS polled).
3. Detector quality: the share of in-domain windows called drift (false alarms), and the detection rate of
   windows with a share of out-of-domain texts (SST-2 movie reviews against the tweet model) mixed in.

It measures the model the config serves (`make run` first), in a scratch workspace of its own: the config's
serving root is only read.

    .venv/bin/python bench/monitoring.py [--config configs/sentiment.yaml] [--json out.json]
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import lzma
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from bench.serving import ProcessServer, summarize  # noqa: E402

TEXTS_PER_CALL = 2
# Rounds of logging off and on, alternated: on a shared 2-core box single rows vary by 20%, and the median of
# several interleaved rounds is what survives that.
SHARES = (0.05, 0.10, 0.15, 0.20, 0.30)


def _config(path: Path, workdir: Path):
    from tfx_pipeline.config import load_config

    config = load_config(path)
    versions = sorted(int(p.name) for p in Path(config.push_root).iterdir() if p.name.isdigit()) \
        if Path(config.push_root).is_dir() else []
    if not versions:
        raise SystemExit(f"no pushed version under {config.push_root}: run `make run` (or mlops run) first")
    return config.with_overrides(workdir=str(workdir)), versions[-1]


def _request(model: str, texts):
    from tensorflow_serving.apis import predict_pb2

    from serving import tensors
    from serving.client_base import string_array

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["text"].CopyFrom(tensors.to_tensor_proto(string_array([t.encode() for t in texts])))
    return request


def logging_overhead(config, seconds: float, scratch: Path) -> list:
    """Two servers of the same model side by side, logging off and on, asked in turn in 1-second slices (the
    order flipped every slice): the box's drift, which made separate rounds disagree by more than the modes,
    falls on both modes alike. Per client count and mode, the latencies of all its slices pooled."""
    from bench import grpc_load

    request = _request(config.serving.model_name, ["the crew was wonderful and the flight was good",
                                                   "two hours on the tarmac with no information"])
    servers = {}
    try:
        for mode in ("off", "on"):
            flags = [f"--request_log_dir={scratch / 'logs'}"] if mode == "on" else []
            (scratch / mode).mkdir(parents=True, exist_ok=True)
            servers[mode] = ProcessServer(str(config.push_root), config.serving.model_name, None, scratch / mode,
                                          extra_flags=flags)
        rows = []
        slices = max(2, int(seconds))
        for clients in (1, 8):
            latencies, errors = {"off": [], "on": []}, {"off": 0, "on": 0}
            for mode in ("off", "on"):
                grpc_load.hammer(servers[mode].grpc_target, request, clients, 1.0)  # warm-up, discarded
            for number in range(slices):
                for mode in (("off", "on") if number % 2 == 0 else ("on", "off")):
                    samples, failed = grpc_load.hammer(servers[mode].grpc_target, request, clients, 1.0)
                    latencies[mode] += [s[1] for s in samples]
                    errors[mode] += failed
            for mode in ("off", "on"):
                row = summarize(f"log {mode}", "grpc", clients, latencies[mode], errors[mode], float(slices),
                                TEXTS_PER_CALL)
                row["slices"] = slices
                rows.append(row)
                print(json.dumps(row), flush=True)
        return rows
    finally:
        for server in servers.values():
            server.stop()


def log_call_cost(scratch: Path, calls: int = 20000) -> dict:
    """What logging costs a request, without the box's noise: the time of RequestLogger.log() on the caller's
    thread (sampling and enqueueing), and how many records per second its writer thread serializes and writes."""
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.config import model_server_config_pb2

    from serving import tensors
    from serving.request_log import LogSettings, RequestLogger

    request = _request("sentiment", ["the crew was wonderful and the flight was good",
                                     "two hours on the tarmac with no information"])
    response = predict_pb2.PredictResponse()
    response.model_spec.name, response.model_spec.version.value = "sentiment", 1
    response.outputs["label"].CopyFrom(tensors.to_tensor_proto([b"positive", b"negative"]))
    response.outputs["scores"].CopyFrom(tensors.to_tensor_proto([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1]]))
    logger = RequestLogger(LogSettings(directory=str(scratch / "call-cost"), queue_size=calls + 1))
    config = model_server_config_pb2.ModelConfig(name="sentiment")
    start = time.perf_counter()
    for number in range(calls):
        logger.log(config, "predict_log", request, response, f"id-{number}")
    enqueued = time.perf_counter() - start
    logger.flush(timeout=120)
    written = time.perf_counter() - start
    logger.close()
    return {"calls": calls, "log_call_us": round(1e6 * enqueued / calls, 2),
            "writer_records_per_s": round(calls / written)}


def overhead_summary(rows: list) -> list:
    out = []
    for clients in (1, 8):
        off = [r for r in rows if r["clients"] == clients and r["mode"] == "log off"]
        on = [r for r in rows if r["clients"] == clients and r["mode"] == "log on"]
        p50_off, p50_on = statistics.median(r["p50_ms"] for r in off), statistics.median(r["p50_ms"] for r in on)
        out.append({"clients": clients, "p50_off_ms": round(p50_off, 3),
                    "p50_on_ms": round(p50_on, 3), "p50_overhead_pct": round(100 * (p50_on - p50_off) / p50_off, 1),
                    "p99_off_ms": round(statistics.median(r["p99_ms"] for r in off), 3),
                    "p99_on_ms": round(statistics.median(r["p99_ms"] for r in on), 3),
                    "rps_off": round(statistics.median(r["rps"] for r in off), 1),
                    "rps_on": round(statistics.median(r["rps"] for r in on), 1)})
    return out


def _corpus(config):
    """In-domain texts the reference has not got (the test split: monitoring's reference is the eval split), with
    their labels, and the out-of-domain sentences."""
    from tfx_pipeline import features
    from tfx_pipeline.data.ingest import ingest

    result = ingest(config)
    held_out = []
    for split in (features.TEST_SPLIT,):
        with open(Path(result.path) / split / "data.csv", newline="", encoding="utf-8") as handle:
            held_out += [(r[features.TEXT], r[features.LABEL]) for r in csv.DictReader(handle)]
    text = lzma.decompress((ROOT / "data" / "sst2.csv.xz").read_bytes()).decode()
    movies = [r["text"] for r in csv.DictReader(io.StringIO(text)) if r["split"] != "train"]
    return held_out, movies


def _predictions(config, version: int, texts):
    from serving.client import LocalClient

    out = {}
    with LocalClient(str(config.push_root), config.serving.model_name) as client:
        for start in range(0, len(texts), 256):
            for p in client.classify_text(texts[start:start + 256], config.serving.model_name, version=version):
                out[p.text] = (p.label, p.scores)
    return out


def write_logs(config, version: int, texts, predicted, count: int, end: float, span_seconds: float) -> Path:
    """`count` logged requests of random texts, as the request logger writes them, over the last span_seconds."""
    from tensorflow_serving.apis import prediction_log_pb2

    from serving.tfrecord import frame

    rng = random.Random(count)
    folder = Path(config.request_log_root) / config.serving.model_name / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"requests-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(end - span_seconds))}-0-{count}.tfrecord"
    labels = list(config.labels)
    with open(path, "wb") as handle:
        for index in range(count):
            text = rng.choice(texts)
            label, scores = predicted[text]
            record = prediction_log_pb2.PredictionLog()
            record.log_metadata.model_spec.name = config.serving.model_name
            record.log_metadata.model_spec.version.value = version
            record.log_metadata.timestamp_secs = int(end - span_seconds + span_seconds * index / count)
            record.log_metadata.request_origin = f"bench-{index}"
            log = record.predict_log
            log.request.model_spec.name = config.serving.model_name
            log.request.inputs["text"].string_val.append(text.encode())
            log.response.model_spec.CopyFrom(record.log_metadata.model_spec)
            log.response.outputs["label"].string_val.append(label.encode())
            log.response.outputs["classes"].string_val.extend(c.encode() for c in labels)
            log.response.outputs["scores"].float_val.extend(scores[c] for c in labels)
            handle.write(frame(record.SerializeToString()))
    return path


def monitor_scale(config_path: Path, config, version: int, held_out, predicted, scratch: Path) -> list:
    import psutil

    from tfx_pipeline.data.ingest import ingest

    rows = []
    for count in (10_000, 100_000):
        workdir = scratch / f"scale-{count}"
        scaled = config.with_overrides(workdir=str(workdir))
        ingest(scaled)
        end = time.time()
        write_logs(scaled, version, [t for t, _ in held_out], predicted, count, end, 1800)
        command = [str(Path(sys.executable).parent / "mlops"), "monitor", "--config", str(config_path),
                   "--workdir", str(workdir), "--serving-root", str(config.paths.serving_root), "--window", "1h"]
        started = time.perf_counter()
        process = psutil.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        peak = 0
        while process.poll() is None:
            try:
                peak = max(peak, process.memory_info().rss)
            except psutil.Error:
                break
            time.sleep(0.05)
        output = process.stdout.read()
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            raise SystemExit(f"mlops monitor failed on {count} requests:\n{output[-3000:]}")
        verdict = next(line for line in output.splitlines() if line.startswith("verdict:"))
        row = {"requests": count, "seconds": round(seconds, 1), "peak_rss_mib": round(peak / 2 ** 20),
               "verdict": verdict}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def detector_quality(config, version: int, held_out, movies, predicted, windows: int, size: int) -> dict:
    from tfx_pipeline.monitoring.logs import LoggedRequest
    from tfx_pipeline.monitoring.monitor import judge
    from tfx_pipeline.monitoring.reference import reference
    from tfx_pipeline.monitoring.request_features import vocabulary

    base = reference(config, version)
    known = vocabulary(Path(config.push_root) / str(version))
    thresholds = config.monitoring.thresholds
    in_domain = [t for t, _ in held_out]

    def requests(texts):
        return [LoggedRequest(f"r{i}", 0, version, t, *predicted[t]) for i, t in enumerate(texts)]

    rng = random.Random(7)
    results = {"window_size": size, "windows": windows, "false_alarms": 0, "detection": {}}
    for _ in range(windows):
        judged = judge(requests(rng.sample(in_domain, size)), [], base, known, thresholds)
        results["false_alarms"] += judged.verdict == "drift"
    results["false_alarm_rate"] = results["false_alarms"] / windows
    for share in SHARES:
        flagged = 0
        for _ in range(windows):
            outside = int(round(share * size))
            texts = rng.sample(in_domain, size - outside) + rng.sample(movies, outside)
            flagged += judge(requests(texts), [], base, known, thresholds).verdict == "drift"
        results["detection"][f"{share:.0%}"] = flagged / windows
        print(json.dumps({"share": share, "detection_rate": flagged / windows}), flush=True)
    flagged_shares = [s for s in SHARES if results["detection"][f"{s:.0%}"] >= 0.9]
    results["smallest_share_flagged_in_90pct_of_windows"] = f"{min(flagged_shares):.0%}" if flagged_shares else None
    print(json.dumps({k: v for k, v in results.items() if k != "detection"}), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "sentiment.yaml")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="load per client count and logging mode, in 1-second slices taken in turn")
    parser.add_argument("--windows", type=int, default=40, help="windows per detector measurement")
    parser.add_argument("--window-size", type=int, default=500, help="requests per window")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: logging,scale,quality")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as folder:
        scratch = Path(folder)
        config, version = _config(args.config, scratch / "workspace")
        results["version"] = version
        if "logging" not in skip:
            rows = logging_overhead(config, args.seconds, scratch)
            results["logging"] = {"rows": rows, "summary": overhead_summary(rows),
                                  "call_cost": log_call_cost(scratch)}
            print(json.dumps(results["logging"]["summary"]), flush=True)
        if {"scale", "quality"} - skip:
            held_out, movies = _corpus(config)
            predicted = _predictions(config, version, sorted({t for t, _ in held_out} | set(movies)))
            if "scale" not in skip:
                results["monitor_scale"] = monitor_scale(args.config, config, version, held_out, predicted, scratch)
            if "quality" not in skip:
                results["detector"] = detector_quality(config, version, held_out, movies, predicted, args.windows,
                                                       args.window_size)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
