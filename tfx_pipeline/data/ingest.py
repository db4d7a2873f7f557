"""The first stage: turn a raw CSV into a clean UTF-8 span under the pipeline's data root (layout: spans.py).

The split is the source's published one when it has a split column; otherwise a hash split (80/10/10) keyed
on the normalised text, so that copies of a text never straddle splits. It is decided here rather than by
ExampleGen's partitioner because that partitioner crashes on a span without the text column, and such a span
must reach ExampleValidator and be reported as an anomaly. Ingesting content that an existing span already
holds adds nothing, which keeps an unchanged re-run fully cached; an unchanged source (the same bytes, settings and
cleaning code) finds its span by key without being cleaned again.

A file that cannot make a useful span is refused with an IngestionError naming the file, the column and the first
offending lines (docs/data.md lists every kind): besides what cleaning refuses, a label column without one
configured label (numbers instead of names, swapped columns), a single label, and a file mostly made of texts
that validated spans already hold. Rows are never dropped for their label or an empty text: those are named in the
report and left to the curated schema and ExampleValidator, which stop the run on them.
"""
from __future__ import annotations

import bz2
import csv
import dataclasses
import gzip
import hashlib
import io
import json
import lzma
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from tfx_pipeline import features
from tfx_pipeline.config import PipelineConfig
from tfx_pipeline.data import cleaning, encodings, parsing
from tfx_pipeline.data.cleaning import LINE, CleaningReport, check_labels, clean_rows, dedup_key
from tfx_pipeline.data.history import validated_spans
from tfx_pipeline.data.problems import IngestionError, lines_phrase, quoted
from tfx_pipeline.data.spans import (MANIFEST, existing_spans, publish_span, read_manifest, read_span_texts,
                                     span_dir)
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
        raise IngestionError(f"{path}: cannot decompress it ({Path(path).suffix} by its name): {exc}") from None


def hash_split(text: str) -> str:
    """80/10/10 on a stable hash of the text as deduplication sees it (case and spacing ignored)."""
    bucket = int(hashlib.sha256(dedup_key(text).encode("utf-8")).hexdigest(), 16) % 10
    return features.TRAIN_SPLIT if bucket < 8 else features.EVAL_SPLIT if bucket == 8 else features.TEST_SPLIT


def _text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _sample(rows: List[Dict[str, str]], n: int, text_key: str) -> List[Dict[str, str]]:
    # The first n in hash order: deterministic, and proportional across labels and published splits.
    return sorted(rows, key=lambda row: _text_hash(row[text_key]))[:n]


def _to_splits(rows: List[Dict[str, str]], split_column: str) -> List[str]:
    unknown = [row for row in rows if row[split_column] not in features.SPLIT_ALIASES]
    if unknown:
        values = Counter(row[split_column] for row in unknown)
        raise IngestionError(f"column '{split_column}' holds '{values.most_common(1)[0][0]}'"
                             + (f" (and {quoted(sorted(values)[:4])})" if len(values) > 1 else "")
                             + f" at {lines_phrase(r[LINE] for r in unknown)}; expected one of "
                             f"{sorted(features.SPLIT_ALIASES)}")
    return [features.SPLIT_ALIASES[row[split_column]] for row in rows]


def _csv_bytes(rows: List[Dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([features.TEXT, features.LABEL, features.LENGTH_BUCKET])
    for row in rows:
        writer.writerow([row[features.TEXT], row[features.LABEL], features.length_bucket(row[features.TEXT])])
    return out.getvalue().encode("utf-8")


def _source_key(raw: bytes, config: PipelineConfig, sample: Optional[int]) -> str:
    """What decides a span's content: the source's bytes, the data settings, the labels, the sample and the code
    that cleans. An unchanged re-run finds its span by this key without cleaning the file again."""
    settings = json.dumps({"data": config.data.model_dump(mode="json"), "labels": list(config.labels),
                           "sample": sample}, sort_keys=True, default=str)
    key = hashlib.sha256(raw)
    key.update(settings.encode("utf-8"))
    for module in (cleaning, encodings, parsing, features):
        key.update(Path(module.__file__).read_bytes())
    key.update(Path(__file__).read_bytes())
    return key.hexdigest()


def _stored_report(report: CleaningReport) -> dict:
    # asdict() would rebuild the Counter from (key, count) pairs, counting the pairs.
    return dataclasses.asdict(dataclasses.replace(report, dropped=dict(report.dropped)))


def _report_from(manifest: dict) -> Optional[CleaningReport]:
    stored = manifest.get("cleaning")
    if not isinstance(stored, dict):
        return None
    try:
        report = CleaningReport(**stored)
    except TypeError:  # written by another version of the report
        return None
    report.dropped = Counter(report.dropped)
    return report


def _already_ingested(config: PipelineConfig, key: str) -> Optional[IngestResult]:
    data_root = config.paths.data_root
    for existing in reversed(existing_spans(data_root)):
        folder = span_dir(data_root, existing)
        manifest = read_manifest(folder)
        report = _report_from(manifest) if manifest.get("source_key") == key else None
        if report is not None and isinstance(manifest.get("rows_per_split"), dict):
            return IngestResult(existing, folder, False, report, manifest["rows_per_split"])
    return None


def check_repeats(rows: List[Dict[str, str]], text_key: str, config: PipelineConfig, spans: List[int],
                  report: CleaningReport) -> None:
    """Refuses a file whose share of texts already held by validated spans (those trained on) exceeds
    data.max_repeated_share.

    With data.span_window 1 a span is the whole training set: a file holding every text of the newest validated
    span is its next version (a growing export, or `mlops feedback`'s span), so only repeats of older spans count.
    """
    validated = sorted(span for span in validated_spans(config) if span in spans)
    if not validated or not rows:
        return
    keys = [dedup_key(row[text_key]) for row in rows]
    held = {span: {dedup_key(t) for t in read_span_texts(config.paths.data_root, span)} - {""} for span in validated}
    latest = validated[-1]
    carried = config.data.span_window == 1 and held[latest] <= set(keys)
    counted = [span for span in validated if not (carried and span == latest)]
    seen: Dict[str, int] = {}
    for span in counted:
        for key in held[span] - (held[latest] if carried else set()):
            seen.setdefault(key, span)
    repeated = [row for row, key in zip(rows, keys) if key and key in seen]
    if carried:
        report.notes.append(f"holds every text of span {latest}, the newest validated span: a new version of the "
                            "whole training set (data.span_window 1), its repeats expected")
    if not repeated:
        return
    share = len(repeated) / len(rows)
    by_span = Counter(seen[dedup_key(row[text_key])] for row in repeated)
    where = ", ".join(f"span {span} {count}" for span, count in sorted(by_span.items()))
    lines = lines_phrase(row[LINE] for row in repeated)
    if share > config.data.max_repeated_share:
        raise IngestionError(
            f"{len(repeated)} of its {len(rows)} rows ({share:.0%}) repeat texts of column {text_key!r} that validated "
            f"spans already hold ({where}), more than data.max_repeated_share ({config.data.max_repeated_share:.0%}): "
            f"{lines}. A span of data already trained on teaches nothing new; ingest only the new rows, or raise "
            "data.max_repeated_share")
    report.notes.append(f"rows repeating texts of validated spans ({where}), kept: {len(repeated)} ({share:.0%}; "
                        f"{lines})")


def ingest(config: PipelineConfig, source: Optional[Path] = None, sample: Optional[int] = None) -> IngestResult:
    """Cleans `source` (default: the configured source) and adds it as the next span unless unchanged."""
    source = Path(source) if source else config.source_path()
    if not source.is_file():
        raise FileNotFoundError(f"data source {source} does not exist")
    data = config.data
    data_root = config.paths.data_root
    raw = read_source(source)
    key = _source_key(raw, config, sample)
    unchanged = _already_ingested(config, key)
    if unchanged is not None:
        return unchanged
    try:
        rows, report = clean_rows(raw, data.text_column, data.label_column, data.split_column,
                                  encoding=data.encoding, delimiter=data.delimiter,
                                  max_text_chars=data.max_text_chars, labels=list(config.labels))
        if sample is not None:
            before = len(rows)
            rows = _sample(rows, sample, data.text_column)
            report.drop(f"outside the --sample {sample}", before - len(rows))
            report.rows_out = len(rows)
        # Again on what the span will hold: deduplication or the sample can leave a single label.
        check_labels(rows, data.label_column, list(config.labels), None)
        # Rows go out in a stable pseudo-random order: sources are often sorted by label (the default corpus is),
        # and the Trainer's streaming shuffle buffer would then see long runs of one class.
        rows = sorted(rows, key=lambda r: _text_hash(r[data.text_column]))
        splits = _to_splits(rows, data.split_column) if data.split_column else \
            [hash_split(row[data.text_column]) for row in rows]
        files: Dict[str, List[Dict[str, str]]] = {}
        for row, split in zip(rows, splits):
            files.setdefault(split, []).append({features.TEXT: row[data.text_column],
                                                features.LABEL: row[data.label_column]})
        absent = [s for s in features.SPLITS if s not in files]
        if absent:
            raise IngestionError(f"no rows for split(s) {absent}" +
                                 (f" in column '{data.split_column}'" if data.split_column else " (too few rows)"))
        payload = {split: _csv_bytes(files[split]) for split in features.SPLITS}
        digest = hashlib.sha256(b"".join(split.encode() + body for split, body in payload.items())).hexdigest()
        rows_per_split = {split: len(files[split]) for split in features.SPLITS}

        spans = existing_spans(data_root)
        # Content already ingested (by `mlops run` or `mlops ingest`) is never added twice.
        for existing in reversed(spans):
            folder = span_dir(data_root, existing)
            if read_manifest(folder).get("sha256") == digest:
                return IngestResult(existing, folder, False, report, rows_per_split)
        check_repeats(rows, data.text_column, config, spans, report)
    except IngestionError as exc:
        raise IngestionError(f"{source}: {exc}") from None

    span = (spans[-1] + 1) if spans else 1
    out = {f"{split}/data.csv": body for split, body in payload.items()}
    out[MANIFEST] = json.dumps({"sha256": digest, "source": str(source), "sample": sample, "source_key": key,
                                "rows_per_split": rows_per_split, "report": report.lines(),
                                "cleaning": _stored_report(report),
                                "for_validation": report.for_validation}, indent=2).encode()
    return IngestResult(span, publish_span(data_root, span, out), True, report, rows_per_split)
