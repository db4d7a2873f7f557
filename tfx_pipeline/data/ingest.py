"""The first stage: turn a raw CSV into a clean UTF-8 span under the pipeline's data root (layout: spans.py).

The split is the source's published one when it has a split column; otherwise a hash split (80/10/10) keyed
on the normalised text, so that copies of a text never straddle splits. It is decided here rather than by
ExampleGen's partitioner because that partitioner crashes on a span without the text column, and such a span
must reach ExampleValidator and be reported as an anomaly. Ingesting content that an existing span already
holds adds nothing, which keeps an unchanged re-run fully cached.
"""
from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import io
import json
import lzma
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from tfx_pipeline import features
from tfx_pipeline.config import PipelineConfig
from tfx_pipeline.data.cleaning import CleaningReport, clean_rows, dedup_key
from tfx_pipeline.data.spans import MANIFEST, existing_spans, publish_span, read_manifest, span_dir
from tfx_pipeline.locations import Location

# Sources may ship compressed (the repository's data/ does); the suffix says how.
_DECOMPRESS = {".gz": gzip.decompress, ".xz": lzma.decompress, ".bz2": bz2.decompress}


@dataclass
class IngestResult:
    span: int
    path: Location
    created: bool
    report: CleaningReport
    rows_per_split: Dict[str, int]

    def lines(self) -> List[str]:
        state = "written" if self.created else "already ingested, nothing written"
        splits = ", ".join(f"{k} {v}" for k, v in self.rows_per_split.items())
        return self.report.lines() + [f"rows per split: {splits}", f"span {self.span} {state}: {self.path}"]


def read_source(path: Path) -> bytes:
    """The source's bytes, decompressed when its name ends in .gz, .xz or .bz2."""
    raw = Path(path).read_bytes()
    decompress = _DECOMPRESS.get(Path(path).suffix.lower())
    if decompress is None:
        return raw
    try:
        return decompress(raw)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise ValueError(f"cannot decompress {path}: {exc}") from None


def hash_split(text: str) -> str:
    """80/10/10 on a stable hash of the text as deduplication sees it (case and spacing ignored)."""
    bucket = int(hashlib.sha256(dedup_key(text).encode("utf-8")).hexdigest(), 16) % 10
    return features.TRAIN_SPLIT if bucket < 8 else features.EVAL_SPLIT if bucket == 8 else features.TEST_SPLIT


def _text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _sample(rows: List[Dict[str, str]], n: int, text_key: str) -> List[Dict[str, str]]:
    # The first n in hash order: deterministic, and proportional across labels and published splits.
    return sorted(rows, key=lambda row: _text_hash(row[text_key]))[:n]


def _to_split(value: str, split_column: str) -> str:
    try:
        return features.SPLIT_ALIASES[value]
    except KeyError:
        raise ValueError(f"column '{split_column}' holds '{value}'; expected one of "
                         f"{sorted(features.SPLIT_ALIASES)}") from None


def _csv_bytes(rows: List[Dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([features.TEXT, features.LABEL, features.LENGTH_BUCKET])
    for row in rows:
        writer.writerow([row[features.TEXT], row[features.LABEL], features.length_bucket(row[features.TEXT])])
    return out.getvalue().encode("utf-8")


def ingest(config: PipelineConfig, source: Optional[Path] = None, sample: Optional[int] = None) -> IngestResult:
    """Cleans `source` (default: the configured source) and adds it as the next span unless unchanged."""
    source = Path(source) if source else config.source_path()
    if not source.is_file():
        raise FileNotFoundError(f"data source {source} does not exist")
    data = config.data
    try:
        rows, report = clean_rows(read_source(source), data.text_column, data.label_column, data.split_column)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    if sample is not None:
        before = len(rows)
        rows = _sample(rows, sample, data.text_column)
        report.drop(f"outside the --sample {sample}", before - len(rows))
        report.rows_out = len(rows)

    files: Dict[str, List[Dict[str, str]]] = {}
    # Rows go out in a stable pseudo-random order: sources are often sorted by label (the default corpus is),
    # and the Trainer's streaming shuffle buffer would then see long runs of one class.
    for row in sorted(rows, key=lambda r: _text_hash(r[data.text_column])):
        text = row[data.text_column]
        split = _to_split(row[data.split_column], data.split_column) if data.split_column else hash_split(text)
        files.setdefault(split, []).append({features.TEXT: text, features.LABEL: row[data.label_column]})
    absent = [s for s in features.SPLITS if s not in files]
    if absent:
        raise ValueError(f"{source}: no rows for split(s) {absent}" +
                         (f" in column '{data.split_column}'" if data.split_column else " (too few rows)"))
    payload = {split: _csv_bytes(files[split]) for split in features.SPLITS}
    digest = hashlib.sha256(b"".join(split.encode() + body for split, body in payload.items())).hexdigest()
    rows_per_split = {split: len(files[split]) for split in features.SPLITS}

    data_root = config.paths.data_root
    spans = existing_spans(data_root)
    # Content already ingested (by `mlops run` or `mlops ingest`) is never added twice.
    for existing in reversed(spans):
        folder = span_dir(data_root, existing)
        if read_manifest(folder).get("sha256") == digest:
            return IngestResult(existing, folder, False, report, rows_per_split)

    span = (spans[-1] + 1) if spans else 1
    files = {f"{split}/data.csv": body for split, body in payload.items()}
    files[MANIFEST] = json.dumps({"sha256": digest, "source": str(source), "sample": sample,
                                  "rows_per_split": rows_per_split, "report": report.lines()}, indent=2).encode()
    return IngestResult(span, publish_span(data_root, span, files), True, report, rows_per_split)
