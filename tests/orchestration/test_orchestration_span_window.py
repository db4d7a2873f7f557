"""Code tests for the new configuration keys and for where the span window sits in the pipeline."""
from __future__ import annotations

import pytest

from orchestration_helpers import write_config
from pipeline_helpers import run_cli
from tfx_pipeline.config import ConfigError, load_config
from tfx_pipeline.pipeline import create_pipeline


def test_defaults_read_the_latest_span_and_leave_runs_to_a_trigger(tmp_path):
    config = load_config(write_config(tmp_path / "config.yaml"))
    assert config.data.span_window == 1
    assert config.airflow.schedule is None and config.airflow.catchup is False


@pytest.mark.parametrize("updates, message", [
    ({"data": {"span_window": 0}}, r"data\.span_window: Input should be greater than or equal to 1"),
    ({"airflow": {"shedule": "@daily"}}, r"airflow\.shedule: unknown key"),
    ({"airflow": {"retries": -1}}, r"airflow\.retries: Input should be greater than or equal to 0"),
    ({"airflow": {"start_date": "someday"}}, r"airflow\.start_date: Input should be a valid date"),
])
def test_bad_values_are_errors_that_name_the_key(tmp_path, updates, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(tmp_path / "config.yaml", **updates))


def test_a_window_of_one_span_adds_no_node(tmp_path):
    pipeline = create_pipeline(load_config(write_config(tmp_path / "config.yaml")))
    by_id = {c.id: c for c in pipeline.components}
    assert "span_window_resolver" not in by_id
    assert "csv_example_gen" in {n.id for n in by_id["transform"].upstream_nodes}


def test_a_wider_window_feeds_transform_and_evaluator_after_the_data_gate(tmp_path):
    pipeline = create_pipeline(load_config(write_config(tmp_path / "config.yaml", data={"span_window": 4})))
    ids = [c.id for c in pipeline.components]
    by_id = {c.id: c for c in pipeline.components}
    window = by_id["span_window_resolver"]
    assert ids.index("data_gate") < ids.index("span_window_resolver") < ids.index("transform")
    assert {n.id for n in window.upstream_nodes} == {"data_gate"}
    # TFX keeps a resolver's strategy config under the "source_uri" key.
    assert window.exec_properties["source_uri"] == {"num_spans": 4,
                                                    "gate_type": "tfx_pipeline.components.data_gate.DataGate"}
    for consumer in ("transform", "evaluator"):
        assert "span_window_resolver" in {n.id for n in by_id[consumer].upstream_nodes}, consumer
    # Validation still sees the newest span on its own, straight from ExampleGen.
    assert {n.id for n in by_id["statistics_gen"].upstream_nodes} == {"csv_example_gen"}


def test_kubeflow_compile_refuses_a_wider_window_and_says_why(tmp_path):
    config_path = write_config(tmp_path / "config.yaml", data={"span_window": 2})
    result = run_cli("compile", "--config", str(config_path), "--output", str(tmp_path / "spec.json"))
    assert result.exit_code != 0
    assert "data.span_window is 2" in result.output and "LatestBlessedModelStrategy" in result.output
    assert not (tmp_path / "spec.json").exists()
