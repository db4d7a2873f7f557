"""Airflow in its production shape, for real: `mlops airflow up` with PostgreSQL (Debian's server, unix socket
only) and the LocalExecutor, ML Metadata on a project-local MariaDB. One run of the DAG, triggered through the REST
API as `mlops monitor`'s retrain does: every task succeeds, independent tasks overlap, a model is pushed, and
`mlops report` reads the run from MariaDB. Also what `up` shows a person (the webserver on loopback only, the
generated password once, a second `up` refused) and that `down` stops every daemon and server. The same with the
CeleryExecutor is test_orchestration_airflow_celery.py. Needs Debian's postgresql, mariadb-server and redis-server
(`make services`, which `make test` runs); without them the fixture fails with the message that names them, never
skips."""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from airflow_deployment import LOCAL_SHAPE, check_run_pushed_and_read_from_mariadb, deployment
from pipeline_configs import write_config
from tfx_pipeline.config import ConfigError, load_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    yield from deployment(tmp_path_factory, LOCAL_SHAPE)


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


def test_every_task_succeeds_a_model_is_pushed_and_the_report_reads_the_run_from_mariadb(production):
    check_run_pushed_and_read_from_mariadb(production)


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


def test_a_data_folder_the_postgres_user_cannot_reach_is_named(monkeypatch):
    from runners.services import postgres as services

    monkeypatch.setattr(services.os, "geteuid", lambda: 0)
    # Under /tmp, not pytest's deeper folders: the socket path's 107-byte limit is checked first.
    short = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
    try:
        locked = short / "locked"
        locked.mkdir(mode=0o700)
        with pytest.raises(services.ServiceError, match=r"the postgres user cannot reach .*locked.* is not searchable"):
            services.Postgres(locked / "home").start()
    finally:
        shutil.rmtree(short, ignore_errors=True)


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
