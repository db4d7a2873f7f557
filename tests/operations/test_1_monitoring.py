"""Operating the served model, part 1: monitoring. conftest.py serves version 1 of a sample of the default corpus
with `mlops serve`'s request logging; the steps run in order on that workspace.

Traffic from the training distribution gives no drift; movie-review sentences (SST-2) against this tweet model
give drift, and the report names what moved. Labels for the logged tweets give the live accuracy an offline
computation gives on the same rows, and a new span. The policy is then met (drift, enough new rows): `mlops
monitor` runs a retrain, and version 2 is served with no failed request under load. A second monitor within the
cooldown does not trigger again.
"""
from __future__ import annotations

import csv
import io
import lzma
import math
import threading
import time
from pathlib import Path

import pytest

from pipeline_helpers import run_cli, version_dirs

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _sst2_sentences(count: int):
    text = lzma.decompress((ROOT / "data" / "sst2.csv.xz").read_bytes()).decode()
    return [r["text"] for r in csv.DictReader(io.StringIO(text)) if r["split"] == "test"][:count]


def _send(served, texts, prefix):
    """One request per text, with ids of our own; returns {id: predicted label}."""
    predicted = {}
    for index, text in enumerate(texts):
        [answer] = served["client"].classify_text([text], "sentiment", request_id=f"{prefix}-{index}")
        assert answer.request_id == f"{prefix}-{index}"
        predicted[answer.request_id] = answer.label
    assert served["server"].request_logger.flush()
    return predicted


def _monitor(served, *args):
    return run_cli("monitor", "--config", str(served["config_path"]), "--sample", str(served["sample"]), *args)


def test_traffic_from_the_training_distribution_gives_no_drift(served):
    served["in_domain"] = served["held_out"][:400]
    served["in_domain_predicted"] = _send(served, [t for t, _ in served["in_domain"]], "tweet")
    result = _monitor(served, "--window", "10m")
    assert result.exit_code == 0, result.output
    assert "verdict: NO DRIFT" in result.output
    assert f"version {served['v1']}: 400 requests" in result.output
    config = served["config"]
    [report] = sorted((config.monitoring_dir / "sentiment").glob("monitor-*.json"))
    gauges = (config.monitoring_dir / "sentiment.prom").read_text()
    assert f':mlops:monitor:drift{{model_name="sentiment",version="{served["v1"]}"}} 0' in gauges
    # Every score is kept, those below their threshold included.
    assert 'feature="oov_rate",comparison="skew",measure="JENSEN_SHANNON_DIVERGENCE"' in gauges
    # The model server serves the monitor's gauges with its own metrics.
    assert ":mlops:monitor:text_auc" in served["server"].metrics.prometheus_text()
    # ML Metadata: a monitoring execution whose input is the served version's PushedModel.
    from tfx_pipeline.metadata.lineage import Lineage
    from tfx_pipeline.metadata.store import open_store

    lineage = Lineage(open_store(config))
    [step] = lineage.consumers(lineage.pushed_model(served["v1"]), "mlops.Monitor")
    assert step.outputs["report"][0].uri == str(report)
    assert "no retrain: no reason" in result.output


def test_movie_reviews_against_the_tweet_model_give_drift_and_the_report_names_what_moved(served):
    # Logged times are whole seconds: the window starts at the second the movie reviews started in, which the
    # pause keeps clear of the tweets sent before.
    time.sleep(2.5)
    started = int(time.time())
    _send(served, _sst2_sentences(300), "movie")
    window = f"{math.ceil(time.time()) - started + 1}s"
    result = _monitor(served, "--window", window)
    assert result.exit_code == 0, result.output
    assert "verdict: DRIFT" in result.output
    moved = result.output.split("more frequent now:", 1)[1].split("\n", 1)[0]
    assert any(word in moved for word in ("'film'", "'movie'", "'it s'", "'s'")), result.output
    assert "text: a classifier tells the window's texts from the training texts" in result.output
    served["drift_window"] = window
    # No new labelled rows yet: the policy has its reason but may not act on it.
    assert "no retrain: 0 new labelled rows since the last retrain, fewer than 100" in result.output


def test_labels_for_logged_requests_give_the_live_accuracy_of_an_offline_computation(served, tmp_path):
    labels = {f"tweet-{i}": label for i, (_, label) in enumerate(served["in_domain"])}
    path = tmp_path / "labels.csv"
    path.write_text("request_id,label\n" + "".join(f"{rid},{label}\n" for rid, label in labels.items()))
    result = run_cli("feedback", str(path), "--config", str(served["config_path"]), "--sample", str(served["sample"]))
    assert result.exit_code == 0, result.output
    offline = sum(served["in_domain_predicted"][rid] == label for rid, label in labels.items()) / len(labels)
    assert f"{len(labels)} labelled requests (0 rows matched no logged request): live accuracy {offline:.4f}" \
        in result.output
    assert "span 2 written" in result.output


class Traffic:
    """Requests in a loop from a thread; records the version that answered or the error."""

    def __init__(self, client):
        self.client, self.answers, self.failures = client, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.answers.append(self.client.classify_text(["the crew was lovely"], "sentiment")[0].model_version)
            except Exception as exc:  # every failed request is a finding
                self.failures.append(repr(exc))
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=60)


def test_a_met_policy_retrains_and_the_new_version_is_served_without_a_failed_request(served):
    config, client = served["config"], served["client"]
    with Traffic(client) as traffic:
        # The drift window again (its requests are older now: widen it to cover them).
        result = _monitor(served, "--window", "10m", "--wait")
        assert result.exit_code == 0, result.output
        assert "retrain: drift:" in result.output and "retrain: the run ended with exit status 0" in result.output
        versions = [int(v.name) for v in version_dirs(config.push_root)]
        assert len(versions) == 2 and versions[0] == served["v1"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (traffic.answers and traffic.answers[-1] == versions[1]):
            time.sleep(0.2)
        time.sleep(1.0)
    assert traffic.failures == []
    assert traffic.answers[-1] == versions[1] and served["v1"] in traffic.answers
    served["v2"] = versions[1]


def test_within_the_cooldown_a_second_trigger_is_refused_and_every_decision_is_in_the_history(served):
    result = _monitor(served, "--window", "10m")
    assert result.exit_code == 0, result.output
    assert "no retrain: cooldown: the last retrain started" in result.output
    assert len(version_dirs(served["config"].push_root)) == 2
    history = _monitor(served, "--history")
    lines = history.output.strip().splitlines()
    assert len(lines) == 4
    assert "no retrain: no reason" in lines[0] and "no retrain: 0 new labelled rows" in lines[1]
    assert "retrain: drift:" in lines[2] and "[started pid" in lines[2]
    assert "no retrain: cooldown" in lines[3]
