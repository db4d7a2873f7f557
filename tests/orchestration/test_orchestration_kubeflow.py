"""`mlops compile --target kubeflow`: a Kubeflow Pipelines v2 / Vertex AI job spec for the same pipeline."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from orchestration_helpers import write_config
from tfx_pipeline.cli import mlops
from tfx_pipeline.config import load_config
from tfx_pipeline.pipeline import create_pipeline


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kubeflow")
    config_path = write_config(folder / "config.yaml", "sentiment",
                               beam={"args": ["--runner=DataflowRunner", "--region=europe-west1"]},
                               paths={"workdir": "gs://acme-ml/sentiment", "serving_root": "gs://acme-ml/serving"},
                               evaluation={"thresholds": {"accuracy": {"lower_bound": 0.5}}})
    output = folder / "out" / "spec.json"
    # Exceptions caught: a compiler error fails the test with its message instead of erroring the fixture.
    result = CliRunner().invoke(mlops, ["compile", "--target", "kubeflow", "--config", str(config_path), "--output",
                                        str(output), "--image", "europe-docker.pkg.dev/acme/ml/tfx-text-mlops:1.0"])
    return {"config": load_config(config_path), "result": result, "output": output}


def test_compile_writes_a_job_spec_that_names_every_component(compiled):
    result = compiled["result"]
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    assert f"written to {compiled['output']}" in compiled["result"].output
    spec = json.loads(compiled["output"].read_text())
    pipeline_spec = spec["pipelineSpec"]
    assert pipeline_spec["pipelineInfo"]["name"] == compiled["config"].pipeline_name
    tasks = pipeline_spec["root"]["dag"]["tasks"]
    for component in create_pipeline(compiled["config"]).components:
        # KFP splits a resolver into one task per resolved channel: <id>-<channel>-resolver.
        assert component.id in tasks or any(t.startswith(component.id + "-") for t in tasks), component.id
    assert set(tasks["transform"]["dependentTasks"]) >= {"data_gate"}


def test_the_job_spec_runs_the_given_image_with_the_configured_beam_args(compiled):
    assert compiled["result"].exit_code == 0, repr(compiled["result"].exception)
    spec_text = compiled["output"].read_text()
    executors = json.loads(spec_text)["pipelineSpec"]["deploymentSpec"]["executors"]
    images = {e["container"]["image"] for e in executors.values() if "container" in e}
    assert images == {"europe-docker.pkg.dev/acme/ml/tfx-text-mlops:1.0"}
    assert "--runner=DataflowRunner" in spec_text and "--region=europe-west1" in spec_text


def test_the_job_spec_reads_and_writes_the_bucket_and_the_schema_in_the_image(compiled):
    assert compiled["result"].exit_code == 0, repr(compiled["result"].exception)
    spec = json.loads(compiled["output"].read_text())
    assert spec["runtimeConfig"]["gcsOutputDirectory"] == "gs://acme-ml/sentiment/pipeline"
    text = compiled["output"].read_text()
    assert '"gs://acme-ml/sentiment/data"' in text  # ExampleGen's input_base
    assert "gs://acme-ml/serving/sentiment" in text  # Pusher's destination: TF Serving's model base path
    assert "/pipeline/schema/sentiment/schema.pbtxt" in text  # the Dockerfile's WORKDIR holds the repository
    assert str(compiled["config"].schema_file) not in text


def test_compile_refuses_local_roots_and_names_them(tmp_path):
    config_path = write_config(tmp_path / "config.yaml", "sentiment")
    result = CliRunner().invoke(mlops, ["compile", "--config", str(config_path), "--output", str(tmp_path / "s.json")])
    assert result.exit_code != 0
    assert "must be on a shared file system (gs://, s3://, hdfs://)" in result.output
    assert f"paths.workdir = {tmp_path / 'work'}" in result.output
    assert not (tmp_path / "s.json").exists()
