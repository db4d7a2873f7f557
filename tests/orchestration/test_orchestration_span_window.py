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


def _published_transformed_examples(tmp_path, make_copies):
    """What TFX's legacy launcher (Airflow) publishes for a Transform given 2 Examples and what the Trainer's
    driver then finds: the launcher's own steps around an executor that makes its copies with make_copies."""
    from tfx.dsl.components.base import base_driver
    from tfx.orchestration import data_types, metadata
    from tfx.types import artifact_utils, channel, standard_artifacts

    pipeline_info = data_types.PipelineInfo(pipeline_name="p", pipeline_root=str(tmp_path), run_id="run-1")
    component_info = data_types.ComponentInfo(component_type="Transform", component_id="transform",
                                              pipeline_info=pipeline_info)
    with metadata.Metadata(metadata.sqlite_metadata_connection_config(str(tmp_path / "mlmd.sqlite"))) as m:
        # base_driver.BaseDriver.pre_execution: register the execution and its one output artifact.
        contexts = m.register_pipeline_contexts_if_not_exists(pipeline_info)
        execution = m.register_execution(pipeline_info=pipeline_info, component_info=component_info,
                                         contexts=contexts)
        outputs = base_driver.BaseDriver(m)._prepare_output_artifacts(  # pylint: disable=protected-access
            {}, {"transformed_examples": channel.Channel(type=standard_artifacts.Examples)}, {}, execution.id,
            pipeline_info, component_info)
        m.update_execution(execution=execution, component_info=component_info, output_artifacts=outputs,
                           contexts=contexts)
        # The executor: one copy per input Examples, each with its splits.
        outputs["transformed_examples"] = make_copies(outputs["transformed_examples"][0], 2)
        for artifact in outputs["transformed_examples"]:
            artifact.split_names = artifact_utils.encode_split_names(["train", "eval"])
        m.publish_execution(component_info=component_info, output_artifacts=outputs)
        found = m.search_artifacts("transformed_examples", pipeline_info, "transform")
    return sorted((a.uri[len(str(tmp_path)):], a.split_names) for a in found)


def test_under_the_legacy_launcher_tfx_transform_copies_leave_the_trainer_an_artifact_without_splits(tmp_path):
    from tfx.types import artifact_utils

    found = _published_transformed_examples(tmp_path, artifact_utils.replicate_artifacts)
    splits = '["train", "eval"]'
    assert found == [("/transform/transformed_examples/1", ""), ("/transform/transformed_examples/1/0", splits),
                     ("/transform/transformed_examples/1/1", splits)]


def test_the_window_transform_executor_publishes_exactly_one_artifact_per_span(tmp_path):
    from tfx_pipeline.components.window_transform import one_per_input

    found = _published_transformed_examples(tmp_path, one_per_input)
    splits = '["train", "eval"]'
    assert found == [("/transform/transformed_examples/1/0", splits), ("/transform/transformed_examples/1/1", splits)]


def test_only_a_wider_window_replaces_tfx_transform_executor(tmp_path):
    from tfx_pipeline.components import window_transform

    narrow = create_pipeline(load_config(write_config(tmp_path / "narrow.yaml")))
    wide = create_pipeline(load_config(write_config(tmp_path / "wide.yaml", data={"span_window": 2})))
    executors = {name: next(c for c in p.components if c.id == "transform").executor_spec.executor_class
                 for name, p in (("narrow", narrow), ("wide", wide))}
    assert executors["wide"] is window_transform.Executor
    assert executors["narrow"] is not window_transform.Executor
