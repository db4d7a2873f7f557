"""Crashes and concurrency: `mlops run` is SIGKILLed during Transform, during the Trainer and in the middle of
the Pusher's write, each time on a new span; after each kill a re-run completes and ML Metadata is consistent.
All along, a poller checks that the serving root never holds a version folder that is not a whole model.
While one run is going, a second `mlops run` on the workspace is refused at once, naming the first, and changes
nothing, and `mlops ingest` adds its span safely. A full disk during the push is in test_full_disk_push below.
"""
from __future__ import annotations

import csv
import errno
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline_configs import write_config
from pipeline_helpers import FAST_TRAINER, run_cli, version_dirs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "orchestration"))
from orchestration_helpers import corpus_rows  # noqa: E402

pytestmark = pytest.mark.e2e

ROWS_PER_SPAN = 400
THRESHOLDS = {"accuracy": {"lower_bound": 0.05, "max_drop": 1.0}, "macro_f1": {"lower_bound": 0.01, "max_drop": 1.0}}
MLOPS = [sys.executable, "-c", "from tfx_pipeline.cli import main; main()"]
PAUSE_VARIABLE = "MLOPS_FAULT_PAUSE_MID_PUSH_SECONDS"


def _write_span_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "sentiment"])
        writer.writerows(rows)
    return path


class ServingRootWatch(threading.Thread):
    """Lists the serving root every 10 ms; any numeric folder seen without a whole SavedModel is a finding."""

    def __init__(self, push_root: Path):
        super().__init__(daemon=True)
        self.push_root, self.stop = push_root, threading.Event()
        self.seen, self.incomplete, self.looks = set(), [], 0

    def run(self):
        while not self.stop.is_set():
            if self.push_root.is_dir():
                for folder in self.push_root.iterdir():
                    if folder.name.isdigit() and folder.name not in self.seen:
                        whole = all((folder / part).exists() for part in (
                            "saved_model.pb", "variables/variables.index", "assets.extra/mlops_model.json",
                            "assets.extra/tf_serving_warmup_requests"))
                        if whole:
                            self.seen.add(folder.name)
                        else:
                            self.incomplete.append(folder.name)
            self.looks += 1
            self.stop.wait(0.01)


def _executions(metadata_path: Path):
    from tfx_pipeline.metadata.store import open_sqlite

    if not metadata_path.is_file():
        return []
    try:
        store = open_sqlite(metadata_path)
        types = {t.id: t.name for t in store.get_execution_types()}
        return [(types.get(e.type_id, ""), e) for e in store.get_executions()]
    except Exception:  # noqa: BLE001 - the writer may be creating the store
        return []


def _running(metadata_path: Path, type_suffix: str):
    from ml_metadata.proto import metadata_store_pb2 as pb

    return [e for name, e in _executions(metadata_path)
            if name.endswith(type_suffix) and e.last_known_state == pb.Execution.RUNNING]


def _start_run(config_path: Path, log: Path, **env) -> subprocess.Popen:
    return subprocess.Popen([*MLOPS, "run", "--config", str(config_path), "--no-html"], stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **env})


def _wait_for(condition, process: subprocess.Popen, log: Path, timeout: float = 300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        assert process.poll() is None, f"the run ended before the kill point:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)
    pytest.fail(f"the kill point was not reached in {timeout} s:\n{log.read_text()[-3000:]}")


def _kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


@pytest.fixture(scope="module")
def crashes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crashes")
    rows = corpus_rows()
    spans = [rows[i * ROWS_PER_SPAN:(i + 1) * ROWS_PER_SPAN] for i in range(4)]
    source = _write_span_csv(folder / "span-1.csv", spans[0])
    config_path = write_config(folder / "config.yaml", "sentiment", trainer=FAST_TRAINER,
                               evaluation={"thresholds": THRESHOLDS},
                               data={"source": str(source), "split_column": None})
    from tfx_pipeline.config import load_config

    config = load_config(config_path)
    metadata = Path(config.metadata_path)
    watch = ServingRootWatch(Path(config.push_root))
    watch.start()
    record = {"config": config, "config_path": config_path, "watch": watch, "cycles": [], "folder": folder}

    def cycle(name, kill_point, new_span=None, env=None, during=None):
        if new_span is not None:
            added = run_cli("ingest", "--config", str(config_path), str(_write_span_csv(folder / f"{name}.csv",
                                                                                       new_span)))
            assert added.exit_code == 0, added.output
        log = folder / f"{name}-killed.log"
        process = _start_run(config_path, log, **(env or {}))
        _wait_for(lambda: kill_point(metadata), process, log)
        extra = during(process) if during else None
        _kill(process)
        # The re-run in this process: the killed ones needed a process of their own, this one only has to finish.
        result = run_cli("run", "--config", str(config_path), "--no-html")
        rerun = subprocess.CompletedProcess(["mlops", "run"], result.exit_code, result.output, "")
        record["cycles"].append({"name": name, "killed_log": log.read_text(), "rerun": rerun, "during": extra,
                                 "versions": [p.name for p in version_dirs(Path(config.push_root))]})

    def in_transform(path):
        # Transform's execution is registered, and its executor has begun writing the transform graph.
        return _running(path, ".Transform") and list(Path(config.pipeline_root).glob("transform/*/*/*"))

    def in_training(path):
        running = _running(path, ".Trainer")
        return running and list(Path(config.pipeline_root).glob("trainer/model_run/*/**/events.out.tfevents*"))

    def mid_push(path):
        return list(Path(config.push_root).glob(".staging-*/.paused"))

    def concurrent_use(process):
        before = sorted(p.name for p in Path(config.paths.data_root).iterdir())
        second = subprocess.run([*MLOPS, "run", "--config", str(config_path), "--no-html"], capture_output=True,
                                text=True, timeout=120)
        unchanged = sorted(p.name for p in Path(config.paths.data_root).iterdir()) == before
        ingested = run_cli("ingest", "--config", str(config_path),
                           str(_write_span_csv(folder / "during.csv", spans[3])))
        return {"second": second, "data_unchanged": unchanged, "ingest": ingested, "pid": process.pid}

    cycle("transform", in_transform)
    cycle("trainer", in_training, new_span=spans[1])
    # Paused mid-push, the run holds the workspace for as long as the checks of concurrent use take.
    cycle("pusher", mid_push, new_span=spans[2], env={PAUSE_VARIABLE: "600"}, during=concurrent_use)
    watch.stop.set()
    watch.join(5)
    yield record


def test_after_each_kill_a_rerun_completes_and_pushes(crashes):
    versions = []
    for cycle in crashes["cycles"]:
        assert cycle["rerun"].returncode == 0, f"{cycle['name']}:\n{cycle['rerun'].stdout[-3000:]}"
        assert "pushed:" in cycle["rerun"].stdout and "pushed: nothing" not in cycle["rerun"].stdout
        versions.append(cycle["versions"])
    assert [len(v) for v in versions] == [1, 2, 3]


def test_the_rerun_closes_what_the_killed_run_left_running(crashes):
    from ml_metadata.proto import metadata_store_pb2 as pb

    from tfx_pipeline.metadata.orphans import CLOSED_BY

    for cycle in crashes["cycles"]:
        assert "that a killed run left running" in cycle["rerun"].stdout, cycle["name"]
    executions = _executions(Path(crashes["config"].metadata_path))
    assert not [n for n, e in executions if e.last_known_state == pb.Execution.RUNNING]
    canceled = [n.rsplit(".", 1)[-1] for n, e in executions if e.last_known_state == pb.Execution.CANCELED]
    assert {"Transform", "Trainer", "AtomicPusher"} <= set(canceled), canceled
    assert all(CLOSED_BY in e.custom_properties for _, e in executions
               if e.last_known_state == pb.Execution.CANCELED)


def test_no_completed_execution_consumed_what_a_killed_one_left(crashes):
    from ml_metadata.proto import metadata_store_pb2 as pb

    from tfx_pipeline.metadata.store import open_store

    store = open_store(crashes["config"])
    complete = [e.id for e in store.get_executions()
                if e.last_known_state in (pb.Execution.COMPLETE, pb.Execution.CACHED)]
    inputs = {ev.artifact_id for ev in store.get_events_by_execution_ids(complete) if ev.type == pb.Event.INPUT}
    states = {a.id: a.state for a in store.get_artifacts_by_id(sorted(inputs))}
    assert all(state == pb.Artifact.LIVE for state in states.values()), states
    for artifact in store.get_artifacts_by_id(sorted(inputs)):
        assert Path(artifact.uri).exists(), artifact.uri


def test_the_serving_root_never_held_a_partial_version_and_every_version_loads(crashes):
    from serving.servable import Servable

    watch = crashes["watch"]
    assert watch.looks > 1000  # it watched all through the kills
    assert watch.incomplete == []
    push_root = Path(crashes["config"].push_root)
    assert sorted(watch.seen) == [p.name for p in version_dirs(push_root)]
    for version in version_dirs(push_root):
        loaded = Servable.load("sentiment", int(version.name), str(version))
        assert "serving_default" in loaded.signature_defs


def test_staging_left_by_the_push_that_was_killed_is_cleaned(crashes):
    push_root = Path(crashes["config"].push_root)
    assert [p.name for p in push_root.iterdir() if not p.name.isdigit()] == []
    assert "left by a push that died" in (crashes["cycles"][-1]["rerun"].stdout +
                                          "".join(p.read_text() for p in
                                                  Path(crashes["config"].logs_dir).glob("*.log")))


def test_a_second_run_on_a_busy_workspace_is_refused_at_once_naming_the_first(crashes):
    during = crashes["cycles"][2]["during"]
    second = during["second"]
    assert second.returncode != 0
    assert f"pid {during['pid']}" in second.stderr + second.stdout
    assert "is busy" in second.stderr + second.stdout
    assert during["data_unchanged"]


def test_ingest_during_a_run_adds_its_span_safely(crashes):
    during = crashes["cycles"][2]["during"]
    assert during["ingest"].exit_code == 0, during["ingest"].output
    data_root = Path(crashes["config"].paths.data_root)
    spans = sorted(int(p.name.split("-")[1]) for p in data_root.iterdir() if p.name.startswith("span-"))
    assert spans == [1, 2, 3, 4]
    assert not [p for p in data_root.iterdir() if not p.name.startswith("span-")]  # no half-written span


def _disk_full(kind: str, target: str) -> Exception:
    if kind == "tf":  # what TF's file system (TFX's fileio on a local path) raises on ENOSPC
        import tensorflow as tf

        return tf.errors.ResourceExhaustedError(None, None, f"{target}; No space left on device")
    return OSError(errno.ENOSPC, "No space left on device", target)


@pytest.mark.parametrize("kind", ["tf", "os"])
def test_full_disk_during_the_push_publishes_nothing_and_says_so(tmp_path, monkeypatch, kind):
    from tfx_pipeline.components import atomic_pusher

    base = tmp_path / "serving" / "sentiment"
    served = base / "100"
    (served / "variables").mkdir(parents=True)
    (served / "saved_model.pb").write_bytes(b"served")
    (served / "variables" / "variables.index").write_bytes(b"index")
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"candidate")
    (model / "variables" / "variables.data-00000-of-00001").write_bytes(b"x" * 1000)
    copy = atomic_pusher.fileio.copy
    copied = []

    def copy_until_full(source, target, overwrite=False):
        if copied:  # the second file finds the disk full
            raise _disk_full(kind, target)
        copied.append(target)
        return copy(source, target, overwrite)

    monkeypatch.setattr(atomic_pusher.fileio, "copy", copy_until_full)
    before = {p: p.read_bytes() for p in served.rglob("*") if p.is_file()}
    with pytest.raises(atomic_pusher.PushError) as info:
        atomic_pusher.publish_version(str(model), str(base), 200)
    assert str(info.value) == (f"could not write version 200 under {base} (no space left on the device); "
                               "nothing was published and the served versions are unchanged")
    assert sorted(p.name for p in base.iterdir()) == ["100"]  # no version 200, no staging, no owner note
    assert {p: p.read_bytes() for p in served.rglob("*") if p.is_file()} == before
