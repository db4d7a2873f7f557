"""`mlops feedback FILE`: labels that arrive after the prediction, joined to the request log.

FILE is a CSV with a header: `request_id,label` (the id each response returned), or labelled texts
(`text,label`, the config's text and label column names accepted too), which are joined to logged requests by
their text. The joined rows give the served version's live accuracy and macro-F1, with a 95% interval (Wilson's
for accuracy, a bootstrap for macro-F1). Every labelled text then becomes a new span through ingestion, so it is
cleaned and validated like any other data: with data.span_window 1 the span holds the latest span's rows plus the
new ones (a span is what the next run trains on); with a wider window, only the new ones.
"""
from __future__ import annotations

import csv
import io
import math
import random
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from tfx_pipeline import features
from tfx_pipeline.config import PipelineConfig
from tfx_pipeline.data.cleaning import dedup_key
from tfx_pipeline.data.ingest import hash_split, read_source
from tfx_pipeline.data.spans import existing_spans, span_dir
from tfx_pipeline.evaluation.metrics import scores_from_matrix
from tfx_pipeline.monitoring.logs import LoggedRequest, read_window

BOOTSTRAP = 1000
_Z = 1.959963984540054  # the normal quantile of a two-sided 95% interval


class FeedbackError(ValueError):
    """A feedback file that cannot be used; the message names the file, the column and the first bad rows."""


@dataclass
class FeedbackReport:
    model: str
    version: Optional[int]
    rows: int
    labelled: int  # rows joined to a logged request of the version
    unmatched: int  # rows whose id or text is in no log of the window
    accuracy: Optional[float]
    accuracy_interval: Optional[Tuple[float, float]]
    macro_f1: Optional[float]
    macro_f1_interval: Optional[Tuple[float, float]]
    per_version: Dict[int, int]
    span: Optional[int] = None
    span_rows: int = 0
    new_rows: int = 0
    window_start: float = 0.0
    window_end: float = 0.0
    ingestion: List[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def read_feedback(path: Path, config: PipelineConfig) -> Tuple[str, List[Tuple[str, str]]]:
    """('request_id' | 'text', [(key, label)]); FeedbackError names what is wrong."""
    try:
        text = read_source(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedbackError(f"{path}: not UTF-8 (byte {exc.start}); save the file as UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    label_column = next((c for c in (features.LABEL, config.data.label_column) if c in header), None)
    key_column = next((c for c in ("request_id", features.TEXT, config.data.text_column) if c in header), None)
    if label_column is None or key_column is None:
        raise FeedbackError(f"{path}: expected the columns request_id,label or text,label; its header is {header}")
    kind = "request_id" if key_column == "request_id" else "text"
    rows, bad = [], []
    for number, row in enumerate(reader, start=2):
        key, label = (row.get(key_column) or "").strip(), (row.get(label_column) or "").strip()
        if not key or label not in config.labels:
            bad.append(f"line {number}: {key_column}={key!r}, {label_column}={label!r}")
            continue
        rows.append((key, label))
    if bad:
        raise FeedbackError(f"{path}: {len(bad)} row(s) without a {key_column} or with a label outside "
                            f"{list(config.labels)} in column '{label_column}'; first: " + "; ".join(bad[:3]))
    if not rows:
        raise FeedbackError(f"{path}: no labelled rows")
    return kind, rows


def wilson(successes: int, total: int) -> Tuple[float, float]:
    if not total:
        return (float("nan"), float("nan"))
    p = successes / total
    centre = (p + _Z ** 2 / (2 * total)) / (1 + _Z ** 2 / total)
    half = _Z * math.sqrt(p * (1 - p) / total + _Z ** 2 / (4 * total ** 2)) / (1 + _Z ** 2 / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


def macro_f1(pairs: List[Tuple[str, str]], labels: List[str]) -> float:
    """Argmax macro-F1 over the configured classes, as the Evaluator computes it (evaluation/metrics.py)."""
    index = {label: i for i, label in enumerate(labels)}
    matrix: Dict[tuple, float] = {}
    for actual, predicted in pairs:
        key = (index[actual], index[predicted])
        matrix[key] = matrix.get(key, 0.0) + 1.0
    return sum(scores_from_matrix(matrix, len(labels))["f1"].values()) / len(labels)


def _bootstrap(pairs: List[Tuple[str, str]], labels: List[str], seed: int = 0) -> Tuple[float, float]:
    rng = random.Random(seed)
    values = sorted(macro_f1([rng.choice(pairs) for _ in pairs], labels) for _ in range(BOOTSTRAP))
    return (values[int(0.025 * BOOTSTRAP)], values[int(0.975 * BOOTSTRAP) - 1])


def join(kind: str, rows: List[Tuple[str, str]], logged: List[LoggedRequest]
         ) -> List[Tuple[LoggedRequest, str]]:
    """(logged request, label) for each feedback row found in the log."""
    if kind == "request_id":
        by_key = {r.request_id: r for r in logged}
        return [(by_key[key], label) for key, label in rows if key in by_key]
    by_text: Dict[str, LoggedRequest] = {}
    for request in logged:
        by_text.setdefault(dedup_key(request.text), request)
    return [(by_text[dedup_key(key)], label) for key, label in rows if dedup_key(key) in by_text]


def live_metrics(config: PipelineConfig, kind: str, rows: List[Tuple[str, str]], start: float, end: float
                 ) -> Tuple[FeedbackReport, List[Tuple[str, str]]]:
    """The report, and (text, label) for every row that has a text (all rows with texts, joined or not)."""
    logged = read_window(config.request_log_root, config.serving.model_name, start, end).requests
    joined = join(kind, rows, logged)
    per_version: Dict[int, int] = {}
    for request, _ in joined:
        per_version[request.version] = per_version.get(request.version, 0) + 1
    version = max(per_version, key=lambda v: (per_version[v], v)) if per_version else None
    pairs = [(label, request.label) for request, label in joined if request.version == version]
    known = [pair for pair in pairs if pair[1] in config.labels]
    correct = sum(1 for actual, predicted in known if actual == predicted)
    report = FeedbackReport(
        config.serving.model_name, version, len(rows), len(known), len(rows) - len(joined),
        accuracy=correct / len(known) if known else None,
        accuracy_interval=wilson(correct, len(known)) if known else None,
        macro_f1=macro_f1(known, list(config.labels)) if known else None,
        macro_f1_interval=_bootstrap(known, list(config.labels)) if known else None,
        per_version=per_version, window_start=start, window_end=end)
    texts = [(request.text, label) for request, label in joined] if kind == "request_id" else list(rows)
    return report, texts


def _span_rows(config: PipelineConfig, span: int) -> List[Tuple[str, str, str]]:
    rows = []
    for split in features.SPLITS:
        path = Path(span_dir(config.paths.data_root, span)) / split / "data.csv"
        with open(path, newline="", encoding="utf-8") as handle:
            rows += [(r[features.TEXT], r[features.LABEL], split) for r in csv.DictReader(handle)]
    return rows


def add_span(config: PipelineConfig, texts: List[Tuple[str, str]]):
    """Ingests the labelled texts as the next span (see the module); returns (IngestResult, rows written, rows
    new to the span). A text the latest span holds already keeps its split and takes the feedback's label (the
    later judgement); a new one is hash-split like any source without a published split."""
    from tfx_pipeline.data.ingest import ingest

    spans = existing_spans(config.paths.data_root)
    rows = _span_rows(config, spans[-1]) if spans and config.data.span_window == 1 else []
    position = {dedup_key(text): index for index, (text, _, _) in enumerate(rows)}
    new = 0
    for text, label in texts:
        key = dedup_key(text)
        if key in position:
            old_text, _, split = rows[position[key]]
            rows[position[key]] = (old_text, label, split)
        else:
            position[key] = len(rows)
            rows.append((text, label, hash_split(text)))
            new += 1
    data = config.data
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "feedback.csv"
        with open(source, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([data.text_column, data.label_column] + ([data.split_column] if data.split_column else []))
            writer.writerows([(t, l, s) if data.split_column else (t, l) for t, l, s in rows])
        return ingest(config, source=source), len(rows), new
