"""`mlops report`: the table `mlops run` ends with, for any recorded run, whichever runner made it (Airflow too)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from tfx_pipeline.cli.common import config_option, load, pipeline_root_option, sample_option, workdir_option
from tfx_pipeline.cli.console import QuietOutput, log_file_path
from tfx_pipeline.config import ConfigError


@click.command("report")
@config_option
@sample_option
@workdir_option
@pipeline_root_option
@click.option("--run-id", default=None,
              help="The run to report on, as the report or the runner names it [default: the latest run].")
@click.option("--html", "as_html", is_flag=True,
              help="Also write the run's self-contained HTML report (<workdir>/reports/run-<id>.html).")
def report(config_path: Path, sample: Optional[int], workdir: Optional[str], pipeline_root: Optional[str],
           run_id: Optional[str], as_html: bool) -> None:
    """Print what a pipeline run did: components ran / cached / failed / skipped, blessing, pushed version."""
    config = load(config_path, sample, workdir=workdir, pipeline_root=pipeline_root)
    try:
        config.require_metadata("mlops report")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if config.metadata.kind == "sqlite" and not config.metadata_path.is_file():
        raise click.ClickException(f"no ML Metadata at {config.metadata_path}: nothing has run with this config "
                                   "here (--workdir, --pipeline-root and --sample choose another workspace)")
    with QuietOutput(log_file_path(config.logs_dir, "report")) as quiet:
        # TFX: imported once the config is known to be usable.
        from tfx_pipeline.metadata.run_report import build_report
        from tfx_pipeline.metadata.store import MetadataUnavailable
        from tfx_pipeline.pipeline import create_pipeline

        try:
            shown = build_report(config, [c.id for c in create_pipeline(config).components], run_id)
        except (LookupError, MetadataUnavailable) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"pipeline run {shown.run_id} (recorded by {shown.launcher} in {config.metadata_where})\n"
                   f"{shown.table()}",
                   file=quiet.console)
        if as_html:
            from tfx_pipeline.reports.html import report_folder, write_report

            click.echo(f"html report: {write_report(config, shown, report_folder(config))}", file=quiet.console)
