"""Pusher executor that publishes a version in one atomic step and never pushes the same model twice.

TFX's own Pusher copies files straight into <base>/<version>, so a polling model server can find a version
folder that is still being written. Here the model is staged in a hidden, non-numeric folder (servers ignore
it) and renamed into place, with TF Serving warmup requests (real texts, see warmup_requests.py) written
into the staged copy first. When the latest pushed version already holds this exact SavedModel (same
fingerprint), nothing is written: an unchanged re-run must not make the server reload.

custom_config: {"model_name", "signature", "input_key", "warmup_texts_pattern", "text_column", "warmup_count"}.
"""
from __future__ import annotations

import os
import re
import time
from typing import Any, Dict, List, Optional

from tfx import types
from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, json_utils, proto_utils

from tfx_pipeline.components.warmup_requests import latest_span_texts, write_warmup_requests

FINGERPRINT_FILE = "fingerprint.pb"
ALREADY_SERVING_KEY = "already_serving_version"
_VERSION_DIR = re.compile(r"^\d+$")


def pushed_versions(base_directory: str) -> List[int]:
    if not fileio.exists(base_directory):
        return []
    names = [n.rstrip("/") for n in fileio.listdir(base_directory)]
    return sorted(int(n) for n in names if _VERSION_DIR.match(n))


def _fingerprint(model_dir: str) -> Optional[bytes]:
    path = os.path.join(model_dir, FINGERPRINT_FILE)
    return io_utils.read_bytes_file(path) if fileio.exists(path) else None


def publish_version(model_path: str, base_directory: str, version: int, warmup: Optional[dict] = None) -> str:
    """Copies model_path to <base_directory>/<version> so that the version appears whole or not at all."""
    final = os.path.join(base_directory, str(version))
    staging = os.path.join(base_directory, f".staging-{version}")
    if fileio.exists(staging):
        fileio.rmtree(staging)
    io_utils.copy_dir(model_path, staging)
    if warmup:
        texts = latest_span_texts(warmup["warmup_texts_pattern"], warmup["text_column"], warmup["warmup_count"])
        write_warmup_requests(staging, warmup["model_name"], warmup["signature"], warmup["input_key"], texts)
    fileio.rename(staging, final)
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
        serving_path = publish_version(model_path, base, version, custom_config)
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=str(version))
