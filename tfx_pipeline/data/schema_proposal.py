"""`mlops schema propose`: SchemaGen's inferred schema, written beside the curated one for review.

Runs ExampleGen -> StatisticsGen -> SchemaGen as a pipeline of its own: its own name (<pipeline>_schema_proposal)
and root (<pipeline_root>/schema_proposal), in the same ML Metadata store. Under the training pipeline's name it
would be that pipeline's latest run for `mlops report`, every training component "skipped".
"""
from __future__ import annotations

import shutil
from pathlib import Path

from tfx import v1 as tfx

from tfx_pipeline.config import PipelineConfig
from tfx_pipeline.locations import require_local
from tfx_pipeline.metadata.store import connection_config
from tfx_pipeline.components.ids import STATISTICS_GEN
from tfx_pipeline.pipeline import example_gen_component

SCHEMA_GEN = "schema_gen"
PROPOSED_SUFFIX = ".proposed.pbtxt"
NAME_SUFFIX = "_schema_proposal"


def proposal_path(config: PipelineConfig) -> Path:
    return config.schema_file.with_name(config.schema_file.name.replace(".pbtxt", "") + PROPOSED_SUFFIX)


def propose_schema(config: PipelineConfig) -> Path:
    example_gen = example_gen_component(config)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"]).with_id(STATISTICS_GEN)
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"],
                                          infer_feature_shape=True).with_id(SCHEMA_GEN)
    # It reads back SchemaGen's output with local file operations.
    training_root = require_local(config.pipeline_root, "paths.pipeline_root", "mlops schema propose")
    pipeline_root = training_root / "schema_proposal"
    pipeline_root.mkdir(parents=True, exist_ok=True)
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name + NAME_SUFFIX,
        pipeline_root=str(pipeline_root),
        components=[example_gen, statistics_gen, schema_gen],
        enable_cache=True,
        metadata_connection_config=connection_config(config),
        beam_pipeline_args=list(config.beam.args)))
    schema_dir = pipeline_root / SCHEMA_GEN / "schema"
    latest = max(schema_dir.iterdir(), key=lambda p: p.stat().st_mtime)
    target = proposal_path(config)
    shutil.copyfile(latest / "schema.pbtxt", target)
    return target
