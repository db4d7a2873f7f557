"""A local Airflow 2 for the pipeline under a project-local AIRFLOW_HOME: runners/airflow/ as the dags folder,
scheduler and webserver on 127.0.0.1, started and stopped through pid files. The config's `airflow:` section picks
the shape: SQLite and the SequentialExecutor (development), or a project-local PostgreSQL (services.py) and the
LocalExecutor, whose tasks run in parallel."""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from runners.services import mariadb
from runners.services.common import ServiceError
from runners.services.postgres import Postgres
from runners.services.redis import Redis
from tfx_pipeline.config import DEFAULT_CONFIG, AirflowConfig, load_config

ROOT = DEFAULT_CONFIG.parent.parent
DEFAULT_HOME = ROOT / "work" / "airflow"
DAGS_FOLDER = Path(__file__).resolve().parent
DAEMONS = ("scheduler", "webserver")
ADMIN_USER = "admin"
# The data folder of the project-local MariaDB that `up` started for ML Metadata, for `down` to stop.
METADATA_SERVER_FILE = "metadata-server"


class AirflowError(RuntimeError):
    """Airflow could not be started or stopped; the message says where its log is."""


EXECUTORS = {"sequential": "SequentialExecutor", "local": "LocalExecutor", "celery": "CeleryExecutor"}


def worker_names(shape: AirflowConfig) -> List[str]:
    """The Celery workers `up` starts, each a process of its own (`airflow celery worker`)."""
    return [f"worker-{i}" for i in range(1, shape.workers + 1)] if shape.executor == "celery" else []


def _celery_section(home: Path, shape: AirflowConfig) -> str:
    if shape.executor != "celery":
        return ""
    per_worker = max(1, shape.parallelism // shape.workers)
    return f"""
[celery]
# Redis (project-local, unix socket only) carries the task messages; the task states go to Airflow's database.
broker_url = {Redis(home).url}
result_backend = db+{database_url(home, shape)}
worker_concurrency = {per_worker}
# One message at a time per free slot: a busy worker never holds tasks an idle one could run.
worker_prefetch_multiplier = 1
"""


def database_url(home: Path, shape: AirflowConfig) -> str:
    return Postgres(home).url if shape.database == "postgres" else f"sqlite:///{home / 'airflow.db'}"


def airflow_cfg(home: Path, port: int, shape: AirflowConfig = AirflowConfig()) -> str:
    return f"""\
[core]
dags_folder = {DAGS_FOLDER}
executor = {EXECUTORS[shape.executor]}
# Task processes at once, in all and per DAG (the LocalExecutor; the SequentialExecutor runs one).
parallelism = {shape.parallelism}
max_active_tasks_per_dag = {shape.parallelism}
load_examples = False
# Importing TensorFlow and TFX takes 5-20 s on 2 busy cores; Airflow's default budget is 30 s.
dagbag_import_timeout = 120
dag_file_processor_timeout = 180

[database]
sql_alchemy_conn = {database_url(home, shape)}

[scheduler]
# The DAG changes with code or config, not with data: re-parsing it every 30 s (the default) costs a core.
min_file_process_interval = 300
dag_dir_list_interval = 300
parsing_processes = 1

[api]
# Basic auth for `mlops monitor`'s retrain trigger (credentials in mlops/credentials.json, mode 0600); the
# session backend for the web UI.
auth_backends = airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session

[webserver]
web_server_host = 127.0.0.1
web_server_port = {port}
workers = 1
expose_config = False

[logging]
base_log_folder = {home / "logs"}
""" + _celery_section(home, shape)


def environment(home: Path, config_path: Path) -> Dict[str, str]:
    """What an Airflow process of this project needs: its home, the pipeline config, Keras 2."""
    # The executor starts each task as `airflow tasks run ...` found on PATH; run from an unactivated venv
    # (.venv/bin/mlops), that is not the venv's airflow, or none at all, and the scheduler dies.
    path = os.pathsep.join([str(Path(airflow_bin()).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "AIRFLOW_HOME": str(home), "MLOPS_CONFIG": str(Path(config_path).resolve()),
            "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def airflow_bin() -> str:
    return str(Path(sys.executable).parent / "airflow")


def prepare_home(home: Path, port: int, shape: AirflowConfig = AirflowConfig()) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "airflow.cfg").write_text(airflow_cfg(home, port, shape))


def _airflow(env: Dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([airflow_bin(), *args], env=env, capture_output=True, text=True)


def create_admin(env: Dict[str, str]) -> Optional[str]:
    """Creates the admin user with a fresh random password and returns it; None when the user already exists."""
    listed = _airflow(env, "users", "list", "--output", "json")
    if listed.returncode != 0:
        raise AirflowError(f"airflow users list failed:\n{listed.stderr[-2000:]}")
    # The CLI may print warnings before the JSON list.
    users = json.loads(listed.stdout[listed.stdout.index("["):]) if "[" in listed.stdout else []
    if any(user.get("username") == ADMIN_USER for user in users):
        return None
    password = secrets.token_urlsafe(18)
    created = _airflow(env, "users", "create", "--role", "Admin", "--username", ADMIN_USER, "--password", password,
                       "--firstname", "Pipeline", "--lastname", "Admin", "--email", "admin@localhost")
    if created.returncode != 0:
        raise AirflowError(f"airflow users create failed:\n{created.stderr[-2000:]}")
    return password


def pid_file(home: Path, daemon: str) -> Path:
    return home / f"{daemon}.pid"


def running_pid(home: Path, daemon: str) -> Optional[int]:
    """The pid in the daemon's pid file if that process is alive and is an Airflow process."""
    path = pid_file(home, daemon)
    if not path.is_file():
        return None
    pid = int(path.read_text().strip())
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # A recycled pid belongs to some other program: never signal it. A Celery worker renames its process
    # ("[celeryd: worker-1@host:MainProcess] ...").
    ours = b"airflow" in cmdline or (daemon.startswith("worker-") and b"celeryd: " + daemon.encode() + b"@" in cmdline)
    return pid if ours and daemon.encode() in cmdline else None


def start_daemon(home: Path, daemon: str, env: Dict[str, str], args: List[str]) -> subprocess.Popen:
    """`airflow <daemon> args`, or for a Celery worker (args start with 'celery') `airflow celery worker ...`."""
    log = open(home / f"{daemon}.log", "ab")
    command = list(args) if args[:1] == ["celery"] else [daemon, *args]
    # A session of its own: `down` signals the whole group (gunicorn workers, DAG processors, task runs).
    process = subprocess.Popen([airflow_bin(), *command], env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True, cwd=home)
    pid_file(home, daemon).write_text(f"{process.pid}\n")
    return process


def wait_healthy(port: int, home: Path, processes: Dict[str, subprocess.Popen], timeout: float = 180.0) -> dict:
    """Polls the webserver's /health until the metadatabase and the scheduler both report healthy."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        for daemon, process in processes.items():
            if process.poll() is not None:
                raise AirflowError(f"the {daemon} exited ({process.returncode}); see {home / (daemon + '.log')}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                health = json.loads(response.read())
            if all(health.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler")):
                return health
            last = str(health)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(2)
    raise AirflowError(f"Airflow not healthy after {timeout:.0f} s ({last}); see the logs in {home}")


def query_rows(url: str, query: str, **params) -> list:
    """The rows of one SQL query on Airflow's database at `url` (SQLite or PostgreSQL), as tuples."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as db:
            return [tuple(row) for row in db.execute(sqlalchemy.text(query), params)]
    finally:
        engine.dispose()


def wait_registered(home: Path, dag_id: str, processes: Dict[str, subprocess.Popen], url: str,
                    timeout: float = 300.0) -> None:
    """Waits until the scheduler's first parse has put the DAG in the database. Before that, `airflow dags
    unpause` finds no DAG to unpause, and the parse then registers it paused: a run triggered meanwhile stays
    queued for good."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    query = sqlalchemy.text("SELECT 1 FROM dag WHERE dag_id = :dag_id AND is_active")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if processes["scheduler"].poll() is not None:
                raise AirflowError(f"the scheduler exited ({processes['scheduler'].returncode}); see "
                                   f"{home / 'scheduler.log'}")
            try:
                with engine.connect() as db:
                    if db.execute(query, {"dag_id": dag_id}).fetchone():
                        return
            except sqlalchemy.exc.SQLAlchemyError:
                pass  # SQLite locked by the scheduler for a moment
            time.sleep(2)
    finally:
        engine.dispose()
    raise AirflowError(f"the scheduler did not register DAG '{dag_id}' within {timeout:.0f} s; see the parse "
                       f"log in {home / 'logs' / 'scheduler'}")


def credentials_path(home: Path) -> Path:
    return Path(home) / "mlops" / "credentials.json"


def write_credentials(home: Path, url: str, user: str, password: str) -> Path:
    """The admin credentials, for the REST API calls of `mlops monitor`: readable by this user only."""
    path = credentials_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"url": url, "user": user, "password": password}, handle)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT
    return path


def _api(home: Path, method: str, path: str, body: Optional[dict] = None) -> dict:
    """One call to the REST API of the Airflow that `up` started in `home`."""
    import base64

    try:
        credentials = json.loads(credentials_path(home).read_text())
    except OSError:
        raise AirflowError(f"no credentials in {credentials_path(home)}: start Airflow with `mlops airflow up`") \
            from None
    token = base64.b64encode(f"{credentials['user']}:{credentials['password']}".encode()).decode()
    request = urllib.request.Request(credentials["url"] + "/api/v1" + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise AirflowError(f"Airflow's API answered {exc.code} to {method} {path}: {exc.read()[:500]!r}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise AirflowError(f"Airflow's API at {credentials['url']} is not reachable ({exc}): is `mlops airflow up` "
                           "running?") from None


def trigger_dag(home: Path, dag_id: str) -> str:
    """Unpauses the DAG and starts a run of it; returns the run id."""
    _api(home, "PATCH", f"/dags/{dag_id}", {"is_paused": False})
    return _api(home, "POST", f"/dags/{dag_id}/dagRuns", {"conf": {}})["dag_run_id"]


def dag_runs_in_flight(home: Path, dag_id: str) -> Optional[str]:
    """'Airflow run <id> (<state>)' for a queued or running run of the DAG, else None."""
    found = _api(home, "GET", f"/dags/{dag_id}/dagRuns?state=queued&state=running")
    runs = found.get("dag_runs") or []
    return f"Airflow run {runs[0]['dag_run_id']} ({runs[0]['state']})" if runs else None


@dataclass
class Started:
    home: Path
    url: str
    pids: Dict[str, int]
    admin_password: Optional[str]
    executor: str = "sequential"
    database: str = "sqlite"


def started_daemons(home: Path) -> List[str]:
    """The daemons `up` may have started in this home: scheduler, webserver and any Celery workers."""
    workers = sorted(p.stem for p in Path(home).glob("worker-*.pid"))
    return list(DAEMONS) + workers


def up(config_path: Path = DEFAULT_CONFIG, home: Path = DEFAULT_HOME, port: int = 8080) -> Started:
    home = Path(home).resolve()
    already = {d: running_pid(home, d) for d in started_daemons(home)}
    if any(already.values()):
        raise AirflowError(f"Airflow already runs from {home} (pids {already}); `mlops airflow down` first")
    config = load_config(config_path)
    shape = config.airflow
    prepare_home(home, port, shape)
    if shape.database == "postgres":
        try:
            Postgres(home).start()
        except ServiceError as exc:
            raise AirflowError(f"Airflow's database (PostgreSQL) could not start: {exc}") from None
    if shape.executor == "celery":
        try:
            Redis(home).start()
        except ServiceError as exc:
            raise AirflowError(f"Celery's broker (Redis) could not start: {exc}") from None
    metadata_server = mariadb.for_config(config)
    if metadata_server is not None:
        try:
            metadata_server.start()
        except ServiceError as exc:
            raise AirflowError(f"ML Metadata's database (MariaDB) could not start: {exc}") from None
        # `down` knows only the home: it stops the server named here.
        (home / METADATA_SERVER_FILE).write_text(str(metadata_server.root))
    env = environment(home, config_path)
    migrated = _airflow(env, "db", "migrate")
    if migrated.returncode != 0:
        raise AirflowError(f"airflow db migrate failed:\n{migrated.stderr[-2000:]}")
    # --skip-serve-logs: the scheduler's log server binds every interface; the webserver reads local logs anyway.
    processes = {"scheduler": start_daemon(home, "scheduler", env, ["--skip-serve-logs"]),
                 "webserver": start_daemon(home, "webserver", env,
                                           ["--hostname", "127.0.0.1", "--port", str(port)])}
    for worker in worker_names(shape):
        # -H names the worker in Celery (and in `celery inspect`); --skip-serve-logs: the webserver reads the
        # task logs from the shared log folder, and two log servers on one machine would want one port.
        processes[worker] = start_daemon(home, worker, env, [
            "celery", "worker", "-H", f"{worker}@{socket.gethostname()}",
            "-c", str(max(1, shape.parallelism // shape.workers)), "--skip-serve-logs"])
    try:
        wait_healthy(port, home, processes)
        wait_registered(home, config.pipeline_name, processes, database_url(home, shape))
        # Only once Airflow is up, so a password is never created and then lost to a failed start.
        password = create_admin(env)
        if password:
            write_credentials(home, f"http://127.0.0.1:{port}", ADMIN_USER, password)
    except AirflowError:
        for daemon, process in processes.items():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
            pid_file(home, daemon).unlink(missing_ok=True)
        raise
    pids = {daemon: process.pid for daemon, process in processes.items()}
    return Started(home, f"http://127.0.0.1:{port}", pids, password, shape.executor, shape.database)


def down(home: Path = DEFAULT_HOME, timeout: float = 30.0) -> Dict[str, int]:
    """Stops what `up` started (SIGTERM to each daemon's process group, SIGKILL after `timeout`)."""
    home = Path(home).resolve()
    stopped = {}
    for daemon in started_daemons(home):
        pid = running_pid(home, daemon)
        if pid is not None:
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while running_pid(home, daemon) is not None and time.monotonic() < deadline:
                time.sleep(0.5)
            if running_pid(home, daemon) is not None:
                os.killpg(pid, signal.SIGKILL)
            stopped[daemon] = pid
        pid_file(home, daemon).unlink(missing_ok=True)
    # The broker and the databases last: the daemons and their tasks use them until they exit.
    try:
        pid = Redis(home).stop()
        if pid is not None:
            stopped["redis"] = pid
    except ServiceError:
        pass
    recorded = home / METADATA_SERVER_FILE
    if recorded.is_file():
        pid = mariadb.MariaDB(Path(recorded.read_text().strip())).stop()
        if pid is not None:
            stopped["mariadb"] = pid
        recorded.unlink()
    try:
        pid = Postgres(home).stop()
        if pid is not None:
            stopped["postgres"] = pid
    except ServiceError:
        pass  # no PostgreSQL installed: there is none of ours to stop
    return stopped
