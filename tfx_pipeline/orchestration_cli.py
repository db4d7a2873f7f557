"""`mlops airflow up|down|status` and `mlops compile`: the pipeline under orchestrators other than LocalDagRunner."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from tfx_pipeline.config import DEFAULT_CONFIG, ConfigError, load_config

home_option = click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
                           help="AIRFLOW_HOME [default: <repository>/work/airflow].")


@click.group("airflow")
def airflow() -> None:
    """A local Airflow (SQLite, SequentialExecutor) whose dags folder is runners/."""


@airflow.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=DEFAULT_CONFIG, show_default=True, help="Pipeline config the DAG is built from (MLOPS_CONFIG).")
@home_option
@click.option("--port", type=int, default=8080, show_default=True, help="Webserver port on 127.0.0.1.")
def up(config_path: Path, home: Optional[Path], port: int) -> None:
    """Start the scheduler and the webserver on 127.0.0.1 (pid files in AIRFLOW_HOME)."""
    from tfx_pipeline import airflow_local

    try:
        config = load_config(config_path)
        started = airflow_local.up(config_path, home or airflow_local.DEFAULT_HOME, port)
    except (ConfigError, airflow_local.AirflowError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Airflow is up: {started.url} (scheduler pid {started.pids['scheduler']}, "
               f"webserver pid {started.pids['webserver']}), DAG '{config.pipeline_name}' from {config_path}")
    if started.admin_password:
        click.echo(f"admin user created; this password is shown once: {airflow_local.ADMIN_USER} / "
                   f"{started.admin_password}")
    else:
        click.echo(f"admin user '{airflow_local.ADMIN_USER}' already exists (new password: "
                   f"`airflow users reset-password -u {airflow_local.ADMIN_USER}` with the environment below)")
    click.echo(f"CLI environment: export AIRFLOW_HOME={started.home} MLOPS_CONFIG={Path(config_path).resolve()} "
               f"TF_USE_LEGACY_KERAS=1")
    click.echo(f"trigger a run: airflow dags unpause {config.pipeline_name} && "
               f"airflow dags trigger {config.pipeline_name}")


@airflow.command()
@home_option
def down(home: Optional[Path]) -> None:
    """Stop the scheduler and the webserver that `mlops airflow up` started."""
    from tfx_pipeline import airflow_local

    stopped = airflow_local.down(home or airflow_local.DEFAULT_HOME)
    click.echo("stopped: " + (", ".join(f"{d} (pid {p})" for d, p in stopped.items()) or "nothing was running"))


@airflow.command()
@home_option
def status(home: Optional[Path]) -> None:
    """Say whether the scheduler and the webserver started by `up` are running."""
    from tfx_pipeline import airflow_local

    home = home or airflow_local.DEFAULT_HOME
    for daemon in airflow_local.DAEMONS:
        pid = airflow_local.running_pid(Path(home).resolve(), daemon)
        click.echo(f"{daemon}: " + (f"running (pid {pid})" if pid else "not running"))


@click.command("compile")
@click.option("--target", type=click.Choice(["kubeflow"]), default="kubeflow", show_default=True,
              help="kubeflow: a Kubeflow Pipelines v2 / Vertex AI Pipelines job spec (JSON).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=DEFAULT_CONFIG, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Spec file [default: ./<pipeline_name>_kubeflow_v2.json].")
@click.option("--image", default=None, help="Container image the components run in [default: tfx-text-mlops:latest].")
def compile_pipeline(target: str, config_path: Path, output: Optional[Path], image: Optional[str]) -> None:
    """Compile the pipeline for another orchestrator."""
    from runners import kubeflow_v2_runner

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if config.data.span_window > 1:
        # TFX 1.16's KubeflowV2 step builder raises for any resolver strategy but the two latest-artifact ones.
        raise click.ClickException(
            f"data.span_window is {config.data.span_window}: the span window's resolver cannot be compiled for "
            "Kubeflow V2 (TFX 1.16 compiles only LatestArtifactStrategy and LatestBlessedModelStrategy "
            "resolvers); compile a config with data.span_window: 1")
    output = output or Path(f"{config.pipeline_name}_kubeflow_v2.json")
    try:
        written = kubeflow_v2_runner.compile_pipeline(config, output, image or kubeflow_v2_runner.DEFAULT_IMAGE)
    except ConfigError as exc:
        raise click.ClickException(f"cannot compile {config_path} for {target}: {exc}") from None
    click.echo(f"{target} pipeline spec written to {written}")
