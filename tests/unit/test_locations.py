"""Code tests for remote locations: gs:// (s3://, hdfs://) paths in a config, what they reach, and the clear
errors of the commands that work on local files only.

Remote I/O runs on TensorFlow's in-memory file system (ram://), reached through the same tfx.dsl.io.fileio
calls as gs://; the tests admit its scheme for the duration."""
import json
import uuid
from pathlib import Path

import pytest

from tfx_pipeline import features, locations
from tfx_pipeline.config import ConfigError, load_config
from tfx_pipeline.data.ingest import ingest
from tfx_pipeline.data.spans import existing_spans
from tfx_pipeline.locations import RemoteUri, parse_location


def test_a_uri_stays_a_uri_and_joins_like_a_path():
    uri = parse_location("gs://bucket/mlops/")
    assert isinstance(uri, RemoteUri) and uri / "data" / "span-1" == "gs://bucket/mlops/data/span-1"
    assert (uri / "data").name == "data"
    assert parse_location("work/x") == Path("work/x")


def test_an_unsupported_scheme_is_named(config_file):
    with pytest.raises(ConfigError, match=r"paths\.workdir: .*unsupported scheme 'ftp://'.*gs://, s3://, hdfs://"):
        load_config(config_file(paths={"workdir": "ftp://host/x", "serving_root": "gs://b/serving"}))


def test_remote_roots_in_a_config(config_file):
    config = load_config(config_file(paths={"workdir": "gs://b/sentiment", "serving_root": "gs://b/serving"}))
    assert config.paths.data_root == "gs://b/sentiment/data"
    assert config.pipeline_root == "gs://b/sentiment/pipeline"
    assert config.push_root == "gs://b/serving/sentiment"
    # ML Metadata is a local SQLite file: no default beside a remote pipeline root.
    assert config.metadata_path is None
    with pytest.raises(ConfigError, match=r"paths\.pipeline_root is gs://b/sentiment/pipeline: mlops run keeps ML "
                                          r"Metadata in a local SQLite file; set paths\.metadata"):
        config.local_metadata_path("mlops run")


def test_paths_metadata_is_local_and_resolved_against_the_config(config_file):
    path = config_file(paths={"workdir": "gs://b/s", "serving_root": "gs://b/serving", "metadata": "mlmd/m.sqlite"})
    config = load_config(path)
    assert config.metadata_path == path.parent / "mlmd" / "m.sqlite"
    assert config.with_overrides(sample=50).metadata_path == path.parent / "mlmd" / "samples" / "50" / "m.sqlite"
    with pytest.raises(ConfigError, match=r"paths\.metadata: .*URI: ML Metadata's SQLite file must be a local path"):
        load_config(config_file(paths={"workdir": "gs://b/s", "serving_root": "gs://b/v", "metadata": "gs://b/m"}))


def test_overrides_take_uris(config_file):
    config = load_config(config_file()).with_overrides(pipeline_root="gs://b/root", serving_root="s3://b/serving")
    assert config.pipeline_root == "gs://b/root" and config.push_root == "s3://b/serving/sentiment"


def test_ingest_writes_spans_to_a_remote_data_root(config_file, tmp_path, monkeypatch):
    from tfx.dsl.io import fileio

    monkeypatch.setattr(locations, "REMOTE_SCHEMES", locations.REMOTE_SCHEMES + ("ram",))
    root = f"ram://{uuid.uuid4().hex}"
    source = tmp_path / "source.csv"
    source.write_text("body,mood\n" + "".join(f"text number {i},{['negative', 'neutral', 'positive'][i % 3]}\n"
                                               for i in range(200)))
    config = load_config(config_file(data={"source": str(source), "text_column": "body", "label_column": "mood"},
                                     paths={"workdir": root, "serving_root": f"{root}/serving"}))
    first = ingest(config)
    assert first.created and first.path == f"{root}/data/span-1"
    for split in features.SPLITS:
        with fileio.open(f"{first.path}/{split}/data.csv", "rb") as f:
            lines = f.read().decode().splitlines()
        assert lines[0] == f"{features.TEXT},{features.LABEL},{features.LENGTH_BUCKET}"
        assert len(lines) - 1 == first.rows_per_split[split]
    with fileio.open(f"{first.path}/_ingest.json", "rb") as f:
        assert json.loads(f.read())["rows_per_split"] == first.rows_per_split
    again = ingest(config)  # the manifest is read back from the remote root: nothing is added twice
    assert not again.created and again.span == 1 and existing_spans(config.paths.data_root) == [1]


def test_create_pipeline_points_every_component_at_the_remote_roots(config_file):
    from tfx_pipeline.pipeline import create_pipeline

    config = load_config(config_file(paths={"workdir": "gs://b/s", "serving_root": "gs://b/serving"},
                                     evaluation={"thresholds": {"accuracy": {"lower_bound": 0.5}}}))
    pipeline = create_pipeline(config)
    components = {c.id: c for c in pipeline.components}
    assert pipeline.pipeline_info.pipeline_root == "gs://b/s/pipeline"
    assert pipeline.metadata_connection_config is None
    assert components["csv_example_gen"].exec_properties["input_base"] == "gs://b/s/data"
    push = json.loads(components["pusher"].exec_properties["push_destination"])
    assert push["filesystem"]["base_directory"] == "gs://b/serving/sentiment"
    custom = json.loads(components["pusher"].exec_properties["custom_config"])
    assert custom["warmup_texts_pattern"] == "gs://b/s/data/span-*/eval/*.csv"


def test_local_only_commands_refuse_a_remote_root(config_file):
    from runners import local_runner
    from tfx_pipeline.data.schema_proposal import propose_schema

    config = load_config(config_file(paths={"workdir": "gs://b/s", "serving_root": "gs://b/serving"}))
    with pytest.raises(ConfigError, match="LocalDagRunner keeps ML Metadata in a local SQLite file"):
        local_runner.run(config)
    with pytest.raises(ValueError, match="paths.pipeline_root is gs://b/s/pipeline: mlops schema propose works on a "
                                         "local path only"):
        propose_schema(config)
