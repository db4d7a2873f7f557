"""End to end under Airflow: `airflow dags test` of runners/airflow/pipeline_dag.py on a sample, in an AIRFLOW_HOME and a
workspace of the test's own. Airflow's task states come from its database; what TFX did, from ML Metadata."""
from __future__ import annotations

import sqlite3

import pytest
from ml_metadata.proto.metadata_store_pb2 import Execution

from orchestration_helpers import airflow, airflow_env, sample_airflow_config
from pipeline_helpers import run_cli, version_dirs
from tfx_pipeline.config import load_config
from tfx_pipeline.pipeline import create_pipeline
from tfx_pipeline.metadata.store import open_store

pytestmark = pytest.mark.e2e

SAMPLE = 600


@pytest.fixture(scope="module")
def dag_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("airflow_e2e")
    config_path = sample_airflow_config(folder, SAMPLE)
    config = load_config(config_path)
    env = airflow_env(folder / "airflow", config_path)
    migrated = airflow(env, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    result = airflow(env, "dags", "test", config.pipeline_name)
    with sqlite3.connect(folder / "airflow" / "airflow.db") as db:
        task_states = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?",
                                      (config.pipeline_name,)).fetchall())
        run_states = [s for (s,) in db.execute("SELECT state FROM dag_run WHERE dag_id = ?", (config.pipeline_name,))]
    return {"config": config, "config_path": config_path, "result": result, "task_states": task_states,
            "run_states": run_states}


def test_every_task_succeeds(dag_run):
    result, config = dag_run["result"], dag_run["config"]
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    component_ids = [c.id for c in create_pipeline(config).components]
    assert dag_run["task_states"] == {task_id: "success" for task_id in component_ids}
    assert dag_run["run_states"] == ["success"]


def test_the_run_is_recorded_in_ml_metadata_and_a_blessed_model_is_pushed(dag_run):
    config = dag_run["config"]
    store = open_store(config)
    states = {e.properties["component_id"].string_value: e.last_known_state for e in store.get_executions()}
    resolvers = {c.id for c in create_pipeline(config).components if c.type.endswith(".Resolver")}
    # TFX's legacy launcher records a resolver, which runs no executor, as CACHED.
    assert states == {c.id: (Execution.CACHED if c.id in resolvers else Execution.COMPLETE)
                      for c in create_pipeline(config).components}
    blessings = store.get_artifacts_by_type("ModelBlessing")
    assert [b.custom_properties["blessed"].int_value for b in blessings] == [1]
    versions = version_dirs(config.push_root)
    assert len(versions) == 1
    assert (versions[0] / "saved_model.pb").is_file() and (versions[0] / "variables").is_dir()
    assert not [p for p in config.push_root.iterdir() if not p.name.isdigit()]  # no staging folder left


def test_mlops_report_shows_the_airflow_run_as_mlops_run_shows_its_own(dag_run):
    config = dag_run["config"]
    shown = run_cli("report", "--config", str(dag_run["config_path"]))
    assert shown.exit_code == 0, shown.output
    assert "(recorded by TFX's legacy launcher (Airflow) in ML Metadata " in shown.output
    component_ids = [c.id for c in create_pipeline(config).components]
    rows = [line.split() for line in shown.output.splitlines() if line.split() and line.split()[0] in component_ids]
    # Every component, in pipeline order, ran: a resolver too, as `mlops run` reports it.
    assert [(row[0], row[1]) for row in rows] == [(c, "ran") for c in component_ids]
    assert float(rows[component_ids.index("trainer")][2]) > 0
    [version] = version_dirs(config.push_root)
    assert "blessing: BLESSED" in shown.output and f"pushed: {version}" in shown.output
