"""Code tests for configuration loading: every problem is an error that names it."""
from pathlib import Path

import pytest
import yaml

from tfx_pipeline.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["sentiment", "emotion"])
def test_shipped_configs_load(name):
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    assert config.pipeline_name == name
    assert config.source_path().is_file()
    assert config.metadata_path == config.paths.workdir / "pipeline" / "metadata.sqlite"
    assert config.push_root == config.paths.serving_root / name


def test_relative_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    config = load_config(ROOT / "configs" / "emotion.yaml")
    monkeypatch.chdir(tmp_path)
    assert load_config(ROOT / "configs" / "emotion.yaml") == config
    assert config.paths.workdir == (ROOT / "work" / "emotion").resolve()


def test_unknown_key_is_named(config_file):
    path = config_file(trainer={"hyperparameters": {"epochz": 3}})
    with pytest.raises(ConfigError, match=r"trainer\.hyperparameters\.epochz: unknown key"):
        load_config(path)


def test_wrong_type_is_named(config_file):
    path = config_file(trainer={"hyperparameters": {"batch_size": "large"}})
    with pytest.raises(ConfigError, match=r"trainer\.hyperparameters\.batch_size: Input should be a valid integer"):
        load_config(path)


def test_missing_required_key_is_named(config_file):
    path = config_file()
    raw = yaml.safe_load(path.read_text())
    del raw["data"]["label_column"]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"data\.label_column: required key is missing"):
        load_config(path)


def test_missing_source_file_is_named(config_file, tmp_path):
    path = config_file(data={"source": str(tmp_path / "nope.csv")})
    with pytest.raises(ConfigError, match=r"data\.source: file .*nope\.csv does not exist"):
        load_config(path)


def test_missing_schema_file_is_named(config_file, tmp_path):
    path = config_file(schema_file=str(tmp_path / "nope.pbtxt"))
    with pytest.raises(ConfigError, match=r"schema_file .*nope\.pbtxt does not exist"):
        load_config(path)


def test_labels_must_equal_the_schema_domain(config_file):
    path = config_file(labels=["negative", "positive"])
    with pytest.raises(ConfigError, match=r"differ from the label domain \['negative', 'neutral', 'positive'\]"):
        load_config(path)


def test_threshold_out_of_range_is_named(config_file):
    path = config_file(evaluation={"thresholds": {"accuracy": {"lower_bound": 1.5}}})
    with pytest.raises(ConfigError, match=r"evaluation\.thresholds\.accuracy\.lower_bound"):
        load_config(path)


def test_unknown_metric_threshold_is_named(config_file):
    path = config_file(evaluation={"thresholds": {"auc": {"lower_bound": 0.5}}})
    with pytest.raises(ConfigError, match=r"evaluation\.thresholds\.auc"):
        load_config(path)


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("labels: [a, b\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_sample_gets_its_own_workspace():
    config = load_config(ROOT / "configs" / "sentiment.yaml")
    sample = config.with_overrides(sample=500)
    assert sample.paths.workdir == config.paths.workdir / "samples" / "500"
    assert sample.push_root == sample.paths.workdir / "serving" / "sentiment"
    assert sample.pipeline_root == sample.paths.workdir / "pipeline"


def test_a_workdir_override_moves_spans_artifacts_and_logs_but_not_the_serving_root(config_file, tmp_path):
    config = load_config(config_file())
    moved = config.with_overrides(workdir=str(tmp_path / "elsewhere"))
    assert moved.paths.data_root == tmp_path / "elsewhere" / "data"
    assert moved.pipeline_root == tmp_path / "elsewhere" / "pipeline"
    assert moved.metadata_path == tmp_path / "elsewhere" / "pipeline" / "metadata.sqlite"
    assert moved.logs_dir == tmp_path / "elsewhere" / "logs"
    assert moved.paths.serving_root == config.paths.serving_root
    sample = config.with_overrides(workdir="rel/dir", sample=100)
    assert sample.paths.workdir == Path("rel/dir").resolve() / "samples" / "100"
    assert sample.push_root == Path("rel/dir").resolve() / "samples" / "100" / "serving" / "sentiment"


def test_unknown_model_family_and_heads_that_do_not_divide_the_embedding_are_named(config_file):
    with pytest.raises(ConfigError, match=r"trainer\.hyperparameters\.model: Input should be 'cnn', 'bigru' or"):
        load_config(config_file(trainer={"hyperparameters": {"model": "lstm"}}))
    with pytest.raises(ConfigError, match=r"embedding_dim 64 must be a multiple of attention_heads 5"):
        load_config(config_file(trainer={"hyperparameters": {"model": "transformer", "embedding_dim": 64,
                                                             "attention_heads": 5}}))


def test_character_ngram_widths_must_be_positive(config_file):
    with pytest.raises(ConfigError, match=r"transform\.char_ngrams\.widths: .*at least 1"):
        load_config(config_file(transform={"char_ngrams": {"enabled": True, "widths": [0, 3]}}))


def test_a_search_space_names_only_tunable_hyperparameters_with_valid_values(config_file):
    with pytest.raises(ConfigError, match=r"tuner\.search_space: .*'kernel_sizes' cannot be searched"):
        load_config(config_file(tuner={"search_space": {"kernel_sizes": [2, 3]}}))
    with pytest.raises(ConfigError, match=r"tuner\.search_space: .*'dropout': value 1\.5 is not a valid dropout"):
        load_config(config_file(tuner={"search_space": {"dropout": [0.2, 1.5]}}))
    with pytest.raises(ConfigError, match=r"tuner\.search_space: .*'model' has no values"):
        load_config(config_file(tuner={"search_space": {"model": []}}))
    with pytest.raises(ConfigError, match=r"tuner\.time_budget: .*not a duration"):
        load_config(config_file(tuner={"time_budget": "soon"}))


def test_a_sample_run_never_tunes(config_file):
    config = load_config(config_file(tuner={"enabled": True}))
    assert config.tuner.enabled and not config.with_overrides(sample=500).tuner.enabled


def test_mysql_metadata_becomes_tfx_s_mysql_connection_and_a_sample_gets_its_own_database(config_file, monkeypatch):
    from tfx_pipeline.metadata.store import MetadataUnavailable, as_text, connection_config, from_text

    config = load_config(config_file(metadata={"kind": "mysql", "local_server": "mariadb", "user": "mlmd"}))
    connection = connection_config(config)
    assert connection.mysql.socket == str(config.metadata.local_server / "run" / "mysqld.sock")
    assert (connection.mysql.database, connection.mysql.user) == ("mlmd_sentiment", "mlmd")
    assert config.with_overrides(sample=300).metadata_database == "mlmd_sentiment_sample_300"
    assert "MariaDB in" in config.metadata_where

    remote = load_config(config_file(name="remote.yaml", metadata={
        "kind": "mysql", "host": "10.0.0.5", "port": 3307, "database": "mlmd", "password_env": "MLMD_PASSWORD"}))
    monkeypatch.delenv("MLMD_PASSWORD", raising=False)
    with pytest.raises(MetadataUnavailable, match="MLMD_PASSWORD, which is not set"):
        connection_config(remote)
    monkeypatch.setenv("MLMD_PASSWORD", "s3cret")
    connection = connection_config(remote)
    assert (connection.mysql.host, connection.mysql.port, connection.mysql.password) == ("10.0.0.5", 3307, "s3cret")
    # A component parameter never carries the password; the component reads it from the environment.
    text = as_text(connection)
    assert "s3cret" not in text and from_text(text, "MLMD_PASSWORD").mysql.password == "s3cret"
