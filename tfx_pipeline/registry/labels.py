"""Version labels (stable, canary) and the model server config that holds them, moved safely.

The config is a text ModelServerConfig at <serving_root>/<model>.config: the model's versions as a `specific`
policy and its `version_labels`. The embedded server and the real tensorflow_model_server read the same file
(`mlops serve` passes it with --model_config_file). A label moves in two steps, so TF Serving's
label-before-load failure (tensorflow/serving #1230, #1608: a label naming a version that is not loaded makes
the whole config fail) cannot happen: first the new version is added to the versions and the server loads it;
once it is AVAILABLE the label moves and versions no label holds any more are dropped. Each step is applied with
HandleReloadConfigRequest when a server answers, and written to the file, which a polling server (or the next
start) reads. Every move is kept in <serving_root>/<model>.labels.jsonl: when, which label, from and to which
version, by which command.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from tfx_pipeline.config import PipelineConfig
from tfx_pipeline.locations import require_local

LABELS = ("stable", "canary")
LOAD_TIMEOUT_SECONDS = 180.0


class LabelError(RuntimeError):
    """A label move that cannot be made; the message says why and nothing was changed."""


@dataclass
class Move:
    time: float
    label: str
    from_version: Optional[int]
    to_version: int
    command: str
    applied: str  # how: "reload" (the server answered), "file" (for a polling server or the next start)
    kind: str = "promote"  # promote | rollback | push (the canary push policy labelling a new version)


def config_file(config: PipelineConfig) -> Path:
    root = require_local(config.paths.serving_root, "paths.serving_root", "version labels")
    return Path(root) / f"{config.serving.model_name}.config"


def history_file(config: PipelineConfig) -> Path:
    return config_file(config).with_suffix(".labels.jsonl")


def history(config: PipelineConfig) -> List[Move]:
    path = history_file(config)
    if not path.is_file():
        return []
    return [Move(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def read_labels(config: PipelineConfig) -> Dict[str, int]:
    """The labels the config file holds ({} when there is none)."""
    path = config_file(config)
    if not path.is_file():
        return {}
    return dict(_model_config(_read(path), config.serving.model_name).version_labels)


def _read(path: Path):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    return text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())


def _model_config(server_config, name: str):
    for model in server_config.model_config_list.config:
        if model.name == name:
            return model
    raise LabelError(f"the model server config has no model {name!r}")


def server_config(config: PipelineConfig, versions: List[int], labels: Dict[str, int]):
    from tensorflow_serving.config import model_server_config_pb2

    built = model_server_config_pb2.ModelServerConfig()
    model = built.model_config_list.config.add()
    model.name = config.serving.model_name
    model.base_path = str(Path(config.push_root).resolve())
    model.model_platform = "tensorflow"
    model.model_version_policy.specific.versions.extend(sorted(set(versions)))
    for label, version in sorted(labels.items()):
        model.version_labels[label] = version
    return built


def write(config: PipelineConfig, built) -> Path:
    from google.protobuf import text_format

    path = config_file(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".config.{os.getpid()}.tmp")
    partial.write_text("# Written by `mlops models` (tfx_pipeline/registry/labels.py); edits are overwritten.\n"
                       + text_format.MessageToString(built))
    partial.replace(path)  # a polling server reads the old file or the new one, never half of one
    return path


class Server:
    """A running model server, through TF Serving's ModelService (HandleReloadConfigRequest, GetModelStatus)."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc

        self._grpc = grpc
        self._channel = grpc.insecure_channel(f"{host}:{port}")
        self._stub = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self.target, self.timeout = f"{host}:{port}", timeout
        self._address = (host, port)

    def reachable(self) -> bool:
        # A closed port refuses at once; without this probe gRPC's readiness wait would spend its 2 s on it.
        try:
            socket.create_connection(self._address, timeout=min(self.timeout, 2.0)).close()
        except OSError:
            return False
        try:
            self._grpc.channel_ready_future(self._channel).result(timeout=min(self.timeout, 2.0))
            return True
        except self._grpc.FutureTimeoutError:
            return False

    def reload(self, built) -> None:
        from tensorflow_serving.apis import model_management_pb2

        try:
            response = self._stub.HandleReloadConfigRequest(
                model_management_pb2.ReloadConfigRequest(config=built), timeout=LOAD_TIMEOUT_SECONDS)
        except self._grpc.RpcError as exc:
            raise LabelError(f"the server at {self.target} refused the config: {exc.details()}") from None
        if response.status.error_code:
            raise LabelError(f"the server at {self.target} refused the config: {response.status.error_message}")

    def states(self, model: str) -> Dict[int, str]:
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        try:
            response = self._stub.GetModelStatus(request, timeout=self.timeout)
        except self._grpc.RpcError:
            return {}
        return {s.version: get_model_status_pb2.ModelVersionStatus.State.Name(s.state)
                for s in response.model_version_status}

    def wait_available(self, model: str, version: int, timeout: float = LOAD_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.states(model).get(version) == "AVAILABLE":
                return
            time.sleep(0.2)
        raise LabelError(f"version {version} of {model} was not AVAILABLE on {self.target} within {timeout:.0f} s; "
                         "the label was not moved")

    def close(self) -> None:
        self._channel.close()


def _apply(config: PipelineConfig, built, server: Optional[Server]) -> str:
    """Writes the file; reloads the server when one answers (before the file, so a refused config is not left
    for a polling server to read)."""
    how = "file"
    if server is not None:
        server.reload(built)
        how = "reload"
    write(config, built)
    return how


def current_versions(config: PipelineConfig) -> List[int]:
    path = config_file(config)
    if not path.is_file():
        return []
    return list(_model_config(_read(path), config.serving.model_name).model_version_policy.specific.versions)


def move_label(config: PipelineConfig, label: str, version: int, server: Optional[Server], command: str,
               say: Callable[[str], None] = lambda _: None, kind: str = "promote") -> Move:
    """Moves `label` to `version` in two steps (see the module); returns the recorded move."""
    if label not in LABELS:
        raise LabelError(f"label {label!r}: use one of {list(LABELS)}")
    if not (Path(config.push_root) / str(version)).is_dir():
        raise LabelError(f"version {version} is not under {config.push_root}: push it first (mlops run)")
    labels = read_labels(config)
    previous = labels.get(label)
    if previous == version:
        raise LabelError(f"{label} is version {version} already")
    loaded = sorted(set(current_versions(config)) | set(labels.values()) | {version})
    how = _apply(config, server_config(config, loaded, labels), server)
    if server is not None:
        say(f"step 1: version {version} added to the served versions {loaded}; waiting for it to be AVAILABLE")
        server.wait_available(config.serving.model_name, version)
    labels[label] = version
    kept = sorted(set(labels.values()))
    how = _apply(config, server_config(config, kept, labels), server)
    say(f"step 2: {label} -> version {version}" + (f" (was {previous})" if previous else "")
        + f"; served versions now {kept}" + ("" if server is not None else
                                             " (no server answered: written for a polling server or the next start)"))
    move = Move(time.time(), label, previous, version, command, how, kind)
    path = history_file(config)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(move), sort_keys=True) + "\n")
    return move


def previous_stable(config: PipelineConfig) -> int:
    """The version stable held before the current one: where a rollback goes. Stable's history is a stack (a
    promote pushes, a rollback pops), so a second rollback goes back further, not forth again."""
    stack: List[int] = []
    for move in history(config):
        if move.label != "stable":
            continue
        if move.kind == "rollback" and stack:
            stack.pop()
        else:
            if not stack and move.from_version is not None:
                stack.append(move.from_version)
            stack.append(move.to_version)
    if len(stack) < 2:
        raise LabelError("no earlier stable version is recorded: nothing to roll back to")
    return stack[-2]

