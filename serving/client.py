"""Typed clients for a TF Serving-protocol server, over gRPC (official stubs,
per-call deadline, retry on UNAVAILABLE) or REST, with a text-classification
helper that returns a label and per-class scores."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
import urllib.error
import urllib.request
from typing import Mapping, Sequence

import numpy as np

DEFAULT_GRPC_PORT = 8500
DEFAULT_REST_PORT = 8501


@dataclasses.dataclass(frozen=True)
class TextPrediction:
    text: str
    label: str
    scores: dict[str, float]
    model_version: int | None  # REST predict responses do not carry it


@dataclasses.dataclass(frozen=True)
class PredictResult:
    outputs: dict[str, np.ndarray]
    model_version: int | None
    signature_name: str


class ServingClientError(RuntimeError):
    """A failed call; `code` is the gRPC status name (e.g. "NOT_FOUND")."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _text_predictions(texts, result, label_key, scores_key, classes_key):
    """Maps model outputs to TextPrediction; tolerant of models that export
    only scores (class names become indices) or no label (argmax is used)."""
    outputs = result.outputs
    if scores_key not in outputs:
        raise ServingClientError("INVALID_ARGUMENT",
                                 f"model has no '{scores_key}' output; outputs: "
                                 f"{sorted(outputs)}")
    scores = np.asarray(outputs[scores_key], dtype=np.float64).reshape(len(texts), -1)
    classes = outputs.get(classes_key)
    if classes is not None:
        classes = np.asarray(classes)
        if classes.ndim == 1:
            classes = np.tile(classes, (len(texts), 1))
    labels = outputs.get(label_key)
    predictions = []
    for row, text in enumerate(texts):
        names = ([_text(c) for c in classes[row]] if classes is not None
                 else [str(i) for i in range(scores.shape[1])])
        label = (_text(np.asarray(labels).reshape(-1)[row]) if labels is not None
                 else names[int(np.argmax(scores[row]))])
        predictions.append(TextPrediction(
            text=text, label=label,
            scores={n: float(s) for n, s in zip(names, scores[row])},
            model_version=result.model_version))
    return predictions


def _json_string(value):
    """Text as a JSON string; bytes that are not UTF-8 (serialized protos) as
    the REST API's {"b64": ...} form."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    return str(value)


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class _TextMixin:
    def classify_text(self, texts: Sequence[str], model: str, *,
                      version: int | None = None, label: str | None = None,
                      signature: str = "", input_key: str | None = None,
                      label_key: str = "label", scores_key: str = "scores",
                      classes_key: str = "classes",
                      example_feature: str | None = None) -> list[TextPrediction]:
        """Runs a text model. input_key defaults to the signature's only input,
        read from the model's metadata. With example_feature set, each text is
        sent as a serialized tf.Example holding it under that feature name, the
        usual input of TFX-exported serving signatures."""
        texts = list(texts)
        if input_key is None:
            input_key = self._single_input(model, signature, version, label)
        payload = [_example_bytes(example_feature, t) for t in texts] \
            if example_feature else texts
        result = self.predict({input_key: _string_array(payload)}, model,
                              version=version, label=label, signature=signature)
        return _text_predictions(texts, result, label_key, scores_key, classes_key)

    def _single_input(self, model, signature, version, label):
        inputs = self.signature_inputs(model, signature, version=version, label=label)
        if len(inputs) != 1:
            raise ServingClientError(
                "INVALID_ARGUMENT",
                f"signature has inputs {sorted(inputs)}; pass input_key")
        return inputs[0]


class GrpcClient(_TextMixin):
    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_GRPC_PORT, *,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.2,
                 credentials=None, max_message_bytes: int = 64 << 20):
        import grpc
        from tensorflow_serving.apis import (
            model_service_pb2_grpc,
            prediction_service_pb2_grpc,
        )

        self._grpc = grpc
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes)]
        target = f"{host}:{port}"
        self._channel = (grpc.secure_channel(target, credentials, options)
                         if credentials else grpc.insecure_channel(target, options))
        self._predict = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self.timeout, self.retries, self.backoff = timeout, retries, backoff

    def _call(self, method, request):
        grpc = self._grpc
        for attempt in range(self.retries + 1):
            try:
                return method(request, timeout=self.timeout)
            except grpc.RpcError as exc:
                # UNAVAILABLE means nothing ran (server starting, restarting or
                # shedding load), so retrying cannot apply a request twice.
                if exc.code() != grpc.StatusCode.UNAVAILABLE or attempt == self.retries:
                    raise ServingClientError(exc.code().name, exc.details()) from None
                time.sleep(self.backoff * (2 ** attempt))

    @staticmethod
    def _spec(spec, model, version, label, signature=""):
        spec.name = model
        if version is not None:
            spec.version.value = version
        elif label:
            spec.version_label = label
        spec.signature_name = signature

    def predict(self, inputs: Mapping[str, object], model: str, *,
                version: int | None = None, label: str | None = None,
                signature: str = "", output_filter: Sequence[str] = ()) -> PredictResult:
        from tensorflow_serving.apis import predict_pb2

        from serving import tensors

        request = predict_pb2.PredictRequest(output_filter=list(output_filter))
        self._spec(request.model_spec, model, version, label, signature)
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tensors.to_tensor_proto(_as_array(value)))
        response = self._call(self._predict.Predict, request)
        return PredictResult(
            outputs={k: tensors.to_numpy(v, k) for k, v in response.outputs.items()},
            model_version=response.model_spec.version.value,
            signature_name=response.model_spec.signature_name)

    def signature_inputs(self, model: str, signature: str = "", *,
                         version: int | None = None, label: str | None = None) -> list[str]:
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(
            metadata_field=["signature_def"])
        self._spec(request.model_spec, model, version, label)
        response = self._call(self._predict.GetModelMetadata, request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        name = signature or "serving_default"
        if name not in signatures.signature_def:
            raise ServingClientError("FAILED_PRECONDITION",
                                     f'Serving signature key "{name}" not found.')
        return sorted(signatures.signature_def[name].inputs)

    def model_status(self, model: str, version: int | None = None) -> list[dict]:
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, model, version, None)
        response = self._call(self._models.GetModelStatus, request)
        return [{"version": s.version,
                 "state": get_model_status_pb2.ModelVersionStatus.State.Name(s.state),
                 "error_code": s.status.error_code,
                 "error_message": s.status.error_message}
                for s in response.model_version_status]

    def close(self) -> None:
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RestClient(_TextMixin):
    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_REST_PORT, *,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.2,
                 scheme: str = "http"):
        self.base = f"{scheme}://{host}:{port}"
        self.timeout, self.retries, self.backoff = timeout, retries, backoff

    @staticmethod
    def _path(model, version, label):
        if version is not None:
            return f"/v1/models/{model}/versions/{version}"
        if label:
            return f"/v1/models/{model}/labels/{label}"
        return f"/v1/models/{model}"

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.base + path, data=data, method=method,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                payload = exc.read()
                if exc.code != 503 or attempt == self.retries:
                    try:
                        message = json.loads(payload).get("error", "")
                    except ValueError:
                        message = payload.decode("utf-8", "replace")
                    raise ServingClientError(_HTTP_CODES.get(exc.code, str(exc.code)),
                                             message) from None
            except urllib.error.URLError as exc:
                if attempt == self.retries:
                    raise ServingClientError("UNAVAILABLE", str(exc.reason)) from None
            time.sleep(self.backoff * (2 ** attempt))

    def predict(self, inputs: Mapping[str, object], model: str, *,
                version: int | None = None, label: str | None = None,
                signature: str = "", output_filter: Sequence[str] = ()) -> PredictResult:
        body = {"inputs": {k: _jsonable(v) for k, v in inputs.items()}}
        if signature:
            body["signature_name"] = signature
        reply = self._call("POST", self._path(model, version, label) + ":predict", body)
        outputs = reply["outputs"]
        if not isinstance(outputs, dict):
            # A single-output model's name is omitted by the REST API.
            outputs = {"": outputs}
        arrays = {k: np.asarray(v) for k, v in outputs.items()
                  if not output_filter or k in output_filter}
        return PredictResult(outputs=arrays, model_version=None,
                             signature_name=signature or "serving_default")

    def signature_inputs(self, model: str, signature: str = "", *,
                         version: int | None = None, label: str | None = None) -> list[str]:
        reply = self._call("GET", self._path(model, version, label) + "/metadata")
        signatures = reply["metadata"]["signature_def"]["signature_def"]
        name = signature or "serving_default"
        if name not in signatures:
            raise ServingClientError("FAILED_PRECONDITION",
                                     f'Serving signature key "{name}" not found.')
        return sorted(signatures[name].get("inputs", {}))

    def model_status(self, model: str, version: int | None = None) -> list[dict]:
        reply = self._call("GET", self._path(model, version, None))
        return [{"version": int(s["version"]), "state": s["state"],
                 "error_code": s.get("status", {}).get("error_code", "OK"),
                 "error_message": s.get("status", {}).get("error_message", "")}
                for s in reply["model_version_status"]]

    def close(self) -> None:
        """Nothing to release: every call opens its own connection."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_HTTP_CODES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
               413: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
               503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def _string_array(items):
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _example_bytes(feature, text):
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature[feature].bytes_list.value.append(text.encode("utf-8"))
    return example.SerializeToString()


def _as_array(value):
    """Plain Python numbers get tf.constant's dtypes (float32, int32), which is
    what signatures almost always declare; numpy arrays keep their own dtype."""
    if isinstance(value, np.ndarray):
        return value
    array = np.asarray(value)
    if array.dtype == np.float64:
        return array.astype(np.float32)
    if array.dtype == np.int64:
        return array.astype(np.int32)
    return array


def _jsonable(value):
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind in ("S", "U"):
        return np.vectorize(_json_string, otypes=[object])(array).tolist()
    return array.tolist()


def make_client(rest: bool = False, host: str = "127.0.0.1", port: int | None = None,
                **kwargs) -> GrpcClient | RestClient:
    """GrpcClient on 8500 or RestClient on 8501 unless a port is given."""
    if rest:
        return RestClient(host, port or DEFAULT_REST_PORT, **kwargs)
    return GrpcClient(host, port or DEFAULT_GRPC_PORT, **kwargs)
