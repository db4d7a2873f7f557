"""The Airflow admin credentials that `mlops airflow up` generates (SECURITY.md): written to a file only this user
reads (mode 0600, whatever the umask or an older file's mode), printed to the console once on purpose, and
nowhere else: not in Airflow's logs, configuration or database (which keeps a salted hash), nor in the output of a
second `up`.

`mlops airflow up` runs for real here (its CLI, `airflow db migrate`, `airflow users list/create`, the credentials
file) except that the scheduler and the webserver are not started: test_orchestration_airflow_production.py starts
them, and checks the same credentials against the running webserver's login and REST API."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import types

import pytest
from click.testing import CliRunner

from orchestration_helpers import write_config
from tfx_pipeline.cli import mlops

PASSWORD_LINE = re.compile(r"this password is shown once: admin / (\S+)")


def _no_daemon(home, daemon, env, args):
    """Stands in for start_daemon: a process that is running, without starting Airflow's daemons."""
    return types.SimpleNamespace(pid=4000000 + len(daemon), returncode=None, poll=lambda: None)


@pytest.fixture(scope="module")
def up_twice(tmp_path_factory):
    from runners.airflow import daemons

    folder = tmp_path_factory.mktemp("airflow_credentials")
    config_path = write_config(folder / "config.yaml", "sentiment")
    home = folder / "airflow"
    patch = pytest.MonkeyPatch()
    patch.setattr(daemons, "start_daemon", _no_daemon)
    patch.setattr(daemons, "wait_healthy", lambda *args, **kwargs: {})
    patch.setattr(daemons, "wait_registered", lambda *args, **kwargs: None)
    runner = CliRunner()
    args = ["airflow", "up", "--config", str(config_path), "--home", str(home), "--port", "18080"]
    try:
        first = runner.invoke(mlops, args)
        credentials_after_first = daemons.credentials_path(home).read_bytes() if first.exit_code == 0 else None
        second = runner.invoke(mlops, args)
    finally:
        patch.undo()
    return {"home": home, "first": first, "second": second, "credentials_after_first": credentials_after_first,
            "credentials": daemons.credentials_path(home)}


def test_up_prints_the_generated_password_exactly_once(up_twice):
    first = up_twice["first"]
    assert first.exit_code == 0, first.output
    password = PASSWORD_LINE.search(first.output).group(1)
    assert len(password) >= 20
    assert first.output.count(password) == 1, first.output


def test_the_credentials_file_is_the_users_alone(up_twice):
    path = up_twice["credentials"]
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.getuid()
    password = PASSWORD_LINE.search(up_twice["first"].output).group(1)
    assert json.loads(path.read_text()) == {"url": "http://127.0.0.1:18080", "user": "admin", "password": password}


def test_the_password_is_in_no_other_file_of_airflows_home(up_twice):
    """Logs (*.log and logs/), airflow.cfg, webserver_config.py, the SQLite database: only credentials.json."""
    home, password = up_twice["home"], PASSWORD_LINE.search(up_twice["first"].output).group(1)
    scanned = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        if path == up_twice["credentials"]:
            continue
        scanned.append(path.relative_to(home).as_posix())
        assert password.encode() not in path.read_bytes(), path
    assert "airflow.db" in scanned and "airflow.cfg" in scanned, scanned


def test_airflow_stores_a_salted_hash_of_it_that_matches(up_twice):
    from werkzeug.security import check_password_hash

    password = PASSWORD_LINE.search(up_twice["first"].output).group(1)
    with sqlite3.connect(up_twice["home"] / "airflow.db") as db:
        [(stored,)] = db.execute("SELECT password FROM ab_user WHERE username = 'admin'").fetchall()
    assert stored != password and password not in stored
    assert check_password_hash(stored, password)
    assert not check_password_hash(stored, "not-" + password)


def test_a_second_up_prints_no_password_and_keeps_the_file(up_twice):
    second, password = up_twice["second"], PASSWORD_LINE.search(up_twice["first"].output).group(1)
    assert second.exit_code == 0, second.output
    assert "admin user 'admin' already exists" in second.output
    assert password not in second.output and "shown once" not in second.output
    assert up_twice["credentials"].read_bytes() == up_twice["credentials_after_first"]
    assert stat.S_IMODE(up_twice["credentials"].stat().st_mode) == 0o600


def test_write_credentials_is_0600_whatever_the_umask_or_an_older_files_mode(tmp_path):
    from runners.airflow.daemons import credentials_path, write_credentials

    old_umask = os.umask(0)  # the most permissive umask: a plain open() would create 0666
    try:
        path = write_credentials(tmp_path / "a", "http://127.0.0.1:8080", "admin", "first-secret")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        # An older file readable by everyone (a copy, a restored backup) is tightened, not kept as it was.
        older = credentials_path(tmp_path / "b")
        older.parent.mkdir(parents=True)
        older.write_text("{}")
        older.chmod(0o644)
        path = write_credentials(tmp_path / "b", "http://127.0.0.1:8080", "admin", "second-secret")
        assert path == older and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert json.loads(path.read_text())["password"] == "second-secret"
    finally:
        os.umask(old_umask)
