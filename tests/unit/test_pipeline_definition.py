"""Code tests for create_pipeline: ids, wiring, entry points, and the refusal to push without thresholds."""
import hashlib
import json

from tfx_pipeline.config import load_config
from tfx_pipeline.pipeline import create_pipeline

EXPECTED = ["csv_example_gen", "curated_schema_importer", "statistics_gen", "example_validator", "data_gate",
            "transform", "trainer", "latest_blessed_model_resolver", "evaluator", "run_provenance", "pusher"]


def test_every_component_has_a_readable_id_and_depends_on_what_it_should(config_file):
    path = config_file()
    pipeline = create_pipeline(load_config(path))
    ids = [c.id for c in pipeline.components]
    assert sorted(ids) == sorted(EXPECTED)
    by_id = {c.id: c for c in pipeline.components}
    # Transform waits for the data gate, so anomalies stop the run before any model is trained.
    assert "data_gate" in {n.id for n in by_id["transform"].upstream_nodes}
    assert ids.index("data_gate") < ids.index("transform") < ids.index("trainer") < ids.index("evaluator")
    assert {"trainer", "latest_blessed_model_resolver"} <= {n.id for n in by_id["evaluator"].upstream_nodes}
    assert {"trainer", "evaluator", "run_provenance"} <= {n.id for n in by_id["pusher"].upstream_nodes}
    # What the pushed model is made of: the data that passed validation, the run's code, config and lock.
    assert {n.id for n in by_id["run_provenance"].upstream_nodes} == {"csv_example_gen", "data_gate"}
    facts = json.loads(by_id["run_provenance"].exec_properties["facts"])
    assert facts["config_file"] == str(path.resolve())
    assert facts["config_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert set(facts["code"]) == {"git_commit", "dirty"} and len(facts["lock_sha256"]) == 16
    assert pipeline.enable_cache
    assert pipeline.metadata_connection_config.sqlite.filename_uri.endswith("pipeline/metadata.sqlite")


def test_model_code_is_named_by_entry_point(config_file):
    by_id = {c.id: c for c in create_pipeline(load_config(config_file())).components}
    assert by_id["transform"].exec_properties["preprocessing_fn"] == "trainer.preprocessing.preprocessing_fn"
    assert by_id["trainer"].exec_properties["run_fn"] == "trainer.run.run_fn"
    assert by_id["transform"].exec_properties.get("module_file") is None


def test_no_threshold_means_no_pusher(config_file):
    config = load_config(config_file(evaluation={"thresholds": {}}))
    assert not {"pusher", "run_provenance"} & {c.id for c in create_pipeline(config).components}
