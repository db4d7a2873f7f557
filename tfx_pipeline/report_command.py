"""`mlops report`: the table `mlops run` ends with, for any recorded run, whichever runner made it (Airflow too)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from tfx_pipeline.config import DEFAULT_CONFIG, ConfigError, load_config


@click.command("report")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=DEFAULT_CONFIG,
              show_default=True, help="Pipeline config (YAML).")
@click.option("--sample", type=click.IntRange(min=30), default=None,
              help="Report on the `mlops run --sample N` workspace.")
@click.option("--run-id", default=None,
              help="The run to report on, as the report or the runner names it [default: the latest run].")
def report(config_path: Path, sample: Optional[int], run_id: Optional[str]) -> None:
    """Print what a pipeline run did: components ran / cached / failed / skipped, blessing, pushed version."""
    try:
        config = load_config(config_path).with_overrides(sample=sample)
        metadata = config.local_metadata_path("mlops report")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if not metadata.is_file():
        raise click.ClickException(f"no ML Metadata at {metadata}: nothing has run with this config here")
    from tfx_pipeline.pipeline import create_pipeline  # TFX: imported once the config is known to be usable
    from tfx_pipeline.pipeline_runs import LEGACY_LAUNCHER
    from tfx_pipeline.run_report import build_report

    try:
        shown = build_report(config, [c.id for c in create_pipeline(config).components], run_id)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"pipeline run {shown.run_id} (recorded by {shown.launcher})\n{shown.table()}")
    if shown.launcher == LEGACY_LAUNCHER and any(c.state == "running" for c in shown.components):
        click.echo("note: TFX's legacy launcher records no failure: a component whose task failed stays 'running' "
                   "here; Airflow's task states say which failed")
