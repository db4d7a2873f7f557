"""Pipeline runs in ML Metadata, whichever TFX launcher recorded them.

The IR launcher (LocalDagRunner, `mlops run`) records a `pipeline_run` context per run, a child of the
pipeline's context, and puts each execution in a `node` context named `<pipeline>.<node id>`. TFX's legacy
launcher, which Airflow runs, records a `run` context named `<pipeline>.<run id>` instead, with the run id and
the component id as properties of the context and of each execution. A run's id is the one its runner shows:
LocalDagRunner's timestamp, Airflow's DAG run id.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2

IR_RUN, LEGACY_RUN = "pipeline_run", "run"
IR_LAUNCHER, LEGACY_LAUNCHER = "TFX's IR launcher", "TFX's legacy launcher (Airflow)"


@dataclass(frozen=True)
class PipelineRun:
    run_id: str
    context: metadata_store_pb2.Context

    @property
    def launcher(self) -> str:
        return LEGACY_LAUNCHER if self.context.type == LEGACY_RUN else IR_LAUNCHER


def _ir_runs(store, pipeline_name: str) -> List[PipelineRun]:
    # TFX links each pipeline_run context to its pipeline's context (portable/mlmd/context_lib.py).
    return [PipelineRun(c.name, c) for c in store.get_contexts_by_type(IR_RUN)
            if any(p.name == pipeline_name for p in store.get_parent_contexts_by_context(c.id))]


def _legacy_runs(store, pipeline_name: str) -> List[PipelineRun]:
    return [PipelineRun(c.properties["run_id"].string_value, c) for c in store.get_contexts_by_type(LEGACY_RUN)
            if c.properties["pipeline_name"].string_value == pipeline_name]


def pipeline_runs(store, pipeline_name: str) -> List[PipelineRun]:
    """Every run of the pipeline, oldest first."""
    runs = _ir_runs(store, pipeline_name) + _legacy_runs(store, pipeline_name)
    return sorted(runs, key=lambda r: (r.context.create_time_since_epoch, r.context.id))


def find_run(store, pipeline_name: str, run_id: Optional[str] = None) -> Optional[PipelineRun]:
    """The run with this id, or the latest run when run_id is None."""
    runs = pipeline_runs(store, pipeline_name)
    if run_id is None:
        return runs[-1] if runs else None
    return next((r for r in reversed(runs) if r.run_id == run_id), None)


def executions_by_component(store, run: PipelineRun, pipeline_name: str) -> Dict[str, metadata_store_pb2.Execution]:
    executions = store.get_executions_by_context(run.context.id)
    if run.context.type == LEGACY_RUN:
        return {e.properties["component_id"].string_value: e for e in executions}
    prefix = pipeline_name + "."
    by_node = {}
    for execution in executions:
        for context in store.get_contexts_by_execution(execution.id):
            if context.type == "node" and context.name.startswith(prefix):
                by_node[context.name[len(prefix):]] = execution
    return by_node
