"""The Airflow DAG as Airflow's own DagBag loads it from runners/, in a process with an AIRFLOW_HOME of its own."""
from __future__ import annotations

import datetime
import json
import subprocess
import sys

import pytest

from orchestration_helpers import ROOT, airflow_env, write_config
from tfx_pipeline.config import load_config
from tfx_pipeline.pipeline import create_pipeline

AIRFLOW_SETTINGS = {"schedule": "@daily", "start_date": datetime.date(2025, 3, 1), "catchup": False,
                    "retries": 2, "retry_delay_minutes": 1.5}

# Run in the Airflow environment: what Airflow's DagBag makes of the dags folder, as JSON.
DAGBAG_PROBE = """
import json, time
from airflow.models import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder={folder!r}, include_examples=False)
seconds = time.perf_counter() - started
dags = {{}}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {{
        "schedule": dag.schedule_interval, "start_date": dag.start_date.isoformat(), "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "tasks": {{t.task_id: {{"upstream": sorted(t.upstream_task_ids), "retries": t.retries,
                                "retry_delay": t.retry_delay.total_seconds()}} for t in dag.tasks}},
        "topological": [t.task_id for t in dag.topological_sort()],
    }}
print("DAGBAG" + json.dumps({{"errors": {{k: str(v) for k, v in bag.import_errors.items()}},
                              "files": sorted(s.file for s in bag.dagbag_stats),
                              "dags": dags, "seconds": seconds}}))
"""


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dag")
    config_path = write_config(folder / "config.yaml", "sentiment", airflow=AIRFLOW_SETTINGS)
    env = airflow_env(folder / "airflow", config_path)
    result = subprocess.run([sys.executable, "-c", DAGBAG_PROBE.format(folder=str(ROOT / "runners"))], env=env,
                            capture_output=True, text=True, timeout=600)
    line = next((l for l in result.stdout.splitlines() if l.startswith("DAGBAG")), None)
    assert line is not None, result.stderr[-3000:]
    return {"config": load_config(config_path), "bag": json.loads(line[len("DAGBAG"):]),
            "stderr": result.stderr}


def test_the_dags_folder_imports_without_errors_and_holds_only_the_pipeline(parsed):
    bag, config = parsed["bag"], parsed["config"]
    assert bag["errors"] == {}
    # runners/.airflowignore keeps the other runners out of Airflow's parse.
    assert [f.rsplit("/", 1)[-1] for f in bag["files"]] == ["airflow_dag.py"]
    assert list(bag["dags"]) == [config.pipeline_name]


def test_task_ids_are_the_component_ids_with_the_same_dependencies(parsed):
    config = parsed["config"]
    dag = parsed["bag"]["dags"][config.pipeline_name]
    components = create_pipeline(config).components
    assert sorted(dag["tasks"]) == sorted(c.id for c in components)
    for component in components:
        assert dag["tasks"][component.id]["upstream"] == sorted(n.id for n in component.upstream_nodes), component.id
    # The pipeline's own (dependency) order is an order Airflow can run the tasks in.
    order = [c.id for c in components]
    for task_id, task in dag["tasks"].items():
        assert all(order.index(up) < order.index(task_id) for up in task["upstream"])
    assert dag["topological"].index("data_gate") < dag["topological"].index("transform") \
        < dag["topological"].index("trainer") < dag["topological"].index("evaluator") \
        < dag["topological"].index("pusher")


def test_schedule_start_date_catchup_and_retries_come_from_the_config(parsed):
    dag = parsed["bag"]["dags"][parsed["config"].pipeline_name]
    assert dag["schedule"] == "@daily"
    assert dag["start_date"] == "2025-03-01T00:00:00+00:00"
    assert dag["catchup"] is False and dag["max_active_runs"] == 1
    assert {t["retries"] for t in dag["tasks"].values()} == {2}
    assert {t["retry_delay"] for t in dag["tasks"].values()} == {90.0}


def test_parsing_packages_no_user_code(parsed):
    config = parsed["config"]
    # TFX writes a wheel of a module file's folder to <pipeline_root>/_wheels; entry points need none.
    assert not (config.pipeline_root / "_wheels").exists()
    assert "bdist_wheel" not in parsed["stderr"] and "setup.py" not in parsed["stderr"]
