"""Code tests for ingestion into spans: layout, splits, idempotence, errors."""
import csv

import pytest

from tfx_pipeline import features
from tfx_pipeline.config import load_config
from tfx_pipeline.data.ingest import hash_split, ingest
from tfx_pipeline.data.spans import existing_spans


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _source(tmp_path, rows, header=("body", "mood")):
    path = tmp_path / "source.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def config(config_file, tmp_path):
    rows = [(f"text number {i} is here", ["negative", "neutral", "positive"][i % 3]) for i in range(200)]
    source = _source(tmp_path, rows)
    return load_config(config_file(data={"source": str(source), "text_column": "body", "label_column": "mood"}))


def test_span_layout_columns_and_hash_split(config):
    result = ingest(config)
    assert result.created and result.span == 1
    assert sorted(p.name for p in result.path.iterdir()) == ["_ingest.json", "eval", "test", "train"]
    total = 0
    for split in features.SPLITS:
        rows = _read(result.path / split / "data.csv")
        assert list(rows[0]) == [features.TEXT, features.LABEL, features.LENGTH_BUCKET]
        assert all(hash_split(r[features.TEXT]) == split for r in rows)
        assert all(r[features.LENGTH_BUCKET] == features.length_bucket(r[features.TEXT]) for r in rows)
        total += len(rows)
    assert total == 200
    assert 0.7 < result.rows_per_split["train"] / 200 < 0.9


def test_same_content_is_not_ingested_twice_and_new_content_is_the_next_span(config, tmp_path):
    assert ingest(config).span == 1
    again = ingest(config)
    assert not again.created and again.span == 1
    new_source = _source(tmp_path, [(f"fresh text {i}", "neutral") for i in range(100)])
    second = ingest(config, source=new_source)
    assert second.created and second.span == 2
    # Re-ingesting the first source finds span 1 rather than adding a third copy.
    assert not ingest(config).created
    assert existing_spans(config.paths.data_root) == [1, 2]
    assert not list(config.paths.data_root.glob(".span-*"))


def test_copies_of_a_text_land_in_one_split():
    assert hash_split("Great Flight") == hash_split("great   flight") == hash_split(" GREAT FLIGHT ")


def test_published_split_is_kept(config_file, tmp_path):
    source = _source(tmp_path, [("a b", "joy", "train"), ("c d", "fear", "validation"), ("e f", "joy", "test"),
                                ("g h", "joy", "train")], header=("text", "label", "split"))
    config = load_config(config_file("emotion", data={"source": str(source)}))
    result = ingest(config)
    assert result.rows_per_split == {"train": 2, "eval": 1, "test": 1}
    assert [r["text"] for r in _read(result.path / "eval" / "data.csv")] == ["c d"]


def test_unknown_split_value_and_empty_split_are_errors(config_file, tmp_path):
    source = _source(tmp_path, [("a", "joy", "holdout")], header=("text", "label", "split"))
    with pytest.raises(ValueError, match="column 'split' holds 'holdout'"):
        ingest(load_config(config_file("emotion", data={"source": str(source)})))
    source = _source(tmp_path, [("a", "joy", "train")], header=("text", "label", "split"))
    with pytest.raises(ValueError, match=r"no rows for split\(s\) \['eval', 'test'\] in column 'split'"):
        ingest(load_config(config_file("emotion", data={"source": str(source)})))


def test_missing_column_names_the_file(config, tmp_path):
    bad = _source(tmp_path, [("x",)], header=("mood",))
    with pytest.raises(ValueError, match=r"source\.csv: CSV has no column\(s\) \['body'\]"):
        ingest(config, source=bad)


def test_sample_is_deterministic(config):
    first = ingest(config, sample=50)
    assert sum(first.rows_per_split.values()) == 50
    assert first.report.dropped["outside the --sample 50"] == 150
    assert not ingest(config, sample=50).created
