"""`mlops ingest` and `mlops schema propose`: data into spans, and the curated schema's review."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from tfx_pipeline.cli.common import (config_option, load, sample_option, start_metadata_server, verbose_option,
                                     workdir_option)
from tfx_pipeline.cli.console import QuietOutput, log_file_path


@click.command("ingest")
@config_option
@workdir_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ingest(config_path: Path, workdir: Optional[str], file: Path) -> None:
    """Clean FILE and add it as the next span of the data root (nothing is added if a span holds it already)."""
    from tfx_pipeline.data.ingest import ingest as ingest_file

    config = load(config_path, workdir=workdir)
    started = start_metadata_server(config)  # ingestion asks ML Metadata which spans passed validation
    if started:
        click.echo(started)
    try:
        result = ingest_file(config, source=file)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(f"ingestion failed: {exc}") from None
    click.echo("\n".join(result.lines()))


@click.group()
def schema() -> None:
    """Curated schemas: propose an inferred one for review."""


@schema.command()
@config_option
@sample_option
@verbose_option
def propose(config_path: Path, sample: Optional[int], verbose: bool) -> None:
    """Write SchemaGen's inferred schema beside the curated one (<name>.proposed.pbtxt) for review."""
    from tfx_pipeline.data.ingest import ingest as ingest_file
    from tfx_pipeline.data.schema_proposal import propose_schema

    config = load(config_path, sample)
    start_metadata_server(config)
    with QuietOutput(log_file_path(config.logs_dir, "schema-propose"), verbose) as quiet:
        try:
            ingest_file(config, sample=sample)
        except (ValueError, FileNotFoundError) as exc:
            raise click.ClickException(f"ingestion failed: {exc}") from None
        written = propose_schema(config)
        click.echo(f"proposed schema written to {written}; diff it against {config.schema_file}", file=quiet.console)
