"""Code tests for the Evaluator's EvalConfig: what is computed, on which slices, and what gates the blessing."""
import importlib
import json

import tensorflow_model_analysis as tfma

from tfx_pipeline import features
from tfx_pipeline.config import load_config
from tfx_pipeline.evaluation.eval_config import eval_config


def _metrics(config):
    [spec] = eval_config(config).metrics_specs
    return {m.class_name: m for m in spec.metrics}


def test_the_model_is_evaluated_through_its_tf_example_signature_on_three_slicings(config_file):
    evaluation = eval_config(load_config(config_file()))
    [model] = evaluation.model_specs
    assert (model.signature_name, model.label_key) == (features.SERVING_TF_EXAMPLE, features.LABEL)
    assert [list(s.feature_keys) for s in evaluation.slicing_specs] == [[], [features.LABEL], [features.LENGTH_BUCKET]]
    assert set(_metrics(load_config(config_file()))) == {"ExampleCount", "SparseCategoricalAccuracy", "MacroF1",
                                                         "MultiClassConfusionMatrixPlot"}


def test_each_configured_threshold_gates_the_whole_test_split_only(config_file):
    thresholds = {"accuracy": {"lower_bound": 0.61, "max_drop": 0.02},
                  "macro_f1": {"lower_bound": 0.51, "max_drop": 0.0}}
    metrics = _metrics(load_config(config_file(evaluation={"thresholds": thresholds})))
    for class_name, name, bound, drop in (("SparseCategoricalAccuracy", "accuracy", 0.61, 0.02),
                                          ("MacroF1", "macro_f1", 0.51, 0.0)):
        metric = metrics[class_name]
        assert json.loads(metric.config)["name"] == name
        [gate] = metric.per_slice_thresholds
        assert [list(s.feature_keys) for s in gate.slicing_specs] == [[]]  # overall, never per slice
        assert gate.threshold.value_threshold.lower_bound.value == bound
        change = gate.threshold.change_threshold
        assert change.direction == tfma.MetricDirection.HIGHER_IS_BETTER and change.absolute.value == -drop


def test_without_thresholds_nothing_is_gated(config_file):
    metrics = _metrics(load_config(config_file(evaluation={"thresholds": {}})))
    assert all(not m.per_slice_thresholds for m in metrics.values())


def test_macro_f1_is_found_by_module_and_knows_the_number_of_classes(config_file):
    config = load_config(config_file("emotion"))
    metric = _metrics(config)["MacroF1"]
    assert json.loads(metric.config)["num_classes"] == len(config.labels) == 6
    assert hasattr(importlib.import_module(metric.module), "MacroF1")
