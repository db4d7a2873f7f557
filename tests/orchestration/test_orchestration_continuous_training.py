"""Continuous training on spans, on LocalDagRunner, with the project's model server polling the push folder.

One scenario on one workspace, in order: span 1 gives version 1; span 2 (good data) gives version 2, which
the running server picks up while answering requests without one failure; span 3 (unknown labels, empty
texts) stops at the DataGate and version 2 stays served; span 4, whose training labels were scrambled by a
broken labelling job (its test split is real), trains a genuinely worse model that is not blessed, and
version 2 stays served. Every span comes in through `mlops ingest`. Last, a window of 3 spans
(data.span_window) trains on spans 4, 2 and 1: the rejected span 3 is not in it.
"""
from __future__ import annotations

import threading
import time

import pytest

from orchestration_helpers import (CT_THRESHOLDS, available_versions, corpus_rows, scrambled_training_labels,
                                   start_model_server, with_splits, write_config, write_source)
from pipeline_helpers import FAST_TRAINER, report, run_cli, states, tree_digest, version_dirs
from tfx_pipeline.config import load_config

pytestmark = pytest.mark.e2e

SPAN_ROWS = 900
PROBE = ["the crew was lovely and the flight left on time"]


class Traffic:
    """Requests in a loop from a thread; records the version that answered or the error."""

    def __init__(self, client, model_name: str):
        self.client, self.model_name = client, model_name
        self.answers, self.failures = [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            try:
                prediction = self.client.classify_text(PROBE, self.model_name, input_key="text")[0]
                self.answers.append(prediction.model_version)
            except Exception as exc:  # every failed request is a finding, whatever its kind
                self.failures.append(repr(exc))
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=60)


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout:.0f} s")


def _run(config):
    from runners import local_runner

    local_runner.run(config)
    return report(config)


def _ingest(scenario, name: str, rows) -> int:
    source = write_source(scenario["folder"] / f"{name}.csv", rows)
    result = run_cli("ingest", str(source), "--config", str(scenario["config_path"]))
    assert result.exit_code == 0, result.output
    return int(result.output.split("span ")[-1].split()[0])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    folder = tmp_path_factory.mktemp("continuous")
    config_path = write_config(folder / "config.yaml", "sentiment", data={"split_column": "split"},
                               trainer=FAST_TRAINER, evaluation={"thresholds": CT_THRESHOLDS})
    rows = corpus_rows()
    # Disjoint slices of the corpus; span 3 is a third of the size (it never reaches training).
    sizes = [SPAN_ROWS, SPAN_ROWS, SPAN_ROWS // 3, SPAN_ROWS]
    starts = [sum(sizes[:i]) for i in range(4)]
    chunks = [with_splits(rows[start:start + size]) for start, size in zip(starts, sizes)]
    state = {"folder": folder, "config_path": config_path, "config": load_config(config_path), "chunks": chunks}
    yield state
    if "server" in state:
        state["client"].close()
        state["server"].stop(grace=0)


def test_span_1_trains_and_pushes_version_1(scenario):
    config = scenario["config"]
    assert _ingest(scenario, "span1", scenario["chunks"][0]) == 1
    run = _run(config)
    assert set(states(run).values()) == {"ran"}, states(run)
    assert run.blessed is True
    assert [v.name for v in version_dirs(config.push_root)] == [str(run.pushed_version)]
    scenario["server"], scenario["client"] = start_model_server(config.serving.model_name, config.push_root)
    assert _wait_for(lambda: available_versions(scenario["client"], config.serving.model_name),
                     60, "version 1 not served") == [run.pushed_version]
    scenario["v1"] = run.pushed_version


def test_span_2_pushes_version_2_and_the_server_swaps_to_it_without_a_failed_request(scenario):
    config, client, name = scenario["config"], scenario["client"], scenario["config"].serving.model_name
    assert _ingest(scenario, "span2", scenario["chunks"][1]) == 2
    with Traffic(client, name) as traffic:
        run = _run(config)
        assert run.blessed is True, run.table()
        v2 = run.pushed_version
        assert v2 is not None and v2 > scenario["v1"]
        assert _wait_for(lambda: available_versions(client, name) == [v2], 120, "version 2 not served alone")
        _wait_for(lambda: traffic.answers and traffic.answers[-1] == v2, 30, "no answer from version 2")
        time.sleep(1.0)
    assert traffic.failures == []
    assert {scenario["v1"], v2} <= set(traffic.answers)
    # Versions only move forward: once version 2 answered, version 1 never answered again.
    first_v2 = traffic.answers.index(v2)
    assert set(traffic.answers[first_v2:]) == {v2}
    scenario["v2"] = v2


def test_an_unchanged_rerun_after_two_blessed_models_keeps_its_baseline_and_is_served_from_cache(scenario):
    """The baseline of version 2's model was version 1's; a re-run must resolve the same one, not none."""
    config = scenario["config"]
    before = tree_digest(config.paths.serving_root)
    run = _run(config)
    assert {c: s for c, s in states(run).items() if "resolver" not in c} == \
        {c: "cached" for c in states(run) if "resolver" not in c}, states(run)
    assert run.blessed is True and all(check.baseline is not None for check in run.checks), run.table()
    assert tree_digest(config.paths.serving_root) == before


def test_span_3_with_corrupted_data_stops_at_the_data_gate_and_version_2_stays_served(scenario):
    from tfx_pipeline.components.data_gate import DataValidationError

    config, client, name = scenario["config"], scenario["client"], scenario["config"].serving.model_name
    rows = scenario["chunks"][2]
    # Ingestion keeps one copy of a text per split, so the empty texts share a label to survive it.
    corrupted = [("", "negative", split) if i % 7 == 3 else (text, "sarcastic" if i % 10 == 0 else label, split)
                 for i, (text, label, split) in enumerate(rows)]
    before = tree_digest(config.paths.serving_root)
    assert _ingest(scenario, "span3", corrupted) == 3
    with pytest.raises(Exception) as raised:
        _run(config)
    assert isinstance(raised.value, DataValidationError) or "DataValidationError" in repr(raised.value)
    assert "feature 'label'" in str(raised.value) and "sarcastic" in str(raised.value)
    assert "feature 'text'" in str(raised.value)
    run = report(config)
    assert states(run)["example_validator"] == "ran" and states(run)["data_gate"] == "failed"
    assert all(states(run)[c] == "skipped" for c in ("transform", "trainer", "evaluator", "pusher"))
    assert tree_digest(config.paths.serving_root) == before
    assert available_versions(client, name) == [scenario["v2"]]
    assert client.classify_text(PROBE, name, input_key="text")[0].model_version == scenario["v2"]


def test_span_4_with_scrambled_training_labels_is_not_blessed_and_version_2_stays_served(scenario):
    config, client, name = scenario["config"], scenario["client"], scenario["config"].serving.model_name
    before = tree_digest(config.paths.serving_root)
    assert _ingest(scenario, "span4", scrambled_training_labels(scenario["chunks"][3])) == 4
    run = _run(config)
    assert states(run)["trainer"] == "ran" and states(run)["evaluator"] == "ran"
    assert run.blessed is False, run.table()
    # Worse than the baseline (version 2) by more than max_drop, on the span's real test labels.
    failed = [c for c in run.checks if not c.ok]
    assert failed and all(c.baseline is not None for c in failed)
    assert any(c.value < c.baseline - c.max_drop for c in failed), run.table()
    assert run.pushed_path is None
    assert [int(v.name) for v in version_dirs(config.push_root)] == [scenario["v1"], scenario["v2"]]
    assert tree_digest(config.paths.serving_root) == before
    assert available_versions(client, name) == [scenario["v2"]]
    assert client.classify_text(PROBE, name, input_key="text")[0].model_version == scenario["v2"]


def _transform_input_spans(config):
    from ml_metadata.proto import metadata_store_pb2

    from tfx_pipeline.metadata.store import open_store

    store = open_store(config)
    transform = max(store.get_executions_by_type("tfx.components.transform.component.Transform"), key=lambda e: e.id)
    events = [e for e in store.get_events_by_execution_ids([transform.id])
              if e.type == metadata_store_pb2.Event.INPUT and e.path.steps[0].key == "examples"]
    return [a.custom_properties["span"].int_value for a in store.get_artifacts_by_id([e.artifact_id for e in events])]


def test_a_window_of_3_spans_trains_on_the_latest_3_that_passed_validation(scenario):
    config_path = write_config(scenario["folder"] / "config.yaml", "sentiment",
                               data={"split_column": "split", "span_window": 3},
                               trainer=FAST_TRAINER, evaluation={"thresholds": CT_THRESHOLDS})
    config = load_config(config_path)
    run = _run(config)
    assert states(run)["data_gate"] == "cached" and states(run)["transform"] == "ran"
    assert states(run)["evaluator"] == "ran"
    # Span 3 was rejected by the DataGate: the window skips it and reaches back to span 1.
    assert sorted(_transform_input_spans(config), reverse=True) == [4, 2, 1]
