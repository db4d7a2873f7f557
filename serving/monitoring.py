"""Request and load metrics under TF Serving's metric names, rendered in the
Prometheus text exposition format."""

import bisect
import threading

# TF Serving reports latencies in microseconds on exponential buckets.
_BUCKETS = [10 * 1.8 ** i for i in range(26)]

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
RUNTIME_LATENCY = ":tensorflow:serving:runtime_latency"
LOAD_ATTEMPT_COUNT = ":tensorflow:cc:saved_model:load_attempt_count"
# The request log's (TF Serving has none): records written, and records dropped rather than delay a request.
REQUEST_LOG_WRITTEN = ":mlops:request_log:written_records"
REQUEST_LOG_DROPPED = ":mlops:request_log:dropped_records"

DEFAULT_PATH = "/monitoring/prometheus/metrics"


class _Histogram:
    def __init__(self):
        self.counts = [0] * len(_BUCKETS)
        self.total = 0
        self.sum = 0.0

    def observe(self, value):
        self.total += 1
        self.sum += value
        index = bisect.bisect_left(_BUCKETS, value)  # first bound >= value
        if index < len(_BUCKETS):
            self.counts[index] += 1


def _labels(names, values, extra=""):
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}"


def _escape(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """TF Serving's metrics, the request log's counters, and the contents of `extra_files`: Prometheus text files
    that other processes write (`mlops monitor`'s gauges), served on the same endpoint as the textfile collector
    of node_exporter would."""

    def __init__(self, extra_files=()):
        self._lock = threading.Lock()
        self._counters = {REQUEST_COUNT: {}, LOAD_ATTEMPT_COUNT: {}, REQUEST_LOG_WRITTEN: {},
                          REQUEST_LOG_DROPPED: {}}
        self._histograms = {REQUEST_LATENCY: {}, RUNTIME_LATENCY: {}}
        self._label_names = {
            REQUEST_COUNT: ("model_name", "status"),
            LOAD_ATTEMPT_COUNT: ("model_path", "status"),
            REQUEST_LOG_WRITTEN: ("model_name",),
            REQUEST_LOG_DROPPED: ("model_name", "reason"),
            REQUEST_LATENCY: ("model_name", "API", "entrypoint"),
            RUNTIME_LATENCY: ("model_name", "API", "runtime"),
        }
        self._extra_files = tuple(extra_files)

    # Callers hold self._lock; these run on every request, so one lock
    # round and no throwaway objects per call.
    def _count(self, name, labels):
        series = self._counters[name]
        series[labels] = series.get(labels, 0) + 1

    def _observe(self, name, labels, micros):
        series = self._histograms[name]
        histogram = series.get(labels)
        if histogram is None:
            histogram = series[labels] = _Histogram()
        histogram.observe(micros)

    def observe_request(self, model_name, api, entrypoint, status, seconds):
        with self._lock:
            self._count(REQUEST_COUNT, (model_name, status))
            self._observe(REQUEST_LATENCY, (model_name, api, entrypoint), seconds * 1e6)

    def observe_runtime(self, model_name, api, seconds):
        with self._lock:
            self._observe(RUNTIME_LATENCY, (model_name, api, "TF2"), seconds * 1e6)

    def count_request_log(self, model_name, outcome, count=1):
        """outcome: "written", or the reason a record was dropped."""
        with self._lock:
            if outcome == "written":
                series, labels = self._counters[REQUEST_LOG_WRITTEN], (model_name,)
            else:
                series, labels = self._counters[REQUEST_LOG_DROPPED], (model_name, outcome)
            series[labels] = series.get(labels, 0) + count

    def counter(self, name, labels):
        with self._lock:
            return self._counters[name].get(tuple(labels), 0)

    def observe_load(self, path, error):
        with self._lock:
            self._count(LOAD_ATTEMPT_COUNT,
                        (path, "success" if error is None else "fail"))

    def prometheus_text(self):
        lines = []
        with self._lock:
            for name, series in self._counters.items():
                lines.append(f"# TYPE {name} counter")
                for labels, value in sorted(series.items()):
                    lines.append(f"{name}{_labels(self._label_names[name], labels)} {value}")
            for name, series in self._histograms.items():
                lines.append(f"# TYPE {name} histogram")
                names = self._label_names[name]
                for labels, hist in sorted(series.items()):
                    running = 0
                    for bound, count in zip(_BUCKETS, hist.counts):
                        running += count
                        le = f'le="{bound:.6g}"'
                        lines.append(f"{name}_bucket{_labels(names, labels, le)} {running}")
                    inf = 'le="+Inf"'
                    lines.append(f"{name}_bucket{_labels(names, labels, inf)} {hist.total}")
                    lines.append(f"{name}_sum{_labels(names, labels)} {hist.sum:.6g}")
                    lines.append(f"{name}_count{_labels(names, labels)} {hist.total}")
        for path in self._extra_files:
            try:
                with open(path, encoding="utf-8") as handle:
                    lines.append(handle.read().rstrip("\n"))
            except OSError:
                pass  # not written yet: its gauges appear once the writer has run
        return "\n".join(lines) + "\n"
