"""The TFMA EvalConfig: metrics, slices and the blessing thresholds from the pipeline config."""
from __future__ import annotations

import json
from typing import Dict

import tensorflow_model_analysis as tfma

from tfx_pipeline import features
from tfx_pipeline.evaluation import metrics
from tfx_pipeline.config import PipelineConfig, Threshold


def _threshold(threshold: Threshold) -> tfma.MetricThreshold:
    return tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": threshold.lower_bound}),
        # Against the last blessed model; TFX drops it on the first run, when there is no baseline.
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -threshold.max_drop}))


def _gated(class_name: str, options: dict, thresholds: Dict[str, Threshold], module: str = "") -> tfma.MetricConfig:
    """Blessing looks at the whole test split only; per-slice figures are for reading, not for gating."""
    metric = tfma.MetricConfig(class_name=class_name, module=module, config=json.dumps(options))
    name = options["name"]
    if name in thresholds:
        metric.per_slice_thresholds.append(tfma.PerSliceMetricThreshold(
            slicing_specs=[tfma.SlicingSpec()], threshold=_threshold(thresholds[name])))
    return metric


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    thresholds = dict(config.evaluation.thresholds)
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name=features.SERVING_TF_EXAMPLE, label_key=features.LABEL)],
        slicing_specs=[
            tfma.SlicingSpec(),
            tfma.SlicingSpec(feature_keys=[features.LABEL]),
            tfma.SlicingSpec(feature_keys=[features.LENGTH_BUCKET]),
        ],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            _gated("SparseCategoricalAccuracy", {"name": "accuracy"}, thresholds),
            # Macro-F1 by argmax, with per-class precision and recall (see metrics.py).
            _gated("MacroF1", {"name": "macro_f1", "num_classes": len(config.labels)}, thresholds,
                   module=metrics.__name__),
            tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
        ])])
