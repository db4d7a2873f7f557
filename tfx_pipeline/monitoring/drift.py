"""Skew and drift of the per-request features with TFDV: statistics of the window, of the window before it, and of
the reference (the served version's training data, with the served model's own predictions on it), compared by
TFDV's comparators: Jensen-Shannon divergence for the numeric features, L-infinity for the predicted label.

TFDV reports an anomaly only for a score above its threshold (TFDV #181); every score is kept here, from
Anomalies.drift_skew_info, which TFDV fills for each compared feature whatever its value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from tfx_pipeline.monitoring.request_features import CATEGORICAL, NUMERIC

_HISTOGRAM_BUCKETS = 20
# One range per numeric feature, the same for every dataset. TFDV's histograms span each dataset's own min and
# max, and its Jensen-Shannon divergence spreads a bucket's mass evenly when it re-bins two histograms: for a
# feature with a point mass (most texts have an OOV rate of exactly 0) or integer values (tokens), two windows of
# one distribution then get different buckets and a divergence of 0.1 to 0.2 out of nothing. So values are
# clipped to the range, and every dataset gets two rows at its ends, which give all histograms the same buckets
# (against 500 requests they move the distribution by 0.4%). Longer texts than the range pile up at its top,
# which still shows as drift.
BOUNDS = {"characters": (0.0, 500.0), "tokens": (0.0, 100.0), "oov_rate": (0.0, 1.0), "top_score": (0.0, 1.0),
          "margin": (0.0, 1.0)}


@dataclass
class Score:
    feature: str
    comparison: str  # skew (window against the reference) | drift (window against the window before)
    measure: str  # JENSEN_SHANNON_DIVERGENCE | L_INFTY
    value: float
    threshold: float

    @property
    def exceeded(self) -> bool:
        return self.value > self.threshold


def _with_bounds(columns: Dict[str, list]) -> Dict[str, list]:
    """The numeric columns clipped to BOUNDS, and two rows holding each range's ends (no predicted label)."""
    out = {}
    for name, values in columns.items():
        if name in BOUNDS:
            low, high = BOUNDS[name]
            out[name] = [min(max(float(v), low), high) for v in values] + [low, high]
        else:
            out[name] = list(values) + [None, None]
    return out


def statistics(columns: Dict[str, list]):
    import pandas as pd
    import tensorflow_data_validation as tfdv

    options = tfdv.StatsOptions(num_histogram_buckets=_HISTOGRAM_BUCKETS,
                                num_quantiles_histogram_buckets=_HISTOGRAM_BUCKETS)
    return tfdv.generate_statistics_from_dataframe(pd.DataFrame(_with_bounds(columns)), stats_options=options)


def _schema(reference_statistics, numeric_threshold: float, label_threshold: float):
    import tensorflow_data_validation as tfdv

    schema = tfdv.infer_schema(reference_statistics)
    for feature in schema.feature:
        for comparator in (feature.drift_comparator, feature.skew_comparator):
            if feature.name in CATEGORICAL:
                comparator.infinity_norm.threshold = label_threshold
            elif feature.name in NUMERIC:
                comparator.jensen_shannon_divergence.threshold = numeric_threshold
        # Only the comparisons are wanted here, not the schema checks of a training pipeline.
        feature.ClearField("presence")
        if feature.HasField("string_domain") or feature.domain:
            feature.ClearField("domain")
            feature.ClearField("string_domain")
    schema.ClearField("string_domain")
    return schema


def compare(window, reference, previous: Optional[object], numeric_threshold: float,
            label_threshold: float) -> List[Score]:
    """Every skew score (window against reference) and, given the previous window, every drift score."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    schema = _schema(reference, numeric_threshold, label_threshold)
    anomalies = tfdv.validate_statistics(window, schema, previous_statistics=previous, serving_statistics=reference)
    scores = []
    for info in anomalies.drift_skew_info:
        feature = ".".join(info.path.step)
        for comparison, measurements in (("skew", info.skew_measurements), ("drift", info.drift_measurements)):
            for measurement in measurements:
                scores.append(Score(feature, comparison,
                                    anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(measurement.type),
                                    float(measurement.value), float(measurement.threshold)))
    return sorted(scores, key=lambda s: (s.comparison, s.feature))
