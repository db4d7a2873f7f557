"""The rolling span window (`data.span_window` > 1): the Examples of the latest N spans that passed the DataGate.

TFX 1.16's ExampleGen reads a single span: tfx/components/example_gen/input_processor.py raises for
RangeConfig.RollingRange(num_spans != 1). So ExampleGen reads and validates the newest span, and the window is
resolved downstream from the Examples artifacts ExampleGen produced in earlier runs, the way TFX's
SpanRangeStrategy does. SpanRangeStrategy itself is not enough: a span the DataGate rejected has Examples in
ML Metadata all the same, and it would be trained on in every later run until it left the window. Here a span
counts only if its Examples are upstream of a completed DataGate execution.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Set

from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver

EXAMPLES = "examples"
_PASSED = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
_OUTPUTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
# DataGate <- anomalies <- ExampleValidator <- statistics <- StatisticsGen <- examples: two producer hops
# back from the gate; one more in reserve costs nothing when the frontier is empty.
_MAX_HOPS = 3


def span_of(artifact: types.Artifact) -> int:
    # ExampleGen's driver records the span as a custom property (a string in older TFX versions).
    text = artifact.get_string_custom_property("span")
    return int(text) if text else artifact.get_int_custom_property("span")


def validated_examples(store, gate_type: str) -> Set[int]:
    """Ids of the Examples artifacts upstream of a completed (or cached) execution of the gate component."""
    examples_type = store.get_artifact_type("Examples")
    executions = [e for e in store.get_executions_by_type(gate_type) if e.last_known_state in _PASSED]
    frontier = {e.artifact_id for e in store.get_events_by_execution_ids([e.id for e in executions])
                if e.type == metadata_store_pb2.Event.INPUT}
    found: Set[int] = set()
    for _ in range(_MAX_HOPS):
        if not frontier:
            break
        producers = {e.execution_id for e in store.get_events_by_artifact_ids(sorted(frontier)) if e.type in _OUTPUTS}
        inputs = {e.artifact_id for e in store.get_events_by_execution_ids(sorted(producers))
                  if e.type == metadata_store_pb2.Event.INPUT}
        artifacts = store.get_artifacts_by_id(sorted(inputs))
        found |= {a.id for a in artifacts if a.type_id == examples_type.id}
        frontier = {a.id for a in artifacts if a.type_id != examples_type.id}
    return found


class ValidatedSpanWindowStrategy(resolver.ResolverStrategy):
    """Newest validated Examples of each of the latest `num_spans` spans, newest span first."""

    def __init__(self, num_spans: int, gate_type: str):
        self._num_spans = int(num_spans)
        self._gate_type = gate_type

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        passed = validated_examples(store, self._gate_type)
        newest: Dict[int, types.Artifact] = {}
        for artifact in input_dict[EXAMPLES]:
            span = span_of(artifact)
            # A span read again by ExampleGen (a new version, or the same files without cache) counts once.
            if artifact.id in passed and (span not in newest or artifact.id > newest[span].id):
                newest[span] = artifact
        window = [newest[span] for span in sorted(newest, reverse=True)[:self._num_spans]]
        # None tells TFX the inputs are not ready: the consumers do not run on an empty window.
        return {EXAMPLES: window} if window else None
