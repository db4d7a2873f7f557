"""The production shape's Airflow deployment, for real: `mlops airflow up` in a shape, one DAG run triggered through
the REST API as `mlops monitor`'s retrain does, what the run left, and `down`. Used by
test_orchestration_airflow_production.py (LocalExecutor) and test_orchestration_airflow_celery.py (CeleryExecutor),
two files so that the suite's two workers run the two deployments side by side."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from net_helpers import free_port, listening_addresses
from orchestration_helpers import sample_airflow_config
from pipeline_helpers import version_dirs
from runners.airflow.daemons import query_rows
from tfx_pipeline.cli import mlops
from tfx_pipeline.config import load_config

SAMPLE = 600
RUN_TIMEOUT = 900
LOCAL_SHAPE = {"retries": 0, "executor": "local", "database": "postgres", "parallelism": 4}
CELERY_SHAPE = {"retries": 0, "executor": "celery", "database": "postgres", "parallelism": 2, "workers": 2}


def logged_in_opener(base_url: str, user: str, password: str):
    """An opener holding the webserver session of a login through Airflow's own login form."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(f"{base_url}/login/", timeout=30).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode({"username": user, "password": password, "csrf_token": token}).encode()
    opener.open(f"{base_url}/login/", data=body, timeout=30).read()
    return opener


def api_status(opener, url: str) -> int:
    try:
        return opener.open(url, timeout=30).status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for_run(url: str, dag_id: str, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = query_rows(url, "SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r", d=dag_id, r=run_id)
        if states and states[0][0] in ("success", "failed"):
            return states[0][0]
        time.sleep(5)
    return "timed out"


def password_of(up_output: str) -> str:
    return re.search(r"this password is shown once: admin / (\S+)", up_output).group(1)


def airflow_run(tmp_path_factory, shape: dict) -> dict:
    """`mlops airflow up` in the shape, one DAG run triggered through the REST API, what it left, and `down`."""
    from runners.airflow.daemons import credentials_path, dag_runs_in_flight, trigger_dag
    from runners.services.postgres import Postgres

    # pytest's own temporary folders are 0700; run as root, the servers run as `postgres` and `mysql`, which
    # must be able to pass through the folders above their data (runners/services/ says so when they cannot).
    home = Path(tempfile.mkdtemp(prefix="mlops-af-", dir="/tmp"))
    os.chmod(home, 0o711)
    folder = tmp_path_factory.mktemp(f"airflow_{shape['executor']}")
    config_path = sample_airflow_config(folder, SAMPLE, airflow=shape,
                                        metadata={"kind": "mysql", "local_server": str(home / "mariadb")})
    config = load_config(config_path)
    port = free_port()
    postgres = Postgres(home)
    runner = CliRunner()
    started = runner.invoke(mlops, ["airflow", "up", "--config", str(config_path), "--port", str(port),
                                    "--home", str(home)])
    facts = {"config": config, "up": started, "postgres": postgres, "home": home, "port": port}
    try:
        assert started.exit_code == 0, started.output
        facts["listen_addresses"] = query_rows(postgres.url, "SHOW listen_addresses")[0][0]
        facts["listening"] = listening_addresses(port)
        facts["second_up"] = runner.invoke(mlops, ["airflow", "up", "--config", str(config_path), "--port",
                                                   str(free_port()), "--home", str(home)])
        base_url, password = f"http://127.0.0.1:{port}", password_of(started.output)
        dag_url = f"{base_url}/api/v1/dags/{config.pipeline_name}"
        facts["api_with_password"] = api_status(logged_in_opener(base_url, "admin", password), dag_url)
        facts["api_with_wrong_password"] = api_status(logged_in_opener(base_url, "admin", "not-" + password), dag_url)
        facts["status_up"] = runner.invoke(mlops, ["airflow", "status", "--home", str(home)]).output
        # What `mlops monitor` does for a retrain with monitoring.retrain.runner: airflow.
        facts["credentials_mode"] = credentials_path(home).stat().st_mode & 0o777
        facts["credentials"] = json.loads(credentials_path(home).read_text())
        facts["password"] = password_of(started.output)
        facts["in_flight_before"] = dag_runs_in_flight(home, config.pipeline_name)
        run_id = facts["run_id"] = trigger_dag(home, config.pipeline_name)
        facts["in_flight_after"] = dag_runs_in_flight(home, config.pipeline_name)
        facts["run_state"] = wait_for_run(postgres.url, config.pipeline_name, run_id, RUN_TIMEOUT)
        facts["tasks"] = query_rows(postgres.url, "SELECT task_id, state, start_date, end_date, pid, "
                                                  "external_executor_id FROM task_instance WHERE dag_id = :d AND "
                                                  "run_id = :r", d=config.pipeline_name, r=run_id)
        facts["report"] = runner.invoke(mlops, ["report", "--config", str(config_path)])
        facts["sqlite_files"] = sorted(str(p) for p in folder.rglob("metadata.sqlite"))
    finally:
        facts["down"] = runner.invoke(mlops, ["airflow", "down", "--home", str(home)])
        facts["status_down"] = runner.invoke(mlops, ["airflow", "status", "--home", str(home)]).output
        facts["listening_after_down"] = listening_addresses(port)
    facts["worker_logs"] = {p.stem: p.read_text(errors="replace") for p in home.glob("worker-*.log")}
    return facts


def deployment(tmp_path_factory, shape: dict):
    """A module fixture's body: the facts of one deployment, its Airflow home removed afterwards."""
    facts = airflow_run(tmp_path_factory, shape)
    yield facts
    shutil.rmtree(facts["home"], ignore_errors=True)


def check_run_pushed_and_read_from_mariadb(facts: dict) -> None:
    tasks = {task: state for task, state, *_ in facts["tasks"]}
    assert facts["run_state"] == "success", tasks
    assert len(tasks) == 11 and set(tasks.values()) == {"success"}, tasks
    [version] = version_dirs(facts["config"].push_root)
    report = facts["report"]
    assert report.exit_code == 0, report.output
    assert f"pushed: {version}" in report.output
    database = facts["config"].metadata_database
    assert f"in ML Metadata database {database} on the local MariaDB in {facts['home'] / 'mariadb'})" \
        in report.output.splitlines()[0], report.output
    # Every task recorded in MariaDB: no SQLite file of ML Metadata anywhere in the workspace.
    assert facts["sqlite_files"] == []
