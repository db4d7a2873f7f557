"""TFMA metrics for single-label multi-class models: macro-F1 and per-class precision / recall.

TFMA's own F1Score, Precision and Recall binarise each class at a 0.5 probability threshold; with three or
more classes the winning class often scores below 0.5, so those figures are not the argmax-based ones a
classification report means (a model predicting only the majority class gets F1 0 everywhere). These are
derived from TFMA's multi-class confusion matrix, which uses the argmax.
"""
from __future__ import annotations

from typing import Dict, Optional

from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.metrics.multi_class_confusion_matrix_metrics import multi_class_confusion_matrices

MACRO_F1 = "macro_f1"
PRECISION = "precision"
RECALL = "recall"
# The argmax wins whatever its probability: no example is left without a prediction.
_ARGMAX_THRESHOLD = float("-inf")


def scores_from_matrix(matrix: Dict, num_classes: int) -> Dict[str, Dict[int, float]]:
    """{(actual, predicted): weight} -> per-class precision, recall and F1 (0 where undefined)."""
    per_class = {PRECISION: {}, RECALL: {}, "f1": {}}
    for c in range(num_classes):
        tp = sum(w for (a, p), w in matrix.items() if a == c and p == c)
        predicted = sum(w for (a, p), w in matrix.items() if p == c)
        actual = sum(w for (a, p), w in matrix.items() if a == c)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        per_class[PRECISION][c] = precision
        per_class[RECALL][c] = recall
        per_class["f1"][c] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return per_class


def _macro_f1(num_classes: int, name: str = MACRO_F1, eval_config=None, model_name: str = "",
              output_name: str = "", example_weighted: bool = False) -> metric_types.MetricComputations:
    computations = multi_class_confusion_matrices(
        thresholds=[_ARGMAX_THRESHOLD], eval_config=eval_config, model_name=model_name,
        output_name=output_name, example_weighted=example_weighted)
    matrices_key = computations[-1].keys[-1]

    def key(metric: str, class_id: Optional[int] = None) -> metric_types.MetricKey:
        return metric_types.MetricKey(
            name=metric, model_name=model_name, output_name=output_name, example_weighted=example_weighted,
            sub_key=None if class_id is None else metric_types.SubKey(class_id=class_id))

    def result(metrics):
        matrix = {(k.actual_class_id, k.predicted_class_id): w
                  for k, w in metrics[matrices_key].get(_ARGMAX_THRESHOLD, {}).items()}
        per_class = scores_from_matrix(matrix, num_classes)
        out = {key(name): sum(per_class["f1"].values()) / num_classes}
        for metric in (PRECISION, RECALL):
            out.update({key(metric, c): v for c, v in per_class[metric].items()})
        return out

    computations.append(metric_types.DerivedMetricComputation(keys=[key(name)], result=result))
    return computations


class MacroF1(metric_types.Metric):
    """Macro-averaged F1 over `num_classes` classes by argmax, plus per-class precision and recall."""

    def __init__(self, num_classes: int, name: str = MACRO_F1):
        super().__init__(metric_util.merge_per_key_computations(_macro_f1), num_classes=num_classes, name=name)


metric_types.register_metric(MacroF1)
