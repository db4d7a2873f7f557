"""Orchestration benchmark, on one sample of the default corpus, one process at a time (2 cores):

1. DAG parse time: `airflow dags report` on runners/airflow/ (Airflow's own measure of the file's import), repeated.
2. The same pipeline under `airflow dags test` and under LocalDagRunner, each on a fresh workspace holding the
   same span: wall seconds of the command, and the sum of task (component) seconds.
3. Continuous training latency: with the project's model server polling the LocalDagRunner workspace's push
   folder, `mlops ingest` of a new span, then the run, then the server's model status until the new version
   is AVAILABLE.

    .venv/bin/python bench/orchestration.py [--sample 1500] [--workdir work/bench/orchestration] [--json FILE]

The thresholds are loosened for a sample (lower bounds 0.30 / 0.10, max_drop 0.20) so that the new span's
model is pushed and the latency can be measured; the gating itself is tested in tests/orchestration/.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from net_helpers import free_port  # noqa: E402  (tests/net_helpers.py: the tests' helper, shared)
BIN = Path(sys.executable).parent
THRESHOLDS = {"accuracy": {"lower_bound": 0.30, "max_drop": 0.20},
              "macro_f1": {"lower_bound": 0.10, "max_drop": 0.20}}


def timed(cmd: list, env: dict = None) -> dict:
    """Runs cmd; wall seconds and peak RSS (MiB) of its largest process; raises with its output on failure."""
    started = time.time()
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {code}:\n{output[-4000:]}")
    return {"seconds": round(time.time() - started, 1), "peak_mib": round(usage.ru_maxrss / 1024), "output": output}


def write_config(folder: Path) -> Path:
    raw = yaml.safe_load((ROOT / "configs" / "sentiment.yaml").read_text())
    raw["schema_file"] = str((ROOT / "configs" / raw["schema_file"]).resolve())
    raw["paths"] = {"workdir": str(folder / "work"), "serving_root": str(folder / "serving")}
    raw["evaluation"] = {"thresholds": THRESHOLDS}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def duration(text: str) -> float:
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def parse_times(env: dict, repeats: int) -> dict:
    airflow = str(BIN / "airflow")
    runs = []
    for repeat in range(repeats):
        result = timed([airflow, "dags", "report", "--output", "json"], env)
        report = json.loads(result["output"][result["output"].index("["):])
        row = next(r for r in report if r["file"].endswith("pipeline_dag.py"))
        # The fresh AIRFLOW_HOME has no cached pipeline shape: the first parse computes it (imports TFX).
        runs.append({"parse_seconds": round(duration(row["duration"]), 2), "command_seconds": result["seconds"],
                     "tasks": int(row["task_num"]), "shape": "computed" if repeat == 0 else "cached"})
    wheels = (Path(yaml.safe_load(Path(env["MLOPS_CONFIG"]).read_text())["paths"]["workdir"])
              / "pipeline" / "_wheels")
    return {"runs": runs, "user_code_wheels_written": wheels.exists()}


def airflow_component_seconds(config_path: Path) -> dict:
    """Seconds per component under Airflow, from ML Metadata: TFX's legacy launcher registers an execution
    before its executor runs and publishes it after (`airflow dags test` leaves task durations empty)."""
    from tfx_pipeline.config import load_config
    from tfx_pipeline.metadata.store import open_store

    store = open_store(load_config(config_path))
    return {e.properties["component_id"].string_value:
            round((e.last_update_time_since_epoch - e.create_time_since_epoch) / 1000, 1)
            for e in sorted(store.get_executions(), key=lambda e: e.id)}


def airflow_dags_test(env: dict, dag_id: str) -> dict:
    result = timed([str(BIN / "airflow"), "dags", "test", dag_id], env)
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        states = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (dag_id,)).fetchall())
    assert set(states.values()) == {"success"}, states
    per_task = airflow_component_seconds(Path(env["MLOPS_CONFIG"]))
    return {"wall_seconds": result["seconds"], "peak_mib": result["peak_mib"],
            "task_seconds": round(sum(per_task.values()), 1), "per_task": per_task}


def local_run(config_path: Path) -> dict:
    code = ("from runners import local_runner; from tfx_pipeline.config import load_config; "
            f"local_runner.run(load_config({str(config_path)!r}))")
    result = timed([sys.executable, "-c", code])
    from tfx_pipeline.config import load_config
    from tfx_pipeline.pipeline import create_pipeline
    from tfx_pipeline.metadata.run_report import build_report

    config = load_config(config_path)
    report = build_report(config, [c.id for c in create_pipeline(config).components])
    return {"wall_seconds": result["seconds"], "peak_mib": result["peak_mib"],
            "task_seconds": round(sum(c.seconds for c in report.components), 1),
            "per_task": {c.component_id: round(c.seconds, 1) for c in report.components},
            "pushed_version": report.pushed_version}


def new_span_source(config_path: Path, sample: int, folder: Path) -> Path:
    """The next `sample` rows of the corpus in ingestion's sample order: data the first span did not hold."""
    from tfx_pipeline.data.cleaning import clean_rows
    from tfx_pipeline.config import load_config

    config = load_config(config_path)
    text, label = config.data.text_column, config.data.label_column
    rows, _ = clean_rows(config.source_path().read_bytes(), text, label, None)
    rows.sort(key=lambda r: hashlib.sha1(r[text].encode("utf-8")).hexdigest())
    path = folder / "span2.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([text, label])
        writer.writerows((r[text], r[label]) for r in rows[sample:2 * sample])
    return path


def served_versions(rest_port: int, model_name: str) -> list:
    """AVAILABLE versions from the server's REST model status (TF Serving's GET /v1/models/<name>)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/v1/models/{model_name}", timeout=5) as response:
            status = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):  # still starting, or nothing loaded yet
        return []
    return sorted(int(s["version"]) for s in status.get("model_version_status", []) if s["state"] == "AVAILABLE")


def ingest_to_served(config_path: Path, source: Path) -> dict:
    from tfx_pipeline.config import load_config

    config = load_config(config_path)
    name, rest_port = config.serving.model_name, free_port()
    # bench/serving.py shadows the serving package in this process (bench/ is sys.path[0]): a subprocess from ROOT.
    server = subprocess.Popen([sys.executable, "-m", "serving", "--embedded", "--port=0",
                               f"--rest_api_port={rest_port}", f"--model_name={name}",
                               f"--model_base_path={config.push_root}", "--file_system_poll_wait_seconds=1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        deadline = time.time() + 180
        while not served_versions(rest_port, name) and time.time() < deadline:
            time.sleep(0.5)
        before = served_versions(rest_port, name)
        assert before, "the model server did not serve the first version"
        # Polled from a thread through the run, so the time a version appears is not delayed by the run's end.
        first_seen, stop = {}, threading.Event()

        def poll():
            while not stop.is_set():
                for version in served_versions(rest_port, name):
                    first_seen.setdefault(version, time.time())
                time.sleep(0.1)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        started = time.time()
        ingest = timed([str(BIN / "mlops"), "ingest", str(source), "--config", str(config_path)])
        run = local_run(config_path)
        version = run["pushed_version"]
        assert version, "the new span's model was not pushed"
        # The Pusher's atomic rename is the last change to the model's folder.
        pushed_at = config.push_root.stat().st_mtime
        while version not in first_seen:
            assert time.time() - pushed_at < 300, "the new version was not served within 300 s"
            time.sleep(0.1)
        stop.set()
        poller.join()
        return {"ingest_seconds": ingest["seconds"], "run_wall_seconds": run["wall_seconds"],
                "push_to_served_seconds": round(first_seen[version] - pushed_at, 1),
                "ingest_to_served_seconds": round(first_seen[version] - started, 1),
                "previous_version": before[-1], "new_version": version,
                "span": int(re.search(r"span (\d+) written", ingest["output"]).group(1))}
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=1500)
    parser.add_argument("--workdir", type=Path, default=ROOT / "work" / "bench" / "orchestration")
    parser.add_argument("--repeats", type=int, default=3, help="DAG parse measurements")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    from runners.airflow import daemons
    from tfx_pipeline.config import load_config
    from tfx_pipeline.data.ingest import ingest

    workdir = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    local_config, airflow_config = write_config(workdir / "local"), write_config(workdir / "airflow")
    for path in (local_config, airflow_config):
        ingest(load_config(path), sample=args.sample)
    home = workdir / "airflow" / "home"
    daemons.prepare_home(home, port=8080)
    env = daemons.environment(home, airflow_config)
    timed([str(BIN / "airflow"), "db", "migrate"], env)

    results = {"sample": args.sample, "cpus": os.cpu_count()}
    results["dag_parse"] = parse_times(env, args.repeats)
    print("dag parse:", json.dumps(results["dag_parse"]), flush=True)
    results["airflow_dags_test"] = airflow_dags_test(env, load_config(airflow_config).pipeline_name)
    print("airflow dags test:", json.dumps(results["airflow_dags_test"]), flush=True)
    results["local_dag_runner"] = local_run(local_config)
    print("LocalDagRunner:", json.dumps(results["local_dag_runner"]), flush=True)
    results["continuous_training"] = ingest_to_served(local_config, new_span_source(local_config, args.sample,
                                                                                     workdir))
    print("ingest to served:", json.dumps(results["continuous_training"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
