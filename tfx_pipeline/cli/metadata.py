"""`mlops metadata up|down|status`: the project-local MariaDB that keeps ML Metadata when the config says
`metadata: {kind: mysql, local_server: <folder>}` (runners/services/mariadb.py). `mlops run` and `mlops airflow
up` start it themselves; these commands are for starting it ahead and for stopping it."""
from __future__ import annotations

from pathlib import Path

import click

from tfx_pipeline.cli.common import config_option, load


def _server(config_path: Path):
    from runners.services import mariadb

    config = load(config_path)
    server = mariadb.for_config(config)
    if server is None:
        raise click.ClickException(f"{config_path} keeps {config.metadata_where}, not in a project-local MariaDB "
                                   "(metadata.local_server)")
    return config, server


@click.group("metadata")
def metadata() -> None:
    """The project-local MariaDB of ML Metadata (metadata.local_server)."""


@metadata.command()
@config_option
def up(config_path: Path) -> None:
    """Start the server (creating its data folder on first use)."""
    from runners.services.common import ServiceError

    config, server = _server(config_path)
    try:
        started = server.start()
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(("started" if started else "already running") + f": MariaDB in {server.root} (pid {server.pid()}), "
               f"socket {server.socket}; {config.metadata_where}")


@metadata.command()
@config_option
def down(config_path: Path) -> None:
    """Stop the server (a clean shutdown)."""
    _, server = _server(config_path)
    pid = server.stop()
    click.echo(f"stopped: mariadb (pid {pid})" if pid else "stopped: nothing was running")


@metadata.command()
@config_option
def status(config_path: Path) -> None:
    """Say whether the server runs."""
    _, server = _server(config_path)
    pid = server.pid()
    click.echo("mariadb: " + (f"running (pid {pid}), socket {server.socket}" if pid else "not running"))
