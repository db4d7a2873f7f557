"""What the HTML report of a run shows, gathered from ML Metadata and the run's artifacts: the data statistics per
split (TFDV's), the anomalies, the evaluation overall and per slice with its confusion matrix (TFMA's), the
training curves (the Trainer's TensorBoard logs), the blessing decision, and the lineage."""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from tfx_pipeline import features
from tfx_pipeline.components import ids
from tfx_pipeline.config import PipelineConfig
from tfx_pipeline.metadata.run_report import RunReport


@dataclass
class SplitStatistics:
    examples: int
    text_average_characters: float
    text_unique: int
    text_missing: int
    labels: Dict[str, float]
    length_buckets: Dict[str, float]


@dataclass
class Content:
    config: PipelineConfig
    run: RunReport
    statistics: Dict[str, SplitStatistics] = field(default_factory=dict)
    anomalies: List[str] = field(default_factory=list)
    overall: Dict[str, float] = field(default_factory=dict)
    per_class: Dict[str, Dict[str, float]] = field(default_factory=dict)  # metric -> label -> value
    slices: List[Tuple[str, str, float, float]] = field(default_factory=list)  # (column, value, accuracy, count)
    confusion: List[List[float]] = field(default_factory=list)
    curves: Dict[str, Dict[str, List[float]]] = field(default_factory=dict)  # metric -> train/validation -> epochs
    provenance: Optional[dict] = None
    artifacts: Dict[str, str] = field(default_factory=dict)  # what -> uri


def _uri(run: RunReport, component: str, key: str) -> Optional[str]:
    found = next((c for c in run.components if c.component_id == component), None)
    artifacts = found.outputs.get(key, []) if found else []
    return artifacts[0].uri if artifacts else None


def _split_statistics(uri: str) -> Dict[str, SplitStatistics]:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    out = {}
    for path in sorted(glob.glob(os.path.join(uri, "Split-*", "FeatureStats.pb"))):
        split = os.path.basename(os.path.dirname(path))[len("Split-"):]
        with open(path, "rb") as handle:
            dataset = statistics_pb2.DatasetFeatureStatisticsList.FromString(handle.read()).datasets[0]
        by_name = {f.path.step[0] if f.path.step else f.name: f for f in dataset.features}
        text = by_name.get(features.TEXT)

        def counts(name: str) -> Dict[str, float]:
            feature = by_name.get(name)
            return {b.label: b.sample_count for b in feature.string_stats.rank_histogram.buckets} if feature else {}

        out[split] = SplitStatistics(
            int(dataset.num_examples), float(text.string_stats.avg_length) if text else 0.0,
            int(text.string_stats.unique) if text else 0,
            int(text.string_stats.common_stats.num_missing) if text else 0,
            counts(features.LABEL), dict(sorted(counts(features.LENGTH_BUCKET).items())))
    return out


def _anomalies(uri: str) -> List[str]:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    found = []
    for path in sorted(glob.glob(os.path.join(uri, "Split-*", "SchemaDiff.pb"))):
        split = os.path.basename(os.path.dirname(path))[len("Split-"):]
        with open(path, "rb") as handle:
            anomalies = anomalies_pb2.Anomalies.FromString(handle.read())
        for feature, info in sorted(anomalies.anomaly_info.items()):
            found.append(f"split '{split}', feature '{feature}': {info.short_description}: {info.description}")
    return found


def _evaluation(content: Content, uri: str) -> None:
    import tensorflow_model_analysis as tfma

    labels = list(content.config.labels)
    for metrics in tfma.load_metrics(uri):
        keys = metrics.slice_key.single_slice_keys
        values, per_class = {}, {}
        for item in metrics.metric_keys_and_values:
            key = item.key
            if key.is_diff or key.model_name not in ("", "candidate") or not item.value.HasField("double_value"):
                continue
            if key.HasField("sub_key"):
                class_id = key.sub_key.class_id.value
                if class_id < len(labels):
                    per_class.setdefault(key.name, {})[labels[class_id]] = item.value.double_value.value
            else:
                values[key.name] = item.value.double_value.value
        if not keys:
            content.overall, content.per_class = values, per_class
        elif "accuracy" in values:
            key = keys[0]
            content.slices.append((key.column, key.bytes_value.decode() or str(key.int64_value), values["accuracy"],
                                   values.get("example_count", 0.0)))
    content.slices.sort()
    for plots in tfma.load_plots(uri):
        if plots.slice_key.single_slice_keys:
            continue
        for item in plots.plot_keys_and_values:
            if item.key.model_name not in ("", "candidate"):
                continue
            matrices = item.value.multi_class_confusion_matrix_at_thresholds.matrices
            if matrices:
                size = len(labels)
                grid = [[0.0] * size for _ in range(size)]
                for entry in matrices[0].entries:
                    if entry.actual_class_id < size and entry.predicted_class_id < size:
                        grid[entry.actual_class_id][entry.predicted_class_id] = entry.num_weighted_examples
                content.confusion = grid


def _curves(uri: str) -> Dict[str, Dict[str, List[float]]]:
    import numpy as np
    from tensorflow.core.util import event_pb2

    from serving.tfrecord import read_records

    curves: Dict[str, Dict[str, Dict[int, float]]] = {}
    for split in ("train", "validation"):
        for path in sorted(glob.glob(os.path.join(uri, split, "events.out.tfevents.*"))):
            with open(path, "rb") as handle:
                for raw in read_records(handle, check=False):
                    event = event_pb2.Event.FromString(raw)
                    for value in event.summary.value:
                        if not value.tag.startswith("epoch_"):
                            continue
                        tensor = value.tensor
                        number = (float(np.frombuffer(tensor.tensor_content, np.float32)[0]) if tensor.tensor_content
                                  else float(tensor.float_val[0]) if tensor.float_val else float(value.simple_value))
                        curves.setdefault(value.tag[len("epoch_"):], {}).setdefault(split, {})[event.step] = number
    return {metric: {split: [by_step[s] for s in sorted(by_step)] for split, by_step in splits.items()}
            for metric, splits in sorted(curves.items())}


def gather(config: PipelineConfig, run: RunReport) -> Content:
    content = Content(config, run)
    statistics = _uri(run, ids.STATISTICS_GEN, "statistics")
    if statistics:
        content.statistics = _split_statistics(statistics)
        content.artifacts["statistics"] = statistics
    anomalies = _uri(run, ids.EXAMPLE_VALIDATOR, "anomalies")
    if anomalies:
        content.anomalies = _anomalies(anomalies)
        content.artifacts["anomalies"] = anomalies
    evaluation = _uri(run, ids.EVALUATOR, "evaluation")
    if evaluation:
        _evaluation(content, evaluation)
        content.artifacts["evaluation"] = evaluation
    model_run = _uri(run, ids.TRAINER, "model_run")
    if model_run:
        content.curves = _curves(model_run)
    for what, component, key in (("examples", ids.EXAMPLE_GEN, "examples"), ("schema", ids.SCHEMA_IMPORTER, "schema"),
                                 ("transform graph", ids.TRANSFORM, "transform_graph"), ("model", ids.TRAINER, "model"),
                                 ("blessing", ids.EVALUATOR, "blessing"), ("provenance", ids.PROVENANCE, "provenance"),
                                 ("pushed model", ids.PUSHER, "pushed_model")):
        uri = _uri(run, component, key)
        if uri:
            content.artifacts[what] = uri
    if "provenance" in content.artifacts:
        try:
            with open(os.path.join(content.artifacts["provenance"], "provenance.json")) as handle:
                content.provenance = json.load(handle)
        except OSError:
            content.provenance = None
    return content
