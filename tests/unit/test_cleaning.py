"""Code tests for the cleaning of raw CSV bytes."""
import pytest

from tfx_pipeline.data.cleaning import clean_rows, decode, repair_mojibake


def _csv(*rows: str) -> bytes:
    return ("sentiment,confidence,text\r\n" + "\r\n".join(rows) + "\r\n").encode("mac_roman")


def test_utf8_is_kept_and_bom_is_dropped():
    text, encoding = decode("\ufefftext,label\ncaf\u00e9,joy\n".encode("utf-8"))
    assert encoding == "utf-8"
    assert text == "text,label\ncaf\u00e9,joy\n"


def test_mojibake_punctuation_is_repaired_and_emoji_residue_stripped():
    assert repair_mojibake("I don\u2030\u00db\u00aat care") == "I don't care"
    assert repair_mojibake("\u2030\u00db\u00cfhello\u2030\u00db\u00f9") == '"hello"'
    # Unrecoverable emoji bytes with their "_" placeholders become a single space.
    assert repair_mojibake("cars_\u2014_.no thanks") == "cars .no thanks"
    assert repair_mojibake("great \u00d9\u00f7\u00e2_\u00d9\u00f7\u00e2 day") == "great   day"


def test_non_utf8_file_rows_are_repaired_and_counted():
    raw = _csv("negative,0.7,I don\u2030\u00db\u00aat trust it", "neutral,1,plain text")
    rows, report = clean_rows(raw, "text", "sentiment", None)
    assert report.encoding == "mac_roman"
    assert [r["text"] for r in rows] == ["I don't trust it", "plain text"]
    assert report.mojibake_repaired == 1
    assert report.rows_in == 2 and report.rows_out == 2


def test_stray_carriage_returns_become_spaces():
    raw = b'text,label\n"first line\rsecond line",joy\r\n"trailing\r",sadness\n'
    rows, report = clean_rows(raw, "text", "label", None)
    assert [r["text"] for r in rows] == ["first line second line", "trailing"]
    assert report.carriage_returns_removed == 2


def test_exact_duplicates_keep_the_first_copy():
    raw = b"text,label\nSame text,joy\nsame  text,joy\nother,joy\n"
    rows, report = clean_rows(raw, "text", "label", None)
    assert [r["text"] for r in rows] == ["Same text", "other"]
    assert report.dropped == {"exact duplicate text": 1}


def test_conflicting_labels_drop_every_copy():
    raw = b"text,label\nambiguous,joy\nambiguous,anger\nambiguous,joy\nclear,fear\n"
    rows, report = clean_rows(raw, "text", "label", None)
    assert [r["text"] for r in rows] == ["clear"]
    assert report.dropped == {"same text with conflicting labels": 3}
    assert report.rows_in == 4 and report.rows_out == 1


def test_a_published_split_is_deduplicated_across_splits_so_nothing_evaluated_was_trained_on():
    raw = (b"text,label,split\n"
           b"leak,joy,test\nleak,joy,train\nleak,joy,train\n"      # test copy of a train text; a train duplicate
           b"Eval Leak,fear,validation\neval  leak,fear,train\n"     # the same text, case and spacing aside
           b"both,joy,validation\nboth,joy,test\n"                   # in eval and test: test loses it
           b"torn,joy,train\ntorn,anger,test\nfine,love,test\n")     # conflicting labels across splits
    rows, report = clean_rows(raw, "text", "label", "split")
    assert sorted((r["split"], r["text"]) for r in rows) == [
        ("test", "fine"), ("train", "eval leak"), ("train", "leak"), ("validation", "both")]
    assert report.dropped == {"exact duplicate text": 1, "test text also in train": 1,
                              "eval text also in train": 1, "test text also in eval": 1,
                              "same text with conflicting labels": 2}
    assert report.rows_in == 10 and report.rows_out == 4


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"no column\(s\) \['text'\]; its header is \['body', 'label'\]"):
        clean_rows(b"body,label\nx,joy\n", "text", "label", None)


def test_labels_and_empty_texts_are_left_for_the_validator():
    rows, report = clean_rows(b"text,label\n,joy\nfine,not-a-label\n", "text", "label", None)
    assert rows == [{"text": "", "label": "joy"}, {"text": "fine", "label": "not-a-label"}]
    assert not report.dropped
