"""The lineage of a pushed model version in ML Metadata: from the PushedModel artifact back through the Pusher,
the blessing, the Trainer, Transform and the Examples (their spans) to the statistics and the evaluation.

Only ML Metadata's own queries (artifacts by type and property, events by artifact and execution), so it reads a
store written by LocalDagRunner and by Airflow's launcher alike, and imports no TFX.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2 as pb

_OUTPUTS = (pb.Event.OUTPUT, pb.Event.DECLARED_OUTPUT)
_INPUTS = (pb.Event.INPUT, pb.Event.DECLARED_INPUT)


def _value(artifact_or_execution, key: str):
    for properties in (artifact_or_execution.custom_properties, artifact_or_execution.properties):
        if key in properties:
            value = properties[key]
            kind = value.WhichOneof("value")
            return getattr(value, kind) if kind else None
    return None


def property_value(item, key: str):
    """A custom property (or property) of an artifact or execution, whatever its type; None when absent."""
    value = _value(item, key)
    if hasattr(value, "string_value"):  # a struct or proto value: not used here
        return None
    return value


@dataclass
class Step:
    """One execution of the lineage with its inputs and outputs by key."""
    execution: pb.Execution
    type_name: str
    inputs: Dict[str, List[pb.Artifact]] = field(default_factory=dict)
    outputs: Dict[str, List[pb.Artifact]] = field(default_factory=dict)

    def first(self, key: str, outputs: bool = False) -> Optional[pb.Artifact]:
        found = (self.outputs if outputs else self.inputs).get(key) or []
        return found[0] if found else None


class Lineage:
    """Reads the steps behind an artifact; each query is a handful of ML Metadata calls."""

    def __init__(self, store):
        self.store = store
        self._execution_types = {t.id: t.name for t in store.get_execution_types()}
        self._artifact_types = {t.id: t.name for t in store.get_artifact_types()}

    def artifact_type(self, artifact: pb.Artifact) -> str:
        return self._artifact_types.get(artifact.type_id, "")

    def _step(self, execution: pb.Execution) -> Step:
        events = self.store.get_events_by_execution_ids([execution.id])
        artifacts = {a.id: a for a in self.store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))}
        step = Step(execution, self._execution_types.get(execution.type_id, ""))
        for event in events:
            key = event.path.steps[0].key if event.path.steps else ""
            target = step.outputs if event.type in _OUTPUTS else step.inputs if event.type in _INPUTS else None
            if target is not None and event.artifact_id in artifacts:
                target.setdefault(key, []).append(artifacts[event.artifact_id])
        return step

    def producer(self, artifact: pb.Artifact) -> Optional[Step]:
        """The execution that output `artifact` (the first, for an artifact a cached execution re-published)."""
        events = [e for e in self.store.get_events_by_artifact_ids([artifact.id]) if e.type in _OUTPUTS]
        if not events:
            return None
        [execution] = self.store.get_executions_by_id([min(e.execution_id for e in events)])
        return self._step(execution)

    def consumers(self, artifact: pb.Artifact, type_suffix: str) -> List[Step]:
        events = [e for e in self.store.get_events_by_artifact_ids([artifact.id]) if e.type in _INPUTS]
        executions = self.store.get_executions_by_id(sorted({e.execution_id for e in events}))
        return [self._step(e) for e in executions if self._execution_types.get(e.type_id, "").endswith(type_suffix)]

    def pushed_models(self) -> List[pb.Artifact]:
        """Every PushedModel artifact that recorded a push, oldest first."""
        try:
            found = self.store.get_artifacts_by_type("PushedModel")
        except Exception:  # noqa: BLE001 - ML Metadata raises NotFoundError when no push ever happened
            return []
        return sorted((a for a in found if property_value(a, "pushed") == 1), key=lambda a: a.id)

    def pushed_model(self, version: int) -> Optional[pb.Artifact]:
        matches = [a for a in self.pushed_models() if str(property_value(a, "pushed_version")) == str(version)]
        return matches[-1] if matches else None

    def version_lineage(self, version: int) -> Optional["VersionLineage"]:
        pushed = self.pushed_model(version)
        if pushed is None:
            return None
        pusher = self.producer(pushed)
        model = pusher.first("model") if pusher else None
        trainer = self.producer(model) if model else None
        transformed = trainer.first("examples") if trainer else None
        transform = self.producer(transformed) if transformed else None
        examples = (transform.inputs.get("examples") if transform else None) or []
        blessing = pusher.first("model_blessing") if pusher else None
        evaluator = self.producer(blessing) if blessing else None
        statistics = []
        for example in examples:
            statistics += [s.first("statistics", outputs=True) for s in self.consumers(example, "StatisticsGen")]
        return VersionLineage(version, pushed, pusher, model, trainer, transform, examples, blessing, evaluator,
                              [s for s in statistics if s is not None],
                              trainer.first("schema") if trainer else None,
                              trainer.first("transform_graph") if trainer else None,
                              self.run_id(pusher.execution) if pusher else None)

    def run_id(self, execution: pb.Execution) -> Optional[str]:
        """The pipeline run an execution belongs to, as its runner names it (LocalDagRunner or Airflow)."""
        for context in self.store.get_contexts_by_execution(execution.id):
            context_type = self.store.get_context_types_by_id([context.type_id])[0].name
            if context_type == "pipeline_run":
                return context.name
            if context_type == "run":
                return property_value(context, "run_id")
        return None


@dataclass
class VersionLineage:
    version: int
    pushed_model: pb.Artifact
    pusher: Optional[Step]
    model: Optional[pb.Artifact]
    trainer: Optional[Step]
    transform: Optional[Step]
    examples: List[pb.Artifact]
    blessing: Optional[pb.Artifact]
    evaluator: Optional[Step]
    statistics: List[pb.Artifact]
    schema: Optional[pb.Artifact]
    transform_graph: Optional[pb.Artifact]
    run_id: Optional[str]

    @property
    def spans(self) -> List[int]:
        return sorted({int(property_value(e, "span")) for e in self.examples if property_value(e, "span") is not None})

    @property
    def evaluation(self) -> Optional[pb.Artifact]:
        return self.evaluator.first("evaluation", outputs=True) if self.evaluator else None
