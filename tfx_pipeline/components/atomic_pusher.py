"""Pusher that publishes a version whole, never pushes the same model twice, and says what made it.

TFX's own Pusher copies files straight into <base>/<version>, so a polling model server can find a version
folder that is still being written. Here the model is staged in a hidden, non-numeric folder (servers ignore
it), with TF Serving warmup requests (real texts, see warmup_requests.py) written into the staged copy, and then
published: on a local file system by one atomic rename; on an object store (gs://, s3://), where a folder's
rename is a copy object by object, by copying the staged files with saved_model.pb last. A model server loads
a version only once its saved_model.pb is there (TF Serving retries a failed load; the embedded server waits
for the file), so it never loads a version whose variables or assets are still missing.
When the latest pushed version already holds this exact SavedModel (same fingerprint), nothing is written: an
unchanged re-run must not make the server reload.

Each pushed version carries assets.extra/mlops_model.json (model_facts.py): the run's provenance (an input of
this component, from RunProvenance) and its evaluation's metrics (an input too), which also become custom
properties of the PushedModel artifact.

custom_config: {"model_name", "signature", "input_key", "warmup_texts_pattern", "text_column", "warmup_count"}.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import re
import socket
import time
from typing import Any, Dict, List, Optional

from tfx import types
from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.components.base import base_component, executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import io_utils, json_utils, proto_utils

from tfx_pipeline.components import model_facts
from tfx_pipeline.components.provenance import Provenance
from tfx_pipeline.components.warmup_requests import latest_span_texts, write_warmup_requests

FINGERPRINT_FILE = "fingerprint.pb"
MODEL_FACTS = os.path.join("assets.extra", model_facts.FILE)
PROVENANCE_KEY = "provenance"
EVALUATION_KEY = "evaluation"
# A SavedModel version is loadable once one of these is present; on an object store they are written last.
GRAPH_FILES = ("saved_model.pb", "saved_model.pbtxt", FINGERPRINT_FILE)
ALREADY_SERVING_KEY = "already_serving_version"
_VERSION_DIR = re.compile(r"^\d+$")
# Staging folders are hidden and not numeric, so a model server never takes one for a version.
STAGING_PREFIX = ".staging-"
OWNER_SUFFIX = ".owner"  # beside the staging folder: who stages it (copy_dir empties the folder first)
PAUSE_VARIABLE = "MLOPS_FAULT_PAUSE_MID_PUSH_SECONDS"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def pushed_versions(base_directory: str) -> List[int]:
    if not fileio.exists(base_directory):
        return []
    names = [n.rstrip("/") for n in fileio.listdir(base_directory)]
    return sorted(int(n) for n in names if _VERSION_DIR.match(n))


def _fingerprint(model_dir: str) -> Optional[bytes]:
    path = os.path.join(model_dir, FINGERPRINT_FILE)
    return io_utils.read_bytes_file(path) if fileio.exists(path) else None


def _copy_graph_last(source: str, target: str) -> None:
    """Copies the tree `source` to `target`, the SavedModel's graph file(s) after everything else."""
    paths = [os.path.join(folder, name) for folder, _, names in fileio.walk(source) for name in names]
    # Object stores list by key prefix: some list entries are no file of the tree ("assets" + ".extra").
    files = [path[len(source):].lstrip("/") for path in paths if fileio.exists(path) and not fileio.isdir(path)]
    for relative in sorted(files, key=lambda name: name in GRAPH_FILES):
        fileio.makedirs(os.path.dirname(os.path.join(target, relative)))
        fileio.copy(os.path.join(source, relative), os.path.join(target, relative), overwrite=True)


class PushError(RuntimeError):
    """The version could not be written; nothing was published and the served versions are unchanged."""


def _owner() -> bytes:
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode()


def _owner_gone(staging: str) -> bool:
    """True when the push that staged this folder is over: its process died (a kill, a crash) on this host, or
    it left no owner note (killed before writing one)."""
    try:
        owner = json.loads(io_utils.read_bytes_file(staging + OWNER_SUFFIX))
    except Exception:  # noqa: BLE001 - no readable note: the push died while starting
        return True
    if owner.get("host") != socket.gethostname():
        return False  # another machine's push, which may still run
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, KeyError):
        return False
    return int(owner["pid"]) == os.getpid()


def remove_stale_staging(base_directory: str) -> List[str]:
    """Removes the staging folders (and owner notes) left by pushes that died; returns the folders' names."""
    if _URI.match(base_directory) or not fileio.exists(base_directory):
        return []
    names = [n.rstrip("/") for n in fileio.listdir(base_directory) if n.startswith(STAGING_PREFIX)]
    removed = []
    for name in names:
        folder = os.path.join(base_directory, name)
        if not name.endswith(OWNER_SUFFIX) and _owner_gone(folder):
            fileio.rmtree(folder)
            removed.append(name)
    for name in names:  # notes whose folder is gone: removed above, or never staged before the push died
        staging = os.path.join(base_directory, name[:-len(OWNER_SUFFIX)])
        note = staging + OWNER_SUFFIX
        if name.endswith(OWNER_SUFFIX) and not fileio.exists(staging) and fileio.exists(note) and \
                _owner_gone(staging):
            fileio.remove(note)
    return removed


def _pause_for_fault_injection(staging: str) -> None:
    # Crash tests (tests/e2e/test_crash_recovery.py) kill a run in the middle of a push: with this variable
    # set, the push stops half-written, says so in a file, and waits to be killed.
    seconds = float(os.environ.get(PAUSE_VARIABLE) or 0)
    if seconds > 0:
        with fileio.open(os.path.join(staging, ".paused"), "wb") as handle:
            handle.write(b"paused mid-push for a crash test\n")
        time.sleep(seconds)


def _reason(exc: Exception) -> str:
    full = getattr(exc, "errno", None) == errno.ENOSPC or "No space left on device" in str(exc) or \
        type(exc).__name__ == "ResourceExhaustedError"
    return "no space left on the device" if full else f"{type(exc).__name__}: {exc}"


def publish_version(model_path: str, base_directory: str, version: int, warmup: Optional[dict] = None,
                    remote_staging: Optional[str] = None, extra_files: Optional[Dict[str, bytes]] = None) -> str:
    """Copies model_path to <base_directory>/<version> so that a server never loads part of it. On an object
    store the copy is staged in `remote_staging` (the PushedModel artifact's own folder), outside the base path.
    A write that fails (a full disk) removes what it staged and raises PushError: nothing is published."""
    final = os.path.join(base_directory, str(version))
    remote = bool(_URI.match(base_directory))
    staging = remote_staging if remote else os.path.join(base_directory, f"{STAGING_PREFIX}{version}")
    if staging is None:
        raise ValueError(f"{base_directory} is on an object store: a staging folder outside it is needed")
    if fileio.exists(staging) and not remote:
        fileio.rmtree(staging)
    try:
        if not remote:
            fileio.makedirs(base_directory)
            with fileio.open(staging + OWNER_SUFFIX, "wb") as handle:
                handle.write(_owner())
        io_utils.copy_dir(model_path, staging)
        _pause_for_fault_injection(staging)
        if warmup:
            texts = latest_span_texts(warmup["warmup_texts_pattern"], warmup["text_column"], warmup["warmup_count"])
            write_warmup_requests(staging, warmup["model_name"], warmup["signature"], warmup["input_key"], texts)
        for relative, body in (extra_files or {}).items():
            fileio.makedirs(os.path.dirname(os.path.join(staging, relative)))
            with fileio.open(os.path.join(staging, relative), "wb") as handle:
                handle.write(body)
    except Exception as exc:  # noqa: BLE001 - TF's file system raises tf.errors, the local one OSError
        if not remote:
            try:
                if fileio.exists(staging):
                    fileio.rmtree(staging)
                if fileio.exists(staging + OWNER_SUFFIX):
                    fileio.remove(staging + OWNER_SUFFIX)
            except Exception:  # noqa: BLE001 - what is left is removed by the next push (its owner is gone)
                pass
        raise PushError(f"could not write version {version} under {base_directory} ({_reason(exc)}); nothing "
                        "was published and the served versions are unchanged") from exc
    if remote:
        _copy_graph_last(staging, final)
    else:
        fileio.rename(staging, final)
        fileio.remove(staging + OWNER_SUFFIX)
    return final


class Executor(tfx_pusher.Executor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise ValueError("this Pusher only pushes to a filesystem destination (TF Serving's model base path)")
        base = destination.filesystem.base_directory
        fileio.makedirs(base)
        for name in remove_stale_staging(base):
            logging.warning("removed %s/%s, left by a push that died", base, name)

        versions = pushed_versions(base)
        if versions:
            latest = os.path.join(base, str(versions[-1]))
            candidate = _fingerprint(model_path)
            if candidate is not None and candidate == _fingerprint(latest):
                self._MarkNotPushed(model_push)
                model_push.set_int_custom_property(ALREADY_SERVING_KEY, versions[-1])
                return
        # Seconds since the epoch, as TFX and TF Serving users expect, but always above the latest version.
        version = max(int(time.time()), (versions[-1] + 1) if versions else 0)
        custom_config = json_utils.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null")
        facts = model_facts.model_facts((custom_config or {}).get("model_name", ""), version,
                                        input_dict.get(PROVENANCE_KEY, []), input_dict.get(EVALUATION_KEY, []),
                                        getattr(self._context, "pipeline_run_id", None) if self._context else None)
        serving_path = publish_version(model_path, base, version, custom_config, remote_staging=model_push.uri,
                                       extra_files={MODEL_FACTS: json.dumps(facts, indent=1, sort_keys=True).encode()})
        model_facts.set_properties(model_push, facts)
        if not _URI.match(base):  # else the artifact's folder holds the staged copy already
            io_utils.copy_dir(model_path, model_push.uri)  # the artifact holds the pushed model, as TFX's Pusher
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=str(version))


class AtomicPusherSpec(standard_component_specs.PusherSpec):
    INPUTS = {**standard_component_specs.PusherSpec.INPUTS,
              PROVENANCE_KEY: ChannelParameter(type=Provenance, optional=True),
              EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation, optional=True)}


class AtomicPusher(base_component.BaseComponent):
    """TFX's Pusher with this module's executor, and the run's provenance and evaluation as inputs."""

    SPEC_CLASS = AtomicPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel,
                 push_destination: pusher_pb2.PushDestination, custom_config: Dict[str, Any],
                 provenance: Optional[types.BaseChannel] = None, evaluation: Optional[types.BaseChannel] = None):
        super().__init__(spec=AtomicPusherSpec(
            model=model, model_blessing=model_blessing, push_destination=push_destination,
            custom_config=json_utils.dumps(custom_config), provenance=provenance, evaluation=evaluation,
            pushed_model=types.Channel(type=standard_artifacts.PushedModel)))
