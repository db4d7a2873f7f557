"""The TFMA EvalConfig: metrics, slices and the blessing thresholds from the pipeline config."""
from __future__ import annotations

import json
from typing import Dict, List

import tensorflow_model_analysis as tfma

from tfx_pipeline import features
from tfx_pipeline.config import PipelineConfig, Threshold

# Config threshold name -> the TFMA metric name it applies to.
METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro_f1"}


def _threshold(threshold: Threshold) -> tfma.MetricThreshold:
    return tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": threshold.lower_bound}),
        # Against the last blessed model; TFX drops it on the first run, when there is no baseline.
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -threshold.max_drop}))


def _gated(class_name: str, name: str, thresholds: Dict[str, Threshold]) -> tfma.MetricConfig:
    """Blessing looks at the whole test split only; per-slice figures are for reading, not for gating."""
    metric = tfma.MetricConfig(class_name=class_name, config=json.dumps({"name": name}))
    if name in thresholds:
        metric.per_slice_thresholds.append(tfma.PerSliceMetricThreshold(
            slicing_specs=[tfma.SlicingSpec()], threshold=_threshold(thresholds[name])))
    return metric


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    thresholds = {METRIC_NAMES[k]: v for k, v in config.evaluation.thresholds.items()}
    class_ids: List[int] = list(range(len(config.labels)))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name=features.SERVING_TF_EXAMPLE, label_key=features.LABEL)],
        slicing_specs=[
            tfma.SlicingSpec(),
            tfma.SlicingSpec(feature_keys=[features.LABEL]),
            tfma.SlicingSpec(feature_keys=[features.LENGTH_BUCKET]),
        ],
        metrics_specs=[
            tfma.MetricsSpec(metrics=[
                tfma.MetricConfig(class_name="ExampleCount"),
                _gated("SparseCategoricalAccuracy", "accuracy", thresholds),
                tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
            ]),
            # Per class: precision and recall of each label id (the order of config.labels).
            tfma.MetricsSpec(
                binarize=tfma.BinarizationOptions(class_ids={"values": class_ids}),
                metrics=[tfma.MetricConfig(class_name="Precision"), tfma.MetricConfig(class_name="Recall")]),
            # Macro-F1: the unweighted mean of the per-class F1 scores (only the aggregate is output).
            tfma.MetricsSpec(
                aggregate=tfma.AggregationOptions(macro_average=True, class_weights={i: 1.0 for i in class_ids}),
                metrics=[_gated("F1Score", "macro_f1", thresholds)]),
        ])
