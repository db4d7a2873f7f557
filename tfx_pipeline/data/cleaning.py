"""Text cleaning for raw labelled CSVs: decoding, mojibake, stray carriage returns, duplicates.

Cleaning repairs what is broken in the bytes and removes rows that would corrupt training (duplicates, texts
with conflicting labels), counting and naming what it changed. It refuses what it cannot repair (NUL bytes, texts
longer than data.max_text_chars; the file's encoding and shape: encodings.py, parsing.py). It deliberately does not
drop rows for their label or for an empty text: the curated schema and ExampleValidator are the gate for those, so
bad data stops the run visibly instead of disappearing here; the report names those rows for the validator.
"""
from __future__ import annotations

import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from tfx_pipeline import features
from tfx_pipeline.data.encodings import AUTO
from tfx_pipeline.data.encodings import decode as decode_bytes
from tfx_pipeline.data.parsing import Record, parse
from tfx_pipeline.data.problems import IngestionError, lines_phrase, quoted, rows_phrase

# CrowdFlower-era exports hold UTF-8 punctuation that went through a mac-roman round trip, with bytes that
# did not survive replaced by "_". The punctuation sequences can be repaired; the rest (mostly emoji) cannot.
MOJIBAKE_REPAIRS = OrderedDict([
    ("\u2030\u00db\u00aa", "'"),   # ‰Ûª  right single quote
    ("\u2030\u00db\u00f7", "'"),   # ‰Û÷  left single quote
    ("\u2030\u00db\u00cf", '"'),   # ‰ÛÏ  left double quote
    ("\u2030\u00db\u00f9", '"'),   # ‰Ûù  right double quote
    ("\u2030\u00db\u00d2", " - "),  # ‰ÛÒ  em dash
    ("\u2030\u00db\u00d3", " - "),  # ‰ÛÓ  en dash
    ("\u2030\u00db\u00a2", " "),   # ‰Û¢  bullet
    ("\u2030\u00db_", "..."),      # ‰Û_  ellipsis
])
# A run of non-ASCII characters, possibly interleaved with the "_" placeholders of lost bytes.
_MOJIBAKE_RUN = re.compile(r"_*(?:[^\x00-\x7f]+_*)+")
_WHITESPACE = re.compile(r"\s+")


# The key under which a cleaned row keeps the file line its record starts at (no CSV column can be named so).
LINE = "\x00line"
# Longer texts are refused by line (data.max_text_chars): ten thousand characters is a few pages, not a post or a
# review, and a text that long is most often many rows swallowed by an unclosed quote.
DEFAULT_MAX_TEXT_CHARS = 10_000


_HOW = {"utf-8": "", "byte-order mark": "its byte-order mark", "configured": "data.encoding",
        "detected": "detected: the one reading its bytes fit",
        "CrowdFlower markers": "the CrowdFlower export's mac-roman round trip, recognised by its mojibake markers"}


@dataclass
class CleaningReport:
    rows_in: int = 0
    rows_out: int = 0
    encoding: str = "utf-8"
    # Why that encoding: "utf-8", "byte-order mark", "detected", "configured", "CrowdFlower markers".
    encoding_how: str = "utf-8"
    mojibake_repair: bool = False
    # Rows whose text the CrowdFlower repair changed at all (punctuation repaired, residue removed, or both).
    mojibake_repaired: int = 0
    mojibake_punctuation: int = 0
    mojibake_residue_lines: List[int] = field(default_factory=list)
    carriage_returns_removed: int = 0
    line_breaks_joined: int = 0
    dropped: Dict[str, int] = field(default_factory=Counter)
    dropped_lines: Dict[str, List[int]] = field(default_factory=dict)
    # What was done to the file's shape (columns dropped, blank lines); never a reason to stop.
    notes: List[str] = field(default_factory=list)
    # Problems ingestion leaves for the curated schema and ExampleValidator to stop the run on, named by line.
    for_validation: List[str] = field(default_factory=list)

    def drop(self, reason: str, count: int = 1, line: Optional[int] = None) -> None:
        self.dropped[reason] += count
        if line is not None:
            self.dropped_lines.setdefault(reason, []).append(line)

    def lines(self) -> List[str]:
        how = _HOW.get(self.encoding_how, self.encoding_how)
        out = [f"rows in: {self.rows_in}", f"encoding: {self.encoding}" + (f" ({how})" if how else "")]
        if self.mojibake_repair:
            residue = self.mojibake_residue_lines
            out.append(f"rows with mojibake repaired or stripped: {self.mojibake_repaired} (punctuation repaired: "
                       f"{self.mojibake_punctuation}; unrecoverable bytes, mostly emoji, removed: {len(residue)}"
                       + (f", {lines_phrase(residue)}" if residue else "") + ")")
        out.append(f"rows with stray carriage returns fixed: {self.carriage_returns_removed}")
        if self.line_breaks_joined:
            out.append(f"rows whose text held line breaks, joined with spaces: {self.line_breaks_joined}")
        out += self.notes
        out += [f"for the validator (it stops the run on these): {problem}" for problem in self.for_validation]
        for reason, n in sorted(self.dropped.items()):
            where = self.dropped_lines.get(reason)
            out.append(f"dropped ({reason}): {n}" + (f" ({lines_phrase(where)})" if where else ""))
        out.append(f"rows out: {self.rows_out}")
        return out


def decode(raw: bytes, encoding: str = AUTO) -> Tuple[str, str]:
    """(text, codec). See encodings.py: UTF-8 as is, the CrowdFlower round trip by its markers, the rest detected
    only when unambiguous, or as data.encoding says."""
    decoding = decode_bytes(raw, encoding)
    return decoding.text, decoding.encoding


def _repair(text: str) -> Tuple[str, bool, bool]:
    """(repaired text, punctuation repaired?, residue removed?)."""
    punctuated = text
    for broken, fixed in MOJIBAKE_REPAIRS.items():
        punctuated = punctuated.replace(broken, fixed)
    stripped = _MOJIBAKE_RUN.sub(" ", punctuated)
    return stripped, punctuated != text, stripped != punctuated


def repair_mojibake(text: str) -> str:
    return _repair(text)[0]


def normalize_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _refuse_nul_bytes(records: List[Record], columns: Dict[str, str]) -> None:
    for key, column in columns.items():
        lines = [r.line for r in records if "\x00" in r.values[column]]
        if lines:
            raise IngestionError(f"column {column!r} ({key}) holds NUL bytes (\\x00) at {lines_phrase(lines)}: the "
                                 "file is damaged, or binary data was pasted into it; remove them and ingest again")


def _refuse_long_texts(records: List[Record], column: str, max_chars: int) -> None:
    long = [r for r in records if len(r.values[column]) > max_chars]
    if long:
        first = long[0]
        raise IngestionError(
            f"column {column!r} holds texts longer than data.max_text_chars ({max_chars:,} characters) at "
            f"{lines_phrase(r.line for r in long)}; {first.where()} holds {len(first.values[column]):,}: fix those "
            "rows, or raise data.max_text_chars if texts that long are real")


def read_rows(raw: bytes, columns: Dict[str, str], report: CleaningReport, encoding: str = AUTO,
              delimiter: str = ",") -> List[Record]:
    """Decodes and parses CSV bytes; columns: {config key: column name}. Refusals are IngestionErrors."""
    decoding = decode_bytes(raw, encoding)
    report.encoding, report.encoding_how, report.mojibake_repair = \
        decoding.encoding, decoding.how, decoding.repair_mojibake
    parsed = parse(decoding.text, delimiter, columns)
    if parsed.dropped_columns:
        report.notes.append(f"columns not in the config, dropped: {', '.join(parsed.dropped_columns)}")
    if parsed.blank_lines:
        report.notes.append(f"blank lines skipped: {parsed.blank_lines}")
    if parsed.trailing_empty_fields:
        report.notes.append(f"rows with empty fields after the header's last column, trimmed: "
                            f"{parsed.trailing_empty_fields}")
    _refuse_nul_bytes(parsed.records, columns)
    report.rows_in = len(parsed.records)
    return parsed.records


def clean_text(text: str, repair: bool, report: CleaningReport, line: int = 0) -> str:
    if "\r" in text:
        report.carriage_returns_removed += 1
    if "\n" in text:
        report.line_breaks_joined += 1
    if repair:
        text, punctuation, residue = _repair(text)
        report.mojibake_repaired += punctuation or residue
        report.mojibake_punctuation += punctuation
        if residue:
            report.mojibake_residue_lines.append(line)
    return normalize_whitespace(text)


def deduplicate(rows: List[Dict[str, str]], text_key: str, label_key: str,
                report: CleaningReport) -> List[Dict[str, str]]:
    """Keeps the first of exact duplicates; drops every copy of a text seen with more than one label.

    Texts are compared case-insensitively after whitespace normalisation, the same identity the
    hash split uses, so a duplicate can never straddle train and test. Empty texts are not texts that repeat: each
    is kept, for the validator to refuse.
    """
    conflicting = _conflicting(rows, text_key, label_key)
    seen = set()
    kept = []
    for row in rows:
        key = dedup_key(row[text_key])
        if not key:
            kept.append(row)
        elif key in conflicting:
            report.drop("same text with conflicting labels", line=row.get(LINE))
        elif key in seen:
            report.drop("exact duplicate text", line=row.get(LINE))
        else:
            seen.add(key)
            kept.append(row)
    return kept


def dedup_key(text: str) -> str:
    return normalize_whitespace(text).lower()


def _conflicting(rows: List[Dict[str, str]], text_key: str, label_key: str) -> set:
    """Dedup keys of the texts seen with more than one label."""
    labels_by_text: Dict[str, set] = {}
    for row in rows:
        labels_by_text.setdefault(dedup_key(row[text_key]), set()).add(row[label_key])
    return {key for key, labels in labels_by_text.items() if len(labels) > 1 and key}


def deduplicate_splits(rows: List[Dict[str, str]], text_key: str, label_key: str, split_key: str,
                       report: CleaningReport) -> List[Dict[str, str]]:
    """Deduplicates a source with a published split, across the splits.

    A text seen with two labels anywhere is dropped in every copy; copies within a split keep their first; an
    eval row whose text is in train, and a test row whose text is in train or eval, are dropped: they would leak
    the rows a model is judged on into what it learnt from (dair_emotion has both kinds). Splits are taken
    train, eval, test, whatever the source's order; values that name no split are kept for ingestion to report.
    Empty texts are kept, each, for the validator.
    """
    conflicting = _conflicting(rows, text_key, label_key)
    order = {name: rank for rank, name in enumerate(features.SPLITS)}
    by_split: Dict[str, List[Dict[str, str]]] = {}
    for row in rows:
        by_split.setdefault(row[split_key], []).append(row)
    first_seen: Dict[str, str] = {}  # dedup key -> the TFX split that kept it
    kept = []
    for value in sorted(by_split, key=lambda v: order.get(features.SPLIT_ALIASES.get(v, ""), len(order))):
        split = features.SPLIT_ALIASES.get(value, value)
        for row in by_split[value]:
            key = dedup_key(row[text_key])
            earlier = first_seen.get(key)
            if not key:
                kept.append(row)
            elif key in conflicting:
                report.drop("same text with conflicting labels", line=row.get(LINE))
            elif earlier == split:
                report.drop("exact duplicate text", line=row.get(LINE))
            elif earlier is not None:
                report.drop(f"{split} text also in {earlier}", line=row.get(LINE))
            else:
                first_seen[key] = split
                kept.append(row)
    return kept


def _note_empty(rows: List[Dict[str, str]], column: str, key: str, what: str, report: CleaningReport) -> None:
    """Empty values are kept for the validator (the schema wants the feature in every example), and named here."""
    lines = [row[LINE] for row in rows if not row[column]]
    if not lines:
        return
    if len(lines) == len(rows):
        raise IngestionError(f"column {column!r} ({key}) holds no {what}: all {rows_phrase(len(rows))} are empty or "
                             "whitespace only; is it the right column?")
    report.for_validation.append(f"empty or whitespace-only {what}s in column {column!r}: {rows_phrase(len(lines))} "
                                 f"of {len(rows)} ({lines_phrase(lines)})")


_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def check_labels(rows: List[Dict[str, str]], column: str, labels: List[str], report: CleaningReport) -> None:
    """Refuses a label column that cannot make a span: no configured label at all (numbers instead of names, the
    wrong or swapped column), or a single one. Rows with a label outside the configured set are named for the
    validator, not dropped."""
    present = [row for row in rows if row[column]]
    known = Counter(row[column] for row in present if row[column] in labels)
    values = Counter(row[column] for row in present)
    if not known:
        lines = lines_phrase(row[LINE] for row in present)
        if all(_NUMBER.match(value) for value in values):
            raise IngestionError(
                f"column {column!r} (data.label_column) holds numbers ({quoted(sorted(values))}), not label names: "
                f"the configured labels are {labels}; map each number to its name before ingesting ({lines})")
        raise IngestionError(
            f"none of the labels in column {column!r} (data.label_column) is one of the configured labels {labels}: "
            f"it holds {quoted(v for v, _ in values.most_common())} ({lines}); is data.label_column the right "
            "column, or are the text and label columns swapped?")
    if len(known) == 1:
        [(label, count)] = known.items()
        others = [name for name in labels if name != label]
        raise IngestionError(
            f"column {column!r} (data.label_column) holds a single one of the configured labels, {label!r} "
            f"({rows_phrase(count)}): a model trained on it cannot tell classes apart, and a test split of one label "
            f"cannot fail it; add rows labelled {others}")
    unknown = [row for row in present if row[column] not in labels]
    if unknown and report is not None:
        odd = Counter(row[column] for row in unknown)
        numbers = " (numbers: map them to label names)" if all(_NUMBER.match(v) for v in odd) else ""
        report.for_validation.append(
            f"labels outside the configured {labels} in column {column!r}: {quoted(v for v, _ in odd.most_common())}"
            f"{numbers}, {rows_phrase(len(unknown))} ({lines_phrase(row[LINE] for row in unknown)})")


def clean_rows(raw: bytes, text_column: str, label_column: str, split_column: Optional[str], *,
               encoding: str = AUTO, delimiter: str = ",", max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
               labels: Optional[List[str]] = None) -> Tuple[List[Dict[str, str]], CleaningReport]:
    """Returns rows keyed by the source column names (and LINE, the row's line in the file), cleaned, and the
    report of what happened. With `labels`, the label column is checked against them (check_labels) before
    deduplication, which would otherwise hide swapped columns behind "conflicting labels". A file that cannot be
    cleaned raises IngestionError."""
    report = CleaningReport()
    columns = {"data.text_column": text_column, "data.label_column": label_column}
    if split_column:
        columns["data.split_column"] = split_column
    records = read_rows(raw, columns, report, encoding, delimiter)
    _refuse_long_texts(records, text_column, max_text_chars)
    rows = []
    for record in records:
        row = dict(record.values)
        row[LINE] = record.line
        row[text_column] = clean_text(row[text_column], report.mojibake_repair, report, record.line)
        row[label_column] = normalize_whitespace(row[label_column])
        if split_column:
            row[split_column] = normalize_whitespace(row[split_column]).lower()
        rows.append(row)
    _note_empty(rows, text_column, "data.text_column", "text", report)
    _note_empty(rows, label_column, "data.label_column", "label", report)
    if labels is not None:
        check_labels(rows, label_column, labels, report)
    if split_column:
        rows = deduplicate_splits(rows, text_column, label_column, split_column, report)
    else:
        rows = deduplicate(rows, text_column, label_column, report)
    if not rows:
        raise IngestionError(f"no row is left after cleaning: {report.rows_in} in, dropped " +
                             ", ".join(f"{n} ({reason})" for reason, n in sorted(report.dropped.items())))
    report.rows_out = len(rows)
    return rows, report
