"""Airflow's three shapes on the same sample, one at a time (2 cores): sequential on SQLite, the LocalExecutor on
PostgreSQL, and the CeleryExecutor with two workers on PostgreSQL and Redis; ML Metadata on SQLite for the first
and on the project-local MariaDB for the other two (the shape production runs). For each: `mlops airflow up`
seconds, one DAG run triggered through the REST API (its wall time from Airflow's own dag_run start and end),
the sum of its task durations, and the tasks' peak overlap (how many ran at once).

    .venv/bin/python bench/airflow_shapes.py [--sample 1500] [--shapes sequential,local,celery] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from net_helpers import free_port  # noqa: E402  (tests/net_helpers.py: the tests' helper, shared)
THRESHOLDS = {"accuracy": {"lower_bound": 0.30, "max_drop": 0.20}, "macro_f1": {"lower_bound": 0.10, "max_drop": 0.20}}
SHAPES = {
    "sequential": ({"executor": "sequential", "database": "sqlite"}, None),
    "local": ({"executor": "local", "database": "postgres", "parallelism": 4}, "mysql"),
    "celery": ({"executor": "celery", "database": "postgres", "parallelism": 4, "workers": 2}, "mysql"),
}


def sample_source(rows: int, path: Path) -> Path:
    """The first `rows` of the default corpus in a fixed pseudo-random order, cleaned: the same for each shape
    (the DAG runs the config, which has no --sample)."""
    import csv
    import random

    from tfx_pipeline.config import DEFAULT_CONFIG, load_config
    from tfx_pipeline.data.cleaning import clean_rows

    config = load_config(DEFAULT_CONFIG)
    cleaned, _ = clean_rows(config.source_path().read_bytes(), config.data.text_column, config.data.label_column,
                            None)
    pairs = [(r[config.data.text_column], r[config.data.label_column]) for r in cleaned]
    random.Random(7).shuffle(pairs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("text", "sentiment"))
        writer.writerows(pairs[:rows])
    return path


def write_config(folder: Path, home: Path, shape: dict, metadata, source: Path) -> Path:
    raw = yaml.safe_load((ROOT / "configs" / "sentiment.yaml").read_text())
    raw["schema_file"] = str((ROOT / "configs" / raw["schema_file"]).resolve())
    raw["data"]["source"] = str(source)
    raw["paths"] = {"workdir": str(folder / "work"), "serving_root": str(folder / "serving")}
    raw["evaluation"] = {"thresholds": THRESHOLDS}
    raw["airflow"] = {**raw.get("airflow", {}), "retries": 0, **shape}
    if metadata:
        raw["metadata"] = {"kind": "mysql", "local_server": str(home / "mariadb")}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def moment(value):
    from datetime import datetime

    return datetime.fromisoformat(value) if isinstance(value, str) else value


def bench_shape(name: str, sample: int, workdir: Path, timeout: float = 1800) -> dict:
    from runners.airflow import daemons
    from runners.services import mariadb
    from tfx_pipeline.config import load_config
    from tfx_pipeline.data.ingest import ingest

    shape, metadata = SHAPES[name]
    # /tmp: the servers run as system users that must pass through the folders above their data.
    home = Path(tempfile.mkdtemp(prefix=f"mlops-bench-{name}-", dir="/tmp"))
    os.chmod(home, 0o711)
    folder = workdir / name
    shutil.rmtree(folder, ignore_errors=True)
    config_path = write_config(folder, home, shape, metadata, sample_source(sample, folder / "sample.csv"))
    config = load_config(config_path)
    if mariadb.for_config(config) is not None:
        mariadb.for_config(config).start()
    ingest(config)
    started = time.time()
    daemons.up(config_path, home, free_port())
    up_seconds = time.time() - started
    try:
        run_id = daemons.trigger_dag(home, config.pipeline_name)
        url = daemons.database_url(home, config.airflow)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = daemons.query_rows(url, "SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r",
                                       d=config.pipeline_name, r=run_id)
            if state and state[0][0] in ("success", "failed"):
                break
            time.sleep(3)
        [(state, start, end)] = daemons.query_rows(
            url, "SELECT state, start_date, end_date FROM dag_run WHERE dag_id = :d AND run_id = :r",
            d=config.pipeline_name, r=run_id)
        tasks = daemons.query_rows(
            url, "SELECT task_id, start_date, end_date FROM task_instance WHERE dag_id = :d AND run_id = :r",
            d=config.pipeline_name, r=run_id)
    finally:
        daemons.down(home)
        shutil.rmtree(home, ignore_errors=True)
    # SQLite hands back text, PostgreSQL datetimes.
    start, end = moment(start), moment(end)
    tasks = [(task, moment(s), moment(e)) for task, s, e in tasks]
    edges = sorted([(s.timestamp(), 1) for _, s, e in tasks if s and e] + [(e.timestamp(), -1) for _, s, e in tasks
                                                                           if s and e])
    running = overlap = 0
    for _, step in edges:
        running += step
        overlap = max(overlap, running)
    return {"shape": name, "state": state, "up_seconds": round(up_seconds, 1),
            "run_seconds": round((end - start).total_seconds(), 1) if start and end else None,
            "task_seconds_sum": round(sum((e - s).total_seconds() for _, s, e in tasks if s and e), 1),
            "tasks": len(tasks), "peak_parallel_tasks": overlap}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=1500)
    parser.add_argument("--shapes", default="sequential,local,celery")
    parser.add_argument("--workdir", type=Path, default=ROOT / "work" / "bench" / "airflow_shapes")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    results = []
    for name in args.shapes.split(","):
        print(f"== {name}", flush=True)
        results.append(bench_shape(name, args.sample, args.workdir))
        print(json.dumps(results[-1]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    print("| shape | up s | DAG run s | sum of task s | tasks at once (peak) | state |\n|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['shape']} | {r['up_seconds']} | {r['run_seconds']} | {r['task_seconds_sum']} | "
              f"{r['peak_parallel_tasks']} | {r['state']} |")


if __name__ == "__main__":
    main()
