"""Histogram buckets: a value lands in the first bucket whose bound is >= it
(Prometheus `le`), values beyond the last bound only in +Inf."""

from serving import monitoring
from serving.monitoring import RUNTIME_LATENCY, Metrics


def bucket_counts(text):
    """{le: cumulative count} of the runtime latency histogram."""
    counts = {}
    for line in text.splitlines():
        if line.startswith(RUNTIME_LATENCY + "_bucket"):
            le = line.split('le="')[1].split('"')[0]
            counts[le] = int(line.rsplit(" ", 1)[1])
    return counts


def test_values_on_between_and_beyond_bounds():
    metrics = Metrics()
    bounds = monitoring._BUCKETS
    micros = [bounds[0], bounds[0] + 1e-3, bounds[3], bounds[-1] * 2, 0.0]
    for value in micros:
        metrics.observe_runtime("m", "Predict", value / 1e6)
    counts = bucket_counts(metrics.prometheus_text())
    values = list(counts.values())
    for index, bound in enumerate(bounds):
        expected = sum(1 for v in micros if v / 1e6 * 1e6 <= bound)  # as observed
        assert values[index] == expected, (bound, values[index], expected)
    assert counts["+Inf"] == len(micros)
