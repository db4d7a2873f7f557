"""What ML Metadata says about earlier spans: which passed validation, and the statistics they passed with.

A span counts as validated when its Examples are upstream of a completed (or cached) DataGate execution, the rule
of the span window (components/span_window.py) read here without TFX, so ingestion stays free of TensorFlow. Only
validated spans were trained on: ingestion measures a new file's repeats against them, and the DataGate compares
a new span's label distribution with the newest of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

# The DataGate's execution type: its python-function component's module and name (pipeline.py wires it).
GATE_TYPE = "tfx_pipeline.components.data_gate.DataGate"
_HOPS = 3  # DataGate <- anomalies <- ExampleValidator <- statistics <- StatisticsGen <- examples


@dataclass
class ValidatedSpan:
    span: int
    examples_ids: List[int]
    # The newest ExampleStatistics artifact of the span that a passed gate read: (id, uri, split names JSON).
    statistics_id: Optional[int] = None
    statistics_uri: Optional[str] = None
    statistics_splits: str = ""


def _span(artifact) -> Optional[int]:
    # ExampleGen records the span of Examples as a custom property (a string in older TFX versions); the "span"
    # property StatisticsGen copies from it stays 0, so statistics get the span of the Examples they describe.
    if "span" in artifact.custom_properties:
        value = artifact.custom_properties["span"]
        return int(value.string_value) if value.string_value else value.int_value
    return None


def validated_spans(config=None, store=None) -> Dict[int, ValidatedSpan]:
    """{span: ValidatedSpan} for every span that passed the DataGate, in the config's store or the one given; {}
    when nothing ran yet."""
    if store is None:
        from tfx_pipeline.metadata.store import open_store

        store = open_store(config)
        if store is None:
            return {}
    from ml_metadata import errors
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    passed_states = (mlmd.Execution.COMPLETE, mlmd.Execution.CACHED)
    outputs = (mlmd.Event.OUTPUT, mlmd.Event.DECLARED_OUTPUT)
    try:
        gates = [e for e in store.get_executions_by_type(GATE_TYPE) if e.last_known_state in passed_states]
        types = {t.id: t.name for t in store.get_artifact_types()}
    except errors.NotFoundError:
        return {}
    frontier = {e.artifact_id for e in store.get_events_by_execution_ids([g.id for g in gates])
                if e.type == mlmd.Event.INPUT}
    examples, statistics, walked = {}, {}, set()
    for _ in range(_HOPS + 1):
        if not frontier:
            break
        walked |= frontier
        for artifact in store.get_artifacts_by_id(sorted(frontier)):
            kind = types.get(artifact.type_id)
            if kind == "Examples":
                examples[artifact.id] = artifact
            elif kind == "ExampleStatistics":
                statistics[artifact.id] = artifact
        producers = {e.execution_id for e in store.get_events_by_artifact_ids(sorted(frontier)) if e.type in outputs}
        frontier = {e.artifact_id for e in store.get_events_by_execution_ids(sorted(producers))
                    if e.type == mlmd.Event.INPUT} - walked
    spans: Dict[int, ValidatedSpan] = {}
    for artifact in examples.values():
        span = _span(artifact)
        if span is not None:
            spans.setdefault(span, ValidatedSpan(span, [])).examples_ids.append(artifact.id)
    described = _described_examples(store, sorted(statistics), outputs, mlmd.Event.INPUT)
    for artifact in sorted(statistics.values(), key=lambda a: a.id):
        source = examples.get(described.get(artifact.id))
        span = _span(source) if source is not None else None
        if span is not None:
            entry = spans.setdefault(span, ValidatedSpan(span, []))
            entry.statistics_id, entry.statistics_uri = artifact.id, artifact.uri
            if "split_names" in artifact.properties:
                entry.statistics_splits = artifact.properties["split_names"].string_value
    return spans


def statistics_span(store, statistics_id: int) -> Optional[int]:
    """The span of the Examples a StatisticsGen artifact describes (its own "span" property stays 0)."""
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    described = _described_examples(store, [statistics_id], (mlmd.Event.OUTPUT, mlmd.Event.DECLARED_OUTPUT),
                                    mlmd.Event.INPUT)
    if statistics_id not in described:
        return None
    return _span(store.get_artifacts_by_id([described[statistics_id]])[0])


def _described_examples(store, statistics_ids: List[int], outputs, input_type) -> Dict[int, int]:
    """{statistics id: id of the Examples its StatisticsGen execution read}."""
    producer = {e.artifact_id: e.execution_id for e in store.get_events_by_artifact_ids(statistics_ids)
                if e.type in outputs}
    read = {}
    for event in store.get_events_by_execution_ids(sorted(set(producer.values()))):
        if event.type == input_type and event.path.steps and event.path.steps[0].key == "examples":
            read[event.execution_id] = event.artifact_id
    return {stat: read[execution] for stat, execution in producer.items() if execution in read}
