"""How ingestion names bad data: one error type, and the first offending rows by their line in the file.

A message must let a person open the file and find the problem without running anything else, so rows are named
by the file line where their record starts (the header is line 1), never by a position after cleaning.
"""
from __future__ import annotations

from typing import Iterable, List

# Enough rows to recognise a pattern; the count says how many more there are.
FIRST_ROWS = 5


class IngestionError(ValueError):
    """A source that cannot become a span; the message names the file, the column and the first offending rows."""


def lines_phrase(lines: Iterable[int], limit: int = FIRST_ROWS) -> str:
    """'line 4', 'lines 2, 5, 9', 'lines 2, 5, 9, 12, 14 and 37 more'."""
    lines = sorted(set(lines))
    if len(lines) == 1:
        return f"line {lines[0]}"
    shown = ", ".join(str(n) for n in lines[:limit])
    more = len(lines) - limit
    return f"lines {shown}" + (f" and {more} more" if more > 0 else "")


def quoted(values: Iterable[str], limit: int = FIRST_ROWS, width: int = 40) -> str:
    """'a', 'b' and 3 more: values as a person reads them, long ones cut."""
    values: List[str] = list(values)
    shown = ", ".join(repr(v if len(v) <= width else v[:width] + "...") for v in values[:limit])
    more = len(values) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def rows_phrase(count: int) -> str:
    return f"{count} row" + ("" if count == 1 else "s")
