"""Where the pipeline's files live: a local path, or a URI on a file system that TFX, Beam and TF Serving reach
through tf.io.gfile (gs://, s3://, hdfs://). URIs are needed as soon as components run on other machines:
Dataflow, Flink or Spark workers, Kubeflow / Vertex containers.

pathlib would fold "gs://b/x" into "gs:/b/x", so a URI is kept as a string that joins with `/` like a Path.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Union

# What TFX's tf.io.gfile plugin registers (tfx/dsl/io/plugins/tensorflow_gfile.py).
REMOTE_SCHEMES = ("gs", "s3", "hdfs")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class RemoteUri(str):
    """A location on a remote file system: read and written with tfx.dsl.io.fileio, never with os or pathlib."""

    def __truediv__(self, part: object) -> "RemoteUri":
        return RemoteUri(f"{self.rstrip('/')}/{part}")

    @property
    def name(self) -> str:
        return self.rstrip("/").rsplit("/", 1)[-1]


Location = Union[Path, RemoteUri]


def is_uri(value: str) -> bool:
    return bool(_SCHEME.match(value))


def parse_location(value: object) -> Location:
    """A local path or a RemoteUri; ValueError names an unsupported scheme."""
    if isinstance(value, (Path, RemoteUri)):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a path or a URI, got {type(value).__name__}")
    match = _SCHEME.match(value)
    if not match:
        return Path(value)
    if match.group(1) not in REMOTE_SCHEMES:
        raise ValueError(f"unsupported scheme '{match.group(1)}://' in {value!r}: use a local path or one of "
                         + ", ".join(f"{s}://" for s in REMOTE_SCHEMES))
    return RemoteUri(value)


def is_remote(location: Location) -> bool:
    return isinstance(location, RemoteUri)


def require_local(location: Location, key: str, what: str) -> Path:
    """The location as a local Path, or an error saying that `what` works on local files only."""
    if is_remote(location):
        raise ValueError(f"{key} is {location}: {what} works on a local path only")
    return location
