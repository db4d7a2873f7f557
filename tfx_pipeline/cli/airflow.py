"""`mlops airflow up|down|status`: a local Airflow running the pipeline as a DAG (runners/airflow/)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from tfx_pipeline.config import DEFAULT_CONFIG, ConfigError, load_config

home_option = click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
                           help="AIRFLOW_HOME [default: <repository>/work/airflow].")


@click.group("airflow")
def airflow() -> None:
    """A local Airflow whose dags folder is runners/airflow/: SQLite and the SequentialExecutor, or (the
    config's airflow.executor / airflow.database) a project-local PostgreSQL and the LocalExecutor, or the
    CeleryExecutor with a project-local Redis and airflow.workers worker processes."""


@airflow.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=DEFAULT_CONFIG, show_default=True, help="Pipeline config the DAG is built from (MLOPS_CONFIG).")
@home_option
@click.option("--port", type=int, default=8080, show_default=True, help="Webserver port on 127.0.0.1.")
def up(config_path: Path, home: Optional[Path], port: int) -> None:
    """Start the scheduler and the webserver on 127.0.0.1 (pid files in AIRFLOW_HOME)."""
    from runners.airflow import daemons  # no TFX: the DAG is built lazily

    try:
        config = load_config(config_path)
        started = daemons.up(config_path, home or daemons.DEFAULT_HOME, port)
    except (ConfigError, daemons.AirflowError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Airflow is up: {started.url} (scheduler pid {started.pids['scheduler']}, "
               f"webserver pid {started.pids['webserver']}), DAG '{config.pipeline_name}' from {config_path}")
    click.echo(f"executor: {started.executor}, database: {started.database}"
               + (f" (a PostgreSQL cluster in {started.home / 'postgres'}, unix socket only)"
                  if started.database == "postgres" else ""))
    workers = sorted(d for d in started.pids if d.startswith("worker-"))
    if workers:
        click.echo("Celery workers: " + ", ".join(f"{w} (pid {started.pids[w]})" for w in workers)
                   + f"; broker: Redis in {started.home / 'redis'}, unix socket only")
    click.echo(f"ML Metadata: {config.metadata_where}")
    if started.admin_password:
        click.echo(f"admin user created; this password is shown once: {daemons.ADMIN_USER} / "
                   f"{started.admin_password}")
    else:
        click.echo(f"admin user '{daemons.ADMIN_USER}' already exists (new password: "
                   f"`airflow users reset-password -u {daemons.ADMIN_USER}` with the environment below)")
    click.echo(f"CLI environment: export AIRFLOW_HOME={started.home} MLOPS_CONFIG={Path(config_path).resolve()} "
               f"TF_USE_LEGACY_KERAS=1")
    click.echo(f"trigger a run: airflow dags unpause {config.pipeline_name} && "
               f"airflow dags trigger {config.pipeline_name}")


@airflow.command()
@home_option
def down(home: Optional[Path]) -> None:
    """Stop the scheduler and the webserver that `mlops airflow up` started."""
    from runners.airflow import daemons

    stopped = daemons.down(home or daemons.DEFAULT_HOME)
    click.echo("stopped: " + (", ".join(f"{d} (pid {p})" for d, p in stopped.items()) or "nothing was running"))


@airflow.command()
@home_option
def status(home: Optional[Path]) -> None:
    """Say whether the scheduler and the webserver started by `up` are running."""
    from runners.airflow import daemons

    from runners.services.common import ServiceError
    from runners.services.postgres import Postgres

    home = Path(home or daemons.DEFAULT_HOME).resolve()
    for daemon in daemons.started_daemons(home):
        pid = daemons.running_pid(home, daemon)
        click.echo(f"{daemon}: " + (f"running (pid {pid})" if pid else "not running"))
    postgres = Postgres(home)
    if (postgres.data / "PG_VERSION").is_file():
        try:
            click.echo("postgres: " + (f"running (pid {postgres.pid()})" if postgres.running() else "not running"))
        except ServiceError as exc:
            click.echo(f"postgres: {exc}")
    from runners.services.redis import Redis

    if (home / "redis").is_dir():
        pid = Redis(home).pid()
        click.echo("redis: " + (f"running (pid {pid})" if pid else "not running"))
    recorded = home / daemons.METADATA_SERVER_FILE
    if recorded.is_file():
        from runners.services.mariadb import MariaDB

        pid = MariaDB(Path(recorded.read_text().strip())).pid()
        click.echo("mariadb: " + (f"running (pid {pid})" if pid else "not running"))
