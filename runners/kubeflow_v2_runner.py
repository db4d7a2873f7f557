"""Compiles the pipeline to a Kubeflow Pipelines v2 / Vertex AI Pipelines job spec (JSON) with TFX's
KubeflowV2DagRunner: the same create_pipeline(config), every component run from one container image."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from tfx import v1 as tfx

from tfx_pipeline.config import ConfigError, PipelineConfig
from tfx_pipeline.locations import is_remote
from tfx_pipeline.pipeline import create_pipeline

# Built from the Dockerfile at the repository root; push it where the cluster can pull it and pass its name.
DEFAULT_IMAGE = "tfx-text-mlops:latest"
# The Dockerfile's WORKDIR: the repository's schema/ and configs/ are there in the image.
IMAGE_WORKDIR = PurePosixPath("/pipeline")
REPOSITORY = Path(__file__).resolve().parent.parent


def for_containers(config: PipelineConfig) -> PipelineConfig:
    """The config as the components see it in their containers: shared roots remote, the schema in the image."""
    local = {key: value for key, value in (("paths.workdir", config.paths.workdir),
                                           ("paths.pipeline_root", config.pipeline_root),
                                           ("paths.serving_root", config.paths.serving_root))
             if not is_remote(value)}
    if local:
        raise ConfigError("each Kubeflow component runs in a container of its own, so the data, pipeline and "
                          "serving roots must be on a shared file system (gs://, s3://, hdfs://); local: "
                          + ", ".join(f"{key} = {value}" for key, value in local.items()))
    try:
        schema = IMAGE_WORKDIR / config.schema_file.resolve().relative_to(REPOSITORY).as_posix()
    except ValueError:
        raise ConfigError(f"schema_file {config.schema_file} is outside the repository, so it is not in the "
                          f"pipeline image (which holds the repository at {IMAGE_WORKDIR})") from None
    # model_copy skips validation: the schema path exists in the image, not on this machine.
    return config.model_copy(update={"schema_file": Path(str(schema))})


def compile_pipeline(config: PipelineConfig, output: Path, image: str = DEFAULT_IMAGE) -> Path:
    pipeline = create_pipeline(for_containers(config), tfx_strategy_only=True)
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=str(output.parent), output_filename=output.name)
    runner.run(pipeline)
    return output
