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
    new_source = _source(tmp_path, [(f"fresh text {i}", ["neutral", "positive"][i % 2]) for i in range(100)])
    second = ingest(config, source=new_source)
    assert second.created and second.span == 2
    # Re-ingesting the first source finds span 1 rather than adding a third copy.
    assert not ingest(config).created
    assert existing_spans(config.paths.data_root) == [1, 2]
    assert not list(config.paths.data_root.glob(".span-*"))


def test_an_unchanged_source_is_not_cleaned_again_and_keeps_its_report(config, monkeypatch):
    """The cached re-run's ingestion: the same bytes and settings find their span by key, without cleaning."""
    from tfx_pipeline.data import ingest as ingest_module

    first = ingest(config, sample=120)
    monkeypatch.setattr(ingest_module, "clean_rows", lambda *a, **k: pytest.fail("an unchanged source was cleaned"))
    again = ingest(config, sample=120)
    assert (again.created, again.span, again.rows_per_split) == (False, first.span, first.rows_per_split)
    assert again.report == first.report and again.lines()[:-1] == first.lines()[:-1]
    assert again.report.dropped["outside the --sample 120"] == 80
    # Another sample, another setting: the key differs, so the file is cleaned again.
    longer = config.model_copy(update={"data": config.data.model_copy(update={"max_text_chars": 999})})
    for changed in (dict(sample=121), dict(config=longer)):
        with pytest.raises(pytest.fail.Exception, match="an unchanged source was cleaned"):
            ingest(**{"config": config, "sample": 120, **changed})


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
    source = _source(tmp_path, [("a", "joy", "train"), ("b", "fear", "holdout"), ("c", "joy", "test"),
                                ("d", "fear", "holdout")], header=("text", "label", "split"))
    with pytest.raises(ValueError, match=r"column 'split' holds 'holdout' at lines 3, 5; expected one of"):
        ingest(load_config(config_file("emotion", data={"source": str(source)})))
    source = _source(tmp_path, [("a", "joy", "train"), ("b", "fear", "train")], header=("text", "label", "split"))
    with pytest.raises(ValueError, match=r"no rows for split\(s\) \['eval', 'test'\] in column 'split'"):
        ingest(load_config(config_file("emotion", data={"source": str(source)})))


def test_missing_column_names_the_file(config, tmp_path):
    bad = _source(tmp_path, [("x",)], header=("mood",))
    with pytest.raises(ValueError, match=r"source\.csv: no column 'body' \(data\.text_column\); its header is "
                                         r"\['mood'\]"):
        ingest(config, source=bad)


def test_sample_is_deterministic(config):
    first = ingest(config, sample=50)
    assert sum(first.rows_per_split.values()) == 50
    assert first.report.dropped["outside the --sample 50"] == 150
    assert not ingest(config, sample=50).created


def test_new_data_keys_are_validated_at_load_naming_the_key(config_file):
    from tfx_pipeline.config import ConfigError

    with pytest.raises(ConfigError, match=r"data\.encoding: .*'latin-9x' is not an encoding Python knows"):
        load_config(config_file(data={"encoding": "latin-9x"}))
    with pytest.raises(ConfigError, match=r"data\.delimiter: .*'\"' cannot separate CSV fields"):
        load_config(config_file(data={"delimiter": '"'}))
    with pytest.raises(ConfigError, match=r"data\.max_repeated_share: "):
        load_config(config_file(data={"max_repeated_share": 1.5}))
    config = load_config(config_file(data={"encoding": "cp1252", "delimiter": ";", "max_text_chars": 500}))
    assert (config.data.encoding, config.data.delimiter, config.data.max_text_chars) == ("cp1252", ";", 500)


def test_the_configured_delimiter_is_used(config_file, tmp_path):
    source = tmp_path / "semicolons.csv"
    source.write_text("body;mood\n" + "".join(f"text, number {i};{['negative', 'neutral', 'positive'][i % 3]}\n"
                                              for i in range(60)))
    config = load_config(config_file(data={"source": str(source), "text_column": "body", "label_column": "mood",
                                           "delimiter": ";"}))
    result = ingest(config)
    assert sum(result.rows_per_split.values()) == 60
    assert "text, number 7" in {r[features.TEXT] for s in features.SPLITS for r in _read(result.path / s / "data.csv")}


def _record_validation(metadata_path, passed_by_span):
    """ML Metadata as the pipeline leaves it, reduced to what ingestion reads: per span, ExampleGen's Examples (the
    span a custom property), StatisticsGen's statistics of them, ExampleValidator's anomalies, and a DataGate
    execution that passed or failed."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    from tfx_pipeline.data.history import GATE_TYPE

    metadata_path.parent.mkdir(parents=True, exist_ok=True)
    connection = mlmd.ConnectionConfig()
    connection.sqlite.filename_uri = str(metadata_path)
    connection.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(connection)
    kinds = {name: store.put_artifact_type(mlmd.ArtifactType(name=name))
             for name in ("Examples", "ExampleStatistics", "ExampleAnomalies")}
    steps = {name: store.put_execution_type(mlmd.ExecutionType(name=name))
             for name in ("StatisticsGen", "ExampleValidator", GATE_TYPE)}

    def artifact(kind, span=None):
        a = mlmd.Artifact(type_id=kinds[kind], uri=f"/nowhere/{kind}/{span}")
        if span is not None:
            a.custom_properties["span"].int_value = span
        return store.put_artifacts([a])[0]

    def execution(step, state, inputs, outputs):
        [run] = store.put_executions([mlmd.Execution(type_id=steps[step], last_known_state=state)])
        events = []
        for kind, ids in ((mlmd.Event.INPUT, inputs), (mlmd.Event.OUTPUT, outputs)):
            for key, artifact_id in ids.items():
                event = mlmd.Event(artifact_id=artifact_id, execution_id=run, type=kind)
                event.path.steps.add().key = key
                events.append(event)
        store.put_events(events)

    for span, passed in passed_by_span.items():
        examples, statistics, anomalies = artifact("Examples", span), artifact("ExampleStatistics"), \
            artifact("ExampleAnomalies")
        execution("StatisticsGen", mlmd.Execution.COMPLETE, {"examples": examples}, {"statistics": statistics})
        execution("ExampleValidator", mlmd.Execution.COMPLETE, {"statistics": statistics}, {"anomalies": anomalies})
        execution(GATE_TYPE, mlmd.Execution.COMPLETE if passed else mlmd.Execution.FAILED,
                  {"anomalies": anomalies, "statistics": statistics}, {})


def test_repeats_count_against_spans_that_passed_validation_only(config_file, tmp_path):
    from tfx_pipeline.data.history import validated_spans
    from tfx_pipeline.data.problems import IngestionError

    labels = ["negative", "neutral", "positive"]
    first = [(f"first text {i}", labels[i % 3]) for i in range(90)]
    rejected = [(f"rejected text {i}", labels[i % 3]) for i in range(90)]
    config = load_config(config_file(data={"source": str(_source(tmp_path, first)), "text_column": "body",
                                           "label_column": "mood"}))
    assert ingest(config).span == 1
    assert ingest(config, source=_source(tmp_path, rejected)).span == 2
    _record_validation(config.metadata_path, {1: True, 2: False})
    validated = validated_spans(config)
    # The statistics a passed gate read, with the span of the Examples they describe: the gate's reference.
    assert sorted(validated) == [1] and validated[1].statistics_uri == "/nowhere/ExampleStatistics/None"

    # Span 2 was rejected, never trained on: its file, fixed, comes in again.
    assert ingest(config, source=_source(tmp_path, rejected[:80] + [("one more", "neutral")])).created
    # Most of span 1 again is refused, naming the share, the span and the first lines.
    with pytest.raises(IngestionError, match=r"source\.csv: 60 of its 70 rows \(86%\) repeat texts of column 'body' "
                                             r"that validated spans already hold \(span 1 60\), more than "
                                             r"data\.max_repeated_share \(50%\): lines 2, 3, 4, 5, 6 and 55 more"):
        ingest(config, source=_source(tmp_path, first[:60] + [(f"new {i}", labels[i % 3]) for i in range(10)]))
    # All of span 1 and more is its next version when a span is the whole training set (data.span_window 1) ...
    grown = first + [(f"new {i}", labels[i % 3]) for i in range(10)]
    result = ingest(config, source=_source(tmp_path, grown))
    assert result.created and "holds every text of span 1, the newest validated span" in " ".join(result.lines())
    # ... but a window trains on span 1 and this file together, where every copy would weigh twice (one row more,
    # or it would be the span just written, and nothing would be added).
    windowed = load_config(config_file(name="windowed.yaml", data={"source": str(tmp_path / "source.csv"),
                                                                   "text_column": "body", "label_column": "mood",
                                                                   "span_window": 2}))
    with pytest.raises(IngestionError, match=r"90 of its 101 rows \(89%\) repeat texts"):
        ingest(windowed, source=_source(tmp_path, grown + [("and another", "neutral")]))
