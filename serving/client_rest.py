"""The REST client: TF Serving's /v1/models API over HTTP, with retries on 503.

JSON has no dtypes, so predict outputs are cast to the dtypes the model's signature declares (read once per
model, version and signature from its metadata): the same numpy arrays the gRPC client returns.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Mapping, Sequence

import numpy as np

from serving.client_base import DEFAULT_SIGNATURE, PredictResult, ServingClientError, TextClient

DEFAULT_REST_PORT = 8501

_HTTP_CODES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
               413: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
               503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
# DataType names as the REST metadata spells them -> numpy dtype (object: bytes, as gRPC decodes strings).
_DTYPES = {"DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_HALF": np.float16, "DT_INT8": np.int8,
           "DT_INT16": np.int16, "DT_INT32": np.int32, "DT_INT64": np.int64, "DT_UINT8": np.uint8,
           "DT_UINT16": np.uint16, "DT_UINT32": np.uint32, "DT_UINT64": np.uint64, "DT_BOOL": np.bool_,
           "DT_STRING": object}


def _json_string(value):
    """Text as a JSON string; bytes that are not UTF-8 (serialized protos) as the REST API's {"b64": ...}."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    return str(value)


def _jsonable(value):
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind in ("S", "U"):
        return np.vectorize(_json_string, otypes=[object])(array).tolist()
    return array.tolist()


def _to_bytes(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return value.encode("utf-8") if isinstance(value, str) else value


def _typed(value, dtype_name: str | None) -> np.ndarray:
    dtype = _DTYPES.get(dtype_name)
    if dtype is object:
        array = np.asarray(value, dtype=object)
        return np.vectorize(_to_bytes, otypes=[object])(array) if array.size else array
    return np.asarray(value, dtype=dtype) if dtype is not None else np.asarray(value)


class RestClient(TextClient):
    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_REST_PORT, *,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.2,
                 scheme: str = "http"):
        self.base = f"{scheme}://{host}:{port}"
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._signatures: dict = {}

    @staticmethod
    def _path(model, version, label):
        if version is not None:
            return f"/v1/models/{model}/versions/{version}"
        if label:
            return f"/v1/models/{model}/labels/{label}"
        return f"/v1/models/{model}"

    def _call(self, method, path, body=None, request_id=None):
        """The JSON answer, and the request id the server returned (None from servers that send none)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", **({"X-Request-Id": request_id} if request_id else {})}
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read()), response.headers.get("X-Request-Id")
            except urllib.error.HTTPError as exc:
                payload = exc.read()
                if exc.code != 503 or attempt == self.retries:
                    try:
                        message = json.loads(payload).get("error", "")
                    except ValueError:
                        message = payload.decode("utf-8", "replace")
                    raise ServingClientError(_HTTP_CODES.get(exc.code, str(exc.code)), message) from None
            except urllib.error.URLError as exc:
                if attempt == self.retries:
                    raise ServingClientError("UNAVAILABLE", str(exc.reason)) from None
            time.sleep(self.backoff * (2 ** attempt))

    def _signature(self, model, version, label, signature) -> dict:
        """The signature's JSON SignatureDef, fetched once per model, version or label, and name."""
        key = (model, version, label, signature or DEFAULT_SIGNATURE)
        if key not in self._signatures:
            reply, _ = self._call("GET", self._path(model, version, label) + "/metadata")
            signatures = reply["metadata"]["signature_def"]["signature_def"]
            if key[3] not in signatures:
                raise ServingClientError("FAILED_PRECONDITION", f'Serving signature key "{key[3]}" not found.')
            self._signatures[key] = signatures[key[3]]
        return self._signatures[key]

    def predict(self, inputs: Mapping[str, object], model: str, *, version: int | None = None,
                label: str | None = None, signature: str = "", output_filter: Sequence[str] = (),
                request_id: str | None = None) -> PredictResult:
        declared = self._signature(model, version, label, signature).get("outputs", {})
        body = {"inputs": {k: _jsonable(v) for k, v in inputs.items()}}
        if signature:
            body["signature_name"] = signature
        reply, returned_id = self._call("POST", self._path(model, version, label) + ":predict", body, request_id)
        outputs = reply["outputs"]
        names = list(output_filter) or sorted(declared)
        if not isinstance(outputs, dict):
            # The REST API leaves out the name of a single output.
            outputs = {names[0] if len(names) == 1 else "": outputs}
        arrays = {k: _typed(v, declared.get(k, {}).get("dtype")) for k, v in outputs.items()
                  if not output_filter or k in output_filter}
        return PredictResult(outputs=arrays, model_version=None, signature_name=signature or DEFAULT_SIGNATURE,
                             request_id=returned_id)

    def signature_inputs(self, model: str, signature: str = "", *, version: int | None = None,
                         label: str | None = None) -> list[str]:
        return sorted(self._signature(model, version, label, signature).get("inputs", {}))

    def model_status(self, model: str, version: int | None = None) -> list[dict]:
        reply, _ = self._call("GET", self._path(model, version, None))
        return [{"version": int(s["version"]), "state": s["state"],
                 "error_code": s.get("status", {}).get("error_code", "OK"),
                 "error_message": s.get("status", {}).get("error_message", "")}
                for s in reply["model_version_status"]]
