"""Code tests for monitoring's parts: decoding logged requests, the window they are read for, feedback files and
live metrics, and the retrain policy's decisions."""
import csv
import json
import time
from pathlib import Path

import pytest
from sklearn.metrics import f1_score
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import prediction_log_pb2

from serving.tfrecord import frame
from tfx_pipeline.config import load_config
from tfx_pipeline.monitoring import feedback, policy, record
from tfx_pipeline.monitoring.logs import decode, read_window

LABELS = ["negative", "neutral", "positive"]


def _predict_log(texts, labels, scores, request_id="r", version=3, timestamp=None, with_label=True):
    record_ = prediction_log_pb2.PredictionLog()
    log = record_.predict_log
    log.request.model_spec.name = "sentiment"
    log.request.inputs["text"].string_val.extend(t.encode() for t in texts)
    log.response.model_spec.name, log.response.model_spec.version.value = "sentiment", version
    log.response.outputs["classes"].string_val.extend(c.encode() for _ in texts for c in LABELS)
    log.response.outputs["scores"].float_val.extend(v for row in scores for v in row)
    if with_label:
        log.response.outputs["label"].string_val.extend(l.encode() for l in labels)
    record_.log_metadata.request_origin = request_id
    record_.log_metadata.timestamp_secs = int(timestamp or time.time())
    record_.log_metadata.model_spec.CopyFrom(log.response.model_spec)
    return record_


def test_a_raw_text_predict_is_decoded_into_texts_labels_and_scores():
    got = decode(_predict_log(["good", "bad"], ["positive", "negative"], [[0.1, 0.2, 0.7], [0.8, 0.1, 0.1]]))
    assert got == [("good", "positive", pytest.approx({"negative": 0.1, "neutral": 0.2, "positive": 0.7})),
                   ("bad", "negative", pytest.approx({"negative": 0.8, "neutral": 0.1, "positive": 0.1}))]
    # Without a label output, the argmax.
    assert decode(_predict_log(["ok"], ["?"], [[0.2, 0.5, 0.3]], with_label=False))[0][1] == "neutral"


def test_tf_example_inputs_and_classify_logs_are_decoded_and_others_are_not_guessed_at():
    example = example_pb2.Example()
    example.features.feature["text"].bytes_list.value.append(b"great crew")
    predict = prediction_log_pb2.PredictionLog()
    predict.predict_log.request.inputs["inputs"].string_val.append(example.SerializeToString())
    predict.predict_log.response.outputs["classes"].string_val.extend(c.encode() for c in LABELS)
    predict.predict_log.response.outputs["scores"].float_val.extend([0.1, 0.1, 0.8])
    assert decode(predict)[0][:2] == ("great crew", "positive")
    classify = prediction_log_pb2.PredictionLog()
    classify.classify_log.request.input.example_list.examples.add().CopyFrom(example)
    classification = classify.classify_log.response.result.classifications.add()
    for label, score in zip(LABELS, (0.6, 0.3, 0.1)):
        entry = classification.classes.add()
        entry.label, entry.score = label, score
    assert decode(classify)[0][:2] == ("great crew", "negative")
    other = prediction_log_pb2.PredictionLog()
    other.predict_log.request.inputs["x"].float_val.append(2.0)
    assert decode(other) == []


def _write(folder, records):
    """The records as the request logger lays them out (their own timestamps kept)."""
    path = folder / "sentiment" / "3" / "requests-20260101T000000Z-1-1.tfrecord"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        for item in records:
            handle.write(frame(item.SerializeToString()))


def test_a_window_holds_the_requests_logged_in_it_oldest_first(tmp_path):
    now = time.time()
    _write(tmp_path, [_predict_log([f"t{i}"], ["neutral"], [[0.2, 0.6, 0.2]], request_id=f"id{i}", timestamp=stamp)
                      for i, stamp in enumerate([now - 7200, now - 30, now - 60])])
    window = read_window(tmp_path, "sentiment", now - 3600, now + 1)
    assert [r.request_id for r in window.requests] == ["id2", "id1"] and window.versions() == {3: 2}
    assert window.requests[0].margin == pytest.approx(0.4) and window.requests[0].top_score == pytest.approx(0.6)
    assert read_window(tmp_path, "another", 0, now + 1).requests == []


def _config(config_file, **retrain):
    policy_settings = {"enabled": True, "min_new_rows": 10, "cooldown": "1h", **retrain}
    return load_config(config_file(monitoring={"retrain": policy_settings}))


def _feedback_report(config, new_rows, created):
    record.write_report(config, "feedback", {"window_end": created, "created": created, "new_rows": new_rows,
                                             "labelled": 40, "accuracy": 0.5, "macro_f1": 0.4, "version": 3})


def test_the_policy_needs_a_reason_new_rows_no_cooldown_and_nothing_in_flight(config_file):
    config = _config(config_file, min_live_accuracy=0.6)
    drift = {"verdict": "drift", "reasons": ["oov_rate: skew 0.2 > 0.1"], "version": 3}
    calm = {"verdict": "no drift", "reasons": [], "version": 3}
    assert policy.decide(config, calm, None, None).summary().startswith("no retrain: no reason")
    blocked = policy.decide(config, drift, None, None)
    assert not blocked.retrain and blocked.blocked_by == [
        "0 new labelled rows since the last retrain, fewer than 10"]
    _feedback_report(config, 25, time.time())
    judged = record.latest_report(config, "feedback")
    go = policy.decide(config, calm, judged, None)
    assert go.retrain and go.reasons == ["live accuracy 0.5000 < 0.6 over 40 labelled requests"]
    assert policy.decide(config, drift, judged, "pid 7 (mlops run)").blocked_by == [
        "a retrain is in flight (pid 7 (mlops run))"]
    policy.record(config, go)
    after = policy.decide(config, drift, judged, None, now=go.time + 60)
    assert not after.retrain and after.blocked_by[0].startswith("cooldown: the last retrain started 1 min ago")
    # Past the cooldown the rows counted before the retrain no longer count.
    later = policy.decide(config, drift, judged, None, now=go.time + 7200)
    assert later.blocked_by == ["0 new labelled rows since the last retrain, fewer than 10"]
    assert [d.retrain for d in policy.history(config)] == [True]


def test_a_disabled_policy_decides_and_records_but_never_retrains(config_file):
    config = load_config(config_file())
    decision = policy.decide(config, {"verdict": "drift", "reasons": ["x"], "version": 1}, None, None)
    assert not decision.retrain and "monitoring.retrain.enabled is false" in decision.blocked_by


def _feedback_file(tmp_path, header, rows):
    path = tmp_path / "labels.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_feedback_file_with_bad_rows_is_refused_naming_them(config_file, tmp_path):
    config = load_config(config_file())
    with pytest.raises(feedback.FeedbackError, match=r"expected the columns request_id,label or text,label; its "
                                                     r"header is \['id', 'mood'\]"):
        feedback.read_feedback(_feedback_file(tmp_path, ["id", "mood"], [["a", "b"]]), config)
    with pytest.raises(feedback.FeedbackError, match=r"2 row\(s\) without a request_id or with a label outside "
                                                     r".*first: line 3: request_id='b', label='sarcastic'; line 4"):
        feedback.read_feedback(_feedback_file(tmp_path, ["request_id", "label"],
                                              [["a", "positive"], ["b", "sarcastic"], ["", "neutral"]]), config)
    assert feedback.read_feedback(_feedback_file(tmp_path, ["text", "label"], [["so good", "positive"]]),
                                  config) == ("text", [("so good", "positive")])


def test_macro_f1_and_the_wilson_interval_are_the_textbook_ones():
    pairs = [("negative", "negative"), ("negative", "positive"), ("neutral", "neutral"), ("positive", "positive"),
             ("positive", "neutral"), ("neutral", "neutral")]
    expected = f1_score([a for a, _ in pairs], [p for _, p in pairs], average="macro", labels=LABELS)
    assert feedback.macro_f1(pairs, LABELS) == pytest.approx(expected)
    low, high = feedback.wilson(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)  # Wilson's 95% interval for 8 of 10


def test_live_metrics_join_by_id_or_by_text_and_match_the_offline_figures(config_file, tmp_path):
    config = load_config(config_file())
    texts = [f"text {i}" for i in range(8)]
    predicted = ["positive", "negative", "neutral", "positive", "neutral", "negative", "positive", "positive"]
    truth = ["positive", "negative", "positive", "positive", "neutral", "neutral", "negative", "positive"]
    _write(Path(config.request_log_root), [_predict_log([t], [p], [[0.2, 0.2, 0.6]], request_id=f"id{i}")
                                     for i, (t, p) in enumerate(zip(texts, predicted))])
    by_id, texts_out = feedback.live_metrics(config, "request_id", [(f"id{i}", t) for i, t in enumerate(truth)] +
                                             [("unknown-id", "positive")], 0, time.time() + 1)
    offline = sum(a == b for a, b in zip(truth, predicted)) / len(truth)
    assert (by_id.labelled, by_id.unmatched, by_id.version) == (8, 1, 3)
    assert by_id.accuracy == pytest.approx(offline)
    assert by_id.macro_f1 == pytest.approx(f1_score(truth, predicted, average="macro", labels=LABELS))
    assert by_id.accuracy_interval[0] < offline < by_id.accuracy_interval[1]
    assert texts_out == list(zip(texts, truth))
    by_text, _ = feedback.live_metrics(config, "text", [(t.upper(), l) for t, l in zip(texts, truth)], 0,
                                       time.time() + 1)
    assert (by_text.labelled, by_text.accuracy) == (8, by_id.accuracy)


def test_a_feedback_span_keeps_the_split_of_texts_it_has_and_hash_splits_new_ones(config_file, tmp_path):
    from tfx_pipeline.data.ingest import hash_split, ingest

    source = _feedback_file(tmp_path, ["text", "sentiment"],
                            [[f"old text {i}", LABELS[i % 3]] for i in range(60)])
    config = load_config(config_file(data={"source": str(source)}))
    first = ingest(config)
    result, rows, new = feedback.add_span(config, [("old text 1", "positive"), ("a brand new text", "negative")])
    assert (result.span, result.created, rows, new) == (2, True, 61, 1)
    span = {}
    for split in ("train", "eval", "test"):
        with open(result.path / split / "data.csv", newline="") as handle:
            span.update({r["text"]: (r["label"], split) for r in csv.DictReader(handle)})
    assert span["old text 1"] == ("positive", hash_split("old text 1"))  # relabelled, its split kept
    assert span["a brand new text"] == ("negative", hash_split("a brand new text"))
    assert first.span == 1 and json.loads((result.path / "_ingest.json").read_text())["rows_per_split"]
