"""Data tests: bad data of every kind ends in an error that names the problem, or in a stop at validation, and never
in a pushed model (docs/data.md lists the kinds and where each stops).

The ingestion-level kinds run `ingest()` on a file written here, without TensorFlow, and check that the message
names the file, the column and the first offending lines, and that no span appeared. The kinds only the pipeline
can stop (label drift against the previous validated span, a single-label span that bypassed ingestion, unknown
labels, empty texts) share one workspace that serves a good version, trained on a sample of the default corpus
with thresholds that cannot refuse a push: only validation stands between each bad span and the serving root.
"""
from __future__ import annotations

import csv
import gzip
import io
import random
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from pipeline_configs import write_config
from tfx_pipeline import features
from tfx_pipeline.config import load_config
from tfx_pipeline.data.cleaning import clean_rows
from tfx_pipeline.data.ingest import ingest
from tfx_pipeline.data.problems import IngestionError
from tfx_pipeline.data.spans import existing_spans

LABELS = ("negative", "neutral", "positive")
HEADER = ("text", "sentiment")  # the sentiment config's column names


def _rows(n: int = 60, labels: Sequence[str] = LABELS) -> List[Tuple[str, str]]:
    return [(f"text number {i} is here", labels[i % len(labels)]) for i in range(n)]


def _csv(rows, header: Sequence[str] = HEADER, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _replace_line(raw: bytes, line: int, new: bytes) -> bytes:
    lines = raw.split(b"\n")
    lines[line - 1] = new
    return b"\n".join(lines)


# name -> (file name, bytes, config data keys, fragments the message must hold). Lines count from the header, 1.
BAD_FILES: Dict[str, Tuple[str, bytes, dict, List[str]]] = {
    "empty file": ("empty.csv", b"", {}, ["is empty (0 bytes)"]),
    "blank lines only": ("blank.csv", b"\n  \n\n", {}, ["holds no header and no rows: only blank lines"]),
    "header only": ("header.csv", b"text,sentiment\n", {}, ["has a header (text, sentiment) but no rows"]),
    "binary garbage": ("garbage.csv", random.Random(3).randbytes(4000), {},
                       ["is not text but binary data", "are control characters"]),
    "a workbook, not a CSV": ("sheet.csv", b"PK\x03\x04" + random.Random(4).randbytes(500), {},
                              ["is a ZIP archive (an Excel .xlsx workbook is one), not a CSV: export the sheet as "
                               "CSV"]),
    "a truncated gzip file": ("cut.csv.gz", gzip.compress(_csv(_rows()))[:40], {},
                              ["cannot decompress it (.gz by its name)"]),
    "NUL bytes in a text": ("nul.csv", _replace_line(_csv(_rows()), 7, b"text num\x00ber 5,positive"), {},
                            ["column 'text' (data.text_column) holds NUL bytes", "at line 7"]),
    "mixed encodings": ("mixed.csv", _replace_line(_csv([(f"café {t}", l) for t, l in _rows()]), 6,
                                                   "café text 4,neutral".encode("latin-1")), {},
                        ["is UTF-8 except line 6", "caf\\xe9", "mixed encodings"]),
    "an encoding auto-detection cannot tell": (
        "latin1.csv", _csv([(f"café naïve {t}", l) for t, l in _rows()], encoding="latin-1"), {},
        ["its bytes fit several encodings that read it differently", "line 2 reads", "cp1252 'naïve'",
         "cp1250 'naďve'", "set data.encoding"]),
    "bytes the configured encoding cannot decode": (
        "latin1.csv", _csv([(f"café {t}", l) for t, l in _rows()], encoding="latin-1"), {"encoding": "utf-8"},
        ["is not valid utf-8 (data.encoding): byte e9 at line 2"]),
    "a wrong delimiter": ("semicolons.csv", _csv(_rows(), delimiter=";"), {},
                          ["looks delimited by ';', not ','", "'text;sentiment' is one column",
                           "set data.delimiter: ';'"]),
    "a missing column": ("no_label.csv", _csv([(t,) for t, _ in _rows()], header=("text",)), {},
                         ["no column 'sentiment' (data.label_column); its header is ['text']"]),
    "a renamed column": ("renamed.csv", _csv(_rows(), header=("Text", "sentiment")), {},
                         ["no column 'text' (data.text_column); is 'Text' that column renamed? set data.text_column"]),
    "a column named twice": ("twice.csv", _csv([(t, l, t) for t, l in _rows()], header=("text", "sentiment", "text")),
                             {}, ["its header names column 'text' 2 times (positions [1, 3])"]),
    "an unquoted delimiter inside a text": (
        "unquoted.csv", _replace_line(_csv(_rows()), 5, b"text number 3, is here,negative"), {},
        ["line 5 has 3 fields, the header 2 (an unquoted ',' inside a text? quote such texts)"]),
    "an unclosed quote": ("quote.csv", _replace_line(_csv(_rows()), 5, b'"text number 3 is here,negative'), {},
                          ["line 5 (its record runs to line 61, the last: an unclosed quote?) has 1 field, the "
                           "header 2"]),
    "an absurdly long text": ("long.csv", _replace_line(_csv(_rows()), 9, b"x" * 200_000 + b",neutral"), {},
                              ["column 'text' holds texts longer than data.max_text_chars (10,000 characters) at "
                               "line 9; line 9 holds 200,000"]),
    "numeric labels": ("numbers.csv", _csv(_rows(labels=("0", "1", "2"))), {},
                       ["column 'sentiment' (data.label_column) holds numbers ('0', '1', '2'), not label names",
                        "['negative', 'neutral', 'positive']", "lines 2, 3, 4, 5, 6 and 55 more"]),
    "text and label columns swapped": ("swapped.csv", _csv([(l, t) for t, l in _rows()]), {},
                                       ["none of the labels in column 'sentiment'", "'text number 0 is here'",
                                        "are the text and label columns swapped?"]),
    "a single label": ("one_label.csv", _csv(_rows(labels=("negative",))), {},
                       ["column 'sentiment' (data.label_column) holds a single one of the configured labels, "
                        "'negative' (60 rows)", "add rows labelled ['neutral', 'positive']"]),
    "no text at all": ("no_text.csv", _csv([("   ", l) for _, l in _rows()]), {},
                       ["column 'text' (data.text_column) holds no text: all 60 rows are empty or whitespace only"]),
    "one text with every label": ("one_text.csv", _csv([("the same words", l) for _, l in _rows()]), {},
                                  ["no row is left after cleaning: 60 in, dropped 60 (same text with conflicting "
                                   "labels)"]),
    "unknown published split names": (
        "splits.csv", _csv([(t, l, "holdout" if i % 4 == 1 else ["train", "validation", "test"][i % 3])
                            for i, (t, l) in enumerate(_rows())], header=("text", "sentiment", "split")),
        {"split_column": "split"}, ["column 'split' holds 'holdout' at lines 3, 7, 11, 15, 19 and 10 more"]),
    "too few rows to split": ("tiny.csv", _csv(_rows(3)), {}, ["no rows for split(s)", "(too few rows)"]),
}


@pytest.fixture
def config_for(config_file):
    def make(source: Path, **data):
        return load_config(config_file(data={"source": str(source), **data}))
    return make


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_files_are_refused_at_ingestion_naming_file_column_and_lines(kind, tmp_path, config_for):
    name, raw, data, fragments = BAD_FILES[kind]
    source = tmp_path / name
    source.write_bytes(raw)
    config = config_for(source, **data)
    with pytest.raises(IngestionError) as raised:
        ingest(config)
    message = str(raised.value)
    assert message.startswith(f"{source}: "), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "Traceback" not in message and "_csv.Error" not in message
    assert existing_spans(config.paths.data_root) == []


def test_there_are_at_least_fifteen_kinds_of_bad_files():
    assert len(BAD_FILES) >= 15


def _ingested(config, source: Path):
    result = ingest(config, source=source)
    assert result.created
    rows = {}
    for split in features.SPLITS:
        with open(result.path / split / "data.csv", newline="", encoding="utf-8") as f:
            rows.update({r[features.TEXT]: r[features.LABEL] for r in csv.DictReader(f)})
    return result, rows


def test_an_encoding_named_in_the_config_decodes_latin1_and_nothing_is_stripped(tmp_path, config_for):
    """The issue's file: read as mac-roman with the default corpus's repair, 'café naïve' became 'caf na ve'."""
    source = tmp_path / "latin1.csv"
    source.write_bytes(_csv([(f"café naïve {t}", l) for t, l in _rows()], encoding="latin-1"))
    result, rows = _ingested(config_for(source, encoding="latin-1"), source)
    assert "café naïve text number 7 is here" in rows and len(rows) == 60
    assert "encoding: latin-1 (data.encoding)" in result.lines()
    assert not any("mojibake" in line for line in result.lines())


def test_an_unambiguous_legacy_encoding_and_utf16_are_detected(tmp_path, config_for):
    german = tmp_path / "german.csv"
    german.write_bytes(_csv([(f"Größe Übung schön {t}", l) for t, l in _rows()], encoding="latin-1"))
    result, rows = _ingested(config_for(german), german)
    assert "Größe Übung schön text number 0 is here" in rows
    assert "encoding: cp1252 (detected: the one reading its bytes fit)" in result.lines()
    wide = tmp_path / "utf16.csv"
    wide.write_bytes(_csv([(f"naïve {t}", l) for t, l in _rows()], encoding="utf-16"))
    result, rows = _ingested(config_for(wide), wide)
    assert "naïve text number 3 is here" in rows and "encoding: utf-16 (its byte-order mark)" in result.lines()


def test_extra_columns_are_dropped_with_a_note(tmp_path, config_for):
    source = tmp_path / "extra.csv"
    source.write_bytes(_csv([(i, t, "0.9", l) for i, (t, l) in enumerate(_rows())],
                            header=("id", "text", "confidence", "sentiment")))
    result, rows = _ingested(config_for(source), source)
    assert len(rows) == 60
    assert "columns not in the config, dropped: id, confidence" in result.lines()


def test_empty_texts_are_named_as_empty_not_as_conflicting_labels(tmp_path, config_for):
    """The issue's file: a third of its texts empty was reported as 'dropped (same text with conflicting labels)'.
    Empty texts are kept, each, for the validator (pipeline test below); ingestion names them."""
    rows = [("" if i % 3 == 0 else t, l) for i, (t, l) in enumerate(_rows(300))]
    source = tmp_path / "empties.csv"
    source.write_bytes(_csv(rows))
    result = ingest(config_for(source), source=source)
    assert result.report.dropped == {}
    assert result.report.rows_out == 300
    assert result.report.for_validation == [
        "empty or whitespace-only texts in column 'text': 100 rows of 300 (lines 2, 5, 8, 11, 14 and 95 more)"]


def test_unknown_labels_are_named_by_line_and_left_for_the_validator(tmp_path, config_for):
    source = tmp_path / "sarcasm.csv"
    source.write_bytes(_csv([(t, "sarcastic" if i % 10 == 0 else l) for i, (t, l) in enumerate(_rows())]))
    result = ingest(config_for(source), source=source)
    assert result.created and result.report.rows_out == 60
    assert result.report.for_validation == [
        "labels outside the configured ['negative', 'neutral', 'positive'] in column 'sentiment': 'sarcastic', "
        "6 rows (lines 2, 12, 22, 32, 42 and 1 more)"]
    assert any(line.startswith("for the validator (it stops the run on these): labels outside")
               for line in result.lines())


# ---- Kinds only the pipeline can stop: one workspace serving a good version, each bad span in turn. ----

SAMPLE = 300
# Thresholds that cannot refuse a push: no baseline comparison that can fail, no floor above zero.
OPEN_THRESHOLDS = {"accuracy": {"lower_bound": 0.0, "max_drop": 1.0}, "macro_f1": {"lower_bound": 0.0, "max_drop": 1.0}}


def _write_source(path: Path, rows: Sequence[Tuple[str, str]]) -> Path:
    path.write_bytes(_csv(rows))
    return path


def _span_texts(config, span: int) -> set:
    texts = set()
    for split in features.SPLITS:
        with open(config.paths.data_root / f"span-{span}" / split / "data.csv", newline="", encoding="utf-8") as f:
            texts |= {r[features.TEXT] for r in csv.DictReader(f)}
    return texts


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tests = Path(__file__).resolve().parents[1]
    if str(tests / "e2e") not in sys.path:
        sys.path.insert(0, str(tests / "e2e"))
    from pipeline_helpers import FAST_TRAINER, effective_config, report, run_cli, version_dirs

    folder = tmp_path_factory.mktemp("bad_data")
    config_path = write_config(folder / "config.yaml", "sentiment", trainer=FAST_TRAINER,
                               evaluation={"thresholds": OPEN_THRESHOLDS})
    first = run_cli("run", "--config", str(config_path), "--sample", str(SAMPLE), "--no-html")
    config = effective_config(config_path, SAMPLE)
    assert first.exit_code == 0, first.output
    assert len(version_dirs(config.push_root)) == 1, first.output
    in_span = _span_texts(config, 1)
    corpus, _ = clean_rows(config.source_path().read_bytes(), "text", "sentiment", None)
    fresh = [(r["text"], r["sentiment"]) for r in corpus if r["text"] not in in_span]
    random.Random(11).shuffle(fresh)
    by_label = {label: [row for row in fresh if row[1] == label] for label in LABELS}
    return {"folder": folder, "config_path": config_path, "config": config, "fresh": fresh, "by_label": by_label,
            "report": report, "run_cli": run_cli, "version_dirs": version_dirs, "used": 0}


def _take(served, n: int, label: Optional[str] = None) -> List[Tuple[str, str]]:
    """Corpus rows no span holds yet, each used once. Rows of one label come from the end of the shuffled corpus,
    so that they never deplete the beginning, where mixed rows keep the corpus's label shares."""
    pool = served["by_label"][label][::-1] if label else served["fresh"]
    taken = [row for row in pool if row[0] not in served.setdefault("taken", set())][:n]
    served["taken"] |= {t for t, _ in taken}
    return taken


def _stops_at_the_gate(served, *, via_cli: bool = False) -> str:
    """Runs the pipeline on the newest span; asserts it stopped at the DataGate and the serving root is unchanged;
    returns the gate's message."""
    from pipeline_helpers import states, tree_digest

    config = served["config"]
    before = tree_digest(config.paths.serving_root)
    if via_cli:
        result = served["run_cli"]("run", "--config", str(served["config_path"]), "--sample", str(SAMPLE),
                                   "--no-html")
        assert result.exit_code == 1, result.output
        message = result.output.split("the run stopped at data_gate: DataValidationError: ", 1)[1]
        message = message.split("\nlast lines of the log:", 1)[0]
    else:
        from runners import local_runner
        from tfx_pipeline.components.data_gate import DataValidationError

        with pytest.raises(Exception) as raised:
            local_runner.run(config)
        assert isinstance(raised.value, DataValidationError) or "DataValidationError" in repr(raised.value)
        message = str(raised.value)
    run = served["report"](config)
    assert states(run)["statistics_gen"] == "ran" and states(run)["data_gate"] == "failed", states(run)
    assert all(states(run)[c] == "skipped" for c in ("transform", "trainer", "evaluator", "pusher")), states(run)
    assert tree_digest(config.paths.serving_root) == before
    assert len(served["version_dirs"](config.push_root)) == 1
    return message


@pytest.mark.e2e
def test_label_drift_from_the_previous_validated_span_stops_at_the_data_gate(served):
    # The corpus is about 42% negative; this span is 85%.
    rows = _take(served, 255, "negative") + _take(served, 30, "neutral") + _take(served, 15, "positive")
    source = _write_source(served["folder"] / "drifted.csv", rows)
    assert ingest(served["config"], source=source).span == 2
    message = _stops_at_the_gate(served, via_cli=True)
    assert message.startswith("The DataGate stops the run before Transform:")
    assert "span 2, split 'train', feature 'label': the label distribution drifted from span 1's" in message
    assert "beyond the schema's drift_comparator threshold 0.25" in message
    before, after = map(int, re.search(r"negative (\d+)% -> (\d+)%", message).groups())
    assert 30 < before < 55 and after > 75, message  # the corpus's share, then this span's
    assert "TFDV: High Linfty distance between current and previous" in message


@pytest.mark.e2e
def test_a_single_label_span_that_bypassed_ingestion_stops_at_the_data_gate(served):
    config = served["config"]
    rows = _take(served, 120, "negative")
    for split, part in zip(features.SPLITS, (rows[:96], rows[96:108], rows[108:])):
        folder = config.paths.data_root / "span-3" / split
        folder.mkdir(parents=True)
        with open(folder / "data.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow([features.TEXT, features.LABEL, features.LENGTH_BUCKET])
            writer.writerows((t, l, features.length_bucket(t)) for t, l in part)
    message = _stops_at_the_gate(served)
    for split, count in (("train", 96), ("eval", 12), ("test", 12)):
        assert f"span 3, split '{split}', feature 'label': a single label, 'negative', in all {count} labelled " \
               "examples" in message, message
    # It drifted too, against span 1: the rejected span 2 is no reference.
    assert "drifted from span 1's" in message


@pytest.mark.e2e
def test_unknown_labels_stop_at_validation_and_the_message_names_their_lines(served):
    rows = [(t, "sarcastic" if i % 10 == 0 else l) for i, (t, l) in enumerate(_take(served, 300))]
    source = _write_source(served["folder"] / "sarcastic.csv", rows)
    assert ingest(served["config"], source=source).span == 4
    message = _stops_at_the_gate(served)
    assert message.startswith("ExampleValidator found anomalies; the run stops before Transform:")
    assert "feature 'label': Unexpected string values" in message and "sarcastic" in message
    assert "drifted" not in message
    assert f"span 4, ingested from {source}: labels outside the configured ['negative', 'neutral', 'positive'] in " \
           "column 'sentiment': 'sarcastic', 30 rows (lines 2, 12, 22, 32, 42 and 25 more)" in message


@pytest.mark.e2e
def test_a_span_with_a_third_of_its_texts_empty_stops_at_validation(served):
    rows = [("" if i % 3 == 0 else t, l) for i, (t, l) in enumerate(_take(served, 300))]
    source = _write_source(served["folder"] / "empties.csv", rows)
    result = ingest(served["config"], source=source)
    assert result.span == 5 and "conflicting" not in " ".join(result.lines())
    message = _stops_at_the_gate(served)
    assert "feature 'text'" in message and "drifted" not in message
    assert f"span 5, ingested from {source}: empty or whitespace-only texts in column 'text': 100 rows of 300 " \
           "(lines 2, 5, 8, 11, 14 and 95 more)" in message


@pytest.mark.e2e
def test_a_file_mostly_of_texts_already_trained_on_is_refused_at_ingestion(served):
    config = served["config"]
    trained = sorted(_span_texts(config, 1))
    label_of = {r[0]: r[1] for r in served["fresh"]}
    with open(config.paths.data_root / "span-1" / "train" / "data.csv", newline="", encoding="utf-8") as f:
        label_of.update({r[features.TEXT]: r[features.LABEL] for r in csv.DictReader(f)})
    for split in ("eval", "test"):
        with open(config.paths.data_root / "span-1" / split / "data.csv", newline="", encoding="utf-8") as f:
            label_of.update({r[features.TEXT]: r[features.LABEL] for r in csv.DictReader(f)})
    # Two thirds of span 1 again, and a few new rows: not the whole of span 1, so not its next version.
    rows = [(t, label_of[t]) for t in trained[:200]] + _take(served, 40)
    source = _write_source(served["folder"] / "again.csv", rows)
    spans = existing_spans(config.paths.data_root)
    with pytest.raises(IngestionError) as raised:
        ingest(config, source=source)
    message = str(raised.value)
    assert f"{source}: 200 of its 240 rows (83%) repeat texts of column 'text' that validated spans already hold " \
           "(span 1 200), more than data.max_repeated_share (50%): lines 2, 3, 4, 5, 6 and 195 more" in message
    assert existing_spans(config.paths.data_root) == spans
    # The whole of span 1 and more (a growing export, or `mlops feedback`'s span) is its next version, accepted.
    grown = _write_source(served["folder"] / "grown.csv", [(t, label_of[t]) for t in trained] + _take(served, 40))
    result = ingest(config, source=grown)
    assert result.created and result.span == spans[-1] + 1
    assert "holds every text of span 1, the newest validated span" in " ".join(result.lines())
    # And the sample the workspace started from is already held: nothing is added, the run would stay cached.
    assert not ingest(config, sample=SAMPLE).created
