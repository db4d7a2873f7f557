"""DataGate: stops the run when the newest span fails validation, before Transform.

ExampleValidator only records anomalies; nothing in TFX stops on them. Transform is made to depend on this gate,
so bad data ends the run before any model is trained or pushed. The gate stops on:

- ExampleValidator's anomalies against the curated schema (unknown labels, missing columns, empty texts);
- a split holding a single label (a span written into the data root by hand reaches the pipeline without
  ingestion's checks): a model trained on it learns nothing, and a test split of one label cannot fail a model;
- label drift: TFDV's drift comparator on `label` (the schema's drift_comparator, an L-infinity threshold), the
  train split against the same split of the newest earlier span that passed this gate. TFX 1.16's ExampleValidator
  takes no previous statistics, so the gate finds them in ML Metadata (tfx_pipeline/data/history.py).

Ingestion named the rows it left for the validator (tfx_pipeline/data/ingest.py); the gate quotes them from the
span's manifest, so a message names the file, the column and the lines. Without a local ML Metadata file
(Kubeflow and Vertex bring their own) the gate knows neither the span nor the previous one: it checks anomalies
and single labels only, and its log says that drift was not checked. Everything is read through TFX's fileio,
so the gate works on a gs:// (s3://, hdfs://) pipeline root as on a local one.
"""

import os
from typing import Dict, List, Optional

from absl import logging
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx import v1 as tfx
from tfx.dsl.io import fileio
from tfx.types import standard_artifact_utils

from tfx_pipeline import features
from tfx_pipeline.data.history import ValidatedSpan, statistics_span, validated_spans
from tfx_pipeline.data.spans import read_manifest, span_dir
from tfx_pipeline.locations import parse_location

SCHEMA_DIFF_FILE = "SchemaDiff.pb"
STATISTICS_FILE = "FeatureStats.pb"  # StatisticsGen's per-split output (tfx/components/statistics_gen/executor.py)
# The split a model learns from: its label distribution is the one compared across spans. Eval and test splits are
# a tenth as large, so at a few hundred rows their distributions are too noisy to compare with a useful threshold.
DRIFT_SPLIT = features.TRAIN_SPLIT
_DRIFT_REASONS = (anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
                  anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH)


class DataValidationError(RuntimeError):
    """The examples do not match the curated schema."""


def describe_anomalies(artifact: tfx.types.standard_artifacts.ExampleAnomalies) -> List[str]:
    problems = []
    for split in standard_artifact_utils.decode_split_names(artifact.split_names):
        path = os.path.join(standard_artifact_utils.get_split_uri([artifact], split), SCHEMA_DIFF_FILE)
        anomalies = anomalies_pb2.Anomalies()
        with fileio.open(path, "rb") as f:
            anomalies.ParseFromString(f.read())
        for feature, info in sorted(anomalies.anomaly_info.items()):
            problems.append(f"split '{split}', feature '{feature}': {info.short_description}: {info.description}")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            problems.append(f"split '{split}', dataset: {info.short_description}: {info.description}")
    return problems


def read_statistics(uri: str, split: str) -> Optional[statistics_pb2.DatasetFeatureStatisticsList]:
    path = os.path.join(uri, f"Split-{split}", STATISTICS_FILE)
    if not fileio.exists(path):
        return None
    with fileio.open(path, "rb") as f:
        return statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())


def label_counts(statistics: statistics_pb2.DatasetFeatureStatisticsList) -> Dict[str, float]:
    """{label: examples} from the label feature's rank histogram; {} when the split has no label feature."""
    for dataset in statistics.datasets:
        for feature in dataset.features:
            if feature.name == features.LABEL or list(feature.path.step) == [features.LABEL]:
                return {b.label: b.sample_count for b in feature.string_stats.rank_histogram.buckets
                        if b.sample_count > 0}
    return {}


def single_label_problems(statistics: tfx.types.standard_artifacts.ExampleStatistics,
                          span: Optional[int]) -> List[str]:
    problems = []
    where = f"span {span}, " if span is not None else ""
    for split in standard_artifact_utils.decode_split_names(statistics.split_names):
        split_statistics = read_statistics(statistics.uri, split)
        counts = label_counts(split_statistics) if split_statistics is not None else {}
        if len(counts) == 1:
            [(label, count)] = counts.items()
            problems.append(
                f"{where}split '{split}', feature '{features.LABEL}': a single label, '{label}', in all "
                f"{int(count)} labelled examples: a model trained on it cannot tell classes apart, and a test split "
                "of one label cannot fail a model")
    return problems


def read_schema(path: str) -> schema_pb2.Schema:
    with fileio.open(path, "rb") as f:
        return text_format.Parse(f.read().decode("utf-8"), schema_pb2.Schema())


def _label_threshold(schema: schema_pb2.Schema) -> Optional[float]:
    for feature in schema.feature:
        if feature.name == features.LABEL and feature.HasField("drift_comparator"):
            comparator = feature.drift_comparator
            if comparator.HasField("infinity_norm"):
                return comparator.infinity_norm.threshold
            if comparator.HasField("jensen_shannon_divergence"):
                return comparator.jensen_shannon_divergence.threshold
    return None


def _shares(counts: Dict[str, float]) -> Dict[str, float]:
    total = sum(counts.values()) or 1.0
    return {label: n / total for label, n in counts.items()}


def label_drift_problems(current: statistics_pb2.DatasetFeatureStatisticsList,
                         previous: statistics_pb2.DatasetFeatureStatisticsList, schema: schema_pb2.Schema,
                         span: int, previous_span: int) -> List[str]:
    """TFDV's drift comparator on the label, worded with both spans' label shares."""
    import tensorflow_data_validation as tfdv

    threshold = _label_threshold(schema)
    if threshold is None:
        return []
    environment = "TRAINING" if "TRAINING" in schema.default_environment else None
    anomalies = tfdv.validate_statistics(current, schema, environment=environment, previous_statistics=previous)
    info = anomalies.anomaly_info.get(features.LABEL)
    reasons = [r for r in info.reason if r.type in _DRIFT_REASONS] if info is not None else []
    if not reasons:
        return []
    before, after = _shares(label_counts(previous)), _shares(label_counts(current))
    moved = ", ".join(f"{label} {before.get(label, 0):.0%} -> {after.get(label, 0):.0%}"
                      for label in sorted(set(before) | set(after)))
    return [f"span {span}, split '{DRIFT_SPLIT}', feature '{features.LABEL}': the label distribution drifted from "
            f"span {previous_span}'s (the newest span that passed validation) beyond the schema's drift_comparator "
            f"threshold {threshold:g}: {moved}. TFDV: {reason.short_description}: {reason.description}"
            for reason in reasons]


def previous_span(store, span: int) -> Optional[ValidatedSpan]:
    """The newest span before `span` that passed the gate, with the statistics it passed with."""
    earlier = [v for s, v in validated_spans(None, store=store).items() if s < span and v.statistics_uri]
    return max(earlier, key=lambda v: v.span) if earlier else None


def drift_problems(statistics, schema: schema_pb2.Schema, store, span: int) -> List[str]:
    previous = previous_span(store, span)
    current = read_statistics(statistics.uri, DRIFT_SPLIT)
    if previous is None or current is None:
        return []
    before = read_statistics(previous.statistics_uri, DRIFT_SPLIT)
    if before is None:
        return []
    return label_drift_problems(current, before, schema, span, previous.span)


def ingestion_notes(data_root: str, span: int) -> List[str]:
    """What ingestion left for the validator in this span, by line of its source file."""
    if not data_root:
        return []
    manifest = read_manifest(span_dir(parse_location(data_root), span))
    source = manifest.get("source", "its source")
    return [f"span {span}, ingested from {source}: {note}" for note in manifest.get("for_validation", [])]


def gate_message(validator: List[str], gate: List[str], notes: List[str]) -> str:
    head = ("ExampleValidator found anomalies; the run stops before Transform:" if validator else
            "The DataGate stops the run before Transform:")
    message = head + "\n  - " + "\n  - ".join(validator + gate)
    if notes:
        message += "\nIngestion named the rows:\n  - " + "\n  - ".join(notes)
    return message


# Inputs are few on purpose: each input channel adds lines to the run's log before the component's own, and
# `mlops run` shows the log's last lines from the component's start. The span comes from ML Metadata, and the
# schema from the file ImportSchemaGen imports: the gate runs for each new span's statistics and reads it then.
@tfx.dsl.components.component
def DataGate(anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
             statistics: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleStatistics] = None,
             schema_file: tfx.dsl.components.Parameter[str] = "",
             metadata_connection: tfx.dsl.components.Parameter[str] = "",
             metadata_password_env: tfx.dsl.components.Parameter[str] = "",
             data_root: tfx.dsl.components.Parameter[str] = "") -> None:
    validator = describe_anomalies(anomalies)
    gate: List[str] = []
    store = span = None
    if metadata_connection:
        from tfx_pipeline.metadata.store import from_text, open_connection

        store = open_connection(from_text(metadata_connection, metadata_password_env))
        span = statistics_span(store, statistics.id) if statistics is not None else None
    else:
        logging.warning("DataGate: label drift not checked: no local ML Metadata file to find the previous span in")
    if statistics is not None:
        gate += single_label_problems(statistics, span)
        if store is not None and span is not None and schema_file:
            gate += drift_problems(statistics, read_schema(schema_file), store, span)
    if validator or gate:
        notes = ingestion_notes(data_root, span) if span is not None else []
        raise DataValidationError(gate_message(validator, gate, notes))
