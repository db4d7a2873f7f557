"""What every `mlops` command shares: the --config and --sample options, and loading the config into a clear error."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from tfx_pipeline.config import DEFAULT_CONFIG, PipelineConfig, load_config

config_option = click.option("--config", "config_path", type=click.Path(path_type=Path), default=DEFAULT_CONFIG,
                             show_default=True, help="Pipeline config (YAML).")
sample_option = click.option("--sample", type=click.IntRange(min=30), default=None,
                             help="The fast development profile: N rows of the source, in a workspace of their own.")
workdir_option = click.option("--workdir", default=None,
                              help="Overrides paths.workdir (spans, artifacts, logs): a path or a gs:// URI.")
pipeline_root_option = click.option("--pipeline-root", default=None,
                                    help="Overrides paths.pipeline_root (a path or a gs:// URI).")
serving_root_option = click.option("--serving-root", default=None,
                                   help="Overrides paths.serving_root (a path or a gs:// URI).")
verbose_option = click.option("-v", "--verbose", is_flag=True,
                              help="Show TensorFlow, absl and Beam output on the console instead of the log file.")


def load(config_path: Path, sample: Optional[int] = None, **overrides: Optional[str]) -> PipelineConfig:
    """The effective config of a command, or a ClickException naming what is wrong with it."""
    try:
        return load_config(config_path).with_overrides(sample=sample, **overrides)
    except ValueError as exc:  # ConfigError, or an override that is not a usable location
        raise click.ClickException(str(exc)) from None


def start_metadata_server(config: PipelineConfig) -> Optional[str]:
    """Starts the config's project-local MariaDB of ML Metadata when it is not running; what was done, for the
    console, or None when nothing was."""
    if config.metadata.local_server is None:
        return None
    from runners.services import mariadb
    from runners.services.common import ServiceError

    server = mariadb.for_config(config)
    try:
        if not server.start():
            return None
    except ServiceError as exc:
        raise click.ClickException(f"ML Metadata's MariaDB could not start: {exc}") from None
    return (f"ML Metadata: started the project-local MariaDB in {server.root} (pid {server.pid()}; `mlops metadata "
            "down` stops it)")
