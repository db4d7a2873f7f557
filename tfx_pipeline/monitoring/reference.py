"""The reference a served version is compared with: its training data's held-out texts (the eval split of the
spans it was trained on, found through ML Metadata's lineage), with the version's own predictions on them.

Held out, not the train split: the vocabulary was built on the train split, so its texts have fewer unknown words
than any new text, and the model was fitted to them, so it is surer of them than of any new text. Against the
train split, every in-domain window would show skew in the OOV rate and the scores. The eval split is as new to
the model as live traffic and still the version's own data. Computed once per version, kept beside the reports.
"""
from __future__ import annotations

import csv
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional

from tfx_pipeline import features
from tfx_pipeline.config import PipelineConfig
from tfx_pipeline.data.spans import existing_spans, span_dir

SAMPLE = 3000
_BATCH = 256


@dataclass
class Reference:
    version: int
    spans: List[int]
    texts: List[str]
    labels: List[str]  # predicted by the version
    scores: List[Dict[str, float]]
    source: str  # how the spans were found


def training_spans(config: PipelineConfig, version: int) -> (List[int], str):
    """The spans the version was trained on: from ML Metadata when it recorded the push, else the latest span."""
    from tfx_pipeline.metadata.store import open_store

    store = open_store(config)
    if store is not None:
        from tfx_pipeline.metadata.lineage import Lineage

        lineage = Lineage(store).version_lineage(version)
        if lineage is not None and lineage.spans:
            return lineage.spans, "ML Metadata lineage of the pushed version"
    spans = existing_spans(config.paths.data_root)
    if not spans:
        raise FileNotFoundError(f"no span under {config.paths.data_root}: nothing to compare the requests with")
    return spans[-1:], "the latest span (the version's push is not in ML Metadata)"


def _held_out_texts(config: PipelineConfig, spans: List[int]) -> List[str]:
    texts = []
    for span in spans:
        path = Path(span_dir(config.paths.data_root, span)) / features.EVAL_SPLIT / "data.csv"
        with open(path, newline="", encoding="utf-8") as handle:
            texts += [row[features.TEXT] for row in csv.DictReader(handle) if row[features.TEXT]]
    return texts


def _cache_path(config: PipelineConfig, version: int) -> Path:
    return config.monitoring_dir / config.serving.model_name / "reference" / f"{version}.json"


def reference(config: PipelineConfig, version: int, seed: int = 0) -> Reference:
    cache = _cache_path(config, version)
    if cache.is_file():
        return Reference(**json.loads(cache.read_text()))
    from serving.client import LocalClient

    spans, source = training_spans(config, version)
    texts = _held_out_texts(config, spans)
    texts = texts if len(texts) <= SAMPLE else random.Random(seed).sample(texts, SAMPLE)
    labels, scores = [], []
    with LocalClient(str(config.push_root), config.serving.model_name) as client:
        for start in range(0, len(texts), _BATCH):
            for prediction in client.classify_text(texts[start:start + _BATCH], config.serving.model_name,
                                                   version=version):
                labels.append(prediction.label)
                scores.append(prediction.scores)
    found = Reference(version, spans, texts, labels, scores, source)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(found)))
    partial.replace(cache)
    return found


def version_dir(config: PipelineConfig, version: int) -> Optional[Path]:
    path = Path(config.push_root) / str(version)
    return path if path.is_dir() else None
