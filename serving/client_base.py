"""What the gRPC, REST and in-process clients share: result types, errors, and the text-classification call.

Every client returns the same Python types for the same call: outputs as numpy arrays in the signature's own
dtypes (float32 scores, bytes for strings), model status with the status code's name ("OK", "NOT_FOUND").
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

DEFAULT_SIGNATURE = "serving_default"


@dataclasses.dataclass(frozen=True)
class TextPrediction:
    text: str
    label: str
    scores: dict[str, float]
    model_version: int | None  # REST predict responses do not carry it
    # The server's id of the request (x-request-id): the key `mlops feedback` joins labels on. A request of
    # several texts logs them as <id>#0, <id>#1, ...
    request_id: str | None = None


@dataclasses.dataclass(frozen=True)
class PredictResult:
    outputs: dict[str, np.ndarray]
    model_version: int | None
    signature_name: str
    request_id: str | None = None


class ServingClientError(RuntimeError):
    """A failed call; `code` is the gRPC status name (e.g. "NOT_FOUND")."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def string_array(items) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def example_bytes(feature: str, value: str) -> bytes:
    """A serialized tf.Example holding `value` under `feature`: the input of TFX-style serving signatures."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature[feature].bytes_list.value.append(value.encode("utf-8"))
    return example.SerializeToString()


def _text_predictions(texts, result, label_key, scores_key, classes_key):
    """Maps model outputs to TextPrediction; tolerant of models that export only scores (class names become
    indices) or no label (argmax is used)."""
    outputs = result.outputs
    if scores_key not in outputs:
        raise ServingClientError("INVALID_ARGUMENT",
                                 f"model has no '{scores_key}' output; outputs: {sorted(outputs)}")
    scores = np.asarray(outputs[scores_key], dtype=np.float64).reshape(len(texts), -1)
    classes = outputs.get(classes_key)
    if classes is not None:
        classes = np.asarray(classes)
        if classes.ndim == 1:
            classes = np.tile(classes, (len(texts), 1))
    labels = outputs.get(label_key)
    predictions = []
    for row, item in enumerate(texts):
        names = ([text(c) for c in classes[row]] if classes is not None
                 else [str(i) for i in range(scores.shape[1])])
        label = (text(np.asarray(labels).reshape(-1)[row]) if labels is not None
                 else names[int(np.argmax(scores[row]))])
        request_id = result.request_id if result.request_id is None or len(texts) == 1 else \
            f"{result.request_id}#{row}"
        predictions.append(TextPrediction(
            text=item, label=label, scores={n: float(s) for n, s in zip(names, scores[row])},
            model_version=result.model_version, request_id=request_id))
    return predictions


class TextClient:
    """classify_text on top of a client's predict and signature_inputs."""

    def predict(self, inputs: Mapping[str, object], model: str, *, version: int | None = None,
                label: str | None = None, signature: str = "", output_filter: Sequence[str] = (),
                request_id: str | None = None) -> PredictResult:
        raise NotImplementedError

    def signature_inputs(self, model: str, signature: str = "", *, version: int | None = None,
                         label: str | None = None) -> list[str]:
        raise NotImplementedError

    def classify_text(self, texts: Sequence[str], model: str, *,
                      version: int | None = None, label: str | None = None,
                      signature: str = "", input_key: str | None = None,
                      label_key: str = "label", scores_key: str = "scores",
                      classes_key: str = "classes",
                      example_feature: str | None = None,
                      request_id: str | None = None) -> list[TextPrediction]:
        """Runs a text model. input_key defaults to the signature's only input, read from the model's metadata.
        With example_feature set, each text is sent as a serialized tf.Example holding it under that feature
        name, the usual input of TFX-exported serving signatures."""
        texts = list(texts)
        if input_key is None:
            inputs = self.signature_inputs(model, signature, version=version, label=label)
            if len(inputs) != 1:
                raise ServingClientError("INVALID_ARGUMENT", f"signature has inputs {sorted(inputs)}; pass input_key")
            input_key = inputs[0]
        payload = [example_bytes(example_feature, t) for t in texts] if example_feature else texts
        result = self.predict({input_key: string_array(payload)}, model, version=version, label=label,
                              signature=signature, request_id=request_id)
        return _text_predictions(texts, result, label_key, scores_key, classes_key)

    def close(self) -> None:
        """Releases the client's connections."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
