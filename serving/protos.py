"""TF Serving's protocol messages without TensorFlow's runtime.

The tensorflow-serving-api messages import TensorFlow's own protos (`from tensorflow.core.framework import
tensor_pb2`), and importing anything under `tensorflow` first runs tensorflow/__init__.py: about 10 s and
several hundred MB, for a client that only builds and reads protos. A process that only speaks the protocol
(`predict` from the command line) calls load_protocol_only() first: `tensorflow` is then a bare package whose
submodules (the generated *_pb2 files, plain protobuf code) load on their own.
"""
from __future__ import annotations

import importlib.util
import sys
import types


class _ProtocolOnlyTensorFlow(types.ModuleType):
    def __getattr__(self, name):
        raise AttributeError(f"tensorflow.{name}: this process loaded TensorFlow's protos only "
                         "(serving.protos.load_protocol_only); TensorFlow itself is not imported")


def load_protocol_only() -> bool:
    """Makes TensorFlow's proto modules importable without TensorFlow; False (and nothing done) when TensorFlow is
    imported already or not installed."""
    if "tensorflow" in sys.modules:
        return False
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        return False
    package = _ProtocolOnlyTensorFlow("tensorflow")
    package.__path__ = list(spec.submodule_search_locations)
    package.__package__ = "tensorflow"
    package.__spec__ = None
    sys.modules["tensorflow"] = package
    return True
