"""Code tests for the cleaning of raw CSV bytes."""
import pytest

from tfx_pipeline.data.cleaning import LINE, clean_rows, decode, repair_mojibake


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


def test_a_crowdflower_export_is_recognised_by_its_markers_and_every_change_is_counted():
    raw = _csv("negative,0.7,I don\u2030\u00db\u00aat trust it", "neutral,1,plain text",
               "positive,1,love it \u00d9\u00f7\u00e2_\u00d9\u00f7\u00e2")
    rows, report = clean_rows(raw, "text", "sentiment", None)
    assert (report.encoding, report.encoding_how, report.mojibake_repair) == ("mac_roman", "CrowdFlower markers", True)
    assert [r["text"] for r in rows] == ["I don't trust it", "plain text", "love it"]
    assert (report.mojibake_repaired, report.mojibake_punctuation, report.mojibake_residue_lines) == (2, 1, [4])
    assert report.rows_in == 3 and report.rows_out == 3
    assert "rows with mojibake repaired or stripped: 2 (punctuation repaired: 1; unrecoverable bytes, mostly emoji, " \
        "removed: 1, line 4)" in report.lines()


def test_the_repair_is_never_applied_to_text_without_the_markers():
    """The issue's Latin-1 file: read as mac-roman and repaired, 'café naïve' became 'caf na ve'."""
    raw = "text,label\ncafé naïve,joy\nplain,anger\n".encode("latin-1")
    rows, report = clean_rows(raw, "text", "label", None, encoding="latin-1")
    assert [r["text"] for r in rows] == ["café naïve", "plain"]
    assert not report.mojibake_repair and report.mojibake_repaired == 0
    # The markers in a UTF-8 file are text like any other: only the mac-roman round trip is repaired.
    rows, report = clean_rows("text,label\nsaid \u2030\u00db\u00aa,joy\n".encode("utf-8"), "text", "label", None)
    assert rows[0]["text"] == "said \u2030\u00db\u00aa" and not report.mojibake_repair


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
    with pytest.raises(ValueError, match=r"no column 'text' \(data\.text_column\); its header is \['body', 'label'\]"):
        clean_rows(b"body,label\nx,joy\n", "text", "label", None)


def test_labels_and_empty_texts_are_left_for_the_validator_and_named():
    raw = b"text,label\n,joy\nfine,not-a-label\n  ,anger\nother,joy\n"
    rows, report = clean_rows(raw, "text", "label", None, labels=["joy", "anger"])
    assert [{k: v for k, v in r.items() if k != LINE} for r in rows] == [
        {"text": "", "label": "joy"}, {"text": "fine", "label": "not-a-label"}, {"text": "", "label": "anger"},
        {"text": "other", "label": "joy"}]
    assert [r[LINE] for r in rows] == [2, 3, 4, 5]
    # Two empty texts with two labels are not "the same text with conflicting labels": they are empty texts.
    assert not report.dropped
    assert report.for_validation == [
        "empty or whitespace-only texts in column 'text': 2 rows of 4 (lines 2, 4)",
        "labels outside the configured ['joy', 'anger'] in column 'label': 'not-a-label', 1 row (line 3)"]
