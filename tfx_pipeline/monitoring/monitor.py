"""`mlops monitor`: is what the model sees still what it was trained on?

For a window of the served model's request logs: the per-request features (request_features.py), their skew
against the served version's training data and their drift against the window before (drift.py, TFDV), the
text-content test (text_drift.py), and a verdict with what moved. Every score is reported, those below their
threshold included.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Dict, FrozenSet, List, Optional, Sequence

from tfx_pipeline.config import DriftThresholds, PipelineConfig, duration_seconds
from tfx_pipeline.monitoring import drift as drift_lib
from tfx_pipeline.monitoring.logs import LoggedRequest, Window, logged_models, read_window
from tfx_pipeline.monitoring.reference import Reference, reference, version_dir
from tfx_pipeline.monitoring.request_features import NUMERIC, features_of, vocabulary
from tfx_pipeline.monitoring.text_drift import FOLDS, text_drift

# Fewer requests than this and the window is reported, but no verdict of drift is drawn from it.
MIN_REQUESTS = 20


class MonitoringError(RuntimeError):
    """Nothing to monitor: no logs in the window, or logs of another model. The message says which."""


@dataclass
class MonitoringReport:
    model: str
    version: int
    window_start: float
    window_end: float
    requests: int
    previous_requests: int
    versions_in_window: Dict[int, int]
    verdict: str  # drift | no drift | too few requests
    reasons: List[str]
    scores: List[dict]
    text: Optional[dict]
    summary: Dict[str, Dict[str, float]]  # feature -> {window, reference, previous} means
    predicted_labels: Dict[str, Dict[str, float]]  # window / reference / previous -> share per label
    reference_spans: List[int]
    reference_source: str
    created: float = field(default_factory=time.time)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def drift(self) -> bool:
        return self.verdict == "drift"


def _shares(labels: List[str]) -> Dict[str, float]:
    counts: Dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return {label: count / len(labels) for label, count in sorted(counts.items())} if labels else {}


def _mean(values: List[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")


def _window(config: PipelineConfig, start: float, end: float) -> Window:
    return read_window(config.request_log_root, config.serving.model_name, start, end)


def monitor(config: PipelineConfig, window: Optional[str] = None, end: Optional[float] = None) -> MonitoringReport:
    model = config.serving.model_name
    seconds = duration_seconds(window or config.monitoring.window)
    end = time.time() if end is None else end
    start = end - seconds
    current = _window(config, start, end)
    if not current.requests:
        logged = logged_models(config.request_log_root)
        others = [m for m in logged if m != model]
        hint = (f"; the logs there are of {others}: is this the config of the served model?" if others else
                "; is the server logging (monitoring.request_log.enabled, `mlops serve`)?")
        raise MonitoringError(f"no request of model '{model}' logged under {config.request_log_root} between "
                              f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(start))} and "
                              f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(end))} UTC{hint}"
                              + (f" ({current.undecodable} records had no text this model takes)"
                                 if current.undecodable else ""))
    versions = current.versions()
    version = max(versions, key=lambda v: (versions[v], v))  # the version that answered most in the window
    folder = version_dir(config, version)
    if folder is None:
        raise MonitoringError(f"version {version} of '{model}' answered the logged requests but is not under "
                              f"{config.push_root}: its vocabulary and training data cannot be found")
    known = vocabulary(folder)
    requests = [r for r in current.requests if r.version == version]
    previous = [r for r in _window(config, start - seconds, start).requests]
    base = reference(config, version)
    judged = judge(requests, previous, base, known, config.monitoring.thresholds)
    return MonitoringReport(model, version, start, end, len(requests), len(previous), versions, judged.verdict,
                            judged.reasons, judged.scores, judged.text, judged.summary, judged.labels,
                            base.spans, base.source)


@dataclass
class Judgement:
    verdict: str
    reasons: List[str]
    scores: List[dict]
    text: Optional[dict]
    summary: Dict[str, Dict[str, float]]
    labels: Dict[str, Dict[str, float]]


def judge(requests: Sequence[LoggedRequest], previous: Sequence[LoggedRequest], base: Reference,
          known: FrozenSet[str], thresholds: DriftThresholds) -> Judgement:
    """The verdict on a window's requests against the reference and the previous window (which may be empty)."""
    columns = features_of([r.text for r in requests], [r.label for r in requests], [r.scores for r in requests], known)
    reference_columns = features_of(base.texts, base.labels, base.scores, known)
    previous_columns = features_of([r.text for r in previous], [r.label for r in previous],
                                   [r.scores for r in previous], known) if previous else None
    scores = drift_lib.compare(drift_lib.statistics(columns), drift_lib.statistics(reference_columns),
                               drift_lib.statistics(previous_columns) if previous_columns else None,
                               thresholds.numeric_jensen_shannon, thresholds.label_l_infinity)
    text = None
    if len(requests) >= FOLDS and len(base.texts) >= FOLDS:
        text = asdict(text_drift(base.texts, [r.text for r in requests]))

    reasons = [f"{s.feature}: {s.comparison} {s.measure} {s.value:.4f} > {s.threshold:g}" for s in scores
               if s.exceeded]
    if text is not None and text["p_value"] <= thresholds.text_p_value:
        moved = ", ".join(f"'{gram}'" for gram, _ in text["more_in_window"][:5])
        reasons.append(f"text: a classifier tells the window's texts from the training texts (ROC AUC "
                       f"{text['auc']:.3f}, p = {text['p_value']:.2g} <= {thresholds.text_p_value:g}); more frequent "
                       f"now: {moved}")
    if len(requests) < MIN_REQUESTS:
        verdict = "too few requests"
        reasons.insert(0, f"{len(requests)} requests in the window, fewer than {MIN_REQUESTS}: no verdict drawn")
    else:
        verdict = "drift" if reasons else "no drift"
    summary = {name: {"window": _mean(columns[name]), "reference": _mean(reference_columns[name]),
                      **({"previous": _mean(previous_columns[name])} if previous_columns else {})}
               for name in NUMERIC}
    labels = {"window": _shares(columns["predicted_label"]), "reference": _shares(reference_columns["predicted_label"])}
    if previous_columns:
        labels["previous"] = _shares(previous_columns["predicted_label"])
    return Judgement(verdict, reasons, [asdict(s) | {"exceeded": s.exceeded} for s in scores], text, summary, labels)
