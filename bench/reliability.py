"""Benchmark for reliability (docs/benchmarks.md, "Reliability").

1. Hostile requests: the embedded server, as `python -m serving --embedded` starts it, serving the config's pushed
model (the real sentiment model; `make run` first) as "text" and a y = x/2 + 2 model as "default". Each kind of
tests/serving/serving_fuzz_kinds.py is sent --repeat times while a good client asks every 50 ms on its own
connection. Per kind: requests sent, answers by code, the server's RSS before and after and its peak (VmHWM),
and whether the server died. Then 1,000 idle connections on each port and a good request through them.
2. A full disk for real: the config's pushed model published into a 1 MiB tmpfs (needs root and mount), beside
   a version already there.
3. Kill points and bad data: tests/e2e/test_crash_recovery.py and tests/data/test_bad_data.py, run by pytest,
   each test's outcome listed (the kill points, the bad-data kinds and the stage that stopped each).

    .venv/bin/python bench/reliability.py [--config configs/sentiment.yaml] [--repeat 5] [--skip fuzz,disk,tests]
        [--json out.json]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests", ROOT / "tests" / "serving"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from net_helpers import free_port  # noqa: E402  (tests/net_helpers.py: the tests' helper, shared)
import serving_fuzz_kinds as kinds  # noqa: E402
from test_serving_fuzz import GoodClient, _status_kib  # noqa: E402


def _models(config_path: Path, scratch: Path) -> Path:
    """A model config serving the config's latest push as "text" and half_plus_two as "default"."""
    import serving_test_models as models
    from tfx_pipeline.config import load_config

    config = load_config(config_path)
    versions = sorted(int(p.name) for p in Path(config.push_root).iterdir() if p.name.isdigit()) \
        if Path(config.push_root).is_dir() else []
    if not versions:
        raise SystemExit(f"no pushed version under {config.push_root}: run `make run` (or mlops run) first")
    text = scratch / "text"
    text.mkdir()
    (text / "1").symlink_to(Path(config.push_root) / str(versions[-1]))
    models.build_half_plus_two(str(scratch / "default" / "1"))
    entries = "".join(f'  config {{ name: "{name}" base_path: "{scratch / name}" model_platform: "tensorflow" }}\n'
                      for name in ("text", "default"))
    path = scratch / "models.config"
    path.write_text(f"model_config_list {{\n{entries}}}\n")
    return path


def fuzz(args) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="bench-reliability-"))
    grpc_port, rest_port = free_port(), free_port()
    timeout_s = 3.0
    log = open(scratch / "server.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "serving", "--embedded", f"--port={grpc_port}", f"--rest_api_port={rest_port}",
         f"--model_config_file={_models(args.config, scratch)}", f"--rest_api_timeout_in_ms={int(timeout_s * 1000)}"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    figures = {"config": str(args.config), "repeat": args.repeat, "kinds": []}
    try:  # the server is stopped however this ends
        target = kinds.Target(f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{rest_port}", timeout_s)
        from serving_test_helpers import http

        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise SystemExit((scratch / "server.log").read_text()[-3000:])
            try:
                if http("POST", f"{target.rest_url}/v1/models/default:predict", {"instances": [1.0]},
                        timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not come up")
            time.sleep(0.5)
        good = GoodClient(target)
        good.start()
        time.sleep(2)
        figures["warm_rss_mib"] = round(_status_kib(process.pid, "VmRSS") / 1024)
        for kind in kinds.KINDS:
            before = _status_kib(process.pid, "VmRSS")
            start = time.perf_counter()
            answers = collections.Counter(str(kind.send(target)) for _ in range(args.repeat))
            row = {"kind": kind.name, "sent": args.repeat, "answers": dict(answers),
                   "expected": str(kind.expected), "seconds": round(time.perf_counter() - start, 2),
                   "alive": process.poll() is None}
            if row["alive"]:
                row.update(rss_before_mib=round(before / 1024),
                           rss_after_mib=round(_status_kib(process.pid, "VmRSS") / 1024),
                           peak_rss_mib=round(_status_kib(process.pid, "VmHWM") / 1024))
            figures["kinds"].append(row)
            print(json.dumps(row), flush=True)
            if not row["alive"]:
                break
        good.stop.set()
        good.join(30)
        figures["good_client"] = {"answered": good.answered, "failures": len(good.failures),
                                  "first_failures": good.failures[:3]}
        host = "127.0.0.1"
        idle = []
        try:
            for _ in range(1000):
                idle.append(socket.create_connection((host, rest_port), timeout=10))
                idle.append(socket.create_connection((host, grpc_port), timeout=10))
            start = time.perf_counter()
            status, _ = http("POST", f"{target.rest_url}/v1/models/default:predict", {"instances": [2.0]})
            figures["idle_connections"] = {"open": len(idle), "good_request_status": status,
                                           "good_request_ms": round(1000 * (time.perf_counter() - start), 1),
                                           "rss_mib": round(_status_kib(process.pid, "VmRSS") / 1024)}
        finally:
            for sock in idle:
                sock.close()
        figures["crashes"] = 0 if process.poll() is None else 1
        figures["peak_rss_mib"] = round(_status_kib(process.pid, "VmHWM") / 1024) if process.poll() is None else None
        figures["wrong_code_kinds"] = [k["kind"] for k in figures["kinds"] if list(k["answers"]) != [k["expected"]]]
    finally:
        process.terminate()
        process.wait(30)
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)
    summary = {k: figures[k] for k in ("warm_rss_mib", "peak_rss_mib", "crashes", "good_client",
                                       "idle_connections", "wrong_code_kinds") if k in figures}
    print(json.dumps(summary, indent=1), flush=True)
    return figures


def full_disk(args) -> dict:
    """Publishes the pushed model into a 1 MiB tmpfs that already holds a small version."""
    from tfx_pipeline.components.atomic_pusher import PushError, publish_version
    from tfx_pipeline.config import load_config

    config = load_config(args.config)
    model = sorted((p for p in Path(config.push_root).iterdir() if p.name.isdigit()), key=lambda p: int(p.name))[-1]
    mount = Path(tempfile.mkdtemp(prefix="bench-full-disk-"))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode:
        return {"measured": False, "why": "mounting a tmpfs needs root and the mount capability"}
    try:
        served = mount / "sentiment" / "100"
        served.mkdir(parents=True)
        (served / "saved_model.pb").write_bytes(b"served")
        model_bytes = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
        try:
            publish_version(str(model), str(mount / "sentiment"), 200)
            outcome = "published (the disk was not full enough)"
        except PushError as exc:
            outcome = str(exc)
        left = sorted(p.name for p in (mount / "sentiment").iterdir())
        return {"measured": True, "model_bytes": model_bytes, "disk_bytes": 1 << 20, "outcome": outcome,
                "left_in_base": left, "served_unchanged": (served / "saved_model.pb").read_bytes() == b"served"}
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
        shutil.rmtree(mount, ignore_errors=True)


def test_outcomes(args) -> dict:
    """Runs the crash and bad-data tests; each test's outcome from pytest's JUnit XML."""
    import xml.etree.ElementTree as ElementTree

    report = Path(tempfile.mkdtemp(prefix="bench-tests-")) / "junit.xml"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                    "tests/e2e/test_crash_recovery.py", "tests/data/test_bad_data.py"], cwd=ROOT,
                   capture_output=True, text=True)
    outcomes = []
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        outcomes.append({"test": f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}",
                         "outcome": "failed" if failed else "skipped" if skipped else "passed",
                         "seconds": round(float(case.get("time", 0)), 1)})
    return {"seconds": round(time.perf_counter() - start, 1), "tests": outcomes,
            "passed": sum(o["outcome"] == "passed" for o in outcomes), "total": len(outcomes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "sentiment.yaml")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: fuzz,disk,tests")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    for name, part in (("fuzz", fuzz), ("disk", full_disk), ("tests", test_outcomes)):
        if name not in skip:
            results[name] = part(args)
            if name != "fuzz":
                print(json.dumps(results[name], indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
