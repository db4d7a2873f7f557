"""End-to-end on a sample of the default corpus, through `mlops run` on LocalDagRunner.

The tests are the steps of one scenario on one workspace, in order: a first run (a process of its own, as a
person starts it); an unchanged re-run; a run whose threshold cannot be met; spans of bad data. Each step
asserts what MLMD and the serving folder say, and the serving folder is compared byte for byte wherever nothing
may be pushed.
"""
from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

from net_helpers import free_port
from pipeline_helpers import (FAST_TRAINER, SAMPLE_THRESHOLDS, effective_config, predict_in_process, report,
                              run_cli, run_mlops_process, states, tree_digest, version_dirs)
from tfx_pipeline import features

SAMPLE = 1500
LABELS = {"negative", "neutral", "positive"}
# Resolvers produce no artifacts of their own: MLMD records them as run, never cached.
RESOLVERS = {"latest_blessed_model_resolver"}
# What TensorFlow, absl, Beam and Keras print when nobody stops them (the "several hundred lines").
LIBRARY_NOISE = re.compile(r"WARNING|cuFFT|cuDNN|cuBLAS|absl|tensorflow/|Instructions for updating|"
                           r"Tables initialized|deprecated|oneDNN|TensorRT|Epoch \d+/|apache_beam")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, request):
    from pipeline_configs import write_config

    folder = tmp_path_factory.mktemp("sentiment")
    config_path = write_config(folder / "sentiment.yaml", "sentiment",
                               trainer=FAST_TRAINER, evaluation={"thresholds": SAMPLE_THRESHOLDS})
    first = run_mlops_process("run", "--config", str(config_path), "--sample", str(SAMPLE))
    config = effective_config(config_path, SAMPLE)
    return {"folder": folder, "config_path": config_path, "config": config, "first": first,
            "first_pushed": report(config).pushed_path}


def test_first_run_completes_every_component_and_pushes_a_servable_version(scenario):
    first, config = scenario["first"], scenario["config"]
    assert first.returncode == 0, first.stdout + first.stderr
    run = report(config)
    assert set(states(run).values()) == {"ran"}, states(run)  # every execution COMPLETE in MLMD
    assert run.blessed is True
    assert all(check.ok and check.value is not None for check in run.checks)
    # The CLI ends with the table, the blessing decision and the pushed path.
    assert "blessing: BLESSED" in first.stdout and f"pushed: {run.pushed_path}" in first.stdout

    _assert_evaluation_has_the_promised_metrics_and_slices(run)

    versions = version_dirs(config.push_root)
    assert [str(v) for v in versions] == [run.pushed_path]
    version = versions[0]
    assert (version / "saved_model.pb").is_file() and (version / "variables").is_dir()
    assert not [p for p in config.push_root.iterdir() if not p.name.isdigit()]  # no staging folder left
    # Warmup requests: real texts of the span's eval split, as PredictRequests to the raw-text signature.
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(str(version / "assets.extra" / "tf_serving_warmup_requests"))]
    with open(config.paths.data_root / "span-1" / "eval" / "data.csv", newline="") as f:
        eval_texts = {r[features.TEXT] for r in csv.DictReader(f)}
    assert len(logs) == 5
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "sentiment" and request.model_spec.signature_name == "serving_default"
        assert request.inputs["text"].string_val[0].decode() in eval_texts
    results = predict_in_process(version, ["what a wonderful flight, thank you", "my bag is lost and nobody helps",
                                "the car drives itself"])
    assert [label for label, _ in results] and {label for label, _ in results} <= LABELS
    for label, scores in results:
        assert set(scores) == LABELS and abs(sum(scores.values()) - 1.0) < 1e-4
        assert max(scores, key=scores.get) == label


def test_the_console_shows_progress_and_results_and_the_noise_goes_to_the_run_log(scenario):
    first, config = scenario["first"], scenario["config"]
    console = first.stdout + first.stderr
    assert not LIBRARY_NOISE.search(console), LIBRARY_NOISE.search(console).group(0) + "\n" + console
    assert first.stderr == ""
    # Progress names every component with its state and seconds, and the Trainer's epochs with their metrics.
    for component_id in states(report(config)):
        assert re.search(rf"^  {component_id} +ran +\d+\.\d s$", first.stdout, re.MULTILINE), component_id
    assert re.search(r"^  trainer +epoch 1/12 .*val_loss \d\.\d{4}", first.stdout, re.MULTILINE)
    # The per-run log file holds what the console was spared.
    log = Path(re.search(r"^log: (\S+)$", first.stdout, re.MULTILINE).group(1))
    assert log.parent == config.logs_dir and log.name.startswith("run-")
    text = log.read_text()
    assert "Component transform is running." in text and "Epoch 1/12" in text


def _assert_evaluation_has_the_promised_metrics_and_slices(run):
    import tensorflow_model_analysis as tfma

    evaluation = run.component("evaluator").outputs["evaluation"][0].uri
    by_slice = {}
    for metrics in tfma.load_metrics(evaluation):
        key = tuple((k.column, k.bytes_value.decode()) for k in metrics.slice_key.single_slice_keys)
        by_slice[key] = {(m.key.name, m.key.sub_key.class_id.value if m.key.HasField("sub_key") else None)
                         for m in metrics.metric_keys_and_values}
    overall = by_slice[()]
    assert {("accuracy", None), ("macro_f1", None), ("example_count", None)} <= overall
    assert {(name, c) for name in ("precision", "recall") for c in range(3)} <= overall
    assert {("label", label) for label in LABELS} <= set(k[0] for k in by_slice if k)
    assert any(k and k[0][0] == "length_bucket" for k in by_slice)
    plots = list(tfma.load_plots(evaluation))
    assert any(p.plot_keys_and_values[0].value.HasField("multi_class_confusion_matrix_at_thresholds")
               for p in plots if not p.slice_key.single_slice_keys)


def test_pushed_model_is_served_over_tf_serving_grpc(scenario):
    """The pushed version under the embedded server, asked with the official tensorflow-serving-api stubs:
    Predict on the raw-text signature, Classify on the tf.Example one, and `mlops predict` over gRPC."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_service_pb2_grpc

    from serving.options import ServerOptions
    from serving.server import ModelServer

    config = scenario["config"]
    server = ModelServer(ServerOptions(port=0, rest_api_port=free_port(), model_name="sentiment",
                                       model_base_path=str(config.push_root))).start()
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "sentiment"
        request.inputs["text"].CopyFrom(tf.make_tensor_proto(["great crew", "lost my bag again"]))
        response = stub.Predict(request, timeout=30)
        assert {v.decode() for v in response.outputs["label"].string_val} <= LABELS
        assert len(response.outputs["scores"].float_val) == 2 * len(LABELS)
        assert response.model_spec.signature_name == "serving_default"

        classify = classification_pb2.ClassificationRequest()
        classify.model_spec.name = "sentiment"
        classify.model_spec.signature_name = "serving_tf_example"
        example = classify.input.example_list.examples.add()
        example.features.feature["text"].bytes_list.value.append(b"great crew")
        result = stub.Classify(classify, timeout=30).result.classifications[0]
        assert {c.label for c in result.classes} == LABELS
        assert abs(sum(c.score for c in result.classes) - 1.0) < 1e-4

        printed = run_cli("predict", "--config", str(scenario["config_path"]), "--sample", str(SAMPLE),
                          "--port", str(server.grpc_port), "great crew")
        assert printed.exit_code == 0, printed.output
        label = printed.output.split()[0]
        assert label in LABELS and "great crew" in printed.output
        assert f"(version {version_dirs(config.push_root)[-1].name})" in printed.output
        # A client process imports TensorFlow's protos, not TensorFlow: a call takes well under a second.
        code = ("import sys\nfrom tfx_pipeline.cli import main\ntry:\n    main(sys.argv[1:])\n"
                "except SystemExit as exit:\n    print('EXIT', exit.code)\n"
                "print('TENSORFLOW', 'tensorflow.python' in sys.modules)\n")
        for rest, port in ((False, server.grpc_port), (True, server.rest_port)):
            process = subprocess.run([sys.executable, "-c", code, "predict", "--config", str(scenario["config_path"]),
                                      "--sample", str(SAMPLE), "--port", str(port), *(["--rest"] if rest else []),
                                      "great crew", "lost my bag again"], capture_output=True, text=True, timeout=120)
            lines = process.stdout.splitlines()
            assert lines[-2:] == ["EXIT 0", "TENSORFLOW False"], process.stdout + process.stderr
            assert [line.split()[0] in LABELS for line in lines[:2]] == [True, True]
    finally:
        server.stop()


def test_unchanged_rerun_is_served_from_cache_and_pushes_nothing(scenario):
    config = scenario["config"]
    before = tree_digest(config.paths.serving_root)
    again = run_cli("run", "--config", str(scenario["config_path"]), "--sample", str(SAMPLE))
    assert again.exit_code == 0, again.output
    assert "already ingested, nothing written" in again.output
    run = report(config)
    # Every component with outputs is served from cache: the baseline resolver finds only the candidate
    # itself as blessed, so the Evaluator's inputs equal the first run's and so do the Pusher's.
    assert {c: s for c, s in states(run).items() if c not in RESOLVERS} == \
        {c: "cached" for c in states(run) if c not in RESOLVERS}
    assert run.blessed is True and run.pushed_path == scenario["first_pushed"]
    assert f"pushed: nothing new (served from cache; {run.pushed_path} is unchanged)" in again.output
    assert tree_digest(config.paths.serving_root) == before


def test_impossible_threshold_blesses_nothing_and_leaves_serving_unchanged(scenario):
    from pipeline_configs import write_config

    strict = {"accuracy": {"lower_bound": 1.0, "max_drop": 0.0}, "macro_f1": {"lower_bound": 0.1}}
    # A config file of its own for the same workspace: the scenario's file stays as the other tests expect it.
    config_path = write_config(scenario["folder"] / "strict.yaml", "sentiment",
                               trainer=FAST_TRAINER, evaluation={"thresholds": strict})
    config = effective_config(config_path, SAMPLE)
    before = tree_digest(config.paths.serving_root)
    result = run_cli("run", "--config", str(config_path), "--sample", str(SAMPLE))
    # A scheduler or a CI step tells "not blessed, nothing pushed" from success and from a failed run.
    assert result.exit_code == 3, result.output
    run = report(config)
    assert run.blessed is False
    accuracy = next(c for c in run.checks if c.name == "accuracy")
    assert not accuracy.ok and accuracy.value < 1.0
    assert "blessing: NOT BLESSED" in result.output and "accuracy" in result.output and "FAIL" in result.output
    assert states(run)["trainer"] == "cached" and states(run)["evaluator"] == "ran"
    # The Pusher ran and refused: its row says so rather than "ran".
    assert states(run)["pusher"] == "no push" and re.search(r"^pusher +no push ", result.output, re.MULTILINE)
    assert run.pushed_path is None
    assert "pushed: nothing (the model was not blessed; what is served is unchanged)" in result.output
    assert tree_digest(config.paths.serving_root) == before


def _write_span(config, span: int, header, rows) -> None:
    for split in features.SPLITS:
        folder = config.paths.data_root / f"span-{span}" / split
        folder.mkdir(parents=True)
        with open(folder / "data.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)


def _good_rows(n: int):
    texts = ["great trip", "awful delay", "on time", "lost my bag", "friendly crew", "seat by the window"]
    labels = ["positive", "negative", "neutral", "negative", "positive", "neutral"]
    return [(f"{texts[i % 6]} number {i}", labels[i % 6]) for i in range(n)]


@pytest.mark.parametrize("case", ["unknown_label", "missing_text_column"])
def test_bad_span_stops_at_example_validator_and_pushes_nothing(scenario, case):
    config = scenario["config"]
    before = tree_digest(config.paths.serving_root)
    span = max(int(p.name.split("-")[1]) for p in config.paths.data_root.glob("span-*")) + 1
    rows = _good_rows(60)
    if case == "unknown_label":
        header = [features.TEXT, features.LABEL, features.LENGTH_BUCKET]
        rows = [(t, "sarcastic" if i % 10 == 0 else l, features.length_bucket(t)) for i, (t, l) in enumerate(rows)]
        expected = ["feature 'label'", "sarcastic"]
    else:
        header = [features.LABEL, features.LENGTH_BUCKET]
        rows = [(l, features.length_bucket(t)) for t, l in rows]
        expected = ["feature 'text'", "Column dropped"]
    # Data landing in the data root from elsewhere: no ingestion step cleans it, the validator must stop it.
    _write_span(config, span, header, rows)
    from runners import local_runner
    from tfx_pipeline.components.data_gate import DataValidationError

    with pytest.raises(Exception) as raised:
        local_runner.run(config)
    assert isinstance(raised.value, DataValidationError) or "DataValidationError" in repr(raised.value)
    for text in expected:
        assert text in str(raised.value)
    run = report(config)
    assert states(run)["example_validator"] == "ran" and states(run)["data_gate"] == "failed"
    for downstream in ("transform", "trainer", "evaluator", "pusher"):
        assert states(run)[downstream] == "skipped"
    assert tree_digest(config.paths.serving_root) == before


def test_a_failed_run_names_the_failing_component_and_shows_the_end_of_its_log(scenario):
    """The latest span is the bad one of the test above: `mlops run` stops at the gate and says where to look."""
    config = scenario["config"]
    result = run_cli("run", "--config", str(scenario["config_path"]), "--sample", str(SAMPLE))
    assert result.exit_code == 1, result.output
    assert re.search(r"^  data_gate +failed ", result.output, re.MULTILINE)
    assert "the run stopped at data_gate: DataValidationError: ExampleValidator found anomalies" in result.output
    tail = result.output.split("last lines of the log:\n", 1)[1].split("\nfull log (with the traceback): ", 1)
    assert len(tail[0].splitlines()) >= 5
    log = Path(tail[1].strip())
    assert log.is_file() and log.parent == config.logs_dir
    text = log.read_text()
    assert tail[0].splitlines()[0].strip().endswith("Component data_gate is running.")
    assert all(line.strip() in text for line in tail[0].splitlines() if line.strip() != "...")
    assert "Traceback" in text.split("Component data_gate is running.")[-1]


def test_report_finds_the_run_by_workdir_or_pipeline_root_whatever_the_config_says(scenario):
    """The repository's own config points at work/; the command line moves it to this test's workspace."""
    config = scenario["config"]
    default_config = str(Path(__file__).resolve().parents[2] / "configs" / "sentiment.yaml")
    workdir = config.paths.workdir.parent.parent  # <folder>/work: the sample lives in samples/<N> under it
    by_workdir = run_cli("report", "--config", default_config, "--workdir", str(workdir), "--sample", str(SAMPLE))
    assert by_workdir.exit_code == 0, by_workdir.output
    assert by_workdir.output.startswith(
        f"pipeline run {report(config).run_id} (recorded by TFX's IR launcher in ML Metadata ")
    by_root = run_cli("report", "--config", default_config, "--workdir", str(workdir), "--sample", str(SAMPLE),
                      "--pipeline-root", str(config.pipeline_root))
    assert by_root.output == by_workdir.output
