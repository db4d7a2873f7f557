"""`mlops`: one CLI whose subcommands map onto the stages (ingest, schema, run, report, serve, predict)."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Optional

import click

from tfx_pipeline import orchestration_cli, report_command
from tfx_pipeline import serving_commands
from tfx_pipeline.config import DEFAULT_CONFIG, ConfigError, PipelineConfig, load_config

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

config_option = click.option("--config", "config_path", type=click.Path(path_type=Path), default=DEFAULT_CONFIG,
                             show_default=True, help="Pipeline config (YAML).")


def _load(config_path: Path) -> PipelineConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def mlops() -> None:
    """Text classification on TFX: ingest, validate, transform, train, evaluate, push, serve."""


@mlops.command()
@config_option
@click.option("--sample", type=click.IntRange(min=30), default=None,
              help="Fast development profile: N rows of the source, in a workspace of their own.")
@click.option("--pipeline-root", default=None, help="Overrides paths.pipeline_root (a path or a gs:// URI).")
@click.option("--serving-root", default=None, help="Overrides paths.serving_root (a path or a gs:// URI).")
def run(config_path: Path, sample: Optional[int], pipeline_root: Optional[str], serving_root: Optional[str]) -> None:
    """Ingest the configured source as a span (if changed) and run the pipeline on LocalDagRunner."""
    from runners import local_runner
    from tfx_pipeline.ingest import ingest
    from tfx_pipeline.pipeline import create_pipeline
    from tfx_pipeline.run_report import build_report

    try:
        config = _load(config_path).with_overrides(sample=sample, pipeline_root=pipeline_root,
                                                   serving_root=serving_root)
        config.local_metadata_path("mlops run")
    except ValueError as exc:  # ConfigError included: a bad override or a remote root without paths.metadata
        raise click.ClickException(str(exc)) from None
    try:
        result = ingest(config, sample=sample)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(f"ingestion failed: {exc}") from None
    click.echo("ingestion:\n  " + "\n  ".join(result.lines()))
    started = time.time()
    failure = None
    try:
        local_runner.run(config)
    except Exception as exc:  # the table below still says which component stopped the run
        failure = exc
    component_ids = [c.id for c in create_pipeline(config).components]
    report = build_report(config, component_ids)
    click.echo(f"\npipeline run {report.run_id} ({time.time() - started:.1f} s wall)\n{report.table()}")
    if failure is not None:
        raise click.ClickException(f"the run stopped: {failure}")


@mlops.command("ingest")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ingest_command(config_path: Path, file: Path) -> None:
    """Clean FILE and add it as the next span of the data root (nothing is added if it equals the latest)."""
    from tfx_pipeline.ingest import ingest

    try:
        result = ingest(_load(config_path), source=file)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(f"ingestion failed: {exc}") from None
    click.echo("\n".join(result.lines()))


@mlops.group()
def schema() -> None:
    """Curated schemas: propose an inferred one for review."""


@schema.command()
@config_option
@click.option("--sample", type=click.IntRange(min=30), default=None, help="Infer from the sample workspace.")
def propose(config_path: Path, sample: Optional[int]) -> None:
    """Write SchemaGen's inferred schema beside the curated one (<name>.proposed.pbtxt) for review."""
    from tfx_pipeline.ingest import ingest
    from tfx_pipeline.schema_proposal import propose_schema

    config = _load(config_path).with_overrides(sample=sample)
    ingest(config, sample=sample)
    click.echo(f"proposed schema written to {propose_schema(config)}; diff it against {config.schema_file}")


mlops.add_command(serving_commands.serve)
mlops.add_command(serving_commands.predict)
mlops.add_command(orchestration_cli.airflow)
mlops.add_command(orchestration_cli.compile_pipeline)
mlops.add_command(report_command.report)


def main() -> None:
    mlops(prog_name="mlops")


if __name__ == "__main__":
    sys.exit(main())
