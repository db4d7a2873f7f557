"""Decoding a source's bytes: what can be decoded correctly is, anything else is an error that says why.

`data.encoding: auto` (the default) decides per file, in this order:

1. a byte-order mark says UTF-8, UTF-16 or UTF-32;
2. a known binary format (gzip, xz, bzip2, ZIP/xlsx, PDF, PNG, Parquet, SQLite) is refused by name;
3. valid UTF-8 is UTF-8 (NUL bytes inside texts are judged later, by column and line);
4. a file that is UTF-8 but for some lines has mixed encodings: refused, naming those lines;
5. the CrowdFlower mac-roman round trip of the default corpus, recognised by its markers (below), is read as
   mac-roman and repaired; nothing else ever is;
6. bytes that are mostly control characters are binary data, refused;
7. otherwise charset-normalizer proposes encodings; the file is decoded only when every plausible one reads it the
   same way (German Latin-1 reads the same in cp1252 and cp1250). When they disagree (Latin-1 'café naïve' is
   'café naďve' in cp1250) the error shows what each makes of the first line they disagree on, and
   `data.encoding` settles it.

A codec name in `data.encoding` decodes every file strictly with that codec; `crowdflower` forces step 5.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from tfx_pipeline.data.problems import IngestionError, lines_phrase

AUTO = "auto"
CROWDFLOWER = "crowdflower"

# The mac-roman reading of the CrowdFlower exports' broken UTF-8 punctuation (cleaning.MOJIBAKE_REPAIRS): a
# "‰Û" pair then one more character. The pair is bytes E4 F3 ("äó" in Latin-1), and no real text puts one of the
# listed characters after it; a tenth of the non-ASCII lines carrying it (the default corpus: 44%) is no accident.
CROWDFLOWER_MARKER = re.compile("\u2030\u00db[\u00aa\u00f7\u00cf\u00f9\u00d2\u00d3\u00a2_\u00a5\u00dc]")
CROWDFLOWER_MIN_SHARE = 0.1

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_MAGIC = ((b"\x1f\x8b", "a gzip-compressed file", "name it *.gz so that ingestion decompresses it"),
          (b"\xfd7zXZ\x00", "an xz-compressed file", "name it *.xz so that ingestion decompresses it"),
          (b"BZh", "a bzip2-compressed file", "name it *.bz2 so that ingestion decompresses it"),
          (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)", "export the sheet as CSV"),
          (b"%PDF", "a PDF document", "export the table as CSV"),
          (b"\x89PNG", "a PNG image", "point data.source at the CSV"),
          (b"PAR1", "a Parquet file", "convert it to CSV"),
          (b"SQLite format 3\x00", "an SQLite database", "export the table as CSV"))
# UTF-16 and UTF-32 text without a byte-order mark is half or more NUL bytes; UTF-8 text with a few NULs is not.
_WIDE_NUL_SHARE = 0.1
# Text in any single-byte encoding has next to no C0 control bytes besides tab and line ends; random bytes have 11%.
_BINARY_CONTROL_SHARE = 0.02
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
# A decoding is plausible with charset-normalizer's "chaos" (share of implausible characters) at most this, and its
# "coherence" (how well letter frequencies fit a language) at least this. Both are strict: its best guess is often
# wrong (Polish cp1250 read as cp1252 at 10% chaos, Shift-JIS read as cp949 with 0 chaos but no language), and a
# refusal that says "set data.encoding" costs a line of config where a wrong guess costs every accented letter.
_PLAUSIBLE_CHAOS = 0.02
_PLAUSIBLE_COHERENCE = 0.1
# The name a person knows, for a group of codecs that read the bytes identically.
_PREFERRED = ("utf_8", "ascii", "cp1252", "latin_1", "cp1250", "cp1251", "utf_16", "utf_32")
# The encodings detection chooses among: those text files are really written in. Left out are DOS and vendor code
# pages (cp775, hp_roman8, ...) that fit Western bytes as well as the real ones and only add false ambiguity, and
# mac-roman, which only the CrowdFlower markers choose (data.encoding: mac_roman reads a genuine Mac file).
CANDIDATES = ("utf_8", "utf_16", "utf_16_le", "utf_16_be", "utf_32", "utf_32_le", "utf_32_be",
              "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "latin_1",
              "iso8859_2", "iso8859_4", "iso8859_5", "iso8859_7", "iso8859_9", "iso8859_13", "iso8859_15",
              "koi8_r", "koi8_u", "cp932", "shift_jis", "euc_jp", "gb18030", "gbk", "big5", "cp949", "euc_kr")


@dataclass
class Decoding:
    text: str
    encoding: str  # the codec used, as Python names it
    how: str  # why: "utf-8", "byte-order mark", "detected", "configured", "CrowdFlower markers"
    repair_mojibake: bool = False


def check_encoding_name(name: str) -> str:
    """For config validation: `auto`, `crowdflower` or a codec Python knows."""
    if name in (AUTO, CROWDFLOWER):
        return name
    try:
        codecs.lookup(name)
    except LookupError:
        raise ValueError(f"{name!r} is not an encoding Python knows (use auto, crowdflower, or a codec name such as "
                         "utf-8, cp1252, latin-1, utf-16)") from None
    return name


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def _strict(raw: bytes, codec: str, why: str) -> str:
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start:exc.start + 4]
        raise IngestionError(f"is not valid {codec} ({why}): byte {bad[:1].hex(' ')} at line "
                             f"{_line_of(raw, exc.start)} cannot be decoded ({bad!r}...)") from None


def decode(raw: bytes, encoding: str = AUTO) -> Decoding:
    if not raw:
        raise IngestionError("is empty (0 bytes)")
    if encoding == CROWDFLOWER:
        return Decoding(raw.decode("mac_roman"), "mac_roman", "configured", repair_mojibake=True)
    if encoding != AUTO:
        # A byte-order mark is no text: utf-8 (unlike utf-8-sig) would keep it in the first column's name.
        return Decoding(_strict(raw, encoding, "data.encoding").lstrip("\ufeff"), encoding, "configured")
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            text = _strict(raw, codec, "its byte-order mark says so")
            return Decoding(text.lstrip("\ufeff"), codec.replace("-sig", ""), "byte-order mark")
    for magic, what, fix in _MAGIC:
        if raw.startswith(magic):
            raise IngestionError(f"is {what}, not a CSV: {fix}")
    wide = raw.count(0) > _WIDE_NUL_SHARE * len(raw)
    if not wide:
        try:
            return Decoding(raw.decode("utf-8"), "utf-8", "utf-8")
        except UnicodeDecodeError:
            pass
        _refuse_mixed_utf8(raw)
        crowdflower = _crowdflower(raw)
        if crowdflower is not None:
            return crowdflower
        controls = sum(raw.count(b) for b in _CONTROL_BYTES)
        if controls > _BINARY_CONTROL_SHARE * len(raw):
            raise _binary(raw, controls)
    return _detect(raw, wide)


def _binary(raw: bytes, controls: int) -> IngestionError:
    return IngestionError(f"is not text but binary data: {controls / len(raw):.0%} of its {len(raw):,} bytes are "
                          f"control characters (it starts {raw[:8].hex(' ')}); point data.source or the command "
                          "at the CSV file")


def _refuse_mixed_utf8(raw: bytes) -> None:
    """A file whose non-ASCII lines are mostly valid UTF-8 is UTF-8 with some lines in another encoding (exports
    pasted together): no single codec reads it correctly, so the lines that are not UTF-8 are named."""
    valid, invalid = 0, []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            valid += 1
        except UnicodeDecodeError as exc:
            invalid.append((number, line[max(0, exc.start - 12):exc.start + 4]))
    if invalid and valid >= len(invalid):
        number, context = invalid[0]
        raise IngestionError(
            f"is UTF-8 except {lines_phrase(n for n, _ in invalid)} (line {number}: {context!r}): a file of mixed "
            "encodings, which no single codec reads correctly; re-save those lines as UTF-8")


def _crowdflower(raw: bytes) -> Optional[Decoding]:
    text = raw.decode("mac_roman")
    non_ascii = [line for line in text.split("\n") if not line.isascii()]
    marked = sum(1 for line in non_ascii if CROWDFLOWER_MARKER.search(line))
    if marked and marked >= CROWDFLOWER_MIN_SHARE * len(non_ascii):
        return Decoding(text, "mac_roman", "CrowdFlower markers", repair_mojibake=True)
    return None


def _name(match) -> str:
    group = [match.encoding] + list(match.could_be_from_charset)
    return next((name for name in _PREFERRED if name in group), match.encoding)


def _detect(raw: bytes, wide: bool) -> Decoding:
    from charset_normalizer import from_bytes

    matches = [m for m in from_bytes(raw, cp_isolation=list(CANDIDATES))
               if not wide or m.encoding.startswith(("utf_16", "utf_32"))]
    plausible = [m for m in matches if m.chaos <= _PLAUSIBLE_CHAOS and m.coherence >= _PLAUSIBLE_COHERENCE]
    if not plausible and wide:
        raise IngestionError(f"is not text: {raw.count(0) / len(raw):.0%} of its {len(raw):,} bytes are NUL (it starts "
                             f"{raw[:8].hex(' ')}), and it does not read as UTF-16 or UTF-32 either; re-save it as "
                             "UTF-8, or set data.encoding if it is UTF-16 or UTF-32 without a byte-order mark")
    readings = _readings(raw, plausible)
    if len(readings) == 1:
        name, text = readings[0]
        return Decoding(text.lstrip("\ufeff"), name, "detected")
    if readings:
        raise IngestionError(f"is not UTF-8, and its bytes fit several encodings that read it differently: "
                             f"{_disagreement(readings)}; set data.encoding to the file's encoding (latin-1 or cp1252 "
                             "for most Western European text), or re-save it as UTF-8")
    closest = _readings(raw, matches[:3])
    raise IngestionError("is not UTF-8, and no encoding can be told from its bytes with confidence" +
                         (f" (the closest guesses: {_disagreement(closest)})" if len(closest) > 1 else
                          f" (the closest guess: {closest[0][0]})" if closest else "") +
                         "; set data.encoding to the file's encoding, or re-save it as UTF-8")


def _readings(raw: bytes, matches) -> List[Tuple[str, str]]:
    """(name, text) per distinct decoding, the names people know first."""
    readings: List[Tuple[str, str]] = []
    for match in matches:
        text = raw.decode(match.encoding)
        if all(text != other for _, other in readings):
            readings.append((_name(match), text))
    readings.sort(key=lambda r: _PREFERRED.index(r[0]) if r[0] in _PREFERRED else len(_PREFERRED))
    return readings


def _disagreement(readings: List[Tuple[str, str]]) -> str:
    """What each reading makes of the first line where they differ, shown as the words that differ."""
    split = [text.split("\n") for _, text in readings]
    number = next((i for i, lines in enumerate(zip(*split)) if len(set(lines)) > 1), 0)
    words = [lines[number].split() for lines in split]
    differing = [i for i, column in enumerate(zip(*words)) if len(set(column)) > 1][:3]
    shown = []
    for (name, _), line_words in zip(readings[:4], words):
        sample = " ".join(line_words[i] for i in differing) if differing else " ".join(line_words)
        shown.append(f"{name} '{sample}'")
    return f"line {number + 1} reads " + ", ".join(shown)
