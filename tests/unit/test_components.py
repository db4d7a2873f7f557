"""Code tests for the custom components, on TensorFlow's in-memory file system (ram://) where the pipeline root or
the serving root is remote: the DataGate reads anomalies through fileio, and the atomic Pusher publishes a whole
version, never twice, and nothing unblessed."""
import json
import os
import uuid

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts

from tfx_pipeline.components import atomic_pusher
from tfx_pipeline.components.provenance import Provenance
from tfx_pipeline.components.data_gate import SCHEMA_DIFF_FILE, describe_anomalies


def _ram(name: str) -> str:
    return f"ram://{name}-{uuid.uuid4().hex}"


def _anomalies_artifact(root: str, per_split: dict) -> standard_artifacts.ExampleAnomalies:
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = root
    artifact.split_names = json.dumps(sorted(per_split))
    for split, anomalies in per_split.items():
        folder = f"{root}/Split-{split}"
        fileio.makedirs(folder)
        with fileio.open(f"{folder}/{SCHEMA_DIFF_FILE}", "wb") as f:
            f.write(anomalies.SerializeToString())
    return artifact


def test_the_data_gate_reads_anomalies_from_a_remote_pipeline_root():
    bad = anomalies_pb2.Anomalies()
    info = bad.anomaly_info["label"]
    info.short_description, info.description = "Unexpected string values", "Examples contain values ('sarcastic')."
    artifact = _anomalies_artifact(_ram("anomalies"), {"train": anomalies_pb2.Anomalies(), "eval": bad})
    assert describe_anomalies(artifact) == [
        "split 'eval', feature 'label': Unexpected string values: Examples contain values ('sarcastic')."]
    clean = _anomalies_artifact(_ram("clean"), {"train": anomalies_pb2.Anomalies()})
    assert describe_anomalies(clean) == []


class _Scorer(tf.Module):
    def __init__(self, bias: float):
        super().__init__()
        self.bias = tf.Variable(bias)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        return {"scores": tf.fill([tf.shape(text)[0], 1], self.bias)}


def _model_artifact(tmp_path, bias: float) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / f"model-{bias}")
    scorer = _Scorer(bias)
    tf.saved_model.save(scorer, os.path.join(model.uri, "Format-Serving"), signatures={"serving_default": scorer.serve})
    return model


def _blessing(blessed: bool) -> standard_artifacts.ModelBlessing:
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("blessed", int(blessed))
    return blessing


def _provenance(tmp_path) -> Provenance:
    artifact = Provenance()
    artifact.uri = str(tmp_path / "provenance")
    os.makedirs(artifact.uri, exist_ok=True)
    with open(os.path.join(artifact.uri, "provenance.json"), "w") as handle:
        json.dump({"code": {"git_commit": "abc123", "dirty": False}, "config_sha256": "c0ffee", "lock_sha256": "10ck",
                   "spans": [{"span": 1, "sha256": "5pan1"}]}, handle)
    return artifact


def _push(model, blessed: bool, base: str, warmup_pattern: str, provenance=None) -> standard_artifacts.PushedModel:
    pushed = standard_artifacts.PushedModel()
    pushed.uri = _ram("pushed_model")
    exec_properties = {
        "push_destination": json.dumps({"filesystem": {"base_directory": base}}),
        "custom_config": json.dumps({"model_name": "m", "signature": "serving_default", "input_key": "text",
                                     "warmup_texts_pattern": warmup_pattern, "text_column": "text",
                                     "warmup_count": 2}),
    }
    inputs = {"model": [model], "model_blessing": [_blessing(blessed)]}
    if provenance is not None:
        inputs["provenance"] = [provenance]
    atomic_pusher.Executor().Do(inputs, {"pushed_model": [pushed]}, exec_properties)
    return pushed


def _roots(tmp_path, kind: str) -> dict:
    root = _ram("serving") if kind == "ram" else str(tmp_path / "serving")
    data = _ram("data")
    fileio.makedirs(f"{data}/span-1/eval")
    with fileio.open(f"{data}/span-1/eval/data.csv", "wb") as f:
        f.write(b"text,label\nfirst real text,a\nsecond real text,b\nthird,a\n")
    return {"base": f"{root}/m", "warmup": f"{data}/span-*/eval/*.csv", "tmp": tmp_path}


@pytest.fixture(params=["ram", "local"])
def remote(tmp_path, request):
    """A serving root on an object store (ram://, as gs://), or a local one."""
    return _roots(tmp_path, request.param)


def _files(folder: str):
    return sorted(os.path.join(d, n)[len(folder) + 1:] for d, _, names in fileio.walk(folder) for n in names)


def test_the_pusher_publishes_a_whole_version_to_a_remote_serving_root(remote):
    model = _model_artifact(remote["tmp"], 1.0)
    pushed = _push(model, True, remote["base"], remote["warmup"], _provenance(remote["tmp"]))
    assert pushed.get_int_custom_property("pushed") == 1
    version = pushed.get_string_custom_property("pushed_version")
    assert atomic_pusher.pushed_versions(remote["base"]) == [int(version)]
    assert fileio.listdir(remote["base"]) == [version]  # no staging folder left behind
    published = f"{remote['base']}/{version}"
    source = os.path.join(model.uri, "Format-Serving")
    assert set(_files(published)) == set(_files(source)) | {"assets.extra/tf_serving_warmup_requests",
                                                             "assets.extra/mlops_model.json"}
    # What made the version, on disk with it and on its PushedModel artifact.
    with fileio.open(f"{published}/assets.extra/mlops_model.json", "rb") as f:
        facts = json.loads(f.read())
    assert (facts["model_name"], facts["version"]) == ("m", int(version))
    assert facts["provenance"]["spans"] == [{"span": 1, "sha256": "5pan1"}]
    assert pushed.get_string_custom_property("config_sha256") == "c0ffee"
    assert pushed.get_string_custom_property("spans") == "1:5pan1"
    assert pushed.get_string_custom_property("git_commit") == "abc123"
    for name in _files(source):
        with fileio.open(f"{published}/{name}", "rb") as a, fileio.open(os.path.join(source, name), "rb") as b:
            assert a.read() == b.read(), name
    from tensorflow_serving.apis import prediction_log_pb2

    with fileio.open(f"{published}/assets.extra/tf_serving_warmup_requests", "rb") as f:
        records = [prediction_log_pb2.PredictionLog.FromString(r) for r in tf.data.TFRecordDataset(
            [f"{published}/assets.extra/tf_serving_warmup_requests"]).as_numpy_iterator()]
        assert f.read()
    assert [r.predict_log.request.inputs["text"].string_val[0] for r in records] == [b"first real text",
                                                                                      b"second real text"]


def test_the_same_model_is_not_pushed_twice_and_an_unblessed_one_not_at_all(remote):
    model = _model_artifact(remote["tmp"], 1.0)
    first = _push(model, True, remote["base"], remote["warmup"])
    version = int(first.get_string_custom_property("pushed_version"))
    again = _push(model, True, remote["base"], remote["warmup"])
    assert again.get_int_custom_property("pushed") == 0
    assert again.get_int_custom_property(atomic_pusher.ALREADY_SERVING_KEY) == version
    unblessed = _push(_model_artifact(remote["tmp"], 2.0), False, remote["base"], remote["warmup"])
    assert unblessed.get_int_custom_property("pushed") == 0
    assert atomic_pusher.pushed_versions(remote["base"]) == [version]
    newer = _push(_model_artifact(remote["tmp"], 3.0), True, remote["base"], remote["warmup"])
    assert atomic_pusher.pushed_versions(remote["base"]) == [version, int(newer.get_string_custom_property(
        "pushed_version"))]


def test_on_an_object_store_the_graph_file_is_written_last(tmp_path, monkeypatch):
    remote = _roots(tmp_path, "ram")
    written = []
    copy = fileio.copy
    monkeypatch.setattr(atomic_pusher.fileio, "copy", lambda src, dst, overwrite=False: (
        dst.startswith(remote["base"]) and written.append(dst.rsplit("/", 1)[-1]), copy(src, dst, overwrite)))
    _push(_model_artifact(remote["tmp"], 1.0), True, remote["base"], remote["warmup"])
    graph = [i for i, name in enumerate(written) if name in atomic_pusher.GRAPH_FILES]
    assert graph and min(graph) == len(written) - len(graph), written


def _note(path, pid):
    import socket

    path.write_text(json.dumps({"host": socket.gethostname(), "pid": pid}))


def test_staging_left_by_dead_pushes_is_removed_and_a_live_push_is_left_alone(tmp_path):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "100").mkdir()
        for version in (1, 2):  # killed mid-copy: a folder and its note
            (tmp_path / f".staging-{version}" / "variables").mkdir(parents=True)
            _note(tmp_path / f".staging-{version}.owner", dead.pid)
        _note(tmp_path / ".staging-3.owner", dead.pid)  # killed before it staged anything
        (tmp_path / ".staging-4").mkdir()  # killed before it wrote its note
        (tmp_path / ".staging-5").mkdir()
        _note(tmp_path / ".staging-5.owner", live.pid)  # a push that still runs
        assert sorted(atomic_pusher.remove_stale_staging(str(tmp_path))) == [".staging-1", ".staging-2",
                                                                               ".staging-4"]
        assert sorted(p.name for p in tmp_path.iterdir()) == [".staging-5", ".staging-5.owner", "100"]
    finally:
        live.kill()


def test_a_published_version_leaves_no_staging_and_no_note(tmp_path):
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    base = tmp_path / "serving"
    atomic_pusher.publish_version(str(model), str(base), 7, extra_files={"assets.extra/facts.json": b"{}"})
    assert sorted(p.name for p in base.iterdir()) == ["7"]
    assert (base / "7" / "assets.extra" / "facts.json").read_bytes() == b"{}"
