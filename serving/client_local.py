"""The in-process client: the same calls as the gRPC and REST clients, answered by SavedModel versions loaded in
this process through the server's own request handling (serving.inference), with no server in between.

For a quick check of what a model base path holds (`mlops predict --in-process`), and as the floor that served
predictions are compared with.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

from serving.client_base import PredictResult, ServingClientError, TextClient


class LocalClient(TextClient):
    """Serves the versions under `base_path` (numeric subfolders, as for TF Serving) as model `model_name`."""

    def __init__(self, base_path: str, model_name: str, *, tags: Sequence[str] = ("serve",)):
        self.base_path = str(base_path)
        self.model_name = model_name
        self._tags = tuple(tags)
        self._loaded: dict = {}

    def versions(self) -> list[int]:
        from serving.version_manager import list_versions

        return sorted(list_versions(self.base_path) or {})

    def _servable(self, model: str, version: int | None, label: str | None):
        from serving.errors import ServingError
        from serving.servable import Servable

        if model != self.model_name:
            raise ServingClientError("NOT_FOUND", f"Servable not found for request: Latest({model})")
        if label:
            raise ServingClientError("INVALID_ARGUMENT", "version labels live in a model server's config; "
                                                         "the in-process client takes a version number")
        versions = self.versions()
        if not versions:
            raise ServingClientError("NOT_FOUND", f"no version under {self.base_path}")
        chosen = versions[-1] if version is None else version
        if chosen not in versions:
            raise ServingClientError("NOT_FOUND", f"Servable not found for request: Specific({model}, {chosen})")
        if chosen not in self._loaded:
            try:
                self._loaded[chosen] = Servable.load(model, chosen, os.path.join(self.base_path, str(chosen)),
                                                     self._tags)
            except ServingError as exc:
                raise ServingClientError(exc.code.name, exc.message) from None
        return self._loaded[chosen]

    def predict(self, inputs: Mapping[str, object], model: str, *, version: int | None = None,
                label: str | None = None, signature: str = "", output_filter: Sequence[str] = (),
                request_id: str | None = None) -> PredictResult:
        from tensorflow_serving.apis import predict_pb2

        from serving import inference, tensors
        from serving.client_grpc import as_array
        from serving.errors import ServingError

        servable = self._servable(model, version, label)
        request = predict_pb2.PredictRequest(output_filter=list(output_filter))
        request.model_spec.name, request.model_spec.signature_name = model, signature
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tensors.to_tensor_proto(as_array(value)))
        try:
            response = inference.predict(servable, request, servable.run)
        except ServingError as exc:
            raise ServingClientError(exc.code.name, exc.message) from None
        return PredictResult(outputs={k: tensors.to_numpy(v, k) for k, v in response.outputs.items()},
                             model_version=response.model_spec.version.value,
                             signature_name=response.model_spec.signature_name, request_id=request_id)

    def signature_inputs(self, model: str, signature: str = "", *, version: int | None = None,
                         label: str | None = None) -> list[str]:
        servable = self._servable(model, version, label)
        name = signature or "serving_default"
        if name not in servable.signature_defs:
            raise ServingClientError("FAILED_PRECONDITION", f'Serving signature key "{name}" not found.')
        return sorted(servable.signature_defs[name].inputs)

    def model_status(self, model: str, version: int | None = None) -> list[dict]:
        if model != self.model_name:
            raise ServingClientError("NOT_FOUND", f"Could not find any versions of model {model}")
        versions = [v for v in self.versions() if version is None or v == version]
        return [{"version": v, "state": "AVAILABLE" if v in self._loaded else "START", "error_code": "OK",
                 "error_message": ""} for v in versions]

    def close(self) -> None:
        self._loaded.clear()
