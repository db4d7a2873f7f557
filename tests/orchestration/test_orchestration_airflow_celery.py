"""Airflow with the CeleryExecutor, for real: `mlops airflow up` with PostgreSQL, a project-local Redis as the
broker and two Celery worker processes, ML Metadata on a project-local MariaDB. One run of the DAG: every task
succeeds, the tasks of the run execute in both workers (each worker's log names the Celery task ids it received), a
model is pushed, `mlops report` reads the run from MariaDB, and `down` stops workers, Redis, PostgreSQL and
MariaDB. Needs Debian's postgresql, mariadb-server and redis-server (`make services`); never skips."""
from __future__ import annotations

import re

import pytest

from airflow_deployment import CELERY_SHAPE, check_run_pushed_and_read_from_mariadb, deployment

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def celery(tmp_path_factory):
    yield from deployment(tmp_path_factory, CELERY_SHAPE)


def test_every_task_succeeds_a_model_is_pushed_and_the_report_reads_the_run_from_mariadb(celery):
    check_run_pushed_and_read_from_mariadb(celery)


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
