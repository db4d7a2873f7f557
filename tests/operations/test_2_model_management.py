"""Operating the served model, part 2: model management, on the two versions part 1 left (version 1 on span 1;
version 2 retrained on the feedback span), with the server still running.

What each version is made of and why it was pushed, from ML Metadata and from the facts the version carries;
labels moved under load (8 clients on `stable`: promote, then roll back) with no failed request and every
answer from the version its phase expects; the history of the moves; a deleted version listed as gone.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
import time

import pytest

from pipeline_helpers import run_cli, version_dirs

pytestmark = pytest.mark.e2e


def _models(served, *args):
    return run_cli("models", *args, "--config", str(served["config_path"]), "--sample", str(served["sample"]),
                   *(["--port", str(served["server"].grpc_port)] if args[0] in ("list", "promote", "rollback")
                     else []))


@pytest.fixture(scope="module")
def versions(served):
    found = [int(v.name) for v in version_dirs(served["config"].push_root)]
    assert len(found) == 2, found  # part 1 retrained once
    return found


def test_models_list_has_a_row_per_version_with_its_run_spans_metrics_baseline_and_server_state(served, versions):
    result = _models(served, "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["version"]: row for row in map(json.loads, result.output.splitlines())}
    v1, v2 = versions
    assert sorted(rows) == versions
    for version in versions:
        assert rows[version]["in_metadata"] and rows[version]["run_id"] and rows[version]["pushed_at"]
        assert 0.3 < rows[version]["metrics"]["accuracy"] <= 1.0 and "macro_f1" in rows[version]["metrics"]
    assert [s.split(":")[0] for s in rows[v1]["spans"]] == ["1"]
    assert [s.split(":")[0] for s in rows[v2]["spans"]] == ["2"]
    assert rows[v1]["baseline_version"] is None and rows[v2]["baseline_version"] == v1
    assert rows[v2]["baseline_metrics"]["accuracy"] > 0
    assert rows[v2]["server_state"] == "AVAILABLE"
    table = _models(served, "list")
    assert re.search(rf"^{v2} .* AVAILABLE ", table.output, re.MULTILINE), table.output


def test_models_show_names_the_span_and_config_hashes_and_the_version_agrees_with_ml_metadata(served, versions):
    v2 = versions[1]
    config = served["config"]
    result = _models(served, "show", str(v2))
    assert result.exit_code == 0, result.output
    manifest = json.loads((config.paths.data_root / "span-2" / "_ingest.json").read_text())
    assert f"span 2        content sha256 {manifest['sha256']}" in result.output
    config_sha = hashlib.sha256(served["config_path"].read_bytes()).hexdigest()
    assert f"config        sha256 {config_sha}" in result.output
    for part in ("trainer       hyperparameters", "transform     graph", "examples      span 2", "statistics",
                 "evaluation", "code          git ", "lock          sha256"):
        assert part in result.output, part
    assert "assets.extra/mlops_model.json agrees with ML Metadata" in result.output
    facts = json.loads((config.push_root / str(v2) / "assets.extra" / "mlops_model.json").read_text())
    assert facts["provenance"]["spans"][0]["sha256"] == manifest["sha256"]
    assert facts["provenance"]["config_sha256"] == config_sha


def test_models_why_gives_each_metric_against_its_bound_and_the_baseline_and_the_worst_slices(served, versions):
    v1, v2 = versions
    result = _models(served, "why", str(v2))
    assert result.exit_code == 0, result.output
    assert re.search(rf"accuracy +0\.\d{{4}} >= lower bound 0\.3000; baseline \(version {v1}\) 0\.\d{{4}}, "
                     r"change [+-]0\.\d{4} >= -0\.2000 allowed", result.output), result.output
    assert "worst slices by accuracy:" in result.output and "label=" in result.output


class StableTraffic:
    """8 clients asking for label `stable` in a loop: (start time, version) per answer, and the failures."""

    def __init__(self, port: int, clients: int = 8):
        from serving.client import GrpcClient

        self.clients = [GrpcClient("127.0.0.1", port, retries=0, timeout=30.0) for _ in range(clients)]
        self.answers, self.failures, self._lock = [], [], threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(c,), daemon=True) for c in self.clients]

    def _loop(self, client):
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                version = client.classify_text(["the crew was lovely"], "sentiment", label="stable")[0].model_version
                with self._lock:
                    self.answers.append((started, version))
            except Exception as exc:  # every failed request is a finding
                with self._lock:
                    self.failures.append(repr(exc))

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        for client in self.clients:
            client.close()

    def versions_between(self, start: float, end: float) -> set:
        with self._lock:
            return {version for started, version in self.answers if start <= started < end}


def test_promote_then_roll_back_under_load_fails_no_request_and_each_phase_answers_from_its_version(served, versions):
    v1, v2 = versions
    # Labels from nothing: version 1 (unloaded since version 2 took over) is loaded before stable names it.
    for version, label in ((v1, "stable"), (v2, "canary")):
        result = _models(served, "promote", str(version), "--label", label)
        assert result.exit_code == 0, result.output
        assert "step 1" in result.output and f"step 2: {label} -> version {version}" in result.output
    with StableTraffic(served["server"].grpc_port) as traffic:
        time.sleep(2.0)
        promoting = time.monotonic()
        result = _models(served, "promote", str(v2), "--label", "stable")
        assert result.exit_code == 0, result.output
        promoted = time.monotonic()
        time.sleep(2.0)
        rolling_back = time.monotonic()
        back = _models(served, "rollback")
        assert back.exit_code == 0, back.output
        rolled_back = time.monotonic()
        time.sleep(2.0)
        ended = time.monotonic()
    assert traffic.failures == []
    assert traffic.versions_between(0, promoting) == {v1}
    assert traffic.versions_between(promoted, rolling_back) == {v2}
    assert traffic.versions_between(rolled_back, ended) == {v1}
    assert f"stable: {v2} -> {v1}" in back.output
    printed = run_cli("predict", "--config", str(served["config_path"]), "--sample", str(served["sample"]),
                      "--port", str(served["server"].grpc_port), "--label", "canary", "great crew")
    assert printed.exit_code == 0 and f"(version {v2})" in printed.output, printed.output


def test_models_history_shows_every_label_move(served, versions):
    v1, v2 = versions
    result = _models(served, "history")
    lines = result.output.strip().splitlines()
    assert [line.split()[3:7] for line in lines] == [
        ["stable", "-", "->", str(v1)], ["canary", "-", "->", str(v2)], ["stable", str(v1), "->", str(v2)],
        ["stable", str(v2), "->", str(v1)]]
    assert "rollback" in lines[-1] and "(reload)" in lines[-1] and "models rollback" in lines[-1]


def test_a_deleted_version_folder_is_listed_as_gone_not_as_an_error(served, versions):
    config = served["config"]
    v2 = versions[1]
    shutil.rmtree(config.push_root / str(v2))
    listed = _models(served, "list", "--json")
    assert listed.exit_code == 0, listed.output
    row = next(r for r in map(json.loads, listed.output.splitlines()) if r["version"] == v2)
    assert row["decision"] == "gone: its folder was deleted" and row["in_metadata"]
    shown = _models(served, "show", str(v2))
    assert shown.exit_code == 0 and "gone (its folder" in shown.output and "span 2" in shown.output
