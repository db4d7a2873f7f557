"""Runs the pipeline on TFX's LocalDagRunner (Beam DirectRunner, SQLite ML Metadata, local files)."""
from __future__ import annotations

from tfx import v1 as tfx

from tfx_pipeline.config import PipelineConfig
from tfx_pipeline.pipeline import create_pipeline


def run(config: PipelineConfig) -> None:
    config.pipeline_root.mkdir(parents=True, exist_ok=True)
    tfx.orchestration.LocalDagRunner().run(create_pipeline(config))
