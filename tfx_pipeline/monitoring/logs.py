"""The served model's request logs, read back for a time window and decoded into texts and predictions.

The logs are serving/request_log.py's: PredictionLog TFRecords under <root>/<model>/<version>/. A Predict on the
raw-text signature carries the texts in its "text" input and label, classes and scores in its outputs; a Predict
on the tf.Example signature and a Classify carry serialized tf.Examples (their "text" feature) and classes and
scores. Anything else in a log (another model's signature) is counted and left out, not guessed at.
"""
from __future__ import annotations

import calendar
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from serving.tfrecord import CorruptRecordError, read_records
from tfx_pipeline import features

# A file's name holds when it was opened (UTC); its mtime, when it was last written.
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class LoggedRequest:
    request_id: str
    timestamp: int
    version: int
    text: str
    label: str
    scores: Dict[str, float]

    @property
    def top_score(self) -> float:
        return max(self.scores.values()) if self.scores else 0.0

    @property
    def margin(self) -> float:
        """Top score minus the runner-up: how sure the model was."""
        ranked = sorted(self.scores.values(), reverse=True)
        return ranked[0] - ranked[1] if len(ranked) > 1 else ranked[0] if ranked else 0.0


@dataclass
class Window:
    start: float
    end: float
    requests: List[LoggedRequest] = field(default_factory=list)
    files: int = 0
    undecodable: int = 0  # records of the model that hold no text this module can read
    corrupt_files: List[str] = field(default_factory=list)

    def versions(self) -> Dict[int, int]:
        counts: Dict[int, int] = {}
        for request in self.requests:
            counts[request.version] = counts.get(request.version, 0) + 1
        return counts


def _texts_of_examples(serialized: List[bytes]) -> List[Optional[str]]:
    from tensorflow.core.example import example_pb2

    texts = []
    for raw in serialized:
        example = example_pb2.Example.FromString(raw)
        values = example.features.feature[features.TEXT].bytes_list.value
        texts.append(values[0].decode("utf-8", "replace") if values else None)
    return texts


def _strings(tensor) -> List[bytes]:
    return list(tensor.string_val)


def _floats(tensor) -> List[float]:
    return list(tensor.float_val) or list(tensor.double_val)


def decode(record) -> List[Tuple[str, str, Dict[str, float]]]:
    """(text, predicted label, {class: score}) per text of one PredictionLog; [] for what it cannot read."""
    kind = record.WhichOneof("log_type")
    if kind == "predict_log":
        request, response = record.predict_log.request, record.predict_log.response
        if features.TEXT in request.inputs:
            texts = [t.decode("utf-8", "replace") for t in _strings(request.inputs[features.TEXT])]
        elif "inputs" in request.inputs:
            texts = _texts_of_examples(_strings(request.inputs["inputs"]))
        else:
            return []
        outputs = response.outputs
        if "scores" not in outputs or "classes" not in outputs:
            return []
        classes = [c.decode("utf-8", "replace") for c in _strings(outputs["classes"])]
        scores = _floats(outputs["scores"])
        width = len(scores) // max(len(texts), 1)
        decoded = []
        for row, text in enumerate(texts):
            names, values = classes[row * width:(row + 1) * width], scores[row * width:(row + 1) * width]
            by_class = dict(zip(names, values))
            label = (_strings(outputs["label"])[row].decode("utf-8", "replace") if "label" in outputs
                     else max(by_class, key=by_class.get))
            if text is not None:
                decoded.append((text, label, by_class))
        return decoded
    if kind == "classify_log":
        request, response = record.classify_log.request, record.classify_log.response
        which = request.input.WhichOneof("kind")
        examples = list(getattr(request.input, which).examples) if which else []
        texts = _texts_of_examples([e.SerializeToString() for e in examples])
        decoded = []
        for text, classification in zip(texts, response.result.classifications):
            by_class = {c.label: c.score for c in classification.classes}
            if text is not None and by_class:
                decoded.append((text, max(by_class, key=by_class.get), by_class))
        return decoded
    return []


def _files(model_root: Path, start: float, end: float) -> Iterator[Tuple[int, Path]]:
    if not model_root.is_dir():
        return
    for version_dir in sorted(model_root.iterdir()):
        if not version_dir.name.isdigit():
            continue
        for path in sorted(version_dir.glob("*.tfrecord")):
            # requests-<opened>-<pid>-<n>.tfrecord: skip files opened after the window or closed before it.
            try:
                opened = calendar.timegm(time.strptime(path.name.split("-")[1], _STAMP))
            except (IndexError, ValueError):
                opened = None
            if opened is not None and opened > end:
                continue
            if os.path.getmtime(path) < start:
                continue
            yield int(version_dir.name), path


def read_window(root: Path, model: str, start: float, end: float) -> Window:
    """The logged requests of `model` with start <= timestamp < end, oldest first."""
    from tensorflow_serving.apis import prediction_log_pb2

    window = Window(start, end)
    for version, path in _files(Path(root) / model, start, end):
        window.files += 1
        try:
            with open(path, "rb") as handle:
                for raw in read_records(handle):
                    record = prediction_log_pb2.PredictionLog.FromString(raw)
                    stamp = record.log_metadata.timestamp_secs
                    if not start <= stamp < end:
                        continue
                    decoded = decode(record)
                    if not decoded:
                        window.undecodable += 1
                    request_id = record.log_metadata.request_origin
                    for index, (text, label, scores) in enumerate(decoded):
                        # One id per request; a request of several texts numbers them.
                        item_id = request_id if len(decoded) == 1 else f"{request_id}#{index}"
                        window.requests.append(LoggedRequest(item_id, stamp, version, text, label, scores))
        except CorruptRecordError as exc:
            window.corrupt_files.append(f"{path}: {exc}")
    window.requests.sort(key=lambda r: r.timestamp)
    return window


def logged_models(root: Path) -> List[str]:
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
