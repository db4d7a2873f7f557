"""Parsing decoded CSV text into records that remember their line, with the shape of the file checked first.

What is refused here is what no cleaning could make right: no header, a header only, the wrong delimiter, a
configured column that is missing (with the header's near misses named) or named twice, and records with more or
fewer fields than the header (an unquoted delimiter inside a text, an unclosed quote). Columns the config does not
name are dropped, and said so.
"""
from __future__ import annotations

import csv
import difflib
import io
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Sequence, Tuple

from tfx_pipeline.data.problems import IngestionError, lines_phrase

# Python's csv refuses fields over 131,072 characters with a bare `_csv.Error`; lengths are judged after parsing
# (data.max_text_chars), where the message can name the line.
_FIELD_LIMIT = 2 ** 31 - 1
_OTHER_DELIMITERS = (";", "\t", "|", ",")
# A record this many lines long is named with its last line too: an unclosed quote swallows the lines after it.
_LONG_RECORD_LINES = 2


@dataclass
class Record:
    line: int  # where the record starts in the file; the header is line 1
    end_line: int
    values: Dict[str, str]

    # The file's last line, when the record ends there: an unclosed quote runs to the end of the file.
    last_line: int = 0

    def where(self) -> str:
        if self.end_line - self.line + 1 >= _LONG_RECORD_LINES:
            last = ", the last" if self.end_line == self.last_line else ""
            return f"line {self.line} (its record runs to line {self.end_line}{last}: an unclosed quote?)"
        return f"line {self.line}"


@dataclass
class Parsed:
    header: List[str]
    records: List[Record]
    dropped_columns: List[str] = field(default_factory=list)
    blank_lines: int = 0
    trailing_empty_fields: int = 0


@contextmanager
def field_limit(limit: int = _FIELD_LIMIT) -> Iterator[None]:
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _name(value: str) -> str:
    return repr(value) if value.strip() == value else f"{value!r} (with spaces)"


def _records(text: str, delimiter: str) -> Iterator[Tuple[int, int, List[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    end = 0
    while True:
        start = end + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise IngestionError(f"is not a CSV that can be read: line {reader.line_num}: {exc}") from None
        end = reader.line_num
        yield start, end, fields


def _blank(fields: List[str]) -> bool:
    return not fields or (len(fields) == 1 and not fields[0].strip())


def _wrong_delimiter(header: List[str], delimiter: str, columns: Sequence[str]) -> None:
    """A header of one field that splits into the configured columns at another delimiter."""
    if len(header) != 1:
        return
    for other in _OTHER_DELIMITERS:
        if other == delimiter or other not in header[0]:
            continue
        names = [name.strip() for name in header[0].split(other)]
        if set(columns) <= set(names):
            shown = "a tab" if other == "\t" else repr(other)
            raise IngestionError(
                f"looks delimited by {shown}, not {delimiter!r} (data.delimiter): its header {header[0]!r} is one "
                f"column, and split at {shown} it is {names}; set data.delimiter: {other!r}")


def _missing(column: str, key: str, header: List[str]) -> str:
    near = [name for name in header if name.strip().lower() == column.lower()]
    near += [name for name in difflib.get_close_matches(column, header, n=2, cutoff=0.6) if name not in near]
    hint = f"; is {' or '.join(_name(n) for n in near)} that column renamed? set {key}" if near else ""
    return f"no column {column!r} ({key}){hint}"


def parse(text: str, delimiter: str, columns: Dict[str, str]) -> Parsed:
    """columns: {config key: column name}, e.g. {"data.text_column": "text"}. Records hold those columns only."""
    if not text.strip():
        raise IngestionError("holds no header and no rows: only blank lines")
    with field_limit():
        records = _records(text, delimiter)
        blank = 0
        header: List[str] = []
        for _, _, fields in records:
            if not _blank(fields):
                header = [name.strip() for name in fields]
                break
            blank += 1
        wanted = list(columns.values())
        _wrong_delimiter(header, delimiter, wanted)
        missing = [_missing(name, key, header) for key, name in columns.items() if name not in header]
        if missing:
            raise IngestionError("; ".join(missing) + f"; its header is {header}")
        twice = [name for name in dict.fromkeys(wanted) if header.count(name) > 1]
        if twice:
            raise IngestionError(f"its header names column {twice[0]!r} {header.count(twice[0])} times "
                                 f"(positions {[i + 1 for i, n in enumerate(header) if n == twice[0]]}): which one "
                                 "holds the data cannot be told")
        index = {name: header.index(name) for name in wanted}
        parsed = Parsed(header, [], [name for name in header if name not in wanted and name])
        too_many: List[Record] = []
        too_few: List[Record] = []
        for start, end, fields in records:
            if _blank(fields):
                parsed.blank_lines += 1
                continue
            if len(fields) > len(header) and not any(f.strip() for f in fields[len(header):]):
                parsed.trailing_empty_fields += 1
                fields = fields[:len(header)]
            record = Record(start, end, {})
            if len(fields) != len(header):
                record.values = {"fields": str(len(fields))}
                (too_many if len(fields) > len(header) else too_few).append(record)
                continue
            record.values = {name: fields[i] for name, i in index.items()}
            parsed.records.append(record)
        parsed.blank_lines += blank
    last_line = text.count("\n") + (not text.endswith("\n"))
    for record in too_many + too_few + parsed.records:
        record.last_line = last_line
    _refuse_ragged(too_many, too_few, len(header), delimiter)
    if not parsed.records:
        raise IngestionError(f"has a header ({', '.join(header)}) but no rows")
    return parsed


def _refuse_ragged(too_many: List[Record], too_few: List[Record], width: int, delimiter: str) -> None:
    problems = []
    for records, more in ((too_many, True), (too_few, False)):
        if not records:
            continue
        first = records[0]
        fields = int(first.values["fields"])
        why = f" (an unquoted {delimiter!r} inside a text? quote such texts)" if more else ""
        if len(records) == 1:
            problems.append(f"{first.where()} has {fields} field{'s' * (fields != 1)}, the header {width}{why}")
        else:
            problems.append(f"{lines_phrase(r.line for r in records)} have {'more' if more else 'fewer'} fields than "
                            f"the header's {width}{why}; {first.where()} has {fields}")
    if problems:
        raise IngestionError("; ".join(problems))
