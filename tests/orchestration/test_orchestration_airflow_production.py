"""Airflow in its production shape, for real, twice: `mlops airflow up` with PostgreSQL (Debian's server, unix
socket only) and the LocalExecutor, then with the CeleryExecutor, a project-local Redis and two worker processes;
ML Metadata on a project-local MariaDB both times. One run of the DAG each, triggered through the REST API as
`mlops monitor`'s retrain does: every task succeeds, independent tasks overlap (local) or run in both workers
(celery), a model is pushed, and `mlops report` reads the run from MariaDB. Also what `up` shows a person (the
webserver on loopback only, the generated password once, a second `up` refused) and that `down` stops every
daemon and server. Needs Debian's postgresql, mariadb-server and redis-server (`make services`, which `make test`
runs); without them the fixture fails with the message that names them, never skips."""
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

import pytest
from click.testing import CliRunner

from net_helpers import free_port, listening_addresses
from orchestration_helpers import sample_airflow_config
from pipeline_configs import write_config
from pipeline_helpers import version_dirs
from tfx_pipeline.cli import mlops
from tfx_pipeline.config import ConfigError, load_config

pytestmark = pytest.mark.e2e

SAMPLE = 600
RUN_TIMEOUT = 900
SHAPE = {"retries": 0, "executor": "local", "database": "postgres", "parallelism": 4}
CELERY_SHAPE = {"retries": 0, "executor": "celery", "database": "postgres", "parallelism": 2, "workers": 2}


def _rows(url: str, query: str, **params):
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as db:
            return [tuple(row) for row in db.execute(sqlalchemy.text(query), params)]
    finally:
        engine.dispose()


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


def _wait_for_run(url: str, dag_id: str, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = _rows(url, "SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r", d=dag_id, r=run_id)
        if states and states[0][0] in ("success", "failed"):
            return states[0][0]
        time.sleep(5)
    return "timed out"


def _password(up_output: str) -> str:
    return re.search(r"this password is shown once: admin / (\S+)", up_output).group(1)


def _airflow_run(tmp_path_factory, shape: dict) -> dict:
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
        facts["listen_addresses"] = _rows(postgres.url, "SHOW listen_addresses")[0][0]
        facts["listening"] = listening_addresses(port)
        facts["second_up"] = runner.invoke(mlops, ["airflow", "up", "--config", str(config_path), "--port",
                                                   str(free_port()), "--home", str(home)])
        base_url, password = f"http://127.0.0.1:{port}", _password(started.output)
        dag_url = f"{base_url}/api/v1/dags/{config.pipeline_name}"
        facts["api_with_password"] = api_status(logged_in_opener(base_url, "admin", password), dag_url)
        facts["api_with_wrong_password"] = api_status(logged_in_opener(base_url, "admin", "not-" + password), dag_url)
        facts["status_up"] = runner.invoke(mlops, ["airflow", "status", "--home", str(home)]).output
        # What `mlops monitor` does for a retrain with monitoring.retrain.runner: airflow.
        facts["credentials_mode"] = credentials_path(home).stat().st_mode & 0o777
        facts["credentials"] = json.loads(credentials_path(home).read_text())
        facts["password"] = _password(started.output)
        facts["in_flight_before"] = dag_runs_in_flight(home, config.pipeline_name)
        run_id = facts["run_id"] = trigger_dag(home, config.pipeline_name)
        facts["in_flight_after"] = dag_runs_in_flight(home, config.pipeline_name)
        facts["run_state"] = _wait_for_run(postgres.url, config.pipeline_name, run_id, RUN_TIMEOUT)
        facts["tasks"] = _rows(postgres.url, "SELECT task_id, state, start_date, end_date, pid, external_executor_id "
                                             "FROM task_instance WHERE dag_id = :d AND run_id = :r",
                               d=config.pipeline_name, r=run_id)
        facts["report"] = runner.invoke(mlops, ["report", "--config", str(config_path)])
        facts["sqlite_files"] = sorted(str(p) for p in folder.rglob("metadata.sqlite"))
    finally:
        facts["down"] = runner.invoke(mlops, ["airflow", "down", "--home", str(home)])
        facts["status_down"] = runner.invoke(mlops, ["airflow", "status", "--home", str(home)]).output
        facts["listening_after_down"] = listening_addresses(port)
    facts["worker_logs"] = {p.stem: p.read_text(errors="replace") for p in home.glob("worker-*.log")}
    return facts


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    facts = _airflow_run(tmp_path_factory, SHAPE)
    yield facts
    shutil.rmtree(facts["home"], ignore_errors=True)


@pytest.fixture(scope="module")
def celery(tmp_path_factory):
    facts = _airflow_run(tmp_path_factory, CELERY_SHAPE)
    yield facts
    shutil.rmtree(facts["home"], ignore_errors=True)


def test_up_starts_postgres_on_a_unix_socket_only_and_the_local_executor(production):
    output = production["up"].output
    assert "executor: local, database: postgres" in output
    assert production["listen_addresses"] == ""  # no TCP port at all
    assert "postgres: running (pid" in production["status_up"]


def test_up_binds_the_webserver_to_loopback_and_prints_a_generated_password_once(production):
    output = production["up"].output
    assert f"Airflow is up: http://127.0.0.1:{production['port']}" in output
    assert production["listening"] == {"0100007F"}  # 127.0.0.1, nothing on other interfaces
    assert re.search(r"this password is shown once: admin / \S{20,}", output)
    assert production["api_with_password"] == 200
    assert production["api_with_wrong_password"] in (401, 403)
    assert "scheduler: running" in production["status_up"] and "webserver: running" in production["status_up"]


def test_a_second_up_on_the_same_home_is_refused(production):
    assert production["second_up"].exit_code != 0
    assert "Airflow already runs from" in production["second_up"].output


@pytest.mark.parametrize("shape", ["production", "celery"])
def test_every_task_succeeds_a_model_is_pushed_and_the_report_reads_the_run_from_mariadb(shape, request):
    facts = request.getfixturevalue(shape)
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


def test_celery_tasks_of_one_run_execute_in_both_worker_processes(celery):
    up = celery["up"].output
    assert "executor: celery, database: postgres" in up and "Celery workers: worker-1 (pid" in up, up
    assert "worker-2 (pid" in up and "redis: running (pid" in celery["status_up"], celery["status_up"]
    # The Celery task id of each task instance, found in the log of the worker process that received it.
    received = {worker: set(re.findall(r"execute_command\[([0-9a-f-]{36})\] received", log))
                for worker, log in celery["worker_logs"].items()}
    by_worker = {worker: sorted(task for task, *_, celery_id in celery["tasks"] if celery_id in ids)
                 for worker, ids in received.items()}
    assert set(by_worker) == {"worker-1", "worker-2"}
    assert all(by_worker.values()), by_worker
    assert sum(map(len, by_worker.values())) == 11, by_worker


def test_celery_down_stops_the_workers_redis_postgres_and_mariadb(celery):
    down = celery["down"].output
    for part in ("worker-1 (pid", "worker-2 (pid", "redis (pid", "postgres (pid", "mariadb (pid"):
        assert part in down, down
    assert not (celery["home"] / "redis" / "redis.sock").exists()


def test_independent_tasks_ran_at_the_same_time_in_task_processes_of_their_own(production):
    intervals = [(task, start, end, pid) for task, _, start, end, pid, _ in production["tasks"]]
    overlapping = [(a[0], b[0]) for i, a in enumerate(intervals) for b in intervals[i + 1:]
                   if a[1] < b[2] and b[1] < a[2] and a[3] != b[3]]
    assert overlapping, sorted(intervals, key=lambda t: t[1])


def test_a_retrain_triggers_the_dag_through_the_rest_api_with_credentials_only_the_user_reads(production):
    assert production["credentials_mode"] == 0o600
    assert production["credentials"] == {"url": f"http://127.0.0.1:{production['port']}", "user": "admin",
                                         "password": production["password"]}
    assert production["in_flight_before"] is None
    assert production["in_flight_after"] in (f"Airflow run {production['run_id']} (queued)",
                                             f"Airflow run {production['run_id']} (running)")
    # The password is in the credentials file and nowhere in Airflow's logs.
    for log in production["home"].rglob("*.log"):
        assert production["password"] not in log.read_text(errors="replace"), log


def test_down_stops_the_daemons_and_postgres(production):
    down = production["down"].output
    assert "scheduler (pid" in down and "webserver (pid" in down and "postgres (pid" in down, down
    assert "mariadb (pid" in down, down
    assert "scheduler: not running" in production["status_down"] and "webserver: not running" in \
        production["status_down"]
    assert production["listening_after_down"] == set()
    assert "postgres: not running" in production["status_down"]
    assert not (production["postgres"].socket_dir / ".s.PGSQL.5432").exists()


def test_a_parallel_executor_on_sqlite_is_refused_at_load(tmp_path):
    path = write_config(tmp_path / "config.yaml", "sentiment", airflow={"executor": "local"})
    with pytest.raises(ConfigError, match=r"airflow: .*executor 'local' runs tasks in parallel.*database: postgres"):
        load_config(path)


def test_a_data_folder_the_postgres_user_cannot_reach_is_named(tmp_path, monkeypatch):
    from runners.services import postgres as services

    monkeypatch.setattr(services.os, "geteuid", lambda: 0)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    with pytest.raises(services.ServiceError, match=r"the postgres user cannot reach .*locked.* is not searchable"):
        services.Postgres(locked / "home").start()


def test_a_missing_postgresql_is_named_with_the_command_that_installs_it(tmp_path, monkeypatch):
    from runners.services import postgres as services

    monkeypatch.setattr(services.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(services.shutil, "which", lambda tool: None)
    with pytest.raises(services.ServiceError, match=r"PostgreSQL's initdb is not installed.*make services"):
        services.Postgres(tmp_path / "home").start()


def test_a_missing_mariadb_is_named_with_the_command_that_installs_it(tmp_path, monkeypatch):
    from runners.services import mariadb

    monkeypatch.setattr(mariadb.shutil, "which", lambda tool: None)
    monkeypatch.setattr(mariadb.os, "access", lambda path, mode: False)
    with pytest.raises(mariadb.ServiceError, match=r"MariaDB's mariadbd is not installed.*make services.*"
                                                   r"mariadb-server"):
        mariadb.MariaDB(tmp_path / "mariadb").start()


def test_a_missing_redis_is_named_with_the_command_that_installs_it(tmp_path, monkeypatch):
    from runners.services import redis

    monkeypatch.setattr(redis.shutil, "which", lambda tool: None)
    monkeypatch.setattr(redis.os, "access", lambda path, mode: False)
    with pytest.raises(redis.ServiceError, match=r"redis-server is not installed.*make services.*redis-server"):
        redis.Redis(tmp_path / "home").start()


def test_mysql_metadata_needs_exactly_one_server_and_sqlite_takes_none(tmp_path):
    path = write_config(tmp_path / "none.yaml", "sentiment", metadata={"kind": "mysql"})
    with pytest.raises(ConfigError, match=r"metadata: .*exactly one of host \(with port\), socket or local_server"):
        load_config(path)
    path = write_config(tmp_path / "sqlite.yaml", "sentiment", metadata={"host": "db.internal"})
    with pytest.raises(ConfigError, match=r"metadata: .*host only apply to kind: mysql"):
        load_config(path)
