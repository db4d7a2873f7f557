"""Text cleaning for raw labelled CSVs: decoding, mojibake, stray carriage returns, duplicates.

Cleaning repairs what is broken in the bytes and removes rows that would corrupt training (duplicates, texts
with conflicting labels). It deliberately does not judge labels or empty texts: the curated schema and
ExampleValidator are the gate for those, so bad data stops the run visibly instead of disappearing here.
"""
from __future__ import annotations

import csv
import io
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from tfx_pipeline import features

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


@dataclass
class CleaningReport:
    rows_in: int = 0
    rows_out: int = 0
    encoding: str = "utf-8"
    mojibake_repaired: int = 0
    carriage_returns_removed: int = 0
    dropped: Dict[str, int] = field(default_factory=Counter)

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] += count

    def lines(self) -> List[str]:
        out = [f"rows in: {self.rows_in}", f"encoding: {self.encoding}",
               f"rows with mojibake repaired or stripped: {self.mojibake_repaired}",
               f"rows with stray carriage returns fixed: {self.carriage_returns_removed}"]
        out += [f"dropped ({reason}): {n}" for reason, n in sorted(self.dropped.items())]
        out.append(f"rows out: {self.rows_out}")
        return out


def decode(raw: bytes) -> Tuple[str, str]:
    """Returns (text, encoding). Valid UTF-8 is kept as is; anything else is read as mac-roman mojibake."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        # mac-roman maps every byte, so decoding cannot fail; the damage is repaired row by row.
        return raw.decode("mac_roman"), "mac_roman"


def repair_mojibake(text: str) -> str:
    for broken, fixed in MOJIBAKE_REPAIRS.items():
        text = text.replace(broken, fixed)
    return _MOJIBAKE_RUN.sub(" ", text)


def normalize_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def read_rows(raw: bytes, columns: Iterable[str], report: CleaningReport) -> List[Dict[str, str]]:
    """Parses CSV bytes and returns the requested columns; a missing column is an error naming it."""
    text, report.encoding = decode(raw)
    # Stray "\r" inside fields or as line ends: csv handles "\r\n", lone "\r" are whitespace noise.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"CSV has no column(s) {missing}; its header is {header}")
    rows = []
    for row in reader:
        rows.append({c: row[c] if row[c] is not None else "" for c in columns})
    report.rows_in = len(rows)
    return rows


def clean_text(text: str, encoding: str, report: CleaningReport) -> str:
    if "\r" in text:
        report.carriage_returns_removed += 1
    if encoding != "utf-8":
        repaired = repair_mojibake(text)
        if repaired != text:
            report.mojibake_repaired += 1
        text = repaired
    return normalize_whitespace(text)


def deduplicate(rows: List[Dict[str, str]], text_key: str, label_key: str,
                report: CleaningReport) -> List[Dict[str, str]]:
    """Keeps the first of exact duplicates; drops every copy of a text seen with more than one label.

    Texts are compared case-insensitively after whitespace normalisation, the same identity the
    hash split uses, so a duplicate can never straddle train and test.
    """
    conflicting = _conflicting(rows, text_key, label_key)
    seen = set()
    kept = []
    for row in rows:
        key = dedup_key(row[text_key])
        if key in conflicting:
            report.drop("same text with conflicting labels")
            continue
        if key in seen:
            report.drop("exact duplicate text")
            continue
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
    return {key for key, labels in labels_by_text.items() if len(labels) > 1}


def deduplicate_splits(rows: List[Dict[str, str]], text_key: str, label_key: str, split_key: str,
                       report: CleaningReport) -> List[Dict[str, str]]:
    """Deduplicates a source with a published split, across the splits.

    A text seen with two labels anywhere is dropped in every copy; copies within a split keep their first; an
    eval row whose text is in train, and a test row whose text is in train or eval, are dropped: they would leak
    the rows a model is judged on into what it learnt from (dair_emotion has both kinds). Splits are taken
    train, eval, test, whatever the source's order; values that name no split are kept for ingestion to report.
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
            if key in conflicting:
                report.drop("same text with conflicting labels")
            elif earlier == split:
                report.drop("exact duplicate text")
            elif earlier is not None:
                report.drop(f"{split} text also in {earlier}")
            else:
                first_seen[key] = split
                kept.append(row)
    return kept


def clean_rows(raw: bytes, text_column: str, label_column: str, split_column: Optional[str],
               ) -> Tuple[List[Dict[str, str]], CleaningReport]:
    """Returns rows keyed by the source column names, cleaned, and the report of what happened."""
    report = CleaningReport()
    columns = [text_column, label_column] + ([split_column] if split_column else [])
    rows = read_rows(raw, columns, report)
    for row in rows:
        row[text_column] = clean_text(row[text_column], report.encoding, report)
        row[label_column] = normalize_whitespace(row[label_column])
        if split_column:
            row[split_column] = normalize_whitespace(row[split_column]).lower()
    if split_column:
        rows = deduplicate_splits(rows, text_column, label_column, split_column, report)
    else:
        rows = deduplicate(rows, text_column, label_column, report)
    report.rows_out = len(rows)
    return rows, report
