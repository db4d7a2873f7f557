"""A window of 2 spans (data.span_window) under Airflow, end to end, in an AIRFLOW_HOME and a workspace of the
test's own: span 1 is read and validated by a first DAG run, span 2 is ingested, and `airflow dags test` must
then transform, train and evaluate on both spans and push the model. Task states come from Airflow's database;
what each component was given, from ML Metadata; `mlops report` shows the Airflow run as it shows its own. This is
also the suite's end-to-end run of the default shape (SQLite, the DAG run by `airflow dags test`); the scheduler's
runs, under the LocalExecutor and Celery, are test_orchestration_airflow_production.py's and _celery.py's."""
from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest
from ml_metadata.proto.metadata_store_pb2 import Event

from orchestration_helpers import (ROOT, airflow, airflow_env, corpus_rows, with_splits, write_config,
                                   write_source)
from pipeline_helpers import FAST_TRAINER, run_cli, version_dirs
from tfx_pipeline.config import load_config
from tfx_pipeline.data.ingest import ingest
from tfx_pipeline.pipeline import create_pipeline
from tfx_pipeline.metadata.store import open_store

pytestmark = pytest.mark.e2e

SPAN_ROWS = 400
# The point is the window's machinery; the quality bar is tested on LocalDagRunner.
THRESHOLDS = {"accuracy": {"lower_bound": 0.30, "max_drop": 1.0}, "macro_f1": {"lower_bound": 0.10, "max_drop": 1.0}}
# The window needs span 1's Examples in ML Metadata, upstream of a passed DataGate: that part of the DAG is
# enough, and it is the same DAG, its tasks run by Airflow (DAG.test runs a subset, the CLI cannot).
VALIDATE_ONLY = """
from airflow.models import DagBag
dag = DagBag(dag_folder={folder!r}, include_examples=False).get_dag({dag_id!r})
dag.partial_subset(task_ids_or_regex=["data_gate"], include_upstream=True, include_downstream=False).test()
"""


def _latest_run_tasks(db_path, dag_id):
    with sqlite3.connect(db_path) as db:
        runs = db.execute("SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY execution_date",
                          (dag_id,)).fetchall()
        run_id, state = runs[-1]
        tasks = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
                                (dag_id, run_id)).fetchall())
    return run_id, state, tasks, len(runs)


@pytest.fixture(scope="module")
def windowed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("airflow_window")
    config_path = write_config(folder / "config.yaml", "sentiment", data={"split_column": "split", "span_window": 2},
                               trainer=FAST_TRAINER, evaluation={"thresholds": THRESHOLDS}, airflow={"retries": 0})
    config = load_config(config_path)
    rows = corpus_rows()
    env = airflow_env(folder / "airflow", config_path)
    migrated = airflow(env, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    assert ingest(config, source=write_source(folder / "span1.csv", with_splits(rows[:SPAN_ROWS]))).created
    first = subprocess.run([sys.executable, "-c", VALIDATE_ONLY.format(folder=str(ROOT / "runners" / "airflow"),
                                                                        dag_id=config.pipeline_name)],
                           env=env, capture_output=True, text=True, timeout=900, cwd=env["AIRFLOW_HOME"])
    first_run = _latest_run_tasks(folder / "airflow" / "airflow.db", config.pipeline_name)
    assert first_run[2].get("data_gate") == "success", (first_run, (first.stdout + first.stderr)[-5000:])

    span2 = with_splits(rows[SPAN_ROWS:2 * SPAN_ROWS])
    assert ingest(config, source=write_source(folder / "span2.csv", span2)).created
    result = airflow(env, "dags", "test", config.pipeline_name)
    run_id, run_state, task_states, runs = _latest_run_tasks(folder / "airflow" / "airflow.db", config.pipeline_name)
    return {"config": config, "config_path": config_path, "result": result, "run_id": run_id,
            "run_state": run_state, "task_states": task_states, "runs": runs}


def _inputs(store, execution, key):
    events = [e for e in store.get_events_by_execution_ids([execution.id])
              if e.type == Event.INPUT and e.path.steps[0].key == key]
    return store.get_artifacts_by_id([e.artifact_id for e in events])


def _outputs(store, execution, key):
    events = [e for e in store.get_events_by_execution_ids([execution.id])
              if e.type in (Event.OUTPUT, Event.DECLARED_OUTPUT) and e.path.steps[0].key == key]
    return store.get_artifacts_by_id([e.artifact_id for e in events])


def _execution(store, run_id, component_id):
    return next(e for e in store.get_executions() if e.properties["run_id"].string_value == run_id
                and e.properties["component_id"].string_value == component_id)


def test_every_task_of_the_windowed_run_succeeds(windowed):
    result, config = windowed["result"], windowed["config"]
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert windowed["runs"] == 2
    assert windowed["task_states"] == {c.id: "success" for c in create_pipeline(config).components}
    assert windowed["run_state"] == "success"


def test_transform_trainer_and_evaluator_were_given_both_spans(windowed):
    from tfx.types import artifact_utils

    store = open_store(windowed["config"])
    transform = _execution(store, windowed["run_id"], "transform")
    examples = _inputs(store, transform, "examples")
    assert sorted(a.custom_properties["span"].int_value for a in examples) == [1, 2]
    transformed = _outputs(store, transform, "transformed_examples")
    assert len(transformed) == 2
    for artifact in transformed:
        # The artifact the Trainer once failed on had none.
        assert set(artifact_utils.decode_split_names(artifact.properties["split_names"].string_value)) \
            >= {"train", "eval"}, artifact
    trainer = _execution(store, windowed["run_id"], "trainer")
    assert sorted(a.id for a in _inputs(store, trainer, "examples")) == sorted(a.id for a in transformed)
    evaluator = _execution(store, windowed["run_id"], "evaluator")
    assert sorted(a.id for a in _inputs(store, evaluator, "examples")) == sorted(a.id for a in examples)


def test_the_model_is_blessed_and_pushed_and_mlops_report_says_so(windowed):
    config = windowed["config"]
    store = open_store(config)
    blessing = _outputs(store, _execution(store, windowed["run_id"], "evaluator"), "blessing")
    assert [b.custom_properties["blessed"].int_value for b in blessing] == [1]
    versions = version_dirs(config.push_root)
    assert len(versions) == 1 and (versions[0] / "saved_model.pb").is_file()

    shown = run_cli("report", "--config", str(windowed["config_path"]))
    assert shown.exit_code == 0, shown.output
    assert f"pipeline run {windowed['run_id']} (recorded by TFX's legacy launcher" in shown.output
    states = {line.split()[0]: line.split()[1] for line in shown.output.splitlines()
              if line.split() and line.split()[0] in windowed["task_states"]}
    # The schema importer has no inputs and the same properties as in the first run: the launcher reuses it.
    assert states == {c: "cached" if c == "curated_schema_importer" else "ran" for c in windowed["task_states"]}
    seconds = {line.split()[0]: line.split()[2] for line in shown.output.splitlines()
               if line.split() and line.split()[0] == "trainer"}
    assert float(seconds["trainer"]) > 0
    assert "blessing: BLESSED" in shown.output and f"pushed: {versions[0]}" in shown.output
    assert not [p for p in config.push_root.iterdir() if not p.name.isdigit()]  # no staging folder left
    assert "blessing: BLESSED" in shown.output and f"pushed: {versions[0]}" in shown.output
