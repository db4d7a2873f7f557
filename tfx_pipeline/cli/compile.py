"""`mlops compile`: the pipeline compiled for an orchestrator that runs it elsewhere (Kubeflow Pipelines / Vertex),
or the shape an Airflow DAG file is built from without importing TFX."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import click

from tfx_pipeline.cli.console import QuietOutput, log_file_path
from tfx_pipeline.config import DEFAULT_CONFIG, ConfigError, PipelineConfig, load_config


@click.command("compile")
@click.option("--target", type=click.Choice(["kubeflow", "airflow"]), default="kubeflow", show_default=True,
              help="kubeflow: a Kubeflow Pipelines v2 / Vertex AI Pipelines job spec (JSON). airflow: the "
                   "pipeline's shape (task ids and dependencies, JSON), which runners/airflow/pipeline_dag.py "
                   "reads from the shapes/ folder beside it to parse without importing TensorFlow or TFX.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=DEFAULT_CONFIG, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file [kubeflow default: ./<pipeline_name>_kubeflow_v2.json; airflow default: "
                   "runners/airflow/shapes/<config file name>.json].")
@click.option("--image", default=None, help="Container image the components run in [default: tfx-text-mlops:latest].")
def compile_pipeline(target: str, config_path: Path, output: Optional[Path], image: Optional[str]) -> None:
    """Compile the pipeline for another orchestrator."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    # Building the pipeline imports TensorFlow and TFX, whose start-up noise goes to the log, not the console.
    with QuietOutput(log_file_path(_logs_dir(config), "compile")) as quiet:
        click.echo(_compile(target, config_path, config, output, image), file=quiet.console)


def _logs_dir(config: PipelineConfig) -> Path:
    try:
        return config.logs_dir
    except ConfigError:  # a remote workspace and no local ML Metadata: a Kubeflow config compiled on a laptop
        return Path(tempfile.gettempdir()) / "mlops-logs"


def _compile(target: str, config_path: Path, config: PipelineConfig, output: Optional[Path],
             image: Optional[str]) -> str:
    """What was written, in a sentence."""
    if target == "airflow":
        from runners.airflow import shape

        if image is not None:
            raise click.UsageError("--image applies to --target kubeflow only")
        try:
            written = shape.compile_shape(config_path, config, output)
        except shape.ShapeFileTaken as exc:
            raise click.ClickException(str(exc)) from None
        return f"airflow pipeline shape of {config_path} written to {written}"

    from runners import kubeflow_v2_runner

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
    return f"{target} pipeline spec written to {written}"
