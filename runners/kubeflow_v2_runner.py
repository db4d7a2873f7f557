"""Compiles the pipeline to a Kubeflow Pipelines v2 / Vertex AI Pipelines job spec (JSON) with TFX's
KubeflowV2DagRunner: the same create_pipeline(config), every component run from one container image."""
from __future__ import annotations

from pathlib import Path

from tfx import v1 as tfx

from tfx_pipeline.config import PipelineConfig
from tfx_pipeline.pipeline import create_pipeline

# Built from the Dockerfile at the repository root; push it where the cluster can pull it and pass its name.
DEFAULT_IMAGE = "tfx-text-mlops:latest"


def compile_pipeline(config: PipelineConfig, output: Path, image: str = DEFAULT_IMAGE) -> Path:
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=str(output.parent), output_filename=output.name)
    runner.run(create_pipeline(config, tfx_strategy_only=True))
    return output
