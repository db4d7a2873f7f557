"""`mlops airflow up` / `status` / `down` for real: a scheduler and a webserver on 127.0.0.1 in a home of the
test's own, the generated admin password, and one run of the DAG triggered by the CLI and run by the scheduler
itself (task processes of their own, each parsing the DAG file, as in production), then everything stopped. A run
triggered through the REST API, as `mlops monitor`'s retrain does, is test_orchestration_airflow_production.py's."""
from __future__ import annotations

import http.cookiejar
import re
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from click.testing import CliRunner

from net_helpers import free_port, listening_addresses
from orchestration_helpers import airflow, airflow_env, sample_airflow_config
from pipeline_helpers import version_dirs
from tfx_pipeline.cli import mlops
from tfx_pipeline.config import load_config

pytestmark = pytest.mark.e2e

SAMPLE = 600
RUN_TIMEOUT = 600



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


def wait_for_run(home, dag_id: str, timeout: float) -> str:
    from runners.airflow.daemons import running_pid

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(home, "scheduler") is None:
            return "scheduler died"
        with sqlite3.connect(home / "airflow.db") as db:
            states = [s for (s,) in db.execute("SELECT state FROM dag_run WHERE dag_id = ?", (dag_id,))]
        if states and states[-1] in ("success", "failed"):
            return states[-1]
        time.sleep(5)
    return "timed out"


@pytest.fixture(scope="module")
def daemons(tmp_path_factory):
    folder = tmp_path_factory.mktemp("airflow_daemons")
    config_path = sample_airflow_config(folder, SAMPLE)
    config = load_config(config_path)
    home, port = folder / "airflow", free_port()
    runner = CliRunner()
    home_args = ["--home", str(home)]
    started = runner.invoke(mlops, ["airflow", "up", "--config", str(config_path), "--port", str(port), *home_args])
    facts = {"config": config, "home": home, "port": port, "up": started}
    try:
        assert started.exit_code == 0, started.output
        base_url = f"http://127.0.0.1:{port}"
        facts["listening"] = listening_addresses(port)
        facts["second_up"] = runner.invoke(mlops, ["airflow", "up", "--config", str(config_path), "--port",
                                                   str(free_port()), *home_args])
        facts["status_up"] = runner.invoke(mlops, ["airflow", "status", *home_args]).output
        password = re.search(r"this password is shown once: admin / (\S+)", started.output).group(1)
        dag_url = f"{base_url}/api/v1/dags/{config.pipeline_name}"
        facts["api_with_password"] = api_status(logged_in_opener(base_url, "admin", password), dag_url)
        facts["api_with_wrong_password"] = api_status(logged_in_opener(base_url, "admin", "not-" + password), dag_url)
        env = airflow_env(home, config_path)
        for command in (("dags", "unpause", config.pipeline_name), ("dags", "trigger", config.pipeline_name)):
            result = airflow(env, *command)
            assert result.returncode == 0, result.stderr[-3000:]
        facts["run_state"] = wait_for_run(home, config.pipeline_name, RUN_TIMEOUT)
        with sqlite3.connect(home / "airflow.db") as db:
            facts["task_states"] = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?",
                                                   (config.pipeline_name,)).fetchall())
        facts["report"] = runner.invoke(mlops, ["report", "--config", str(config_path)])
    finally:
        facts["down"] = runner.invoke(mlops, ["airflow", "down", *home_args])
        facts["status_down"] = runner.invoke(mlops, ["airflow", "status", *home_args]).output
        facts["listening_after_down"] = listening_addresses(port)
    return facts


def test_up_binds_the_webserver_to_loopback_and_prints_a_generated_password_once(daemons):
    output = daemons["up"].output
    assert f"Airflow is up: http://127.0.0.1:{daemons['port']}" in output
    assert daemons["listening"] == {"0100007F"}  # 127.0.0.1, nothing on other interfaces
    assert re.search(r"this password is shown once: admin / \S{20,}", output)
    assert daemons["api_with_password"] == 200
    assert daemons["api_with_wrong_password"] in (401, 403)
    assert "scheduler: running" in daemons["status_up"] and "webserver: running" in daemons["status_up"]


def test_a_second_up_on_the_same_home_is_refused(daemons):
    assert daemons["second_up"].exit_code != 0
    assert "Airflow already runs from" in daemons["second_up"].output


def test_the_scheduler_runs_every_task_and_a_model_is_pushed(daemons):
    config = daemons["config"]
    assert daemons["run_state"] == "success", daemons["task_states"]
    assert set(daemons["task_states"].values()) == {"success"} and len(daemons["task_states"]) == 11
    [version] = version_dirs(config.push_root)
    report = daemons["report"]
    assert report.exit_code == 0, report.output
    assert re.search(r"^pusher +ran ", report.output, re.MULTILINE), report.output
    assert f"pushed: {version}\n" in report.output + "\n"


def test_down_stops_both_daemons(daemons):
    assert "scheduler (pid" in daemons["down"].output and "webserver (pid" in daemons["down"].output
    assert "scheduler: not running" in daemons["status_down"] and "webserver: not running" in daemons["status_down"]
    assert daemons["listening_after_down"] == set()
