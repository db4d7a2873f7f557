"""Runs the pipeline on TFX's LocalDagRunner (Beam DirectRunner, SQLite ML Metadata, local files)."""
from __future__ import annotations

from tfx import v1 as tfx

from tfx_pipeline.config import PipelineConfig
from tfx_pipeline.locations import is_remote
from tfx_pipeline.pipeline import create_pipeline


def run(config: PipelineConfig) -> None:
    config.require_metadata("LocalDagRunner")
    if config.metadata.kind == "sqlite":
        config.metadata_path.parent.mkdir(parents=True, exist_ok=True)
    if not is_remote(config.pipeline_root):
        config.pipeline_root.mkdir(parents=True, exist_ok=True)
    tfx.orchestration.LocalDagRunner().run(create_pipeline(config))
